"""``# noqa`` comments: which findings the user silenced.

``# noqa`` alone silences every finding on its line; ``# noqa: TL101, TL2``
silences those codes and prefixes (codes of other tools in the same comment,
``# noqa: E501, TL101``, are allowed and ignored). The engine asks about the
reported line and about the first and last line of the statement that holds
the finding, so a multi-line call can carry its ``# noqa`` at either end.

A comment alone on its line, ``# torchlint: noqa``, silences the whole file;
``# torchlint: noqa: TL101`` silences one rule (or prefix) in the whole file.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

# Letters spelled out in both cases rather than re.IGNORECASE, which makes
# compiling these (at every start of torchlint) three times slower.
_CODES = r"[A-Za-z]+[0-9]*(?:[,\s]+[A-Za-z]+[0-9]*)*"
NOQA_RE = re.compile(rf"#\s*[nN][oO][qQ][aA](?:\s*:\s*(?P<codes>{_CODES}))?")
# matched against the lowercased comment
FILE_NOQA_RE = re.compile(rf"^\s*#\s*torchlint\s*:\s*noqa(?:\s*:\s*(?P<codes>{_CODES}))?\s*$")
_SPLIT_RE = re.compile(r"[,\s]+")


def _split(codes: str) -> tuple[str, ...]:
    return tuple(code.upper() for code in _SPLIT_RE.split(codes) if code)


@dataclass
class Suppressions:
    file_level: bool = False  # everything in the file is silenced
    file_codes: tuple[str, ...] = ()  # codes and prefixes silenced in the whole file
    # line -> None (bare noqa: everything) or the codes/prefixes named
    lines: dict[int, tuple[str, ...] | None] = field(default_factory=dict)

    def silences(self, code: str, lines: tuple[int, ...]) -> bool:
        if self.file_level or any(code.startswith(c) for c in self.file_codes):
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
        # newline=None: "\r" and "\r\n" end lines here as they do for the parser.
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type == tokenize.COMMENT:
                alone = not token.line[: token.start[1]].strip()
                found.append((token.start[0], token.string, alone))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found = []
        for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
            index = line.find("#")
            if index >= 0:
                found.append((number, line[index:], not line[:index].strip()))
    return found


def parse(text: str) -> Suppressions:
    result = Suppressions()
    if "noqa" not in text.lower():
        return result
    file_codes: list[str] = []
    for line, comment, alone in _comments(text):
        file_match = FILE_NOQA_RE.match(comment.lower()) if alone else None
        if file_match is not None:
            if file_match.group("codes"):
                file_codes.extend(_split(file_match.group("codes")))
            else:
                result.file_level = True
            continue
        match = NOQA_RE.search(comment)
        if match is None:
            continue
        codes = match.group("codes")
        result.lines[line] = _split(codes) if codes else None
    result.file_codes = tuple(file_codes)
    return result
