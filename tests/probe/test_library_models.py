"""A library's model that the script builds and changes (``net = models.resnet18(pretrained=True)``,
``net.fc = nn.Linear(...)``) is built in the sandbox from that call, with the script's changes
applied in order; a change that cannot be made there is skipped and named."""

from __future__ import annotations

from probe_support import probe

STAND_IN_SITE = "fixtures/probe/stand_in_site"  # a small torchvision (CI has none)


def test_the_library_call_and_the_script_s_changes_build_the_model(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/library_models", tmpdir=tmp_path,
                plugins=False, env={"PYTHONPATH": STAND_IN_SITE})
    (finding,) = run.findings
    result = finding["probe"]
    assert (finding["code"], finding["line"]) == ("TL101", 20)
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["evidence"]["summary"].endswith("ran: bn1 (BatchNorm2d)")
    assumptions = result["assumptions"]
    assert assumptions["constructor"] == "models.resnet18(pretrained=True)"
    assert assumptions["changes_applied"] == ["net.fc = nn.Linear(net.fc.in_features, CLASSES)"]
    assert assumptions["changes_not_applied"] == {
        "net.extra = nn.Linear(CLASSES, len(train_set.classes))": "NameError: name 'train_set' is not defined"}
    assert "resnet18-tiny.pth" in assumptions["pretrained_weights"]


def test_without_the_library_the_verdict_names_it(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/library_models", tmpdir=tmp_path,
                plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert (result["verdict"], result["reason"]) == ("inconclusive", "missing_dependency")
    assert "torchvision" in result["evidence"]["summary"]


def test_tl302_applies_the_script_s_transforms_where_torchvision_imports(tmp_path):
    """TL302's experiment applies the script's random transforms twice to one image. CI has no
    torchvision (test_rule_experiments then expects missing_dependency); with the stand-in
    (its RandomCrop and RandomHorizontalFlip draw from torch's generator) the experiment runs
    end to end: each further pass gives a different tensor."""
    run = probe("--select", "TL302", "--no-cache", "fixtures/TL302/bad_shared_transform_for_test_set.py",
                tmpdir=tmp_path, plugins=False, env={"PYTHONPATH": STAND_IN_SITE})
    (finding,) = run.findings
    result = finding["probe"]
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["evidence"]["summary"] == "7 of 7 further passes over the same image give a different tensor"
    assert result["assumptions"]["transform"].startswith(
        "its random transforms transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()")
