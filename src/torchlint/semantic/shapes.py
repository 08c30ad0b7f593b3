"""Tensor layouts: how many dimensions a tensor has, and whether its dim 0 is the batch.

Softmax rules need two facts the value analysis does not give: the rank of the
tensor a softmax normalizes (PyTorch's implicit ``dim`` is 0 for 1-D and 3-D
inputs, 1 for 2-D and 4-D ones) and whether dim 0 is certainly the batch. Both
are read from how the tensor was made: ``x.view(n, -1)`` has two dims, a
``Linear`` or ``ReLU`` keeps the rank of its input, ``torch.bmm`` returns
(batch, n, m), and what a model returns to a training loop is batch first.

Only what the code shows is known: a parameter whose callers are not all seen,
a ``squeeze()`` that may or may not drop a dim (unless the dim is known to be 1:
made by ``unsqueeze(0)``, or reduced by a pooling that a bare ``squeeze()``
follows), an unknown function's result all have an unknown rank, and nothing is
batch first without evidence. Recurrent layers are taken as batched (3-D output).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import Layer, ModuleClass, literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.phases import words
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 48  # a chain of names and layers; each name hop and each call is one level


@dataclass(frozen=True)
class Layout:
    """What is known of one tensor's dimensions."""

    rank: int | None = None  # number of dimensions; None when unknown
    batch_first: bool = False  # dim 0 is certainly the batch
    evidence: str = ""  # why dim 0 is the batch, for messages
    elements: tuple[Layout, ...] | None = None  # a tuple of tensors (`return out, hidden`)
    least: int = 0  # a lower bound of the rank when the rank itself is unknown
    leading_one: bool = False  # dim 0 has size 1 (`x.unsqueeze(0)`, `x[None]`), so `squeeze(0)` drops it
    pooled: int = 0  # trailing dims a pooling reduced, which a following `squeeze()` is written to drop

    @property
    def min_rank(self) -> int:
        return self.rank if self.rank is not None else self.least

    def with_rank(self, rank: int | None, least: int = 0) -> Layout:
        known = rank if rank is None or rank >= 0 else None
        return replace(self, rank=known, least=known if known is not None else max(least, 0), elements=None,
                       leading_one=False, pooled=0)

    def kept(self) -> Layout:
        """The same dims (an element-wise op, a rank-keeping layer)."""
        return replace(self, elements=None) if self.elements is not None else self

    def not_batch_first(self) -> Layout:
        return replace(self, batch_first=False, evidence="", elements=None)


def join(layouts) -> Layout:
    """What is known of a tensor that is one of `layouts` (returns of several branches)."""
    layouts = list(layouts)
    if not layouts:
        return UNKNOWN
    first = layouts[0]
    if all(layout == first for layout in layouts):
        return first
    if all(layout.elements is not None for layout in layouts) and \
            len({len(layout.elements) for layout in layouts}) == 1:  # type: ignore[arg-type]
        return Layout(elements=tuple(join(parts) for parts in zip(*(l.elements for l in layouts))))
    ranks = {layout.rank for layout in layouts}
    batch_first = all(layout.batch_first for layout in layouts)
    evidence = first.evidence if batch_first else ""
    if len(ranks) == 1 and None not in ranks:
        return Layout(rank=ranks.pop(), least=first.least, batch_first=batch_first, evidence=evidence)
    return Layout(least=min(layout.min_rank for layout in layouts), batch_first=batch_first, evidence=evidence)


UNKNOWN = Layout()

# Functions (by the last part of their qualified name) and tensor methods whose
# result has the layout of their first tensor argument (or receiver).
_SAME_LAYOUT = frozenset({
    "relu", "relu_", "leaky_relu", "gelu", "elu", "selu", "silu", "mish", "tanh", "sigmoid",
    "softplus", "hardtanh", "relu6", "prelu", "dropout", "dropout1d", "dropout2d", "alpha_dropout",
    "softmax", "log_softmax", "normalize", "layer_norm", "batch_norm", "exp", "log", "abs", "sqrt",
    "pow", "clamp", "clip", "neg", "masked_fill", "contiguous", "float", "double", "half", "long",
    "int", "bool", "to", "cuda", "cpu", "detach", "clone", "type", "type_as", "requires_grad_",
    "bfloat16", "__call__", "mul", "div", "add", "sub", "sign",
    "Variable", "Parameter",  # wrappers of the same tensor (Variable is a no-op since PyTorch 0.4)
})
# Torch layers (qualified names without ``torch.nn.``) that keep the rank of their input.
_RANK_KEEPING_LAYERS = frozenset({
    "Linear", "LazyLinear", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "GELU", "ELU", "SELU",
    "SiLU", "Mish", "Tanh", "Sigmoid", "Softplus", "Hardtanh", "Identity", "Softmax", "LogSoftmax",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Threshold",
})
# Constructors of a tensor from data (a nested list gives the rank) or, for the legacy
# typed ones, from sizes (`torch.FloatTensor(3, 4)`).
_CONSTRUCTORS = frozenset({"tensor", "as_tensor", "Tensor", "FloatTensor", "LongTensor", "DoubleTensor",
                           "IntTensor", "ByteTensor", "BoolTensor", "HalfTensor"})
# Pooling functions and layers (by their last name part): they keep the rank.
_POOLINGS = frozenset({f"{kind}_pool{n}d" for kind in ("avg", "max", "adaptive_avg", "adaptive_max", "lp")
                       for n in (1, 2, 3)} | {f"{kind}Pool{n}d" for kind in ("Avg", "Max", "AdaptiveAvg",
                                                                         "AdaptiveMax", "LP") for n in (1, 2, 3)})
# Recurrent layers: the output keeps dim 0 of the input (time, or the batch with batch_first).
_RECURRENT_LAYERS = frozenset({"RNN", "LSTM", "GRU"})
# Losses that accept only a 4-D (N, C, H, W) input.
_NEEDS_4D = frozenset({"torch.nn.NLLLoss2d"})
# Tensor factories whose size arguments give the rank.
_FACTORIES = frozenset({"randn", "rand", "zeros", "ones", "empty", "full"})
# Names that say a number is the batch size.
_BATCH_WORDS = frozenset({"batch", "bs", "bsz", "nbatch", "nbatches"})

