"""``--format json``: one JSON array of findings, as DESIGN.md fixes it.

Each finding: code, name, severity, message (the title: what is wrong, in one
short line), body (why it matters and what to do), path, line, column, end_line,
end_column (1-based, code points), fix (null or {applicability, title,
edits}), probe (null or {verdict, evidence, assumptions[, reason, hint]}),
and for notebooks "cell" (lines are then within the cell).
``tests/data/findings.schema.json`` is the schema the tests hold it to.
"""

from __future__ import annotations

import json

from torchlint.reporters import Report


def render(report: Report) -> str:
    if report.statistics:  # --statistics: the counts alone, as ruff prints them
        return json.dumps(statistics(report), indent=2) + "\n"
    findings = [finding.to_json() for finding in report.sorted_findings()]
    return json.dumps(findings, indent=2) + "\n"


def statistics(report: Report) -> list[dict[str, object]]:
    counts: dict[tuple[str, str], list[int]] = {}
    for finding in report.findings:
        entry = counts.setdefault((finding.code, finding.name), [0, 0])
        entry[0] += 1
        entry[1] += finding.safe_fix
    rows = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))
    return [{"code": code, "name": name, "count": count, "fixable": fixable > 0,
             "fixable_count": fixable} for (code, name), (count, fixable) in rows]
