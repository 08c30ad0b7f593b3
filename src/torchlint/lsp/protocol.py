"""pygls' protocol with two corrections a server under load needs.

**Lines.** pygls applies an incremental change by splitting the document with
``str.splitlines``, which also ends a line at a form feed, U+2028 and other
characters. LSP ends lines only at ``\\n``, ``\\r\\n`` and ``\\r``: after a
form feed (PEP 8 allows them) every change below it landed on the wrong line,
and the server went on linting a text the editor did not have.
:class:`EditorTextDocument` splits as LSP does, and applies a change by
splicing the text at two offsets instead of rebuilding it line by line.

**Finished handlers.** pygls 2.1 files the future of every notification and
of every step of its built-in handlers under a fresh id in
``_request_futures`` and removes it only for requests, so the server grew
with every keystroke (one future per didChange, forever).
:class:`EditorProtocol` drops the finished ones before it handles each
message. Should pygls stop calling ``_execute_handler``, the override is
simply not used; the load tests (tests/lsp/test_lsp_storm.py) read
``requestFutures`` from ``torchlint/status`` and fail if futures pile up again.
"""

from __future__ import annotations

import re
from typing import Any, Generator

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.workspace import TextDocument, Workspace

from torchlint.source import PYTHON_LINE_BREAK  # LSP ends lines where Python does

TEXT_DOCUMENT_SYNC = types.TextDocumentSyncKind.Incremental

#: One line with its line break, or the last line without one.
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
#: What ``str.splitlines`` also takes for a line break.
_NOT_LSP_BREAKS_RE = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class EditorTextDocument(TextDocument):
    @property
    def lines(self) -> tuple[str, ...]:
        source = self.source
        if _NOT_LSP_BREAKS_RE.search(source) is None:
            return tuple(source.splitlines(True))  # the same lines, found faster
        return tuple(_LINE_RE.findall(source))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        # pygls rebuilds the whole text line by line for each change: milliseconds
        # per keystroke in a 1,000-line file, more while a lint holds the
        # interpreter. This finds the two offsets and splices.
        source = self.source
        start = self._offset(source, change.range.start)
        end = max(start, self._offset(source, change.range.end))
        self._source = source[:start] + change.text + source[end:]

    def _offset(self, source: str, position: types.Position) -> int:
        """The code point offset of an LSP position. As LSP says, a character
        past the end of its line means the end of the line; a line past the
        last, the end of the text."""
        start = _line_start(source, position.line)
        if start is None:
            return len(source)
        found = PYTHON_LINE_BREAK.search(source, start)
        line = source[start:found.start() if found else len(source)]
        if line.isascii():
            return start + min(position.character, len(line))
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return start + index
            units += self.position_codec.client_num_units(char)
        return start + len(line)


def _line_start(source: str, line: int) -> int | None:
    """Offset of 0-based `line` in `source`; None past the last line."""
    if "\r" in source:  # rare: the general pattern
        if line == 0:
            return 0
        for number, found in enumerate(PYTHON_LINE_BREAK.finditer(source), start=1):
            if number == line:
                return found.end()
        return None
    parts = source.split("\n", line)  # in C: the lines before, and the rest
    return len(source) - len(parts[-1]) if len(parts) > line else None


class EditorWorkspace(Workspace):
    def _create_text_document(self, doc_uri: str, source: str | None = None,
                              version: int | None = None,
                              language_id: str | None = None) -> TextDocument:
        return EditorTextDocument(doc_uri, source=source, version=version, language_id=language_id,
                                  sync_kind=TEXT_DOCUMENT_SYNC, position_codec=self.position_codec)


class EditorProtocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, Any]:
        result = yield from super().lsp_initialize(params)
        # pygls made a plain Workspace; no document is open before the answer to
        # initialize, so replacing it loses nothing.
        plain = self.workspace
        self._workspace = EditorWorkspace(plain.root_uri, TEXT_DOCUMENT_SYNC,
                                          list(plain.folders.values()), plain.position_encoding)
        return result

    def _execute_handler(self, *args: Any, **kwargs: Any) -> None:
        # Before handling the next message, drop what pygls kept of handlers that
        # have finished. (Not from a done-callback: pygls iterates the table when
        # shutting down, and cancelling a future there runs its callbacks at once.)
        futures = self._request_futures
        for msg_id in [key for key, future in futures.items() if future.done()]:
            del futures[msg_id]
        super()._execute_handler(*args, **kwargs)
