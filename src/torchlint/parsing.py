"""Parsing source with libcst, safely, and wording parse failures.

Every parse of user code goes through :func:`parse_module`: the file being
linted (engine), the local modules it imports (project) and fixed code before
it is written (runner).
"""

from __future__ import annotations

import ast
import sys
import warnings

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
        before = text[: text.index("\0")]
        return "a NUL byte, which Python source cannot hold", before.count("\n") + 1, \
            len(before) - (before.rfind("\n") + 1)
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
