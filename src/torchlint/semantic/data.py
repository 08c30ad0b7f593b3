"""Static values and data loaders: batch sizes, drop_last, dataset lengths.

Constants are recovered from literals, module constants, argparse defaults
(``args.batch_size`` with ``add_argument("--batch-size", default=32)``) and
simple config dicts, so that ``len(dataset) % batch_size`` can be computed
and quoted in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.conditions import literal, literal_strings
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup, lookup_reaching
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 8
# Following a loader made here into other files (returned by a helper, passed to a
# trainer's function): calls crossed at most, and places visited at most per file.
MAX_FLOW_HOPS = 4
MAX_FLOW_STEPS = 96
# Calls that wrap an iterable without changing its batches.
_ITER_WRAPPERS = frozenset({"enumerate", "tqdm", "iter", "zip", "trange", "progress_bar", "track"})
# Tensor methods that keep the batch dimension as it is.
_KEEPS_SAMPLES = frozenset({"to", "cuda", "cpu", "float", "double", "half", "contiguous", "detach", "clone",
                            "requires_grad_"})
# Factories whose first argument is data, not a size.
_FROM_DATA = frozenset({"torch.tensor", "torch.Tensor", "torch.FloatTensor", "torch.LongTensor", "numpy.array",
                        "torch.arange", "torch.linspace", "torch.randint", "torch.full", "torch.randperm"})
_TENSOR_FACTORIES = frozenset(
    {"torch.randn", "torch.rand", "torch.zeros", "torch.ones", "torch.empty", "torch.full",
     "torch.randint", "torch.arange", "torch.tensor", "torch.linspace", "torch.Tensor",
     "torch.FloatTensor", "torch.LongTensor", "numpy.zeros", "numpy.ones", "numpy.random.randn",
     "numpy.random.rand", "numpy.arange", "numpy.empty", "numpy.array", "torch.randperm"}
)


@dataclass(frozen=True)
class Known:
    """A statically known value and how it was found (for messages)."""

    value: Any
    how: str  # "literal", "args.batch_size default", "BATCH_SIZE = 4"


@dataclass(frozen=True)
class Env:
    """Names whose values are fixed for one use of a loader: a helper's
    parameters at one call site (``build(ds, 1)``), a comprehension variable for
    one key (``{s: DataLoader(..., batch_size=16 if s == "train" else 1) ...}``)."""

    arguments: tuple[tuple[int, cst.BaseExpression, F.Scope, int | None], ...] = ()  # (id(Param), ...)
    names: tuple[tuple[str, Known], ...] = ()

    def argument(self, param: F.Param) -> tuple[cst.BaseExpression, F.Scope, int | None] | None:
        for key, expr, scope, order in self.arguments:
            if key == id(param):
                return expr, scope, order
        return None

    def name(self, name: str) -> Known | None:
        return next((known for bound, known in self.names if bound == name), None)

    @property
    def key(self) -> tuple:
        return (tuple((k, id(e)) for k, e, _, _ in self.arguments),
                tuple((n, repr(k.value)) for n, k in self.names))


NO_ENV = Env()


@dataclass(frozen=True)
class Argument:
    """An argument of a loader call and where to evaluate it (a ``**opts`` dict
    may be written in another statement)."""

    node: cst.BaseExpression
    scope: F.Scope
    order: int | None


@dataclass(eq=False)
class Loader:
    call: F.Call  # the call that makes the batches (DataLoader(...) or a subclass's super().__init__)
    batch_size: Known | None  # None: not static
    batch_size_node: cst.BaseExpression | None  # None: the default (1) or not written at the call
    drop_last: bool | None  # None: not static
    batch_sampler: bool  # batches come from a sampler: batch_size does not apply
    dataset: cst.BaseExpression | None
    dataset_length: Known | None
    node: cst.CSTNode | None = None  # where to report: the constructing call as written here
    fixable: bool = True  # `drop_last=True` can be added to the call as written

    @property
    def last_batch(self) -> int | None:
        """Size of the last batch when both numbers are known and it is partial."""
        if self.batch_size is None or self.dataset_length is None or self.drop_last:
            return None
        size, length = self.batch_size.value, self.dataset_length.value
        if not isinstance(size, int) or not isinstance(length, int) or size <= 0:
            return None
        return length % size or None

    @property
    def one_batch(self) -> bool:
        """The whole dataset fits in one batch: every epoch sees the same single
        batch whatever the order (a smoke test on `Subset(data, range(1))`)."""
        if self.batch_sampler or self.batch_size is None or self.dataset_length is None:
            return False
        size, length = self.batch_size.value, self.dataset_length.value
        return isinstance(size, int) and isinstance(length, int) and 0 <= length <= size


@dataclass(frozen=True)
class Place:
    """Where a value is, in some project file: a scope of `facts` (at `path`)."""

    scope: F.Scope
    facts: F.FileFacts
    path: Path | None


@dataclass(eq=False)
class LoopElsewhere:
    """A loop of another project file that iterates loaders made in this file."""

    loop: F.Loop
    scope: F.Scope
    model: SemanticModel  # the model of the loop's file
    loaders: list[Loader]
    # For the loaders of a factory nobody calls: the name of the called factory of this
    # file it can replace (same returned keys or positions), whose loaders the loop iterates.
    mirrors: str | None = None


class DataFacts:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self.facts = model.facts
        self._loaders: dict[tuple, Loader] = {}
        self._elsewhere: list[LoopElsewhere] | None = None
        self._reading: list[LoopElsewhere] | None = None
        self._param_constants: dict[tuple[int, int], Known | None] = {}

    # -- constants ------------------------------------------------------------

    def constant(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                 depth: int = 0, env: Env = NO_ENV) -> Known | None:
        if node is None or depth > MAX_DEPTH:
            return None
        number = literal_number(node)
        if number is not None:
            value: Any = int(number) if number == int(number) and not isinstance(node, cst.Float) else number
            return Known(value, "literal")
        if isinstance(node, cst.SimpleString):
            return Known(node.evaluated_value, "literal")
        if isinstance(node, (cst.Name, cst.Attribute)):
            data = self._data_for(scope)
            if data is not self:  # written in another project file (a caller's argument)
                return data.constant(node, scope, order, depth, env)
        if isinstance(node, cst.Name):
            if node.value in ("True", "False"):
                return Known(node.value == "True", "literal")
            return self._name_constant(node, scope, order, depth, env)
        if isinstance(node, cst.Attribute):
            return self._argparse_default(node, scope, order) or self._attribute_constant(node, scope, order, depth)
        if isinstance(node, cst.Subscript):
            return self._dict_constant(node, scope, order, depth)
        if isinstance(node, cst.IfExp):
            return self._if_constant(node, scope, order, depth, env)
        if isinstance(node, cst.Comparison):
            return self._comparison(node, scope, order, depth, env)
        if isinstance(node, cst.Call):
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" and node.args:
                key = node.args[0].value
                if isinstance(key, cst.SimpleString):
                    found = self._dict_value(node.func.value, key.evaluated_value, scope, order, depth)
                    if found is not None:
                        return found
                    if len(node.args) > 1:
                        return self.constant(node.args[1].value, scope, order, depth + 1, env)
            if dotted_name(node.func) == "int" and node.args:
                inner = self.constant(node.args[0].value, scope, order, depth + 1, env)
                if inner is not None and isinstance(inner.value, (int, float)):
                    return Known(int(inner.value), inner.how)
            return None
        if isinstance(node, cst.BinaryOperation):
            left = self.constant(node.left, scope, order, depth + 1, env)
            right = self.constant(node.right, scope, order, depth + 1, env)
            if left is None or right is None:
                return None
            try:
                value = _arith(node.operator, left.value, right.value)
            except (TypeError, ZeroDivisionError, ValueError):
                return None
            if value is None:
                return None
            return Known(value, left.how if left.how != "literal" else right.how)
        return None

    def always_none(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None) -> bool:
        """`node` is `None`, or a name every binding of which that may reach `order`
        is `None` (`sampler = None` ... `DataLoader(ds, sampler=sampler)`); a name
        that one branch binds to a sampler is not."""
        if isinstance(node, cst.Name) and node.value == "None":
            return True
        if not isinstance(node, cst.Name):
            return False
        found = lookup_reaching(scope, node.value, order)
        if found is None:
            return False
        return all(isinstance(b.fact, F.Assign) and b.fact.kind in ("assign", "annassign") and not b.path
                   and isinstance(b.fact.value, cst.Name) and b.fact.value.value == "None" for b in found[1])

    def _name_constant(self, node: cst.Name, scope: F.Scope, order: int | None, depth: int,
                       env: Env) -> Known | None:
        found = lookup(scope, node.value, order)
        fact = found[1].fact if found is not None else None
        if fact is None or isinstance(fact, F.Assign) and fact.kind == "for":
            return env.name(node.value)  # a comprehension variable fixed for one key
        if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign"):
            value = _element(fact.value, found[1].path)  # `seq_len, batch_size = 10, 128`
            inner = self.constant(value, fact.scope, fact.order, depth + 1, env) if value is not None else None
            if inner is not None:
                how = inner.how if inner.how != "literal" else f"{node.value} = {inner.value!r}"
                return Known(inner.value, how)
        if isinstance(fact, F.Param):
            bound = env.argument(fact)
            if bound is not None:  # the argument of the one call site being analysed
                inner = self.constant(bound[0], bound[1], bound[2], depth + 1)
                if inner is not None and inner.how == "literal":
                    return Known(inner.value, f"{node.value}={inner.value!r} at {self.model.where(bound[0])}")
                return inner
            return self._param_constant(fact, depth)
        return None

    def _param_constant(self, param: F.Param, depth: int) -> Known | None:
        """A parameter is known when every call site, in any project file, passes the
        same constant (`batch_data(..., batch_size)` twice), or none passes it and it
        has a default. Remembered per parameter and depth: call sites that pass
        parameters on would otherwise be re-evaluated exponentially."""
        key = (id(param), depth)
        if key in self._param_constants:
            return self._param_constants[key]
        self._param_constants[key] = None  # recursion guard
        unfinished_before = self.model.unfinished_answers
        found = None
        sites = self.model.arguments_across(param, self.facts)
        if sites:
            values = [self._data_for(site.call.scope).constant(site.argument, site.call.scope, site.call.order,
                                                               depth + 1) for site in sites]
            if all(v is not None for v in values) and len({repr(v.value) for v in values}) == 1:
                found = values[0]
                if found.how == "literal" and any(site.facts is not self.facts for site in sites):
                    where = self.model.where(sites[0].argument, sites[0].facts)
                    found = Known(found.value, f"{param.name}={found.value!r} at {where}")
        elif param.default is not None and param.function is not None \
                and self.model.callers(param.function, self.facts):
            inner = self.constant(param.default, param.function.parent or self.facts.scope,
                                  param.function.order, depth + 1)
            if inner is not None:
                found = Known(inner.value, f"default of {param.name}")
        if self.model.unfinished_answers == unfinished_before:
            self._param_constants[key] = found
        else:
            del self._param_constants[key]  # built on an unfinished caller search: ask again later
        return found

    def _data_for(self, scope: F.Scope) -> DataFacts:
        """The data facts of the project file `scope` is in (values written in a
        caller's file are read with that file's names and argparse options)."""
        root = scope
        while root.parent is not None:
            root = root.parent
        if root is self.facts.scope:
            return self
        facts, path = self.model.home_of_scope(root)
        return self if facts is self.facts else self.model.model_for(facts, path).data

    def _if_constant(self, node: cst.IfExp, scope: F.Scope, order: int | None, depth: int,
                     env: Env) -> Known | None:
        """``16 if split == "train" else 1``: the chosen arm when the test is known,
        else the value both arms agree on."""
        test = self.constant(node.test, scope, order, depth + 1, env)
        if test is not None and isinstance(test.value, (bool, int, float, str)):
            return self.constant(node.body if test.value else node.orelse, scope, order, depth + 1, env)
        body = self.constant(node.body, scope, order, depth + 1, env)
        orelse = self.constant(node.orelse, scope, order, depth + 1, env)
        if body is not None and orelse is not None and repr(body.value) == repr(orelse.value):
            return body
        return None

    def _comparison(self, node: cst.Comparison, scope: F.Scope, order: int | None, depth: int,
                    env: Env) -> Known | None:
        """``split == "train"`` with both sides known (one comparison only)."""
        if len(node.comparisons) != 1:
            return None
        target = node.comparisons[0]
        left = self.constant(node.left, scope, order, depth + 1, env)
        right = self.constant(target.comparator, scope, order, depth + 1, env)
        if left is None or right is None:
            return None
        operator = target.operator
        if isinstance(operator, (cst.Equal, cst.Is)):
            return Known(left.value == right.value, left.how)
        if isinstance(operator, (cst.NotEqual, cst.IsNot)):
            return Known(left.value != right.value, left.how)
        return None

    def _argparse_default(self, node: cst.Attribute, scope: F.Scope, order: int | None) -> Known | None:
        """``args.batch_size`` -> the default of ``add_argument('--batch-size', ...)``."""
        receiver = dotted_name(node.value)
        if receiver is None:
            return None
        attr = node.attr.value
        for call in self.facts.calls:
            if call.method != "add_argument":
                continue
            dest = call.keyword("dest")
            names = [a.value.evaluated_value for a in call.args
                     if a.keyword is None and isinstance(a.value, cst.SimpleString)]
            matched = isinstance(dest, cst.SimpleString) and dest.evaluated_value == attr
            for name in names:
                if isinstance(name, str) and name.lstrip("-").replace("-", "_") == attr and name.startswith("-"):
                    matched = matched or name.startswith("--") or len(names) == 1
                elif isinstance(name, str) and name == attr:
                    matched = True
            if not matched:
                continue
            default = call.keyword("default")
            if default is None:
                return None
            found = self.constant(default, call.scope, call.order)
            if found is not None:
                return Known(found.value, f"default of {receiver}.{attr}")
        return None

    def _attribute_constant(self, node: cst.Attribute, scope: F.Scope, order: int | None,
                            depth: int) -> Known | None:
        """``Config.BATCH_SIZE`` for a class attribute of a local class; ``self.size_average``
        inside a method, when every ``self.size_average = ...`` of its class holds one constant."""
        own = self._own_attribute_constant(node, scope, depth)
        if own is not None:
            return own
        definition = self.model.resolver.definition(node.value, scope, order, self.facts, self.model.path)
        if definition is None or not isinstance(definition.fact, F.Class):
            return None
        bindings = definition.fact.bindings.get(node.attr.value)
        if not bindings:
            return None
        fact = bindings[-1].fact
        if isinstance(fact, F.Assign):
            return self.constant(fact.value, fact.scope, fact.order, depth + 1)
        return None

    def _own_attribute_constant(self, node: cst.Attribute, scope: F.Scope, depth: int) -> Known | None:
        function = scope
        while function is not None and not (isinstance(function, F.Function) and function.class_ is not None):
            function = function.parent
        if function is None or not isinstance(node.value, cst.Name) or not function.params \
                or function.params[0].name != node.value.value or function.is_staticmethod:
            return None
        cls = function.class_
        assigns = cls.self_assigns.get(node.attr.value, [])
        if not assigns or any(cls.self_assign_path(node.attr.value, a) or a.kind != "assign" for a in assigns):
            return None
        found = [self.constant(a.value, a.scope, a.order, depth + 1) for a in assigns]
        if any(k is None for k in found) or len({repr(k.value) for k in found}) != 1:
            return None
        return found[0]

    def _dict_constant(self, node: cst.Subscript, scope: F.Scope, order: int | None,
                       depth: int) -> Known | None:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None
        key = node.slice[0].slice.value
        if not isinstance(key, cst.SimpleString):
            return None
        return self._dict_value(node.value, key.evaluated_value, scope, order, depth)

    def _dict_value(self, container: cst.BaseExpression, key: Any, scope: F.Scope,
                    order: int | None, depth: int) -> Known | None:
        if not isinstance(container, cst.Name):
            return None
        found = lookup(scope, container.value, order)
        if found is None or not isinstance(found[1].fact, F.Assign):
            return None
        value = found[1].fact.value
        if isinstance(value, cst.Dict):
            for element in value.elements:
                if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString) \
                        and element.key.evaluated_value == key:
                    inner = self.constant(element.value, found[1].fact.scope, found[1].fact.order, depth + 1)
                    if inner is not None:
                        return Known(inner.value, f"{container.value}[{key!r}]")
        if isinstance(value, cst.Call) and dotted_name(value.func) == "dict":
            for arg in value.args:
                if arg.keyword is not None and arg.keyword.value == key:
                    inner = self.constant(arg.value, found[1].fact.scope, found[1].fact.order, depth + 1)
                    if inner is not None:
                        return Known(inner.value, f"{container.value}[{key!r}]")
        return None

    # -- dataset lengths --------------------------------------------------------

    def length(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
               depth: int = 0, path: tuple[int, ...] = (), env: Env = NO_ENV) -> Known | None:
        """The number of items of a dataset, tensor, list or range, when static."""
        if node is None or depth > MAX_DEPTH:
            return None
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None:
                return None
            fact = found[1].fact
            if isinstance(fact, F.Param) and not path:
                return self._param_length(fact, depth, env)
            if not isinstance(fact, F.Assign) or fact.kind != "assign":
                return None
            if isinstance(fact.value, cst.List) and _grown(node.value, fact):
                return None  # `parts = []` then `parts.append(...)`
            return self.length(fact.value, fact.scope, fact.order, depth + 1, found[1].path + path)
        if isinstance(node, (cst.List, cst.Tuple)) and path:
            element = _element(node, path[:1])  # `x, y = torch.randn(100, 4), ...`
            return self.length(element, scope, order, depth + 1, path[1:]) if element is not None else None
        if isinstance(node, (cst.List, cst.Tuple)) and not path:
            if any(isinstance(e, cst.StarredElement) for e in node.elements):
                return None
            return Known(len(node.elements), "literal")
        if isinstance(node, cst.Subscript) and not path:
            return self._slice_length(node, scope, order, depth) or self._item_length(node, scope, order,
                                                                                      depth, env)
        if not isinstance(node, cst.Call):
            return None
        qualified = self.model.names.qualified(node.func, scope, order)
        kind = self.model.symbols.function_kind(qualified)
        args = [a for a in node.args if a.keyword is None and not a.star]
        if kind == "random_split" and path and len(args) > 1:
            lengths = args[1].value
            if isinstance(lengths, (cst.List, cst.Tuple)) and path[0] < len(lengths.elements):
                return self.constant(lengths.elements[path[0]].value, scope, order, depth + 1)
            return None
        if path:
            return None
        if kind == "tensor_dataset" and args:
            return self.length(args[0].value, scope, order, depth + 1)
        if kind == "subset" and len(args) > 1:
            return self.length(args[1].value, scope, order, depth + 1)
        name = dotted_name(node.func)
        if name in ("range",) and args:
            if len(args) == 1:
                return self.constant(args[0].value, scope, order, depth + 1)
            start = self.constant(args[0].value, scope, order, depth + 1)
            stop = self.constant(args[1].value, scope, order, depth + 1)
            if start is not None and stop is not None and isinstance(start.value, int) and isinstance(stop.value, int):
                return Known(max(stop.value - start.value, 0), stop.how)
            return None
        if name in ("list", "tuple") and args:
            return self.length(args[0].value, scope, order, depth + 1)
        if qualified in _TENSOR_FACTORIES:
            return self._tensor_rows(qualified, node, args, scope, order, depth)
        standard = self.model.symbols.dataset_size(qualified)
        if standard is not None:
            return _standard_length(standard, node, qualified)
        # An instance of a local Dataset class whose __len__ returns a constant.
        definition = self.model.resolver.definition(node.func, scope, order, self.facts, self.model.path)
        if definition is not None and isinstance(definition.fact, F.Class):
            method = definition.fact.methods.get("__len__")
            if method is not None and len(method.returns) == 1 and definition.facts is self.facts:
                ret = method.returns[0]
                found = self.constant(ret.value, method, ret.order, depth + 1)
                if found is not None and isinstance(found.value, int):
                    return Known(found.value, f"{definition.fact.name}.__len__")
        return None

    def _item_length(self, node: cst.Subscript, scope: F.Scope, order: int | None, depth: int,
                     env: Env) -> Known | None:
        """``splits["train"]``: the length of what a dict holds under that key."""
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index) \
                or not isinstance(node.value, cst.Name):
            return None
        key = self.constant(node.slice[0].slice.value, scope, order, depth + 1, env)
        found = lookup(scope, node.value.value, order)
        if key is None or found is None or not isinstance(found[1].fact, F.Assign) or found[1].path:
            return None
        stored = self._stored_under(node.value.value, key.value, found[1].fact, scope, order)
        return self.length(stored.node, stored.scope, stored.order, depth + 1) if stored is not None else None

    def _arguments_here(self, param: F.Param) -> list[tuple[F.Call, cst.BaseExpression]]:
        """(call site, argument) for the calls of this file passing `param`: values
        are read where the call is written, in this file."""
        return [(found[0], found[1]) for found in self.model.arguments_for(param, self.facts)
                if len(found) < 3 or found[2] is self.facts]

    def _param_length(self, param: F.Param, depth: int, env: Env) -> Known | None:
        """A parameter's length: of the argument at the call site analysed, or the
        one every call site of this file agrees on."""
        bound = env.argument(param)
        if bound is not None:
            return self.length(bound[0], bound[1], bound[2], depth + 1)
        sites = self._arguments_here(param)
        if not sites:
            return None
        lengths = [self.length(argument, site.scope, site.order, depth + 1) for site, argument in sites]
        if all(n is not None for n in lengths) and len({n.value for n in lengths}) == 1:
            return lengths[0]
        return None

    def _tensor_rows(self, qualified: str, node: cst.Call, args: list[cst.Arg], scope: F.Scope,
                     order: int | None, depth: int) -> Known | None:
        if qualified in ("torch.tensor", "numpy.array", "torch.Tensor", "torch.FloatTensor",
                         "torch.LongTensor"):
            return self.length(args[0].value, scope, order, depth + 1) if args else None
        if qualified in ("torch.arange", "numpy.arange", "torch.randperm"):
            return self.constant(args[0].value, scope, order, depth + 1) if len(args) == 1 else None
        if qualified == "torch.linspace":
            steps = node.args[2].value if len(node.args) > 2 else None
            return self.constant(steps, scope, order, depth + 1)
        if qualified == "torch.randint":
            size = None
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value == "size":
                    size = arg.value
            if size is None and args:
                size = args[-1].value
            if isinstance(size, (cst.Tuple, cst.List)) and size.elements:
                return self.constant(size.elements[0].value, scope, order, depth + 1)
            return None
        size_arg = node.args[0].value if node.args and node.args[0].keyword is None else None
        if size_arg is None:
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value == "size":
                    size_arg = arg.value
        if isinstance(size_arg, (cst.Tuple, cst.List)):
            return self.constant(size_arg.elements[0].value, scope, order, depth + 1) if size_arg.elements else None
        return self.constant(size_arg, scope, order, depth + 1)

    def _slice_length(self, node: cst.Subscript, scope: F.Scope, order: int | None,
                      depth: int) -> Known | None:
        if len(node.slice) < 1 or not isinstance(node.slice[0].slice, cst.Slice):
            return None
        piece = node.slice[0].slice
        if piece.step is not None:
            return None
        total = self.length(node.value, scope, order, depth + 1)
        lower = self.constant(piece.lower, scope, order, depth + 1) if piece.lower is not None else Known(0, "literal")
        upper = self.constant(piece.upper, scope, order, depth + 1) if piece.upper is not None else None
        if lower is None or not isinstance(lower.value, int):
            return None
        if upper is None:
            if total is None or lower.value < 0:
                return None
            return Known(max(total.value - lower.value, 0), total.how)
        if not isinstance(upper.value, int):
            return None
        if upper.value < 0 or lower.value < 0:
            if total is None:
                return None
            lo = lower.value + total.value if lower.value < 0 else lower.value
            hi = upper.value + total.value if upper.value < 0 else upper.value
            return Known(max(min(hi, total.value) - lo, 0), total.how)
        hi = min(upper.value, total.value) if total is not None else upper.value
        return Known(max(hi - lower.value, 0), upper.how)

    # -- loaders -----------------------------------------------------------------

    def iterated(self, loop: F.Loop) -> cst.BaseExpression | None:
        """What a loop really iterates: the X of ``enumerate(X)``, ``tqdm(X)``, ``iter(X)``."""
        node = loop.iter
        for _ in range(4):
            if not isinstance(node, cst.Call) or not node.args:
                break
            name = (dotted_name(node.func) or "").rsplit(".", 1)[-1]
            if name not in _ITER_WRAPPERS:
                break
            node = node.args[0].value
        return node

    def loaders_iterated(self, loop: F.Loop) -> list[Loader]:
        """The DataLoaders (made in this file) a loop iterates, each with the
        arguments it gets on the way there (a helper's call site, a dict key)."""
        node = self.iterated(loop)
        if node is None or loop.scope is None:
            return []
        found: dict[int, Loader] = {}
        for call, env in self.trace(node, loop.scope, loop.order):
            loader = self.loader_made_by(call, env)
            if loader is not None:
                found.setdefault(id(loader.call), loader)
        for value in self.model.values.infer(node, loop.scope, loop.order):
            if value.facts is not self.facts:
                continue
            call = value.call if value.kind == "loader" else \
                self.facts.call_of.get(id(value.origin)) if value.kind == "instance" else None
            if call is not None and id(call) not in found:
                loader = self.loader_made_by(call, NO_ENV)
                if loader is not None and id(loader.call) not in found:
                    found[id(loader.call)] = loader
        return list(found.values())

    # -- loaders iterated in other files ------------------------------------------------

    def loops_elsewhere(self) -> list[LoopElsewhere]:
        """Loops of other project files that iterate loaders made in this file: a
        helper here returns them to a script, which hands them to a trainer's loop.
        Candidates are found by following the loaders forward (returns, callers,
        arguments, tuple targets); the loop's own data flow then confirms which
        loaders of this file it iterates."""
        if self._elsewhere is not None:
            return self._elsewhere
        self._elsewhere = []
        for found in self.loops_reading_here():
            if found.model.phases.trains(found.loop, found.scope):
                found = self._trained_part(found)
                if found.loaders:
                    self._elsewhere.append(found)
                    self._elsewhere.extend(self._mirrored(found))
        return self._elsewhere

    def _trained_part(self, found: LoopElsewhere) -> LoopElsewhere:
        """The loaders a loop function shared by training and evaluation trains on:
        `run_epoch(model, loader, optimizer)` trains on what its training calls pass,
        not on what `run_epoch(model, valid_loader, None)` passes (nor on a loader no
        call site of its file shows the way in of: kept)."""
        other, function = found.model, found.scope
        if not isinstance(function, F.Function):
            return found
        evaluating = {id(phase.site) for phase in other.phases.eval_phases
                      if phase.site is not None and phase.block is function}
        if not evaluating:
            return found
        trained: set[int] = set()
        passed_somewhere: set[int] = set()
        for site in other.call_sites(function):
            passed = self.loaders_passed_at(site, other)
            passed_somewhere |= passed
            if id(site) not in evaluating:
                trained |= passed
        loaders = [loader for loader in found.loaders
                   if id(loader.call) in trained or id(loader.call) not in passed_somewhere]
        return LoopElsewhere(found.loop, found.scope, other, loaders)

    def loops_reading_here(self) -> list[LoopElsewhere]:
        """Loops of other project files, training or not, that iterate loaders made
        in this file (see :meth:`loops_elsewhere`)."""
        if self._reading is not None:
            return self._reading
        self._reading = []
        if not self.model.imports_local_modules:
            return self._reading
        made = self._loader_calls()
        if not made:
            return self._reading
        flow = _Flow(self)
        for call in made:
            flow.from_node(call.node, Place(call.scope, self.facts, self.model.path), 0)
        for loop, place in flow.sinks.values():
            if place.facts is self.facts:
                continue  # this file's loops: see loaders_iterated
            other = self.model.model_for(place.facts, place.path)
            loaders = self._loaders_from_values(other, loop, made)
            if loaders:
                self._reading.append(LoopElsewhere(loop, place.scope, other, loaders))
        return self._reading

    def loaders_passed_at(self, site: F.Call, site_model: SemanticModel) -> set[int]:
        """The loader calls of this file (by id) that the arguments of `site`, a call
        in `site_model`'s file, hold: `run_epoch(model, valid_loader, None)`."""
        made = {id(call) for call in self._loader_calls()}
        found: set[int] = set()
        for argument in site.args:
            for value in site_model.values.infer(argument.value, site.scope, site.order):
                call = value.call if value.kind == "loader" else \
                    self.facts.call_of.get(id(value.origin)) if value.kind == "instance" else None
                loader = self.loader_made_by(call, NO_ENV) \
                    if value.facts is self.facts and call is not None and id(call) in made else None
                if loader is not None:
                    found.add(id(loader.call))
        return found

    def _mirrored(self, found: LoopElsewhere) -> list[LoopElsewhere]:
        """Loader factories of this file that nobody in the run calls (alternatives
        offered to the user: `loaders_from_one_folder` beside `loaders_from_two`)
        and that return loaders under the same dict keys or tuple positions as a
        factory whose loaders `found.loop` trains on: their loaders under those
        keys would be trained on the same way."""
        mirrored = []
        factories = {id(f): f for f in (loader.call.scope.function for loader in found.loaders) if f}
        for factory in sorted(factories.values(), key=lambda function: function.order):
            shape = self._returned_loaders(factory)
            trained = {id(loader.call) for loader in found.loaders}
            keys = {key for key, calls in shape.items() if any(id(call) in trained for call in calls)}
            iterated_key = self._iterated_key(found)
            if iterated_key is not None:  # `loaders[stage]` in the "train" pass: that key only
                keys &= {iterated_key}
            if not keys:
                continue
            for sibling in (factory.parent or self.facts.scope).functions:
                if sibling is factory or not sibling.returns:
                    continue
                other = self._returned_loaders(sibling)
                if set(other) != set(shape) or self.model.callers(sibling, self.facts):
                    continue
                loaders = [self.loader_made_by(call, NO_ENV) for key in keys for call in other[key]]
                loaders = list({id(l.call): l for l in loaders if l is not None}.values())
                if loaders:
                    mirrored.append(LoopElsewhere(found.loop, found.scope, found.model, loaders, factory.name))
        return mirrored

    def _iterated_key(self, found: LoopElsewhere) -> object:
        """The dict key the loop iterates, when known: ``loaders["train"]``, or
        ``loaders[stage]`` in the training pass of ``for stage in ("train", "val")``."""
        node = self.iterated(found.loop)
        if not isinstance(node, cst.Subscript) or len(node.slice) != 1 \
                or not isinstance(node.slice[0].slice, cst.Index):
            return None
        index = node.slice[0].slice.value
        if isinstance(index, cst.SimpleString):
            return index.evaluated_value
        phase = found.model.phases.training_pass(found.loop)
        if isinstance(index, cst.Name) and phase is not None:
            return phase.assumptions.get(index.value)
        return None

    def _returned_loaders(self, function: F.Function) -> dict[object, list[F.Call]]:
        """The loader calls `function` returns, by the dict key or tuple position
        they are returned under (None: the loader itself is returned)."""
        shape: dict[object, list[F.Call]] = {}
        for ret in function.returns:
            value, scope, order = ret.value, function, ret.order
            if isinstance(value, cst.Name):  # `return loaders`, bound once before
                found = lookup(function, value.value, ret.order)
                fact = found[1].fact if found is not None else None
                if isinstance(fact, F.Assign) and fact.kind == "assign" and not found[1].path:
                    value, scope, order = fact.value, fact.scope, fact.order
            for key, part in _returned_parts(value):
                calls = [call for call, _ in self.trace(part, scope, order)
                         if self._is_dataloader(call) or self._loader_class(call)]
                if calls:
                    for each in key:
                        shape.setdefault(each, []).extend(calls)
        return shape

    def _loader_calls(self) -> list[F.Call]:
        """The calls of this file that make loaders (DataLoader, a local subclass)."""
        subclasses = {cls.name for cls in self.facts.classes if cls.bases and self._derives_from_loader(cls)}
        return [call for call in self.facts.calls if self._is_dataloader(call)
                or subclasses and (call.method or call.dotted) in subclasses and self._loader_class(call)]

    def _loaders_from_values(self, other: SemanticModel, loop: F.Loop, made: list[F.Call]) -> list[Loader]:
        """The loaders of this file (among `made`) the loop of `other`'s file iterates."""
        node = self.iterated(loop)
        if node is None or loop.scope is None:
            return []
        ids = {id(call) for call in made}
        found: dict[int, Loader] = {}
        for value in other.values.infer(node, loop.scope, loop.order):
            call = value.call if value.kind == "loader" else \
                self.facts.call_of.get(id(value.origin)) if value.kind == "instance" else None
            if value.facts is not self.facts or call is None or id(call) not in ids:
                continue
            loader = self.loader_made_by(call, NO_ENV)
            if loader is not None:
                found.setdefault(id(loader.call), loader)
        return sorted(found.values(), key=lambda loader: loader.call.order)  # values come as a set

    # -- single samples ---------------------------------------------------------------

    def single_sample(self, node: cst.BaseExpression, scope: F.Scope, order: int | None,
                      depth: int = 0) -> cst.BaseExpression | None:
        """The expression that makes `node` a batch of exactly one sample, if it is
        one: ``x.unsqueeze(0)``, ``x[None]``, ``x.view(1, ...)``, ``torch.rand(1, 3,
        H, W)``, or ``item.view(-1, 3, H, W)`` of one dataset item (``dataset[i][0]``).
        Names, ``.to()``/``.cuda()`` and ``Variable(...)`` are followed."""
        if depth > 6:
            return None
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None or found[1].path or not isinstance(found[1].fact, F.Assign) \
                    or found[1].fact.kind != "assign" or found[1].fact.value is None:
                return None
            fact = found[1].fact
            return self.single_sample(fact.value, fact.scope, fact.order, depth + 1)
        if isinstance(node, cst.Subscript):
            index = node.slice[0].slice if node.slice else None
            if isinstance(index, cst.Index) and isinstance(index.value, cst.Name) and index.value.value == "None":
                return node
            return None
        if not isinstance(node, cst.Call):
            return None
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _KEEPS_SAMPLES:
            return self.single_sample(node.func.value, scope, order, depth + 1)
        if not node.args:
            return None
        first = node.args[0].value
        qualified = self.model.names.qualified(node.func, scope, order)
        if qualified in _TENSOR_FACTORIES and qualified not in _FROM_DATA and len(node.args) > 1 \
                and literal_number(first) == 1 and all(a.keyword is None for a in node.args[:2]):
            return node  # torch.rand(1, 3, 224, 224)
        if qualified in ("torch.autograd.Variable", "torch.autograd.variable.Variable"):
            return self.single_sample(first, scope, order, depth + 1)
        if not isinstance(node.func, cst.Attribute):
            return None
        method = node.func.attr.value
        if method == "unsqueeze" and literal_number(first) == 0:
            return node
        if method in ("view", "reshape"):
            shape = first.elements if isinstance(first, (cst.Tuple, cst.List)) else node.args
            head = literal_number(shape[0].value) if shape else None
            if head == 1 and len(shape) > 1:
                return node
            if head == -1 and len(shape) > 2 and self._dataset_item(node.func.value, scope, order):
                return node  # one item's elements, regrouped under a new batch dimension
            return None
        return None

    def _dataset_item(self, node: cst.BaseExpression, scope: F.Scope, order: int | None,
                      depth: int = 0) -> bool:
        """``dataset[3]`` or ``dataset[3][0]``: one item of an instance of a local
        class that defines ``__getitem__`` (one sample, without a batch dimension)."""
        if depth > 4:
            return False
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)  # `image, label = dataset[3]`: a part of one item
            if found is None or not isinstance(found[1].fact, F.Assign) or found[1].fact.kind != "assign" \
                    or found[1].fact.value is None:
                return False
            fact = found[1].fact
            return self._dataset_item(fact.value, fact.scope, fact.order, depth + 1)
        if not isinstance(node, cst.Subscript) or len(node.slice) != 1 \
                or not isinstance(node.slice[0].slice, cst.Index):
            return False
        if self._dataset_item(node.value, scope, order, depth + 1):
            return True  # a part of an item
        for value in self.model.values.infer(node.value, scope, order):
            definition = value.definition if value.kind == "instance" else None
            if definition is not None and isinstance(definition.fact, F.Class) \
                    and "__getitem__" in definition.fact.methods and "__len__" in definition.fact.methods:
                return True
        return False

    # -- where a loader comes from -------------------------------------------------

    def trace(self, node: cst.BaseExpression, scope: F.Scope, order: int | None, env: Env = NO_ENV,
              depth: int = 0, path: tuple[int, ...] = ()) -> list[tuple[F.Call, Env]]:
        """The loader-making calls of this file that `node` may hold, each with the
        names fixed on the way: ``build_loader(ds, 1)`` binds the helper's
        parameters, ``loaders["train"]`` binds a dict comprehension's variable."""
        if depth > MAX_DEPTH:
            return []
        if isinstance(node, (cst.Tuple, cst.List)) and path:
            element = _element(node, path[:1])
            return self.trace(element, scope, order, env, depth + 1, path[1:]) if element is not None else []
        if isinstance(node, cst.Call):
            return self._trace_call(node, scope, order, env, depth, path)
        if isinstance(node, cst.Name):
            return self._trace_name(node, scope, order, env, depth, path)
        if isinstance(node, cst.Subscript) and not path:
            return self._trace_item(node, scope, order, env, depth)
        return []

    def _trace_call(self, node: cst.Call, scope: F.Scope, order: int | None, env: Env, depth: int,
                    path: tuple[int, ...]) -> list[tuple[F.Call, Env]]:
        call = self.facts.call_of.get(id(node))
        if call is None:
            return []
        wrapper = (dotted_name(node.func) or "").rsplit(".", 1)[-1]
        if wrapper in _ITER_WRAPPERS and node.args and not path:  # `with tqdm(loader) as bar:`
            return self.trace(node.args[0].value, scope, order, env, depth + 1)
        if not path and (self._is_dataloader(call) or self._loader_class(call) is not None):
            return [(call, env)]
        helper = self.model.local_function(call)
        if helper is None or helper.facts is not self.facts or not isinstance(helper.fact, F.Function):
            return []
        function = helper.fact
        site_env = self.site_env(function, call)
        found = []
        for ret in function.returns:
            if ret.value is not None:
                found.extend(self.trace(ret.value, function, ret.order, site_env, depth + 1, path))
        return found

    def _trace_name(self, node: cst.Name, scope: F.Scope, order: int | None, env: Env, depth: int,
                    path: tuple[int, ...]) -> list[tuple[F.Call, Env]]:
        found = lookup_reaching(scope, node.value, order)
        if found is None:
            return []
        # Every binding that may reach the use: `if args.a: loader = DataLoader(...)
        # else: loader = DataLoader(...)` hands either loader on.
        result = []
        for binding in found[1]:
            result.extend(self._trace_binding(binding, env, depth, path))
        return result

    def _trace_binding(self, binding: F.Binding, env: Env, depth: int,
                       path: tuple[int, ...]) -> list[tuple[F.Call, Env]]:
        fact = binding.fact
        if isinstance(fact, F.Param):
            bound = env.argument(fact)
            if bound is not None:
                return self.trace(bound[0], bound[1], bound[2], NO_ENV, depth + 1, path)
            result = []
            for site, argument in self._arguments_here(fact):
                result.extend(self.trace(argument, site.scope, site.order, NO_ENV, depth + 1, path))
            return result
        if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign", "with") and fact.value is not None:
            return self.trace(fact.value, fact.scope, fact.order, env, depth + 1, binding.path + path)
        return []

    def _trace_item(self, node: cst.Subscript, scope: F.Scope, order: int | None, env: Env,
                    depth: int) -> list[tuple[F.Call, Env]]:
        """``loaders["train"]``: the loader stored under that key of a dict literal,
        ``dict(...)``, a dict comprehension or an item assignment."""
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index) \
                or not isinstance(node.value, cst.Name):
            return []
        key = self.constant(node.slice[0].slice.value, scope, order, depth + 1, env)
        if key is None:
            return []
        found = lookup(scope, node.value.value, order)
        if found is None or not isinstance(found[1].fact, F.Assign) or found[1].fact.value is None:
            return []
        fact = found[1].fact
        stored = self._stored_under(node.value.value, key.value, fact, scope, order)
        if stored is not None:
            return self.trace(stored.node, stored.scope, stored.order, env, depth + 1)
        value = fact.value
        if isinstance(value, cst.DictComp) and isinstance(value.key, cst.Name):
            names = ((value.key.value, key),) + env.names
            return self.trace(value.value, fact.scope, fact.order, Env(env.arguments, names), depth + 1)
        return []

    def _stored_under(self, name: str, key: Any, fact: F.Assign, scope: F.Scope,
                      order: int | None) -> Argument | None:
        """The value a dict named `name` (bound by `fact`) holds under `key`: the last
        ``name[key] = v`` before `order`, else its literal or ``dict(...)`` entry."""
        latest = None
        for assign in fact.scope.assigns:
            if assign.order <= fact.order or order is not None and assign.order >= order:
                continue
            for target in assign.targets:
                if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name) \
                        and target.value.value == name and len(target.slice) == 1 \
                        and isinstance(target.slice[0].slice, cst.Index):
                    known = self.constant(target.slice[0].slice.value, assign.scope, assign.order)
                    if known is not None and known.value == key and assign.value is not None:
                        latest = Argument(assign.value, assign.scope, assign.order)
        if latest is not None:
            return latest
        for entry_key, entry in _dict_entries(fact.value):
            if entry_key == key:
                return Argument(entry, fact.scope, fact.order)
        return None

    def site_env(self, function: F.Function, site: F.Call) -> Env:
        """`function`'s parameters as `site` passes them (defaults where it does not)."""
        bound = self.model.passes_receiver(site, function)
        arguments = []
        for param in function.params:
            index = param.index - (1 if bound else 0)
            if index < 0:
                continue
            argument = site.argument(index, param.name)
            if argument is not None:
                arguments.append((id(param), argument, site.scope, site.order))
            elif param.default is not None:
                arguments.append((id(param), param.default, function.parent or self.facts.scope,
                                  function.order))
        return Env(tuple(arguments))

    # -- what a loader does -----------------------------------------------------------

    def _is_dataloader(self, call: F.Call) -> bool:
        qualified = self.model.names.qualified(call.func, call.scope, call.order)
        return self.model.symbols.function_kind(qualified) == "dataloader"

    def _loader_class(self, call: F.Call, depth: int = 0) -> F.Class | None:
        """The local class `call` instantiates when it derives from DataLoader."""
        definition = self.model.resolver.definition(call.func, call.scope, call.order, self.facts,
                                                    self.model.path)
        if definition is None or not isinstance(definition.fact, F.Class) or definition.facts is not self.facts:
            return None
        return definition.fact if self._derives_from_loader(definition.fact, depth) else None

    def _derives_from_loader(self, cls: F.Class, depth: int = 0) -> bool:
        if depth > 4:
            return False
        for base in cls.bases:
            qualified = self.model.names.qualified(base, cls.parent or self.facts.scope, cls.order)
            if self.model.symbols.function_kind(qualified) == "dataloader":
                return True
            definition = self.model.resolver.definition(base, cls.parent or self.facts.scope, cls.order,
                                                        self.facts, self.model.path)
            if definition is not None and isinstance(definition.fact, F.Class) \
                    and definition.facts is self.facts and self._derives_from_loader(definition.fact, depth + 1):
                return True
        return False

    def loader_made_by(self, call: F.Call, env: Env = NO_ENV) -> Loader | None:
        """The loader `call` makes: a DataLoader, or an instance of a local subclass
        whose ``__init__`` hands its arguments to ``super().__init__(...)``."""
        if self._is_dataloader(call):
            return self.loader(call, env)
        cls = self._loader_class(call)
        if cls is None:
            return None
        init = cls.methods.get("__init__")
        if init is None:  # the subclass takes DataLoader's own arguments
            return self.loader(call, env, node=call.node, fixable=False)
        parent = next((c for c in init.calls if c.method == "__init__" and _calls_parent(c, cls)), None)
        if parent is None:
            return None
        return self.loader(parent, self.site_env(init, call), node=call.node, fixable=False,
                           skip_self=not _is_super_call(parent))

    def loader(self, call: F.Call, env: Env = NO_ENV, node: cst.CSTNode | None = None,
               fixable: bool = True, skip_self: bool = False) -> Loader:
        key = (id(call), env.key)
        if key in self._loaders:
            return self._loaders[key]
        arguments, complete = self._loader_arguments(call, skip_self)

        def known(name: str) -> Known | None:
            argument = arguments.get(name)
            if argument is None:
                return None
            return self.constant(argument.node, argument.scope, argument.order, env=env)

        size_argument = arguments.get("batch_size")
        if size_argument is None:
            batch_size = Known(1, "the DataLoader default") if complete else None
        elif isinstance(size_argument.node, cst.Name) and size_argument.node.value == "None":
            batch_size = None
        else:
            batch_size = known("batch_size")
        drop_argument = arguments.get("drop_last")
        if drop_argument is None:
            drop_last: bool | None = False if complete else None
        else:
            found = known("drop_last")
            drop_last = bool(found.value) if found is not None else None
        dataset = arguments.get("dataset")
        loader = Loader(
            call=call, batch_size=batch_size,
            batch_size_node=size_argument.node if size_argument is not None
            and size_argument.node in _written_arguments(call) else None,
            drop_last=drop_last, batch_sampler="batch_sampler" in arguments,
            dataset=dataset.node if dataset is not None else None,
            dataset_length=self.length(dataset.node, dataset.scope, dataset.order, env=env)
            if dataset is not None else None,
            node=node if node is not None else call.node,
            # `drop_last=True` added beside a `**opts` holding drop_last would raise a TypeError.
            fixable=fixable and (drop_argument is None and complete
                                 or drop_argument is not None and drop_argument.node in _written_arguments(call)),
        )
        self._loaders[key] = loader
        return loader

    def _loader_arguments(self, call: F.Call, skip_self: bool = False) -> tuple[dict[str, Argument], bool]:
        """DataLoader's arguments by name, with ``**opts`` dicts read where they are
        built; False when some argument cannot be read (``*args``, an unknown ``**kw``)."""
        found: dict[str, Argument] = {}
        complete = True
        position = -1 if skip_self else 0  # `DataLoader.__init__(self, ...)`
        for arg in call.args:
            if arg.star == "*":
                complete = False
                position = len(_LOADER_PARAMETERS)
            elif arg.star == "**":
                entries = self._keyword_dict(arg.value, call.scope, call.order)
                if entries is None:
                    complete = False
                else:
                    found.update(entries)
            elif arg.keyword is not None:
                found[arg.keyword.value] = Argument(arg.value, call.scope, call.order)
            else:
                if 0 <= position < len(_LOADER_PARAMETERS):
                    found[_LOADER_PARAMETERS[position]] = Argument(arg.value, call.scope, call.order)
                position += 1
        return found, complete

    def _keyword_dict(self, node: cst.BaseExpression, scope: F.Scope, order: int | None,
                      depth: int = 0) -> dict[str, Argument] | None:
        """The entries of a ``**opts`` dict: a literal, ``dict(k=v)``, or a name bound
        to one and then filled by ``opts["k"] = v``; None when not all are known."""
        if depth > 3:
            return None
        if isinstance(node, (cst.Dict, cst.Call)):
            entries = _dict_entries(node, complete=True)
            if entries is None:
                return None
            return {k: Argument(v, scope, order) for k, v in entries if isinstance(k, str)}
        if not isinstance(node, cst.Name):
            return None
        found = lookup(scope, node.value, order)
        if found is None or not isinstance(found[1].fact, F.Assign) or found[1].path \
                or found[1].fact.kind != "assign" or found[1].fact.value is None:
            return None
        fact = found[1].fact
        entries = self._keyword_dict(fact.value, fact.scope, fact.order, depth + 1)
        if entries is None or self._changed_otherwise(node.value, fact, order):
            return None
        for assign in fact.scope.assigns:
            if fact.order < assign.order and (order is None or assign.order < order):
                for target in assign.targets:
                    if isinstance(target, cst.Subscript) and dotted_name(target.value) == node.value:
                        key = target.slice[0].slice.value if len(target.slice) == 1 and \
                            isinstance(target.slice[0].slice, cst.Index) else None
                        if not isinstance(key, cst.SimpleString) or assign.value is None:
                            return None
                        entries[str(key.evaluated_value)] = Argument(assign.value, assign.scope, assign.order)
        return entries

    def _changed_otherwise(self, name: str, fact: F.Assign, order: int | None) -> bool:
        """Whether the dict `name` is changed by a method (``opts.update(...)``) between
        its binding and the use."""
        return any(call.receiver is not None and dotted_name(call.receiver) == name
                   and call.method in ("update", "pop", "setdefault", "clear", "__setitem__", "popitem")
                   and fact.order < call.order and (order is None or call.order < order)
                   for call in fact.scope.calls)