BMM_EVIDENCE = "dim 0 of a batched matrix product (bmm/baddbmm) is the batch"
# Index names an einsum or einops pattern gives the batch (`"b m d, d n -> b m n"`,
# `"batch seq dim -> ..."`): the letter b is the convention of both notations.
_BATCH_INDICES = frozenset({"b", "B"}) | _BATCH_WORDS
# Functions whose equation or pattern names the dims of their result, with where the
# string is: torch.einsum("...", a, b) first; einops.einsum(a, b, "...") last;
# einops.rearrange/repeat/reduce(x, "...") second.
_PATTERN_FUNCTIONS = {"torch.einsum": 0, "torch.functional.einsum": 0, "einops.einsum": -1,
                      "einops.rearrange": 1, "einops.repeat": 1, "einops.reduce": 1}


@dataclass(frozen=True)
class _Frame:
    scope: F.Scope
    order: int | None
    facts: F.FileFacts
    path: Path | None
    # Layouts of the parameters of the function being evaluated for one call.
    bound: tuple[tuple[str, Layout], ...] = ()
    # False while finding a layer's input from its other call sites (no recursion into that).
    via_layer_sites: bool = True


class Shapes:
    """Layouts of expressions of one file (and the project classes it uses)."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._memo: dict[tuple, Layout] = {}
        self._active: set[tuple] = set()
        self._mode_targets: dict[str, int] | None = None

    # -- entry points -------------------------------------------------------------

    def at(self, node: cst.BaseExpression | None, fact: F.Located) -> Layout:
        """The layout of `node`, written where `fact` sits in this file."""
        return self._infer(node, _Frame(fact.scope, fact.order, self.model.facts, self.model.path), 0)

    def layer_input_ranks(self, attr: str | None, local: str | None, call: F.Call) -> list[int | None]:
        """Ranks of the tensors a layer built by `call` is applied to: the calls of
        ``self.<attr>(t)`` in its class, or of the local variable it is bound to."""
        return [layout.rank for layout in self.layer_input_layouts(attr, local, call)]

    def layer_input_layouts(self, attr: str | None, local: str | None, call: F.Call) -> list[Layout]:
        """Layouts of the tensors a layer built by `call` is applied to (see layer_input_ranks)."""
        scope = call.scope
        found: list[Layout] = []
        if attr is not None:
            function = scope.function
            cls = function.class_ if function is not None else None
            if cls is None:
                return []
            for method in cls.methods.values():
                for site in method.calls:
                    func = site.func
                    if isinstance(func, cst.Attribute) and func.attr.value == attr and \
                            isinstance(func.value, cst.Name) and func.value.value == "self":
                        found.append(self.at(site.argument(0, "input"), site))
        elif local is not None:
            for site in scope.calls:
                if site.order <= call.order:
                    continue
                if isinstance(site.func, cst.Name) and site.func.value == local:
                    found.append(self.at(site.argument(0, "input"), site))
                elif any(isinstance(arg.value, cst.Name) and arg.value.value == local for arg in site.args) and \
                        self.model.names.qualified(site.func, site.scope, site.order) == "torch.nn.Sequential":
                    # `nn.Sequential(linear, softmax)`: the layer is an element of a container
                    found.extend(self._element_layouts(site.node, local, site))
        return found

    def _element_layouts(self, container: cst.Call, local: str, site: F.Call) -> list[Layout]:
        """Layouts reaching the element named `local` of the Sequential `container`."""
        statement = self.model.facts.statement_of.get(id(container))
        if not isinstance(statement, cst.Assign) or len(statement.targets) != 1 or statement.value is not container:
            return []
        target = statement.targets[0].target
        attr = target.attr.value if isinstance(target, cst.Attribute) and \
            isinstance(target.value, cst.Name) and target.value.value == "self" else None
        name = target.value if isinstance(target, cst.Name) else None
        if attr is None and name is None:
            return []
        position = next(i for i, arg in enumerate(container.args)
                        if isinstance(arg.value, cst.Name) and arg.value.value == local)
        return [self._through_written_layers(container.args[:position], layout, site)
                for layout in self.layer_input_layouts(attr, name, site)]

    def sequential_input_ranks(self, call: F.Call) -> list[int | None]:
        """Ranks reaching a layer built inside `nn.Sequential(...)` (`self.head =
        nn.Sequential(nn.Linear(...), nn.Softmax())`): the ranks the container is
        applied to, carried through the layers before it."""
        return [layout.rank for layout in self.sequential_input_layouts(call)]

    def sequential_input_layouts(self, call: F.Call, uncalled: bool = False) -> list[Layout]:
        """Layouts reaching a layer built inside `nn.Sequential(...)` (see sequential_input_ranks);
        with `uncalled`, a container applied nowhere in this file still gets what the layers
        before the element show (`nn.Flatten()` leaves the batch in dim 0)."""
        facts = self.model.facts
        statement = facts.statement_of.get(id(call.node))
        if not isinstance(statement, cst.Assign) or len(statement.targets) != 1 or \
                not isinstance(statement.value, cst.Call):
            return []
        container = statement.value
        position = next((i for i, arg in enumerate(container.args) if arg.value is call.node), None)
        container_call = facts.call_of.get(id(container))
        if position is None or container_call is None or \
                self.model.names.qualified(container.func, call.scope, call.order) != "torch.nn.Sequential":
            return []
        target = statement.targets[0].target
        attr = target.attr.value if isinstance(target, cst.Attribute) and \
            isinstance(target.value, cst.Name) and target.value.value == "self" else None
        local = target.value if isinstance(target, cst.Name) else None
        layouts = self.layer_input_layouts(attr, local, container_call)
        if uncalled and not layouts:
            layouts = [UNKNOWN]
        return [self._through_written_layers(container.args[:position], layout, call) for layout in layouts]

    def _through_written_layers(self, args, layout: Layout, call: F.Call) -> Layout:
        """`layout` carried through the layers written before a container's element:
        UNKNOWN past a layer that may change the rank."""
        for arg in args:
            layer = arg.value
            if isinstance(layer, cst.Name):  # `linear = nn.Linear(4, 3)` placed by name
                found = lookup(call.scope, layer.value, call.order)
                fact = found[1].fact if found is not None else None
                layer = fact.value if isinstance(fact, F.Assign) and fact.kind == "assign" \
                    and not found[1].path else None
            if not isinstance(layer, cst.Call):
                return UNKNOWN
            qualified = self.model.names.qualified(layer.func, call.scope, call.order) or ""
            short = qualified.rsplit(".", 1)[-1] if qualified.startswith("torch.nn.") else ""
            if short == "Flatten" and not layer.args:  # start_dim=1: dim 0 is kept as the batch
                layout = Layout(rank=2, batch_first=True, evidence="`nn.Flatten()` keeps dim 0 as the batch dim")
            elif layout.rank is None:
                return UNKNOWN
            elif short not in _RANK_KEEPING_LAYERS:
                return UNKNOWN
            else:
                layout = layout.kept()
        return layout

    def rank_from_use(self, call: F.Call) -> tuple[int, str] | None:
        """The rank the code around `call` (a rank-keeping function of one tensor, such as
        softmax) shows its result has, with why: `probs[:, k]` picks column k of each row,
        so the code reads the result as (rows, classes); `nn.NLLLoss2d()` accepts only
        (N, C, H, W). The result may reach the consumer through element-wise arithmetic
        with numbers or with another rank-keeping function of the same tensor, and through
        a local name bound once (`weight = 1 - F.softmax(x)`; `loss(weight * ...)`)."""
        statement = self.model.facts.statement_of.get(id(call.node))
        return self._use_rank(call.node, statement, self._rank_root(call.node, call), call, 0)

    def _use_rank(self, node: cst.CSTNode, statement: cst.CSTNode | None, root: str | None,
                  fact: F.Located, hops: int) -> tuple[int, str] | None:
        path = _path_to(statement, node)
        if not path:
            return None
        parent = path[-1]
        if hops == 0 and isinstance(parent, cst.Subscript) and parent.value is node and _picks_column(parent):
            return 2, f"`{self.model.code(parent)[:40]}` reads it as (rows, columns)"
        for ancestor in reversed(path):
            if isinstance(ancestor, cst.Arg):
                continue
            if isinstance(ancestor, cst.Attribute) and ancestor.value is node and ancestor.attr.value in _SAME_LAYOUT:
                node = ancestor  # `p.clamp(min=eps)`: the call around this attribute keeps the layout
            elif isinstance(ancestor, cst.Call) and ancestor.func is node and isinstance(node, cst.Attribute):
                node = ancestor
            elif isinstance(ancestor, cst.UnaryOperation):
                node = ancestor
            elif isinstance(ancestor, cst.BinaryOperation):
                other = ancestor.right if ancestor.left is node else ancestor.left
                exponent = isinstance(ancestor.operator, cst.Power) and ancestor.left is node and \
                    isinstance(other, (cst.Name, cst.Attribute))
                if not (exponent or literal_number(other) is not None or
                        (root is not None and self._rank_root(other, fact) == root)):
                    return None
                node = ancestor
            elif isinstance(ancestor, cst.Call):
                if not ancestor.args or ancestor.args[0].value is not node or ancestor.args[0].keyword is not None:
                    return None
                if self._needs_4d(ancestor, fact):
                    return 4, f"`{self.model.code(ancestor.func)[:30]}` accepts only (N, C, H, W) input"
                if self._keeps_layout(ancestor, fact) is None:
                    return None
                node = ancestor
            elif isinstance(ancestor, cst.Assign) and ancestor is statement and ancestor.value is node and \
                    hops == 0 and len(ancestor.targets) == 1 and isinstance(ancestor.targets[0].target, cst.Name):
                return self._rank_of_local(ancestor, ancestor.targets[0].target.value, root, fact)
            else:
                return None
        return None

    def _rank_of_local(self, assign: cst.Assign, name: str, root: str | None,
                       fact: F.Located) -> tuple[int, str] | None:
        """What the later uses of `name` (bound by `assign`, not rebound) show of its rank,
        when they agree."""
        facts = self.model.facts
        found: set[tuple[int, str]] = set()
        seen: set[int] = set()
        for later in fact.scope.calls:
            statement = facts.statement_of.get(id(later.node))
            if later.order <= fact.order or statement is None or id(statement) in seen:
                continue
            seen.add(id(statement))
            binding = lookup(fact.scope, name, later.order)
            if binding is None or binding[1].fact.node is not assign:
                return None
            for use in iter_nodes(statement):
                if isinstance(use, cst.Name) and use.value == name:
                    rank = self._use_rank(use, statement, root, later, 1)
                    if rank is not None:
                        found.add(rank)
        ranks = {rank for rank, _ in found}
        return min(found) if len(ranks) == 1 else None

    def _keeps_layout(self, node: cst.BaseExpression, fact: F.Located) -> cst.BaseExpression | None:
        """The tensor argument of `torch.exp(t)` / `F.softmax(t)`: a function whose result has
        the layout of its first argument; None for anything else."""
        if not isinstance(node, cst.Call) or not node.args or node.args[0].keyword is not None:
            return None
        qualified = self.model.names.qualified(node.func, fact.scope, fact.order) or ""
        if qualified.startswith("torch.") and qualified.rsplit(".", 1)[-1] in _SAME_LAYOUT:
            return node.args[0].value
        return None

    def _rank_root(self, node: cst.BaseExpression, fact: F.Located) -> str | None:
        """The code of the tensor whose rank `node` has: `x` for `F.log_softmax(x)` and `x`."""
        for _ in range(MAX_DEPTH):
            inner = self._keeps_layout(node, fact)
            if inner is None and isinstance(node, cst.UnaryOperation):
                inner = node.expression
            elif inner is None and isinstance(node, cst.BinaryOperation):
                inner = _tensor_operand(node)
            if inner is None:
                break
            node = inner
        if isinstance(node, cst.Name):
            found = lookup(fact.scope, node.value, fact.order)
            bound = found[1].fact if found is not None else None
            if isinstance(bound, F.Assign) and bound.kind == "assign" and bound.value is not None and \
                    not found[1].path and bound.scope is fact.scope:
                return self._rank_root(bound.value, bound) or self.model.code(node)
        return self.model.code(node) if isinstance(node, (cst.Name, cst.Attribute)) else None

    def _needs_4d(self, node: cst.Call, fact: F.Located) -> bool:
        """`self.loss(...)` holding `nn.NLLLoss2d(...)`, or `nn.NLLLoss2d()(...)`."""
        names = self.model.names
        if isinstance(node.func, cst.Call):
            return names.qualified(node.func.func, fact.scope, fact.order) in _NEEDS_4D
        return any(v.kind == "module" and (v.qualname in _NEEDS_4D or
                                           (v.layer is not None and v.layer.qualname in _NEEDS_4D))
                   for v in self.model.values.at(node.func, fact))

    # -- the cases ------------------------------------------------------------------

    def _infer(self, node: cst.CSTNode | None, frame: _Frame, depth: int) -> Layout:
        if node is None or depth > MAX_DEPTH:
            return UNKNOWN
        key = (id(node), frame.order, id(frame.facts), frame.bound, frame.via_layer_sites)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            return UNKNOWN
        self._active.add(key)
        try:
            layout = self._layout(node, frame, depth)
        finally:
            self._active.discard(key)
        self._memo[key] = layout
        return layout

    def _layout(self, node: cst.CSTNode, frame: _Frame, depth: int) -> Layout:
        if isinstance(node, cst.Name):
            return self._name(node, frame, depth)
        if isinstance(node, cst.Call):
            return self._call(node, frame, depth)
        if isinstance(node, cst.BinaryOperation):
            return self._binary(node, frame, depth)
        if isinstance(node, cst.UnaryOperation):
            return self._infer(node.expression, frame, depth + 1)
        if isinstance(node, cst.Subscript):
            return self._subscript(node, frame, depth)
        if isinstance(node, cst.Attribute):
            if node.attr.value in ("data", "T", "mT"):
                return self._infer(node.value, frame, depth + 1)
            return UNKNOWN
        if isinstance(node, cst.Tuple):
            return Layout(elements=tuple(self._infer(e.value, frame, depth + 1) for e in node.elements))
        return UNKNOWN

    def _name(self, node: cst.Name, frame: _Frame, depth: int) -> Layout:
        found = lookup(frame.scope, node.value, frame.order)
        if found is None:
            return UNKNOWN
        fact = found[1].fact
        if isinstance(fact, F.Param) and fact.function is frame.scope.function:
            for name, layout in frame.bound:
                if name == node.value:
                    return layout
        if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign") and fact.value is not None:
            layout = self._infer(fact.value, replace(frame, scope=fact.scope, order=fact.order), depth + 1)
            for index in found[1].path:
                if layout.elements is None or index >= len(layout.elements):
                    return UNKNOWN
                layout = layout.elements[index]
            return layout
        if isinstance(fact, F.Param):
            return self._param(fact, frame, depth)
        return UNKNOWN

    def _param(self, param: F.Param, frame: _Frame, depth: int) -> Layout:
        """A parameter's layout when every call site seen agrees on it."""
        layouts = set()
        for found in self.model.arguments_for(param, frame.facts):
            site, argument = found[0], found[1]
            facts = found[2] if len(found) > 2 else frame.facts  # the call site's file
            path = frame.path if facts is frame.facts else self._path_of(facts)
            layouts.add(self._infer(argument, _Frame(site.scope, site.order, facts, path), depth + 1))
        return join(layouts)

    def _path_of(self, facts: F.FileFacts) -> Path | None:
        module = next((m for m in self.model.project.modules() if m.facts is facts), None)
        return module.path if module is not None else None

    def _binary(self, node: cst.BinaryOperation, frame: _Frame, depth: int) -> Layout:
        left = self._infer(node.left, frame, depth + 1)
        right = self._infer(node.right, frame, depth + 1)
        if isinstance(node.operator, cst.MatrixMultiply):
            return _matmul(left, right)
        # Broadcasting: the operand with more dims gives the layout; a scalar or an
        # operand about which nothing is known (`scores / temperature`) leaves the other's.
        if right.rank is None and not right.batch_first:
            return left if left.elements is None else UNKNOWN
        if left.rank is None and not left.batch_first:
            return right
        if left.rank is not None and right.rank is not None:
            wider = left if left.rank >= right.rank else right
            return replace(wider, batch_first=wider.batch_first or (left.rank == right.rank and
                                                                    (left.batch_first or right.batch_first)))
        return _broadcast_batch_first(left, right)

    def _subscript(self, node: cst.Subscript, frame: _Frame, depth: int) -> Layout:
        base = self._infer(node.value, frame, depth + 1)
        if base.elements is not None:
            index = _integer_index(node)
            if index is not None and -len(base.elements) <= index < len(base.elements):
                return base.elements[index]
            return UNKNOWN
        rank = base.rank
        keeps_dim0 = True
        new_leading_one = False
        for position, element in enumerate(node.slice):
            part = element.slice
            if isinstance(part, cst.Slice):
                continue
            value = part.value if isinstance(part, cst.Index) else None
            if isinstance(value, cst.Name) and value.value == "None":
                rank = rank + 1 if rank is not None else None
                keeps_dim0 = keeps_dim0 and position > 0
                new_leading_one = new_leading_one or position == 0
            elif isinstance(value, (cst.Integer, cst.UnaryOperation)) and literal_number(value) is not None:
                rank = rank - 1 if rank is not None else None
                keeps_dim0 = keeps_dim0 and position > 0
            else:  # an index tensor, a mask, an ellipsis: the result's dims are not known
                return UNKNOWN
        layout = base.with_rank(rank)
        layout = layout if keeps_dim0 else layout.not_batch_first()
        return replace(layout, leading_one=True) if new_leading_one else layout

    # -- calls ------------------------------------------------------------------------

    def _call(self, node: cst.Call, frame: _Frame, depth: int) -> Layout:
        names = self.model.names_for(frame.facts)
        qualified = names.qualified(node.func, frame.scope, frame.order)
        if qualified in _PATTERN_FUNCTIONS:
            return _pattern_layout(node, _PATTERN_FUNCTIONS[qualified])
        if qualified is not None and qualified.startswith("torch."):
            found = self._torch_function(qualified.rsplit(".", 1)[-1], node, frame, depth)
            return found if found is not None else UNKNOWN
        callees = self.model.values.infer(node.func, frame.scope, frame.order, frame.facts, frame.path)
        modules = [v for v in callees if v.kind == "module" and (v.module is not None or v.layer is not None)]
        if modules:  # `self.softmax(x)` is a layer, not the tensor method
            return self._module_call(modules, node, frame, depth)
        mode_line = self._put_in_mode(node.func, frame)
        if mode_line is not None and self._outside_modules(frame):
            # A model of a class this analysis cannot see (not installed, not found).
            code = " ".join(frame.facts.module.code_for_node(node.func).split())
            return Layout(batch_first=True, evidence=f"`{code}` is a model (its train/eval mode is set at "
                                                     f"line {mode_line}; its class is not available here), "
                                                     f"and dim 0 of its output is the batch")
        if isinstance(node.func, cst.Attribute) and qualified is None:
            found = self._method(node.func.attr.value, node, frame, depth)
            if found is not None:
                return found
        return UNKNOWN

    def _torch_function(self, name: str, node: cst.Call, frame: _Frame, depth: int) -> Layout | None:
        args = [a for a in node.args if a.keyword is None]
        first = args[0].value if args else None
        if name in ("bmm", "baddbmm"):
            return Layout(rank=3, batch_first=True, evidence=BMM_EVIDENCE)
        if name in ("matmul", "mm") and len(args) >= 2:
            return _matmul(self._infer(first, frame, depth + 1), self._infer(args[1].value, frame, depth + 1))
        if name in _FACTORIES:
            return Layout(rank=_size_rank([a for a in node.args if a.keyword is None]))
        if name in _CONSTRUCTORS:
            rank = _constructed_rank(name, args)
            if rank is None and len(args) == 1 and isinstance(first, cst.Name):
                # `x_data = [[1, 2], [3, 4]]` then `torch.Tensor(x_data)`
                found = lookup(frame.scope, first.value, frame.order)
                fact = found[1].fact if found is not None else None
                if isinstance(fact, F.Assign) and fact.kind == "assign" and not found[1].path \
                        and fact.value is not None and len(found[0].bindings.get(first.value, ())) == 1:
                    rank = _literal_depth(fact.value)
            return Layout(rank=rank)
        if name in _POOLINGS and first is not None:
            inner = self._infer(first, frame, depth + 1)
            return replace(inner.kept(), pooled=_pooled_dims(name)) if inner.rank is not None else inner.kept()
        if name in ("cat", "stack", "concat", "concatenate"):
            return self._concatenated(name, node, frame, depth)
        if name in _SAME_LAYOUT and first is not None:
            return self._infer(first, frame, depth + 1)
        if name == "flatten" and first is not None:
            start_node = args[1].value if len(args) > 1 else _keyword(node, "start_dim")
            start = literal_number(start_node) if start_node is not None else 0.0
            return _flatten(self._infer(first, frame, depth + 1), start)
        if name in ("squeeze", "unsqueeze", "transpose", "permute", "reshape", "sum", "mean") and first is not None:
            # torch.f(x, *rest) is x.f(*rest)
            return self._reshaped(name, self._infer(first, frame, depth + 1), node.with_changes(args=node.args[1:]))
        return None

    def _concatenated(self, name: str, node: cst.Call, frame: _Frame, depth: int) -> Layout:
        """torch.cat keeps the rank of its parts (at least dim+1); torch.stack adds one."""
        first = node.args[0].value if node.args else None
        dim_node = _keyword(node, "dim") or (node.args[1].value if len(node.args) > 1 and
                                             node.args[1].keyword is None else None)
        dim = literal_number(dim_node) if dim_node is not None else 0.0
        least = int(dim) + 1 if dim is not None and dim >= 0 else 0
        parts = UNKNOWN
        if isinstance(first, (cst.List, cst.Tuple)) and first.elements and \
                not any(isinstance(e, cst.StarredElement) for e in first.elements):
            parts = join(self._infer(e.value, frame, depth + 1) for e in first.elements)
        if name == "stack":
            return Layout(rank=parts.rank + 1 if parts.rank is not None else None, least=max(least, parts.min_rank + 1))
        keeps = dim is not None and dim != 0 and parts.batch_first
        return Layout(rank=parts.rank, least=max(least, parts.min_rank), batch_first=keeps,
                      evidence=parts.evidence if keeps else "")

    def _method(self, method: str, node: cst.Call, frame: _Frame, depth: int) -> Layout | None:
        receiver = node.func.value  # type: ignore[attr-defined]
        if method in ("bmm", "baddbmm"):
            return Layout(rank=3, batch_first=True, evidence=BMM_EVIDENCE)
        if method in ("matmul", "mm") and node.args:
            return _matmul(self._infer(receiver, frame, depth + 1), self._infer(node.args[0].value, frame, depth + 1))
        if method in _SAME_LAYOUT:
            return self._infer(receiver, frame, depth + 1)
        if method in ("view", "reshape", "flatten", "squeeze", "unsqueeze", "transpose", "t", "permute",
                      "sum", "mean", "softmax", "log_softmax", "view_as", "expand", "repeat"):
            inner = self._infer(receiver, frame, depth + 1)
            if method == "view" and _view_first_is_batch(self, node, inner, frame, depth):
                return replace(inner.with_rank(_size_rank(node.args)), batch_first=True,
                               evidence=inner.evidence or "the first size of this view is the batch size")
            return self._reshaped(method, inner, node)
        return None

    def _reshaped(self, method: str, inner: Layout, node: cst.Call) -> Layout:
        """Layouts of view/reshape/squeeze/unsqueeze/transpose/permute/sum/mean results."""
        args = node.args
        positional = [a for a in args if a.keyword is None]
        if method in ("view", "reshape"):
            if len(positional) == 1 and literal_number(positional[0].value) is None and \
                    not isinstance(positional[0].value, (cst.Tuple, cst.List)):
                return UNKNOWN  # x.view(shape), x.view(other.size())
            rank = _size_rank(positional)
            first = positional[0].value if positional else None
            keeps = rank is not None and _is_size_zero_of(first)
            layout = inner.with_rank(rank)
            if keeps:
                return layout
            return replace(layout.not_batch_first(), leading_one=rank is not None and literal_number(first) == 1)
        if method in ("softmax", "log_softmax", "view_as", "expand"):
            return inner.kept() if method != "view_as" else inner.not_batch_first()
        if method == "repeat":
            return inner.with_rank(_size_rank(positional)).not_batch_first()
        if method == "flatten":
            start_node = positional[0].value if positional else _keyword(node, "start_dim")
            return _flatten(inner, literal_number(start_node) if start_node is not None else 0.0)
        if method == "unsqueeze":
            dim = _dim_argument(node, positional)
            layout = inner.with_rank(inner.rank + 1 if inner.rank is not None else None, inner.least + 1)
            return layout if dim is not None and dim != 0 else replace(layout.not_batch_first(), leading_one=dim == 0)
        if method == "squeeze":
            return _squeezed(inner, _dim_argument(node, positional), bool(args))
        if method in ("transpose", "t"):
            dims = [literal_number(a.value) for a in positional]
            swaps_zero = method == "t" or 0 in dims or None in dims or \
                (inner.rank is not None and any(d == -inner.rank for d in dims if d is not None))
            known = [int(d) for d in dims if d is not None and d >= 0]
            layout = inner.kept() if inner.rank is not None else \
                replace(inner.kept(), least=max([inner.least, *(d + 1 for d in known)]))
            return layout.not_batch_first() if swaps_zero else layout
        if method == "permute":
            dims = positional[0].value.elements if len(positional) == 1 and isinstance(
                positional[0].value, (cst.Tuple, cst.List)) else [a for a in positional]
            layout = inner.with_rank(len(dims))
            first = literal_number(dims[0].value) if dims else None
            return layout if first == 0 else layout.not_batch_first()
        if method in ("sum", "mean"):
            dim = positional[0].value if positional else _keyword(node, "dim")
            keepdim = literal_number(_keyword(node, "keepdim"))
            if dim is None:
                return Layout(rank=0)
            value = literal_number(dim)
            if value is None:
                return UNKNOWN
            layout = inner if keepdim else inner.with_rank(inner.rank - 1 if inner.rank is not None else None)
            if value != 0:
                return layout
            return replace(layout.not_batch_first(), leading_one=True) if keepdim else layout.not_batch_first()
        return UNKNOWN

    def _module_call(self, modules: list, node: cst.Call, frame: _Frame, depth: int) -> Layout:
        """A call of a model or layer: what its forward returns for this input."""
        if len(modules) != 1:
            return UNKNOWN
        callee = modules[0]
        argument = node.args[0].value if node.args else None
        if callee.layer is not None and callee.layer.local is None:
            layout = self._layer(callee.layer, argument, node, frame, depth)
        else:
            module = callee.module or callee.layer.local  # type: ignore[union-attr]
            layout = self._forward(module, node, frame, depth)
        if self._outside_modules(frame):
            # What a model returns to the code that trains or evaluates it is batch first.
            code = " ".join(frame.facts.module.code_for_node(node).split())
            evidence = f"`{code[:40]}` is the output of a model, whose dim 0 is the batch"
            if layout.elements is not None:
                return replace(layout, elements=tuple(
                    replace(e, batch_first=True, evidence=evidence) if e.elements is None else e
                    for e in layout.elements))
            return replace(layout, batch_first=True, evidence=evidence)
        return layout

    def _put_in_mode(self, func: cst.BaseExpression, frame: _Frame) -> int | None:
        """The line where `func` (as written: `self.model`) gets `.train()` or `.eval()`
        in its file, which only models have."""
        if frame.facts is not self.model.facts:
            return None
        name = dotted_name(func)
        if name is None:
            return None
        if self._mode_targets is None:
            self._mode_targets = {}
            for call in self.model.facts.calls:
                target = dotted_name(call.receiver) if call.method in ("train", "eval") else None
                if target is not None and target not in self._mode_targets:
                    self._mode_targets[target] = self.model.line_of(call.node)
        return self._mode_targets.get(name)

    def _outside_modules(self, frame: _Frame) -> bool:
        function = frame.scope.function
        while function is not None:
            if function.class_ is not None:
                return self.model.modules.of_class(function.class_, frame.facts, frame.path) is None
            parent = function.parent
            function = parent.function if parent is not None else None
        return True

    def _layer(self, layer: Layer, argument: cst.BaseExpression | None, node: cst.Call,
               frame: _Frame, depth: int) -> Layout:
        inner = self._infer(argument, frame, depth + 1)
        if inner.rank is None and frame.via_layer_sites and isinstance(node.func, cst.Attribute) and \
                isinstance(node.func.value, cst.Name) and node.func.value.value == "self":
            inner = replace(inner, rank=self._rank_at_other_sites(node, frame))
        return self._through_layer(layer, inner)

    def _through_layer(self, layer: Layer, inner: Layout) -> Layout:
        short = (layer.qualname or "").rsplit(".", 1)[-1]
        if layer.qualname == "torch.nn.Sequential" and layer.children:
            for child in layer.children:
                if child.local is not None:
                    return UNKNOWN
                inner = self._through_layer(child, inner)
            return inner
        if short in _POOLINGS:
            return replace(inner.kept(), pooled=_pooled_dims(short)) if inner.rank is not None else inner.kept()
        if short == "BatchNorm2d":  # it accepts only (N, C, H, W)
            return replace(inner.kept(), rank=4, least=4)
        if short in _RECURRENT_LAYERS and layer.qualname == f"torch.nn.{short}":
            return _recurrent(layer, short, inner)
        if short in _RANK_KEEPING_LAYERS:
            # A Linear or a convolution changes the last dims: what a pooling reduced is gone.
            return replace(inner.kept(), pooled=0) if short.startswith(("Linear", "LazyLinear", "Conv")) \
                else inner.kept()
        if short == "Flatten":
            start = literal_number(layer.argument(0, "start_dim")) if layer.call else 1.0
            return _flatten(inner, 1.0 if start is None and layer.argument(0, "start_dim") is None else start)
        if short in ("Embedding", "EmbeddingBag") and short == "Embedding":
            return inner.with_rank(inner.rank + 1 if inner.rank is not None else None)
        return UNKNOWN

    def _rank_at_other_sites(self, node: cst.Call, frame: _Frame) -> int | None:
        """The rank `self.<layer>` receives at its other calls in the class, when they
        all agree: the same layer is fed tensors of one layout."""
        function = frame.scope.function
        cls = function.class_ if function is not None else None
        if cls is None:
            return None
        attr = node.func.attr.value  # type: ignore[attr-defined]
        ranks = set()
        for method in cls.methods.values():
            for site in method.calls:
                func = site.func
                if site.node is node or not (isinstance(func, cst.Attribute) and func.attr.value == attr and
                                             isinstance(func.value, cst.Name) and func.value.value == "self"):
                    continue
                argument = site.argument(0, "input")
                ranks.add(self._infer(argument, _Frame(site.scope, site.order, frame.facts, frame.path,
                                                       via_layer_sites=False), 0).rank)
        return ranks.pop() if len(ranks) == 1 else None

    def _forward(self, module: ModuleClass, node: cst.Call, frame: _Frame, depth: int) -> Layout:
        found = module.method("forward")
        if found is None:
            return UNKNOWN
        forward, owner = found
        bound = []
        for param in forward.params[1:]:
            argument = F.bound_argument(node, param, default=False)
            if argument is not None:
                bound.append((param.name, self._infer(argument, frame, depth + 1)))
        return join(self._infer(ret.value, _Frame(forward, ret.order, owner.facts, owner.path, tuple(bound),
                                                  frame.via_layer_sites), depth + 1)
                    for ret in forward.returns if ret.value is not None)


