"""Inputs for a model's ``forward``, synthesized from the first layer each argument reaches.

Runs inside the sandbox child (standard library and torch only).

How an argument's shape is chosen:

1. A hint (``inputs = { x = "float[B,T,D_m]" }``) or an input factory wins.
2. Otherwise ``forward``'s source is read with :mod:`ast` and each argument is
   followed through assignments and calls to the first submodule it reaches
   (into user submodules and ``nn.Sequential`` too):
   ``Embedding`` -> integer ids below ``num_embeddings``; ``EmbeddingBag``
   called with offsets -> the bags packed into 1-D ids ``(B·T,)`` and offsets
   ``0, T, 2T, ...`` (1-D int64), without -> ids ``(B, T)``; ``Linear`` ->
   ``(B, in_features)``; ``Conv1d/2d/3d`` -> ``(B, C, S...)`` with a spatial
   size ``S`` that survives the network (tried in turn; where none does, the
   size whose flattened features match the first ``Linear`` they reach is
   searched for); ``LSTM/GRU/RNN`` ->
   ``(T, B, D)`` or ``(B, T, D)`` by ``batch_first`` (also when an Embedding
   or Linear feeds them), their second argument -> the model's own
   ``init_hidden(B)`` or zeros; norms, cells and attention layers likewise.
3. Names decide what reaches no layer: ``*mask*`` -> ones ``(B, T)``,
   ``*len*`` -> ``T`` for each sample. Arguments with defaults keep them.
4. forward's first argument, when the trace loses it (a slice of a held
   network, ``self.backbone[:k](x)``; a library model's layers), gets the plan
   of the first torch layer the model registers.

Synthesized inputs are checked by one evaluation-mode forward without
gradients (RNG state restored); if no candidate runs, the lab reports
``inconclusive`` / ``no_inputs`` with the error and a ready-to-paste hint.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import math
import re
import textwrap
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import torch
from torch import nn

DEFAULT_BATCH = 4
DEFAULT_SEQ = 6
SPATIAL_CANDIDATES = (32, 28, 64, 224, 16, 96, 128, 8, 256, 299)
_MAX_DEPTH = 5
_STATE_METHODS = ("init_hidden", "init_hidden_state", "initHidden", "init_state", "begin_state")

_SEQUENCE_TYPES = (nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer,
                   nn.TransformerDecoderLayer, nn.TransformerEncoder, nn.TransformerDecoder,
                   nn.Transformer)
_CELL_TYPES = (nn.RNNCell, nn.LSTMCell, nn.GRUCell)


class NoInputs(Exception):
    """The probe cannot tell what an argument of ``forward`` should be."""


# -- plans: what to make for one argument ----------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How to make one argument. ``dims`` hold ints and the symbols B, T, S."""

    kind: str  # float | ids | ones | zeros | bool | lengths | offsets | state | init_hidden | literal
    dims: tuple[Any, ...] = ()
    bound: int = 2  # ids: values in [0, bound)
    dtype: str = "float32"
    batch_dim: int | None = 0
    pieces: int = 1  # state: a tuple of this many tensors (LSTM: h and c)
    value: Any = None  # literal; offsets: whether the last offset (the end) is included
    method: str = ""  # init_hidden: the model's method
    source: str = "synthesized"  # synthesized | hint
    reached: str = ""  # the layer that decided, for the assumptions
    packed: bool = False  # dims (B, T) made as one 1-D tensor of B·T: sample i is [i·T, (i+1)·T)

    def transposed(self) -> Plan:
        """(B, T, ...) <-> (T, B, ...), the other sequence layout."""
        if self.packed or self.kind == "offsets":  # bags have one layout
            return self
        dims = list(self.dims)
        if "B" in dims and "T" in dims:
            b, t = dims.index("B"), dims.index("T")
            dims[b], dims[t] = dims[t], dims[b]
            return replace(self, dims=tuple(dims), batch_dim=dims.index("B"))
        return self


@dataclass
class InputArg:
    name: str
    value: Any
    spec: str
    batch_dim: int | None
    positional: bool
    remake: Callable[[torch.Tensor], torch.Tensor] | None = None
    stride: int = 1  # elements of one sample along batch_dim (packed bags: T)
    rebatch: Callable[[int], Any] | None = None  # made anew for a batch size (offsets)


@dataclass
class Inputs:
    """The arguments of one forward call, and ways to vary their batch."""

    arguments: list[InputArg]
    batch_size: int
    synthesized: bool  # any argument made by the probe (not by a hint or factory)
    generator: torch.Generator = field(repr=False, default_factory=torch.Generator)

    @property
    def args(self) -> list[Any]:
        return [a.value for a in self.arguments if a.positional]

    @property
    def kwargs(self) -> dict[str, Any]:
        return {a.name: a.value for a in self.arguments if not a.positional}

    @property
    def specs(self) -> dict[str, str]:
        return {a.name: a.spec for a in self.arguments}

    def _map(self, change: Callable[[InputArg, torch.Tensor], torch.Tensor], batch: int) -> Inputs:
        arguments = []
        for arg in self.arguments:
            if arg.rebatch is not None:  # derived from the batch size alone (offsets)
                arguments.append(replace(arg, value=arg.rebatch(batch)))
                continue
            if arg.batch_dim is None:
                arguments.append(arg)
                continue
            value = _map_tensors(arg.value, lambda t, a=arg: change(a, t))
            arguments.append(replace(arg, value=value))
        return Inputs(arguments, batch, self.synthesized, self.generator)

    def slice(self, start: int, stop: int) -> Inputs:
        """Samples start..stop-1 of every batched argument."""
        return self._map(lambda a, t: t.narrow(a.batch_dim, start * a.stride,
                                               (stop - start) * a.stride).clone(), stop - start)

    def repeat(self, times: int) -> Inputs:
        """The batch tiled `times` over (samples 0..B-1, 0..B-1, ...)."""
        def tile(arg: InputArg, tensor: torch.Tensor) -> torch.Tensor:
            reps = [1] * tensor.dim()
            reps[arg.batch_dim] = times
            return tensor.repeat(*reps)

        return self._map(tile, self.batch_size * times)

    def with_sample_changed(self, index: int) -> Inputs:
        """The same batch with sample `index` drawn again (other samples unchanged)."""
        def change(arg: InputArg, tensor: torch.Tensor) -> torch.Tensor:
            out = tensor.clone()
            if arg.remake is None:
                return out
            fresh = arg.remake(tensor.narrow(arg.batch_dim, index * arg.stride, arg.stride))
            out.narrow(arg.batch_dim, index * arg.stride, arg.stride).copy_(fresh)
            return out

        return self._map(change, self.batch_size)

    def clone(self) -> Inputs:
        return self._map(lambda a, t: t.clone(), self.batch_size)


