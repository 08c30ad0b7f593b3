"""The docs' Helix configuration: its languages.toml parses, attaches torchlint
to Python, and the command line it names starts a server over stdio that
answers `initialize` with the `config` Helix sends as initialization options,
then publishes titled diagnostics and explains them on hover.

Debian 12 does not package Helix, so the server is driven here by the test
client with the command, arguments and options the file gives; where `hx` is
installed, `hx --health python` also checks that Helix reads the file and finds
the server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from lsprotocol import types

from editor_docs import docs_block
from lsp_harness import Editor, Recorder, brief, make_client, server_env, torchlint_executable

HX = shutil.which("hx") or shutil.which("helix")


def documented_config() -> dict:
    return tomllib.loads(docs_block("<!-- helix -->", "toml"))


def user_path() -> str:
    """PATH as a user who installed torchlint has it: its command on the path."""
    return str(Path(torchlint_executable()).parent) + os.pathsep + os.environ.get("PATH", "")


def test_the_documented_languages_toml_attaches_torchlint_to_python() -> None:
    config = documented_config()
    server = config["language-server"]["torchlint"]
    python = [language for language in config["language"] if language["name"] == "python"]
    assert len(python) == 1 and "torchlint" in python[0]["language-servers"]
    assert shutil.which(server["command"], path=user_path()) is not None
    assert set(server["config"]) <= {"select", "ignore", "extendSelect", "unsafeFixes", "probeOnSave",
                                     "refuted", "debounce"}


@pytest.mark.asyncio
async def test_the_documented_helix_command_serves_over_stdio(workspace: Path) -> None:
    server = documented_config()["language-server"]["torchlint"]
    (workspace / "train.py").write_text("import torch\nprint(1)\n", encoding="utf-8")
    recorder = Recorder()
    client = make_client(recorder)
    command = shutil.which(server["command"], path=user_path())
    await client.start_io(command, *server["args"], env=server_env(PATH=user_path()), cwd=str(workspace))
    try:
        answer = await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
            initialization_options=server["config"],  # what Helix sends from `config`
        ))
        assert answer.server_info is not None and answer.server_info.name == "torchlint"
        assert answer.capabilities.hover_provider and answer.capabilities.code_action_provider
        editor = Editor(client, recorder, workspace)
        uri = await editor.open("train.py")
        diagnostics = await editor.published(uri, version=1)
        assert brief(diagnostics) == [("TL901", "Warning", (1, 0, 1, 8), "print() call; use logger.info")]
        hover = await editor.hover(uri, 1, 2)
        assert hover is not None and hover.startswith("**TL901 print() call; use logger.info**")
        titles = [action.title for action in await editor.actions(uri, diagnostics)]
        assert "Disable TL901 for this line" in titles
        await client.shutdown_session()
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()


@pytest.mark.skipif(HX is None, reason="Helix is not installed (Debian 12 does not package it)")
def test_helix_reads_the_documented_file_and_finds_the_server(workspace: Path) -> None:
    home = workspace / "home"
    (home / ".config" / "helix").mkdir(parents=True)
    (home / ".config" / "helix" / "languages.toml").write_text(docs_block("<!-- helix -->", "toml"),
                                                             encoding="utf-8")
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PATH=user_path())
    completed = subprocess.run([HX, "--health", "python"], env=env, cwd=workspace, capture_output=True,
                               text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = [line for line in completed.stdout.splitlines() if "torchlint" in line]
    assert lines, (completed.stdout, completed.stderr)  # Helix read the file: torchlint serves Python
    assert not any("not found" in line.lower() or "✘" in line for line in lines), completed.stdout
