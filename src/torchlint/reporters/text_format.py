"""``--output-format full`` (the default; ``text`` is its old name) and ``concise``, for people.

Full, as ruff prints it: the finding's title on the ``path:line:col: CODE``
line (``[*]`` when ``--fix`` can fix it), the source lines with the range
marked, a ``help:`` line with the body (why it matters, what to do), the
fix's title, and the probe's verdict. Concise: the first line alone, one per
finding. Columns are 1-based code points. A notebook finding names its cell
and the line within it (``nb.ipynb:cell 3:5:9: ...``). ``--statistics``
prints only a count per rule; a summary line closes the output. Color is used
only when the report asks for it (``--color``, FORCE_COLOR, NO_COLOR, a terminal).
"""

from __future__ import annotations

import textwrap
from collections import Counter

import click

from torchlint.findings import Applicability, Finding, Severity
from torchlint.reporters import Report
from torchlint.reporters.locations import Lines, caret_line
from torchlint.reporters.verdicts import describe

_VERDICT_COLORS = {"confirmed": "red", "confirmed_redundant": "yellow", "refuted": "green"}
#: Width the help text is wrapped to (the first line, after "= help: ", a little less).
_WRAP = 100
#: Source lines shown for one finding: a span longer than this shows its first lines.
_MAX_SOURCE_LINES = 4
FIXABLE = "[*]"


def _style(text: str, report: Report, **style: object) -> str:
    return click.style(text, **style) if report.color else text  # type: ignore[arg-type]


def location(finding: Finding) -> str:
    if finding.cell is not None:
        return f"{finding.path}:cell {finding.cell}:{finding.line}:{finding.column}"
    return f"{finding.path}:{finding.line}:{finding.column}"


def headline(finding: Finding, report: Report) -> str:
    """``path:line:col: CODE [*] title``"""
    severity_color = "red" if finding.severity is Severity.ERROR else "yellow"
    code = _style(finding.code, report, fg=severity_color, bold=True)
    where = _style(location(finding) + ":", report, bold=True)
    marker = " " + _style(FIXABLE, report, fg="cyan") if finding.safe_fix else ""
    title = " ".join(finding.title.split())  # one line, whatever the rule wrote
    refuted = ""
    if finding.probe is not None and finding.probe.verdict == "refuted":
        refuted = " " + _style("(refuted by the probe)", report, fg="green")
    return f"{where} {code}{marker} {title}{refuted}"


def _source_lines(finding: Finding, lines: Lines, report: Report, gutter_width: int) -> list[str]:
    span = finding.span
    last = min(span.end_line, span.start_line + _MAX_SOURCE_LINES - 1)
    out: list[str] = []
    blank = _style(" " * gutter_width + " |", report, fg="blue")
    for number in range(span.start_line, last + 1):
        line = lines.line(finding, number)
        if line is None:
            return []
        start = span.start_col if number == span.start_line else len(line) - len(line.lstrip())
        end = span.end_col if number == span.end_line else None
        indent, carets = caret_line(line, start, end)
        if not line.strip() and number != span.start_line:
            continue
        gutter = _style(f"{number:>{gutter_width}} |", report, fg="blue")
        out.append(f"{gutter} {line}".rstrip())
        out.append(f"{blank} {indent}" + _style(carets, report, fg="red", bold=True))
    return [blank, *out, blank] if out else []


def _help_lines(finding: Finding, report: Report, gutter_width: int) -> list[str]:
    pad = " " * gutter_width + " "
    out: list[str] = []
    body = " ".join(finding.body.split())
    if body:
        prefix = f"{pad}= help: "
        wrapped = textwrap.wrap(body, width=max(_WRAP - len(prefix), 40), break_long_words=False,
                                break_on_hyphens=False)
        out.append(prefix + wrapped[0])
        out.extend(" " * len(prefix) + line for line in wrapped[1:])
    fix = finding.fix
    if fix is not None and fix.title:
        how = "--fix" if fix.applicability is Applicability.SAFE else "--fix --unsafe-fixes"
        out.append(f"{pad}= fix ({how}): {fix.title}")
    return out


def _probe_lines(finding: Finding, report: Report, gutter_width: int) -> list[str]:
    if finding.probe is None:
        return []
    described = describe(finding.probe)
    color = _VERDICT_COLORS.get(finding.probe.verdict, "yellow")
    pad = " " * gutter_width + " = "
    first = _style(described[0], report, fg=color)
    return [pad + first, *(" " * len(pad) + line for line in described[1:])]


def full(finding: Finding, lines: Lines, report: Report) -> list[str]:
    """The lines of one finding in the full format, a blank line after them."""
    gutter_width = len(str(min(finding.span.end_line, finding.span.start_line + _MAX_SOURCE_LINES)))
    out = [headline(finding, report)]
    out.extend(_source_lines(finding, lines, report, gutter_width))
    out.extend(_help_lines(finding, report, gutter_width))
    out.extend(_probe_lines(finding, report, gutter_width))
    out.append("")
    return out


def concise(finding: Finding, report: Report) -> str:
    line = headline(finding, report)
    if finding.probe is not None and finding.probe.verdict != "refuted":
        line += f" (probe: {finding.probe.verdict})"
    return line


def statistics(findings: list[Finding]) -> list[str]:
    """ruff's table: count, code, ``[*]`` when every finding of the code is
    fixable by --fix (``[-]`` some, ``[ ]`` none), name."""
    counts = Counter((f.code, f.name) for f in findings)
    fixable = Counter((f.code, f.name) for f in findings if f.safe_fix)
    width = max((len(str(count)) for count in counts.values()), default=1)
    out = []
    for (code, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        fixed = fixable[(code, name)]
        marker = FIXABLE if fixed == count else "[-]" if fixed else "[ ]"
        out.append(f"{count:>{width}}\t{code}\t{marker} {name}")
    return out


def render(report: Report) -> str:
    if report.statistics:
        table = statistics(report.findings)
        return "".join(line + "\n" for line in table)
    out: list[str] = []
    lines = Lines(report)
    for finding in report.sorted_findings():
        if report.concise:
            out.append(concise(finding, report))
        else:
            out.extend(full(finding, lines, report))
    out.append(summary(report))
    return "\n".join(out) + "\n"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def summary(report: Report) -> str:
    """``Found 3 findings (2 errors, 1 warning) in 2 files. [*] 1 fixable with --fix.``"""
    findings = report.findings
    fixed = f" ({report.fixed} fixed)" if report.fixed else ""
    files = _plural(report.files_linted, "file")
    if not findings:
        return f"No findings in {files}{fixed}."
    refuted = sum(1 for f in findings if f.probe is not None and f.probe.verdict == "refuted")
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = len(findings) - errors
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    if refuted:
        counts += f"; {refuted} refuted by the probe"
    line = f"Found {_plural(len(findings), 'finding')} ({counts}) in {files}{fixed}."
    safe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicability is Applicability.UNSAFE)
    if report.unsafe_fixes and safe + unsafe:
        line += f" {safe + unsafe} fixable with --fix --unsafe-fixes."
    elif safe:
        line += f" {FIXABLE} {safe} fixable with --fix."
        if unsafe:
            line += f" {unsafe} more with --fix --unsafe-fixes."
    elif unsafe:
        line += f" {unsafe} fixable with --fix --unsafe-fixes."
    return line
