"""A real editor: Neovim's built-in LSP client, headless, opens a file and
reads back the diagnostics torchlint sent."""

from __future__ import annotations

import json
import os
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


DOCS = Path(__file__).resolve().parents[2] / "docs" / "editors.md"
#: Opens the file with the docs' configuration loaded, waits for diagnostics and
#: hover, and writes them as JSON (the docs' snippet starts the server itself).
DOCS_HARNESS = """
vim.cmd("filetype on")  -- Neovim turns it on after the user's init; this runs inside it
vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("TORCHLINT_FILE")))
local got = vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 50)
local found = {}
for _, d in ipairs(vim.diagnostic.get(0)) do
  table.insert(found, { lnum = d.lnum, message = d.message })
end
local hover = vim.lsp.buf_request_sync(0, "textDocument/hover", {
  textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 1, character = 2 },
}, 10000)
local text = ""
for _, answer in pairs(hover or {}) do
  if answer.result then text = answer.result.contents.value end
end
local handle = io.open(os.getenv("TORCHLINT_OUT"), "w")
handle:write(vim.fn.json_encode({ waited = got, diagnostics = found, hover = text,
                                  version = vim.version().minor }))
handle:close()
vim.cmd("qall!")
"""


def docs_snippet(marker: str) -> str:
    """The Lua code block that follows `marker` in docs/editors.md."""
    text = DOCS.read_text(encoding="utf-8")
    after = text[text.index(marker):]
    return after.split("```lua\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(NVIM is None, reason="Neovim is not installed (apt-get install neovim)")
def test_the_documented_neovim_setup_works_as_written(workspace: Path) -> None:
    """The docs' snippet for Neovim 0.7 to 0.10, verbatim, in the Neovim installed
    here (Debian 12's is 0.7.2): a Python file gets torchlint's diagnostics,
    titled, and hover explains them."""
    project = workspace / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.torchlint]\n")
    train = project / "src" / "train.py"
    train.write_text("import torch\nprint(1)\n", encoding="utf-8")
    config = workspace / "init.lua"
    config.write_text(docs_snippet("<!-- neovim-0.7 -->") + DOCS_HARNESS, encoding="utf-8")
    out = workspace / "out.json"
    bin_dir = str(Path(torchlint_executable()).parent)
    env = server_env(TORCHLINT_FILE=str(train), TORCHLINT_OUT=str(out),
                     PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                     XDG_STATE_HOME=str(workspace / "state"), XDG_DATA_HOME=str(workspace / "data"),
                     XDG_CONFIG_HOME=str(workspace / "config"))
    completed = subprocess.run(
        [NVIM, "--headless", "-n", "-i", "NONE", "--noplugin", "-u", str(config)],
        cwd=workspace, env=env, capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    assert out.exists(), completed.stderr.decode("utf-8", "replace")
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["diagnostics"] == [{"lnum": 1, "message": "print() call; use logger.info"}]
    assert answer["hover"].startswith("**TL901 print() call; use logger.info**\n\nUse logger.info instead.")
