"""Linting one file: parse once, walk once, run every enabled rule on the facts.

The engine knows no rule by name. It hands each rule a :class:`RuleContext`
holding the file's semantic model, collects what the rule reports, drops what
``# noqa`` silences, and turns a crash inside a rule into an error naming the
rule while the other rules' findings are kept.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import libcst as cst

from torchlint import suppressions
from torchlint.parsing import (RECURSION_LIMIT, Recovery, parse_error, parse_module, parse_recovering,
                               syntax_error)
from torchlint.findings import Applicability, Edit, FileResult, Finding, Fix, Severity, Span
from torchlint.locator import Locator
from torchlint.registry import RuleSet
from torchlint.rule import Rule
from torchlint.semantic.model import SemanticModel
from torchlint.semantic.project import Project
from torchlint.semantic.walker import collect
from torchlint.source import SourceFile, python_lines_with_ends



class RuleContext:
    """What a rule's check sees: the semantic model and a way to report."""

    def __init__(self, rule: type[Rule], model: SemanticModel, locator: Locator,
                 source: SourceFile) -> None:
        self.rule = rule
        self.model = model
        self.source = source
        self._locator = locator
        self.reports: list[tuple[Finding, tuple[int, ...]]] = []

    @property
    def module(self) -> cst.Module:
        return self.model.facts.module

    def span(self, node: cst.CSTNode) -> Span:
        return self._locator.span(node)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def report(self, node: cst.CSTNode, message: str, *, title: str | None = None,
               fix: Fix | None = None, context: dict[str, Any] | None = None,
               severity: Severity | None = None) -> None:
        """Report `node`. `title` says what is wrong in one short line; `message`
        becomes the body (why it matters, what to do). Without a title, the
        rule's summary stands for it, so the title never claims more than the
        rule's own one-sentence description."""
        span = self._locator.span(node)
        statement = self._locator.statement_span(node)
        noqa_lines = tuple(sorted({span.start_line, statement.start_line, statement.end_line}))
        finding = Finding(
            code=self.rule.code, name=self.rule.name, severity=severity or self.rule.severity,
            message=title or summary_title(self.rule), body=message, path=self.source.display,
            span=span, fix=fix, context=dict(context or {}),
        )
        self.reports.append((finding, noqa_lines))

    # -- fixes ------------------------------------------------------------

    def replace(self, node: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        text = new if isinstance(new, str) else self.module.code_for_node(new)
        return Edit(self._locator.span(node), text)

    def fix(self, title: str, *edits: Edit, safe: bool = True) -> Fix:
        applicability = Applicability.SAFE if safe else Applicability.UNSAFE
        return Fix(applicability=applicability, edits=tuple(edits), title=title)


def summary_title(rule: type[Rule]) -> str:
    """A finding's title when its rule gives none: the rule's summary, without
    its final period."""
    return rule.summary.strip().rstrip(".")


def _syntax_rule(rules: RuleSet) -> type[Rule] | None:
    return _flagged_rule(rules, "reports_parse_errors")


def _flagged_rule(rules: RuleSet, flag: str) -> type[Rule] | None:
    """The selected rule that the engine itself reports for (parse errors, unused noqa)."""
    for rule in rules.rules:
        if getattr(rule, flag, False):
            return rule
    return None


def _unused_noqa(rule: type[Rule], noqa: suppressions.Suppressions, ran: frozenset[str],
                 source: SourceFile) -> list[Finding]:
    """The rule's findings on `# noqa` codes that silenced nothing (itself
    subject to noqa: `# noqa: TL002` keeps a comment it would report)."""
    from torchlint.source import python_lines

    known = frozenset(r.code for r in RuleSet.all().rules)
    found = []
    for span, title, body, fix in rule.unused(noqa, ran, known, python_lines(source.text)):
        if noqa.silences(rule.code, (span.start_line,)):
            continue
        found.append(_to_cells(source, Finding(
            code=rule.code, name=rule.name, severity=rule.severity, message=title, body=body,
            path=source.display, span=span, fix=fix)))
    return found


def _syntax_title(message: str) -> str:
    """A short title: Python's message, cut where it would pass about 80 characters
    (the body and Python's own error keep the whole of it)."""
    title = f"The file does not parse: {message}"
    return title if len(title) <= 80 else title[:77].rstrip() + "..."


def _syntax_finding(rule: type[Rule], source: SourceFile, message: str, line: int,
                    column: int, skipped: tuple[int, ...] = ()) -> Finding:
    body = ("Python cannot parse this file, so nothing else in it was checked "
            "and the script fails as soon as it is imported. Correct the syntax here.")
    if skipped:
        shown = ", ".join(str(n) for n in skipped[:8]) + (", ..." if len(skipped) > 8 else "")
        skipped_words = f"The statement that does not parse (line {shown}) was skipped" if len(skipped) == 1 \
            else f"The {len(skipped)} statements that do not parse (lines {shown}) were skipped"
        body = (f"Python cannot parse this file, so the script fails as soon as it is imported. "
                f"Correct the syntax here. {skipped_words} and the rest of the file was checked; "
                f"no fix is offered in this file until it parses.")
    title = _syntax_title(message)
    if title != f"The file does not parse: {message}":
        body = f"Python says: {message}. {body}"  # the title had to cut it short
    return Finding(
        code=rule.code, name=rule.name, severity=rule.severity,
        message=title, path=source.display,
        span=Span(line, column, line, column), body=body,
    )


def _blank_broken_cells(source: SourceFile) -> tuple[SourceFile, list[tuple[int, str, int, int]]]:
    """For a notebook whose joined cells do not parse: blank each cell that does
    not parse alone, so the rest is still linted. Returns the cells' errors."""
    assert source.cells is not None
    lines = python_lines_with_ends(source.text)
    broken: list[tuple[int, str, int, int]] = []
    for cell in source.cells:
        start = cell.first_line - 1
        text = "".join(lines[start:start + cell.line_count])
        try:
            parse_module(text)
        except Exception as err:  # noqa: BLE001 - any parser failure blanks the cell
            message, line, column = parse_error(err, text)
            broken.append((cell.number, message, cell.first_line + line - 1, column))
            for index in range(start, start + cell.line_count):
                lines[index] = "\n"
    blanked = SourceFile(display=source.display, text="".join(lines), path=source.path,
                         encoding=source.encoding, bom=source.bom, cells=source.cells)
    return blanked, broken


def lint_source(source: SourceFile, rules: RuleSet, project: Project, *,
                from_disk: bool = False) -> FileResult:
    """Lint one file. `from_disk`: the text is the file's content on disk, so
    its parsed facts can be shared with the files that import it."""
    result = FileResult(display=source.display, source=source)
    syntax_rule = _syntax_rule(rules)
    unused_noqa = _flagged_rule(rules, "reports_unused_noqa")
    checks = [rule for rule in rules.rules if not getattr(rule, "reports_parse_errors", False)
              and rule is not unused_noqa]
    if not project.worth_parsing(source):
        # Nothing here can hold a torch bug, but a file that does not parse is
        # still reported (Python's parser checks it in a few milliseconds).
        err = syntax_error(source.text) if syntax_rule is not None else None
        if err is not None:
            message, line, column = parse_error(err, source.text)
            result.findings.append(_to_cells(source, _syntax_finding(
                syntax_rule, source, message, line, column)))
        return result
    shared = from_disk and source.path is not None and not source.is_notebook
    known = project.known_facts(source.path, source.text) if shared else None
    recovery: Recovery | None = None
    python_tree = None  # Python's tree of the text, made by the parse: for the locator
    if known is None:
        project.make_room(source.path, len(source.text))
    try:
        if known is not None:
            module = known.module
        elif source.is_notebook:
            module = parse_module(source.text)
        else:
            module, python_tree, recovery = parse_recovering(source.text)
    except Exception as err:  # noqa: BLE001 - ParserSyntaxError, RecursionError, ...
        broken: list[tuple[int, str, int, int]] = []
        if source.is_notebook:
            source, broken = _blank_broken_cells(source)
            try:
                module = parse_module(source.text)
            except Exception:  # noqa: BLE001
                broken = []
        if not broken:
            if syntax_rule is not None:
                message, line, column = parse_error(err, source.text)
                result.findings.append(_to_cells(source, _syntax_finding(
                    syntax_rule, source, message, line, column)))
            return result
        if syntax_rule is not None:
            for _cell, message, line, column in broken:
                result.findings.append(_to_cells(source, _syntax_finding(
                    syntax_rule, source, message, line, column)))

    if recovery is not None:
        # Linted as recovered: the statements that do not parse are blanked, every
        # other line and column is the file's own.
        if syntax_rule is not None and recovery.error is not None:
            message, line, column = recovery.error
            result.findings.append(_syntax_finding(syntax_rule, source, message, line, column,
                                                   skipped=recovery.blanked))
        source = replace(source, text=recovery.text)
        shared = False  # the files importing it parse it themselves

    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, RECURSION_LIMIT))
    project.begin_lint()
    try:
        facts = known if known is not None else collect(module)
        if shared and known is None:
            project.remember(source.path, source.text, facts)
        model = SemanticModel(facts=facts, project=project, path=source.path, text=source.text,
                              python_tree=python_tree)
        locator = model.locator
        noqa = suppressions.parse(source.text)
        crashed: set[str] = set()
        if model.other_framework is not None:
            checks = []  # another framework's code: no torch rule applies
        for rule in checks:
            ctx = RuleContext(rule, model, locator, source)
            try:
                rule().check(ctx)
            except Exception as err:  # noqa: BLE001 - a crashing rule must not hide the rest
                frame = err.__traceback__
                while frame is not None and frame.tb_next is not None:  # the innermost frame,
                    frame = frame.tb_next  # without formatting a deep stack (RecursionError)
                where = f"{Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}" if frame else "?"
                result.errors.append(
                    f"{source.display}: rule {rule.code} ({rule.name}) crashed: "
                    f"{type(err).__name__}: {str(err)[:200]} (at {where})"
                )
                crashed.add(rule.code)
                continue
            for finding, lines in ctx.reports:
                if not noqa.silences(finding.code, lines):
                    result.findings.append(_to_cells(source, finding))
        if unused_noqa is not None:
            ran = frozenset(rule.code for rule in checks if rule.code not in crashed)
            result.findings.extend(_unused_noqa(unused_noqa, noqa, ran, source))
        if recovery is not None:
            # A fix's edits were computed on the recovered text, not the file's.
            result.findings = [replace(f, fix=None) if f.fix is not None else f for f in result.findings]
        result.dependencies = model.dependencies()
    except RecursionError:
        result.errors.append(f"{source.display}: too deeply nested to analyse")
    finally:
        project.end_lint()
        sys.setrecursionlimit(previous)
    result.findings.sort(key=Finding.sort_key)
    return result


def _to_cells(source: SourceFile, finding: Finding) -> Finding:
    """Re-express a finding of a notebook's joined module in cell coordinates."""
    if not source.is_notebook:
        return finding
    cell, line = source.cell_position(finding.span.start_line)
    shift = line - finding.span.start_line
    fix = finding.fix
    if fix is not None:  # its edits move into the cell too; one that leaves it is dropped
        if all(source.cell_position(edit.span.start_line)[0] == cell
               and source.cell_position(edit.span.end_line)[0] == cell for edit in fix.edits):
            fix = replace(fix, edits=tuple(Edit(edit.span.shifted(shift), edit.replacement)
                                           for edit in fix.edits))
        else:
            fix = None
    return Finding(
        code=finding.code, name=finding.name, severity=finding.severity,
        message=source.in_cell_words(finding.message), path=finding.path,
        span=finding.span.shifted(shift), fix=fix, probe=finding.probe, cell=cell,
        context=finding.context, body=source.in_cell_words(finding.body),
    )
