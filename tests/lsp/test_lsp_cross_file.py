"""Findings that depend on another file are refreshed when that file changes
in the editor or on disk (TL904 names the methods of a class it imports)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from lsp_harness import brief, start

pytestmark = pytest.mark.asyncio

MODEL = "import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
TRAIN = "import torch\nfrom model import Net\n\nnet = Net()\n"
RESET = "\n    def reset(self):\n        pass\n"


def found(methods: str) -> list[tuple]:
    return [("TL904", "Warning", (3, 6, 3, 11), f"Net from model.py has methods: {methods}")]


@pytest.fixture
def project(workspace: Path) -> Path:
    (workspace / "model.py").write_text(MODEL, encoding="utf-8")
    (workspace / "train.py").write_text(TRAIN, encoding="utf-8")
    return workspace


async def test_an_edit_in_the_editor_relints_the_files_that_import_it(project: Path) -> None:
    async with start(project) as editor:
        train = await editor.open("train.py")
        assert brief(await editor.published(train, version=1)) == found("forward")
        model = await editor.open("model.py")
        await editor.published(model, version=1)

        mark = editor.mark()
        editor.edit(model, (6, 0), (6, 0), RESET)  # not saved: the editor's text counts
        await editor.settles(train, found("forward, reset"), after=mark)

        mark = editor.mark()
        editor.close(model)  # unsaved changes dropped: the file on disk counts again
        await editor.settles(train, found("forward"), after=mark)


async def test_a_change_on_disk_relints_the_files_that_import_it(project: Path) -> None:
    async with start(project) as editor:
        train = await editor.open("train.py")
        assert brief(await editor.published(train, version=1)) == found("forward")

        (project / "model.py").write_text(MODEL + RESET, encoding="utf-8")
        mark = editor.mark()
        editor.files_changed(("model.py", types.FileChangeType.Changed))
        await editor.settles(train, found("forward, reset"), after=mark)


async def test_a_created_module_is_found(project: Path) -> None:
    async with start(project) as editor:
        uri = await editor.open("loop.py", "import torch\nfrom layers import Block\n\nBlock()\n")
        assert brief(await editor.published(uri, version=1)) == []

        (project / "layers.py").write_text("class Block:\n    def run(self):\n        pass\n")
        mark = editor.mark()
        editor.files_changed(("layers.py", types.FileChangeType.Created))
        await editor.settles(uri, [
            ("TL904", "Warning", (3, 0, 3, 7), "Block from layers.py has methods: run")], after=mark)


async def test_a_client_that_pulls_is_asked_to_refresh(project: Path) -> None:
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            diagnostic=types.DiagnosticClientCapabilities(related_document_support=False)),
        workspace=types.WorkspaceClientCapabilities(
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)),
    )
    async with start(project, capabilities=capabilities) as editor:
        train = await editor.open("train.py")
        assert brief(await editor.pull(train)) == found("forward")
        model = await editor.open("model.py")
        assert brief(await editor.pull(model)) == []

        before = editor.client.diagnostic_refresh_count
        editor.edit(model, (6, 0), (6, 0), RESET)
        await editor.until(lambda: editor.client.diagnostic_refresh_count > before)
        assert brief(await editor.pull(train)) == found("forward, reset")
        assert editor.recorder.items == []  # a pulling client gets nothing pushed
