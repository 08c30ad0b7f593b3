"""The optimization step of one iteration: backward, zero_grad, clipping, unscale, step.

Rules about *where* a call sits in an iteration (zero_grad between backward
and step, clipping after the step) read the same ordered events of a scope,
computed once per scope. An iteration is cyclic: in a loop, the call before
the first line of the body is the last line of the previous pass, so scans
wrap around the loop.

Events that touch gradients in ways the scans cannot order (a project helper
that runs backward or writes ``.grad``, a gradient written by hand, an event in
a nested loop that may run zero times) are kept as ``opaque``: a scan that
meets one stops without a conclusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 3
BACKWARD, ZERO_GRAD, STEP, CLIP, UNSCALE, OPAQUE = "backward", "zero_grad", "step", "clip", "unscale", "opaque"
# In-place tensor methods that, called on a `.grad`, change the gradient the step will use.
_GRAD_WRITES = frozenset({"copy_", "add_", "mul_", "div_", "sub_", "zero_", "fill_", "set_", "clamp_",
                          "mul", "div"})
_GRAD_ONLY = frozenset({"torch.autograd.grad"})  # returns gradients, leaves .grad alone


@dataclass(frozen=True)
class StepEvent:
    kind: str  # backward | zero_grad | step | clip | unscale | opaque
    fact: F.Located
    # step: the optimizer expression stepped; zero_grad/unscale: the receiver/argument.
    target: cst.BaseExpression | None = None

    @property
    def order(self) -> int:
        return self.fact.order

    @property
    def call(self) -> F.Call | None:
        return self.fact if isinstance(self.fact, F.Call) else None


class Steps:
    """Optimization-step events of each scope of one file, in source order."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._events: dict[int, list[StepEvent]] = {}
        self._touches: dict[int, bool] = {}

    # -- classifying calls -------------------------------------------------------

    def stepped_optimizer(self, call: F.Call) -> cst.BaseExpression | None:
        """The optimizer expression a call steps: `opt.step()`, or AMP's `scaler.step(opt)`.
        `opt.step(closure)` (LBFGS) is left alone."""
        if call.method != "step" or call.receiver is None:
            return None
        if not call.args and self.model.phases.is_optimizer_step(call):
            return call.receiver
        if len(call.args) == 1 and self.is_scaler(call.receiver, call):
            argument = call.args[0].value
            values = self.model.values.at(argument, call)
            if any(v.kind == "optimizer" for v in values) or "opt" in (dotted_name(argument) or "").lower():
                return argument
        return None

    def is_scaler(self, node: cst.BaseExpression | None, fact: F.Located) -> bool:
        """An AMP GradScaler, by its value: a GradScaler construction (or of a subclass)
        the semantic layer follows to `node`. Only when nothing is known of the value (a
        parameter, an attribute set in another file, a library's object) does the name
        decide (`scaler`, `self.grad_scaler`); a value known to be something else (a
        project class with a `scale` method) is not a scaler, whatever its name."""
        if node is None:
            return False
        values = self.model.values.at(node, fact)
        if any(v.kind == "grad_scaler" for v in values):
            return True
        if any(v.kind != "external" for v in values):
            return False
        return "scaler" in (dotted_name(node) or "").lower()

    def scales_gradients(self, node: cst.BaseExpression | None, fact: F.Located) -> bool:
        """A GradScaler whose scaling is on: not one built with `enabled=False`, whose
        `scale(loss)` returns the loss unchanged."""
        if not self.is_scaler(node, fact):
            return False
        scalers = [v for v in self.model.values.at(node, fact) if v.kind == "grad_scaler"]
        return not scalers or any(not _disabled(v) for v in scalers)

    def is_scaled_backward(self, event: StepEvent) -> bool:
        """`scaler.scale(loss).backward()` with a scaler that scales."""
        receiver = event.target
        return isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) \
            and receiver.func.attr.value == "scale" and self.scales_gradients(receiver.func.value, event.fact)

    def is_clip(self, call: F.Call) -> bool:
        """`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` (not a framework's own
        clipping method, which unscales and syncs by itself)."""
        return self.model.function_kind(call) == "clip_grad"

    def _kind(self, call: F.Call) -> StepEvent | None:
        if self.is_clip(call):
            return StepEvent(CLIP, call)
        if call.method == "backward" and call.receiver is not None:
            return StepEvent(BACKWARD, call, call.receiver)
        callee = self.model.callee(call)
        if callee in _GRAD_ONLY:
            return None
        if self.model.function_kind(call) == "autograd_grad":  # torch.autograd.backward(...)
            return StepEvent(BACKWARD, call)
        if call.method == "zero_grad" and call.receiver is not None:
            return StepEvent(ZERO_GRAD, call, call.receiver)
        if call.method == "unscale_" and call.receiver is not None and self.is_scaler(call.receiver, call):
            return StepEvent(UNSCALE, call, call.positional(0))
        optimizer = self.stepped_optimizer(call)
        if optimizer is not None:
            return StepEvent(STEP, call, optimizer)
        if call.method in _GRAD_WRITES and _is_grad(call.receiver):
            return StepEvent(OPAQUE, call)
        if call.method == "step" and call.receiver is not None and call.args:
            return StepEvent(OPAQUE, call)  # opt.step(closure): runs backward itself
        cleared = self._helper_clears(call)
        if cleared is not None:
            return StepEvent(ZERO_GRAD, call, cleared)
        if self._helper_touches_gradients(call, 0):
            return StepEvent(OPAQUE, call)
        return None

    def _helper_clears(self, call: F.Call) -> cst.BaseExpression | None:
        """`reset(optimizer)` where the project function only calls `zero_grad()` on
        that parameter (in this file or another): the argument it clears."""
        if not isinstance(call.func, cst.Name):
            return None
        definition = self.model.local_function(call)
        if definition is None:
            return None
        function = definition.fact
        touching = [c for c in function.calls if c.method in ("backward", "step", "zero_grad", "unscale_")
                    or c.method in _GRAD_WRITES and _is_grad(c.receiver)]
        if len(touching) != 1 or touching[0].method != "zero_grad" or touching[0].branch is not None \
                or touching[0].loop is not None or any(_writes_grad(a) for a in function.assigns):
            return None
        param = function.param(dotted_name(touching[0].receiver) or "")
        if param is None or function.class_ is not None:
            return None
        return call.argument(param.index, param.name)

    def _helper_touches_gradients(self, call: F.Call, depth: int) -> bool:
        """A project function (this file or another) that runs backward, steps,
        clears or writes gradients."""
        if depth >= MAX_DEPTH or call.method in ("backward", "step", "zero_grad"):
            return False
        func = call.func
        if not (isinstance(func, cst.Name) or isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)):
            return False
        definition = self.model.local_function(call)
        if definition is None:
            return False
        function = definition.fact
        key = id(function)
        if key in self._touches:
            return self._touches[key]
        self._touches[key] = False
        found = any(inner.method in ("backward", "step", "zero_grad", "unscale_")
                    or inner.method in _GRAD_WRITES and _is_grad(inner.receiver)
                    for inner in function.calls) or any(_writes_grad(a) for a in function.assigns)
        if not found and definition.facts is self.model.facts:
            found = any(self._helper_touches_gradients(inner, depth + 1) for inner in function.calls)
        self._touches[key] = found
        return found

    # -- the events of a scope ------------------------------------------------------

    def events(self, scope: F.Scope) -> list[StepEvent]:
        key = id(scope)
        found = self._events.get(key)
        if found is None and not any(_may_anchor(call) for call in scope.calls):
            found = self._events[key] = []  # no step and no clipping: nothing any rule orders
        if found is None:
            found = [e for e in map(self._kind, scope.calls) if e is not None]
            found.extend(StepEvent(OPAQUE, a) for a in scope.assigns if _writes_grad(a))
            found.extend(StepEvent(OPAQUE, a) for a in scope.aug_assigns if _is_grad(a.target))
            found.sort(key=lambda e: e.order)
            self._events[key] = found
        return found

    def iteration(self, event: StepEvent, needs: str) -> F.Loop | None:
        """The loop that is `event`'s iteration: the innermost loop around it that
        also holds an event of kind `needs` (an inner loop over optimizers or
        micro-batches is part of a larger iteration). None: the scope runs once."""
        loop = event.fact.loop
        scope_events = self.events(event.fact.scope)
        while loop is not None:
            if loop.kind != "comprehension" and any(
                    e.kind == needs and e is not event and loop.contains(e.fact) for e in scope_events):
                return loop
            loop = loop.parent
        return None

    def scan(self, event: StepEvent, loop: F.Loop | None, forward: bool) -> Iterator[StepEvent]:
        """The other events of `event`'s scope in execution order after it (forward)
        or before it (backward), within `loop`, wrapping around the loop."""
        inside = [e for e in self.events(event.fact.scope)
                  if e is not event and (loop is None or loop.contains(e.fact))]
        after = [e for e in inside if e.order > event.order]
        before = [e for e in inside if e.order < event.order]
        if forward:
            yield from after
            if loop is not None:
                yield from before
        else:
            yield from reversed(before)
            if loop is not None:
                yield from reversed(after)

    def certain(self, event: StepEvent, loop: F.Loop | None, whenever: F.Located) -> bool:
        """Whether `event` runs on every pass of `loop` that runs `whenever`: it is not
        in a nested loop, and every branch around it (inside the loop) holds `whenever`."""
        if _innermost_loop(event.fact) is not loop:
            return False
        branch = event.fact.branch
        while branch is not None and (loop is None or loop.contains(branch)):
            if not branch.contains(whenever):
                return False
            branch = branch.parent
        return True

    # -- which optimizer --------------------------------------------------------------

    def owners(self, optimizer: cst.BaseExpression, call: F.Call) -> set[str]:
        """Names whose zero_grad clears this optimizer's gradients: the optimizer
        itself and the model whose parameters built it (`SGD(model.parameters())`)."""
        names = {dotted_name(optimizer)}
        for value in self.model.values.at(optimizer, call):
            if value.kind == "optimizer" and value.call is not None and value.call.args:
                model = _parameters_owner(value.call.args[0].value)
                if model is not None:
                    names.add(dotted_name(model))
        names.discard(None)
        return names  # type: ignore[return-value]

    def optimizer_construction(self, optimizer: cst.BaseExpression, call: F.Call) -> F.Call | None:
        """The `torch.optim.X(...)` call that built the optimizer, when it is known."""
        for value in self.model.values.at(optimizer, call):
            if value.kind == "optimizer" and value.call is not None:
                return value.call
        return None

    def model_context(self, optimizer: cst.BaseExpression | None, call: F.Call,
                      loop: F.Loop | None) -> dict:
        """The model the optimizer updates, for the probe: from `SGD(model.parameters())`,
        else the models the iteration runs."""
        if optimizer is not None:
            construction = self.optimizer_construction(optimizer, call)
            if construction is not None and construction.args:
                owner = _parameters_owner(construction.args[0].value)
                if owner is not None:
                    found = model_context(self.model, self.model.values.at(owner, construction))
                    if found:
                        return found
        block: F.Block = loop if loop is not None else call.scope
        forwards = self.model.phases.forwards_in(block, call.scope)
        return model_context(self.model, [v for forward in forwards for v in forward.models])


