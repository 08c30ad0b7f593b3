"""A printed hint must change something: each test copies a fixture folder, runs the probe,
pastes the hint the probe printed for an inconclusive finding into the copy's pyproject.toml
(with the factory a user would write, where the hint asks for one), runs it again, and checks
that the verdict moved."""

from __future__ import annotations

import shutil
from pathlib import Path

from probe_support import REPO, probe

HINTS = REPO / "fixtures" / "probe" / "hints"


def _run(folder: Path, tmp_path: Path, name: str) -> dict[tuple[str, int, str], dict]:
    run = probe("--select", "ALL", "--no-cache", ".", tmpdir=tmp_path / name, cwd=folder, plugins=False)
    assert run.stdout, run.stderr
    return {(f["path"], f["line"], f["code"]): f["probe"] for f in run.findings}


def _apply(folder: Path, hint: str, factory_source: str | None = None) -> None:
    (folder / "pyproject.toml").write_text("[tool.torchlint]\n\n" + hint + "\n", encoding="utf-8")
    if factory_source is not None:
        (folder / "probe_model.py").write_text(factory_source, encoding="utf-8")


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(HINTS / name, target)
    return target


def test_a_model_from_the_caller_is_built_by_the_printed_factory_hint(tmp_path):
    folder = _copy("model_from_caller", tmp_path)
    key = ("loops.py", 17, "TL101")
    before = _run(folder, tmp_path, "before")[key]
    assert (before["verdict"], before["reason"]) == ("inconclusive", "construct_failed")
    assert before["hint"].startswith("[tool.torchlint.probe.classes.classifier]\n")
    assert 'factory = "probe_model.py:make_model"' in before["hint"]
    _apply(folder, before["hint"], "import torch.nn as nn\n\n\ndef make_model():\n"
           "    return nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 3))\n")
    after = _run(folder, tmp_path, "after")[key]
    assert after["verdict"] == "confirmed", after["evidence"]
    assert after["assumptions"]["constructor"] == "classifier from the hint's factory"


def test_a_guessed_int_used_as_a_tuple_asks_for_a_factory_and_the_factory_moves_the_verdict(tmp_path):
    folder = _copy("guessed_int_subscripted", tmp_path)
    key = ("tagger.py", 23, "TL101")
    before = _run(folder, tmp_path, "before")[key]
    assert (before["verdict"], before["reason"]) == ("inconclusive", "construct_failed")
    assert "init =" not in before["hint"]  # re-pasting shape = 16 would change nothing
    assert 'factory = "probe_model.py:make_model"' in before["hint"]
    _apply(folder, before["hint"], "from tagger import Tagger\n\n\ndef make_model():\n"
           "    return Tagger((40, 5))\n")
    after = _run(folder, tmp_path, "after")[key]
    assert after["verdict"] == "confirmed", after["evidence"]


def test_the_bimodal_seed_needs_no_hand_written_hint(tmp_path):
    """Seed 001's model (time-first utterances, audio concatenated before a Linear) is fed by
    the input search alone: without its pyproject.toml, every finding gets its verdict."""
    folder = tmp_path / "cosmic_bimodal"
    shutil.copytree(REPO / "fixtures" / "seeds" / "cosmic_bimodal", folder)
    (folder / "pyproject.toml").unlink()
    found = _run(folder, tmp_path, "seed")
    assert {key: result["verdict"] for key, result in found.items()} == {
        ("model.py", 16, "TL203"): "confirmed", ("train_meld.py", 22, "TL101"): "confirmed",
        ("train_meld.py", 22, "TL102"): "confirmed"}
    assert all("hint" not in result["assumptions"] for result in found.values())
