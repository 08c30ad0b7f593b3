"""What the server knows of each open document, and the source it lints.

A text document is linted as it is in the editor. A notebook is linted as
the command line lints an .ipynb file: its cells are joined into one module
by :func:`torchlint.source.read_notebook`, and each finding goes back to the
cell it is in.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from torchlint.engine import FileResult
from torchlint.findings import Finding
from torchlint.lsp.diagnostics import Verdicts
from torchlint.source import SourceFile, read_notebook


@dataclass(frozen=True)
class Target:
    """A text the client shows diagnostics on: the document, or one notebook cell."""

    uri: str
    text: str
    cell: int | None = None  # 1-based cell number within the notebook


@dataclass(frozen=True)
class Snapshot:
    """One version of a document, as linted."""

    version: int | None
    generation: int
    source: SourceFile
    targets: tuple[Target, ...]

    def target_of(self, finding: Finding) -> Target | None:
        for target in self.targets:
            if target.cell == finding.cell:
                return target
        return None


@dataclass(frozen=True)
class Linted:
    """What a lint of one snapshot produced, computed on the lint thread."""

    result: FileResult
    dependencies: frozenset[Path]  # resolved paths of the other files it read
    refuted: str  # what [tool.torchlint.probe] says to do with refuted findings


@dataclass(eq=False)
class OpenDocument:
    uri: str  # as the client sent it
    path: Path | None
    display: str
    #: `path` with its links resolved, once: compared with other files on every edit.
    resolved: Path | None = None
    notebook: bool = False
    version: int | None = None
    #: Bumped by anything that makes the last lint stale: an edit, a change of a
    #: file it depends on, of the configuration or of the settings.
    generation: int = 0
    linted: Snapshot | None = None
    outcome: Linted | None = None
    #: Published diagnostics per target URI, with the finding each one shows.
    shown: dict[str, list[tuple[Finding, types.Diagnostic]]] = field(default_factory=dict)
    verdicts: Verdicts | None = None
    pending: asyncio.Task | None = None
    probe: asyncio.Task | None = None
    logged: frozenset[str] = frozenset()  # rule crashes already logged for this document

    @property
    def current(self) -> bool:
        return self.linted is not None and self.linted.generation == self.generation

    def invalidate(self) -> None:
        self.generation += 1

    @property
    def result(self) -> FileResult | None:
        return self.outcome.result if self.outcome is not None else None

    def depends_on(self, path: Path) -> bool:
        """Whether the last lint read `path` (resolved)."""
        return self.outcome is not None and path in self.outcome.dependencies


def text_snapshot(doc: OpenDocument, text: str) -> Snapshot:
    source = SourceFile(display=doc.display, text=text, path=doc.path)
    return Snapshot(doc.version, doc.generation, source, (Target(doc.uri, text),))


def notebook_snapshot(doc: OpenDocument, notebook: types.NotebookDocument,
                      cell_texts: dict[str, str]) -> Snapshot:
    """`cell_texts`: the text of each synced cell by URI (cells of other
    languages are not synced and are read as markdown)."""
    cells = []
    targets = []
    for number, cell in enumerate(notebook.cells, start=1):
        text = cell_texts.get(cell.document)
        is_code = cell.kind == types.NotebookCellKind.Code and text is not None
        cells.append({"cell_type": "code" if is_code else "markdown", "source": text or ""})
        if is_code:
            targets.append(Target(cell.document, text or "", cell=number))
    data = json.dumps({"cells": cells}).encode("utf-8")
    source = read_notebook(data, doc.display, doc.path)
    return Snapshot(notebook.version, doc.generation, source, tuple(targets))
