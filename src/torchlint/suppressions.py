"""``# noqa`` comments: which findings the user silenced.

``# noqa`` alone silences every finding on its line; ``# noqa: TL101, TL2``
silences those codes and prefixes. A line holding only
``# torchlint: noqa`` silences the whole file.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

NOQA_RE = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]*(?:[,\s]+[A-Z]+[0-9]*)*))?", re.IGNORECASE
)
FILE_NOQA_RE = re.compile(r"^\s*#\s*torchlint\s*:\s*noqa\s*$", re.IGNORECASE)


@dataclass
class Suppressions:
    file_level: bool = False
    # line -> None (bare noqa: everything) or the codes/prefixes named
    lines: dict[int, tuple[str, ...] | None] = field(default_factory=dict)

    def silences(self, code: str, lines: tuple[int, ...]) -> bool:
        if self.file_level:
            return True
        for line in lines:
            if line not in self.lines:
                continue
            codes = self.lines[line]
            if codes is None or any(code.startswith(c) for c in codes):
                return True
        return False


def _comments(text: str) -> list[tuple[int, str, bool]]:
    """(line, comment text, alone on its line) for every comment; falls back to a
    line scan when the file does not tokenize."""
    found: list[tuple[int, str, bool]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                alone = not token.line[: token.start[1]].strip()
                found.append((token.start[0], token.string, alone))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            index = line.find("#")
            if index >= 0:
                found.append((number, line[index:], not line[:index].strip()))
    return found


def parse(text: str) -> Suppressions:
    result = Suppressions()
    if "noqa" not in text.lower():
        return result
    for line, comment, alone in _comments(text):
        if alone and FILE_NOQA_RE.match(comment):
            result.file_level = True
            continue
        match = NOQA_RE.search(comment)
        if match is None:
            continue
        codes = match.group("codes")
        if codes:
            result.lines[line] = tuple(c.upper() for c in re.split(r"[,\s]+", codes) if c)
        else:
            result.lines[line] = None
    return result