# DataLoader's parameters in order, as far as positions are ever used.
_LOADER_PARAMETERS = ("dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers",
                      "collate_fn", "pin_memory", "drop_last")


def _written_arguments(call: F.Call) -> list[cst.BaseExpression]:
    return [arg.value for arg in call.args if not arg.star]


def _dict_entries(node: cst.BaseExpression | None,
                  complete: bool = False) -> list[tuple[Any, cst.BaseExpression]] | None:
    """(key, value) of a dict literal or ``dict(k=v)``; with `complete`, None when
    an entry cannot be read (``**other``, a computed key, ``dict(pairs)``)."""
    entries: list[tuple[Any, cst.BaseExpression]] = []
    if isinstance(node, cst.Dict):
        for element in node.elements:
            if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                entries.append((element.key.evaluated_value, element.value))
            elif complete:
                return None
        return entries
    if isinstance(node, cst.Call) and dotted_name(node.func) == "dict":
        for arg in node.args:
            if arg.keyword is not None and not arg.star:
                entries.append((arg.keyword.value, arg.value))
            elif complete:
                return None
        return entries
    return None if complete else []


def _grown(name: str, fact: F.Assign) -> bool:
    """Whether the list `name` bound by `fact` gets items later in its scope."""
    return any(call.receiver is not None and dotted_name(call.receiver) == name
               and call.method in ("append", "extend", "insert") and call.order > fact.order
               for call in fact.scope.calls) or any(
        dotted_name(aug.target) == name and aug.order > fact.order for aug in fact.scope.aug_assigns)


