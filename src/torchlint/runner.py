"""A lint run over many files: rule selection per file, fixing, and results.

The CLI and the language server both come through here, so they give the
same findings for the same text and configuration. Nothing here prints: a
file that cannot be read, a fix that cannot be written or an internal error
comes back as a one-line message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from torchlint import fixes
from torchlint.config import Config, ConfigFinder
from torchlint.engine import FileResult, lint_source
from torchlint.parsing import parse_module  # guarded against libcst's stack overflow
from torchlint.registry import RuleSet
from torchlint.semantic.project import Project
from torchlint.source import SourceError, SourceFile, read_source

MAX_FIX_PASSES = 10
#: Set to show the traceback of an internal error instead of a one-line message.
DEBUG_ENV = "TORCHLINT_DEBUG"


def debugging() -> bool:
    return bool(os.environ.get(DEBUG_ENV))


def describe_crash(err: BaseException) -> str:
    """``ValueError: message (at walker.py:120)``: enough to report a bug."""
    frame = err.__traceback__
    while frame is not None and frame.tb_next is not None:  # the innermost frame, without
        frame = frame.tb_next  # formatting what may be a very deep stack (RecursionError)
    where = f" (at {Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno})" if frame else ""
    return f"{type(err).__name__}: {str(err)[:200]}{where}"


# Records here are NamedTuples: a frozen dataclass costs ~1.5 ms to define
# (it compiles its generated methods), and startup is budgeted (bench/startup.py).


class Selection(NamedTuple):
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


class FixOutcome(NamedTuple):
    old_text: str
    new_text: str
    fixed: int  # findings fixed
    parse_error: str | None = None  # the fixed text did not parse: nothing written


class Run:
    """One lint run: the configurations, the command line's rule choices, and
    the project index that every file of the run shares."""

    def __init__(self, configs: ConfigFinder, selection: Selection | None = None,
                 project: Project | None = None) -> None:
        self.configs = configs
        self.selection = selection if selection is not None else Selection()
        self.project = project if project is not None else Project()

    def lint(self, source: SourceFile) -> FileResult:
        """Lint one file. A crash of the engine itself (not of one rule, which
        the engine reports) becomes an error of this file; the run goes on."""
        config = self.configs.for_file(source.path)
        rules = self.selection.rules_for(config, source.path, source.display)
        try:
            return lint_source(source, rules, self.project)
        except Exception as err:  # noqa: BLE001 - one file's crash must not end the run
            if debugging():
                raise
            return FileResult(display=source.display, source=source, errors=[
                f"{source.display}: internal error while linting: {describe_crash(err)}; "
                "please report it (set TORCHLINT_DEBUG=1 for the traceback)"])

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
        if source is None or source.is_notebook or result.errors:
            return result, None  # a file whose lint crashed is not rewritten
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
                parse_module(new_text)
            except Exception as err:  # noqa: BLE001 - never write code that does not parse
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                return result, FixOutcome(original, original, 0, parse_error=first)
            text = new_text
            fixed += count
            source = SourceFile(display=source.display, text=text, path=source.path,
                                encoding=source.encoding, bom=source.bom)
            result = self.lint(source)
        if fixed == 0:
            return result, None
        return result, FixOutcome(original, text, fixed)


def write_fixed(source: SourceFile, text: str) -> str | None:
    """Write the fixed `text` over the file, atomically, in its own encoding.
    Returns an error message instead of raising."""
    assert source.path is not None
    try:
        data = source.encode(text)
    except UnicodeEncodeError as err:
        return (f"{source.display}: fixes not written: the fixed code holds "
                f"{err.object[err.start:err.end]!r}, which {source.encoding} cannot encode")
    try:
        fixes.write_atomically(source.path, data)
    except OSError as err:
        return f"{source.display}: fixes not written ({err.strerror or err})"
    return None
