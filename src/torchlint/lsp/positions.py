"""Between torchlint's positions and the client's.

torchlint counts lines from 1 and columns from 0 in characters (code
points), as libcst does. LSP counts both from 0, with columns in the code
units the client and server agreed on (UTF-16 unless the client offered
another encoding). Only ``\\n``, ``\\r\\n`` and ``\\r`` end a line in both.
"""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from torchlint.findings import Span

LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")


class Lines:
    """The lines of one text, converting positions both ways."""

    def __init__(self, text: str, codec: PositionCodec) -> None:
        self.lines = LINE_BREAK_RE.split(text)
        self._codec = codec

    def line(self, number: int) -> str:
        """The text of 1-based line `number` ("" past the end)."""
        return self.lines[number - 1] if 1 <= number <= len(self.lines) else ""

    def position(self, line: int, column: int) -> types.Position:
        """The client position of torchlint's (1-based line, 0-based character column)."""
        if line > len(self.lines):  # past the end: the end of the text
            last = len(self.lines) - 1
            return types.Position(last, self._codec.client_num_units(self.lines[last]))
        index = max(line - 1, 0)
        text = self.lines[index]
        return types.Position(index, self._codec.client_num_units(text[:max(column, 0)]))

    def range(self, span: Span) -> types.Range:
        return types.Range(self.position(span.start_line, span.start_col),
                           self.position(span.end_line, span.end_col))

    def character(self, position: types.Position) -> tuple[int, int]:
        """torchlint's (1-based line, 0-based character column) of a client position."""
        if position.line >= len(self.lines):
            return len(self.lines), len(self.lines[-1])
        text = self.lines[position.line]
        units = 0
        for index, char in enumerate(text):
            if units >= position.character:
                return position.line + 1, index
            units += self._codec.client_num_units(char)
        return position.line + 1, len(text)
