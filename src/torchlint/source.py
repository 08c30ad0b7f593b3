"""Reading what is linted: Python files (any PEP 263 encoding, with or
without a BOM), standard input, and Jupyter notebooks.

The text is decoded without newline translation, so ``\\r\\n`` and ``\\r``
survive a fix byte for byte. A file that cannot be read becomes a
:class:`SourceError` with a one-line message for the user, never a traceback.
"""

from __future__ import annotations

import codecs
import errno
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# Where Python ends a line. str.splitlines() also splits at form feeds, U+001C..
# U+001E, U+0085 and U+2028/9, which Python (and libcst) keep inside a line.
PYTHON_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def python_lines(text: str) -> list[str]:
    """The lines of `text` as Python numbers them, without their line breaks."""
    return PYTHON_LINE_BREAK.split(text)


def python_lines_with_ends(text: str) -> list[str]:
    """`text.splitlines(keepends=True)` at Python's line breaks only: a U+2028 in a
    string stays inside its line (and its string)."""
    return [line for line in re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text) if line]


# PEP 263: a coding declaration on the first line, or on the second when the
# first is blank or a comment (the rules of tokenize.detect_encoding).
_CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BLANK_OR_COMMENT_RE = re.compile(rb"^[ \t\f]*(?:#|$)")
_FIRST_LINES_RE = re.compile(rb"\r\n|\r|\n")
#: Files larger than this are reported instead of parsed (a 10 MB line of
#: generated data is not a training script).
MAX_BYTES = 8 * 1024 * 1024


#: "line 53" in a message (not "line-wise" nor "lines 3"): rewritten for notebooks.
_LINE_WORDS_RE = re.compile(r"\bline (\d+)\b")


class SourceError(Exception):
    """A file that cannot be linted; the message names the problem."""


class Cell(NamedTuple):
    number: int  # 1-based among all cells of the notebook, as Jupyter shows them
    first_line: int  # 1-based line of the joined module where the cell starts
    line_count: int


@dataclass
class SourceFile:
    display: str  # the path as the user gave it, or the stdin filename
    text: str
    path: Path | None = None  # None for standard input
    encoding: str = "utf-8"
    bom: bool = False
    cells: tuple[Cell, ...] | None = None  # set for notebooks

    @property
    def is_notebook(self) -> bool:
        return self.cells is not None

    def cell_position(self, line: int) -> tuple[int | None, int]:
        """(cell number, line within the cell) for a line of the joined module."""
        if not self.cells:
            return None, line
        for cell in reversed(self.cells):
            if line >= cell.first_line:
                return cell.number, line - cell.first_line + 1
        return self.cells[0].number, line

    def in_cell_words(self, message: str) -> str:
        """`message` with every ``line N`` of the joined module said as ``cell C,
        line L``: in a notebook, people count lines within a cell."""
        if not self.cells:
            return message

        def cell_line(match: re.Match[str]) -> str:
            cell, line = self.cell_position(int(match.group(1)))
            return f"cell {cell}, line {line}"

        return _LINE_WORDS_RE.sub(cell_line, message)

    def encode(self, text: str) -> bytes:
        """`text` as bytes in the file's own encoding (and BOM). Raises
        UnicodeEncodeError when the text holds a character the encoding lacks."""
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def declared_encoding(data: bytes) -> str | None:
    """The PEP 263 coding declaration of Python source bytes, if any."""
    lines = _FIRST_LINES_RE.split(data, 2)
    for index, line in enumerate(lines[:2]):
        match = _CODING_RE.match(line)
        if match:
            return match.group(1).decode("ascii")
        if index == 0 and not _BLANK_OR_COMMENT_RE.match(line):
            return None
    return None


def decode(data: bytes, display: str) -> tuple[str, str, bool]:
    """(text, encoding, had_bom) of Python source bytes."""
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8):]
    if b"\0" in data[:8192]:
        raise SourceError(f"{display}: binary file (contains NUL bytes), not Python source")
    encoding = declared_encoding(data) or "utf-8"
    try:
        canonical = codecs.lookup(encoding).name
    except LookupError:
        # A codec that a package registers at run time (`# coding: future_fstrings`,
        # pyxl): these transform UTF-8 source, so read the file as UTF-8 when it is.
        try:
            return data.decode("utf-8"), "utf-8", bom
        except UnicodeDecodeError:
            raise SourceError(f"{display}: unknown encoding {encoding!r} in its coding line, and the "
                              "file is not UTF-8") from None
    if bom and canonical not in ("utf-8", "utf-8-sig"):
        raise SourceError(f"{display}: has a UTF-8 BOM but declares coding {encoding}")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = len(_FIRST_LINES_RE.findall(data[: err.start])) + 1
        hint = ("save the file as UTF-8 or declare its encoding (PEP 263)" if encoding == "utf-8"
                else "its coding line does not match its bytes")
        raise SourceError(
            f"{display}:{line}: cannot decode byte {data[err.start:err.start + 1]!r} as "
            f"{encoding}; {hint}"
        ) from None
    return text, encoding, bom


