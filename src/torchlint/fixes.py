"""Applying fixes to text, showing them as a diff, and writing them safely.

Edits are applied from the end of the file to the start so earlier offsets
stay valid; an edit that overlaps one already taken waits for the next pass
(the runner re-lints and fixes again until nothing changes, as ruff does).
Only the edited ranges change: line endings, tabs and everything else
outside them are kept byte for byte.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from torchlint.findings import Applicability, Edit, Finding
from torchlint.source import PYTHON_LINE_BREAK  # not str.splitlines: see there

# Lines of a diff end at "\n" only, as git and patch split them ("\r" stays in the line).
_DIFF_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+$")


def line_offsets(text: str) -> list[int]:
    """Offset of the start of each line (index 0 is line 1)."""
    return [0] + [m.end() for m in PYTHON_LINE_BREAK.finditer(text)]


def offset(starts: list[int], line: int, column: int) -> int:
    return starts[min(line, len(starts)) - 1] + column


def applicable(finding: Finding, unsafe: bool) -> bool:
    fix = finding.fix
    if fix is None or not fix.edits:
        return False
    return fix.applicability is Applicability.SAFE or unsafe


def apply_edits(text: str, edits: list[Edit]) -> tuple[str, int]:
    """The text with every non-overlapping edit applied, and how many were."""
    starts = line_offsets(text)
    ranges = []
    for edit in edits:
        begin = offset(starts, edit.span.start_line, edit.span.start_col)
        end = offset(starts, edit.span.end_line, edit.span.end_col)
        ranges.append((begin, end, edit.replacement))
    ranges.sort(key=lambda r: (r[0], r[1]))
    taken: list[tuple[int, int, str]] = []
    last_end = -1
    for begin, end, replacement in ranges:
        if begin < last_end or (taken and begin == taken[-1][0] == end):
            continue  # overlaps an edit already taken: next pass
        taken.append((begin, end, replacement))
        last_end = end
    for begin, end, replacement in reversed(taken):
        text = text[:begin] + replacement + text[end:]
    return text, len(taken)


def apply_fixes(text: str, findings: list[Finding], unsafe: bool) -> tuple[str, int]:
    """Apply each finding's fix whole (all of its edits or none)."""
    chosen = [f for f in findings if applicable(f, unsafe)]
    starts = line_offsets(text)
    taken: list[Edit] = []
    fixed = 0
    claimed: list[tuple[int, int]] = []
    for finding in sorted(chosen, key=lambda f: f.span):
        assert finding.fix is not None
        spans = [
            (offset(starts, e.span.start_line, e.span.start_col),
             offset(starts, e.span.end_line, e.span.end_col))
            for e in finding.fix.edits
        ]
        if any(b < ce and cb < e or (b == e == cb) for b, e in spans for cb, ce in claimed):
            continue
        claimed.extend(spans)
        taken.extend(finding.fix.edits)
        fixed += 1
    new_text, _ = apply_edits(text, taken)
    return new_text, fixed


def _diff_lines(text: str) -> list[str]:
    return _DIFF_LINE_RE.findall(text)


def unified_diff(old: str, new: str, display: str) -> str:
    """A unified diff as git prints it, including its ``\\ No newline at end
    of file`` marker, so ``git apply`` and ``patch`` accept it."""
    import difflib

    out: list[str] = []
    for line in difflib.unified_diff(_diff_lines(old), _diff_lines(new),
                                     fromfile=f"a/{display}", tofile=f"b/{display}"):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename over the
    original, so a crash leaves either the old file or the new one. A symbolic
    link stays a link: its target is what gets written."""
    import tempfile

    path = Path(os.path.realpath(path))
    mode = path.stat().st_mode
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".torchlint", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
