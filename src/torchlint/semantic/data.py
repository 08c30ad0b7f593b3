"""Static values and data loaders: batch sizes, drop_last, dataset lengths.

Constants are recovered from literals, module constants, argparse defaults
(``args.batch_size`` with ``add_argument("--batch-size", default=32)``) and
simple config dicts, so that ``len(dataset) % batch_size`` can be computed
and quoted in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 8
# Calls that wrap an iterable without changing its batches.
_ITER_WRAPPERS = frozenset({"enumerate", "tqdm", "iter", "zip", "trange", "progress_bar", "track"})
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


@dataclass(eq=False)
class Loader:
    call: F.Call
    batch_size: Known | None  # None: not static
    batch_size_node: cst.BaseExpression | None  # None: the default (1)
    drop_last: bool | None  # None: not static
    batch_sampler: bool  # batches come from a sampler: batch_size does not apply
    dataset: cst.BaseExpression | None
    dataset_length: Known | None

    @property
    def last_batch(self) -> int | None:
        """Size of the last batch when both numbers are known and it is partial."""
        if self.batch_size is None or self.dataset_length is None or self.drop_last:
            return None
        size, length = self.batch_size.value, self.dataset_length.value
        if not isinstance(size, int) or not isinstance(length, int) or size <= 0:
            return None
        return length % size or None


class DataFacts:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self.facts = model.facts
        self._loaders: dict[int, Loader] = {}

    # -- constants ------------------------------------------------------------

    def constant(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                 depth: int = 0) -> Known | None:
        if node is None or depth > MAX_DEPTH:
            return None
        number = literal_number(node)
        if number is not None:
            value: Any = int(number) if number == int(number) and not isinstance(node, cst.Float) else number
            return Known(value, "literal")
        if isinstance(node, cst.SimpleString):
            return Known(node.evaluated_value, "literal")
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None:
                return None
            fact = found[1].fact
            if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign"):
                value = _element(fact.value, found[1].path)  # `seq_len, batch_size = 10, 128`
                inner = self.constant(value, fact.scope, fact.order, depth + 1) if value is not None else None
                if inner is not None:
                    how = inner.how if inner.how != "literal" else f"{node.value} = {inner.value!r}"
                    return Known(inner.value, how)
            if isinstance(fact, F.Param):
                # A parameter is known when every call site passes the same constant
                # (`batch_data(..., batch_size)` twice), or none passes it and it has a default.
                sites = self.model.arguments_for(fact, self.facts)
                if sites:
                    values = [self.constant(argument, site.scope, site.order, depth + 1) for site, argument in sites]
                    if all(v is not None for v in values) and len({repr(v.value) for v in values}) == 1:
                        return values[0]
                elif fact.default is not None and fact.function is not None \
                        and self.model.call_sites(fact.function):
                    inner = self.constant(fact.default, fact.function.parent or self.facts.scope,
                                          fact.function.order, depth + 1)
                    if inner is not None:
                        return Known(inner.value, f"default of {node.value}")
            return None
        if isinstance(node, cst.Attribute):
            return self._argparse_default(node, scope, order) or self._attribute_constant(node, scope, order, depth)
        if isinstance(node, cst.Subscript):
            return self._dict_constant(node, scope, order, depth)
        if isinstance(node, cst.Call):
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" and node.args:
                key = node.args[0].value
                if isinstance(key, cst.SimpleString):
                    found = self._dict_value(node.func.value, key.evaluated_value, scope, order, depth)
                    if found is not None:
                        return found
                    if len(node.args) > 1:
                        return self.constant(node.args[1].value, scope, order, depth + 1)
            if dotted_name(node.func) == "int" and node.args:
                inner = self.constant(node.args[0].value, scope, order, depth + 1)
                if inner is not None and isinstance(inner.value, (int, float)):
                    return Known(int(inner.value), inner.how)
            return None
        if isinstance(node, cst.BinaryOperation):
            left = self.constant(node.left, scope, order, depth + 1)
            right = self.constant(node.right, scope, order, depth + 1)
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
        """``Config.BATCH_SIZE`` for a class attribute of a local class."""
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
               depth: int = 0, path: tuple[int, ...] = ()) -> Known | None:
        """The number of items of a dataset, tensor, list or range, when static."""
        if node is None or depth > MAX_DEPTH:
            return None
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None or not isinstance(found[1].fact, F.Assign) or found[1].fact.kind != "assign":
                return None
            fact = found[1].fact
            return self.length(fact.value, fact.scope, fact.order, depth + 1, found[1].path)
        if isinstance(node, (cst.List, cst.Tuple)) and path:
            element = _element(node, path[:1])  # `x, y = torch.randn(100, 4), ...`
            return self.length(element, scope, order, depth + 1, path[1:]) if element is not None else None
        if isinstance(node, (cst.List, cst.Tuple)) and not path:
            if any(isinstance(e, cst.StarredElement) for e in node.elements):
                return None
            return Known(len(node.elements), "literal")
        if isinstance(node, cst.Subscript):
            return self._slice_length(node, scope, order, depth)
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
        """The DataLoaders (made in this file) a loop iterates."""
        node = self.iterated(loop)
        if node is None or loop.scope is None:
            return []
        values = self.model.values.infer(node, loop.scope, loop.order)
        return [self.loader(v.call) for v in values
                if v.kind == "loader" and v.call is not None and v.facts is self.facts]

    def loader(self, call: F.Call) -> Loader:
        key = id(call)
        if key in self._loaders:
            return self._loaders[key]
        scope, order = call.scope, call.order
        dataset = call.argument(0, "dataset")
        size_node = call.argument(1, "batch_size")
        batch_sampler = call.argument(4, "batch_sampler") is not None
        if size_node is None:
            batch_size: Known | None = Known(1, "the DataLoader default")
        else:
            batch_size = self.constant(size_node, scope, order)
            if isinstance(size_node, cst.Name) and size_node.value == "None":
                batch_size = None
        drop_node = call.argument(8, "drop_last")
        if drop_node is None:
            drop_last: bool | None = False
        else:
            known = self.constant(drop_node, scope, order)
            drop_last = bool(known.value) if known is not None else None
        loader = Loader(
            call=call, batch_size=batch_size, batch_size_node=size_node, drop_last=drop_last,
            batch_sampler=batch_sampler, dataset=dataset,
            dataset_length=self.length(dataset, scope, order) if dataset is not None else None,
        )
        self._loaders[key] = loader
        return loader


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
