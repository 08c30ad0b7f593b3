"""Shutdown and exit are clean, and a server whose client goes away (its input
closes, or the editor process dies) exits and leaves no process behind."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_harness import alive, server_env, start


FAKE = {"TORCHLINT_LSP_PROBE_RUNNER": "lsp_rules.fake_probe"}
SLEEPY = "import torch\n# probe-sleep: 120\nprint(1)\n"


@pytest.mark.asyncio
async def test_shutdown_then_exit(workspace: Path) -> None:
    async with start(workspace) as editor:
        uri = await editor.open("train.py", "import torch\nprint(1)\n")
        await editor.published(uri, version=1)
        server = editor.client._server
        await editor.client.shutdown_session()
        assert server.returncode == 0


@pytest.mark.asyncio
async def test_torchlint_server_is_the_language_server_too(workspace: Path) -> None:
    """ruff's name for it: `torchlint server` serves LSP on stdio as `torchlint lsp` does."""
    async with start(workspace, command="server") as editor:
        uri = await editor.open("train.py", "import torch\nprint(1)\n")
        assert [d.code for d in await editor.published(uri, version=1)] == ["TL901"]


@pytest.mark.asyncio
async def test_the_opened_document_is_linted_at_once_on_a_warmed_server(workspace: Path) -> None:
    """didOpen is not debounced (only edits are), and the start-up warm-up is no
    lint of the session: the opened document's lint is the first one counted."""
    async with start(workspace, settings={"debounce": 120_000}) as editor:
        uri = await editor.open("train.py", "import torch\nprint(1)\n")
        assert [d.code for d in await asyncio.wait_for(editor.published(uri, version=1), 60)] == ["TL901"]
        answer = await editor.client.protocol.send_request_async("torchlint/status", None)
        assert answer.lints.run == 1


@pytest.mark.asyncio
async def test_a_client_that_disconnects_leaves_no_process(workspace: Path) -> None:
    async with start(workspace, settings={"probeOnSave": True}, env=FAKE) as editor:
        uri = await editor.open("train.py", SLEEPY)
        await editor.published(uri, version=1)
        editor.save(uri)
        await editor.until((workspace / "probe.pid").exists)
        probe = int((workspace / "probe.pid").read_text())
        server = editor.client._server
        server.stdin.close()  # the editor is gone without a word
        await asyncio.wait_for(server.wait(), 30)
        await editor.until(lambda: not alive(probe))


@pytest.mark.asyncio
async def test_the_server_exits_when_its_editor_process_dies(workspace: Path) -> None:
    editor_process = await asyncio.create_subprocess_exec("sleep", "600")
    async with start(workspace, process_id=editor_process.pid) as editor:
        uri = await editor.open("train.py", "import torch\nprint(1)\n")
        await editor.published(uri, version=1)
        server = editor.client._server
        editor_process.kill()
        await editor_process.wait()
        await asyncio.wait_for(server.wait(), 30)  # its input is still open
        assert server.returncode == 1


def test_the_server_never_imports_torch() -> None:
    # The probe runs in a child process; the server itself stays on the static path.
    code = ("import sys, torchlint.lsp.server, torchlint.lsp.probe_worker; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env=server_env(), timeout=120)
    assert (completed.returncode, completed.stdout) == (0, "[]\n"), completed.stderr
