"""``--format sarif``: a SARIF 2.1.0 log for code scanning (GitHub, Azure DevOps, IDEs).

One run. The driver describes every known rule (one ``reportingDescriptor``
each, with its docs), so a result's ``ruleIndex`` points into that list.
Locations are relative URIs against ``%SRCROOT%`` (the folder torchlint ran
in), regions 1-based with columns in UTF-16 code units (``columnKind``), as
GitHub and editors count them. Fixes become ``fixes`` with their replacements;
the probe's verdict goes in the result's ``properties``. A notebook finding
has no region (its line is in a cell, not in the .ipynb file): the location
names the cell in its message, and its properties hold the cell and the
region within it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torchlint import __version__
from torchlint.findings import Finding, Fix, Severity, Span
from torchlint.reporters import PROJECT_URL, Report, docs_url
from torchlint.reporters.locations import Lines, absolute_path, relative_uri, utf16_span
from torchlint.rule import Rule

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def descriptor(rule: type[Rule]) -> dict[str, Any]:
    """The ``reportingDescriptor`` of a rule."""
    docs = rule.docs()
    what = rule.doc_sections().get("What it does") or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": what},
        "help": {"text": docs, "markdown": docs},
        "helpUri": docs_url(rule.code, rule.name),
        "defaultConfiguration": {"level": _level(rule.severity), "enabled": rule.default_enabled},
    }


class _Builder:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.lines = Lines(report)
        self.cwd = Path.cwd()
        self.rule_index = {rule.code: index for index, rule in enumerate(report.rules.rules)}

    def artifact(self, display: str) -> dict[str, Any]:
        uri = relative_uri(display, self.cwd)
        if uri is None:  # outside the folder torchlint ran in: an absolute URI
            return {"uri": absolute_path(self.report, display).as_uri()}
        return {"uri": uri, "uriBaseId": SRCROOT}

    def region(self, finding: Finding, span: Span) -> dict[str, int]:
        start_line, start, end_line, end = utf16_span(self.lines, finding, span)
        return {"startLine": start_line, "startColumn": start + 1,
                "endLine": end_line, "endColumn": end + 1}

    def location(self, finding: Finding) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": self.artifact(finding.path)}
        if finding.cell is None:
            physical["region"] = self.region(finding, finding.span)
            return {"physicalLocation": physical}
        span = finding.span
        return {
            "physicalLocation": physical,
            "message": {"text": f"cell {finding.cell}, line {span.start_line}, "
                                f"column {span.start_col + 1}"},
            # The region within the cell, in the run's columnKind.
            "properties": {"cell": finding.cell, **self.region(finding, span)},
        }

    def fix(self, finding: Finding, fix: Fix) -> dict[str, Any]:
        replacements = [
            {"deletedRegion": self.region(finding, edit.span),
             "insertedContent": {"text": edit.replacement}}
            for edit in fix.edits
        ]
        data: dict[str, Any] = {"description": {"text": fix.title}} if fix.title else {}
        data["artifactChanges"] = [{"artifactLocation": self.artifact(finding.path),
                                    "replacements": replacements}]
        data["properties"] = {"applicability": str(fix.applicability)}
        return data

    def result(self, finding: Finding) -> dict[str, Any]:
        result: dict[str, Any] = {"ruleId": finding.code}
        index = self.rule_index.get(finding.code)
        if index is not None:
            result["ruleIndex"] = index
        result["level"] = _level(finding.severity)
        # The title is the message; the body (why, what to do) is its markdown
        # form, which viewers that render markdown show instead.
        message: dict[str, Any] = {"text": finding.title}
        if finding.body:
            message["markdown"] = f"**{finding.title}**\n\n{finding.body}"
        result["message"] = message
        result["locations"] = [self.location(finding)]
        if finding.fix is not None and finding.fix.edits and finding.cell is None:
            result["fixes"] = [self.fix(finding, finding.fix)]
        properties: dict[str, Any] = {"body": finding.body} if finding.body else {}
        if finding.probe is not None:
            properties["probe"] = finding.probe.to_json()
        if properties:
            result["properties"] = properties
        return result

    def log(self) -> dict[str, Any]:
        run: dict[str, Any] = {
            "tool": {"driver": {
                "name": "torchlint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": PROJECT_URL,
                "rules": [descriptor(rule) for rule in self.report.rules.rules],
            }},
            "invocations": [self.invocation()],
            "originalUriBaseIds": {SRCROOT: {"uri": self.cwd.as_uri().rstrip("/") + "/"}},
            "columnKind": "utf16CodeUnits",
            "results": [self.result(f) for f in self.report.sorted_findings()],
        }
        return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}

    def invocation(self) -> dict[str, Any]:
        invocation: dict[str, Any] = {"executionSuccessful": not self.report.errors}
        if self.report.errors:
            invocation["toolExecutionNotifications"] = [
                {"level": "error", "message": {"text": error}} for error in self.report.errors
            ]
        return invocation


def render(report: Report) -> str:
    return json.dumps(_Builder(report).log(), indent=2) + "\n"