def _map_tensors(value: Any, change: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return change(value)
    if isinstance(value, tuple):
        return tuple(_map_tensors(v, change) for v in value)
    if isinstance(value, list):
        return [_map_tensors(v, change) for v in value]
    return value


# -- hint specs: "float[T,B,D_m]", "ones[B,T]", "long[B,T] < vocab_size" -------------------

_SPEC_RE = re.compile(r"^\s*(\w+)\s*\[(.*)\]\s*(?:<\s*(.+))?$")
_DTYPES = {
    "float": ("float", "float32"), "float32": ("float", "float32"), "randn": ("float", "float32"),
    "double": ("float", "float64"), "float64": ("float", "float64"), "half": ("float", "float16"),
    "long": ("ids", "int64"), "int64": ("ids", "int64"), "int": ("ids", "int64"),
    "int32": ("ids", "int32"), "ids": ("ids", "int64"), "bool": ("bool", "bool"),
    "ones": ("ones", "float32"), "zeros": ("zeros", "float32"), "offsets": ("offsets", "int64"),
}


def _evaluate_dim(text: str, names: dict[str, Any]) -> Any:
    """A dimension: B, T, an int, a constructor argument, or simple arithmetic of them."""
    text = text.strip()
    if text in ("B", "T", "S"):
        return text
    tree = ast.parse(text, mode="eval")

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"{node.id!r} is neither B, T nor a constructor argument")
            return int(names[node.id])
        if isinstance(node, ast.BinOp):
            left, right = value(node.left), value(node.right)
            ops = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
            if type(node.op) in ops:
                return ops[type(node.op)]
            if isinstance(node.op, ast.FloorDiv):
                return left // right
        raise ValueError(f"cannot read dimension {text!r}")

    return value(tree.body)


def parse_spec(spec: Any, names: dict[str, Any]) -> Plan:
    """A hint's input spec as a plan. Non-strings are passed as they are."""
    if not isinstance(spec, str):
        return Plan(kind="literal", value=spec, batch_dim=None, source="hint")
    match = _SPEC_RE.match(spec)
    if match is None:
        raise ValueError(f'input spec {spec!r} is not like "float[B,T,16]"')
    kind_name, dims_text, bound_text = match.groups()
    if kind_name.lower() not in _DTYPES:
        raise ValueError(f"input spec {spec!r}: unknown type {kind_name!r}; "
                         f"use one of {', '.join(sorted(_DTYPES))}")
    kind, dtype = _DTYPES[kind_name.lower()]
    packed = "".join(dims_text.split()) in ("B*T", "T*B")  # bags packed into one dimension
    dims: tuple[Any, ...] = ("B", "T") if packed else \
        tuple(_evaluate_dim(d, names) for d in dims_text.split(",") if d.strip())
    if kind == "offsets" and dims != ("B",):
        raise ValueError(f"input spec {spec!r}: offsets are offsets[B] (one per bag)")
    bound = int(_evaluate_dim(bound_text, names)) if bound_text else 2
    batch_dim = dims.index("B") if "B" in dims else None
    return Plan(kind=kind, dims=dims, bound=bound, dtype=dtype, batch_dim=batch_dim, source="hint",
                packed=packed)


# -- tracing forward ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    module: nn.Module
    position: int | None
    keyword: str | None
    path: str
    arity: int = 1  # positional arguments of the call
    keywords: tuple[str, ...] = ()  # keyword arguments of the call


def _is_user_module(module: nn.Module) -> bool:
    return not type(module).__module__.startswith("torch.")


def feedable(model: nn.Module) -> nn.Module:
    """What to plan a model's inputs for: a class of the user's as it is; a torch
    layer (``nn.Linear(10, 3)``, ``nn.Sequential(...)``, whose ``forward`` source
    shows no layer an argument reaches) as ``nn.Sequential(layer)``, which the
    tracing follows into its children. Both take the same positional input."""
    return model if _is_user_module(model) else nn.Sequential(model)


