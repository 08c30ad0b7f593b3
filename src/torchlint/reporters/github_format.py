"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

    ::error file=train.py,line=48,col=26,endLine=48,endColumn=34,title=TL101 <title>::<body>

Errors become ``::error``, warnings ``::warning``. Values are escaped as the
Actions toolkit does (``%``, CR and LF everywhere; ``:`` and ``,`` also in
properties), so a message may span lines and a path may hold any character.
GitHub takes columns only within one line, so a multi-line span gives lines
alone. A notebook finding names its cell in the message: its line is not a
line of the .ipynb file.
"""

from __future__ import annotations

from torchlint.findings import Finding, Severity
from torchlint.reporters import Report
from torchlint.reporters.verdicts import describe


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _properties(finding: Finding) -> list[tuple[str, str]]:
    props = [("file", finding.path)]
    span = finding.span
    if finding.cell is None:
        props.append(("line", str(span.start_line)))
        if span.start_line == span.end_line:
            props.append(("col", str(span.start_col + 1)))
        props.append(("endLine", str(span.end_line)))
        if span.start_line == span.end_line:
            props.append(("endColumn", str(span.end_col + 1)))
    props.append(("title", f"{finding.code} {' '.join(finding.title.split())}"))
    return props


def _message(finding: Finding) -> str:
    # The title is the annotation's heading; the message under it says why and what to do.
    message = finding.body or finding.title
    if finding.cell is not None:
        message = f"cell {finding.cell}, line {finding.line}, column {finding.column}: {message}"
    if finding.probe is not None:
        message += "\n" + "\n".join(describe(finding.probe))
    return message


def annotation(finding: Finding) -> str:
    command = "error" if finding.severity is Severity.ERROR else "warning"
    props = ",".join(f"{key}={escape_property(value)}" for key, value in _properties(finding))
    return f"::{command} {props}::{escape_data(_message(finding))}"


def render(report: Report) -> str:
    return "".join(annotation(finding) + "\n" for finding in report.sorted_findings())
