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
from typing import NamedTuple

# Letters spelled out in both cases rather than re.IGNORECASE, which makes
# compiling these (at every start of torchlint) three times slower.
# A code is one word of letters and digits: `TL9O1` (a typo) is one unknown code, not TL9 + "O1".
_CODES = r"[A-Za-z][A-Za-z0-9]*(?:[,\s]+[A-Za-z][A-Za-z0-9]*)*"
NOQA_RE = re.compile(rf"#\s*[nN][oO][qQ][aA](?:\s*:\s*(?P<codes>{_CODES}))?")
# matched against the lowercased comment
FILE_NOQA_RE = re.compile(rf"^\s*#\s*torchlint\s*:\s*noqa(?:\s*:\s*(?P<codes>{_CODES}))?\s*$")
_SPLIT_RE = re.compile(r"[,\s]+")


def _split(codes: str) -> tuple[str, ...]:
    return tuple(code.upper() for code in _SPLIT_RE.split(codes) if code)


class Directive(NamedTuple):
    """One ``# noqa: ...`` comment: where it is and what it names."""

    line: int
    start: int  # 0-based column of the "#"
    end: int  # 0-based column after the last code
    codes: tuple[tuple[str, int], ...]  # (code as written, upper-cased; its 0-based column)


@dataclass
class Suppressions:
    file_level: bool = False  # everything in the file is silenced
    file_codes: tuple[str, ...] = ()  # codes and prefixes silenced in the whole file
    # line -> None (bare noqa: everything) or the codes/prefixes named
    lines: dict[int, tuple[str, ...] | None] = field(default_factory=dict)
    directives: dict[int, Directive] = field(default_factory=dict)  # line -> its `# noqa: codes`
    # (line, code or prefix) of every line directive that silenced a finding
    used: set[tuple[int, str]] = field(default_factory=set)

    def silences(self, code: str, lines: tuple[int, ...]) -> bool:
        if self.file_level or any(code.startswith(c) for c in self.file_codes):
            return True
        for line in lines:
            if line not in self.lines:
                continue
            codes = self.lines[line]
            if codes is None:
                return True
            matched = [c for c in codes if code.startswith(c)]
            if matched:
                self.used.update((line, c) for c in matched)
                return True
        return False


def _comments(text: str) -> list[tuple[int, int, str, bool]]:
    """(line, column, comment text, alone on its line) for every comment; falls
    back to a line scan when the file does not tokenize."""
    found: list[tuple[int, int, str, bool]] = []
    try:
        # newline=None: "\r" and "\r\n" end lines here as they do for the parser.
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type == tokenize.COMMENT:
                alone = not token.line[: token.start[1]].strip()
                found.append((token.start[0], token.start[1], token.string, alone))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found = []
        for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
            index = line.find("#")
            if index >= 0:
                found.append((number, index, line[index:], not line[:index].strip()))
    return found


_CODE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _directive(line: int, column: int, match: re.Match[str]) -> Directive:
    start = match.start("codes")
    codes = tuple((code.group(0).upper(), column + start + code.start())
                  for code in _CODE_RE.finditer(match.group("codes")))
    return Directive(line, column + match.start(), column + match.end("codes"), codes)


def parse(text: str) -> Suppressions:
    result = Suppressions()
    if "noqa" not in text.lower():
        return result
    file_codes: list[str] = []
    for line, column, comment, alone in _comments(text):
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
        if codes:
            result.directives[line] = _directive(line, column, match)
    result.file_codes = tuple(file_codes)
    return result


# -- adding `# noqa` (--add-noqa) ------------------------------------------------


def _commentable_lines(text: str) -> set[int] | None:
    """Lines whose end is code, where a comment may be appended: not inside a
    string, not continued by a backslash. None when the text does not tokenize."""
    lines: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT):
                lines.add(token.start[0])
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return lines


def _statement_end(text_lines: list[str], line: int, commentable: set[int]) -> int | None:
    """The first line at or after `line` where a comment can go."""
    for candidate in range(line, len(text_lines) + 1):
        if candidate in commentable:
            return candidate
    return None


def add_noqa(text: str, codes_by_line: dict[int, set[str]]) -> tuple[str, int]:
    """`text` with ``# noqa: CODE`` for every (line, code), merged into a
    ``# noqa: ...`` already there; a line inside a string moves to the end of
    its statement. Returns the new text and how many lines got a comment."""
    from torchlint.source import PYTHON_LINE_BREAK

    commentable = _commentable_lines(text)
    if commentable is None or not codes_by_line:
        return text, 0
    existing = parse(text)
    parts = PYTHON_LINE_BREAK.split(text)
    breaks = PYTHON_LINE_BREAK.findall(text)
    wanted: dict[int, set[str]] = {}
    for line, codes in codes_by_line.items():
        target = _statement_end(parts, line, commentable)
        if target is not None:
            wanted.setdefault(target, set()).update(codes)
    changed = 0
    for line, codes in sorted(wanted.items()):
        named = existing.lines.get(line, ())
        if named is None:  # a bare `# noqa` silences everything already
            continue
        missing = sorted(c for c in codes if not any(c.startswith(n) for n in named))
        if not missing:
            continue
        index = line - 1
        directive = existing.directives.get(line)
        if directive is not None:
            source = parts[index]
            parts[index] = source[:directive.end] + "".join(f", {c}" for c in missing) + source[directive.end:]
        else:
            parts[index] = parts[index].rstrip(" \t") + f"  # noqa: {', '.join(missing)}"
        changed += 1
    out = [part + (breaks[i] if i < len(breaks) else "") for i, part in enumerate(parts)]
    return "".join(out), changed
