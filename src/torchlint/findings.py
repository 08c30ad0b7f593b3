"""The data a lint run produces: spans, edits, fixes, findings.

Positions are stored the way libcst counts them: lines 1-based, columns
0-based in characters. Reporters convert (1-based columns for people,
UTF-16 for LSP) at the edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchlint.source import SourceFile


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:  # so f-strings print "error", not "Severity.ERROR"
        return self.value


class Applicability(str, enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class Span:
    start_line: int
    start_col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, line: int, col: int) -> Span:
        return cls(line, col, line, col)

    def shifted(self, lines: int) -> Span:
        return Span(self.start_line + lines, self.start_col, self.end_line + lines, self.end_col)


@dataclass(frozen=True)
class Edit:
    """Replace the text in `span` with `replacement`."""

    span: Span
    replacement: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.span.start_line,
            "column": self.span.start_col + 1,
            "end_line": self.span.end_line,
            "end_column": self.span.end_col + 1,
            "replacement": self.replacement,
        }


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    edits: tuple[Edit, ...]
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": str(self.applicability),
            "title": self.title,
            "edits": [edit.to_json() for edit in self.edits],
        }


@dataclass(frozen=True)
class ProbeResult:
    """What the runtime probe concluded about one finding."""

    verdict: str  # confirmed | confirmed_redundant | refuted | mechanism_only | not_exercised | inconclusive
    evidence: dict[str, Any] = field(default_factory=dict)
    assumptions: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # for inconclusive: load_failed, timeout, ...
    hint: str | None = None  # ready-to-paste pyproject snippet when inconclusive

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "evidence": self.evidence,
            "assumptions": self.assumptions,
        }
        if self.reason is not None:
            data["reason"] = self.reason
        if self.hint is not None:
            data["hint"] = self.hint
        return data


@dataclass(frozen=True)
class Finding:
    """One finding. ``message`` is its title: what is wrong, in one short line
    (under about 80 characters); ``body`` says why it matters for training and
    what to do. Reporters print the title where a finding gets one line (the
    ``path:line:col`` line, JSON ``message``, SARIF and LSP messages) and the
    body as help (text ``help:``, JSON ``body``, LSP hover)."""

    code: str
    name: str
    severity: Severity
    message: str  # the title
    path: str  # as shown to the user
    span: Span
    fix: Fix | None = None
    probe: ProbeResult | None = None
    cell: int | None = None  # 1-based notebook cell; span lines are then within the cell
    body: str = ""
    # Facts the probe needs to rebuild the experiment (class names, call sites, ...).
    # Not part of the user-facing schema; JSON-safe values only.
    context: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def title(self) -> str:
        return self.message

    @property
    def safe_fix(self) -> bool:
        """A fix that ``--fix`` applies (ruff's ``[*]`` marker)."""
        return self.fix is not None and self.fix.applicability is Applicability.SAFE

    @property
    def line(self) -> int:
        return self.span.start_line

    @property
    def column(self) -> int:
        """1-based column, as printed."""
        return self.span.start_col + 1

    def sort_key(self) -> tuple[Any, ...]:
        return (self.path, self.cell or 0, self.span, self.code, self.message)

    def with_probe(self, probe: ProbeResult) -> Finding:
        return replace(self, probe=probe)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "message": self.message,
            "body": self.body,
            "path": self.path,
            "line": self.span.start_line,
            "column": self.span.start_col + 1,
            "end_line": self.span.end_line,
            "end_column": self.span.end_col + 1,
            "fix": self.fix.to_json() if self.fix else None,
            "probe": self.probe.to_json() if self.probe else None,
        }
        if self.cell is not None:
            data["cell"] = self.cell
        return data


@dataclass
class FileResult:
    """One file's lint: its findings, and the errors that kept it from being linted."""

    display: str
    source: SourceFile | None
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # internal errors: exit code 2
    # Local files whose content the findings depend on (for the cache and the editor).
    dependencies: tuple[Path, ...] = ()
