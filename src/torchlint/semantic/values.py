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

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import Layer, ModuleClass
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 12

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


@dataclass(eq=False)
class Value:
    """One thing an expression may hold."""

    kind: str
    # module, model_output, probs, log_probs, log_of_probs, loss_fn, loss, loader,
    # optimizer, scheduler, tuple, number, tensor, class, function, external, batch
    origin: cst.CSTNode | None = None  # the node that made it
    facts: F.FileFacts | None = None  # the file `origin` belongs to
    module: ModuleClass | None = None  # project model class (module, model_output)
    layer: Layer | None = None  # torch layer instance (module, model_output)
    qualname: str | None = None  # torch name: torch.nn.CrossEntropyLoss, torchvision.models.resnet18
    call: F.Call | None = None  # constructing call: loss function, loader, optimizer
    elements: tuple[frozenset[Value], ...] = ()  # tuple items
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

    # -- entry points -------------------------------------------------------

    def infer(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
              facts: F.FileFacts | None = None, path: Path | None = None,
              depth: int = 0) -> frozenset[Value]:
        if node is None or depth > MAX_DEPTH:
            return frozenset()
        facts = facts or self.model.facts
        if facts is self.model.facts and path is None:
            path = self.model.path
        key = (id(node), order)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            return frozenset()  # a cycle: x = f(x)
        self._active.add(key)
        try:
            result = frozenset(self._infer(node, _Frame(scope, order, facts, path), depth))
        finally:
            self._active.discard(key)
        self._memo[key] = result
        return result

    def at(self, node: cst.BaseExpression | None, fact: F.Located) -> frozenset[Value]:
        """What `node`, written where `fact` sits in this file, may hold."""
        return self.infer(node, fact.scope, fact.order)

    def kinds(self, values: Iterable[Value]) -> set[str]:
        return {v.kind for v in values}

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
            return [v for v in left | right if v.kind in TENSOR_KINDS]
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
            return self.infer(node.body, frame.scope, frame.order, frame.facts, frame.path, depth + 1) | \
                self.infer(node.orelse, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        if isinstance(node, cst.Await):
            return self.infer(node.expression, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        if isinstance(node, cst.NamedExpr):
            return self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        if isinstance(node, (cst.Integer, cst.Float)):
            return [Value("number", origin=node, facts=frame.facts)]
        return []

    def _name(self, node: cst.Name, frame: _Frame, depth: int) -> Iterable[Value]:
        found = lookup(frame.scope, node.value, frame.order)
        if found is None:
            # Not bound here: maybe brought in by `from models import *`.
            definition = self.model.resolver.definition(node, frame.scope, frame.order, frame.facts, frame.path)
            if definition is None:
                return []
            kind = "class" if isinstance(definition.fact, F.Class) else "function"
            return [Value(kind, origin=definition.fact.node, facts=definition.facts, definition=definition)]
        scope, binding = found
        fact = binding.fact
        if isinstance(fact, F.Assign):
            if fact.kind == "for":
                iterated = self.infer(fact.value, fact.scope, fact.order, frame.facts, frame.path, depth + 1)
                return self._project(self._iterate(iterated, fact), binding.path, depth)
            values = self.infer(fact.value, fact.scope, fact.order, frame.facts, frame.path, depth + 1)
            if fact.kind == "with":
                return values  # `with model.eval() as m`: rare; context managers return themselves
            return self._project(values, binding.path, depth)
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
            qualified = self.model.names_for(frame.facts).qualified(node, frame.scope, frame.order)
            return [Value("external", origin=node, facts=frame.facts, qualname=qualified)]
        return []

    def _iterate(self, iterated: frozenset[Value], fact: F.Assign) -> frozenset[Value]:
        """Values of the items of an iterable: a loader yields batches."""
        found = []
        for value in iterated:
            if value.kind == "loader":
                found.append(Value("batch", origin=fact.value, facts=value.facts, call=value.call))
            elif value.kind == "tuple":
                for element in value.elements:
                    found.extend(element)
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
        if function.class_ is not None and param.index == 0 and not _is_static(function):
            # `self`: an instance of the class.
            module = self.model.modules.of_class(function.class_, frame.facts, frame.path)
            if module is not None:
                return [Value("module", origin=function.class_.node, facts=frame.facts, module=module)]
            from torchlint.semantic.resolve import Definition

            return [Value("instance", origin=function.class_.node, facts=frame.facts,
                          definition=Definition(function.class_, frame.facts, frame.path))]
        for site, argument in self.model.arguments_for(param, frame.facts):
            found.extend(self.infer(argument, site.scope, site.order, frame.facts, frame.path, depth + 1))
        if param.default is not None:
            found.extend(self.infer(param.default, function.parent or frame.facts.scope, function.order,
                                    frame.facts, frame.path, depth + 1))
        return found

    def _attribute(self, node: cst.Attribute, frame: _Frame, depth: int) -> Iterable[Value]:
        receiver = self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        found: list[Value] = []
        for value in receiver:
            cls = None
            if value.kind == "module" and value.module is not None:
                for owner in _class_chain(value.module):
                    assigns = owner.cls.self_assigns.get(node.attr.value, [])
                    for assign in assigns:
                        found.extend(self.infer(assign.value, assign.scope, assign.order, owner.facts,
                                                owner.path, depth + 1))
                    if assigns:
                        break
            elif value.kind == "instance" and value.definition is not None:
                cls = value.definition.fact
                for assign in cls.self_assigns.get(node.attr.value, []):
                    found.extend(self.infer(assign.value, assign.scope, assign.order,
                                            value.definition.facts, value.definition.path, depth + 1))
                method = cls.methods.get(node.attr.value)
                if method is not None and not found:  # `self.compute_loss(batch)` returns its returns
                    from torchlint.semantic.resolve import Definition

                    found.append(Value("function", origin=method.node, facts=value.definition.facts,
                                       definition=Definition(method, value.definition.facts,
                                                             value.definition.path)))
        if found:
            return found
        qualified = self.model.names_for(frame.facts).qualified(node, frame.scope, frame.order)
        if qualified is not None:
            return [Value("external", origin=node, facts=frame.facts, qualname=qualified)]
        return []

    def _subscript(self, node: cst.Subscript, frame: _Frame, depth: int) -> Iterable[Value]:
        values = self.infer(node.value, frame.scope, frame.order, frame.facts, frame.path, depth + 1)
        index = None
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            literal = node.slice[0].slice.value
            if isinstance(literal, cst.Integer):
                index = int(literal.value)
        found: list[Value] = []
        for value in values:
            if value.kind == "tuple":
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

        if qualified is not None:
            kind = symbols.function_kind(qualified)
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
            if method in ("softmax", "log_softmax") and not receiver_is_namespace:
                return [Value("probs" if method == "softmax" else "log_probs", origin=node,
                              facts=frame.facts, call=call, source=receiver_values)]
            if method == "log" and any(v.kind == "probs" for v in receiver_values):
                return [Value("log_of_probs", origin=node, facts=frame.facts, source=receiver_values)]
            if method == "item":
                return [Value("number", origin=node, facts=frame.facts)]
            if method in ("mean", "sum", "abs"):  # a reduced loss is still the loss
                return [v for v in receiver_values if v.kind == "loss"]
            if method in ("detach", "numpy", "tolist", "argmax", "max", "argmin", "min", "eq", "size"):
                return []
            if method in PASSTHROUGH_METHODS:
                return [v for v in receiver_values if v.kind != "external"]
            if method == "forward":
                return self._call_values(receiver_values, node, call, frame, depth)

        callee_values = infer_arg(node.func)
        return self._call_values(callee_values, node, call, frame, depth)

    def _call_values(self, callees: frozenset[Value], node: cst.Call, call: F.Call | None,
                     frame: _Frame, depth: int) -> list[Value]:
        found: list[Value] = []
        for callee in callees:
            if callee.kind == "class" and callee.definition is not None:
                definition = callee.definition
                module = self.model.modules.of_class(definition.fact, definition.facts, definition.path)
                if module is not None:
                    found.append(Value("module", origin=node, facts=frame.facts, module=module, call=call))
                else:
                    found.append(Value("instance", origin=node, facts=frame.facts, definition=definition))
            elif callee.kind == "module":
                found.append(Value("model_output", origin=node, facts=frame.facts, module=callee.module,
                                   layer=callee.layer, qualname=callee.qualname, call=call))
                found.extend(self.outputs(callee, depth + 1))
            elif callee.kind == "loss_fn":
                found.append(Value("loss", origin=node, facts=frame.facts, qualname=callee.qualname,
                                   call=callee.call))
            elif callee.kind == "function" and callee.definition is not None:
                function = callee.definition.fact
                for ret in function.returns:
                    if ret.value is not None:
                        found.extend(self.infer(ret.value, function, ret.order, callee.definition.facts,
                                                callee.definition.path, depth + 1))
        return found

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
        found = module.method("forward")
        values: list[Value] = []
        if found is not None:
            forward, owner = found
            for ret in forward.returns:
                if ret.value is not None:
                    for value in self.infer(ret.value, forward, ret.order, owner.facts, owner.path, depth + 1):
                        values.append(value)
        result = frozenset(_mark_forward(values, module))
        self._forward[key] = result
        return result

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


def _is_static(function: F.Function) -> bool:
    return any(dotted_name(d) in ("staticmethod", "classmethod") for d in function.decorators)