def _may_anchor(call: F.Call) -> bool:
    """A call the step rules start from: a step or a clipping call, by its name (cheap)."""
    name = call.method or call.dotted or ""
    # `clip_grad_norm` without the underscore: the deprecated alias old scripts still call.
    return name == "step" or name.endswith(("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_"))


def steps_of(model: SemanticModel) -> Steps:
    """The file's step events, computed once per semantic model (kept on it, as its
    other analyses are)."""
    found = model.__dict__.get("_steps")
    if found is None:
        found = model.__dict__["_steps"] = Steps(model)
    return found


def _disabled(scaler) -> bool:
    """`GradScaler(enabled=False)` written literally."""
    call = scaler.call
    enabled = call.keyword("enabled") if call is not None else None
    return isinstance(enabled, cst.Name) and enabled.value == "False"


def _parameters_owner(params: cst.BaseExpression) -> cst.BaseExpression | None:
    """`model.parameters()` -> model."""
    if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) \
            and params.func.attr.value in ("parameters", "named_parameters"):
        return params.func.value
    return None


def _is_grad(node: cst.BaseExpression | None) -> bool:
    """`p.grad`, `p.grad.data`, `p.grad[...]`."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        if isinstance(node, cst.Attribute) and node.attr.value == "grad":
            return True
        node = node.value
    return False


def _writes_grad(assign: F.Assign) -> bool:
    return assign.kind in ("assign", "annassign") and any(_is_grad(t) for t in assign.targets)


def _innermost_loop(fact: F.Located) -> F.Loop | None:
    loop = fact.loop
    while loop is not None and loop.kind == "comprehension":
        loop = loop.parent
    return loop
