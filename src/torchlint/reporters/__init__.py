"""Output formats. Each module renders a :class:`Report` to text with ``render``.

The links that every format and the language server print live here, in one
place: :data:`PROJECT_URL` and :func:`docs_url`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torchlint.findings import Finding

if TYPE_CHECKING:  # kept light: the CLI imports FORMATS before it parses its options
    from torchlint.registry import RuleSet
    from torchlint.source import SourceFile

FORMATS = ("full", "concise", "text", "json", "sarif", "github", "lsp")
#: Formats printed by text_format: ``text`` is the old name of ``full``.
TEXT_FORMATS = frozenset({"full", "concise", "text"})

#: The project's home page (SARIF ``informationUri``).
PROJECT_URL = "https://github.com/torchlint/torchlint"
#: The rules' documentation: one page, a heading "TL101 missing-eval" per rule
#: (anchor ``tl101-missing-eval``). `torchlint rule CODE` prints the same text.
DOCS_URL = PROJECT_URL + "/blob/main/docs/rules.md#{anchor}"


def docs_url(code: str, name: str) -> str:
    """The documentation of rule `code` (SARIF ``helpUri``, LSP ``codeDescription``)."""
    return DOCS_URL.format(anchor=f"{code.lower()}-{name}")


@dataclass
class Report:
    findings: list[Finding]  # sorted by path, then position
    rules: RuleSet  # every known rule (SARIF describes them)
    sources: dict[str, str] = field(default_factory=dict)  # display path -> text, for --show-source
    files_linted: int = 0
    fixed: int = 0
    show_source: bool = False
    statistics: bool = False
    color: bool = False
    unsafe_fixes: bool = False
    concise: bool = False  # one line per finding (--output-format concise)
    # display path -> the file as read: its text, absolute path and notebook cells.
    # When given, it is preferred to `sources`: notebook lines and file URIs need it.
    files: dict[str, SourceFile] = field(default_factory=dict)
    # Internal errors of the run (a crashed rule, ...): SARIF reports them as
    # tool execution notifications.
    errors: list[str] = field(default_factory=list)

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def linted_paths(self) -> list[str]:
        """Display paths of every linted file, findings or not, in order."""
        paths = set(self.sources) | set(self.files) | {f.path for f in self.findings}
        return sorted(paths)


def render(format: str, report: Report) -> str:
    if format not in FORMATS:
        raise ValueError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}")
    if format in TEXT_FORMATS:
        format = "text"
    module = importlib.import_module(f"torchlint.reporters.{format}_format")
    return module.render(report)
