"""A model the script gets from a factory function of the project (``net = resnet50(classes=21)``)
is built by calling that function with the script's arguments, never guessed."""

from __future__ import annotations

from pathlib import Path

from probe_support import probe
from torchlint.probe import jobs, recover

TOWERS = '''
import torch.nn as nn

class Tower(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.body = nn.Linear(width, 2)

def _assemble(width):
    made = Tower(width)
    return made

def wide_tower():
    return _assemble(64)

def not_a_model():
    table = dict(width=3)
    return table
'''


def test_functions_returning_a_model_class_are_factories_through_other_factories():
    info = jobs._parse(None, "towers", TOWERS)
    project = jobs.ProbeProject(info)
    classes = recover.model_classes(project.infos, project.resolve_import)
    factories = recover.model_factories(project.infos, classes, project.resolve_import)
    assert {key: f.model.name for key, f in factories.items()} == {
        ("towers", "_assemble"): "Tower", ("towers", "wide_tower"): "Tower"}
    assert factories[("towers", "_assemble")].params() == ["width"]


def test_the_script_s_factory_call_builds_the_model(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/factories", tmpdir=tmp_path, plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert finding["code"] == "TL101"
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["assumptions"]["constructor"] == "small_tower(n_out=6)"
    assert result["assumptions"]["construction"] == \
        "fixtures/probe/factories/score_towers.py:9 (a Tower made by small_tower())"


LIBRARY = "fixtures/probe/library_factories"
STAND_IN_SITE = "fixtures/probe/stand_in_site"  # a small torchvision (CI has none)


def test_a_project_function_returning_a_library_model_builds_it_without_downloading(tmp_path):
    """``net = classifier(classes=5)`` where ``classifier`` adapts ``models.resnet18(pretrained=True)``
    (a stand-in torchvision on PYTHONPATH): the probe calls the function, torch.hub hands back no
    weights instead of downloading them, and both findings are confirmed on that network."""
    run = probe("--select", "ALL", "--no-cache", LIBRARY, tmpdir=tmp_path, plugins=False,
                env={"PYTHONPATH": STAND_IN_SITE})
    verdicts = {(f["code"], f["line"]): f["probe"] for f in run.findings}
    assert set(verdicts) == {("TL101", 10), ("TL102", 10)}
    for result in verdicts.values():
        assert result["verdict"] == "confirmed", result["evidence"]
        assumptions = result["assumptions"]
        assert assumptions["constructor"] == "classifier(classes=5)"
        assert assumptions["construction"] == \
            f"{LIBRARY}/predict.py:7 (a resnet18 of torchvision made by classifier())"
        assert assumptions["pretrained_weights"] == (
            "not downloaded (the sandbox has no network): the model keeps its random initialization "
            "instead of https://download.example/resnet18-tiny.pth")
    assert "ran: bn1 (BatchNorm2d)" in verdicts[("TL101", 10)]["evidence"]["summary"]


def test_functions_returning_a_library_model_are_factories_of_it():
    source = (Path(LIBRARY) / "nets.py").read_text()
    info = jobs._parse(None, "nets", source)
    project = jobs.ProbeProject(info)
    classes = recover.model_classes(project.infos, project.resolve_import)
    factories = recover.model_factories(project.infos, classes, project.resolve_import)
    assert {key: f.library for key, f in factories.items()} == {
        ("nets", "classifier"): "torchvision.models.resnet18",
        ("nets", "feature_extractor"): "torchvision.models.resnet18"}