def _recurrent(layer: Layer, short: str, inner: Layout) -> Layout:
    """`output, hidden = lstm(x)`: output is (time, batch, features), or (batch, time, features)
    with batch_first, and 2-D only for an unbatched 2-D input; its dim 0 has the size of the
    input's dim 0. The hidden state is (layers, batch, features) (a pair of them for an LSTM)."""
    if inner.rank is not None and inner.rank not in (2, 3):
        return UNKNOWN
    rank = 2 if inner.rank == 2 else 3
    batch_first = layer.argument(4, "batch_first")
    keeps = inner.batch_first and isinstance(batch_first, cst.Name) and batch_first.value == "True"
    output = Layout(rank=rank, least=rank, batch_first=keeps, evidence=inner.evidence if keeps else "",
                    leading_one=inner.leading_one)
    state = Layout(rank=rank, least=rank)
    return Layout(elements=(output, Layout(elements=(state, state)) if short == "LSTM" else state))


def _matmul(left: Layout, right: Layout) -> Layout:
    """`a @ b`: the rows of `a` stay the rows of the product, so a batch-first `a`
    (that is not 1-D) gives a batch-first product."""
    batch_first = left.batch_first and (left.rank is None or left.rank >= 2)
    evidence = left.evidence if batch_first else ""
    if left.rank is None or right.rank is None or left.rank < 2 or right.rank < 2:
        return Layout(batch_first=batch_first, evidence=evidence, least=2 if batch_first else 0)
    return Layout(rank=max(left.rank, right.rank), batch_first=batch_first, evidence=evidence)


