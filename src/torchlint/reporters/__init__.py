"""Output formats. Each module renders a :class:`Report` to text with ``render``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from torchlint.findings import Finding
from torchlint.registry import RuleSet

FORMATS = ("text", "json", "sarif", "github", "lsp")


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


def render(format: str, report: Report) -> str:
    module = importlib.import_module(f"torchlint.reporters.{format}_format")
    return module.render(report)
