"""``--format text``: ``path:line:col: CODE [name] message``, for people.

Columns are 1-based code points. Notebook findings name their cell
(``nb.ipynb:cell 3:5:9: ...``). ``--show-source`` prints the line with carets
under the span, ``--statistics`` a count per rule, and a summary line closes
the output. Color is used only when the report asks for it (the CLI asks only
when standard output is a terminal).
"""

from __future__ import annotations

from collections import Counter

import click

from torchlint.findings import Applicability, Finding, Severity
from torchlint.reporters import Report
from torchlint.reporters.locations import Lines, caret_line
from torchlint.reporters.verdicts import describe
from torchlint.source import python_lines

_VERDICT_COLORS = {"confirmed": "red", "confirmed_redundant": "yellow", "refuted": "green"}


def _style(text: str, report: Report, **style: object) -> str:
    return click.style(text, **style) if report.color else text  # type: ignore[arg-type]


def location(finding: Finding) -> str:
    if finding.cell is not None:
        return f"{finding.path}:cell {finding.cell}:{finding.line}:{finding.column}"
    return f"{finding.path}:{finding.line}:{finding.column}"


def _source_lines(finding: Finding, lines: Lines, report: Report) -> list[str]:
    span = finding.span
    line = lines.line(finding, span.start_line)
    if line is None:
        return []
    end = span.end_col if span.end_line == span.start_line else None
    indent, carets = caret_line(line, span.start_col, end)
    gutter = f"{span.start_line:>5} | "
    blank = " " * (len(gutter) - 2) + "| "
    return [_style(gutter, report, fg="blue") + line,
            _style(blank, report, fg="blue") + indent + _style(carets, report, fg="red", bold=True)]


def _probe_lines(finding: Finding, report: Report) -> list[str]:
    if finding.probe is None:
        return []
    described = describe(finding.probe)
    color = _VERDICT_COLORS.get(finding.probe.verdict, "yellow")
    first = _style(described[0], report, fg=color)
    return ["    " + line for line in [first, *described[1:]]]


def _statistics(findings: list[Finding]) -> list[str]:
    counts = Counter((f.code, f.name) for f in findings)
    fixable = Counter((f.code, f.name) for f in findings if f.fix is not None)
    out = [""]
    for (code, name), count in sorted(counts.items()):
        line = f"{count:>5}  {code:<6} {name}"
        if fixable[(code, name)]:
            line += f" ({fixable[(code, name)]} fixable)"
        out.append(line)
    return out


def render(report: Report) -> str:
    out: list[str] = []
    lines = Lines(report)
    findings = report.sorted_findings()
    for finding in findings:
        severity_color = "red" if finding.severity is Severity.ERROR else "yellow"
        code = _style(finding.code, report, fg=severity_color, bold=True)
        where = _style(location(finding) + ":", report, bold=True)
        # A message of several lines keeps the one-line-per-finding shape: the
        # lines after the first are indented under it.
        message = "\n    ".join(python_lines(finding.message))
        out.append(f"{where} {code} [{finding.name}] {message}")
        if report.show_source:
            out.extend(_source_lines(finding, lines, report))
        out.extend(_probe_lines(finding, report))
    if report.statistics and findings:
        out.extend(_statistics(findings))
    out.append(summary(report))
    return "\n".join(out) + "\n"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def summary(report: Report) -> str:
    """``Found 3 findings (2 errors, 1 warning) in 2 files. 1 fixable with --fix.``"""
    findings = report.findings
    fixed = f" ({report.fixed} fixed)" if report.fixed else ""
    files = _plural(report.files_linted, "file")
    if not findings:
        return f"No findings in {files}{fixed}."
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = len(findings) - errors
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    line = f"Found {_plural(len(findings), 'finding')} ({counts}) in {files}{fixed}."
    safe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.UNSAFE)
    if report.unsafe_fixes and safe + unsafe:
        line += f" {safe + unsafe} fixable with --fix --unsafe-fixes."
    elif safe:
        line += f" {safe} fixable with --fix."
        if unsafe:
            line += f" {unsafe} more with --fix --unsafe-fixes."
    elif unsafe:
        line += f" {unsafe} fixable with --fix --unsafe-fixes."
    return line
