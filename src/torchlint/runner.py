"""A lint run over many files: rule selection per file, fixing, and results.

The CLI and the language server both come through here, so they give the
same findings for the same text and configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from torchlint import fixes
from torchlint.config import Config, ConfigFinder
from torchlint.engine import FileResult, lint_source
from torchlint.registry import RuleSet
from torchlint.semantic.project import Project
from torchlint.source import SourceError, SourceFile, read_source

MAX_FIX_PASSES = 10


@dataclass(frozen=True)
class Selection:
    """Rule choices from the command line (None: not given, use the config)."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()

    def rules_for(self, config: Config, file: Path | None, display: str) -> RuleSet:
        select = self.select if self.select is not None else config.select
        ignore = (*config.ignore, *self.ignore, *config.ignored_for(file, display))
        extend = (*config.extend_select, *self.extend_select)
        return RuleSet.all().select(
            list(select) if select is not None else None, list(ignore), list(extend)
        )


@dataclass
class FixOutcome:
    old_text: str
    new_text: str
    fixed: int  # findings fixed
    parse_error: str | None = None  # the fixed text did not parse: nothing written


@dataclass
class Run:
    configs: ConfigFinder
    selection: Selection = field(default_factory=Selection)
    project: Project = field(default_factory=Project)

    def lint(self, source: SourceFile) -> FileResult:
        config = self.configs.for_file(source.path)
        rules = self.selection.rules_for(config, source.path, source.display)
        return lint_source(source, rules, self.project)

    def lint_path(self, path: Path, display: str) -> tuple[FileResult | None, str | None]:
        try:
            source = read_source(path, display)
        except SourceError as err:
            return None, str(err)
        return self.lint(source), None

    def fix(self, result: FileResult, unsafe: bool) -> tuple[FileResult, FixOutcome | None]:
        """Apply fixes until none is left (each pass re-lints the fixed text).
        Returns the final result and what changed; the text is not written."""
        source = result.source
        if source is None or source.is_notebook:
            return result, None
        original = source.text
        text = original
        fixed = 0
        for _ in range(MAX_FIX_PASSES):
            if not any(fixes.applicable(f, unsafe) for f in result.findings):
                break
            new_text, count = fixes.apply_fixes(text, result.findings, unsafe)
            if count == 0 or new_text == text:
                break
            try:
                cst.parse_module(new_text)
            except Exception as err:  # noqa: BLE001 - never write code that does not parse
                return result, FixOutcome(original, original, 0, parse_error=str(err).splitlines()[0])
            text = new_text
            fixed += count
            source = SourceFile(display=source.display, text=text, path=source.path,
                                encoding=source.encoding, bom=source.bom)
            result = self.lint(source)
        if fixed == 0:
            return result, None
        return result, FixOutcome(original, text, fixed)
