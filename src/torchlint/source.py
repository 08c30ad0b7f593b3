"""Reading what is linted: Python files (any PEP 263 encoding, with or
without a BOM), standard input, and Jupyter notebooks.

A file that cannot be read becomes a :class:`SourceError` with a one-line
message for the user, never a traceback.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

# PEP 263: a coding declaration on one of the first two lines.
_CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
#: Files larger than this are reported instead of parsed (a 10 MB line of
#: generated data is not a training script).
MAX_BYTES = 8 * 1024 * 1024


class SourceError(Exception):
    """A file that cannot be linted; the message names the problem."""


@dataclass(frozen=True)
class Cell:
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
        if self.cells is None:
            return None, line
        for cell in reversed(self.cells):
            if line >= cell.first_line:
                return cell.number, line - cell.first_line + 1
        return self.cells[0].number, line

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def decode(data: bytes, display: str) -> tuple[str, str, bool]:
    """(text, encoding, had_bom) of Python source bytes."""
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8):]
    if b"\0" in data[:8192]:
        raise SourceError(f"{display}: binary file (contains NUL bytes), not Python source")
    encoding = "utf-8"
    for line in data.split(b"\n", 2)[:2]:
        match = _CODING_RE.match(line)
        if match:
            encoding = match.group(1).decode("ascii")
            break
    if bom and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        raise SourceError(f"{display}: has a UTF-8 BOM but declares coding {encoding}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise SourceError(f"{display}: unknown encoding {encoding!r} in its coding line") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SourceError(
            f"{display}:{line}: cannot decode byte {data[err.start:err.start + 1]!r} as "
            f"{encoding}; save the file as UTF-8 or declare its encoding (PEP 263)"
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
        raise SourceError(f"{display}: cannot read ({err.strerror or err})") from None
    if path.suffix == ".ipynb":
        return read_notebook(data, display, path)
    text, encoding, bom = decode(data, display)
    return SourceFile(display=display, text=text, path=path, encoding=encoding, bom=bom)


# -- notebooks ---------------------------------------------------------------

_MAGIC_RE = re.compile(r"^\s*(%|!|\?)")


def _blank_magics(lines: list[str]) -> list[str]:
    """IPython syntax is not Python: blank it, keeping the line count."""
    if lines and lines[0].lstrip().startswith("%%"):
        return ["" for _ in lines]  # a cell magic makes the whole cell non-Python
    out = []
    for line in lines:
        stripped = line.rstrip()
        if _MAGIC_RE.match(line) or stripped.endswith("?") and stripped.lstrip()[:1].isalpha() and " " not in stripped.strip():
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}pass" if indent else "")
        else:
            out.append(line)
    return out


def read_notebook(data: bytes, display: str, path: Path | None = None) -> SourceFile:
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SourceError(f"{display}: not a valid notebook ({err})") from None
    raw_cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(raw_cells, list):
        raise SourceError(f"{display}: not a valid notebook (no cell list)")
    parts: list[str] = []
    cells: list[Cell] = []
    line = 1
    for number, cell in enumerate(raw_cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        lines = _blank_magics(text.splitlines())
        cells.append(Cell(number=number, first_line=line, line_count=max(len(lines), 1)))
        parts.append("\n".join(lines) + "\n" if lines else "\n")
        line += max(len(lines), 1)
    return SourceFile(display=display, text="".join(parts), path=path, cells=tuple(cells))