class _ForwardTrace:
    """Follows each argument of one ``forward`` to the submodule calls it feeds."""

    def __init__(self, owner: nn.Module, prefix: str) -> None:
        self.owner = owner
        self.prefix = prefix
        self.taint: dict[str, set[str]] = {}
        self.aliases: dict[str, tuple[nn.Module, str]] = {}
        self.reaches: dict[str, list[Reach]] = {}
        self.defaults: dict[str, Any] = {}
        self.self_name = "self"
        self.params: list[str] = []

    def run(self) -> _ForwardTrace:
        function = type(self.owner).forward
        try:
            # (a file with CRLF line ends: dedent sees each `\r` as text and removes nothing)
            source = textwrap.dedent(inspect.getsource(function).replace("\r\n", "\n"))
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError, IndentationError):
            return self
        definition = tree.body[0]
        if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self
        arguments = definition.args
        positional = [a.arg for a in arguments.posonlyargs + arguments.args]
        if positional:
            self.self_name = positional[0]
        self.params = positional[1:] + [a.arg for a in arguments.kwonlyargs]
        signature = inspect.signature(function)
        for name, parameter in signature.parameters.items():
            if parameter.default is not inspect.Parameter.empty:
                self.defaults[name] = parameter.default
        self.taint = {p: {p} for p in self.params}
        self.reaches = {p: [] for p in self.params}
        self.block(definition.body)
        return self

    # statements
    def block(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            taint = self.expr(node.value)
            for target in node.targets:
                self.bind(target, taint, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind(node.target, self.expr(node.value), node.value)
        elif isinstance(node, ast.AugAssign):
            taint = self.expr(node.value) | self.expr(node.target)
            self.bind(node.target, taint, None)
        elif isinstance(node, (ast.Expr, ast.Return)) and node.value is not None:
            self.expr(node.value)
        elif isinstance(node, ast.If):
            decided = self.test(node.test)
            self.expr(node.test)
            if decided is not False:
                self.block(node.body)
            if decided is not True:
                self.block(node.orelse)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            container = self.module_of(node.iter)
            taint = self.expr(node.iter)
            if container is not None and isinstance(container[0], (nn.ModuleList, nn.Sequential)) \
                    and len(container[0]) and isinstance(node.target, ast.Name):
                self.aliases[node.target.id] = (container[0][0], f"{container[1]}.0")
            else:
                self.bind(node.target, taint, None)
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, ast.While):
            self.expr(node.test)
            self.block(node.body)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                taint = self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, taint, None)
            self.block(node.body)
        elif isinstance(node, ast.Try):
            self.block(node.body)
            for handler in node.handlers:
                self.block(handler.body)
            self.block(node.orelse)
            self.block(node.finalbody)

    def bind(self, target: ast.AST, taint: set[str], value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self.taint[target.id] = set(taint)
            module = self.module_of(value) if value is not None else None
            if module is not None:
                self.aliases[target.id] = module
            else:
                self.aliases.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.bind(element, taint, None)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, taint, None)

    # expressions
    def module_of(self, node: ast.AST | None) -> tuple[nn.Module, str] | None:
        if isinstance(node, ast.Name):
            if node.id == self.self_name:
                return self.owner, self.prefix
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.module_of(node.value)
            if base is not None:
                found = getattr(base[0], node.attr, None)
                if isinstance(found, nn.Module):
                    return found, f"{base[1]}.{node.attr}".lstrip(".")
            return None
        if isinstance(node, ast.Subscript):
            base = self.module_of(node.value)
            key = node.slice
            if base is not None and isinstance(key, ast.Constant):
                try:
                    found = base[0][key.value]  # type: ignore[index]
                except (TypeError, IndexError, KeyError):
                    return None
                if isinstance(found, nn.Module):
                    return found, f"{base[1]}.{key.value}".lstrip(".")
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            base = self.module_of(node.args[0])
            if base is not None:
                found = getattr(base[0], str(node.args[1].value), None)
                if isinstance(found, nn.Module):
                    return found, f"{base[1]}.{node.args[1].value}".lstrip(".")
        return None

    def expr(self, node: ast.AST | None) -> set[str]:
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            return set(self.taint.get(node.id, ()))
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("forward", "__call__") \
                    and self.module_of(func.value) is not None:
                func = func.value  # `self.conv.forward(x)` feeds `self.conv` as `self.conv(x)` does
            module = self.module_of(func)
            if module is None and len(node.args) == 2 and _is_product(func):
                self.product(node.args[0], node.args[1])
            taint = set() if module is not None else self.expr(func)
            positional = [self.expr(arg) for arg in node.args]
            keywords = [(k.arg, self.expr(k.value)) for k in node.keywords]
            if module is not None and module[0] is not self.owner:
                names = tuple(k for k, _ in keywords if k is not None)
                for index, arg_taint in enumerate(positional):
                    for param in arg_taint:
                        self.reaches.setdefault(param, []).append(
                            Reach(module[0], index, None, module[1], len(positional), names))
                for keyword, kw_taint in keywords:
                    for param in kw_taint:
                        self.reaches.setdefault(param, []).append(
                            Reach(module[0], None, keyword, module[1], len(positional), names))
            for arg_taint in positional:
                taint |= arg_taint
            for _, kw_taint in keywords:
                taint |= kw_taint
            return taint
        if isinstance(node, (ast.Lambda, ast.FunctionDef)):
            return set()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            self.product(node.left, node.right)
        taint: set[str] = set()
        for child in ast.iter_child_nodes(node):
            taint |= self.expr(child)
        return taint

    def product(self, left: ast.AST, right: ast.AST) -> None:
        """``torch.mm(x, self.weight)`` / ``x @ self.weight``: x has the weight's rows as
        features (a layer written by hand); ``torch.spmm(adj, support)`` with support made
        from another input: adj mixes the B rows of that input (a graph's adjacency), so
        it is B x B."""
        weight = self.own_tensor(right)
        left_taint = self.expr(left)
        if weight is not None and weight.dim() == 2:
            for param in left_taint:
                self.reaches.setdefault(param, []).append(
                    Reach(_WeightProduct(int(weight.shape[0])), 0, None, "a product with a weight"))
            return
        right_taint = self.expr(right)
        if right_taint:
            for param in left_taint - right_taint:
                self.reaches.setdefault(param, []).append(Reach(_RowMix(), 0, None, "a product mixing rows"))

    def own_tensor(self, node: ast.AST) -> torch.Tensor | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == self.self_name:
            found = getattr(self.owner, node.attr, None)
            return found if isinstance(found, torch.Tensor) else None
        return None

    # tests: `if self.norm == 3:` is decided by the built model's attribute
    def value_of(self, node: ast.AST) -> tuple[bool, Any]:
        if isinstance(node, ast.Constant):
            return True, node.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == self.self_name and node.attr != "training":
            value = getattr(self.owner, node.attr, _MISSING)
            if value is _MISSING or isinstance(value, (nn.Module, torch.Tensor)) or callable(value):
                return False, None
            return True, value
        if isinstance(node, ast.Name) and node.id in self.defaults and node.id in self.params:
            return True, self.defaults[node.id]
        return False, None

    def test(self, node: ast.AST) -> bool | None:
        try:
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                inner = self.test(node.operand)
                return None if inner is None else not inner
            if isinstance(node, ast.BoolOp):
                results = [self.test(v) for v in node.values]
                if isinstance(node.op, ast.And):
                    return False if False in results else (None if None in results else True)
                return True if True in results else (None if None in results else False)
            if isinstance(node, ast.Compare) and len(node.ops) == 1:
                known_left, left = self.value_of(node.left)
                known_right, right = self.value_of(node.comparators[0])
                if not (known_left and known_right):
                    return None
                op = node.ops[0]
                table = {ast.Eq: lambda: left == right, ast.NotEq: lambda: left != right,
                         ast.Is: lambda: left is right, ast.IsNot: lambda: left is not right,
                         ast.In: lambda: left in right, ast.NotIn: lambda: left not in right,
                         ast.Lt: lambda: left < right, ast.Gt: lambda: left > right,
                         ast.LtE: lambda: left <= right, ast.GtE: lambda: left >= right}
                return bool(table[type(op)]()) if type(op) in table else None
            known, value = self.value_of(node)
            return bool(value) if known else None
        except Exception:  # noqa: BLE001 - an odd comparison: both branches stay possible
            return None


