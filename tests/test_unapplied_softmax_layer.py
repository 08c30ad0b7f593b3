"""TL204 on an `nn.Softmax()` without dim that the model keeps but its forward never
applies: reported only when some code reads the attribute, in this file or in a file
of the run that imports the class (a probe cannot confirm these: the model's own
forward never runs the layer, so they live here rather than among the fixtures)."""

from __future__ import annotations

import json

MODEL = """import torch.nn as nn


class FrameScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 5)
        self.to_probs = nn.Softmax()

    def forward(self, frames):
        return self.proj(frames)
"""


def _tl204(torchlint, folder, *paths) -> list[tuple[str, int]]:
    result = torchlint("--format", "json", "--select", "TL204", *paths, cwd=folder)
    return [(f["path"], f["line"]) for f in json.loads(result.stdout)]


def test_a_layer_applied_by_an_importing_script_is_reported(torchlint, tmp_path):
    (tmp_path / "nets.py").write_text(MODEL)
    (tmp_path / "apply.py").write_text(
        "import torch\nfrom nets import FrameScorer\n\nnet = FrameScorer()\n"
        "print(net.to_probs(net(torch.randn(3, 4, 8))))\n")
    assert _tl204(torchlint, tmp_path, ".") == [("nets.py", 8)]


def test_a_layer_nobody_applies_is_not_reported(torchlint, tmp_path):
    (tmp_path / "nets.py").write_text(MODEL)
    (tmp_path / "score.py").write_text(
        "import torch\nfrom nets import FrameScorer\n\nnet = FrameScorer()\nprint(net(torch.randn(3, 8)))\n")
    assert _tl204(torchlint, tmp_path, ".") == []
