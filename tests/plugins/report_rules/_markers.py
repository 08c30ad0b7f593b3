"""Finding the marker calls and reading their literal arguments."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from torchlint.semantic.facts import Call


def marker_calls(ctx, name: str) -> Iterator[Call]:
    for call in ctx.model.facts.calls:
        if call.dotted == name:
            yield call


def literal(ctx, call: Call, index: int, keyword: str, default: Any = None) -> Any:
    """The value of a literal argument (a string, number, dict...)."""
    node = call.argument(index, keyword)
    if node is None:
        return default
    return ast.literal_eval(ctx.code(node).strip())


def fix_of(ctx, call: Call):
    """A fix that replaces the whole call, from ``replace=`` (safe) or
    ``unsafe_replace=`` (unsafe)."""
    for keyword, safe in (("replace", True), ("unsafe_replace", False)):
        text = literal(ctx, call, 99, keyword)
        if text is not None:
            return ctx.fix(f"Replace with {text}", ctx.replace(call.node, text), safe=safe)
    return None