def _is_super_call(call: F.Call) -> bool:
    receiver = call.receiver
    return isinstance(receiver, cst.Call) and dotted_name(receiver.func) == "super"


def _calls_parent(call: F.Call, cls: F.Class) -> bool:
    """``super().__init__(...)`` or ``Base.__init__(self, ...)`` for a base of `cls`."""
    if _is_super_call(call):
        return True
    receiver = dotted_name(call.receiver) if call.receiver is not None else None
    return receiver is not None and any(dotted_name(base) == receiver for base in cls.bases)


def _element(value: cst.BaseExpression | None, path: tuple[int, ...]) -> cst.BaseExpression | None:
    for index in path:
        if not isinstance(value, (cst.Tuple, cst.List)) or index >= len(value.elements):
            return None
        value = value.elements[index].value
    return value


def _arith(operator: cst.BaseBinaryOp, left: Any, right: Any) -> Any:
    if not isinstance(left, (int, float)) or not isinstance(right, (int, float)):
        return None
    if isinstance(operator, cst.Add):
        return left + right
    if isinstance(operator, cst.Subtract):
        return left - right
    if isinstance(operator, cst.Multiply):
        return left * right
    if isinstance(operator, cst.FloorDivide):
        return left // right
    if isinstance(operator, cst.Divide):
        return left / right
    return None


