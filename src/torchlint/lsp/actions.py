"""Code actions: a quick fix per diagnostic whose finding has a fix, "Disable
TLxxx for this line", and ``source.fixAll.torchlint``."""

from __future__ import annotations

import bisect
from typing import Any

from lsprotocol import types

from torchlint import fixes
from torchlint.findings import Edit
from torchlint.lsp import noqa
from torchlint.lsp.diagnostics import SOURCE, range_from_json
from torchlint.lsp.positions import Lines

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.torchlint"
KINDS = [types.CodeActionKind.QuickFix, FIX_ALL_KIND]


def wanted(only: list[str] | None, kind: str) -> bool:
    """Whether the client asked for actions of `kind` (kinds nest by dots)."""
    if not only:
        return True
    return any(kind == asked or kind.startswith(f"{asked}.") for asked in only)


def _edit(uri: str, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    return types.WorkspaceEdit(changes={uri: edits})


def quick_fix(uri: str, diagnostic: types.Diagnostic, version: int | None,
              unsafe: bool) -> types.CodeAction | None:
    data: Any = diagnostic.data
    if diagnostic.source != SOURCE or not isinstance(data, dict):
        return None
    fix = data.get("fix")
    if not fix or not fix["edits"] or data.get("version") != version:
        return None  # no fix, or edits computed for text the document no longer has
    safe = fix["applicability"] == "safe"
    if not safe and not unsafe:
        return None
    edits = [types.TextEdit(range_from_json(e["range"]), e["newText"]) for e in fix["edits"]]
    what = fix["title"] or f"Fix {diagnostic.code}"
    title = f"{what} ({diagnostic.code})" if safe else f"{what} ({diagnostic.code}, unsafe)"
    return types.CodeAction(
        title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
        edit=_edit(uri, edits), is_preferred=safe,
    )


def disable_for_line(uri: str, diagnostic: types.Diagnostic, text: str,
                     lines: Lines) -> types.CodeAction | None:
    if diagnostic.source != SOURCE or not isinstance(diagnostic.code, str):
        return None
    line = diagnostic.range.start.line + 1
    if line > len(lines.lines):
        return None  # from an older text, past the end of this one: it would silence the last line
    edit = noqa.disable_edit(text, lines.line(line), line, diagnostic.code)
    if edit is None:
        return None
    return types.CodeAction(
        title=f"Disable {diagnostic.code} for this line", kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic], edit=_edit(uri, [_text_edit(edit, lines)]),
    )


def fix_all(uri: str, old: str, new: str, lines: Lines, count: int) -> types.CodeAction:
    return types.CodeAction(
        title=f"Fix all safe torchlint findings ({count})", kind=FIX_ALL_KIND,
        edit=_edit(uri, [minimal_edit(old, new, lines)]),
    )


def _text_edit(edit: Edit, lines: Lines) -> types.TextEdit:
    return types.TextEdit(lines.range(edit.span), edit.replacement)


def minimal_edit(old: str, new: str, lines: Lines) -> types.TextEdit:
    """One edit replacing only the part of `old` that differs from `new`, so the
    editor keeps the cursor and folds of the rest."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    starts = fixes.line_offsets(old)

    def position(offset: int) -> types.Position:
        line = bisect.bisect_right(starts, offset)  # 1-based
        return lines.position(line, offset - starts[line - 1])

    return types.TextEdit(types.Range(position(start), position(end_old)), new[start:end_new])
