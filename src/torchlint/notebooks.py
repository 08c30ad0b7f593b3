"""Fixing Jupyter notebooks in place: fixes and ``# noqa`` comments applied per
cell, and the notebook written back with everything else byte for byte.

A notebook's findings are in cell coordinates (the engine moves them there),
and so are their fixes' edits. A fix is applied to the cell's own source (its
IPython magics included), and only the ``"source"`` value of each changed
code cell is replaced in the file's JSON text: outputs, metadata, key order,
indentation and the escaping of every other cell stay as they were. The new
value keeps the old one's shape (a list of lines or one string, the same
indentation between items).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple

from torchlint import fixes
from torchlint.source import SourceError, SourceFile, read_notebook

if TYPE_CHECKING:
    from torchlint.engine import FileResult
    from torchlint.findings import Finding
    from torchlint.runner import FixOutcome, Run

MAX_FIX_PASSES = 10


class _Value(NamedTuple):
    """Where a JSON value is in the file's text: [start, end)."""

    start: int
    end: int


class CellSource(NamedTuple):
    number: int  # 1-based among all cells, as Jupyter and the findings number them
    text: str  # the cell's source, joined
    where: _Value  # the "source" value in the notebook's text


# -- reading the JSON text with positions -----------------------------------------

_WHITESPACE = " \t\n\r"


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _string_end(text: str, index: int) -> int:
    """The index after the JSON string that starts at `index` (a quote)."""
    index += 1
    while True:
        char = text[index]
        if char == "\\":
            index += 2
        elif char == '"':
            return index + 1
        else:
            index += 1


def _value_end(text: str, index: int) -> int:
    """The index after the JSON value that starts at `index`."""
    char = text[index]
    if char == '"':
        return _string_end(text, index)
    if char in "[{":
        closing = "]" if char == "[" else "}"
        index = _skip(text, index + 1)
        while text[index] != closing:
            if char == "{":
                index = _skip(text, _string_end(text, index))
                index = _skip(text, index + 1)  # the colon
            index = _skip(text, _value_end(text, index))
            if text[index] == ",":
                index = _skip(text, index + 1)
        return index + 1
    while index < len(text) and text[index] not in ",]}" + _WHITESPACE:
        index += 1  # a number, true, false, null
    return index


def _members(text: str, start: int) -> dict[str, _Value]:
    """The members of the object at `start`: key -> where its value is."""
    found: dict[str, _Value] = {}
    index = _skip(text, start + 1)
    while text[index] != "}":
        key_end = _string_end(text, index)
        key = json.loads(text[index:key_end])
        index = _skip(text, _skip(text, key_end) + 1)
        end = _value_end(text, index)
        found[key] = _Value(index, end)
        index = _skip(text, end)
        if text[index] == ",":
            index = _skip(text, index + 1)
    return found


def _items(text: str, start: int) -> list[_Value]:
    found: list[_Value] = []
    index = _skip(text, start + 1)
    while text[index] != "]":
        end = _value_end(text, index)
        found.append(_Value(index, end))
        index = _skip(text, end)
        if text[index] == ",":
            index = _skip(text, index + 1)
    return found


def code_cells(notebook_text: str) -> list[CellSource]:
    """Each code cell's source and where it is in `notebook_text`."""
    top = _members(notebook_text, _skip(notebook_text, 0))
    cells = top.get("cells")
    if cells is None:
        return []
    found = []
    for number, cell in enumerate(_items(notebook_text, cells.start), start=1):
        if notebook_text[cell.start] != "{":
            continue
        members = _members(notebook_text, cell.start)
        kind = members.get("cell_type")
        source = members.get("source")
        if kind is None or source is None:
            continue
        if json.loads(notebook_text[kind.start:kind.end]) != "code":
            continue
        value = json.loads(notebook_text[source.start:source.end])
        text = "".join(value) if isinstance(value, list) else str(value)
        found.append(CellSource(number, text, source))
    return found


# -- writing a cell's source back in the old value's shape -------------------------


def _encode(text: str, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)


def _source_value(old_value: str, new_text: str) -> str:
    """The JSON of `new_text` shaped as `old_value` was: a list of lines with
    the same separators, or one string."""
    ascii_only = "\\u" in old_value and old_value.isascii()
    if not old_value.startswith("["):
        return _encode(new_text, ascii_only)
    lines = new_text.splitlines(keepends=True)
    items = _items(old_value, 0)
    if not items:
        prefix, separator, suffix = "", ", ", ""
    else:
        prefix = old_value[1:items[0].start]
        suffix = old_value[items[-1].end:-1]
        separator = old_value[items[0].end:items[1].start] if len(items) > 1 else "," + prefix
    return "[" + prefix + separator.join(_encode(line, ascii_only) for line in lines) + suffix + "]"


