"""``--format lsp``: LSP ``Diagnostic`` objects, keyed by absolute ``file://`` URI.

    {"file:///work/train.py": [{"range": ..., "severity": 1, "code": "TL101",
      "codeDescription": {"href": ...}, "source": "torchlint", "message": ...,
      "data": {"name": ..., "fix": null | {...}, "probe": null | {...}}}]}

Every linted file has an entry, an empty list when it is clean, so an editor
fed this output clears what it showed before. Positions are 0-based lines and
characters in UTF-16 code units, as LSP counts them by default. ``data.fix``
holds the fix as LSP ``TextEdit`` objects, ready for a code action. A
notebook finding's range is within its cell, named by ``data.cell``.
"""

from __future__ import annotations

import json
from typing import Any

from torchlint.findings import Finding, Fix, Severity, Span
from torchlint.reporters import Report, docs_url
from torchlint.reporters.locations import Lines, file_uri, utf16_span

SOURCE = "torchlint"
#: LSP DiagnosticSeverity.
SEVERITY = {Severity.ERROR: 1, Severity.WARNING: 2}


def lsp_range(lines: Lines, finding: Finding, span: Span) -> dict[str, Any]:
    start_line, start, end_line, end = utf16_span(lines, finding, span)
    return {"start": {"line": start_line - 1, "character": start},
            "end": {"line": end_line - 1, "character": end}}


def _fix(lines: Lines, finding: Finding, fix: Fix) -> dict[str, Any]:
    return {
        "title": fix.title,
        "applicability": str(fix.applicability),
        "edits": [{"range": lsp_range(lines, finding, edit.span), "newText": edit.replacement}
                  for edit in fix.edits],
    }


def diagnostic(lines: Lines, finding: Finding) -> dict[str, Any]:
    """The LSP Diagnostic of one finding."""
    data: dict[str, Any] = {
        "name": finding.name,
        "body": finding.body,
        "fix": _fix(lines, finding, finding.fix) if finding.fix is not None else None,
        "probe": finding.probe.to_json() if finding.probe is not None else None,
    }
    if finding.cell is not None:
        data["cell"] = finding.cell
    return {
        "range": lsp_range(lines, finding, finding.span),
        "severity": SEVERITY[finding.severity],
        "code": finding.code,
        "codeDescription": {"href": docs_url(finding.code, finding.name)},
        "source": SOURCE,
        "message": finding.message,
        "data": data,
    }


def diagnostics(report: Report) -> dict[str, list[dict[str, Any]]]:
    lines = Lines(report)
    by_uri: dict[str, list[dict[str, Any]]] = {
        file_uri(report, path): [] for path in report.linted_paths()
    }
    for finding in report.sorted_findings():
        by_uri[file_uri(report, finding.path)].append(diagnostic(lines, finding))
    return by_uri


def render(report: Report) -> str:
    return json.dumps(diagnostics(report), indent=2) + "\n"
