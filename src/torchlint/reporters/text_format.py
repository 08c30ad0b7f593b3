"""``--format text``: ``path:line:col: CODE [name] message``, for people."""

from __future__ import annotations

from collections import Counter

import click

from torchlint.findings import Applicability, Finding, Severity
from torchlint.reporters import Report


def _location(finding: Finding) -> str:
    if finding.cell is not None:
        return f"{finding.path}:cell {finding.cell}:{finding.line}:{finding.column}"
    return f"{finding.path}:{finding.line}:{finding.column}"


def _style(text: str, report: Report, **style: object) -> str:
    return click.style(text, **style) if report.color else text  # type: ignore[arg-type]


def _source_lines(finding: Finding, report: Report) -> list[str]:
    text = report.sources.get(finding.path)
    if text is None:
        return []
    lines = text.splitlines()
    line_number = finding.line
    if finding.cell is not None:
        return []  # the joined notebook text is not what the user sees
    if not 1 <= line_number <= len(lines):
        return []
    line = lines[line_number - 1].expandtabs(1)
    width = max(1, (finding.span.end_col - finding.span.start_col)
                if finding.span.end_line == finding.span.start_line else len(line) - finding.span.start_col)
    gutter = f"{line_number:>5} | "
    caret = " " * (len(gutter) + finding.span.start_col) + "^" * width
    return [gutter + line, _style(caret, report, fg="red")]


def _probe_lines(finding: Finding) -> list[str]:
    probe = finding.probe
    if probe is None:
        return []
    summary = probe.evidence.get("summary") if isinstance(probe.evidence, dict) else None
    verdict = probe.verdict if probe.reason is None else f"{probe.verdict} ({probe.reason})"
    lines = [f"    probe: {verdict}" + (f": {summary}" if summary else "")]
    if probe.hint:
        lines.append("    to make the probe conclusive, add to pyproject.toml:")
        lines.extend(f"      {line}" for line in probe.hint.splitlines())
    return lines


def render(report: Report) -> str:
    out: list[str] = []
    for finding in report.findings:
        severity_color = "red" if finding.severity is Severity.ERROR else "yellow"
        code = _style(finding.code, report, fg=severity_color, bold=True)
        location = _style(_location(finding), report, bold=True)
        out.append(f"{location}: {code} [{finding.name}] {finding.message}")
        if report.show_source:
            out.extend(_source_lines(finding, report))
        out.extend(_probe_lines(finding))
    if report.statistics and report.findings:
        counts = Counter((f.code, f.name) for f in report.findings)
        out.append("")
        for (code, name), count in sorted(counts.items()):
            out.append(f"{count:>5}  {code}  {name}")
    out.append(_summary(report))
    return "\n".join(out) + "\n"


def _summary(report: Report) -> str:
    findings = report.findings
    fixed = f" ({report.fixed} fixed)" if report.fixed else ""
    files = f"{report.files_linted} file" + ("" if report.files_linted == 1 else "s")
    if not findings:
        return f"No findings in {files}{fixed}."
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = len(findings) - errors
    noun = "finding" if len(findings) == 1 else "findings"
    parts = [f"{errors} error" + ("" if errors == 1 else "s"),
             f"{warnings} warning" + ("" if warnings == 1 else "s")]
    line = f"Found {len(findings)} {noun} ({', '.join(parts)}) in {files}{fixed}."
    safe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.UNSAFE)
    if safe:
        line += f" {safe} fixable with --fix."
    if unsafe and not report.unsafe_fixes:
        line += f" {unsafe} more with --fix --unsafe-fixes."
    return line