def replace_cells(notebook_text: str, new_sources: dict[int, str]) -> str:
    """`notebook_text` with the source of each cell in `new_sources` replaced."""
    out = []
    last = 0
    for cell in code_cells(notebook_text):
        if cell.number not in new_sources or new_sources[cell.number] == cell.text:
            continue
        old_value = notebook_text[cell.where.start:cell.where.end]
        out.append(notebook_text[last:cell.where.start])
        out.append(_source_value(old_value, new_sources[cell.number]))
        last = cell.where.end
    out.append(notebook_text[last:])
    return "".join(out)


# -- fixes ---------------------------------------------------------------------------


def _decoded(source: SourceFile) -> str | None:
    """The notebook's JSON text as read from its file (None for standard input)."""
    if source.path is None:
        return None
    try:
        return source.path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def fix(run: Run, result: FileResult, unsafe: bool, notebook_text: str | None = None
        ) -> tuple[FileResult, FixOutcome | None]:
    """Apply fixes cell by cell until none is left (each pass re-lints the
    notebook). The outcome's texts are the notebook's JSON before and after."""
    from torchlint.parsing import parse_module
    from torchlint.runner import FixOutcome

    source = result.source
    original = notebook_text if notebook_text is not None else _decoded(source) if source else None
    if source is None or original is None or result.errors:
        return result, None
    text = original
    fixed = 0
    for _ in range(MAX_FIX_PASSES):
        by_cell: dict[int, list[Finding]] = {}
        for finding in result.findings:
            if finding.cell is not None and fixes.applicable(finding, unsafe):
                by_cell.setdefault(finding.cell, []).append(finding)
        if not by_cell:
            break
        cells = {cell.number: cell.text for cell in code_cells(text)}
        new_sources: dict[int, str] = {}
        count = 0
        for number, findings in by_cell.items():
            if number not in cells:
                continue
            new_sources[number], applied = fixes.apply_fixes(cells[number], findings, unsafe)
            count += applied
        new_text = replace_cells(text, new_sources)
        if count == 0 or new_text == text:
            break
        try:
            new_source = read_notebook(new_text.encode("utf-8"), source.display, source.path)
            parse_module(new_source.text)
        except (SourceError, Exception) as err:  # noqa: BLE001 - never write what does not parse
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return result, FixOutcome(original, original, 0, parse_error=first)
        text = new_text
        fixed += count
        result = run.lint(new_source)
    if fixed == 0:
        return result, None
    return result, FixOutcome(original, text, fixed)


def write(source: SourceFile, notebook_text: str) -> str | None:
    """Write the fixed notebook over its file, atomically. Returns an error message."""
    assert source.path is not None
    try:
        fixes.write_atomically(source.path, notebook_text.encode("utf-8"))
    except OSError as err:
        return f"{source.display}: fixes not written ({err.strerror or err})"
    return None


def unified_diff(source: SourceFile, new_notebook_text: str, display: str,
                 old_notebook_text: str | None = None) -> str:
    """One diff per changed cell, in the cell's own lines (``nb.ipynb:cell 3``)."""
    old_text = old_notebook_text if old_notebook_text is not None else _decoded(source) or ""
    old_cells = {cell.number: cell.text for cell in code_cells(old_text)}
    out = []
    for cell in code_cells(new_notebook_text):
        before = old_cells.get(cell.number)
        if before is not None and before != cell.text:
            out.append(fixes.unified_diff(before, cell.text, f"{display}:cell {cell.number}"))
    return "".join(out)


def add_noqa(source: SourceFile, findings: list[Finding]) -> tuple[int, str | None]:
    """``# noqa: CODE`` on the line of every finding, in its cell. Returns the
    count of lines that got one and an error message."""
    from torchlint import suppressions

    original = _decoded(source)
    if original is None:
        return 0, f"{source.display}: cannot read the notebook again to add noqa comments"
    wanted: dict[int, dict[int, set[str]]] = {}
    for finding in findings:
        if finding.cell is not None:
            wanted.setdefault(finding.cell, {}).setdefault(finding.line, set()).add(finding.code)
    new_sources: dict[int, str] = {}
    added = 0
    for cell in code_cells(original):
        if cell.number in wanted:
            new_sources[cell.number], count = suppressions.add_noqa(cell.text, wanted[cell.number])
            added += count
    if not added:
        return 0, None
    error = write(source, replace_cells(original, new_sources))
    return (0, error) if error else (added, None)
