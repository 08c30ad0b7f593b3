"""Training and evaluation phases, the models they run, and the mode in force.

A phase is a loop or a function. It *trains* when it calls ``backward`` or
``optimizer.step()`` (itself or through project functions it calls). It
*evaluates* when it does not train and runs a model while looping over a
validation/test loader, inside a function named like ``evaluate``, or under
``torch.no_grad()``. For each forward pass the module answers which mode the
model is in (``model.eval()``, ``model.train(False)``, a project helper that
calls eval, a caller that did it) and whether autograd is off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterable

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.values import Value
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_CALL_DEPTH = 3
_WORD_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def words(text: str) -> set[str]:
    """``val_loader`` -> {"val", "loader"}; ``testDL`` -> {"test", "dl"}."""
    return {w.lower() for w in _WORD_RE.findall(text)}


@dataclass(frozen=True)
class ModeEvent:
    call: F.Call
    mode: str  # "eval" | "train" | "unknown"
    target: str  # the expression whose mode is set, as written at the call site


@dataclass(eq=False)
class Forward:
    """A forward pass: a call of a model instance."""

    call: F.Call
    models: frozenset[Value]

    @property
    def target(self) -> str:
        return dotted_name(self.call.func) or ""


@dataclass(eq=False)
class Phase:
    kind: str  # "train" | "eval"
    block: F.Loop | F.Function
    scope: F.Scope  # the scope the forwards are in
    reason: str  # why it is an evaluation phase, for messages
    forwards: list[Forward] = field(default_factory=list)
    # For a function shared by training and evaluation (`run(loader, train=False)`):
    # the flag values of this run and the call site that makes it an evaluation.
    assumptions: dict[str, bool] = field(default_factory=dict)
    site: F.Call | None = None

    @property
    def node(self) -> cst.CSTNode:
        return self.block.node


@dataclass(frozen=True)
class ModeState:
    mode: str  # "eval" | "train" | "default" (never set: train) | "unknown"
    event: ModeEvent | None = None  # the event that decided it, when one did


class Phases:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self.facts = model.facts
        self._trains: dict[int, bool] = {}

    # -- what trains ----------------------------------------------------------

    def is_backward(self, call: F.Call) -> bool:
        if call.method == "backward":
            return True
        return self.model.function_kind(call) == "autograd_grad"

    def is_optimizer_step(self, call: F.Call) -> bool:
        if call.method != "step" or call.receiver is None:
            return False
        values = self.model.values.at(call.receiver, call)
        if any(v.kind == "optimizer" for v in values):
            return True
        if any(v.kind == "scheduler" for v in values):
            return False
        name = (dotted_name(call.receiver) or "").lower()
        parts = words(name)
        return ("optim" in name or "opt" in parts or "optimizer" in parts) and "sched" not in name

    def is_zero_grad(self, call: F.Call) -> bool:
        return call.method == "zero_grad"

    def calls_in(self, block: F.Block, scope: F.Scope) -> list[F.Call]:
        """Calls inside `block` that belong to `scope` (not to nested functions)."""
        return [c for c in scope.calls if block.order < c.order <= block.end_order] \
            if block is not scope else list(scope.calls)

    def trains(self, block: F.Block, scope: F.Scope, depth: int = 0) -> bool:
        key = id(block)
        if key in self._trains:
            return self._trains[key]
        self._trains[key] = False
        result = False
        for call in self.calls_in(block, scope):
            if self.is_backward(call) or self.is_optimizer_step(call):
                result = True
                break
            if depth < MAX_CALL_DEPTH and _may_call_function(call):
                function = self.model.local_function(call)
                if function is not None and function.facts is self.facts and \
                        self.trains(function.fact, function.fact, depth + 1):
                    result = True
                    break
        self._trains[key] = result
        return result

    # -- forward passes ---------------------------------------------------------

    def forwards_in(self, block: F.Block, scope: F.Scope, depth: int = 0) -> list[Forward]:
        """Forward passes in `block`, and in the project functions it calls (a
        `train_step(model, x)` helper runs the model for the loop)."""
        found = []
        for call in self.calls_in(block, scope):
            if depth < MAX_CALL_DEPTH and _may_call_function(call):
                helper = self.model.local_function(call)
                if helper is not None and helper.facts is self.facts and helper.fact is not scope \
                        and self.model.enclosing_module(helper.fact) is None:
                    found.extend(self.forwards_in(helper.fact, helper.fact, depth + 1))
            if not _may_call_model(call):
                continue
            models = frozenset(v for v in self.model.values.at(call.func, call) if v.kind == "module")
            if call.method == "forward" and call.receiver is not None:
                models = frozenset(v for v in self.model.values.at(call.receiver, call) if v.kind == "module")
            if models:
                found.append(Forward(call, models))
        return found

    # -- evaluation phases ------------------------------------------------------

    def eval_reason_of_function(self, function: F.Function) -> str | None:
        names = self.model.symbols.eval_function_names
        name = function.name.lower()
        if name in names["exact"] or name.startswith(names["prefixes"]) or name.endswith(names["suffixes"]):
            if name.startswith("test_") and name not in names["exact"]:
                return None  # pytest-style unit tests are not evaluation loops
            return f"function {function.name}()"
        return None

    def eval_reason_of_loop(self, loop: F.Loop) -> str | None:
        if loop.iter is None:
            return None
        text = self.facts.module.code_for_node(loop.iter) if loop.kind != "while" else ""
        if words(text) & self.model.symbols.eval_loader_words:
            return f"loop over {' '.join(text.split())[:40]}"
        return None

    @cached_property
    def eval_phases(self) -> list[Phase]:
        phases: list[Phase] = []
        claimed: set[int] = set()
        framework_methods = self.model.symbols.framework_eval_methods
        for function in self.facts.functions:
            if function.name in framework_methods and function.class_ is not None:
                continue  # Lightning sets the mode itself
            if self.model.is_framework_managed(function):
                continue
            function_reason = self.eval_reason_of_function(function)
            for loop in function.loops:
                if loop.kind == "while":
                    continue
                reason = self.eval_reason_of_loop(loop) or function_reason or self._no_grad_reason(loop)
                if reason is None or self.trains(loop, function):
                    continue
                forwards = self.forwards_in(loop, function)
                if forwards:
                    phases.append(Phase("eval", loop, function, reason, forwards))
                    claimed.update(id(f.call) for f in forwards)
            if function_reason is not None and not self.trains(function, function):
                forwards = [f for f in self.forwards_in(function, function) if id(f.call) not in claimed]
                if forwards and function.loops:
                    phases.append(Phase("eval", function, function, function_reason, forwards))
        phases.extend(self._flag_phases())
        module_scope = self.facts.scope
        for loop in module_scope.loops:
            if loop.kind == "while":
                continue
            reason = self.eval_reason_of_loop(loop) or self._no_grad_reason(loop)
            if reason is None or self.trains(loop, module_scope):
                continue
            forwards = self.forwards_in(loop, module_scope)
            if forwards:
                phases.append(Phase("eval", loop, module_scope, reason, forwards))
        return phases

    def _flag_phases(self) -> list[Phase]:
        """Functions that train only when a flag parameter is true, called with the
        flag false: `train_or_eval(model, loader, train=False)` evaluates."""
        phases = []
        for function in self.facts.functions:
            flag = self.training_flag(function)
            if flag is None:
                continue
            for site in self.model.call_sites(function):
                if self.flag_value(function, flag, site) is not False:
                    continue
                forwards = self.forwards_in(function, function)
                if forwards:
                    reason = f"{function.name}(..., {flag}=False) at {self.model.where(site.node)}"
                    phases.append(Phase("eval", function, function, reason, forwards,
                                        assumptions={flag: False}, site=site))
        return phases

    def training_flag(self, function: F.Function) -> str | None:
        """The parameter that gates every backward/step call of `function`, if one does."""
        gated: set[str] = set()
        params = {p.name for p in function.params}
        found = False
        for call in function.calls:
            if not (self.is_backward(call) or self.is_optimizer_step(call)):
                continue
            found = True
            names = set()
            branch = call.branch
            while branch is not None:
                flag = _flag_test(branch.test)
                if flag is not None and flag[0] in params and (branch.arm == "body") == flag[1]:
                    names.add(flag[0])
                branch = branch.parent
            if not names:
                return None
            gated = names if not gated else gated & names
            if not gated:
                return None
        return next(iter(sorted(gated))) if found and gated else None

    def site_assumptions(self, function: F.Function, inner: F.Call, site: F.Call) -> dict[str, bool]:
        """The flag values a call site gives to the branches around `inner`."""
        assumptions: dict[str, bool] = {}
        branch = inner.branch
        while branch is not None:
            flag = _flag_test(branch.test)
            if flag is not None and function.param(flag[0]) is not None and flag[0] not in assumptions:
                value = self.flag_value(function, flag[0], site)
                if value is not None:
                    assumptions[flag[0]] = value
            branch = branch.parent
        return assumptions

    def runs_in(self, call: F.Call, phase: Phase) -> bool:
        """Whether `call` can run in `phase` (under its flag assumptions)."""
        return _consistent(call, phase.assumptions)

    def flag_value(self, function: F.Function, flag: str, site: F.Call) -> bool | None:
        param = function.param(flag)
        if param is None:
            return None
        bound = function.class_ is not None and site.receiver is not None
        argument = site.argument(param.index - (1 if bound else 0), param.name)
        if argument is None:
            argument = param.default
            known = self.model.data.constant(argument, function.parent or self.facts.scope, function.order) \
                if argument is not None else None
        else:
            known = self.model.data.constant(argument, site.scope, site.order)
        if known is None or not isinstance(known.value, (bool, int, float)):
            return None
        return bool(known.value)

    def _no_grad_reason(self, loop: F.Loop) -> str | None:
        with_ = loop.with_
        while with_ is not None:
            if self._disables_grad(with_):
                return "loop under torch.no_grad()"
            with_ = with_.parent
        return None

    @cached_property
    def train_loops(self) -> list[tuple[F.Loop, F.Scope]]:
        """Innermost loops that train, with their scope."""
        found = []
        scopes: list[F.Scope] = [self.facts.scope, *self.facts.functions]
        for scope in scopes:
            for loop in scope.loops:
                if loop.kind != "while" and self.trains(loop, scope) or \
                        loop.kind == "while" and self.trains(loop, scope):
                    found.append((loop, scope))
        return found

    # -- mode -------------------------------------------------------------------

    def mode_events(self, scope: F.Scope, depth: int = 0) -> list[ModeEvent]:
        """Every place `scope` sets a train/eval mode, helpers followed."""
        events: list[ModeEvent] = []
        for call in scope.calls:
            event = self._direct_mode_event(call)
            if event is not None:
                events.append(event)
                continue
            if depth < MAX_CALL_DEPTH and _may_call_function(call):
                events.extend(self._helper_events(call, depth))
        return events

    def _direct_mode_event(self, call: F.Call) -> ModeEvent | None:
        if call.method not in ("eval", "train") or call.receiver is None:
            return None
        target = dotted_name(call.receiver) or self.facts.module.code_for_node(call.receiver)
        if call.method == "eval":
            return ModeEvent(call, "eval", target) if not call.args else None
        flag = call.argument(0, "mode")
        if flag is None:
            return ModeEvent(call, "train", target)
        value = literal_number(flag)
        if value is None:
            return ModeEvent(call, "unknown", target)
        return ModeEvent(call, "train" if value else "eval", target)

    def _helper_events(self, call: F.Call, depth: int) -> list[ModeEvent]:
        """A project function that sets the mode of one of its parameters (or of
        ``self.<attr>``) sets it on what the call passes."""
        definition = self.model.local_function(call)
        if definition is None:
            return []
        function = definition.fact
        if definition.facts is self.facts:
            inner_events = self.mode_events(function, depth + 1)
        else:  # a helper in another file: its own eval()/train() calls
            inner_events = [e for e in map(self._direct_mode_event, function.calls) if e is not None]
        events = []
        for inner in inner_events:
            assumptions = self.site_assumptions(function, inner.call, call)
            if not _consistent(inner.call, assumptions):
                continue  # `if train: model.train()` called with train=False
            head, _, rest = inner.target.partition(".")
            param = function.param(head)
            if param is None:
                continue
            if function.class_ is not None and param.index == 0:
                # self.<attr> in the helper is <receiver>.<attr> at the call site
                receiver = dotted_name(call.receiver) if call.receiver is not None else None
                if receiver is None:
                    continue
                target = f"{receiver}.{rest}" if rest else receiver
            else:
                offset = 1 if function.class_ is not None and call.receiver is not None else 0
                argument = call.argument(param.index - offset, param.name)
                if argument is None:
                    continue
                text = dotted_name(argument) or self.facts.module.code_for_node(argument)
                target = f"{text}.{rest}" if rest else text
            events.append(ModeEvent(call, inner.mode, target))
        return events

    def _same_model(self, event: ModeEvent, target: str, models: frozenset[Value]) -> bool:
        if event.target == target:
            return True
        receiver = event.call.receiver
        if receiver is None or event.call.method not in ("eval", "train"):
            return False
        # The same object: values inferred at two places are distinct Value objects
        # with the same origin (the constructor call).
        event_models = {id(v.origin) for v in self.model.values.at(receiver, event.call) if v.kind == "module"}
        return bool(event_models & {id(v.origin) for v in models if v.origin is not None})

    def mode_at(self, call: F.Call, target: str, models: frozenset[Value], depth: int = 0,
                phase: Phase | None = None) -> ModeState:
        """The mode of the model `target` (holding `models`) when `call` runs; within
        `phase`, under its flag assumptions and for its call site only."""
        scope = call.scope
        assumptions = phase.assumptions if phase is not None else {}
        before = []
        for event in self.mode_events(scope):
            if event.call.order >= call.order or not self._same_model(event, target, models):
                continue
            if not _consistent(event.call, assumptions):
                continue
            if event.mode == "unknown" and assumptions:
                flag = _flag_test(event.call.argument(0, "mode"))
                if flag is not None and flag[0] in assumptions:
                    mode = "train" if assumptions[flag[0]] == flag[1] else "eval"
                    event = ModeEvent(event.call, mode, event.target)
            before.append(event)
        if before:
            unconditional = [e for e in before if _dominates(e.call, call, assumptions)]
            start = unconditional[-1].call.order if unconditional else -1
            considered = [e for e in before if e.call.order >= start]
            for event in reversed(considered):
                if event.mode in ("eval", "unknown"):
                    return ModeState("unknown" if event.mode == "unknown" else "eval", event)
            if unconditional:
                return ModeState("train", unconditional[-1])
            return ModeState("unknown")
        if self._created_here(models, scope, call):
            return ModeState("default")
        function = scope if isinstance(scope, F.Function) else None
        if function is None:
            return ModeState("default") if self._created_in_file(models) else ModeState("unknown")
        if depth >= MAX_CALL_DEPTH:
            return ModeState("unknown")
        states = []
        sites = [phase.site] if phase is not None and phase.site is not None \
            else self.model.project_call_sites(function)
        for site in sites:
            site_target = self._target_at_site(target, function, site)
            if site_target is None:
                states.append(ModeState("unknown"))
                continue
            states.append(self._phases_of(site).mode_at(site, site_target, models, depth + 1))
        if not states:
            return ModeState("unknown")
        if any(s.mode in ("eval", "unknown") for s in states):
            return next(s for s in states if s.mode in ("eval", "unknown"))
        return next((s for s in states if s.mode == "train"), states[0])

    def _target_at_site(self, target: str, function: F.Function, site: F.Call) -> str | None:
        head, _, rest = target.partition(".")
        param = function.param(head)
        if param is None:
            return target  # a global or an attribute of a global: the same name
        if function.class_ is not None and param.index == 0:
            receiver = dotted_name(site.receiver) if site.receiver is not None else None
            return (f"{receiver}.{rest}" if rest else receiver) if receiver else None
        offset = 1 if function.class_ is not None and site.receiver is not None else 0
        argument = site.argument(param.index - offset, param.name)
        text = dotted_name(argument)
        if text is None:
            return None
        return f"{text}.{rest}" if rest else text

    def _created_here(self, models: frozenset[Value], scope: F.Scope, call: F.Call) -> bool:
        """Whether the model was constructed in `scope` before `call` (so it starts
        in train mode and nothing else could have switched it)."""
        for value in models:
            origin = value.origin
            fact = self.facts.call_of.get(id(origin)) if origin is not None else None
            if fact is not None and fact.scope is scope and fact.order < call.order:
                return True
        return False

    def _created_in_file(self, models: frozenset[Value]) -> bool:
        return any(v.origin is not None and id(v.origin) in self.facts.call_of for v in models)

    # -- autograd ---------------------------------------------------------------

    def _disables_grad(self, with_: F.With) -> bool:
        for item in with_.items:
            expr = item.item
            callee = expr.func if isinstance(expr, cst.Call) else expr
            qualified = self.model.names.qualified(callee, with_.scope, with_.order)
            kind = self.model.symbols.function_kind(qualified)
            if kind == "no_grad":
                return True
            if kind == "set_grad_enabled":
                return True  # set_grad_enabled(phase == "train") manages it on purpose
            text = dotted_name(callee) or ""
            if text.endswith(("no_grad", "inference_mode", "autocast_no_grad")):
                return True
        return False

    def in_no_grad_block(self, fact: F.Located) -> bool:
        """Whether a `with torch.no_grad()` (or inference_mode, set_grad_enabled) surrounds `fact`."""
        with_ = fact.with_
        while with_ is not None:
            if self._disables_grad(with_):
                return True
            with_ = with_.parent
        return False

    def grad_disabled_at(self, call: F.Call, depth: int = 0, phase: Phase | None = None) -> bool:
        if self.in_no_grad_block(call):
            return True
        scope = call.scope
        function = scope.function
        while function is not None:
            for decorator in function.decorators:
                callee = decorator.func if isinstance(decorator, cst.Call) else decorator
                qualified = self.model.names.qualified(callee, function.parent or self.facts.scope,
                                                       function.order)
                if self.model.symbols.function_kind(qualified) in ("no_grad", "set_grad_enabled") or \
                        (dotted_name(callee) or "").endswith(("no_grad", "inference_mode")):
                    return True
            parent = function.parent
            function = parent.function if parent is not None else None
        for earlier in scope.calls:
            if earlier.order >= call.order:
                break
            kind = self.model.function_kind(earlier)
            if kind == "set_grad_enabled":
                flag = literal_number(earlier.positional(0))
                if flag == 0:
                    return True
            if earlier.method == "requires_grad_" and literal_number(earlier.positional(0)) == 0:
                return True
        function = scope if isinstance(scope, F.Function) else None
        if function is None or depth >= MAX_CALL_DEPTH:
            return False
        sites = [phase.site] if phase is not None and phase.site is not None \
            else self.model.project_call_sites(function)
        return any(self._phases_of(site).grad_disabled_at(site, depth + 1) for site in sites)

    def _phases_of(self, site: F.Call) -> Phases:
        """The phases of the file a call site is in: callers may be in other files."""
        facts, path = self.model.home_of(site)
        return self if facts is self.facts else self.model.model_for(facts, path).phases


def _may_call_function(call: F.Call) -> bool:
    """`helper(model)` or `self.helper()`: calls that may run a project function.
    `obj.method()` on other receivers is not followed (it would need inference)."""
    func = call.func
    if isinstance(func, cst.Name):
        return True
    return isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
        and func.value.value == "self"


def _may_call_model(call: F.Call) -> bool:
    """`model(x)`, `self.model(x)`, `self.net.encoder(x)`, `model.forward(x)`,
    `ddp.module(x)`: the shapes a forward pass is written in. Other method calls
    (`x.view()`, `loss.backward()`) are not inferred, which keeps this cheap."""
    func = call.func
    if isinstance(func, cst.Name):
        return True
    if isinstance(func, cst.Attribute):
        if call.method in ("forward", "module"):
            return True
        head = func
        while isinstance(head, cst.Attribute):
            head = head.value
        return isinstance(head, cst.Name) and head.value == "self"
    return isinstance(func, cst.Subscript)  # self.heads[name](x)


def _flag_test(test: cst.CSTNode | None) -> tuple[str, bool] | None:
    """``if train:`` -> ("train", True); ``if not train:`` -> ("train", False)."""
    if isinstance(test, cst.Name):
        return test.value, True
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) \
            and isinstance(test.expression, cst.Name):
        return test.expression.value, False
    return None


def _implied(branch: F.Branch, assumptions: dict[str, bool]) -> bool | None:
    """Whether the assumptions make this branch run (True), skip (False), or neither."""
    flag = _flag_test(branch.test)
    if flag is None or flag[0] not in assumptions or branch.arm not in ("body", "orelse"):
        return None
    runs_body = assumptions[flag[0]] == flag[1]
    return runs_body if branch.arm == "body" else not runs_body


def _consistent(event: F.Call, assumptions: dict[str, bool]) -> bool:
    branch = event.branch
    while branch is not None:
        if _implied(branch, assumptions) is False:
            return False
        branch = branch.parent
    return True


def _dominates(event: F.Call, call: F.Call, assumptions: dict[str, bool] | None = None) -> bool:
    """Whether `event` runs whenever `call` runs: every branch around the event
    also surrounds the call, or is taken under the assumptions."""
    branch = event.branch
    while branch is not None:
        if not branch.contains(call) and not _implied(branch, assumptions or {}):
            return False
        branch = branch.parent
    return True


def iter_calls(scopes: Iterable[F.Scope]) -> Iterable[F.Call]:
    for scope in scopes:
        yield from scope.calls
