"""Facts about one file, collected by the engine's single traversal.

Every fact records where it sits: its scope (module, class body or
function), the innermost loop, ``with`` block and ``if`` branch around it,
and an ``order`` number that grows in source order. Blocks record the order
range they span, so "is this call inside that loop" is a comparison of two
integers, never a second walk of the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import libcst as cst


@dataclass(eq=False)
class Block:
    """A span of the file: a scope, loop, ``with`` or ``if`` arm."""

    node: cst.CSTNode
    order: int
    end_order: int = 0

    def contains(self, fact: Located | Block) -> bool:
        return self.order < fact.order <= self.end_order


@dataclass(eq=False)
class Located:
    """Shared position data of every fact that sits at one place."""

    node: cst.CSTNode
    scope: Scope
    order: int
    loop: Loop | None
    with_: With | None
    branch: Branch | None


@dataclass(eq=False)
class Loop(Block):
    kind: str = "for"  # for | while | comprehension
    target: cst.BaseExpression | None = None
    iter: cst.BaseExpression | None = None  # for loops: what is iterated; while: the test
    scope: Scope | None = None
    parent: Loop | None = None
    with_: With | None = None
    branch: Branch | None = None


@dataclass(eq=False)
class With(Block):
    items: tuple[cst.WithItem, ...] = ()
    scope: Scope | None = None
    parent: With | None = None


@dataclass(eq=False)
class Branch(Block):
    """One arm of an ``if`` (``arm`` is "body" or "orelse") or a ``try`` part."""

    test: cst.BaseExpression | None = None
    arm: str = "body"
    scope: Scope | None = None
    parent: Branch | None = None


def exclusive(first: Branch | None, second: Branch | None) -> bool:
    """Whether code in arm `first` and code in arm `second` never both run: they
    sit in different arms of one ``if`` (``if a: x = 1`` / ``else: y = 2``)."""
    arms: dict[int, str] = {}
    branch = first
    while branch is not None:
        if branch.test is not None:
            arms[id(branch.test)] = branch.arm
        branch = branch.parent
    branch = second
    while branch is not None:
        if branch.test is not None and arms.get(id(branch.test), branch.arm) != branch.arm:
            return True
        branch = branch.parent
    return False


@dataclass(eq=False)
class Call(Located):
    func: cst.BaseExpression = None  # type: ignore[assignment]
    dotted: str | None = None  # "model.eval", "F.dropout", None for computed callees
    method: str | None = None  # last attribute of the callee, "eval"
    receiver: cst.BaseExpression | None = None  # what the method is called on

    @property
    def args(self) -> tuple[cst.Arg, ...]:
        return self.node.args  # type: ignore[attr-defined]

    def keyword(self, name: str) -> cst.BaseExpression | None:
        for arg in self.args:
            if arg.keyword is not None and arg.keyword.value == name:
                return arg.value
        return None

    def positional(self, index: int) -> cst.BaseExpression | None:
        plain = [a for a in self.args if a.keyword is None and not a.star]
        return plain[index].value if 0 <= index < len(plain) else None

    def argument(self, index: int, name: str) -> cst.BaseExpression | None:
        """The argument given by keyword `name` or at position `index`."""
        value = self.keyword(name)
        return value if value is not None else self.positional(index)

    def bound_argument(self, param: Param) -> cst.BaseExpression | None:
        """What this call of a method through its instance, or of a class, gives
        `param` of the method (`__init__`): see :func:`bound_argument`."""
        return bound_argument(self.node, param)  # type: ignore[arg-type]


def bound_argument(call: cst.Call, param: Param, *, default: bool = True,
                   receiver: bool = True) -> cst.BaseExpression | None:
    """What `call`, of a method through its instance or of a class (the instance
    not written; `receiver=False` for a call that fills every parameter itself,
    as a plain function's does), gives `param`: by keyword, by position, else
    (with `default`) the parameter's default; None when `*args` or `**kwargs`
    may hold it."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == param.name:
            return arg.value
    positional = [arg for arg in call.args if arg.keyword is None]
    index = param.index - 1 if receiver else param.index
    if any(arg.star for arg in positional[: index + 1]):
        return None  # `*args` at or before its position: which argument it is is unknown
    if 0 <= index < len(positional):
        return positional[index].value
    if not default or any(arg.star for arg in call.args):
        return None
    return param.default


@dataclass(eq=False)
class Assign(Located):
    """``targets = value``; also ``for target in ...`` and ``with ... as target``
    bindings (with ``value`` set to the iterated or entered expression)."""

    targets: tuple[cst.BaseExpression, ...] = ()
    value: cst.BaseExpression | None = None
    kind: str = "assign"  # assign | annassign | for | with | walrus


@dataclass(eq=False)
class AugAssign(Located):
    target: cst.BaseExpression = None  # type: ignore[assignment]
    operator: str = "+="
    value: cst.BaseExpression = None  # type: ignore[assignment]


@dataclass(eq=False)
class Return(Located):
    value: cst.BaseExpression | None = None


@dataclass(eq=False)
class Binding:
    """A name bound in a scope, with the fact that bound it."""

    name: str
    fact: Union[Assign, "Function", "Class", "Import", "Param"]
    order: int
    # For a name inside a tuple target, the index path into the value:
    # ``a, (b, c) = v`` binds c with path (1, 1).
    path: tuple[int, ...] = ()


@dataclass(eq=False)
class Param:
    name: str
    node: cst.Param
    index: int  # position among the function's parameters (self included)
    default: cst.BaseExpression | None = None
    function: Function | None = None


@dataclass(eq=False)
class Import:
    """``import a.b as c`` / ``from .m import n as c``: ``module`` is absolute
    text ("torch.nn", "models") with ``level`` leading dots; ``name`` is the
    imported name for from-imports (``"*"`` for a star import)."""

    local: str
    module: str
    name: str | None
    level: int
    node: cst.CSTNode
    order: int = 0

    @property
    def qualified(self) -> str:
        dots = "." * self.level
        if self.name is None:
            return dots + self.module
        return f"{dots}{self.module}.{self.name}" if self.module else f"{dots}{self.name}"


@dataclass(eq=False)
class Scope(Block):
    kind: str = "module"  # module | class | function
    name: str = ""
    parent: Scope | None = None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    assigns: list[Assign] = field(default_factory=list)
    aug_assigns: list[AugAssign] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    withs: list[With] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)  # defined directly here

    def bind(self, name: str, fact: object, order: int, path: tuple[int, ...] = ()) -> None:
        self.bindings.setdefault(name, []).append(Binding(name, fact, order, path))  # type: ignore[arg-type]

    @property
    def function(self) -> Function | None:
        """The innermost function this scope is or sits in."""
        scope: Scope | None = self
        while scope is not None and not isinstance(scope, Function):
            scope = scope.parent
        return scope