_MISSING = object()
_PRODUCTS = ("torch.mm", "torch.matmul", "torch.spmm", "torch.sparse.mm")


def _is_product(func: ast.AST) -> bool:
    try:
        return ast.unparse(func) in _PRODUCTS
    except Exception:  # noqa: BLE001
        return False


class _WeightProduct(nn.Module):
    """Marks an argument multiplied by a 2-D weight of its layer (its features: `width`)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width


class _RowMix(nn.Module):
    """Marks an argument that multiplies another input's rows (B x B)."""


def _chain(owner: nn.Module, param: str, prefix: str, depth: int,
           cache: dict[int, _ForwardTrace]) -> list[Reach]:
    """The leaf layers `param` flows through, in order, entering user submodules
    and nn.Sequential."""
    trace = cache.get(id(owner))
    if trace is None:
        trace = _ForwardTrace(owner, prefix).run()
        cache[id(owner)] = trace
    found: list[Reach] = []
    for reach in trace.reaches.get(param, []):
        found.extend(_expand(reach, depth, cache))
    return found


def _expand(reach: Reach, depth: int, cache: dict[int, _ForwardTrace]) -> list[Reach]:
    module = reach.module
    if isinstance(module, (_WeightProduct, _RowMix)):
        return [reach]
    if isinstance(module, nn.Sequential):
        children = list(module.named_children())
        if not children or reach.position != 0:
            return []
        found: list[Reach] = []
        for name, child in children:
            found.extend(_expand(Reach(child, 0, None, f"{reach.path}.{name}"), depth, cache))
        return found
    if _is_user_module(module) and depth < _MAX_DEPTH:
        trace = cache.get(id(module)) or _ForwardTrace(module, reach.path).run()
        cache[id(module)] = trace
        if reach.keyword is not None:
            inner = reach.keyword
        elif reach.position is not None and reach.position < len(trace.params):
            inner = trace.params[reach.position]
        else:
            return []
        found = _chain(module, inner, reach.path, depth + 1, cache)
        if not found and reach.position == 0 and len(trace.params) >= 1:
            # its forward runs its layers in a way the trace does not follow (torchvision's
            # IntermediateLayerGetter loops over `self.items()`): its first layer decides,
            # rather than a layer that comes after it
            first = _first_leaf(module, reach.path)
            return [first] if first is not None else []
        return found
    return [reach]


def _first_leaf(module: nn.Module, prefix: str) -> Reach | None:
    """The first torch layer `module` registers."""
    for path, inner in _torch_layers(module):
        return Reach(inner, 0, None, f"{prefix}.{path}".strip("."))
    return None


