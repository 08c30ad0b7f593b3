"""Pieces of finding titles: code and lists shortened so a title stays on one
short line (under about 80 characters) whatever the names in the user's code.

A title says what is wrong; the body keeps the full code, the why and the what
to do. These helpers only decide how much of a name fits in the title.
"""

from __future__ import annotations

import re

#: Longest code quoted in a title; longer code is cut with an ellipsis.
CODE_LIMIT = 32

_CALL_NAME = re.compile(r"^([A-Za-z_][\w.]*)\s*\(")
_SPACES = re.compile(r"\s+")


def code(text: str, limit: int = CODE_LIMIT) -> str:
    """`text` in backticks, on one line, cut to `limit` characters."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) > limit:
        flat = flat[:limit - 3].rstrip() + "..."
    return f"`{flat}`"


def name(dotted: str, limit: int = CODE_LIMIT) -> str:
    """A dotted name in backticks; when too long, its leading parts are dropped
    (`nn.functional.dropout1d` -> `dropout1d`): the end is what names the thing."""
    parts = dotted.split(".")
    while len(parts) > 1 and len(".".join(parts)) > limit:
        parts = parts[1:]
    return code(".".join(parts), limit)


def call(text: str, limit: int = CODE_LIMIT) -> str:
    """A call's code as `name(...)`, or `name()` without arguments (the
    arguments belong in the body)."""
    match = _CALL_NAME.match(text.strip())
    if match is None:
        return code(text, limit)
    empty = text.strip()[match.end():].strip() == ")"
    suffix = "()" if empty else "(...)"
    return f"{name(match.group(1), limit - len(suffix))[:-1]}{suffix}`"


def kinds(descriptions, most: int = 3, default: str = "", limit: int = 40) -> str:
    """Layer descriptions (`Dropout(0.3)`, `BatchNorm2d(8)`) as their distinct
    type names in alphabetical order (the same on every run), at most `most` of
    them: `BatchNorm2d, Dropout`. Descriptions
    that are not a layer (`code that reads self.training`) are left out;
    `default` stands for them when no layer is named."""
    names: list[str] = []
    for description in descriptions:
        match = re.match(r"^([A-Za-z_][\w.]*)(\(|$)", description)
        if match:
            names.append(match.group(1).rsplit(".", 1)[-1])
    return listed(sorted(set(names)), most, limit) or default


def listed(names, most: int = 3, limit: int = 40) -> str:
    """`a, b, c` or `a, b +2 more`: at most `most` names, and no more than fit in
    about `limit` characters (the first is always shown)."""
    names = list(dict.fromkeys(names))
    shown: list[str] = []
    for item in names[:most]:
        if shown and len(", ".join([*shown, item])) > limit:
            break
        shown.append(item)
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" +{rest} more" if rest else "")