def _path_to(root: cst.CSTNode | None, target: cst.CSTNode) -> list[cst.CSTNode]:
    """The nodes from `root` down to the parent of `target` (empty when it is not inside)."""
    if root is None:
        return []
    stack: list[tuple[cst.CSTNode, list[cst.CSTNode]]] = [(root, [])]
    while stack:
        node, above = stack.pop()
        for child in node.children:
            if child is target:
                return [*above, node]
            stack.append((child, [*above, node]))
    return []


def _broadcast_batch_first(left: Layout, right: Layout) -> Layout:
    """An element-wise op of a batch-first tensor whose rank is unknown with another.

    Broadcasting aligns trailing dims, so the result's dim 0 is the batch when the
    other operand is batch first too (dim 0 of the wider one leads, and both lead with
    the batch) or has at most two dims (`lam * out + (1 - lam) * other` with `lam` of
    shape (n, classes), `weights * out`): a batch-first tensor has at least one dim, and
    a 1-D batch-first tensor broadcast against a 2-D one would pair its batch with the
    other's last dim, which only an outer product written on purpose does."""
    if left.batch_first and right.batch_first:
        return Layout(least=max(left.min_rank, right.min_rank), batch_first=True, evidence=left.evidence)
    batched, other = (left, right) if left.batch_first else (right, left)
    if batched.batch_first and batched.rank is None and other.rank is not None and \
            other.rank <= max(2, batched.min_rank) and other.elements is None:
        return Layout(least=max(batched.min_rank, other.rank), batch_first=True, evidence=batched.evidence)
    return UNKNOWN


