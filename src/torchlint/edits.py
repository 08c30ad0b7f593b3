"""Syntax-tree edits that several rules' fixes share."""

from __future__ import annotations

import libcst as cst

_NO_SPACE = cst.SimpleWhitespace("")


def add_keyword_argument(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """``f(a, b)`` -> ``f(a, b, name=value)``, keeping a trailing comma and the
    layout of a call written over several lines."""
    new_arg = cst.Arg(keyword=cst.Name(name), value=value,
                      equal=cst.AssignEqual(whitespace_before=_NO_SPACE, whitespace_after=_NO_SPACE))
    args = list(call.args)
    if args:
        last = args[-1]
        if isinstance(last.comma, cst.Comma):
            new_arg = new_arg.with_changes(comma=last.comma)  # keep `,\n)` where it was
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, new_arg])


def replace_callee_attribute(call: cst.Call, attribute: str) -> cst.Call:
    """``F.cross_entropy(...)`` -> ``F.nll_loss(...)``."""
    func = call.func
    assert isinstance(func, cst.Attribute)
    return call.with_changes(func=func.with_changes(attr=cst.Name(attribute)))