class _Flow:
    """Where a value made at one place may go, forward and across files: the
    loops that may iterate it (over-approximate; the loop's data flow decides)."""

    def __init__(self, data: DataFacts) -> None:
        self.data = data
        self.model = data.model
        self.sinks: dict[int, tuple[F.Loop, Place]] = {}
        self._seen: set[tuple[int, str]] = set()
        self._steps = 0

    def _budget(self, key: tuple[int, str]) -> bool:
        if key in self._seen or self._steps >= MAX_FLOW_STEPS:
            return False
        self._seen.add(key)
        self._steps += 1
        return True

    def from_node(self, node: cst.CSTNode, place: Place, hops: int) -> None:
        """`node` (an expression of `place`) made a value: follow it."""
        scope = place.scope
        statement = place.facts.statement_of.get(id(node))

        def holds(fact: F.Located, part: cst.CSTNode | None) -> bool:
            """Whether `part` of `fact` is `node` or holds it (a dict of loaders)."""
            return part is not None and place.facts.statement_of.get(id(fact.node)) is statement \
                and any(n is node for n in iter_nodes(part))

        for loop in scope.loops:
            if self.data.iterated(loop) is node:
                self.sinks.setdefault(id(loop), (loop, place))
        for assign in scope.assigns:
            if assign.kind in ("assign", "annassign") and holds(assign, assign.value):
                for target in assign.targets:
                    for name in _target_names(target):
                        self.from_name(name, assign.order, place, hops)
        for call in scope.calls:
            if call.node is node or place.facts.statement_of.get(id(call.node)) is not statement:
                continue
            for index, arg in enumerate(call.args):
                if not arg.star and holds(call, arg.value):
                    self._into_call(call, index, arg, place, hops)
        for ret in scope.returns:
            if holds(ret, ret.value):
                self._to_callers(scope, place, hops)
                break

    def from_name(self, name: str, after: int, place: Place, hops: int) -> None:
        """The value is held by `name` in `place`'s scope from `after` on."""
        if not self._budget((id(place.scope), name)):
            return
        scope = place.scope
        for loop in scope.loops:
            if loop.order > after and _holds(self.data.iterated(loop), name):
                self.sinks.setdefault(id(loop), (loop, place))
        for call in scope.calls:
            if call.order <= after:
                continue
            for index, arg in enumerate(call.args):
                if not arg.star and _holds(arg.value, name):
                    self._into_call(call, index, arg, place, hops)
        for ret in scope.returns:
            if ret.order > after and ret.value is not None and any(
                    isinstance(n, cst.Name) and n.value == name for n in iter_nodes(ret.value)):
                self._to_callers(scope, place, hops)
                break

    def _to_callers(self, scope: F.Scope, place: Place, hops: int) -> None:
        """The value is returned by `scope`'s function: follow it at each call site."""
        function = scope.function
        if function is None or hops >= MAX_FLOW_HOPS or not self._budget((id(function), "<return>")):
            return
        for site in self.model.callers(function, place.facts):
            self.from_node(site.call.node, Place(site.call.scope, site.facts, site.path), hops + 1)

    def _into_call(self, call: F.Call, index: int, arg: cst.Arg, place: Place, hops: int) -> None:
        """The value is passed to `call`: follow the parameter that receives it."""
        if hops >= MAX_FLOW_HOPS:
            return
        found = self.model.local_function(call, place.facts, place.path)
        if found is None or not isinstance(found.fact, F.Function):
            return
        function = found.fact
        bound = self.model.passes_receiver(call, function, place.facts, place.path)
        param = None
        if arg.keyword is not None:
            param = function.param(arg.keyword.value)
        elif all(a.keyword is None and not a.star for a in call.args[:index]):
            position = index + (1 if bound else 0)
            param = next((p for p in function.params if p.index == position), None)
        if param is None or param.node.star in ("*", "**"):
            return
        self.from_name(param.name, -1, Place(function, found.facts, found.path), hops + 1)


