"""A reproducible storm of edits for the language server's load tests.

:class:`Storm` turns a Python text into a sequence of changes an editor could
send: random insertions and deletions that break the syntax, each burst
undone again (as Ctrl+Z does, one change at a time) unless the text still
parses; comment lines typed one character at a time (with non-ASCII, an
emoji that UTF-16 counts twice, and characters such as a form feed and
U+2028 that Python's ``str.splitlines`` takes for line breaks but LSP does
not); and now and then the whole text sent at once. Between bursts the text
always parses, and so does the last one. The same seed gives the same
changes, and any version's text is rebuilt by replaying them.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from typing import Iterator

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

#: What a random insertion inserts: brackets, colons and quotes break the syntax.
SNIPPETS = ("(", ")", "[", "]", ":", "\n", "    ", "'", '"', '"""', "def ", "lambda: ",
            "x", "model.eval()", "torch.no_grad", "😋", "é", ",", "\\", "\n    pass\n")
#: Comment lines typed a character at a time; each is valid on a line of its own.
COMMENTS = ("# checked by hand 😋 on the small split\n",
            "# see the notes\x0con the next page\n",
            "# \u2028 line separator kept in a comment\n",
            "# naïve schedule, revisit\x85 later\n",
            "\n")
FULL_EVERY = 97  # roughly how often the whole text is sent at once


@dataclass(frozen=True)
class Change:
    """Replace characters [start, end) of the previous text (code points) with `text`;
    `full`: sent as a whole-document change (`text` is then the whole new text)."""

    start: int
    end: int
    text: str
    full: bool = False

    def apply(self, before: str) -> str:
        return self.text if self.full else before[:self.start] + self.text + before[self.end:]


def parses(text: str) -> bool:
    try:
        compile(text, "<storm>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def position(text: str, offset: int) -> tuple[int, int]:
    """The LSP position (0-based line, UTF-16 column) of code point `offset`,
    with only \\n, \\r\\n and \\r ending lines, as LSP says."""
    line, start = 0, 0
    for match in _LINE_BREAK.finditer(text, 0, offset):
        line, start = line + 1, match.end()
    return line, len(text[start:offset].encode("utf-16-le")) // 2


class Storm:
    """`count` changes to `text` from `seed`, never touching its first `keep`
    characters; no whole-text change among the last `calm_tail` (it would
    hide a server whose copy of the text went wrong)."""

    def __init__(self, text: str, seed: int, keep: int, count: int, calm_tail: int = 300) -> None:
        assert parses(text)
        self.base = text
        self.seed = seed
        self.keep = keep
        self.count = count
        self.calm_tail = calm_tail
        self.broken_bursts = 0  # random bursts that left the text unparsable (then undone)
        self.kept_bursts = 0  # random bursts kept because the text still parsed
        self.typed_lines = 0

    def changes(self) -> Iterator[Change]:
        rng = random.Random(self.seed)
        self.broken_bursts = self.kept_bursts = self.typed_lines = 0
        text = self.base
        sent = 0
        next_full = FULL_EVERY

        def emit(change: Change) -> Change:
            nonlocal text, sent
            text = change.apply(text)
            sent += 1
            return change

        while sent < self.count:
            left = self.count - sent
            if sent >= next_full and left > self.calm_tail:
                next_full += FULL_EVERY
                yield emit(Change(0, 0, text + "\n", full=True))
                continue
            if rng.random() < 0.3:
                typed = rng.choice(COMMENTS)
                if 2 * len(typed) > left:
                    yield emit(Change(len(text), len(text), "\n"))  # a valid filler
                    continue
                at = self._line_start(text, rng)
                for index, char in enumerate(typed):
                    yield emit(Change(at + index, at + index, char))
                if parses(text):
                    self.typed_lines += 1
                else:  # e.g. typed after a backslash continuation: delete it again
                    for index in reversed(range(len(typed))):
                        yield emit(Change(at + index, at + index + 1, ""))
                continue
            burst = min(rng.randint(1, 6), left // 2)
            if burst == 0:
                yield emit(Change(len(text), len(text), "\n"))
                continue
            undo: list[Change] = []
            for _ in range(burst):
                change = self._random_change(text, rng)
                undo.append(Change(change.start, change.start + len(change.text),
                                   text[change.start:change.end]))
                yield emit(change)
            keep = rng.random() < 0.25
            if parses(text):
                if keep:
                    self.kept_bursts += 1
                    continue
            else:
                self.broken_bursts += 1
            for change in reversed(undo):
                yield emit(change)
        assert parses(text), "the storm must end on a text that parses"

    def _line_start(self, text: str, rng: random.Random) -> int:
        starts = [m.end() for m in _LINE_BREAK.finditer(text) if m.end() > self.keep]
        return rng.choice(starts) if starts else len(text)

    def _random_change(self, text: str, rng: random.Random) -> Change:
        start = rng.randint(self.keep, len(text))
        if rng.random() < 0.55 or start == len(text):
            return Change(start, start, rng.choice(SNIPPETS))
        end = min(len(text), start + rng.randint(1, 30))
        return Change(start, end, "")


def replay(text: str, changes: list[Change]) -> str:
    """`text` after `changes`."""
    for change in changes:
        text = change.apply(text)
    return text
