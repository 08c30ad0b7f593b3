"""Data flow: what an expression may hold, followed from where it was made.

:meth:`Values.infer` answers with a set of abstract :class:`Value` objects:
a model instance, a model's output, probabilities from softmax, a loss
function and the loss it computes, a data loader, an optimizer... It follows
local variables (the last binding before the use), tuple unpacking, ``self``
attributes, a model's ``forward`` (across files and through
``nn.Sequential(..., nn.Softmax(dim=1))``), calls to project functions and
their parameters (the arguments given at the call sites).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import libcst as cst

from torchlint.semantic import conditions as C
from torchlint.semantic import facts as F
from torchlint.semantic.modules import Layer, ModuleClass
from torchlint.semantic.names import lookup, lookup_reaching, reaching_bindings
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

# How many inference steps one question may take. Results cut short by this
# limit are not remembered: the same expression asked about from a shallower
# place (another rule's question) gets its full answer.
MAX_DEPTH = 20
# Values computed (not remembered) for one file. A depth-limited answer is never
# remembered, so where parameters are passed on through many functions (a
# library's serializers) the same values are inferred again at every level,
# exponentially; past this budget every further inference is cut short. The
# real-world training files use under 2% of it (the most: 1,967).
MAX_INFER_STEPS = 100_000

# Tensor and module methods that return (a view of) their receiver.
PASSTHROUGH_METHODS = frozenset(
    {
        "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval",
        "requires_grad_", "view", "reshape", "squeeze", "unsqueeze", "permute", "transpose",
        "contiguous", "clone", "flatten", "type", "t", "view_as", "reshape_as", "expand",
        "expand_as", "share_memory", "to_empty", "__call__", "masked_fill", "squeeze_",
        "unsqueeze_", "float_", "long", "int",
    }
)
# Values that arithmetic keeps (``probs * mask`` is still probabilities).
TENSOR_KINDS = frozenset({"probs", "log_probs", "log_of_probs", "loss", "model_output", "tensor"})
PROBABILITY_KINDS = frozenset({"probs", "log_probs", "log_of_probs"})
# Tensor methods that make something other than (a view or rearrangement of)
# the probabilities they are called on: reductions, comparisons, indices,
# element-wise maps that change the values. Any other method keeps them
# (``probs.resize(1, n)``, ``probs.narrow(...)``, ``probs.bmm(onehot)``).
NOT_KEEPING_PROBABILITIES = frozenset(
    {
        "argmax", "argmin", "max", "min", "amax", "amin", "sum", "mean", "prod", "std", "var",
        "median", "mode", "norm", "item", "tolist", "numpy", "detach", "size", "dim", "numel",
        "eq", "ne", "gt", "ge", "lt", "le", "equal", "topk", "sort", "argsort", "kthvalue",
        "nonzero", "any", "all", "cumsum", "cumprod", "logsumexp", "exp", "log", "log2", "log10",
        "log1p", "expm1", "pow", "sqrt", "rsqrt", "abs", "neg", "reciprocal", "sigmoid", "tanh",
        "relu", "round", "floor", "ceil", "sign", "bool", "multinomial", "bernoulli", "entropy",
        "logit", "softmax", "log_softmax", "backward", "tolist", "data_ptr", "stride", "shape",
        "count_nonzero", "histc", "bincount", "unique", "new_zeros", "new_ones", "new_empty",
        "new_full", "new_tensor", "zero_", "fill_", "random_", "uniform_", "normal_",
    }
)
# torch functions that return (a rearrangement of) their first argument.
REARRANGING_FUNCTIONS = frozenset(
    {
        "torch.squeeze", "torch.unsqueeze", "torch.reshape", "torch.flatten", "torch.transpose",
        "torch.permute", "torch.narrow", "torch.select", "torch.index_select", "torch.clamp",
        "torch.clip", "torch.movedim", "torch.t", "torch.gather", "torch.masked_select",
        "torch.squeeze_copy", "torch.swapaxes", "torch.swapdims",
    }
)
# torch functions that join a sequence of tensors along a dim: a list holding
# only (log-)probabilities joins into (log-)probabilities.
JOINING_FUNCTIONS = frozenset({"torch.cat", "torch.concat", "torch.concatenate", "torch.stack"})
# Wrappers that run the module they are given (train()/eval() reach it):
# the value of the call is the value of the first argument.
WRAPPERS = frozenset(
    {
        "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.data_parallel.DataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel", "torch.compile",
        "torch.nn.SyncBatchNorm.convert_sync_batchnorm", "torch.jit.script",
        "apex.parallel.DistributedDataParallel", "apex.parallel.convert_syncbn_model",
        "torch_geometric.nn.DataParallel", "torch.distributed.fsdp.FullyShardedDataParallel",
    }
)
# Objects whose `prepare(a, b, ...)` returns its arguments, prepared (accelerate).
PREPARING_CLASSES = frozenset({"accelerate.Accelerator"})


@dataclass(eq=False)
class Value:
    """One thing an expression may hold."""

    kind: str
    # module, model_output, probs, log_probs, log_of_probs, loss_fn, loss, loader,
    # optimizer, scheduler, grad_scaler, tuple, number, tensor, class, function, external, batch
    origin: cst.CSTNode | None = None  # the node that made it
    facts: F.FileFacts | None = None  # the file `origin` belongs to
    module: ModuleClass | None = None  # project model class (module, model_output)
    layer: Layer | None = None  # torch layer instance (module, model_output)
    qualname: str | None = None  # torch name: torch.nn.CrossEntropyLoss, torchvision.models.resnet18
    call: F.Call | None = None  # constructing call: loss function, loader, optimizer
    elements: tuple[frozenset[Value], ...] = ()  # tuple items
    # dict items: (literal key, or None for keys not known statically, values)
    entries: tuple[tuple[object, frozenset[Value]], ...] = ()
    source: frozenset[Value] = frozenset()  # for probs/log_probs: what softmax was applied to
    definition: object = None  # class/function Definition for kind class/function
    via_forward: ModuleClass | None = None  # set when the value comes out of a model's forward

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        what = self.qualname or (self.module.name if self.module else None) or ""
        return f"<{self.kind} {what}>"


Values_ = frozenset  # alias for readability in signatures


@dataclass
class _Frame:
    """Where an expression is evaluated."""

    scope: F.Scope
    order: int | None
    facts: F.FileFacts
    path: Path | None


class Values:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._memo: dict[tuple[int, int | None], frozenset[Value]] = {}
        self._active: set[tuple[int, int | None]] = set()
        self._forward: dict[int, frozenset[Value]] = {}
        self._assign_of_value: dict[int, dict[int, F.Assign]] = {}
        self._namespaces: dict[int, frozenset[Value]] = {}
        self._items_of: dict[int, list[tuple[object, F.Assign]]] = {}
        self._cut_short = 0  # how many inferences the depth limit stopped so far
        self._steps = 0  # inferences computed so far (see MAX_INFER_STEPS)

    # -- entry points -------------------------------------------------------

    def infer(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
              facts: F.FileFacts | None = None, path: Path | None = None,
              depth: int = 0) -> frozenset[Value]:
        if node is None:
            return frozenset()
        if depth > MAX_DEPTH:
            self._cut_short += 1
            return frozenset()
        facts = facts or self.model.facts
        if facts is self.model.facts and path is None:
            path = self.model.path
        key = (id(node), order)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            return frozenset()  # a cycle: x = f(x)
        self._steps += 1
        if self._steps > MAX_INFER_STEPS:
            self._cut_short += 1
            return frozenset()
        self._active.add(key)
        cut_before = self._cuts()
        try:
            result = frozenset(self._infer(node, _Frame(scope, order, facts, path), depth))
        finally:
            self._active.discard(key)
        if self._cuts() == cut_before:
            self._memo[key] = result
        return result

    def _cuts(self) -> int:
        """Answers cut short so far (depth limit, unfinished caller searches): a result
        computed while this grew is not remembered, since a later ask may see more."""
        return self._cut_short + self.model.unfinished_answers

    def at(self, node: cst.BaseExpression | None, fact: F.Located) -> frozenset[Value]:
        """What `node`, written where `fact` sits in this file, may hold."""
        return self.infer(node, fact.scope, fact.order)

    def kinds(self, values: Iterable[Value]) -> set[str]:
        return {v.kind for v in values}

    def eval_mode_only(self, value: Value) -> bool:
        """Probabilities a model's `forward` makes only in eval mode (`if not self.training:
        x = self.softmax(x)`): every place its forward applies them is gated so. A training
        step never sees them."""
        module = value.via_forward
        found = module.method("forward") if module is not None else None
        if found is None or value.origin is None:
            return False
        forward, owner = found
        sites = [call for call in forward.calls if call.node is value.origin
                 or _calls_layer_made_by(call, owner, value.origin)]
        return bool(sites) and all(_eval_mode_only(call.node, forward, owner.facts) for call in sites)

    # -- the cases ------------------------------------------------------------

    def _infer(self, node: cst.CSTNode, frame: _Frame, depth: int) -> Iterable[Value]:
        if isinstance(node, cst.Name):
            return self._name(node, frame, depth)
        if isinstance(node, cst.Attribute):
            return self._attribute(node, frame, depth)
        if isinstance(node, cst.Call):
            return self._call(node, frame, depth)
        if isinstance(node, cst.BinaryOperation):
            left = self.infer(node.left, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
            right = self.infer(node.right, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
            return _combined(node.operator, left, right)
        if isinstance(node, cst.UnaryOperation):
            inner = self.infer(node.expression, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
            return [v for v in inner if v.kind in TENSOR_KINDS]
        if isinstance(node, cst.Subscript):
            return self._subscript(node, frame, depth)
        if isinstance(node, (cst.Tuple, cst.List)):
            return [Value("tuple", origin=node, facts=frame.facts, elements=tuple(
                self.infer(e.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
                for e in node.elements))]
        if isinstance(node, cst.IfExp):
            arms = [arm for arm in (node.body, node.orelse) if not _not_a_tensor_arm(node, arm)]
            return frozenset().union(*(self.infer(arm, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
                                       for arm in arms))
        if isinstance(node, cst.Await):
            return self.infer(node.expression, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        if isinstance(node, cst.NamedExpr):
            return self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        if isinstance(node, (cst.Integer, cst.Float)):
            return [Value("number", origin=node, facts=frame.facts)]
        if isinstance(node, cst.Dict):
            return [self._dict_literal(node, frame, depth)]
        if isinstance(node, cst.DictComp):
            # `{split: DataLoader(...) for split in ("train", "val")}`: one value per key.
            items = self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
            return [Value("dict", origin=node, facts=frame.facts, entries=((None, items),))]
        return []

    # -- dicts ----------------------------------------------------------------

    def _dict_literal(self, node: cst.Dict, frame: _Frame, depth: int) -> Value:
        entries: list[tuple[object, frozenset[Value]]] = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                values = self.infer(element.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
                entries.append((_literal_key(element.key), values))
            elif isinstance(element, cst.StarredDictElement):  # `{**defaults, ...}`
                for inner in self.infer(element.value, frame.scope, frame.order, frame.facts,
                                        frame.path, depth + 1):
                    entries.extend(inner.entries if inner.kind == "dict" else ())
        return Value("dict", origin=node, facts=frame.facts, entries=tuple(entries))

    def _dict_call(self, node: cst.Call, frame: _Frame, depth: int) -> Value:
        """``dict(net=model, loader=loader)``, ``dict(other, k=v)``."""
        entries: list[tuple[object, frozenset[Value]]] = []
        for arg in node.args:
            values = self.infer(arg.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
            if arg.keyword is not None:
                entries.append((arg.keyword.value, values))
            else:
                for inner in values:
                    entries.extend(inner.entries if inner.kind == "dict" else ())
        return Value("dict", origin=node, facts=frame.facts, entries=tuple(entries))

    def _item(self, value: Value, key: object, depth: int) -> list[Value]:
        """``d[key]`` of a dict value: the literal entries and the items assigned
        later (``d["net"] = model``) to the name or attribute that holds it. An
        unknown key (``ARCHS[args.arch]``) may be any of them."""
        found: list[Value] = []
        for entry_key, values in value.entries + self._assigned_items(value, depth):
            if key is None or entry_key is None or entry_key == key:
                found.extend(values)
        return found

    def _assigned_items(self, value: Value, depth: int) -> tuple[tuple[object, frozenset[Value]], ...]:
        facts = value.facts
        if facts is None or value.origin is None:
            return ()
        path = self.model.resolver.path_of(facts)
        return tuple((key, self.infer(item.value, item.scope, item.order, facts, path, depth + 1))
                     for key, item in self._item_assignments(facts, value.origin))

    def _item_assignments(self, facts: F.FileFacts, origin: cst.CSTNode) -> list[tuple[object, F.Assign]]:
        """(key, assignment) for each ``holder[key] = value`` of the dict made at
        `origin`, where the name or attribute holding it is bound (found once per dict)."""
        key = id(origin)
        found = self._items_of.get(key)
        if found is not None:
            return found
        found = []
        assign = self._assignments_of_values(facts).get(key)
        if assign is not None:
            holders = {dotted_name(t) for t in assign.targets} - {None}
            for scope in _holder_scopes(assign.scope, holders):
                for item in scope.assigns:
                    for target in item.targets:
                        if isinstance(target, cst.Subscript) and dotted_name(target.value) in holders \
                                and item.value is not None and len(target.slice) == 1 \
                                and isinstance(target.slice[0].slice, cst.Index):
                            found.append((_literal_key(target.slice[0].slice.value), item))
        self._items_of[key] = found
        return found

    def _assignments_of_values(self, facts: F.FileFacts) -> dict[int, F.Assign]:
        """id(value node) -> its assignment, for the file (built once)."""
        index = self._assign_of_value.get(id(facts))
        if index is None:
            index = {id(a.value): a for a in facts.assigns if a.value is not None and a.kind == "assign"}
            self._assign_of_value[id(facts)] = index
        return index

    # -- namespaces: globals(), vars(module), getattr(module, name) ----------------------

    def _namespace_classes(self, facts: F.FileFacts, path: Path | None) -> frozenset[Value]:
        """The nn.Module classes a module defines at its top level, as class values:
        what ``globals()[name]`` or ``getattr(zoo, name)`` may give for a model."""
        key = id(facts)
        if key not in self._namespaces:
            from torchlint.semantic.resolve import Definition

            found = []
            for cls in facts.classes:
                if cls.parent is facts.scope and self.model.modules.of_class(cls, facts, path) is not None:
                    found.append(Value("class", origin=cls.node, facts=facts,
                                       definition=Definition(cls, facts, path)))
            self._namespaces[key] = frozenset(found)
        return self._namespaces[key]

    def _namespace_of(self, node: cst.BaseExpression | None, frame: _Frame) -> tuple[frozenset[Value], str | None]:
        """The members of the namespace `node` evaluates to, as (class values, or
        the qualified name of an external namespace): ``globals()``, ``vars(zoo)``,
        ``zoo.__dict__`` and a module ``zoo`` itself."""
        if isinstance(node, cst.Call) and not node.args and dotted_name(node.func) == "globals" \
                and lookup(frame.scope, "globals", frame.order) is None:
            return self._namespace_classes(frame.facts, frame.path), None
        if isinstance(node, cst.Call) and len(node.args) == 1 and dotted_name(node.func) == "vars" \
                and lookup(frame.scope, "vars", frame.order) is None:
            node = node.args[0].value
        elif isinstance(node, cst.Attribute) and node.attr.value == "__dict__":
            node = node.value
        module = self.model.resolver.local_module(node, frame.scope, frame.order, frame.facts, frame.path)
        if module is not None and module.facts is not None:
            return self._namespace_classes(module.facts, module.path), None
        return frozenset(), self.model.names_for(frame.facts).qualified(node, frame.scope, frame.order)

    def _name(self, node: cst.Name, frame: _Frame, depth: int) -> Iterable[Value]:
        found = lookup_reaching(frame.scope, node.value, frame.order)
        if found is None:
            # Not bound here: maybe brought in by `from models import *`.
            definition = self.model.resolver.definition(node, frame.scope, frame.order, frame.facts, frame.path)
            if definition is None:
                return []
            kind = "class" if isinstance(definition.fact, F.Class) else "function"
            return [Value(kind, origin=definition.fact.node, facts=definition.facts, definition=definition)]
        _, bindings = found
        if len(bindings) > 1:
            bindings = self._consistent_bindings(bindings, frame)
        values: list[Value] = []
        for binding in bindings:  # every binding that may reach (if arms)
            values.extend(self._binding(node, binding, frame, depth))
        return values

    def _consistent_bindings(self, bindings: list[F.Binding], frame: _Frame) -> list[F.Binding]:
        """The bindings the use's own `if` arms allow: `if ctc: crit = CTCLoss()
        else: crit = CrossEntropyLoss()`, then under `if ctc:` only the first."""
        use = _branch_at(frame.scope, frame.order)
        if use is None:
            return bindings
        code = frame.facts.module.code_for_node
        bound = bindings[0].name

        def stable(name: str) -> bool:
            found = lookup(frame.scope, name, frame.order)
            return name != bound and (found is None or len(found[0].bindings.get(name, ())) <= 1)

        kept = [b for b in bindings if not C.ruled_out(getattr(b.fact, "branch", None), use, code, stable)]
        return kept or bindings

    def _stored_distributions(self, name: str, fact: F.Assign, frame: _Frame, depth: int) -> frozenset[Value]:
        """(Log-)probabilities stored item by item into a buffer after it is bound:
        `outputs = torch.zeros(T, B, V)` then `outputs[t] = log_softmax(...)` in a
        decoding loop makes `outputs` a tensor of log-probabilities too."""
        found: set[Value] = set()
        for store in fact.scope.assigns:
            if store.order <= fact.order or store.value is None:
                continue
            if any(isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name) and t.value.value == name
                   for t in store.targets):
                stored = self.infer(store.value, store.scope, store.order, frame.facts, frame.path, depth + 1)
                found.update(v for v in stored if v.kind in ("probs", "log_probs"))
        return frozenset(found) | self._appended_distributions(name, fact, frame, depth)

    def _appended_distributions(self, name: str, fact: F.Assign, frame: _Frame, depth: int) -> frozenset[Value]:
        """(Log-)probabilities collected step by step into a list: `steps = []` then
        `steps.append(F.log_softmax(score, 1))` in a decoding loop; `torch.cat(steps)`
        is then (log-)probabilities too. Only when every append adds them of one kind:
        a list that also collects logits is no distribution."""
        if not (isinstance(fact.value, cst.List) and not fact.value.elements):
            return frozenset()
        appended: list[frozenset[Value]] = []
        for call in fact.scope.calls:
            if call.order <= fact.order or call.method not in ("append", "extend", "insert"):
                continue
            if not (isinstance(call.receiver, cst.Name) and call.receiver.value == name):
                continue
            item = call.positional(1 if call.method == "insert" else 0)
            if call.method != "append" or item is None:
                return frozenset()
            stored = self.infer(item, call.scope, call.order, frame.facts, frame.path, depth + 1)
            appended.append(frozenset(v for v in stored if v.kind in ("probs", "log_probs")))
        kinds = {frozenset(v.kind for v in values) for values in appended}
        if len(kinds) != 1 or len(next(iter(kinds))) != 1:
            return frozenset()  # none appended, or one append without them, or mixed kinds
        return frozenset().union(*appended)

    def _binding(self, node: cst.Name, binding: F.Binding, frame: _Frame, depth: int) -> Iterable[Value]:
        """What `node` holds when `binding` is the one that reached it."""
        fact = binding.fact
        if isinstance(fact, F.Assign):
            if fact.kind == "for":
                iterated = self.infer(fact.value, fact.scope, fact.order, frame.facts, frame.path, depth + 1)
                return self._project(self._iterate(iterated, fact), binding.path, depth)
            values = self.infer(fact.value, fact.scope, fact.order, frame.facts, frame.path, depth + 1)
            if fact.kind == "with":
                return values  # `with model.eval() as m`: rare; context managers return themselves
            projected = self._project(values, binding.path, depth)
            if not binding.path:
                projected = projected | self._stored_distributions(node.value, fact, frame, depth)
            return projected
        if isinstance(fact, F.Param):
            return self._param(fact, frame, depth)
        if isinstance(fact, (F.Class, F.Function)):
            from torchlint.semantic.resolve import Definition

            return [Value("class" if isinstance(fact, F.Class) else "function", origin=fact.node,
                          facts=frame.facts, definition=Definition(fact, frame.facts, frame.path))]
        if isinstance(fact, F.Import):
            definition = self.model.resolver.definition(node, frame.scope, frame.order, frame.facts, frame.path)
            if definition is not None:
                kind = "class" if isinstance(definition.fact, F.Class) else "function"
                return [Value(kind, origin=definition.fact.node, facts=definition.facts,
                              definition=definition)]
            imported = self._imported_variable(fact, frame, depth)
            if imported:
                return imported
            qualified = self.model.names_for(frame.facts).qualified(node, frame.scope, frame.order)
            return [Value("external", origin=node, facts=frame.facts, qualname=qualified)]
        return []

    def _imported_variable(self, fact: F.Import, frame: _Frame, depth: int) -> list[Value]:
        """``from model import net``: what the project module's global holds when
        the module has run (a model built and trained at import time)."""
        if fact.name is None or fact.name == "*":
            return []
        target = self.model.project.import_target(frame.path, fact)
        if target is None or target[1] is None or target[0].facts is None:
            return []
        module, name = target
        self.model.note_dependency(module.path)
        return self._global_of(module.facts, module.path, name, depth)

    def _global_of(self, facts: F.FileFacts, path: Path | None, name: str, depth: int) -> list[Value]:
        """The values of a module-level variable of another file at the end of it."""
        found: list[Value] = []
        for binding in reaching_bindings(facts.scope, name, None):
            fact = binding.fact
            if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign") and fact.value is not None:
                values = self.infer(fact.value, fact.scope, fact.order, facts, path, depth + 1)
                found.extend(self._project(values, binding.path, depth))
        return found

    def _iterate(self, iterated: frozenset[Value], fact: F.Assign | None) -> frozenset[Value]:
        """Values of the items of an iterable: a loader yields batches, a ModuleList its layers."""
        found = []
        for value in iterated:
            if value.kind == "loader":
                found.append(Value("batch", origin=fact.value if fact is not None else value.origin,
                                   facts=value.facts, call=value.call))
            elif value.kind == "module" and value.layer is not None and value.layer.kind == "containers" \
                    and value.layer.children:
                found.extend(_layer_value(child) for child in value.layer.children)
            elif value.kind == "tuple":
                for element in value.elements:
                    found.extend(element)
            elif value.kind in PROBABILITY_KINDS:
                found.append(value)  # `for row in probs`: each row is probabilities too
        return frozenset(found)

    def _project(self, values: frozenset[Value], path: tuple[int, ...], depth: int) -> frozenset[Value]:
        """The part of `values` that a tuple target at `path` receives."""
        for index in path:
            projected: list[Value] = []
            for value in values:
                if value.kind == "tuple":
                    if index < len(value.elements):
                        projected.extend(value.elements[index])
                elif value.kind == "batch":
                    projected.append(value)  # `x, y = batch`: both parts come from the batch
            values = frozenset(projected)
        return values

    def _param(self, param: F.Param, frame: _Frame, depth: int) -> Iterable[Value]:
        function = param.function
        assert function is not None
        found: list[Value] = []
        receiver = function.class_ is not None and param.index == 0 \
            and self.model.first_param_is_receiver(function)
        if receiver and function.is_classmethod:
            from torchlint.semantic.resolve import Definition  # `cls`: the class itself

            return [Value("class", origin=function.class_.node, facts=frame.facts,
                          definition=Definition(function.class_, frame.facts, frame.path))]
        if receiver:
            # `self`: an instance of the class.
            module = self.model.modules.of_class(function.class_, frame.facts, frame.path)
            if module is not None:
                return [Value("module", origin=function.class_.node, facts=frame.facts, module=module)]
            from torchlint.semantic.resolve import Definition

            return [Value("instance", origin=function.class_.node, facts=frame.facts,
                          definition=Definition(function.class_, frame.facts, frame.path))]
        for site, argument, facts in self.model.arguments_across(param, frame.facts):
            found.extend(self.infer(argument, site.scope, site.order, facts, self.model.path_of(facts), depth + 1))
        if param.default is not None:
            found.extend(self.infer(param.default, function.parent or frame.facts.scope, function.order,
                                    frame.facts, frame.path, depth + 1))
        return found

    def _attribute(self, node: cst.Attribute, frame: _Frame, depth: int) -> Iterable[Value]:
        receiver = self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        attr = node.attr.value
        found: list[Value] = []
        for value in receiver:
            if value.kind == "module" and value.module is not None:
                for owner in _class_chain(value.module):
                    assigns = owner.cls.self_assigns.get(attr, [])
                    for assign in assigns:
                        found.extend(self._self_assigned(owner.cls, attr, assign, owner.facts, owner.path, depth))
                    if assigns:
                        break
                    method = owner.cls.methods.get(attr)
                    if method is not None and attr != "forward":
                        # `trainer.train_step(batch)`: a project method of the model returns its returns
                        from torchlint.semantic.resolve import Definition

                        found.append(Value("function", origin=method.node, facts=owner.facts,
                                           definition=Definition(method, owner.facts, owner.path)))
                        break
            elif value.kind == "class" and value.definition is not None \
                    and isinstance(value.definition.fact, F.Class):
                method = value.definition.fact.methods.get(attr)
                if method is not None:  # `Net.build(...)`: a classmethod factory; `Trainer.epoch(model, ...)`
                    from torchlint.semantic.resolve import Definition

                    found.append(Value("function", origin=method.node, facts=value.definition.facts,
                                       definition=Definition(method, value.definition.facts,
                                                             value.definition.path)))
            elif value.kind == "instance" and value.definition is not None:
                cls = value.definition.fact
                assert isinstance(cls, F.Class)
                for assign in cls.self_assigns.get(attr, []):
                    found.extend(self._self_assigned(cls, attr, assign, value.definition.facts,
                                                     value.definition.path, depth))
                method = cls.methods.get(attr)
                if method is not None and not found:  # `self.compute_loss(batch)` returns its returns
                    from torchlint.semantic.resolve import Definition

                    found.append(Value("function", origin=method.node, facts=value.definition.facts,
                                       definition=Definition(method, value.definition.facts,
                                                             value.definition.path)))
        if not found:
            found = [v for v in receiver if _is_same_object(v, attr)]
        if found:
            return found
        definition = self.model.resolver.definition(node, frame.scope, frame.order, frame.facts, frame.path)
        if definition is not None:  # `import netdefs` then `netdefs.Net`
            kind = "class" if isinstance(definition.fact, F.Class) else "function"
            return [Value(kind, origin=definition.fact.node, facts=definition.facts, definition=definition)]
        module = self.model.resolver.local_module(node.value, frame.scope, frame.order, frame.facts, frame.path)
        if module is not None and module.facts is not None:  # `import config` then `config.model`
            members = self._global_of(module.facts, module.path, attr, depth)
            if members:
                return members
        qualified = self.model.names_for(frame.facts).qualified(node, frame.scope, frame.order)
        if qualified is not None:
            return [Value("external", origin=node, facts=frame.facts, qualname=qualified)]
        return []

    def _self_assigned(self, cls: F.Class, attr: str, assign: F.Assign, facts: F.FileFacts,
                       path: Path | None, depth: int) -> frozenset[Value]:
        """What ``self.<attr> = ...`` stores (its element for ``self.a, self.b = x, y``)."""
        values = self.infer(assign.value, assign.scope, assign.order, facts, path, depth + 1)
        where = cls.self_assign_path(attr, assign)
        return self._project(values, where, depth) if where else values

    def _subscript(self, node: cst.Subscript, frame: _Frame, depth: int) -> Iterable[Value]:
        index = None
        key: object = None
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            literal = node.slice[0].slice.value
            if isinstance(literal, cst.Integer):
                index = int(literal.value)
            key = _literal_key(literal)
        members, _ = self._namespace_of(node.value, frame) if _names_a_namespace(node.value) else ((), None)
        if members:  # `globals()[arch]`, `zoo.__dict__[arch]`, `vars(zoo)[arch]`
            return members
        values = self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        found: list[Value] = []
        for value in values:
            if value.kind == "dict":
                found.extend(self._item(value, key, depth))
            elif value.kind == "tuple":
                if index is not None and -len(value.elements) <= index < len(value.elements):
                    found.extend(value.elements[index])
            elif value.kind in TENSOR_KINDS or value.kind == "batch":
                found.append(value)
            elif value.kind == "module" and value.layer is not None and value.layer.children:
                if index is not None and -len(value.layer.children) <= index < len(value.layer.children):
                    child = value.layer.children[index]
                    found.append(_layer_value(child))
        return found

    def _call(self, node: cst.Call, frame: _Frame, depth: int) -> Iterable[Value]:
        call = frame.facts.call_of.get(id(node))
        names = self.model.names_for(frame.facts)
        symbols = self.model.symbols
        qualified = names.qualified(node.func, frame.scope, frame.order)
        args = node.args
        first = args[0].value if args else None

        def infer_arg(expr: cst.BaseExpression | None) -> frozenset[Value]:
            return self.infer(expr, frame.scope, frame.order, frame.facts, frame.path, depth + 1)

        if qualified in ("copy.deepcopy", "copy.copy") and first is not None:
            return infer_arg(first)  # a copy of a model has its class and layers
        if qualified == "functools.partial":  # calling the partial calls its first argument
            return [v for v in infer_arg(first) if v.kind in ("class", "function", "module")]
        if qualified in WRAPPERS:  # `nn.DataParallel(model)` runs `model` (and `.module` is it)
            wrapped = infer_arg(first)
            if any(v.kind == "module" for v in wrapped):
                return wrapped
            # A model of unknown class: still a model (the generic torch.nn module below).
        if qualified is None and isinstance(node.func, cst.Name) and \
                lookup(frame.scope, node.func.value, frame.order) is None:
            builtin = node.func.value
            if builtin == "dict":
                return [self._dict_call(node, frame, depth)]
            if builtin == "zip" and args and not any(a.star or a.keyword for a in args):
                # `zip(self.linears, self.norms)`: iterating it yields (item of each, ...)
                pair = Value("tuple", origin=node, facts=frame.facts,
                             elements=tuple(self._iterate(infer_arg(a.value), None) for a in args))
                return [Value("tuple", origin=node, facts=frame.facts, elements=(frozenset({pair}),))]
            if builtin == "getattr" and len(args) >= 2 and _literal_key(args[1].value) is None:
                return self._dynamic_member(args[0].value, frame)
        if qualified is not None:
            kind = symbols.function_kind(qualified)
            if qualified == "torch.exp":  # exp(log_softmax(z)) == softmax(z)
                inner = infer_arg(first)
                if any(v.kind == "log_probs" for v in inner):
                    return [Value("probs", origin=node, facts=frame.facts, call=call, source=inner)]
                return []
            if qualified in REARRANGING_FUNCTIONS:
                return [v for v in infer_arg(first) if v.kind in PROBABILITY_KINDS]
            if qualified in JOINING_FUNCTIONS:  # `torch.cat(steps, 1)` of a list of (log-)probabilities
                return [v for v in infer_arg(first) if v.kind in PROBABILITY_KINDS]
            if kind in ("softmax", "log_softmax"):
                return [Value("probs" if kind == "softmax" else "log_probs", origin=node,
                              facts=frame.facts, call=call, source=infer_arg(first))]
            if kind == "log":
                inner = infer_arg(first)
                if any(v.kind == "probs" for v in inner):
                    return [Value("log_of_probs", origin=node, facts=frame.facts, source=inner)]
                return []
            loss = symbols.loss(qualified)
            if loss is not None:
                return [Value("loss_fn" if loss["class"] else "loss", origin=node, facts=frame.facts,
                              qualname=qualified, call=call)]
            if kind == "dataloader":
                return [Value("loader", origin=node, facts=frame.facts, qualname=qualified, call=call)]
            if kind == "from_pretrained":
                layer = Layer(attr="", call=call, qualname=qualified.rsplit(".", 1)[0],
                              kind="embedding", facts=frame.facts)
                return [Value("module", origin=node, facts=frame.facts, layer=layer, qualname=layer.qualname)]
            if qualified in symbols.grad_scalers:
                return [Value("grad_scaler", origin=node, facts=frame.facts, qualname=qualified, call=call)]
            if qualified.startswith("torch.optim.lr_scheduler."):
                return [Value("scheduler", origin=node, facts=frame.facts, qualname=qualified, call=call)]
            if qualified.startswith("torch.optim.") and qualified[12:13].isupper():
                return [Value("optimizer", origin=node, facts=frame.facts, qualname=qualified, call=call)]
            layer_kind = symbols.layer_kind(qualified)
            if layer_kind is not None or (qualified.startswith("torch.nn.") and qualified[9:10].isupper()
                                          and "." not in qualified[9:]):
                layer = self.model.modules.layer_of(node, frame.scope, frame.order or 0, frame.facts,
                                                    frame.path, attr="")
                if layer is not None:
                    return [Value("module", origin=node, facts=frame.facts, layer=layer, qualname=qualified)]
            if any(qualified.startswith(p) for p in symbols.model_factories):
                return [Value("module", origin=node, facts=frame.facts, qualname=qualified)]

        method = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
        if method is not None:
            receiver_values = infer_arg(node.func.value)  # type: ignore[attr-defined]
            receiver_is_namespace = qualified is not None and not receiver_values - {
                v for v in receiver_values if v.kind == "external"}
            # `x.softmax(1)` on a tensor; not `self.softmax(x)`, a layer kept under that name
            # (`self.softmax = nn.LogSoftmax(dim=-1)`), which the layer's own kind decides.
            receiver_is_model = any(v.kind == "module" for v in receiver_values)
            if method in ("softmax", "log_softmax") and not receiver_is_namespace and not receiver_is_model:
                return [Value("probs" if method == "softmax" else "log_probs", origin=node,
                              facts=frame.facts, call=call, source=receiver_values)]
            if method == "log" and any(v.kind == "probs" for v in receiver_values):
                return [Value("log_of_probs", origin=node, facts=frame.facts, source=receiver_values)]
            if method == "item":
                return [Value("number", origin=node, facts=frame.facts)]
            if method == "exp" and any(v.kind == "log_probs" for v in receiver_values):
                return [Value("probs", origin=node, facts=frame.facts, call=call, source=receiver_values)]
            if method == "prepare" and self._constructed_by(node.func.value, frame) in PREPARING_CLASSES:  # type: ignore[attr-defined]
                prepared = [infer_arg(arg.value) for arg in args if arg.keyword is None and not arg.star]
                if len(prepared) == 1:
                    return prepared[0]
                return [Value("tuple", origin=node, facts=frame.facts, elements=tuple(prepared))]
            if method in ("values", "items") and not args:
                dicts = [v for v in receiver_values if v.kind == "dict"]
                if dicts:
                    items = frozenset(i for d in dicts for i in self._item(d, None, depth))
                    if method == "items":  # (key, value) pairs
                        items = frozenset({Value("tuple", origin=node, facts=frame.facts,
                                                 elements=(frozenset(), items))})
                    return [Value("tuple", origin=node, facts=frame.facts, elements=(items,))]
            if method == "get" and args:
                key = _literal_key(first)
                return [i for v in receiver_values if v.kind == "dict" for i in self._item(v, key, depth)]
            if method in ("mean", "sum", "abs"):  # a reduced loss is still the loss
                return [v for v in receiver_values if v.kind == "loss"]
            if method in ("detach", "numpy", "tolist", "argmax", "max", "argmin", "min", "eq", "size"):
                return []
            if method in PASSTHROUGH_METHODS:
                return [v for v in receiver_values if v.kind != "external"]
            if method == "forward":
                return self._call_values(receiver_values, node, call, frame, depth)
            kept = [v for v in receiver_values if v.kind in PROBABILITY_KINDS]
            if kept and method not in NOT_KEEPING_PROBABILITIES:
                return kept  # `probs.resize(1, n)`, `probs.bmm(onehot)`: still probabilities

        callee_values = infer_arg(node.func)
        return self._call_values(callee_values, node, call, frame, depth)

    def _grad_scaler_base(self, definition) -> str | None:
        """The AMP GradScaler class a project class derives from directly, if any."""
        cls = definition.fact
        if not isinstance(cls, F.Class):
            return None
        names = self.model.names_for(definition.facts)
        for base in cls.bases:
            qualified = names.qualified(base, cls.parent, cls.order)
            if qualified in self.model.symbols.grad_scalers:
                return qualified
        return None

    def _call_values(self, callees: frozenset[Value], node: cst.Call, call: F.Call | None,
                     frame: _Frame, depth: int) -> list[Value]:
        found: list[Value] = []
        for callee in callees:
            if callee.kind == "class" and callee.definition is not None:
                definition = callee.definition
                module = self.model.modules.of_class(definition.fact, definition.facts, definition.path)
                scaler = self._grad_scaler_base(definition) if module is None else None
                if module is not None:
                    found.append(Value("module", origin=node, facts=frame.facts, module=module, call=call))
                elif scaler is not None:  # `class Scaler(torch.amp.GradScaler)`: still scales
                    found.append(Value("grad_scaler", origin=node, facts=frame.facts, qualname=scaler, call=call))
                else:
                    found.append(Value("instance", origin=node, facts=frame.facts, definition=definition))
            elif callee.kind == "module":
                found.append(Value("model_output", origin=node, facts=frame.facts, module=callee.module,
                                   layer=callee.layer, qualname=callee.qualname, call=call))
                found.extend(v for v in self.outputs(callee, depth + 1) if not self._gated_off(v, callee, node))
            elif callee.kind == "external" and callee.qualname is not None and \
                    any(callee.qualname.startswith(p) for p in self.model.symbols.model_factories):
                # `getattr(torchvision.models, arch)(...)`: one of the library's models
                found.append(Value("module", origin=node, facts=frame.facts, qualname=callee.qualname))
            elif callee.kind == "loss_fn":
                found.append(Value("loss", origin=node, facts=frame.facts, qualname=callee.qualname,
                                   call=callee.call))
            elif callee.kind == "function" and callee.definition is not None:
                function = callee.definition.fact
                for ret in self.possible_returns(function, node, call):
                    found.extend(self.infer(ret.value, function, ret.order, callee.definition.facts,
                                            callee.definition.path, depth + 1))
        return found

    def possible_returns(self, function: F.Function, node: cst.Call, call: F.Call | None) -> list[F.Return]:
        """The returns (with a value) of `function` that can run for this call:
        ``build("dense")`` with ``if kind == "conv": return ConvNet()`` never returns
        ConvNet for this call's literal arguments."""
        arguments = self._literal_arguments(function, node, call)
        return [ret for ret in function.returns if ret.value is not None
                and (not arguments or self._may_return(ret, function, arguments))]

    @staticmethod
    def _may_return(ret: F.Return, function: F.Function, arguments: dict) -> bool:
        """`ret` can run for these arguments: no arm around it is skipped, and no
        earlier return runs whenever it would (`if kind == "probs": return A` makes
        the `return B` after it unreachable for "probs")."""
        return C.consistent(ret, arguments) and not any(
            other.order < ret.order and other.loop is ret.loop and C.dominates(other, ret, arguments)
            for other in function.returns)

    def _literal_arguments(self, function: F.Function, node: cst.Call, call: F.Call | None) -> dict:
        """The parameters of `function` this call fixes to a literal (written at the
        call, or left at a literal default), for those never rebound in the function."""
        if any(arg.star for arg in node.args) or call is None and function.class_ is not None:
            return {}
        receiver = call is not None and self.model.passes_receiver(call, function)
        found: dict = {}
        for param in function.params[1:] if receiver else function.params:
            if len(function.bindings.get(param.name, ())) > 1:
                continue  # `kind = kind.lower()`: the value tested is not the argument
            value = C.literal(F.bound_argument(node, param, receiver=receiver))
            if value is not C.UNKNOWN:
                found[param.name] = value
        return found

    def _dynamic_member(self, namespace: cst.BaseExpression, frame: _Frame) -> list[Value]:
        """``getattr(zoo, arch)``: any nn.Module class zoo defines; for a library
        namespace (``torchvision.models``) an unknown member of it."""
        members, qualified = self._namespace_of(namespace, frame)
        if members:
            return list(members)
        if qualified is not None:
            return [Value("external", origin=namespace, facts=frame.facts, qualname=f"{qualified}.<name>")]
        return []

    def _constructed_by(self, node: cst.BaseExpression, frame: _Frame) -> str | None:
        """The qualified class `node` was built from: ``acc`` after ``acc = Accelerator()``."""
        if isinstance(node, cst.Name):
            found = lookup(frame.scope, node.value, frame.order)
            if found is not None and isinstance(found[1].fact, F.Assign) and found[1].fact.kind == "assign":
                fact = found[1].fact
                node = fact.value  # type: ignore[assignment]
                frame = _Frame(fact.scope, fact.order, frame.facts, frame.path)
        if isinstance(node, cst.Call):
            return self.model.names_for(frame.facts).qualified(node.func, frame.scope, frame.order)
        return None

    def outputs(self, module_value: Value, depth: int = 0) -> frozenset[Value]:
        """What calling a model instance returns: its forward's return values, or
        for a torch layer what that layer makes (Softmax: probabilities)."""
        layer, module = module_value.layer, module_value.module
        if layer is not None:
            return frozenset(self._layer_outputs(layer, module_value.origin, depth))
        if module is None:
            return frozenset()
        key = id(module)
        if key in self._forward:
            return self._forward[key]
        self._forward[key] = frozenset()  # recursion guard
        cut_before = self._cuts()
        found = module.method("forward")
        values: list[Value] = []
        if found is not None:
            forward, owner = found
            for ret in forward.returns:
                if ret.value is not None:
                    for value in self.infer(ret.value, forward, ret.order, owner.facts, owner.path, depth + 1):
                        values.append(value)
        result = frozenset(_mark_forward(values, module))
        if self._cuts() == cut_before:
            self._forward[key] = result
        else:
            del self._forward[key]  # incomplete: asked again from a shallower place
        return result

    def _gated_off(self, value: Value, callee: Value, node: cst.Call) -> bool:
        """Whether this call of the model skips the softmax that made `value`: it sits
        under a flag parameter of forward (`F.softmax(x, 1) if softmax else x`, `if
        probs: return x.softmax(1)`) that the call sets, or leaves at its default, the
        other way (`model(x, c, False)`)."""
        if value.kind not in ("probs", "log_probs") or callee.module is None or value.origin is None:
            return False
        found = callee.module.method("forward")
        if found is None or value.facts is not found[1].facts:
            return False
        forward = found[0]
        gate = _flag_gate(value.origin, forward, found[1].facts)
        if gate is not None:
            param, needed = gate
            given = F.bound_argument(node, param)
            return given is not None and C.literal(given) in (True, False) and bool(C.literal(given)) != needed
        # `if self.use_softmax: return x.softmax(1)` with `self.use_softmax = use_softmax` in __init__:
        # the construction of the model sets the flag.
        gate = _attribute_gate(value.origin, forward, callee.module)
        if gate is None:
            return False
        param, needed, _ = gate
        if self._set_from_outside(callee.module, gate[2]):
            return False  # `net.use_softmax = True` in the script decides it
        flag = self._constructed_flag(callee, param)
        return flag is not None and flag != needed

    def _set_from_outside(self, module: ModuleClass, attr: str) -> bool:
        """Whether code outside the class assigns `<anything>.<attr>` (in this file
        or the class's): the flag is then not the constructor's to decide."""
        methods = set(map(id, module.cls.methods.values()))
        for facts in {id(self.model.facts): self.model.facts, id(module.facts): module.facts}.values():
            for assign in facts.assigns:
                if id(assign.scope) in methods:
                    continue
                if any(isinstance(t, cst.Attribute) and t.attr.value == attr for t in assign.targets):
                    return True
        return False

    def _constructed_flag(self, model: Value, param: F.Param) -> bool | None:
        """The literal True/False the construction of `model` gives `__init__`'s
        `param`: written at the call, left at its default, or the parameter of a
        builder (`def build(use_softmax=False): return Head(use_softmax=use_softmax)`)
        whose default every caller that passes it passes too."""
        origin = model.origin
        if not isinstance(origin, cst.Call) or model.facts is None:
            return None
        given = F.bound_argument(origin, param)
        flag = C.literal(given)
        if flag in (True, False):
            return bool(flag)
        site = model.facts.call_of.get(id(origin))
        if not isinstance(given, cst.Name) or site is None or site.scope.function is None:
            return None
        outer = site.scope.function.param(given.value)
        if outer is None:
            return None
        # the callers that pass it, and the default for those that do not
        passed = [C.literal(found.argument) for found in self.model.arguments_across(outer, model.facts)]
        passed.append(C.literal(outer.default))
        if all(flag in (True, False) for flag in passed) and len({bool(flag) for flag in passed}) == 1:
            return bool(passed[0])
        return None

    def _layer_outputs(self, layer: Layer, origin: cst.CSTNode | None, depth: int) -> list[Value]:
        if layer.kind == "softmax":
            return [Value("probs", origin=layer.call.node if layer.call else origin, facts=layer.facts,
                          call=layer.call)]
        if layer.kind == "log_softmax":
            return [Value("log_probs", origin=layer.call.node if layer.call else origin, facts=layer.facts,
                          call=layer.call)]
        if layer.kind == "containers" and layer.children and layer.qualname == "torch.nn.Sequential":
            return list(self.outputs(_layer_value(layer.children[-1]), depth + 1))
        if layer.local is not None:
            return list(self.outputs(Value("module", module=layer.local), depth + 1))
        return []


def _not_a_tensor_arm(node: cst.IfExp, arm: cst.BaseExpression) -> bool:
    """`x.item() if hasattr(x, "item") else x`, `x if not torch.is_tensor(x) else x.item()`: the
    arm that runs when the test says `x` is no tensor, and is `x` itself."""
    test, tensor_when_true = node.test, True
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, tensor_when_true = test.expression, False
    checked = _tensor_checked(test)
    if checked is None:
        return False
    no_tensor_arm = node.orelse if tensor_when_true else node.body
    return arm is no_tensor_arm and arm.deep_equals(checked)


def _tensor_checked(test: cst.BaseExpression) -> cst.BaseExpression | None:
    """The expression `hasattr(x, "item")`, `isinstance(x, torch.Tensor)` or
    `torch.is_tensor(x)` tests for being a tensor."""
    if not isinstance(test, cst.Call) or not test.args:
        return None
    name = dotted_name(test.func)
    first = test.args[0].value
    if name in ("torch.is_tensor", "is_tensor") and len(test.args) == 1:
        return first
    if len(test.args) != 2:
        return None
    second = test.args[1].value
    if name == "hasattr" and isinstance(second, cst.SimpleString) and second.evaluated_value in ("item", "detach"):
        return first
    if name == "isinstance" and dotted_name(second) in ("torch.Tensor", "Tensor"):
        return first
    return None


def _combined(operator: cst.BaseBinaryOp, left: frozenset[Value], right: frozenset[Value]) -> list[Value]:
    """What an arithmetic result may hold: the tensors of both operands, except that
    probabilities multiplying log-probabilities only weight them (the focal term
    `(1 - p) ** gamma * log_softmax(x)` given to NLLLoss): the product is log-probabilities."""
    values = [v for v in left | right if v.kind in TENSOR_KINDS]
    if isinstance(operator, cst.Multiply):
        logs = {"log_probs", "log_of_probs"}
        for side, other in ((left, right), (right, left)):
            if any(v.kind in logs for v in side):
                values = [v for v in values if v.kind != "probs" or v not in other or v in side]
    return values


def _mark_forward(values: Iterable[Value], module: ModuleClass) -> list[Value]:
    values = list(values)
    for value in values:
        if value.via_forward is None and value.kind in ("probs", "log_probs"):
            value.via_forward = module
        elif value.kind == "tuple":  # `return logits, probs`
            for element in value.elements:
                _mark_forward(element, module)
    return values


def _layer_value(layer: Layer) -> Value:
    if layer.local is not None:
        return Value("module", module=layer.local, facts=layer.facts)
    return Value("module", layer=layer, qualname=layer.qualname, facts=layer.facts)


def _class_chain(module: ModuleClass) -> list[ModuleClass]:
    chain = [module]
    for base in module.bases:
        chain.extend(_class_chain(base))
    return chain


def _literal_key(node: cst.BaseExpression | None) -> object:
    """A dict key written as a literal (``"net"``, ``0``), else None."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    return None


def _names_a_namespace(node: cst.BaseExpression) -> bool:
    """``globals()``, ``vars(x)``, ``x.__dict__``: a namespace subscripted by name."""
    if isinstance(node, cst.Call):
        return dotted_name(node.func) in ("globals", "vars")
    return isinstance(node, cst.Attribute) and node.attr.value == "__dict__"


def _is_same_object(value: Value, attr: str) -> bool:
    """``model.forward``/``loss_fn.forward`` (the bound call) and a wrapper's
    ``.module``: attributes that stand for the object itself."""
    if value.kind in ("module", "loss_fn") and attr in ("forward", "__call__"):
        return True
    if value.kind in PROBABILITY_KINDS and attr == "data":  # `probs.data`: the same numbers
        return True
    return value.kind == "module" and attr == "module"


def _holder_scopes(scope: F.Scope, holders: set[str]) -> list[F.Scope]:
    """Where items may be put into a dict held by `holders`: the scope that bound
    it, and for ``self.<name>`` every method of the class."""
    function = scope.function
    if function is not None and function.class_ is not None and function.params \
            and any(h.startswith(f"{function.params[0].name}.") for h in holders):
        return list(function.class_.methods.values())
    return [scope]


def _branch_at(scope: F.Scope, order: int | None) -> F.Branch | None:
    """The innermost `if` arm around the fact of `scope` at `order` (a call or an
    assignment: where an expression is evaluated)."""
    if order is None:
        return None
    for facts in (scope.calls, scope.assigns):
        index = bisect_left(facts, order, key=lambda fact: fact.order)
        if index < len(facts) and facts[index].order == order:
            return facts[index].branch
    return None


def _attribute_gate(origin: cst.CSTNode, forward: F.Function,
                    module: ModuleClass) -> tuple[F.Param, bool, str] | None:
    """(`__init__` parameter, the value it needs, the attribute) when `origin` runs in `forward`
    only under a test of `self.<flag>` (`if self.use_softmax:`, `x.softmax(1) if
    self.probs else x`), and `__init__` sets that attribute, once and in no arm,
    from the parameter; no other method of the class assigns it."""
    if not forward.params:
        return None
    receiver = forward.params[0].name
    for test, arm_is_body in _gate_tests(origin, forward, module.facts):
        flag = C.flag_test(test, receiver)
        if flag is None:
            continue
        param = _init_param_of_attribute(module, flag[0])
        if param is not None:
            return param, flag[1] if arm_is_body else not flag[1], flag[0]
    return None


def _calls_layer_made_by(call: F.Call, module: ModuleClass, construction: cst.CSTNode) -> bool:
    """`self.final_activation(x)` where the class holds that layer, built by `construction`."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
        return False
    return any(layer.attr == func.attr.value and layer.call is not None and layer.call.node is construction
               for layer in module.all_layers())


def _gate_tests(origin: cst.CSTNode, forward: F.Function,
                facts: F.FileFacts) -> list[tuple[cst.BaseExpression | None, bool]]:
    """The tests `origin` (a call in `forward`) runs under, each with whether it runs when
    the test is true: the `if` arms around it, conditional expressions of its statement, and
    earlier `if test: return` arms (what follows runs when the test is false)."""
    tests: list[tuple[cst.BaseExpression | None, bool]] = []
    fact = facts.call_of.get(id(origin))
    branch = fact.branch if fact is not None else None
    while branch is not None and forward.contains(branch):
        if branch.arm in ("body", "orelse"):
            tests.append((branch.test, branch.arm == "body"))
        branch = branch.parent
    statement = facts.statement_of.get(id(origin))
    for node in iter_nodes(statement) if statement is not None else ():
        if isinstance(node, cst.IfExp):
            if any(inner is origin for inner in iter_nodes(node.body)):
                tests.append((node.test, True))
            elif any(inner is origin for inner in iter_nodes(node.orelse)):
                tests.append((node.test, False))
    for ret in forward.returns if fact is not None else ():
        # `if not self.probs: return out` earlier: what follows runs only when the test is false
        arm = ret.branch
        if arm is None or arm.arm != "body" or not forward.contains(arm) or ret.order >= fact.order \
                or arm.contains(fact) or (arm.parent is not None and not arm.parent.contains(fact)):
            continue
        tests.append((arm.test, False))
    return tests


def _eval_mode_only(site: cst.CSTNode, forward: F.Function, facts: F.FileFacts) -> bool:
    """`site` runs only when the model is in eval mode: under `if not self.training:`, in
    the `else` of `if self.training:`, or after `if self.training: return ...`."""
    if not forward.params:
        return False
    receiver = forward.params[0].name
    for test, arm_is_body in _gate_tests(site, forward, facts):
        # `a and b` holds each of them in its true arm; `a or b` fails each in its false arm
        joined = cst.And if arm_is_body else cst.Or
        for part in _operands(test, joined):
            flag = C.flag_test(part, receiver)
            if flag is not None and flag[0] == "training" and flag[1] != arm_is_body:
                return True
    return False


def _operands(test: cst.BaseExpression | None, operator: type) -> list[cst.BaseExpression | None]:
    """The operands of a chain of `operator` (`a and b and c`), or the test itself."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, operator):
        return _operands(test.left, operator) + _operands(test.right, operator)
    return [test]


def _init_param_of_attribute(module: ModuleClass, attr: str) -> F.Param | None:
    """The `__init__` parameter that `self.<attr>` is set from, when that is the
    only assignment of the attribute in the class and it is in no `if` arm."""
    found = module.method("__init__")
    if found is None or found[1] is not module:
        return None
    init = found[0]
    sets = module.cls.self_assigns.get(attr, [])
    if len(sets) != 1 or sets[0].scope is not init or sets[0].kind != "assign":
        return None
    assign = sets[0]
    if assign.branch is not None and init.contains(assign.branch):
        return None
    return init.param(assign.value.value) if isinstance(assign.value, cst.Name) else None


def _flag_gate(origin: cst.CSTNode, function: F.Function, facts: F.FileFacts) -> tuple[F.Param, bool] | None:
    """(flag parameter, the value it needs) when `origin` runs only under a test of
    one of `function`'s parameters: an `if` arm, or a conditional expression."""
    fact = facts.call_of.get(id(origin))
    branch = fact.branch if fact is not None else None
    while branch is not None and function.contains(branch):
        flag = C.flag_test(branch.test) if branch.arm in ("body", "orelse") else None
        param = function.param(flag[0]) if flag is not None else None
        if param is not None:
            return param, flag[1] if branch.arm == "body" else not flag[1]
        branch = branch.parent
    statement = facts.statement_of.get(id(origin))
    for node in iter_nodes(statement) if statement is not None else ():
        if isinstance(node, cst.IfExp):
            flag = C.flag_test(node.test)
            param = function.param(flag[0]) if flag is not None else None
            if param is None:
                continue
            if any(inner is origin for inner in iter_nodes(node.body)):
                return param, flag[1]
            if any(inner is origin for inner in iter_nodes(node.orelse)):
                return param, not flag[1]
    return None

