"""The engine's one traversal: a libcst tree in, :class:`FileFacts` out.

libcst's own visitor rebuilds every node while it walks, which costs as much
as parsing. This walker reads the dataclass fields of each node instead and
skips the whitespace and punctuation fields, which is over ten times cheaper
(measured in bench/throughput.py), and records on the way every fact the
rules need.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import libcst as cst

from torchlint.semantic import facts as F

# Fields that hold only whitespace, punctuation or comments: never facts.
_SKIPPED_FIELDS = frozenset(
    {
        "lpar", "rpar", "comma", "semicolon", "leading_lines", "header", "footer",
        "lines_after_decorators", "trailing_whitespace", "operator", "dot", "colon",
        "equal", "star", "default_indent", "default_newline", "encoding", "lbracket",
        "rbracket", "lbrace", "rbrace", "arrow", "asynchronous", "whitespace",
        "first_line", "empty_lines", "last_line", "newline", "indent", "footer",
        "has_trailing_newline", "star_tok",
    }
)
_LEAF_TYPES = (cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.Newline, cst.Comment,
               cst.EmptyLine, cst.TrailingWhitespace, cst.Comma, cst.Dot)

_fields_cache: dict[type, tuple[str, ...]] = {}
# What a field's value is, by its type: a node to walk, a sequence of values, or
# neither (a string, None, whitespace, punctuation). Asked by type rather than
# with isinstance, because every failing isinstance against a libcst class goes
# through ABCMeta.__instancecheck__, several times the cost of a dict lookup,
# and the walks below ask it of every field of every node.
_NEITHER, _NODE, _SEQUENCE = 0, 1, 2
_value_kinds: dict[type, int] = {}


def _value_kind(value_type: type) -> int:
    kind = _value_kinds.get(value_type)
    if kind is None:
        if issubclass(value_type, cst.CSTNode):
            kind = _NEITHER if issubclass(value_type, _LEAF_TYPES) else _NODE
        else:
            kind = _SEQUENCE if issubclass(value_type, (tuple, list)) else _NEITHER
        _value_kinds[value_type] = kind
    return kind


def _child_nodes(node: cst.CSTNode, skip: tuple[str, ...] = ()) -> list[cst.CSTNode]:
    """The children of `node` that are not whitespace or punctuation, in field order."""
    children: list[cst.CSTNode] = []
    kinds = _value_kinds
    for name in _child_fields(type(node)):
        if skip and name in skip:
            continue
        value = getattr(node, name)
        kind = kinds.get(type(value))
        if kind is None:
            kind = _value_kind(type(value))
        if kind == _NODE:
            children.append(value)
        elif kind == _SEQUENCE:
            for child in value:
                child_kind = kinds.get(type(child))
                if child_kind is None:
                    child_kind = _value_kind(type(child))
                if child_kind == _NODE:
                    children.append(child)
    return children


def _child_fields(node_type: type) -> tuple[str, ...]:
    fields = _fields_cache.get(node_type)
    if fields is None:
        fields = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
        )
        _fields_cache[node_type] = fields
    return fields


def dotted_name(node: cst.CSTNode | None) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    # Exact types: libcst's node classes have no subclasses, and a failing
    # isinstance against them is slow (see _value_kind); this runs on every call.
    node_type = type(node)
    if node_type is cst.Name:
        return node.value  # type: ignore[union-attr]
    parts: list[str] = []
    while node_type is cst.Attribute:
        parts.append(node.attr.value)  # type: ignore[union-attr]
        node = node.value  # type: ignore[union-attr]
        node_type = type(node)
    if node_type is cst.Name:
        parts.append(node.value)  # type: ignore[union-attr]
        return ".".join(reversed(parts))
    return None


def iter_nodes(node: cst.CSTNode):
    """``node`` and every node below it that is not whitespace or punctuation, in
    source order. For the few questions asked of one small subtree (a statement,
    one function); the file-wide facts come from :func:`collect`."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = _child_nodes(current)
        children.reverse()
        stack.extend(children)


def _module_text(node: cst.BaseExpression | None) -> str:
    return dotted_name(node) or ""


