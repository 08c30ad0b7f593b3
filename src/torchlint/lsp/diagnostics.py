"""Findings as LSP Diagnostics.

Each Diagnostic carries the finding's range, severity, code, a link to the
rule's docs and ``source: "torchlint"``; its ``data`` is what ``torchlint
--format lsp`` writes (the rule name, the fix's edits in client positions,
the probe verdict) plus the document version the edits are for, which is
all a quick fix needs. A probe verdict changes the diagnostic: a confirmed finding keeps its
severity, a refuted one is hidden or lowered to a hint (as configured), and
the evidence is added to the message. The message is the finding's title;
its body (why it matters, what to do) is in ``data.body`` and in the hover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from torchlint.findings import Finding, ProbeResult, Severity, Span
from torchlint.lsp.positions import Lines
from torchlint.registry import RuleSet
from torchlint.reporters import docs_url

SOURCE = "torchlint"

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
}


def verdict_key(code: str, cell: int | None, span: Span, message: str) -> tuple[Any, ...]:
    """What identifies a finding within one text (to attach probe verdicts)."""
    return (code, cell, span, message)


def finding_key(finding: Finding) -> tuple[Any, ...]:
    return verdict_key(finding.code, finding.cell, finding.span, finding.message)


@dataclass(frozen=True)
class Verdicts:
    """The probe's verdicts on the findings of one exact text. They say nothing
    about any other text, so an edit makes them lapse until the next save."""

    text: str
    by_finding: dict[tuple[Any, ...], ProbeResult] = field(default_factory=dict)

    def for_finding(self, finding: Finding, text: str) -> ProbeResult | None:
        if text != self.text:
            return None
        return finding.probe or self.by_finding.get(finding_key(finding))

    def summary(self) -> str:
        """``2 confirmed, 1 refuted``: what the probe concluded, for the log."""
        counts: dict[str, int] = {}
        for probe in self.by_finding.values():
            counts[probe.verdict] = counts.get(probe.verdict, 0) + 1
        return ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "no verdicts"


def evidence_text(probe: ProbeResult) -> str:
    evidence = probe.evidence if isinstance(probe.evidence, dict) else {}
    summary = evidence.get("summary")
    if isinstance(summary, str) and summary:
        return summary
    return "; ".join(f"{key} {value}" for key, value in evidence.items())


def probe_note(probe: ProbeResult) -> str:
    verdict = probe.verdict.replace("_", " ")
    if probe.reason:
        verdict += f" ({probe.reason})"
    evidence = evidence_text(probe)
    return f"probe {verdict}: {evidence}" if evidence else f"probe {verdict}"


def to_diagnostic(finding: Finding, lines: Lines, rules: RuleSet, version: int | None,
                  probe: ProbeResult | None = None, refuted: str = "hint") -> types.Diagnostic | None:
    """The finding as a Diagnostic; None when the probe refuted it and refuted
    findings are hidden."""
    severity = _SEVERITY[finding.severity]
    message = finding.message
    if probe is not None:
        if probe.verdict == "refuted":
            if refuted == "hide":
                return None
            if refuted == "hint":
                severity = types.DiagnosticSeverity.Hint
        message = f"{message} [{probe_note(probe)}]"
    rule = rules.by_code(finding.code)
    # The same `data` as `torchlint --format lsp` writes, plus the document version
    # the fix's edits were computed for.
    data: dict[str, Any] = {
        "name": finding.name,
        "body": finding.body,
        "fix": None,
        "probe": probe.to_json() if probe is not None else None,
    }
    if finding.cell is not None:
        data["cell"] = finding.cell
    data["version"] = version
    if finding.fix is not None:
        data["fix"] = {
            "title": finding.fix.title,
            "applicability": str(finding.fix.applicability),
            "edits": [
                {"range": _range_json(lines.range(edit.span)), "newText": edit.replacement}
                for edit in finding.fix.edits
            ],
        }
    return types.Diagnostic(
        range=lines.range(finding.span),
        message=message,
        severity=severity,
        code=finding.code,
        code_description=types.CodeDescription(href=docs_url(rule.code, rule.name)) if rule else None,
        source=SOURCE,
        data=data,
    )


def _range_json(value: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": value.start.line, "character": value.start.character},
        "end": {"line": value.end.line, "character": value.end.character},
    }


def range_from_json(value: dict[str, Any]) -> types.Range:
    start, end = value["start"], value["end"]
    return types.Range(types.Position(start["line"], start["character"]),
                       types.Position(end["line"], end["character"]))
