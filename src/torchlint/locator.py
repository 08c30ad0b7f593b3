"""Line and column of reported nodes, computed only for them.

libcst's PositionProvider regenerates the whole file to number every node,
which costs more than parsing it. A finding needs the position of one node,
so the locator asks Python's own parser (7 ms for 1,000 lines) where each
statement starts, then regenerates only the statement that holds the
reported node, starting its counters at that line and indentation.
"""

from __future__ import annotations

import ast
import warnings

import libcst as cst
from libcst.metadata import CodeRange, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from torchlint.findings import Span
from torchlint.semantic.facts import FileFacts
from torchlint.source import python_lines

_COMPOUND = cst.BaseCompoundStatement
_STUBBABLE = (cst.If, cst.For, cst.While, cst.With, cst.FunctionDef, cst.ClassDef)


_STUB_BODY = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Pass()])])


class _Ranges:
    """Stands in for the position provider: the codegen state writes into `_computed`."""

    def __init__(self) -> None:
        self._computed: dict[cst.CSTNode, CodeRange] = {}


# The fields of ast nodes that hold statements (or handlers/cases that do):
# statements never sit inside expressions, so the walk skips those.
_STATEMENT_FIELDS = ("body", "handlers", "orelse", "finalbody", "cases")  # source order


def _ast_statements(tree: ast.AST) -> list[ast.stmt]:
    """Every statement in pre-order, as the walker numbers libcst's statements."""
    found: list[ast.stmt] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            found.append(node)
        children: list[ast.AST] = []
        for field in _STATEMENT_FIELDS:
            value = getattr(node, field, None)
            if isinstance(value, list):
                children.extend(value)
        stack.extend(reversed(children))
    return found


class Locator:
    def __init__(self, text: str, facts: FileFacts, python_tree: ast.Module | None = None) -> None:
        self.text = text
        self.facts = facts
        # Python's tree of `text` when the parse made one already (dropped once read).
        self._python_tree = python_tree
        self._lines: list[str] | None = None
        self._starts: dict[int, tuple[int, int]] | None = None  # id(stmt) -> (line, col)
        self._one_line: set[int] = set()  # id(stmt) of statements that start and end on one line
        self._ranges: dict[int, dict[cst.CSTNode, CodeRange]] = {}
        self._whole: dict[cst.CSTNode, CodeRange] | None = None

    # -- public -----------------------------------------------------------

    def span(self, node: cst.CSTNode) -> Span:
        code_range = self._range(node)
        return Span(code_range.start.line, code_range.start.column,
                    code_range.end.line, code_range.end.column)

    def line(self, node: cst.CSTNode) -> int:
        """The line `node` starts on. Every node of a statement written on one line
        is on that line: Python's parse says which those are, so no code is
        generated for them (messages that quote a line ask for dozens)."""
        statement = self.facts.statement_of.get(id(node))
        starts = self._statement_starts()
        if statement is not None and starts is not None and id(statement) in self._one_line:
            return starts[id(statement)][0]
        return self.span(node).start_line

    def statement_span(self, node: cst.CSTNode) -> Span:
        """The span of the statement holding `node` (for noqa on multi-line statements)."""
        statement = self.facts.statement_of.get(id(node), node)
        if isinstance(statement, _COMPOUND):
            return self.span(node)
        return self.span(statement)

    # -- internals --------------------------------------------------------

    def _range(self, node: cst.CSTNode) -> CodeRange:
        statement = self.facts.statement_of.get(id(node))
        starts = self._statement_starts()
        if statement is None or starts is None or id(statement) not in starts:
            return self._whole_module()[node]
        ranges = self._ranges.get(id(statement))
        if ranges is None:
            ranges = self._generate(statement, *starts[id(statement)])
            self._ranges[id(statement)] = ranges
        found = ranges.get(node)
        return found if found is not None else self._whole_module()[node]

    def _statement_starts(self) -> dict[int, tuple[int, int]] | None:
        if self._starts is None:
            tree, self._python_tree = self._python_tree, None
            try:
                if tree is None:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        tree = ast.parse(self.text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                self._starts = {}
                return None
            ours = self.facts.statements
            theirs = _ast_statements(tree)
            if len(ours) != len(theirs):
                self._starts = {}
                return None
            lines = self._source_lines()
            starts: dict[int, tuple[int, int]] = {}
            for statement, node in zip(ours, theirs):
                line = node.lineno
                decorators = getattr(node, "decorator_list", None)
                if decorators:
                    line = decorators[0].lineno
                if node.end_lineno == line:
                    self._one_line.add(id(statement))
                # ast counts columns in UTF-8 bytes; libcst in characters.
                text = lines[line - 1] if line - 1 < len(lines) else ""
                column = len(text.encode("utf-8")[: node.col_offset].decode("utf-8", "replace"))
                starts[id(statement)] = (line, column)
            self._starts = starts
        return self._starts or None

    def _source_lines(self) -> list[str]:
        if self._lines is None:
            self._lines = python_lines(self.text)  # not str.splitlines: see source.py
        return self._lines

    def _generate(self, statement: cst.CSTNode, line: int, column: int) -> dict[cst.CSTNode, CodeRange]:
        ranges = _Ranges()
        indents = list(self.facts.indent_of.get(id(statement), ()))
        module = self.facts.module
        target = statement
        if isinstance(statement, _COMPOUND):
            # A compound statement generates its own indentation and leading lines.
            # Nodes of its body are located through their own statements, so only
            # the header is generated: the body becomes `pass`, which also makes the
            # statement's own span end with its header, as an editor wants.
            target = statement.with_changes(leading_lines=())
            if isinstance(statement, _STUBBABLE):
                target = target.with_changes(body=_STUB_BODY)
            if isinstance(statement, (cst.If, cst.For, cst.While)):
                target = target.with_changes(orelse=None)
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)) and statement.decorators:
                first = statement.decorators[0].with_changes(leading_lines=())
                target = target.with_changes(decorators=(first, *statement.decorators[1:]))
            state = PositionProvidingCodegenState(
                default_indent=module.default_indent, default_newline=module.default_newline,
                provider=ranges, line=line, column=0,
            )
            state.indent_tokens = indents[:]
            if id(statement) in self.facts.elifs:
                # `elif` is generated by the parent `if`; standalone it would print `if`.
                state.before_codegen(target)
                target._codegen_impl(state, is_elif=True)  # type: ignore[attr-defined]
                state.after_codegen(target)
            else:
                target._codegen(state)
            computed = ranges._computed
            if target in computed:
                start, end = computed[target].start, computed[target].end
                body = getattr(target, "body", None)
                if isinstance(statement, _STUBBABLE) and body in computed:
                    end = computed[body].start
                computed[statement] = CodeRange(start, end)
            return computed
        state = PositionProvidingCodegenState(
            default_indent=module.default_indent, default_newline=module.default_newline,
            provider=ranges, line=line, column=max(column, 0),
        )
        state.indent_tokens = indents[:]
        statement._codegen(state)
        return ranges._computed

    def _whole_module(self) -> dict[cst.CSTNode, CodeRange]:
        if self._whole is None:
            wrapper = cst.MetadataWrapper(self.facts.module, unsafe_skip_copy=True)
            self._whole = dict(wrapper.resolve(PositionProvider))
        return self._whole
