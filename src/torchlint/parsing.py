"""Parsing source with libcst, safely, and wording parse failures.

Every parse of user code goes through :func:`parse_module`: the file being
linted (engine), the local modules it imports (project) and fixed code before
it is written (runner).
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
import warnings
from dataclasses import dataclass, field

import libcst as cst

# Deeply nested expressions recurse in the parser and the walker; Python's
# default limit of 1,000 frames is too small for generated code.
RECURSION_LIMIT = 20_000


def python_parse(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


def _refuse_what_crashes_libcst(text: str) -> ast.Module | None:
    """Raise what CPython's parser raises for nesting it refuses (over 200
    brackets, a few thousand operators): libcst's native parser recurses on
    the C stack and, a little deeper, kills the process with a segmentation
    fault. Any other syntax error is left for libcst to report (it parses
    syntax newer than the running Python). Returns Python's tree of `text`
    (None when Python's parser refused it)."""
    if "\0" in text:  # never Python source; Python 3.11.7+ reports it as a SyntaxError
        raise ValueError("source code cannot contain null bytes")
    try:
        return python_parse(text)
    except SyntaxError as err:
        if "too many nested" in str(err.msg) or "too complex" in str(err.msg):
            raise
        return None
    except (RecursionError, MemoryError, ValueError):  # ValueError: NUL bytes
        raise


def parse_module(text: str) -> cst.Module:
    """libcst's tree of `text`; raises on anything that does not parse."""
    return parse_with_python_tree(text)[0]


def parse_with_python_tree(text: str) -> tuple[cst.Module, ast.Module | None]:
    """libcst's tree of `text`, and Python's own that was parsed on the way (None
    for syntax newer than the running Python): the locator reads where the
    statements start from it, rather than parsing the text a third time."""
    python_tree = _refuse_what_crashes_libcst(text)
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, RECURSION_LIMIT))
    try:
        return cst.parse_module(text), python_tree
    finally:
        sys.setrecursionlimit(previous)


def parse_error(err: Exception, text: str = "") -> tuple[str, int, int]:
    """(message, line, 0-based column) of a parse failure. Python's own parser
    words syntax errors better than libcst ("expected ':'"), so ask it first."""
    if "\0" in text:  # Python's message for it has no position
        # Lines as Python counts them: a file with CR line endings has no "\n".
        before = _LINE_BREAK_RE.split(text[: text.index("\0")])[0::2]
        return "a NUL byte, which Python source cannot hold", len(before), len(before[-1])
    try:
        python_parse(text)
    except SyntaxError as python_error:
        line = python_error.lineno or 1
        column = max((python_error.offset or 1) - 1, 0)
        return python_error.msg, line, column
    except (ValueError, RecursionError, MemoryError):
        pass
    if isinstance(err, cst.ParserSyntaxError):
        first = str(err.message).strip().splitlines()[0] if err.message else "invalid syntax"
        return first, err.raw_line, err.raw_column
    if isinstance(err, (RecursionError, MemoryError)):
        return "too deeply nested for the parser", 1, 0
    return f"{type(err).__name__}: {err}", 1, 0


def syntax_error(text: str) -> Exception | None:
    """The parse failure of `text`, or None: Python's fast parser first, libcst
    only to confirm (it accepts syntax newer than the running Python)."""
    try:
        python_parse(text)
        return None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:
        parse_module(text)
        return None
    except Exception as err:  # noqa: BLE001 - any parser failure is the answer
        return err


# -- error-resilient parsing ------------------------------------------------------

#: Statements blanked, at most, before a file is given up as beyond recovery (a
#: Python 2 script has a few dozen `print x` statements).
MAX_RECOVERED_STATEMENTS = 64
#: Larger files are not recovered: each attempt parses the whole text again.
MAX_RECOVERY_CHARS = 300_000
#: Characters parsed, at most, while recovering one file (a 100 KB file gets 40
#: attempts): a file broken everywhere is not worth seconds of parsing.
MAX_RECOVERY_WORK = 4_000_000
# Parser errors no blanking can mend (the parser's own limits).
_UNRECOVERABLE_WORDS = ("too many", "too complex", "too deeply", "nested")
_LINE_BREAK_RE = re.compile(r"(\r\n|\r|\n)")
# Keywords of the clauses that continue a compound statement.
_CLAUSE_KEYWORDS = frozenset({"except", "elif", "else", "finally"})
_DEF_RE = re.compile(r"(?:async\s+)?def\s+(\w+)")
_CLASS_RE = re.compile(r"class\s+(\w+)")


@dataclass(frozen=True)
class Recovery:
    """A text that parses, made from one that does not by blanking the
    statements that do not: each becomes `pass` (or a neutral header such as
    ``if True:`` when a block follows it) at its own indentation, its other
    lines empty, so every other line and column is unchanged."""

    text: str
    module: cst.Module = field(repr=False)  # the recovered text, parsed
    # the first parse error: message, line, 0-based column; None when Python
    # parses the file and only libcst does not (tab indentation, re-indented)
    error: tuple[str, int, int] | None
    blanked: tuple[int, ...]  # the first line of each statement blanked


def parse_recovering(text: str) -> tuple[cst.Module, ast.Module | None, Recovery | None]:
    """libcst's tree of `text` and Python's (see :func:`parse_with_python_tree`),
    or when it does not parse, libcst's tree of the text with its unparsable
    statements blanked (see :func:`recover`) and no Python tree; raises the
    original failure when that does not parse either."""
    try:
        module, python_tree = parse_with_python_tree(text)
        return module, python_tree, None
    except Exception as err:  # noqa: BLE001 - any parser failure may be recoverable
        recovery = recover(text) or _reindented(text)
        if recovery is None:
            raise err
        return recovery.module, None, recovery


