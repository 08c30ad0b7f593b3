"""``--format json``: one JSON array of findings, as DESIGN.md fixes it.

Each finding: code, name, severity, message, path, line, column, end_line,
end_column (1-based, code points), fix (null or {applicability, title,
edits}), probe (null or {verdict, evidence, assumptions[, reason, hint]}),
and for notebooks "cell" (lines are then within the cell).
``tests/data/findings.schema.json`` is the schema the tests hold it to.
"""

from __future__ import annotations

import json

from torchlint.reporters import Report


def render(report: Report) -> str:
    findings = [finding.to_json() for finding in report.sorted_findings()]
    return json.dumps(findings, indent=2) + "\n"