def _tensor_operand(node: cst.BinaryOperation) -> cst.BaseExpression | None:
    """`1 - p` -> p, `p ** gamma` -> p: the operand whose rank the result has, when the
    other is a number (or an exponent)."""
    if literal_number(node.left) is not None:
        return node.right
    if literal_number(node.right) is not None or (isinstance(node.operator, cst.Power) and
                                                  isinstance(node.right, (cst.Name, cst.Attribute))):
        return node.left
    return None


def _picks_column(node: cst.Subscript) -> bool:
    """`p[:, k]`: all rows, one column (not `p[:, -1]`, the last step of a sequence)."""
    if len(node.slice) != 2:
        return False
    rows, column = node.slice[0].slice, node.slice[1].slice
    if not (isinstance(rows, cst.Slice) and rows.lower is None and rows.upper is None and rows.step is None):
        return False
    if not isinstance(column, cst.Index):
        return False
    value = column.value
    number = literal_number(value)
    return (number is not None and number >= 0) or isinstance(value, (cst.Name, cst.Attribute))


def _constructed_rank(name: str, args) -> int | None:
    """`torch.tensor([[1, 2]])` is 2-D; `torch.LongTensor([i for i in ids])` 1-D; `torch.Tensor(3, 4)` 2-D."""
    if len(args) == 1 and not args[0].star:
        return _literal_depth(args[0].value)
    if name[:1].isupper() and args and all(isinstance(a.value, cst.Integer) for a in args):
        return len(args)
    return None