def read_source(path: Path, display: str) -> SourceFile:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SourceError(
                f"{display}: {size / 1e6:.1f} MB is larger than the {MAX_BYTES // 2**20} MiB "
                "torchlint reads; exclude it in [tool.torchlint] exclude"
            )
        data = path.read_bytes()
    except SourceError:
        raise
    except IsADirectoryError:
        raise SourceError(f"{display}: is a folder, not a file") from None
    except PermissionError:
        raise SourceError(f"{display}: permission denied") from None
    except FileNotFoundError:
        raise SourceError(f"{display}: no such file") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SourceError(f"{display}: symbolic link loop") from None
        raise SourceError(f"{display}: cannot read ({err.strerror or err})") from None
    if path.suffix == ".ipynb":
        return read_notebook(data, display, path)
    text, encoding, bom = decode(data, display)
    return SourceFile(display=display, text=text, path=path, encoding=encoding, bom=bom)


# -- notebooks ---------------------------------------------------------------

# `%matplotlib inline`, `!pip install x`, `?obj`
_LINE_MAGIC_RE = re.compile(r"^\s*[%!?]")
# `files = !ls`, `t = %timeit -o f()`
_ASSIGNED_MAGIC_RE = re.compile(r"^\s*[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!]")
# `obj?`, `obj.method??`, and wildcard searches: `torch.*Tensor?`, `np.*load*?`
_HELP_RE = re.compile(r"^\s*[\w.*]+\?{1,2}\s*$")
# IPython's automagics written without `%`: `pip install -r requirements.txt` (never Python)
_AUTOMAGIC_RE = re.compile(r"^\s*(?:pip|conda|mamba)\s+(?:install|uninstall|download|list|show)\b")
# Cell magics whose body is Python that runs; any other (%%bash, %%html,
# %%writefile...) makes the whole cell something else.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


def _blank_magics(lines: list[str]) -> list[str]:
    """IPython syntax is not Python: blank it, keeping the line count (an
    indented magic becomes ``pass`` so its block still parses)."""
    start = 0
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in _PYTHON_CELL_MAGICS:
            return ["" for _ in lines]
        start = 1
    out = [""] * start
    inside = _Inside()
    magic_continues = False
    for line in lines[start:]:
        if magic_continues:  # IPython joins a magic's backslash-ended lines: `!cmd \` then `--flag`
            magic_continues = line.rstrip().endswith("\\")
            out.append("")
        elif inside.statement_starts() and (_LINE_MAGIC_RE.match(line) or _ASSIGNED_MAGIC_RE.match(line)
                                            or _HELP_RE.match(line) or _AUTOMAGIC_RE.match(line)):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}pass" if indent else "")
            magic_continues = line.rstrip().endswith("\\")
        else:
            inside.read(line)
            out.append(line)
    return out


class _Inside:
    """Whether the next line starts a statement: not inside brackets, a
    triple-quoted string or after a backslash. A line that begins with `%`
    there continues an expression (a `print('%d'` whose next line is `% n)`):
    it is no magic."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.continued = False

    def statement_starts(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def read(self, line: str) -> None:
        i, n = 0, len(line)
        while i < n:
            char = line[i]
            if self.quote is not None:
                if char == "\\":
                    i += 2
                elif line.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                else:
                    i += 1
                continue
            if char == "#":
                self.continued = False
                return
            if char in "'\"":
                if line[i:i + 3] in ('"""', "'''"):
                    self.quote = line[i:i + 3]
                    i += 3
                    continue
                i += 1
                while i < n and line[i] != char:
                    i += 2 if line[i] == "\\" else 1
                i += 1
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(self.depth - 1, 0)
            i += 1
        self.continued = self.quote is None and line.rstrip().endswith("\\")


def _language(notebook: dict) -> str:
    """The notebook's language, from its metadata (Python when it says nothing)."""
    metadata = notebook.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    language_info = metadata.get("language_info")
    kernelspec = metadata.get("kernelspec")
    for table, key in ((language_info, "name"), (kernelspec, "language")):
        if isinstance(table, dict) and isinstance(table.get(key), str):
            return table[key].lower()
    return "python"


def read_notebook(data: bytes, display: str, path: Path | None = None) -> SourceFile:
    """The code cells of a notebook joined into one module, one cell after the
    other, so a model defined in one cell is known in the next."""
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise SourceError(f"{display}: not a valid notebook (not UTF-8 JSON)") from None
    except ValueError as err:
        raise SourceError(f"{display}: not a valid notebook (invalid JSON: {err})") from None
    raw_cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(raw_cells, list):
        raise SourceError(f"{display}: not a valid notebook (no list of cells; nbformat 4 expected)")
    if _language(notebook) != "python":  # an R or Julia notebook has nothing for us
        return SourceFile(display=display, text="", path=path, cells=())
    parts: list[str] = []
    cells: list[Cell] = []
    line = 1
    for number, cell in enumerate(raw_cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else str(source)
        lines = _blank_magics([line.rstrip("\r\n") for line in python_lines_with_ends(text)])
        cells.append(Cell(number=number, first_line=line, line_count=max(len(lines), 1)))
        parts.append("\n".join(lines) + "\n" if lines else "\n")
        line += max(len(lines), 1)
    return SourceFile(display=display, text="".join(parts), path=path, cells=tuple(cells))