class _Walker:
    def __init__(self, module: cst.Module) -> None:
        self.order = 0
        scope = F.Scope(node=module, order=0, kind="module", name="<module>")
        self.facts = F.FileFacts(module=module, scope=scope)
        self.scope: F.Scope = scope
        self.loop: F.Loop | None = None
        self.with_: F.With | None = None
        self.branch: F.Branch | None = None
        self.statement: cst.CSTNode = module
        self.indents: tuple[str, ...] = ()
        self.default_indent = module.default_indent
        self.handlers: dict[type, Callable[[cst.CSTNode], None]] = {
            cst.Import: self.on_import,
            cst.ImportFrom: self.on_import_from,
            cst.ClassDef: self.on_class,
            cst.FunctionDef: self.on_function,
            cst.For: self.on_for,
            cst.While: self.on_while,
            cst.With: self.on_with,
            cst.If: self.on_if,
            cst.Try: self.on_try,
            cst.Assign: self.on_assign,
            cst.AnnAssign: self.on_ann_assign,
            cst.AugAssign: self.on_aug_assign,
            cst.Return: self.on_return,
            cst.Call: self.on_call,
            cst.IndentedBlock: self.on_block,
            cst.SimpleStatementLine: self.on_simple_line,
            cst.Lambda: self.on_lambda,
            cst.Match: self.on_match,
            cst.Attribute: self.on_attribute,
            cst.NamedExpr: self.on_walrus,
            cst.ListComp: self.on_comprehension,
            cst.SetComp: self.on_comprehension,
            cst.GeneratorExp: self.on_comprehension,
            cst.DictComp: self.on_comprehension,
        }

    # -- plumbing -----------------------------------------------------------

    def tick(self) -> int:
        self.order += 1
        return self.order

    def located(self, cls, node, **kw):
        return cls(node=node, scope=self.scope, order=self.tick(), loop=self.loop,
                   with_=self.with_, branch=self.branch, **kw)

    def visit(self, node: cst.CSTNode) -> None:
        self.facts.statement_of[id(node)] = self.statement
        handler = self.handlers.get(type(node))
        if handler is not None:
            handler(node)
        else:
            self.children(node)

    def children(self, node: cst.CSTNode, skip: tuple[str, ...] = ()) -> None:
        for child in _child_nodes(node, skip):
            self.visit(child)

    def enter_statement(self, node: cst.CSTNode) -> cst.CSTNode:
        previous = self.statement
        self.statement = node
        self.facts.statements.append(node)
        self.facts.statement_of[id(node)] = node
        self.facts.indent_of[id(node)] = self.indents
        return previous

    def bind_target(self, target: cst.BaseExpression, fact, path: tuple[int, ...] = ()) -> None:
        if isinstance(target, cst.Name):
            self.scope.bind(target.value, fact, fact.order, path)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for i, element in enumerate(target.elements):
                value = element.value
                if isinstance(element, cst.StarredElement):
                    value = element.value
                self.bind_target(value, fact, path + (i,))
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            function = self.scope if isinstance(self.scope, F.Function) else None
            if (
                function is not None
                and function.class_ is not None
                and function.params
                and not function.is_staticmethod
                and target.value.value == function.params[0].name
            ):
                function.class_.self_assigns.setdefault(target.attr.value, []).append(fact)
                if path:
                    function.class_.self_assign_paths[(target.attr.value, id(fact))] = path

    # -- statements -----------------------------------------------------------

    def on_simple_line(self, node: cst.SimpleStatementLine) -> None:
        for small in node.body:
            previous = self.enter_statement(small)
            self.visit(small)
            self.statement = previous

    def on_block(self, node: cst.IndentedBlock) -> None:
        indent = node.indent if node.indent is not None else self.default_indent
        self.indents = self.indents + (indent,)
        for statement in node.body:
            self.statement_dispatch(statement)
        self.indents = self.indents[:-1]

    def statement_dispatch(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            self.on_simple_line(statement)
        else:
            previous = self.enter_statement(statement)
            self.visit(statement)
            self.statement = previous

    def body(self, node: cst.BaseSuite) -> None:
        if isinstance(node, cst.SimpleStatementSuite):  # `if x: a; b` on one line
            for small in node.body:
                previous = self.enter_statement(small)
                self.visit(small)
                self.statement = previous
        else:
            self.visit(node)

    def on_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _module_text(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
                fact = F.Import(local=local, module=full, name=None, level=0, node=node)
            else:
                local = full.split(".")[0]
                fact = F.Import(local=local, module=local, name=None, level=0, node=node)
            fact.order = self.tick()
            self.facts.imports.append(fact)
            self.scope.bind(local, fact, fact.order)

    def on_import_from(self, node: cst.ImportFrom) -> None:
        module = _module_text(node.module) if node.module is not None else ""
        level = len(node.relative)
        if isinstance(node.names, cst.ImportStar):
            fact = F.Import(local="*", module=module, name="*", level=level, node=node)
            fact.order = self.tick()
            self.facts.imports.append(fact)
            return
        for alias in node.names:
            name = _module_text(alias.name)
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            fact = F.Import(local=local, module=module, name=name, level=level, node=node)
            fact.order = self.tick()
            self.facts.imports.append(fact)
            self.scope.bind(local, fact, fact.order)

    def on_class(self, node: cst.ClassDef) -> None:
        for decorator in node.decorators:
            self.visit(decorator)
        bases = tuple(arg.value for arg in node.bases)
        for arg in node.bases:
            self.visit(arg)
        cls = F.Class(node=node, order=self.tick(), kind="class", name=node.name.value,
                      parent=self.scope, bases=bases)
        self.scope.bind(cls.name, cls, cls.order)
        self.facts.classes.append(cls)
        outer = self.scope, self.loop, self.with_, self.branch
        self.scope, self.loop, self.with_, self.branch = cls, None, None, None
        self.body(node.body)
        cls.end_order = self.order
        self.scope, self.loop, self.with_, self.branch = outer

    def on_function(self, node: cst.FunctionDef) -> None:
        for decorator in node.decorators:
            self.visit(decorator)
        for param in _all_params(node.params):
            if param.default is not None:
                self.visit(param.default)
        owner = self.scope if isinstance(self.scope, F.Class) else None
        fn = F.Function(
            node=node, order=self.tick(), kind="function", name=node.name.value,
            parent=self.scope, decorators=tuple(d.decorator for d in node.decorators),
            class_=owner, is_async=node.asynchronous is not None,
        )
        for index, param in enumerate(_all_params(node.params)):
            p = F.Param(name=param.name.value, node=param, index=index,
                        default=param.default, function=fn)
            fn.params.append(p)
            fn.bind(p.name, p, fn.order)
        self.scope.bind(fn.name, fn, fn.order)
        self.scope.functions.append(fn)
        self.facts.functions.append(fn)
        if owner is not None:
            owner.methods[fn.name] = fn
        outer = self.scope, self.loop, self.with_, self.branch
        self.scope, self.loop, self.with_, self.branch = fn, None, None, None
        self.body(node.body)
        fn.end_order = self.order
        self.scope, self.loop, self.with_, self.branch = outer

    def on_attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "training":  # `self.training`: mode-dependent behaviour
            self.facts.training_reads.append((self.scope, node))
        self.children(node)

    def on_lambda(self, node: cst.Lambda) -> None:
        self.visit(node.body)

    def on_for(self, node: cst.For) -> None:
        self.visit(node.iter)
        loop = F.Loop(node=node, order=self.tick(), kind="for", target=node.target,
                      iter=node.iter, scope=self.scope, parent=self.loop,
                      with_=self.with_, branch=self.branch)
        self.facts.loops.append(loop)
        self.scope.loops.append(loop)
        outer = self.loop
        self.loop = loop
        binding = self.located(F.Assign, node, targets=(node.target,), value=node.iter, kind="for")
        self.bind_target(node.target, binding)
        self.visit(node.target)
        self.body(node.body)
        loop.end_order = self.order
        self.loop = outer
        if node.orelse is not None:
            self.visit(node.orelse)

    def on_while(self, node: cst.While) -> None:
        self.visit(node.test)
        loop = F.Loop(node=node, order=self.tick(), kind="while", iter=node.test,
                      scope=self.scope, parent=self.loop, with_=self.with_, branch=self.branch)
        self.facts.loops.append(loop)
        self.scope.loops.append(loop)
        outer = self.loop
        self.loop = loop
        self.body(node.body)
        loop.end_order = self.order
        self.loop = outer
        if node.orelse is not None:
            self.visit(node.orelse)

    def on_comprehension(self, node: cst.CSTNode) -> None:
        # A comprehension iterates like a loop: `[model(x) for x in loader]`.
        loop = F.Loop(node=node, order=self.tick(), kind="comprehension",
                      scope=self.scope, parent=self.loop, with_=self.with_, branch=self.branch)
        self.facts.loops.append(loop)
        self.scope.loops.append(loop)
        outer = self.loop
        self.loop = loop
        clause = node.for_in  # type: ignore[attr-defined]
        loop.target, loop.iter = clause.target, clause.iter
        while clause is not None:
            self.visit(clause.iter)
            binding = self.located(F.Assign, clause, targets=(clause.target,),
                                   value=clause.iter, kind="for")
            self.bind_target(clause.target, binding)
            for condition in clause.ifs:
                self.visit(condition)
            clause = clause.inner_for_in
        self.children(node, skip=("for_in",))
        loop.end_order = self.order
        self.loop = outer

    def on_with(self, node: cst.With) -> None:
        block = F.With(node=node, order=self.tick(), items=tuple(node.items),
                       scope=self.scope, parent=self.with_)
        for item in node.items:
            self.visit(item.item)
            if item.asname is not None:
                binding = self.located(F.Assign, item, targets=(item.asname.name,),
                                       value=item.item, kind="with")
                self.bind_target(item.asname.name, binding)
        self.facts.withs.append(block)
        self.scope.withs.append(block)
        outer = self.with_
        self.with_ = block
        self.body(node.body)
        block.end_order = self.order
        self.with_ = outer

    def arm(self, body: cst.CSTNode, test: cst.BaseExpression | None, arm: str) -> None:
        branch = F.Branch(node=body, order=self.tick(), test=test, arm=arm,
                          scope=self.scope, parent=self.branch)
        outer = self.branch
        self.branch = branch
        if isinstance(body, (cst.Else, cst.Finally, cst.ExceptHandler)):
            if isinstance(body, cst.ExceptHandler) and body.type is not None:
                self.visit(body.type)
            self.body(body.body)
        elif isinstance(body, cst.If):
            self.facts.elifs.add(id(body))
            self.statement_dispatch(body)  # elif: a statement of its own
        else:
            self.body(body)  # type: ignore[arg-type]
        branch.end_order = self.order
        self.branch = outer

    def on_if(self, node: cst.If) -> None:
        self.visit(node.test)
        self.arm(node.body, node.test, "body")
        if node.orelse is not None:
            self.arm(node.orelse, node.test, "orelse")

    def on_match(self, node: cst.Match) -> None:
        self.visit(node.subject)
        indent = node.indent if node.indent is not None else self.default_indent
        self.indents = self.indents + (indent,)  # cases are indented inside `match`
        for case in node.cases:
            self.visit(case.pattern)
            if case.guard is not None:
                self.visit(case.guard)
            self.arm(case.body, None, "case")
        self.indents = self.indents[:-1]

    def on_try(self, node: cst.Try) -> None:
        self.body(node.body)
        for handler in node.handlers:
            self.arm(handler, None, "except")
        if node.orelse is not None:
            self.arm(node.orelse, None, "else")
        if node.finalbody is not None:
            self.body(node.finalbody.body)

    def on_assign(self, node: cst.Assign) -> None:
        self.visit(node.value)
        targets = tuple(t.target for t in node.targets)
        fact = self.located(F.Assign, node, targets=targets, value=node.value)
        self.facts.assigns.append(fact)
        self.scope.assigns.append(fact)
        for target in targets:
            self.bind_target(target, fact)
            self.visit(target)

    def on_ann_assign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        fact = self.located(F.Assign, node, targets=(node.target,), value=node.value,
                            kind="annassign")
        if node.value is not None:
            self.facts.assigns.append(fact)
            self.scope.assigns.append(fact)
            self.bind_target(node.target, fact)
        self.visit(node.target)

    def on_walrus(self, node: cst.NamedExpr) -> None:
        self.visit(node.value)
        fact = self.located(F.Assign, node, targets=(node.target,), value=node.value, kind="walrus")
        self.facts.assigns.append(fact)
        self.scope.assigns.append(fact)
        self.bind_target(node.target, fact)

    def on_aug_assign(self, node: cst.AugAssign) -> None:
        self.visit(node.value)
        self.visit(node.target)
        fact = self.located(F.AugAssign, node, target=node.target,
                            operator=type(node.operator).__name__, value=node.value)
        self.facts.aug_assigns.append(fact)
        self.scope.aug_assigns.append(fact)

    def on_return(self, node: cst.Return) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.scope.returns.append(self.located(F.Return, node, value=node.value))

    def on_call(self, node: cst.Call) -> None:
        # The callee and arguments are visited first: in `a(b(x))` b runs before a,
        # and order numbers follow evaluation order for calls.
        self.visit(node.func)
        for arg in node.args:
            self.visit(arg.value)
        func = node.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        receiver = func.value if isinstance(func, cst.Attribute) else None
        if isinstance(func, cst.Name):
            method = None
        fact = self.located(F.Call, node, func=func, dotted=dotted_name(func),
                            method=method, receiver=receiver)
        self.facts.calls.append(fact)
        self.facts.call_of[id(node)] = fact
        self.scope.calls.append(fact)


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    found = list(params.posonly_params) + list(params.params)
    if isinstance(params.star_arg, cst.Param):
        found.append(params.star_arg)
    found.extend(params.kwonly_params)
    if params.star_kwarg is not None:
        found.append(params.star_kwarg)
    return found


def collect(module: cst.Module) -> F.FileFacts:
    """Walk `module` once and return everything the rules need to know."""
    walker = _Walker(module)
    for statement in module.body:
        walker.statement_dispatch(statement)
    walker.facts.scope.end_order = walker.order
    return walker.facts
