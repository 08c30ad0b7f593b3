"""Notebooks: the cells read as one module, as the CLI reads an .ipynb file,
and each diagnostic sent to the cell it is in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types

from lsp_harness import TEST_RULES, apply_edits, brief, cli_brief, start

pytestmark = pytest.mark.asyncio

CELLS = [
    ("markdown", "# Training\n"),
    ("code", "import torch\n%matplotlib inline\nprint(1)\n"),
    ("code", "x = 2\nbreakpoint()\n"),
]
PRINT = ("TL901", "Warning", (2, 0, 2, 8), "print() call; use logger.info")
BREAKPOINT = ("TL902", "Error", (1, 0, 1, 12), "breakpoint() call left in the code")


def cell_uri(notebook: Path, index: int) -> str:
    return f"vscode-notebook-cell:{notebook}#cell{index}"


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    path.write_text(json.dumps({"cells": [
        {"cell_type": kind, "source": text, "metadata": {}, **({"outputs": [], "execution_count": None}
                                                              if kind == "code" else {})}
        for kind, text in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def cli_by_cell(torchlint, root: Path, cells: list[tuple[str, str]]) -> dict[int, list]:
    write_notebook(root / "cli.ipynb", cells)
    cli = torchlint("--select", ",".join(TEST_RULES), "--format", "json", "cli.ipynb",
                    cwd=root, plugins="lsp_rules")
    found: dict[int, list] = {}
    for finding in json.loads(cli.stdout):
        index = finding["cell"] - 1
        found.setdefault(index, []).extend(cli_brief([finding], cells[index][1]))
    return found


async def test_notebook_cells_get_their_own_diagnostics(workspace: Path, torchlint) -> None:
    notebook = workspace / "train.ipynb"
    uri = notebook.as_uri()
    kinds = {"markdown": types.NotebookCellKind.Markup, "code": types.NotebookCellKind.Code}
    async with start(workspace) as editor:
        editor.client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=uri, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=kinds[kind], document=cell_uri(notebook, i))
                       for i, (kind, _) in enumerate(CELLS)]),
            cell_text_documents=[
                types.TextDocumentItem(uri=cell_uri(notebook, i), version=1, text=text,
                                       language_id="python" if kind == "code" else "markdown")
                for i, (kind, text) in enumerate(CELLS)]))
        first, second = cell_uri(notebook, 1), cell_uri(notebook, 2)
        assert brief(await editor.published(first, version=1)) == [PRINT]
        assert brief(await editor.published(second, version=1)) == [BREAKPOINT]
        assert cli_by_cell(torchlint, workspace, CELLS) == {1: [PRINT], 2: [BREAKPOINT]}

        # Hover, the fix and "disable for this line" work in a cell, in the cell's lines
        # (as the command line fixes cells).
        assert (await editor.hover(first, 2, 1)).startswith(
            "**TL901 print() call; use logger.info**\n\nUse logger.info instead.")
        printed = editor.client.diagnostics[first][0]
        offered = await editor.actions(first, [printed])
        assert [(a.title, list(a.edit.changes)) for a in offered] == [
            ("Replace print with logger.info (TL901)", [first]), ("Disable TL901 for this line", [first])]
        assert apply_edits(CELLS[1][1], offered[0].edit.changes[first]) == (
            "import torch\n%matplotlib inline\nlogger.info(1)\n")

        # Edit the second cell: its breakpoint goes.
        mark = editor.mark()
        editor.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=uri, version=2),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(
                text_content=[types.NotebookDocumentCellContentChanges(
                    document=types.VersionedTextDocumentIdentifier(uri=second, version=2),
                    changes=[types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(1, 0), types.Position(1, 12)),
                        text="pass")])]))))
        assert brief(await editor.published(second, version=2, after=mark)) == []
        assert brief(await editor.published(first, version=2, after=mark)) == [PRINT]

        # Add a cell that does not parse: it gets TL001, the other cells are still linted.
        broken = cell_uri(notebook, 3)
        mark = editor.mark()
        editor.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=uri, version=3),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=3, delete_count=0, cells=[
                        types.NotebookCell(kind=types.NotebookCellKind.Code, document=broken)]),
                    did_open=[types.TextDocumentItem(uri=broken, language_id="python", version=1,
                                                     text="def f(:\n    pass\n")])))))
        expected = cli_by_cell(torchlint, workspace, [
            *CELLS[:2], ("code", "x = 2\npass\n"), ("code", "def f(:\n    pass\n")])
        assert expected == {1: [PRINT], 3: [
            ("TL001", "Error", (0, 6, 0, 6), "The file does not parse: invalid syntax")]}
        assert brief(await editor.published(broken, version=3, after=mark)) == expected[3]
        assert brief(await editor.published(first, version=3, after=mark)) == [PRINT]

        mark = editor.mark()
        editor.client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=uri),
            cell_text_documents=[types.TextDocumentIdentifier(cell_uri(notebook, i))
                                 for i in range(4)]))
        for cell in (first, second, broken):
            assert await editor.published(cell, after=mark) == []