def _reindented(text: str) -> Recovery | None:
    """The text with tabs in its indentation expanded, when Python parses the
    file and libcst's tokenizer refuses it: Python reads a tab as reaching the
    next multiple of 8 columns, libcst rejects some mixes of tabs and spaces
    that Python accepts (a tab then four spaces under a four-space block). Only
    the columns of those lines move. None when no indentation holds a tab."""
    if "\t" not in text or len(text) > MAX_RECOVERY_CHARS:
        return None
    lines = text.splitlines(keepends=True)
    changed = False
    for index, line in enumerate(lines):
        body = line.lstrip(" \t")
        indent = line[:len(line) - len(body)]
        if "\t" in indent:
            lines[index] = indent.expandtabs(8) + body
            changed = True
    if not changed:
        return None
    try:
        python_parse(text)
        expanded = "".join(lines)
        return Recovery(expanded, parse_module(expanded), None, ())
    except Exception:  # noqa: BLE001 - Python refuses it too, or libcst still does
        return None


def recover(text: str) -> Recovery | None:
    """The text with its unparsable statements blanked, or None when blanking a
    bounded number of them does not make it parse (or the failure is one of the
    parser's limits, which no blanking mends)."""
    if len(text) > MAX_RECOVERY_CHARS or "\0" in text:
        return None
    pieces = _LINE_BREAK_RE.split(text)
    lines = pieces[0::2]  # contents, as Python numbers them (1-based: lines[n - 1])
    breaks = pieces[1::2] + [""]
    statements = _logical_lines(text)
    blanked: list[int] = []
    first: tuple[str, int, int] | None = None
    work = 0
    for _ in range(MAX_RECOVERED_STATEMENTS + 1):
        current = "".join(line + brk for line, brk in zip(lines, breaks))
        work += len(current)
        if work > MAX_RECOVERY_WORK:
            return None
        try:
            python_parse(current)
        except SyntaxError as err:
            if any(word in str(err.msg) for word in _UNRECOVERABLE_WORDS) or not err.lineno:
                return None
            if first is None:
                first = (err.msg, err.lineno, max((err.offset or 1) - 1, 0))
            start, end = statements.get(err.lineno, (err.lineno, err.lineno))
            if start in blanked or not 1 <= start <= end <= len(lines) \
                    or len(blanked) >= MAX_RECOVERED_STATEMENTS:
                return None  # no progress, past the end, or too many
            _blank(lines, start, end, isinstance(err, IndentationError))
            blanked.append(start)
            continue
        except (ValueError, RecursionError, MemoryError):
            return None
        if first is None:
            return None  # it parses already: nothing to recover
        try:
            module = parse_module(current)
        except Exception:  # noqa: BLE001 - libcst refuses what Python accepts: give up
            return None
        return Recovery(current, module, first, tuple(sorted(blanked)))
    return None


def _blank(lines: list[str], start: int, end: int, indentation_error: bool) -> None:
    """Blank the statement on lines `start`..`end` (1-based) in place."""
    first = lines[start - 1]
    indent = first[: len(first) - len(first.lstrip(" \t\f"))]
    statement = first.strip()
    if indentation_error:
        replacement = "#"  # a comment does not take part in the indentation
    elif _opens_block(lines, start, end, indent):
        replacement = _neutral_header(statement)
    elif statement and statement.split(None, 1)[0].rstrip(":") in _CLAUSE_KEYWORDS:
        # `except IOError, e: print e` on one line: the `try` before it needs a clause.
        replacement = _neutral_header(statement) + " pass"
    else:
        replacement = "pass"
    lines[start - 1] = indent + replacement
    for index in range(start, end):
        lines[index] = ""


def _opens_block(lines: list[str], start: int, end: int, indent: str) -> bool:
    """Whether the next line with code after the statement is indented deeper
    (the statement was the header of a block, missing colon or not)."""
    width = len(indent.expandtabs(8))
    for line in lines[end:]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip()) > width
    return False


def _neutral_header(statement: str) -> str:
    """A header that opens the same kind of block and always parses: the clauses
    of `try` and `if` keep their keyword, a `def` or `class` its name."""
    keyword = statement.split(None, 1)[0].rstrip(":") if statement else ""
    if keyword == "except":
        return "except Exception:"
    if keyword in ("else", "finally", "try"):
        return f"{keyword}:"
    if keyword == "elif":
        return "elif True:"
    match = _DEF_RE.match(statement)
    if match:
        return f"def {match.group(1)}(*args, **kwargs):"
    match = _CLASS_RE.match(statement)
    if match:
        return f"class {match.group(1)}:"
    return "if True:"


def _logical_lines(text: str) -> dict[int, tuple[int, int]]:
    """For each physical line of a statement spanning several (brackets,
    backslashes, triple-quoted strings), the statement's (first, last) line.
    Read with the tokenizer as far as it goes: beyond a point it cannot
    tokenize, each line is its own statement."""
    found: dict[int, tuple[int, int]] = {}
    start: int | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token.type
            if kind in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
                        tokenize.ENCODING, tokenize.ENDMARKER):
                continue
            if start is None:
                start = token.start[0]
            if kind == tokenize.NEWLINE:
                end = token.end[0]
                if end > start:
                    for line in range(start, end + 1):
                        found[line] = (start, end)
                start = None
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    return found