def _target_names(target: cst.BaseExpression) -> list[str]:
    """The names a target binds (``a``, ``a, (b, c)``)."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in _target_names(element.value)]
    return []


def _holds(node: cst.BaseExpression | None, name: str) -> bool:
    """``name`` or an item of it (``loaders["train"]``, ``loaders[phase]``)."""
    if isinstance(node, cst.Subscript):
        node = node.value
    return isinstance(node, cst.Name) and node.value == name


def _returned_parts(value: cst.BaseExpression | None) -> list[tuple[tuple[object, ...], cst.BaseExpression]]:
    """(keys, expression) of what a factory returns: the items of a tuple (by
    position), of a dict literal (by key), of a dict comprehension over literal
    keys (its value under each key), else the value itself (key None)."""
    if value is None:
        return []
    if isinstance(value, cst.Tuple):
        return [((index,), element.value) for index, element in enumerate(value.elements)]
    if isinstance(value, cst.Dict):
        return [((element.key.evaluated_value,), element.value) for element in value.elements
                if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString)]
    if isinstance(value, cst.DictComp):
        keys = literal_strings(value.for_in.iter) if value.for_in.inner_for_in is None else None
        return [(tuple(keys), value.value)] if keys else []
    return [((None,), value)]


def _standard_length(table: dict, node: cst.Call, qualified: str) -> Known | None:
    """`datasets.MNIST(root, train=False)`: the published length of the split the
    call picks (its literal argument, or the default when it gives none)."""
    if any(a.star for a in node.args) or any(a.keyword is not None and a.keyword.value in table.get("unknown_with", ())
                                             for a in node.args):
        return None  # `MNIST(root, **options)`: the split is not written here; STL10's `folds=` picks a part
    argument = table["argument"]
    given = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == argument), None)
    positional = [a for a in node.args if a.keyword is None and not a.star]
    if given is None and len(positional) > table["position"]:
        given = positional[table["position"]].value
    split = table["default"] if given is None else literal(given)
    size = table["sizes"].get(str(split))
    if size is None:
        return None  # a split chosen at run time (`train=args.train`) or not in the table
    return Known(size, f"{qualified.rsplit('.', 1)[-1]}({argument}={split!r})")