@dataclass(eq=False)
class Function(Scope):
    params: list[Param] = field(default_factory=list)
    decorators: tuple[cst.BaseExpression, ...] = ()
    class_: Class | None = None  # set for methods
    is_async: bool = False

    @property
    def qualname(self) -> str:
        return f"{self.class_.name}.{self.name}" if self.class_ else self.name

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    @property
    def is_staticmethod(self) -> bool:
        return self.class_ is not None and "staticmethod" in self._decorator_names

    @property
    def is_classmethod(self) -> bool:
        return self.class_ is not None and "classmethod" in self._decorator_names

    @property
    def _decorator_names(self) -> set[str]:
        """The last part of each decorator's name (``abc.abstractmethod`` -> abstractmethod)."""
        found = set()
        for decorator in self.decorators:
            if isinstance(decorator, cst.Name):
                found.add(decorator.value)
            elif isinstance(decorator, cst.Attribute):
                found.add(decorator.attr.value)
        return found


@dataclass(eq=False)
class Class(Scope):
    bases: tuple[cst.BaseExpression, ...] = ()
    methods: dict[str, Function] = field(default_factory=dict)
    # ``self.<attr> = value`` anywhere in the class's methods, in source order.
    self_assigns: dict[str, list[Assign]] = field(default_factory=dict)
    # For ``self.a, self.b = x, y``: (attr, id(assign)) -> the index path of the
    # attribute in the tuple target (as :attr:`Binding.path`); absent for plain targets.
    self_assign_paths: dict[tuple[str, int], tuple[int, ...]] = field(default_factory=dict)
    # The self attributes its methods use as layers: evidence.layer_attributes fills it on first use.
    layer_attributes: frozenset[str] | None = None

    def self_assign_path(self, attr: str, assign: Assign) -> tuple[int, ...]:
        return self.self_assign_paths.get((attr, id(assign)), ())


@dataclass(eq=False)
class FileFacts:
    module: cst.Module
    scope: Scope  # the module scope
    imports: list[Import] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)  # every function, nested too
    classes: list[Class] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    assigns: list[Assign] = field(default_factory=list)
    aug_assigns: list[AugAssign] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    withs: list[With] = field(default_factory=list)
    # For the locator: statements in pre-order, and the innermost statement
    # (and its enclosing block indentation) of every node the walk visited.
    statements: list[cst.CSTNode] = field(default_factory=list)
    statement_of: dict[int, cst.CSTNode] = field(default_factory=dict)
    indent_of: dict[int, tuple[str, ...]] = field(default_factory=dict)
    training_reads: list[tuple[Scope, cst.Attribute]] = field(default_factory=list)
    elifs: set[int] = field(default_factory=set)  # ids of `If` nodes written as `elif`
    # The fact whose node is a given node, for nodes that are facts.
    call_of: dict[int, Call] = field(default_factory=dict)

    def class_named(self, name: str) -> Class | None:
        for cls in self.classes:
            if cls.name == name and cls.parent is self.scope:
                return cls
        return None

    def function_named(self, name: str) -> Function | None:
        for fn in self.scope.functions:
            if fn.name == name:
                return fn
        return None
