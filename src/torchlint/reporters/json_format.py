"""``--format json``: one JSON array of findings, as DESIGN.md fixes it."""

from __future__ import annotations

import json

from torchlint.reporters import Report


def render(report: Report) -> str:
    return json.dumps([finding.to_json() for finding in report.findings], indent=2) + "\n"