def _torch_layers(module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The torch layers `module` registers, in order (itself, containers and user
    modules skipped: their layers come in their place)."""
    for path, inner in module.named_modules():
        if inner is not module and not _is_user_module(inner) \
                and not isinstance(inner, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            yield path, inner


# -- from a reached layer to a plan --------------------------------------------------------


def _batch_first(module: nn.Module) -> bool:
    if isinstance(module, (nn.TransformerEncoder, nn.TransformerDecoder)):
        layer = module.layers[0] if len(module.layers) else None
        return bool(getattr(getattr(layer, "self_attn", None), "batch_first", False))
    if isinstance(module, nn.Transformer):
        return bool(getattr(module, "batch_first", False))
    return bool(getattr(module, "batch_first", False))


def _sequence_width(module: nn.Module) -> int | None:
    if isinstance(module, nn.RNNBase):
        return module.input_size
    if isinstance(module, nn.MultiheadAttention):
        return module.embed_dim
    if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        return module.self_attn.embed_dim
    if isinstance(module, (nn.TransformerEncoder, nn.TransformerDecoder)):
        return module.layers[0].self_attn.embed_dim if len(module.layers) else None
    if isinstance(module, nn.Transformer):
        return module.d_model
    return None


def _state_plan(module: nn.RNNBase | nn.RNNCellBase, reached: str) -> Plan:
    if isinstance(module, nn.RNNBase):
        directions = 2 if module.bidirectional else 1
        size = (module.proj_size or module.hidden_size) if isinstance(module, nn.LSTM) else module.hidden_size
        dims = (module.num_layers * directions, "B", size)
        pieces = 2 if isinstance(module, nn.LSTM) else 1
        if pieces == 2 and module.proj_size:
            return Plan(kind="state", dims=dims, batch_dim=1, pieces=2, reached=reached,
                        value=(module.num_layers * directions, module.hidden_size))
        return Plan(kind="state", dims=dims, batch_dim=1, pieces=pieces, reached=reached)
    pieces = 2 if isinstance(module, nn.LSTMCell) else 1
    return Plan(kind="state", dims=("B", module.hidden_size), batch_dim=0, pieces=pieces,
                reached=reached)


def _plan_for(reach: Reach, later: list[Reach]) -> Plan | None:
    """The plan that the first layer `reach` decides, or None to look further."""
    module, position, keyword = reach.module, reach.position, reach.keyword
    sequence = next((r.module for r in later if isinstance(r.module, _SEQUENCE_TYPES)), None)
    seq_dims: tuple[Any, ...] = ("B", "T") if sequence is None or _batch_first(sequence) else ("T", "B")
    name = f"{type(module).__name__} {reach.path}"
    if isinstance(module, _WeightProduct):
        return Plan(kind="float", dims=("B", module.width), reached=f"{reach.path} of {module.width} rows")
    if isinstance(module, _RowMix):
        return Plan(kind="float", dims=("B", "B"), reached=reach.path)
    if isinstance(module, nn.EmbeddingBag):
        return _bag_plan(module, reach, name)
    if isinstance(module, nn.Embedding) and position == 0:
        return Plan(kind="ids", dims=seq_dims, bound=module.num_embeddings, dtype="int64",
                    batch_dim=seq_dims.index("B"), reached=name)
    if isinstance(module, nn.Linear) and position == 0:
        dims = (*seq_dims, module.in_features) if sequence is not None else ("B", module.in_features)
        return Plan(kind="float", dims=dims, batch_dim=dims.index("B"), reached=name)
    if isinstance(module, nn.Bilinear) and position in (0, 1):
        width = module.in1_features if position == 0 else module.in2_features
        return Plan(kind="float", dims=("B", width), reached=name)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                           nn.ConvTranspose3d)) and position == 0:
        spatial = 1 if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) else \
            2 if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) else 3
        return Plan(kind="float", dims=("B", module.in_channels, *("S",) * spatial), reached=name)
    if isinstance(module, nn.RNNBase):
        if position == 0:
            dims = ("B", "T", module.input_size) if module.batch_first else ("T", "B", module.input_size)
            return Plan(kind="float", dims=dims, batch_dim=dims.index("B"), reached=name)
        if position == 1 or keyword in ("hx", "h0"):
            return _state_plan(module, name)
    if isinstance(module, _CELL_TYPES):
        if position == 0:
            return Plan(kind="float", dims=("B", module.input_size), reached=name)
        if position == 1 or keyword == "hx":
            return _state_plan(module, name)
    if isinstance(module, (nn.BatchNorm1d, nn.InstanceNorm1d)) and position == 0:
        return Plan(kind="float", dims=("B", module.num_features), reached=name)
    if isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and position == 0:
        return Plan(kind="float", dims=("B", module.num_features, "S", "S"), reached=name)
    if isinstance(module, (nn.BatchNorm3d, nn.InstanceNorm3d)) and position == 0:
        return Plan(kind="float", dims=("B", module.num_features, "S", "S", "S"), reached=name)
    if isinstance(module, nn.LayerNorm) and position == 0:
        shape = tuple(module.normalized_shape)
        dims = (*seq_dims, *shape) if sequence is not None and sequence is not module else ("B", *shape)
        return Plan(kind="float", dims=dims, batch_dim=dims.index("B"), reached=name)
    if isinstance(module, nn.GroupNorm) and position == 0:
        return Plan(kind="float", dims=("B", module.num_channels), reached=name)
    if isinstance(module, _SEQUENCE_TYPES) and not isinstance(module, nn.RNNBase):
        width = _sequence_width(module)
        if keyword is not None and "mask" in keyword:
            if "padding" in keyword:
                dims = ("B", "T")
                return Plan(kind="zeros", dims=dims, dtype="bool", reached=name)
            return None
        if width is not None and (position in (0, 1, 2) or keyword in ("query", "key", "value", "src", "tgt")):
            dims = ("B", "T", width) if _batch_first(module) else ("T", "B", width)
            return Plan(kind="float", dims=dims, batch_dim=dims.index("B"), reached=name)
    return None


def _bag_plan(module: nn.EmbeddingBag, reach: Reach, name: str) -> Plan | None:
    """``EmbeddingBag(input, offsets, per_sample_weights)``: with offsets, the B
    bags of T ids are packed into one 1-D tensor and offsets (1-D int64) mark
    where each starts; without, input is (B, T), one bag per row."""
    argument = reach.keyword or {0: "input", 1: "offsets", 2: "per_sample_weights"}.get(
        reach.position if reach.position is not None else -1)
    with_offsets = reach.arity >= 2 or "offsets" in reach.keywords
    if argument == "input":
        return Plan(kind="ids", dims=("B", "T"), bound=module.num_embeddings, dtype="int64",
                    reached=name, packed=with_offsets)
    if argument == "offsets":
        return Plan(kind="offsets", dims=("B",), dtype="int64", value=module.include_last_offset,
                    reached=name)
    if argument == "per_sample_weights":
        return Plan(kind="float", dims=("B", "T"), reached=name, packed=with_offsets)
    return None


def _plan_by_name(name: str, model: nn.Module) -> Plan | None:
    lowered = name.lower()
    if "mask" in lowered:
        return Plan(kind="ones", dims=("B", "T"), reached=f"the name {name!r}")
    if re.search(r"(^|_)(len|lens|length|lengths|seq_len|seq_lens)($|_)", lowered) or lowered.endswith("_len"):
        return Plan(kind="lengths", dims=("B",), dtype="int64", reached=f"the name {name!r}")
    if any(word in lowered for word in ("hidden", "state", "h0", "hx")):
        for method in _STATE_METHODS:
            if callable(getattr(model, method, None)):
                return Plan(kind="init_hidden", method=method, batch_dim=None,
                            reached=f"model.{method}")
        recurrent = next((m for m in model.modules() if isinstance(m, nn.RNNBase)), None)
        if recurrent is not None:
            return _state_plan(recurrent, f"{type(recurrent).__name__} (by the name {name!r})")
    return None


def forward_parameters(model: nn.Module) -> list[inspect.Parameter]:
    """``forward``'s parameters, without self, *args and **kwargs."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    return [p for p in signature.parameters.values()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def plan_inputs(model: nn.Module, hinted: dict[str, Plan]) -> tuple[dict[str, Plan], list[str]]:
    """A plan per argument forward needs, and the names no plan was found for."""
    cache: dict[int, _ForwardTrace] = {}
    plans: dict[str, Plan] = {}
    missing: list[str] = []
    parameters = forward_parameters(model)
    first = next((p.name for p in parameters if p.default is inspect.Parameter.empty), None)
    for parameter in parameters:
        name = parameter.name
        if name in hinted:
            plans[name] = hinted[name]
            continue
        if parameter.default is not inspect.Parameter.empty:
            continue
        by_name = _plan_by_name(name, model)
        plan = by_name if by_name is not None and by_name.kind in ("ones", "lengths") else None
        if plan is None:  # masks and lengths are known by name; the rest by the layer they reach
            chain = _chain(model, name, "", 0, cache)
            for index, reach in enumerate(chain):
                plan = _plan_for(reach, chain[index + 1:])
                if plan is not None:
                    break
        if plan is not None and plan.kind == "state":
            for method in _STATE_METHODS:
                if callable(getattr(model, method, None)):
                    plan = Plan(kind="init_hidden", method=method, batch_dim=None,
                                reached=f"model.{method}")
                    break
        if plan is None:
            plan = by_name
        if plan is None and name == first:
            plan = _first_layer_plan(model, name)
        if plan is None:
            missing.append(name)
        else:
            plans[name] = plan
    return plans, missing


def _first_layer_plan(model: nn.Module, name: str) -> Plan | None:
    """For forward's first argument, when the trace reaches no layer (the layers sit in
    a library model the code holds, `self.encoder = vgg16().features`, or are run
    through code the trace does not follow): the first torch layer the model
    registers that decides a plan. A guess the trial forward then checks."""
    for path, module in _torch_layers(model):
        plan = _plan_for(Reach(module, 0, None, path), [])
        if plan is not None:
            return replace(plan, reached=f"{plan.reached} (the model's first layer: {name} is "
                                         "not traced to a layer)")
    return None


# -- making tensors -----------------------------------------------------------------------


def _size(dims: tuple[Any, ...], batch: int, seq: int, spatial: int) -> tuple[int, ...]:
    table = {"B": batch, "T": seq, "S": spatial}
    return tuple(table[d] if isinstance(d, str) else int(d) for d in dims)


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def _maker(plan: Plan, generator: torch.Generator) -> Callable[[tuple[int, ...]], torch.Tensor]:
    dtype = _dtype(plan.dtype)
    if plan.kind == "ids":
        return lambda size: torch.randint(0, max(plan.bound, 1), size, generator=generator, dtype=dtype)
    if plan.kind == "float":
        return lambda size: torch.randn(size, generator=generator, dtype=dtype)
    if plan.kind == "ones":
        return lambda size: torch.ones(size, dtype=dtype)
    if plan.kind == "bool":
        return lambda size: torch.rand(size, generator=generator) > 0.5
    return lambda size: torch.zeros(size, dtype=dtype)


def describe(plan: Plan, size: tuple[int, ...]) -> str:
    shape = ",".join(str(s) for s in size)
    if plan.kind == "ids":
        return f"{plan.dtype}[{shape}] in [0, {plan.bound})"
    if plan.kind == "ones":
        return f"ones[{shape}]"
    if plan.kind == "zeros":
        return f"zeros[{shape}] {plan.dtype}"
    if plan.kind == "lengths":
        return f"lengths[{shape}]"
    return f"{plan.dtype}[{shape}]"


def materialize(model: nn.Module, name: str, plan: Plan, positional: bool, batch: int, seq: int,
                spatial: int, generator: torch.Generator) -> InputArg:
    if plan.kind == "literal":
        return InputArg(name, plan.value, repr(plan.value), None, positional)
    if plan.kind == "init_hidden":
        value = getattr(model, plan.method)(batch)
        first = value[0] if isinstance(value, (tuple, list)) else value
        batch_dim = 1 if isinstance(first, torch.Tensor) and first.dim() == 3 else 0
        return InputArg(name, value, f"model.{plan.method}({batch})", batch_dim, positional)
    if plan.kind == "lengths":
        value = torch.full((batch,), seq, dtype=torch.int64)
        return InputArg(name, value, f"lengths[{batch}] = {seq}", 0, positional)
    if plan.kind == "offsets":  # where each bag of `seq` packed ids starts
        def offsets(samples: int) -> torch.Tensor:
            return torch.arange(0, samples * seq + (1 if plan.value else 0), seq, dtype=torch.int64)

        value = offsets(batch)
        return InputArg(name, value, f"offsets[{value.numel()}] = 0, {seq}, {2 * seq}, ...", 0,
                        positional, rebatch=offsets)
    size = _size(plan.dims, batch, seq, spatial)
    if plan.kind == "state":
        if plan.value is not None:  # LSTM with projections: h and c differ
            h = torch.zeros(size)
            c = torch.zeros(plan.value[0], batch, plan.value[1])
            return InputArg(name, (h, c), f"zeros{list(size)} and zeros{list(c.shape)}", plan.batch_dim,
                            positional)
        pieces = tuple(torch.zeros(size) for _ in range(plan.pieces))
        value = pieces if plan.pieces > 1 else pieces[0]
        spec = f"zeros[{','.join(map(str, size))}]" + (f" x{plan.pieces}" if plan.pieces > 1 else "")
        return InputArg(name, value, spec, plan.batch_dim, positional)
    make = _maker(plan, generator)
    if plan.packed:  # (B, T) drawn, then packed: sample i is elements [i·T, (i+1)·T)
        stride = size[1]
        value = make(size).flatten()
        return InputArg(name, value, f"{describe(plan, (value.numel(),))}: {size[0]} bags of {stride}",
                        0, positional, remake=lambda like, make=make: make(tuple(like.shape)),
                        stride=stride)
    value = make(size)
    return InputArg(name, value, describe(plan, size), plan.batch_dim, positional,
                    remake=lambda like, make=make: make(tuple(like.shape)))


def build_inputs(model: nn.Module, plans: dict[str, Plan], batch: int, seq: int, spatial: int,
                 seed: int) -> Inputs:
    generator = torch.Generator().manual_seed(seed)
    arguments: list[InputArg] = []
    positional = True
    synthesized = False
    for parameter in forward_parameters(model):
        plan = plans.get(parameter.name)
        if plan is None:
            positional = False  # later arguments must be given by keyword
            continue
        is_positional = positional and parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        arguments.append(materialize(model, parameter.name, plan, is_positional, batch, seq, spatial,
                                     generator))
        synthesized = synthesized or plan.source == "synthesized"
    return Inputs(arguments, batch, synthesized, generator)


def hint_text(model: nn.Module, plans: dict[str, Plan], missing: list[str],
              names: dict[str, Any] | None = None) -> dict[str, str]:
    """Input specs to suggest in a hint: what was planned, and a guess for the rest.
    A size equal to exactly one constructor argument is written as its name."""
    by_value: dict[Any, list[str]] = {}
    for key, value in (names or {}).items():
        by_value.setdefault(value, []).append(key)

    def dim(value: Any) -> str:
        owners = by_value.get(value, [])
        return owners[0] if isinstance(value, int) and value > 1 and len(owners) == 1 else str(value)

    specs: dict[str, str] = {}
    for parameter in forward_parameters(model):
        name = parameter.name
        plan = plans.get(name)
        if plan is not None and plan.kind not in ("literal", "init_hidden", "state"):
            kind = {"ids": "long", "float": "float", "ones": "ones", "zeros": "zeros",
                    "bool": "bool", "lengths": "long", "offsets": "offsets"}[plan.kind]
            dims = "B*T" if plan.packed else ",".join(dim(d) for d in plan.dims)
            bound = f" < {dim(plan.bound)}" if plan.kind == "ids" else ""
            specs[name] = f"{kind}[{dims}]{bound}"
        elif name in missing:
            specs[name] = "float[B,T]"
    return specs


def spatial_needed(plans: dict[str, Plan]) -> bool:
    return any("S" in plan.dims for plan in plans.values())


class WidthMismatch(Exception):
    """A Linear layer got inputs of another width than its ``in_features``
    (raised by :func:`width_checks` before the matrix product fails)."""

    def __init__(self, layer: str, got: int, want: int) -> None:
        super().__init__(f"{layer} expects {want} features, got {got}")
        self.layer = layer
        self.got = got
        self.want = want


@contextlib.contextmanager
def width_checks(model: nn.Module) -> Iterator[None]:
    """While the block runs, every ``nn.Linear`` of `model` raises
    :class:`WidthMismatch` when its input's last dimension is not its width."""
    def check(name: str, module: nn.Linear, args: tuple[Any, ...]) -> None:
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and first.dim() and first.shape[-1] != module.in_features:
            raise WidthMismatch(name or type(module).__name__, int(first.shape[-1]), module.in_features)

    handles = [module.register_forward_pre_hook(lambda m, args, name=name: check(name, m, args))
               for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


_TOO_SMALL_RE = re.compile(r"too small|can't be greater than actual input size|non-positive|"
                           r"Invalid computed output size")


def too_small(error: BaseException) -> bool:
    """Whether a forward failed because the spatial size shrank below a kernel or pool."""
    return isinstance(error, (RuntimeError, ValueError)) and bool(_TOO_SMALL_RE.search(str(error)))


def search_spatial(measure: Callable[[int], str], start: int = 8, limit: int = 8192) -> int | None:
    """The smallest spatial size S for which ``measure(S)`` is ``"ok"``, where
    ``measure`` says whether the features reaching the first mismatched Linear
    are too few (``"small"``), too many (``"large"``), or something else failed
    (``"other"``). A conv/pool stack's flattened size grows with S, so S is
    bracketed by doubling from `start`, then bisected; None when no size fits
    (the size that matches skips a value, or another error) or S passes `limit`."""
    seen: dict[int, str] = {}

    def small(size: int) -> bool | None:
        if size not in seen:
            seen[size] = measure(size)
        return None if seen[size] == "other" else seen[size] == "small"

    low, high = 0, start
    while True:
        verdict = small(high)
        if verdict is None:
            return None
        if not verdict:
            break
        low, high = high, high * 2
        if high > limit:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        verdict = small(middle)
        if verdict is None:
            return None
        low, high = (middle, high) if verdict else (low, middle)
    return high if seen[high] == "ok" else None


_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


def pool_sizes(model: nn.Module | None) -> tuple[int, ...]:
    """Kernel sizes of the model's pooling layers that are larger than the first
    spatial candidate: a pool over a fixed number of points or pixels
    (``nn.MaxPool1d(num_points)``) runs only on inputs at least that long, so the
    input was built for that size."""
    if model is None:
        return ()
    found: list[int] = []
    for module in model.modules():
        if isinstance(module, _POOLS):
            kernel = module.kernel_size
            size = max(kernel) if isinstance(kernel, tuple) else int(kernel)
            if size > SPATIAL_CANDIDATES[0] and size not in found:
                found.append(size)
    return tuple(sorted(found))


def candidate_layouts(plans: dict[str, Plan], model: nn.Module | None = None
                      ) -> list[tuple[dict[str, Plan], int]]:
    """Layouts to try in turn: spatial sizes for convolutions (first the kernel
    sizes of large pools, see :func:`pool_sizes`), then the other sequence order."""
    spatials = SPATIAL_CANDIDATES if spatial_needed(plans) else (SPATIAL_CANDIDATES[0],)
    if spatial_needed(plans):
        pools = pool_sizes(model)
        spatials = (*pools, *(s for s in SPATIAL_CANDIDATES if s not in pools))
    layouts = [(plans, s) for s in spatials]
    transposed = {n: (p.transposed() if p.source == "synthesized" else p) for n, p in plans.items()}
    if transposed != plans:
        layouts.append((transposed, spatials[0]))
    return layouts


_UNPACK_RE = re.compile(r"not enough values to unpack \(expected (\d+), got (\d+)\)")
_VIEW_RE = re.compile(r"shape '\[([-\d, ]+)\]' is invalid for input of size \d+")
_MATMUL_RE = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def repairs(plans: dict[str, Plan], error: BaseException, model: nn.Module | None = None
            ) -> list[tuple[dict[str, Plan], str]]:
    """Changed plans to try after a failed forward, from what its error says.

    - ``not enough values to unpack (expected 3, got 2)``: the forward unpacks a
      sequence's size; 2-D float inputs ``(B, F)`` become ``(T, B, F)`` (recurrent
      code written time-first), then ``(B, T, F)``; where the model's first layer
      takes one dimension fewer than the forward unpacks (``b, t, c, h, w = x.shape``
      before ``x.view(b * t, c, h, w)`` into a Conv2d), forward's first argument gets
      that layer's input with a time dimension after the batch (clips of frames).
    - ``mat1 and mat2 shapes cannot be multiplied (NxA and WxO)``: a Linear of W
      input features got A; an input planned for W features that is concatenated
      with others before that Linear has W - (A - W) of its own."""
    text = str(error)
    found: list[tuple[dict[str, Plan], str]] = []
    unpack = _UNPACK_RE.search(text)
    if unpack and int(unpack.group(1)) > int(unpack.group(2)):
        flat = [n for n, p in plans.items() if p.source == "synthesized" and p.kind == "float"
                and len(p.dims) == 2 and p.dims[0] == "B"]
        for order, label in ((("T", "B"), "time-first"), (("B", "T"), "batch-first")):
            changed = dict(plans)
            for name in flat:
                plan = plans[name]
                changed[name] = replace(plan, dims=(*order, plan.dims[1]), batch_dim=order.index("B"))
            if flat:
                found.append((changed, f"{', '.join(flat)} made {label} sequences: the forward unpacks "
                                       f"{unpack.group(1)} dimensions ({text.strip()})"))
        first = next(iter(plans), None)
        merged = _first_layer_plan(model, first) if model is not None and first is not None else None
        wanted = int(unpack.group(1))
        dims = ("B", "T", *merged.dims[1:]) if merged is not None else ()
        if merged is not None and plans[first].source == "synthesized" and merged.dims[:1] == ("B",) \
                and len(merged.dims) == wanted - 1 and plans[first].dims != dims:
            changed = dict(plans)
            changed[first] = replace(merged, dims=dims, batch_dim=0)
            shown = ", ".join(str(d) for d in dims)
            found.append((changed, f"{first} made [{shown}]: the forward unpacks {wanted} dimensions and "
                                   f"the model's first layer takes {wanted - 1} (steps merged into the batch)"))
    view = _VIEW_RE.search(text)
    if view:
        # `x.view(-1, 28, 28)`: each sample holds the product of the fixed sizes; a sequence
        # input whose other sizes divide it gets the length that fills it.
        sizes = [int(v) for v in view.group(1).split(",") if v.strip() and int(v) > 0]
        wanted = math.prod(sizes) if sizes else 0
        for name, plan in plans.items():
            if plan.source != "synthesized" or "T" not in plan.dims or plan.packed:
                continue
            other = math.prod(int(d) for d in plan.dims if isinstance(d, int))
            if other and wanted % other == 0 and wanted // other > 0:
                length = wanted // other
                changed = dict(plans)
                changed[name] = replace(plan, dims=tuple(length if d == "T" else d for d in plan.dims))
                found.append((changed, f"{name} has {length} steps: the forward views it as "
                                       f"[{view.group(1).strip()}]"))
    matmul = _MATMUL_RE.search(text)
    if matmul:
        got, want = int(matmul.group(2)), int(matmul.group(3))
        if got != want:
            for name, plan in plans.items():
                if plan.source != "synthesized" or plan.kind != "float" or not plan.dims \
                        or plan.dims[-1] != want:
                    continue
                width = want - (got - want)
                if width > 0:
                    changed = dict(plans)
                    changed[name] = replace(plan, dims=(*plan.dims[:-1], width))
                    found.append((changed, f"{name} has {width} features of its own: a Linear of {want} "
                                           f"inputs got {got} (it is concatenated with others first)"))
            sharing = [n for n, p in plans.items() if p.source == "synthesized" and p.kind == "float"
                       and p.dims and p.dims[-1] == want]
            if len(sharing) > 1 and got == len(sharing) * want:
                # `torch.cat([zn, zc], -1)` into a Linear of W inputs, both planned for W: the
                # split is not known; W // n each (the first takes the rest) makes the shapes run
                changed = dict(plans)
                for index, name in enumerate(sharing):
                    width = want // len(sharing) + (want % len(sharing) if index == 0 else 0)
                    changed[name] = replace(plans[name], dims=(*plans[name].dims[:-1], width))
                found.append((changed, f"{', '.join(sharing)} are concatenated into a Linear of {want} inputs: "
                                       f"{want // len(sharing)} features each (a guess: the split is not known)"))
            for name, plan in plans.items():
                # `x.reshape(batch, steps * width)` into a Linear of W inputs: a sequence of
                # W // (its fixed sizes) steps (an input built for that length)
                if plan.source != "synthesized" or "T" not in plan.dims or plan.packed:
                    continue
                fixed = math.prod(int(d) for d in plan.dims if isinstance(d, int))
                if fixed and want % fixed == 0 and got % fixed == 0 and want // fixed > 1:
                    changed = dict(plans)
                    length = want // fixed
                    changed[name] = replace(plan, dims=tuple(length if d == "T" else d for d in plan.dims))
                    found.append((changed, f"{name} has {length} steps: a Linear of {want} inputs got "
                                           f"{got} from its flattened steps"))
            for name, plan in plans.items():
                if plan.source != "synthesized" or plan.kind != "float" or plan.dims != ("B", want):
                    continue
                if not plan.packed:
                    # the forward indexes or combines positions along dimension 1 (`x[:, pairs]`,
                    # fields of a tabular model): each sample is a set of T vectors of that width
                    changed = dict(plans)
                    changed[name] = replace(plan, dims=("B", "T", want))
                    found.append((changed, f"{name} made [B, T, {want}]: a Linear of {want} inputs got "
                                           f"{got} from positions taken along its second dimension"))
    return found
