"""``# noqa`` comments in the editor: adding a code to a line, and finding the
code under the cursor (for hover). Parsing of what a comment silences stays
in :mod:`torchlint.suppressions`; this module only edits and points.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

from torchlint.findings import Edit, Span
from torchlint.suppressions import NOQA_RE

_CODE_RE = re.compile(r"[A-Z]+[0-9]*", re.IGNORECASE)


@dataclass(frozen=True)
class Comment:
    line: int  # 1-based
    column: int  # 0-based character column of the "#"
    text: str


def comments(text: str) -> dict[int, Comment]:
    """The comment of each line that has one. When the text does not tokenize
    (it is being typed), a ``#`` outside quotes on the line counts."""
    found: dict[int, Comment] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                found[token.start[0]] = Comment(token.start[0], token.start[1], token.string)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found = {}
        for number, line in enumerate(text.splitlines(), start=1):
            column = _hash_outside_quotes(line)
            if column is not None:
                found[number] = Comment(number, column, line[column:])
    return found


def _hash_outside_quotes(line: str) -> int | None:
    quote: str | None = None
    index = 0
    while index < len(line):
        char = line[index]
        if quote is None and char == "#":
            return index
        if char == "\\":
            index += 2
            continue
        if quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        index += 1
    return None


def disable_edit(text: str, line_text: str, line: int, code: str) -> Edit | None:
    """The edit that silences `code` on `line`: extend its ``# noqa: ...`` or add
    one. None when the line already silences it."""
    comment = comments(text).get(line)
    match = NOQA_RE.search(comment.text) if comment else None
    if comment is not None and match is not None:
        codes = match.group("codes")
        if codes is None:
            return None  # a bare `# noqa` already silences everything
        named = [c.upper() for c in re.split(r"[,\s]+", codes) if c]
        if any(code.startswith(c) for c in named):
            return None
        end = comment.column + match.end("codes")
        return Edit(Span.point(line, end), f", {code}")
    end = len(line_text.rstrip())
    return Edit(Span(line, end, line, len(line_text)), f"  # noqa: {code}")


def code_at(text: str, line: int, column: int) -> str | None:
    """The code (or prefix) of a ``# noqa: ...`` comment under (line, column)."""
    comment = comments(text).get(line)
    if comment is None:
        return None
    match = NOQA_RE.search(comment.text)
    if match is None or match.group("codes") is None:
        return None
    offset = column - comment.column
    start = match.start("codes")
    for code in _CODE_RE.finditer(match.group("codes")):
        if start + code.start() <= offset <= start + code.end():
            return code.group(0).upper()
    return None