def _literal_depth(node: cst.BaseExpression) -> int | None:
    """Nesting depth of a list/tuple literal or comprehension of numbers; 0 for a number."""
    if literal_number(node) is not None:
        return 0
    if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        inner = _literal_depth(node.elt)
        if inner is None and _is_scalar_item(node.elt):
            inner = 0
        return inner + 1 if inner is not None else None
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
        depths = {_literal_depth(e.value) if not isinstance(e, cst.StarredElement) else None for e in node.elements}
        return depths.pop() + 1 if len(depths) == 1 and None not in depths else None
    return None


def _is_scalar_item(node: cst.BaseExpression) -> bool:
    """`vocab[word]`, `int(t)`, `len(s)`: an item of a comprehension that is one number."""
    if isinstance(node, cst.Subscript):
        return len(node.slice) == 1 and not isinstance(node.slice[0].slice, cst.Slice)
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("int", "float", "len")


def _pooled_dims(name: str) -> int:
    """2 for `avg_pool2d` or `AdaptiveMaxPool2d`: the spatial dims it reduces."""
    return int(name[-2]) if name[-2:-1].isdigit() else 0


def _dim_argument(node: cst.Call, positional) -> float | None:
    """The literal `dim` of `x.squeeze(0)` / `x.unsqueeze(dim=1)`, None when not a literal or absent."""
    dim = positional[0].value if positional else _keyword(node, "dim")
    return literal_number(dim) if dim is not None else None


