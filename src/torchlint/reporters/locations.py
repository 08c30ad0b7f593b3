"""Where a finding is, in the units each consumer counts in.

Findings store lines 1-based and columns 0-based in characters (code points),
notebook findings relative to their cell. People and GitHub read 1-based
code-point columns; LSP and SARIF (``utf16CodeUnits``) count UTF-16 code
units, so a character outside the Basic Multilingual Plane (an emoji) counts
twice; a terminal draws East Asian wide characters two cells wide. The
conversions need the text of the line, which :class:`Lines` finds.
"""

from __future__ import annotations

import os
import posixpath
import unicodedata
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from urllib.parse import quote

from torchlint.findings import Finding, Span
from torchlint.reporters import Report
from torchlint.source import python_lines

class Lines:
    """The text of the lines findings point at, read from the report's sources."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._cache: dict[str, list[str] | None] = {}

    def _file_lines(self, path: str) -> list[str] | None:
        if path not in self._cache:
            source = self._report.files.get(path)
            text = source.text if source is not None else self._report.sources.get(path)
            self._cache[path] = python_lines(text) if text is not None else None
        return self._cache[path]

    def line(self, finding: Finding, line: int) -> str | None:
        """Line `line` (1-based, in the finding's cell for notebooks), or None when unknown."""
        lines = self._file_lines(finding.path)
        if lines is None:
            return None
        if finding.cell is not None:
            source = self._report.files.get(finding.path)
            cells = source.cells if source is not None else None
            cell = next((c for c in cells or () if c.number == finding.cell), None)
            if cell is None or not 1 <= line <= cell.line_count:
                return None  # without the cells the joined text cannot be mapped back
            line = cell.first_line + line - 1
        if not 1 <= line <= len(lines):
            return None
        return lines[line - 1]


def utf16_column(line: str | None, column: int) -> int:
    """A 0-based code-point column as UTF-16 code units. Without the line's text
    the column is returned unchanged (exact for text without astral characters)."""
    if line is None:
        return column
    return column + sum(1 for char in line[:column] if ord(char) > 0xFFFF)


def utf16_span(lines: Lines, finding: Finding, span: Span) -> tuple[int, int, int, int]:
    """(start line, start character, end line, end character) of `span`,
    lines 1-based and characters 0-based in UTF-16 code units."""
    start = utf16_column(lines.line(finding, span.start_line), span.start_col)
    end = utf16_column(lines.line(finding, span.end_line), span.end_col)
    return span.start_line, start, span.end_line, end


def _cell_width(char: str) -> int:
    if unicodedata.combining(char) or char in "\u200b\u200c\u200d\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def caret_line(line: str, start: int, end: int | None) -> tuple[str, str]:
    """(indent, carets) that put carets under ``line[start:end]`` (``end`` None:
    to the end of the line) in a terminal: tabs are kept so they expand as the
    source line's do, and wide characters get two cells. At least one caret."""
    indent = "".join("\t" if char == "\t" else " " * _cell_width(char) for char in line[:start])
    if start > len(line):
        indent += " " * (start - len(line))
    stop = len(line) if end is None else end
    width = sum(1 if char == "\t" else _cell_width(char) for char in line[start:stop])
    return indent, "^" * max(width, 1)


# -- paths and URIs ---------------------------------------------------------


def _pure(display: str) -> PurePath:
    # On Windows a path may be typed with backslashes; a URI never has them.
    return PureWindowsPath(display) if os.sep == "\\" else PurePosixPath(display)


def absolute_path(report: Report, display: str) -> Path:
    source = report.files.get(display)
    if source is not None and source.path is not None:
        return Path(os.path.abspath(source.path))
    return Path(os.path.abspath(Path.cwd() / display))


def file_uri(report: Report, display: str) -> str:
    """The absolute ``file://`` URI of a linted file (what editors key documents by)."""
    return absolute_path(report, display).as_uri()


def relative_uri(display: str, root: Path | None = None) -> str | None:
    """`display` as a URI reference relative to `root` (the current folder), with
    ``/`` separators and percent-encoding; None when it lies outside `root`."""
    pure = _pure(display)
    if pure.is_absolute():
        try:
            pure = _pure(os.path.abspath(display)).relative_to(root or Path.cwd())
        except ValueError:
            return None
    posix = posixpath.normpath(PurePosixPath(*pure.parts).as_posix()) if pure.parts else "."
    if posix == ".." or posix.startswith("../"):
        return None
    # quote() also encodes ':' so a first segment such as "a:b.py" is never read as a scheme.
    return quote(posix, safe="/")
