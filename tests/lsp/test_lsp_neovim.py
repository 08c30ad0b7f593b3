"""A real editor: Neovim's built-in LSP client, headless, opens a file and
reads back the diagnostics torchlint sent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lsp_harness import server_env, torchlint_executable

NVIM = shutil.which("nvim")
CLIENT = Path(__file__).with_name("neovim_client.lua")


@pytest.mark.skipif(NVIM is None, reason="Neovim is not installed (apt-get install neovim)")
def test_neovim_shows_torchlints_diagnostics(workspace: Path) -> None:
    train = workspace / "train.py"
    train.write_text('import torch\n\nlabel = "😋"; print(label)\nbreakpoint()\n', encoding="utf-8")
    out = workspace / "diagnostics.json"
    env = server_env(TORCHLINT_FILE=str(train), TORCHLINT_OUT=str(out),
                     TORCHLINT_EXE=torchlint_executable(), XDG_STATE_HOME=str(workspace / "state"),
                     XDG_DATA_HOME=str(workspace / "data"), XDG_CONFIG_HOME=str(workspace / "config"))
    completed = subprocess.run(
        [NVIM, "--headless", "-n", "-i", "NONE", "--noplugin", "-u", str(CLIENT)],
        cwd=workspace, env=env, capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    assert out.exists(), completed.stderr.decode("utf-8", "replace")
    answer = json.loads(out.read_text(encoding="utf-8"))
    found = sorted(answer["diagnostics"], key=lambda d: (d["lnum"], d["col"]))
    # Neovim turns the UTF-16 positions into byte columns: the emoji is four bytes.
    assert found == [
        {"lnum": 2, "col": 16, "end_lnum": 2, "end_col": 28, "severity": 2, "source": "torchlint",
         "message": "print() call; use logger.info", "code": "TL901"},
        {"lnum": 3, "col": 0, "end_lnum": 3, "end_col": 12, "severity": 1, "source": "torchlint",
         "message": "breakpoint() call left in the code", "code": "TL902"},
    ]