def _squeezed(inner: Layout, dim: float | None, has_args: bool) -> Layout:
    """`x.squeeze(d)` drops d only when its size is 1, `x.squeeze()` every dim of size 1: the rank
    is known only when those sizes are, from an `unsqueeze(0)` (dim 0) or a pooling whose
    reduced dims a bare `squeeze()` is written to drop ((N, C, 1, 1) -> (N, C))."""
    if dim == 0 and inner.leading_one:
        rank = inner.rank - 1 if inner.rank is not None else None
        return inner.with_rank(rank, inner.least - 1).not_batch_first()
    if not has_args and inner.pooled and inner.rank is not None and inner.rank > inner.pooled:
        return inner.with_rank(inner.rank - inner.pooled).not_batch_first()
    layout = inner.with_rank(None)
    return layout if dim is not None and dim != 0 else layout.not_batch_first()


def _flatten(inner: Layout, start: float | None) -> Layout:
    if start is None:
        return UNKNOWN
    layout = inner.with_rank(int(start) + 1) if start >= 0 else inner.with_rank(None)
    return layout if start >= 1 else layout.not_batch_first()


def _size_rank(args) -> int | None:
    """How many sizes `view(a, b)`, `view((a, b))` or `torch.zeros(a, b)` give."""
    positional = [a for a in args if getattr(a, "keyword", None) is None]
    if any(a.star for a in positional):
        return None
    if len(positional) == 1 and isinstance(positional[0].value, (cst.Tuple, cst.List)):
        elements = positional[0].value.elements
        return None if any(isinstance(e, cst.StarredElement) for e in elements) else len(elements)
    return len(positional) or None


