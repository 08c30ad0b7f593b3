"""The static path never imports torch: ``python -X importtime -m torchlint``
lists every module a run imports. (Speed is measured by bench/startup.py, not here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

SCRIPT = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return F.softmax(self.drop(self.fc(x)), dim=1)


model = Net()
criterion = nn.CrossEntropyLoss()
with torch.no_grad():
    for x, y in [(torch.randn(2, 4), torch.tensor([0, 1]))]:
        loss = criterion(model(x), y)
"""


def imported_modules(*args: str, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TORCHLINT_PLUGINS",)}
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "torchlint", *args],
                               cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    modules = [line.split("|")[-1].strip() for line in completed.stderr.splitlines()
               if line.startswith("import time:") and "self [us]" not in line]
    assert "torchlint.cli" in modules  # the listing is real
    return modules


def torch_modules(modules: list[str]) -> list[str]:
    return [name for name in modules if name == "torch" or name.startswith("torch.")]


@pytest.mark.parametrize("options", [(), ("--format", "sarif", "--show-source"), ("--diff",)],
                         ids=["text", "sarif", "diff"])
def test_linting_a_torch_script_never_imports_torch(tmp_path, options):
    (tmp_path / "train.py").write_text(SCRIPT)
    modules = imported_modules(*options, "train.py", cwd=tmp_path)
    assert torch_modules(modules) == []
    assert "torchlint.engine" in modules


def test_linting_the_bundled_examples_and_fixtures_never_imports_torch(tmp_path):
    folders = [str(REPO / name) for name in ("examples", "fixtures") if (REPO / name).is_dir()]
    if not folders:
        pytest.skip("no examples or fixtures folder yet")
    modules = imported_modules("--format", "json", *folders, cwd=tmp_path)
    assert torch_modules(modules) == []


def test_a_notebook_and_rule_docs_never_import_torch(tmp_path):
    (tmp_path / "nb.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": SCRIPT.splitlines(keepends=True)}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert torch_modules(imported_modules("nb.ipynb", cwd=tmp_path)) == []
    env = {k: v for k, v in os.environ.items() if k != "TORCHLINT_PLUGINS"}
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "torchlint", "rule", "--all"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0
    names = [line.split("|")[-1].strip() for line in completed.stderr.splitlines()
             if line.startswith("import time:")]
    assert "torchlint.registry" in names
    assert torch_modules(names) == []