def _integer_index(node: cst.Subscript) -> int | None:
    if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        value = literal_number(node.slice[0].slice.value)
        return int(value) if value is not None else None
    return None


def _is_size_zero_of(node: cst.BaseExpression | None) -> bool:
    """`x.size(0)`, `x.shape[0]`: a view that keeps the batch as dim 0."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size":
        return len(node.args) == 1 and literal_number(node.args[0].value) == 0
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) and node.value.attr.value == "shape":
        return _integer_index(node) == 0
    return False


def _names_batch(node: cst.BaseExpression | None) -> bool:
    """A size written as the batch size: `batch_size`, `bsz`, `x.size(0)`."""
    if isinstance(node, cst.Name):
        return bool(words(node.value) & _BATCH_WORDS) or node.value in ("B", "N_batch")
    if isinstance(node, cst.Attribute):
        return bool(words(node.attr.value) & _BATCH_WORDS)
    return False


def _view_first_is_batch(shapes: Shapes, node: cst.Call, inner: Layout, frame: _Frame, depth: int) -> bool:
    """`x.view(batch_size * heads, L, L)`: the first size multiplies the batch size, so
    dim 0 runs over (batch, head) pairs, which are separate samples."""
    positional = [a for a in node.args if a.keyword is None]
    if len(positional) < 2:
        return False
    first = positional[0].value
    if isinstance(first, cst.BinaryOperation) and isinstance(first.operator, cst.Multiply):
        return _names_batch(first.left) or _names_batch(first.right)
    return False


def _pattern_layout(node: cst.Call, where: int) -> Layout:
    """The layout an einsum equation or einops pattern gives its result: its rank
    (the dims right of `->`) and, when the first of them names the batch (`b`, or a
    group `(b h)` of batch and heads), that dim 0 is the batch."""
    positional = [a.value for a in node.args if a.keyword is None and not a.star]
    if not positional or not -len(positional) <= where < len(positional):
        return UNKNOWN
    pattern = positional[where]
    if not isinstance(pattern, cst.SimpleString) or not isinstance(pattern.evaluated_value, str):
        return UNKNOWN
    text = pattern.evaluated_value
    if "->" not in text:
        return UNKNOWN
    output = text.split("->", 1)[1].strip()
    dims = _output_dims(output, spaced=" " in output or "(" in output or where != 0)
    if dims is None:
        return UNKNOWN
    rank = None if "..." in dims else len(dims)
    least = len([d for d in dims if d != "..."])
    first = dims[0] if dims else ""
    if set(first.strip("()").split()) & _BATCH_INDICES:
        return Layout(rank=rank, least=least, batch_first=True,
                      evidence=f"the pattern `{' '.join(text.split())}` names dim 0 `{first}`, the batch")
    return Layout(rank=rank, least=least)


def _output_dims(output: str, spaced: bool) -> list[str] | None:
    """The dims of a pattern's right side: einops names separated by spaces, with
    `(a b)` groups as one dim; torch.einsum letters, `...` one entry."""
    if not spaced:
        dims, rest = [], output.replace(" ", "")
        while rest:
            if rest.startswith("..."):
                dims.append("...")
                rest = rest[3:]
            elif rest[0].isalpha():
                dims.append(rest[0])
                rest = rest[1:]
            else:
                return None
        return dims
    dims, depth, current = [], 0, ""
    for char in output:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char.isspace() and depth == 0:
            if current:
                dims.append(current)
            current = ""
        else:
            current += char
    if current:
        dims.append(current)
    return dims if depth == 0 else None


def _keyword(node: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None

