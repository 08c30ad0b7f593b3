"""Training and evaluation phases, the models they run, and the mode in force.

A phase is a loop, a function, or a stretch of one. It *trains* when it calls
``backward`` or ``optimizer.step()`` (itself or through project functions it
calls). It *evaluates* when it does not train and runs a model, with a reason
to call it evaluation:

* strong reasons: a loop over a validation/test loader; a function whose name
  holds an eval word (``validate``, ``_valid_epoch``, ``runHoldoutTest``,
  ``predict``), with or without a loop; the ``"val"`` pass of
  ``for phase in ("train", "val")``; ``train_or_eval(..., train=False)``;
* weaker reasons, guarded against shape checks and training-step helpers: a
  ``@torch.no_grad()`` / ``@torch.inference_mode()`` decorator, a loop under
  ``torch.no_grad()``, a model given trained weights (``load_state_dict``,
  ``pretrained=True``) in code that never trains, a branch of a training loop
  that draws a batch from a test loader, forwards after ``model.eval()`` that
  no backward pass follows.

For each forward pass the module answers which mode the model is in
(``model.eval()``, ``model.train(False)``, a project helper that calls eval, a
caller that did it, the mode left by the previous iteration of a loop) and
whether autograd is off. Models are known from data flow, or, when it cannot
say (a model passed in from another file), from their use (``net.eval()``,
``net.parameters()``) or their name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator

import libcst as cst

from torchlint.semantic import conditions as C
from torchlint.semantic import evidence as E
from torchlint.semantic import facts as F
from torchlint.semantic.evidence import words
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import binding_before, lookup, through_aliases
from torchlint.semantic.uses import BACKWARD_CALLS, reads_any
from torchlint.semantic.values import Value
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from pathlib import Path

    from torchlint.semantic.model import SemanticModel
    from torchlint.semantic.modules import ModuleClass

__all__ = ["words", "Phases", "Phase", "Forward", "ModeEvent", "ModeState", "iter_calls"]

MAX_CALL_DEPTH = 3


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
    # The calls of project helpers that lead from the phase to `call`, outermost
    # first (empty when the forward is written in the phase itself).
    via: tuple[F.Call, ...] = ()
    # How the callee is known to be a model: "value" (data flow), "use" (model
    # methods are called on it: `net.eval()`), "name" (`model`, `self.encoder`).
    evidence: str = "value"
    # A method of the model other than forward that runs its layers (`tagger.tag(x)`):
    # the model is the receiver.
    own_method: bool = False

    @property
    def target(self) -> str:
        """The model, as written: `net` of `net(x)`, `net.forward(x)` and `net.tag(x)`;
        `net.encoder` of `net.encoder(x)`."""
        func = self.call.func
        if isinstance(func, cst.Attribute) and (self.call.method == "forward" or self.own_method
                                                or self.evidence != "value"
                                                and self.call.method in E.FORWARD_METHODS):
            return dotted_name(func.value) or ""
        return dotted_name(func) or ""

    @property
    def site(self) -> F.Call:
        """The call in the phase's own code that runs this forward."""
        return self.via[0] if self.via else self.call


@dataclass(eq=False)
class Phase:
    kind: str  # "train" | "eval"
    block: F.Block  # a loop, a function, a branch or a stretch of code
    scope: F.Scope  # the scope the forwards are in
    reason: str  # why it is an evaluation phase, for messages
    forwards: list[Forward] = field(default_factory=list)
    # The values some names hold in this run: a shared function's flags
    # (`run(loader, train=False)`), the pass of a phase loop (`phase == "val"`).
    assumptions: dict = field(default_factory=dict)
    site: F.Call | None = None  # the call site that makes a flag run an evaluation

    @property
    def node(self) -> cst.CSTNode:
        return self.block.node


@dataclass(frozen=True)
class ModeState:
    mode: str  # "eval" | "train" | "default" (never set: train) | "unknown"
    event: ModeEvent | None = None  # the event that decided it, when one did
    carried: bool = False  # left by the previous iteration of an enclosing loop


_STATE_RANK = {"train": 0, "default": 1, "unknown": 2, "eval": 3}


class Phases:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self.facts = model.facts
        self._trains: dict[int, bool] = {}
        self._model_uses: dict[int, set[str]] = {}

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
        if self._names_optimizer(call.receiver):
            return True
        # AMP's `scaler.step(optimizer)` steps the optimizer it is given: a known
        # optimizer, or one named so given to something that is (or is named) a scaler.
        if len(call.args) != 1:
            return False
        argument = call.args[0].value
        if any(v.kind == "optimizer" for v in self.model.values.at(argument, call)):
            return True
        scaler = any(v.kind == "grad_scaler" for v in values) or "scaler" in (dotted_name(call.receiver) or "").lower()
        return scaler and self._names_optimizer(argument)

    @staticmethod
    def _names_optimizer(node: cst.BaseExpression) -> bool:
        name = (dotted_name(node) or "").lower()
        parts = words(name)
        return ("optim" in name or "opt" in parts or "optimizer" in parts) and "sched" not in name

    def is_zero_grad(self, call: F.Call) -> bool:
        return call.method == "zero_grad"

    def is_training_call(self, call: F.Call) -> bool:
        return self.is_backward(call) or self.is_optimizer_step(call)

    def calls_in(self, block: F.Block, scope: F.Scope) -> list[F.Call]:
        """Calls inside `block` that belong to `scope` (not to nested functions)."""
        return [c for c in scope.calls if block.order < c.order <= block.end_order] \
            if block is not scope else list(scope.calls)

    def trains(self, block: F.Block, scope: F.Scope, depth: int = 0) -> bool:
        key = id(block)
        if key in self._trains:
            return self._trains[key]
        self._trains[key] = False
        result = self._trains_under(block, scope, {}, depth)
        self._trains[key] = result
        return result

    def _trains_under(self, block: F.Block, scope: F.Scope, assumptions: dict, depth: int = 0) -> bool:
        for call in self.calls_in(block, scope):
            if assumptions and not C.consistent(call, assumptions):
                continue
            if self.is_training_call(call) or self._helper_trains(call, depth):
                return True
            if depth < MAX_CALL_DEPTH and not self._may_call_helper(call) and self._may_call_own_method(call):
                # `runner.fit_batch(x)`: trains when its body does for the arguments given
                # (`net.run_epoch(loader, split)` trains only under `if split == "fit"`)
                function = self.model.local_function(call)
                if function is not None and function.facts is self.facts and function.fact.class_ is not None:
                    method = function.fact
                    if self._trains_under(method, method, self.callee_assumptions(method, call, assumptions),
                                          depth + 1):
                        return True
        return False

    def _helper_trains(self, call: F.Call, depth: int) -> bool:
        """`call` runs a function of this file that trains."""
        if depth >= MAX_CALL_DEPTH or not self._may_call_helper(call):
            return False
        function = self.model.local_function(call)
        return function is not None and function.facts is self.facts and \
            self.trains(function.fact, function.fact, depth + 1)

    @staticmethod
    def callee_assumptions(method: F.Function, site: F.Call, caller: dict) -> dict:
        """The values the parameters of `method` (called as `obj.method(...)`) take at
        `site`: literals written there or as defaults, and names the caller's
        assumptions fix (`for split in ["fit", "val"]: net.run(loader, split)`)."""
        assumptions: dict = {}
        for param in method.params[1:]:
            argument = site.argument(param.index - 1, param.name)
            value = C.literal(argument) if argument is not None else C.literal(param.default)
            if isinstance(argument, cst.Name) and argument.value in caller:
                value = caller[argument.value]
            if value is not C.UNKNOWN:
                assumptions[param.name] = value
        return assumptions

    def _may_call_own_method(self, call: F.Call) -> bool:
        """`runner.fit_batch(x, y)`: a method name some class of this file defines,
        called on a name (whether the receiver is that class's instance is inferred
        only for these)."""
        func = call.func
        return type(func) is cst.Attribute and type(func.value) is cst.Name \
            and func.attr.value in self._own_method_names

    @cached_property
    def _own_method_names(self) -> frozenset[str]:
        return frozenset(name for cls in self.facts.classes for name in cls.methods
                         if not name.startswith("__"))

    def _may_call_helper(self, call: F.Call) -> bool:
        """`helper(model)`, `self.helper()`, and `Trainer.helper(model)`: a function
        called through a project class (a staticmethod, or Python-2 style code
        keeping plain functions in a class)."""
        if _may_call_function(call):
            return True
        func = call.func
        return type(func) is cst.Attribute and type(func.value) is cst.Name \
            and self.model.names_class(func.value, call, self.facts, self.model.path)

    # -- forward passes ---------------------------------------------------------

    def forwards_in(self, block: F.Block, scope: F.Scope, depth: int = 0, unknown: bool = False,
                    via: tuple[F.Call, ...] = ()) -> list[Forward]:
        """Forward passes in `block`, and in the project functions it calls (a
        `train_step(model, x)` helper runs the model for the loop). With
        `unknown`, also calls of what only its use or name shows to be a model."""
        found = []
        for call in self.calls_in(block, scope):
            if depth < MAX_CALL_DEPTH and self._may_call_helper(call):
                helper = self.model.local_function(call)
                if helper is not None and helper.facts is self.facts and helper.fact is not scope \
                        and self.model.enclosing_module(helper.fact) is None:
                    found.extend(self.forwards_in(helper.fact, helper.fact, depth + 1, unknown, (*via, call)))
            forward = self._forward(call, unknown)
            if forward is not None:
                forward.via = via
                found.append(forward)
        return found

    def _forward(self, call: F.Call, unknown: bool) -> Forward | None:
        if _may_call_model(call):
            models = _modules(self.model.values.at(call.func, call))
            if call.method == "forward" and call.receiver is not None:
                models = _modules(self.model.values.at(call.receiver, call))
            if models:
                return Forward(call, models)
        if not unknown or call.receiver is None and not isinstance(call.func, cst.Name):
            return None
        if isinstance(call.func, cst.Attribute) and call.method not in E.MODEL_METHODS:
            # `m.encode(x)`, `m.head(x)`: a method or a submodule of a project model
            receivers = _modules(self.model.values.at(call.receiver, call))
            if any(v.module is not None and v.module.layer(call.method) for v in receivers):
                return Forward(call, receivers)
            if any(v.module is not None and _runs_layers(v.module, call.method) for v in receivers):
                return Forward(call, receivers, own_method=True)
        return self._forward_by_evidence(call)

    def _forward_by_evidence(self, call: F.Call) -> Forward | None:
        """A call of something data flow knows nothing about, taken for a model
        by its use elsewhere (`net.eval()`, `net.parameters()`) or its name."""
        func = call.func
        if isinstance(func, cst.Attribute) and call.method in E.FORWARD_METHODS:
            node, by_name = func.value, call.method == "forward"
        elif isinstance(func, (cst.Name, cst.Attribute)):
            node, by_name = func, True
        else:
            return None
        target = dotted_name(node)
        if not target or any(v.kind != "external" for v in self.model.values.at(node, call)):
            return None  # data flow knows what it holds, and it is not a model
        if self.used_as_model(target, call.scope):
            return Forward(call, frozenset(), evidence="use")
        if by_name and E.looks_like_model_name(target) and self._unbound_input(target, call.scope):
            return Forward(call, frozenset(), evidence="name")
        return None

    def _unbound_input(self, target: str, scope: F.Scope) -> bool:
        """`target` comes from outside the file's knowledge: a parameter (or an
        attribute of `self`) of the function it is used in."""
        function = scope.function
        if function is None:
            return False
        head = target.split(".", 1)[0]
        param = function.param(head)
        if param is None:
            return False
        is_self = function.class_ is not None and param.index == 0 \
            and self.model.first_param_is_receiver(function)
        return "." in target if is_self else True

    def used_as_model(self, target: str, scope: F.Scope, depth: int = 0) -> bool:
        """Whether model-only methods are called on `target` where it lives: in
        its function, in its class (for `self.<attr>`), at module level (for a
        global), or on the arguments callers pass for it."""
        function = scope.function
        if function is None:
            return target in self._uses_in(self.facts.scope)
        if target in self._uses_in(function):
            return True
        head, _, rest = target.partition(".")
        cls = function.class_
        if cls is not None and function.params and head == function.params[0].name \
                and self.model.first_param_is_receiver(function):
            return bool(rest) and any(
                method.params and f"{method.params[0].name}.{rest}" in self._uses_in(method)
                for method in cls.methods.values())
        if function.param(head) is None:
            return target in self._uses_in(self.facts.scope)  # a global
        if depth >= MAX_CALL_DEPTH:
            return False
        for site in self.model.call_sites(function):
            outer = _target_at_site(target, function, site, self.model.passes_receiver(site, function))
            if outer and self.used_as_model(outer, site.scope, depth + 1):
                return True
        return False

    def _uses_in(self, scope: F.Scope) -> set[str]:
        key = id(scope)
        found = self._model_uses.get(key)
        if found is None:
            found = self._model_uses[key] = E.model_method_receivers(scope.calls)
            # `model = ctx.model; model.parameters()`: ctx.model is used as a model too
            found |= {through_aliases(scope, E.receiver_text(call), call.order)[0] for call in scope.calls
                      if call.method in E.MODEL_METHODS and E.receiver_text(call)}
        return found

    # -- evaluation phases ------------------------------------------------------

    def eval_reason_of_function(self, function: F.Function) -> str | None:
        found = self._function_reason(function)
        return found[0] if found is not None else None

    def _function_reason(self, function: F.Function) -> tuple[str, bool] | None:
        """(reason, strong) when `function` looks like evaluation code: an eval
        word in its name (strong), or a no_grad/inference_mode decorator (weak)."""
        names = self.model.symbols.eval_function_names
        name = function.name.lower()
        listed = name in names["exact"] or name.startswith(names["prefixes"]) or name.endswith(names["suffixes"])
        if (listed or E.eval_words_in_name(function.name)) and not E.is_pytest_test(function, self.model.path, self.facts):
            return f"function {function.name}()", True
        decorator = self._grad_decorator(function)
        if decorator is not None:
            return f"function {function.name}() under @{decorator}", False
        return None

    def _grad_decorator(self, function: F.Function) -> str | None:
        for decorator in function.decorators:
            callee = decorator.func if isinstance(decorator, cst.Call) else decorator
            text = dotted_name(callee) or ""
            qualified = self.model.names.qualified(callee, function.parent or self.facts.scope, function.order)
            if self.model.symbols.function_kind(qualified) == "no_grad" or _names_no_grad(callee):
                return f"{text}()" if isinstance(decorator, cst.Call) else text
        return None

    def eval_reason_of_loop(self, loop: F.Loop) -> str | None:
        if loop.iter is None:
            return None
        text = self.facts.module.code_for_node(loop.iter)
        if E.data_words(text, self.model.symbols.eval_loader_words):
            what = "loop over" if loop.kind != "while" else "loop while"
            return f"{what} {' '.join(text.split())[:40]}"
        return None

    @cached_property
    def eval_phases(self) -> list[Phase]:
        finder = _EvalPhaseFinder(self)
        for scope in self._analysed_scopes():
            finder.scan(scope)
        finder.phases.extend(self._flag_phases())
        return finder.finish()

    def _analysed_scopes(self) -> list[F.Scope]:
        framework_methods = self.model.symbols.framework_eval_methods
        scopes: list[F.Scope] = []
        for function in self.facts.functions:
            if function.name in framework_methods and function.class_ is not None:
                continue  # Lightning sets the mode itself
            if self.model.is_framework_managed(function):
                continue
            if E.is_unit_test(function, self.facts, self.model.path):
                continue  # a test checks outputs; its forwards are no evaluation loop
            scopes.append(function)
        scopes.append(self.facts.scope)
        return scopes

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
                forwards = self.forwards_in(function, function, unknown=True)
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
            if not self.is_training_call(call):
                continue
            found = True
            names = set()
            branch = call.branch
            while branch is not None:
                flag = C.flag_test(branch.test)
                if flag is not None and flag[0] in params and (branch.arm == "body") == flag[1]:
                    names.add(flag[0])
                branch = branch.parent
            if not names:
                return None
            gated = names if not gated else gated & names
            if not gated:
                return None
        return next(iter(sorted(gated))) if found and gated else None

    def site_assumptions(self, function: F.Function, inner: F.Call, site: F.Call) -> dict:
        """The flag values a call site gives to the branches around `inner`."""
        assumptions: dict = {}
        branch = inner.branch
        while branch is not None:
            for name in C.names_tested(branch.test):
                if function.param(name) is not None and name not in assumptions:
                    value = self.flag_value(function, name, site)
                    if value is not None:
                        assumptions[name] = value
            branch = branch.parent
        return assumptions

    def runs_in(self, call: F.Call, phase: Phase) -> bool:
        """Whether `call` can run in `phase` (under its assumptions)."""
        return call.scope is not phase.scope or C.consistent(call, phase.assumptions)

    def flag_value(self, function: F.Function, flag: str, site: F.Call) -> bool | None:
        param = function.param(flag)
        if param is None:
            return None
        bound = self.model.passes_receiver(site, function)
        index = param.index - (1 if bound else 0)
        argument = site.argument(index, param.name) if index >= 0 else None
        if argument is None:
            argument = param.default
        if isinstance(argument, cst.Name) and argument.value == "None":
            return False  # `run_epoch(model, loader, None)` gates `if optimizer: ...step()` off
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

    def phase_loop_passes(self, loop: F.Loop) -> tuple[str, list[str]] | None:
        """`for phase in ("train", "val"):` -> ("phase", ["train", "val"]): one
        loop body run once per named pass."""
        if loop.kind != "for" or not isinstance(loop.target, cst.Name):
            return None
        values = C.literal_strings(loop.iter)
        if values is None and isinstance(loop.iter, cst.Name) and loop.scope is not None:
            known = self.model.data.constant(loop.iter, loop.scope, loop.order)
            if known is not None and isinstance(known.value, (list, tuple)) and known.value \
                    and all(isinstance(v, str) for v in known.value):
                values = list(known.value)
        if not values or len(values) < 2:
            return None
        return loop.target.value, values

    def training_pass(self, loop: F.Loop) -> Phase | None:
        """The training pass of a phase loop around (or at) `loop`: in `for phase in
        ["train", "val"]:` with `if phase == "train": model.train() ... backward()`,
        the pass under `phase == "train"`, so that the mode of a forward is read
        with the val pass's `model.eval()` left out. None outside phase loops."""
        scope = loop.scope
        current: F.Loop | None = loop
        while current is not None and scope is not None and current.scope is scope:
            passes = self.phase_loop_passes(current)
            if passes is not None:
                name, values = passes
                training = [value for value in values if self._trains_under(loop, scope, {name: value})]
                if training and len(training) < len(values):
                    return Phase("train", loop, scope, f"the {training[0]!r} pass of `for {name} in ...`",
                                 assumptions={name: training[0]})
            current = current.parent
        return None

    def is_training_step_helper(self, function: F.Function) -> bool:
        """Whether `function` is called as part of a training step: from a loop
        (or function) that calls backward or step itself, beside the call, or
        that hands the call's result to a helper of this file that does
        (`loss = _forward(); _backward(loss)`)."""
        for site in self.model.call_sites(function):
            block: F.Block = site.loop if site.loop is not None else site.scope
            calls = self.calls_in(block, site.scope)
            if any(call.loop is site.loop and self.is_training_call(call) for call in calls):
                return True
            kept = self._names_holding(site, block)
            if kept and any(call.order > site.order and any(reads_any(arg.value, kept) for arg in call.args)
                            and self._helper_trains(call, 0) for call in calls):
                return True
        return False

    def _names_holding(self, site: F.Call, block: F.Block) -> set[str]:
        """Names of `block` that hold the result of `site` after it: assigned it
        (`loss = _forward()`) or computed from such a name (`scaled = k * loss`)."""
        statement_of = self.facts.statement_of
        statement = statement_of.get(id(site.node))
        names: set[str] = set()
        scope = site.scope
        for assign in scope.assigns:
            if assign.value is None or not (block is scope or block.contains(assign)):
                continue
            holds_site = statement is not None and statement_of.get(id(assign.node)) is statement
            if holds_site or assign.order > site.order and names and reads_any(assign.value, names):
                names.update(t.value for t in assign.targets if isinstance(t, cst.Name))
        return names

    def feeds_training(self, function: F.Function, depth: int = 0) -> bool:
        """Whether what `function` returns is part of a training step: at a call
        site it reaches `backward()`, directly or through a caller that returns
        it (`loss()` returning `mse(self.predict_scores(x), y)`), or a `forward`
        returns it (model code, judged where the model runs). A helper named like
        evaluation that training calls for its result is not evaluation."""
        if depth >= MAX_CALL_DEPTH:
            return False
        return any(self._phases_of(site)._result_feeds_training(site, depth)
                   for site in self.model.project_call_sites(function))

    def _result_feeds_training(self, site: F.Call, depth: int) -> bool:
        statement = self.facts.statement_of.get(id(site.node))
        scope = site.scope
        backward = [call for call in scope.calls if call.method in BACKWARD_CALLS and call.order > site.order]
        if isinstance(statement, cst.Expr):  # `crit(helper(x), y).backward()`
            return any(self.facts.statement_of.get(id(call.node)) is statement for call in backward)
        names: set[str] = set()
        if isinstance(statement, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in statement.targets] if isinstance(statement, cst.Assign) \
                else [statement.target]
            names = {node.value for target in targets for node in iter_nodes(target) if isinstance(node, cst.Name)}
            for assign in scope.assigns:  # names computed from them carry the result too
                if assign.order > site.order and assign.value is not None and reads_any(assign.value, names):
                    names |= {node.value for target in assign.targets for node in iter_nodes(target)
                              if isinstance(node, cst.Name)}
        elif not isinstance(statement, cst.Return):
            return False
        if names and any(reads_any(call.node, names) for call in backward):
            return True
        returned = isinstance(statement, cst.Return) or bool(names) and any(
            ret.value is not None and ret.order > site.order and reads_any(ret.value, names)
            for ret in scope.returns)
        if not returned or not isinstance(scope, F.Function):
            return False
        return scope.name == "forward" or self.feeds_training(scope, depth + 1)

    @cached_property
    def train_loops(self) -> list[tuple[F.Loop, F.Scope]]:
        """Loops that train, with their scope."""
        found = []
        scopes: list[F.Scope] = [self.facts.scope, *self.facts.functions]
        for scope in scopes:
            for loop in scope.loops:
                if self.trains(loop, scope):
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
            if depth < MAX_CALL_DEPTH and self._may_call_helper(call):
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
            if not C.consistent(inner.call, assumptions):
                continue  # `if train: model.train()` called with train=False
            if inner.mode == "unknown" and assumptions:
                inner = self._resolved(inner, assumptions)
            target = _target_at_site(inner.target, function, call,
                                     self.model.passes_receiver(call, function))
            if target is None or target == inner.target and function.param(inner.target.partition(".")[0]) is None \
                    and definition.facts is not self.facts:
                continue
            events.append(ModeEvent(call, inner.mode, target))
        return events

    def _resolved(self, event: ModeEvent, assumptions: dict) -> ModeEvent:
        """`model.train(phase == "train")` / `model.train(train)` under known values."""
        holds = C.evaluate(event.call.argument(0, "mode"), assumptions)
        if holds is None:
            return event
        return ModeEvent(event.call, "train" if holds else "eval", event.target)

    def _same_model(self, event: ModeEvent, target: str, models: frozenset[Value],
                    call: F.Call | None = None) -> bool:
        if event.target == target or call is not None and _aliased(event, target, call):
            return True
        receiver = event.call.receiver
        if receiver is None or event.call.method not in ("eval", "train") or not models:
            return False
        # The same object: values inferred at two places are distinct Value objects
        # with the same origin (the constructor call).
        event_models = {id(v.origin) for v in self.model.values.at(receiver, event.call) if v.kind == "module"}
        return bool(event_models & {id(v.origin) for v in models if v.origin is not None})

    def mode_at(self, call: F.Call, target: str, models: frozenset[Value], depth: int = 0,
                phase: Phase | None = None, via: tuple[F.Call, ...] = ()) -> ModeState:
        """The mode of the model `target` (holding `models`) when `call` runs; within
        `phase`, under its assumptions and for its call site only; reached from the
        phase through the helper calls `via` (outermost first)."""
        scope = call.scope
        assumptions = phase.assumptions if phase is not None and scope is phase.scope else {}
        state = self._mode_from_events(call, target, models, assumptions) or \
            self._mode_set_by_method(call, models)
        if state is not None:
            return state
        if self._created_here(models, scope, call) or self._built_here(target, models, scope, call):
            return ModeState("default")
        function = scope if isinstance(scope, F.Function) else None
        if function is None:
            if self._created_in_file(models):
                return self._mode_left_by_builder(models) or ModeState("default")
            return self._mode_left_by_importing(models)
        if depth >= MAX_CALL_DEPTH:
            return ModeState("unknown")
        if via:
            sites, outer_via = [via[-1]], via[:-1]
        elif phase is not None and phase.site is not None and scope is phase.scope:
            sites, outer_via = [phase.site], ()
        else:
            sites, outer_via = self.model.project_call_sites(function), ()
        states = []
        for site in sites:
            site_target = _target_at_site(target, function, site, self.model.passes_receiver(site, function))
            if site_target is None:
                states.append(ModeState("unknown"))
                continue
            states.append(self._phases_of(site).mode_at(site, site_target, models, depth + 1, phase, outer_via))
        if not states:
            return ModeState("unknown")
        # Evaluation code called from several places runs in train mode if any
        # of them leaves the model in train mode.
        return min(states, key=lambda s: (_STATE_RANK[s.mode], s.event is None))

    def eval_left_by_loop(self, call: F.Call, target: str, models: frozenset[Value]) -> ModeEvent | None:
        """An eval switch later in a loop around `call` (`validate(model)` at the end of
        each epoch): from the loop's second iteration on, `call` runs in eval mode,
        unless the loop sets train mode before `call` (on any path: a conditional
        `train()` is given the benefit of the doubt)."""
        events = [e for e in self.mode_events(call.scope) if self._same_model(e, target, models, call)]
        loop = call.loop
        while loop is not None and loop.scope is call.scope:
            if any(e.mode != "eval" and loop.contains(e.call) and e.call.order < call.order for e in events):
                return None
            later = [e for e in events if loop.contains(e.call) and e.call.order > call.order]
            if later:
                return later[-1] if later[-1].mode == "eval" else None
            loop = loop.parent
        return None

    def _mode_from_events(self, call: F.Call, target: str, models: frozenset[Value],
                          assumptions: dict) -> ModeState | None:
        """The mode set by the events of `call`'s own scope, loops included (an
        event later in a loop body is in force on the next iteration)."""
        events = []
        for event in self.mode_events(call.scope):
            if not self._same_model(event, target, models, call) or not C.consistent(event.call, assumptions):
                continue
            if event.mode == "unknown" and assumptions:
                event = self._resolved(event, assumptions)
            events.append(event)
        if not events:
            return None
        before = [e for e in events if e.call.order < call.order]
        state = _state_before(before, call, assumptions)
        carried = self._carried_by_loop(events, before, call, assumptions)
        if carried is not None and (state is None or state.mode == "eval"):
            return carried
        return state

    def _carried_by_loop(self, events: list[ModeEvent], before: list[ModeEvent], call: F.Call,
                         assumptions: dict) -> ModeState | None:
        """Train mode left by the previous iteration: `model.train()` later in a loop
        body, with nothing that sets the mode between the loop's start and `call`."""
        loop = call.loop
        while loop is not None and loop.scope is call.scope:
            if any(loop.contains(e.call) and C.dominates(e.call, call, assumptions) for e in before):
                return None  # set on every iteration before the call
            later = [e for e in events if loop.contains(e.call) and e.call.order > call.order
                     and _every_iteration(e.call, loop, assumptions)]
            if later:
                last = later[-1]
                return ModeState("train", last, carried=True) if last.mode == "train" else None
            loop = loop.parent
        return None

    def _created_here(self, models: frozenset[Value], scope: F.Scope, call: F.Call) -> bool:
        """Whether the model was constructed in `scope` before `call` (so it starts
        in train mode and nothing else could have switched it)."""
        for value in models:
            origin = value.origin
            fact = self.facts.call_of.get(id(origin)) if origin is not None else None
            if fact is not None and fact.scope is scope and fact.order < call.order:
                return True
        return False

    def fresh_model(self, forward: Forward) -> bool:
        """`net = Net()` or `net = resnet18_cifar()` in the forward's own scope, with
        no trained weights loaded and nothing between that could train it: a model
        that has never been trained."""
        call, models = forward.call, forward.models
        if not models or self.weights_loaded(forward) is not None:
            return False
        created = self._creation_order(forward)
        return created is not None and not self._touched_between(forward.target, call.scope, created, call.order)

    def _creation_order(self, forward: Forward) -> int | None:
        """Where the forward's model is made in the forward's scope, if it is."""
        call, models, scope = forward.call, forward.models, forward.call.scope
        for value in models:
            fact = self.facts.call_of.get(id(value.origin)) if value.origin is not None else None
            if fact is not None and fact.scope is scope and fact.order < call.order:
                return fact.order
        if self._built_here(forward.target, models, scope, call):
            return _last_binding(scope, forward.target, call.order).order  # type: ignore[union-attr]
        return None

    def _touched_between(self, target: str, scope: F.Scope, start: int, end: int) -> bool:
        """Whether code between `start` and `end` may train the model `target`: a
        backward or optimizer step, a call given the model, or a method of it
        other than those that only move or switch it."""
        for call in scope.calls:
            if call.order <= start or call.order >= end:
                continue
            if self.is_training_call(call):
                return True
            if call.receiver is not None and dotted_name(call.receiver) == target \
                    and call.method not in _MOVING_METHODS:
                return True
            if any(dotted_name(arg.value) == target for arg in call.args) and \
                    not (isinstance(call.func, cst.Name) and call.func.value in _LOOKING_BUILTINS):
                return True
        return False

    def is_try_out(self, forward: Forward) -> bool:
        """`net = ResNet18(); net(torch.randn(1, 3, 32, 32))`: a model never trained,
        run on tensors made up on the spot: a shape check, not evaluation or serving."""
        return self.fresh_model(forward) and self.made_up_inputs(forward.call)

    def shape_probe(self, forward: Forward) -> bool:
        """`y = net(torch.ones(1, 3, 64, 64)); print(y.shape)`: a model (trained weights
        or not) run on made-up tensors whose result is only measured (`.shape`,
        `.size()`, `.dim()`, `len()`): its values, so its mode and autograd, matter to no one."""
        call = forward.call
        if not self.made_up_inputs(call):
            return False
        statement = self.facts.statement_of.get(id(call.node))
        if not isinstance(statement, cst.Assign) or statement.value is not call.node or len(statement.targets) != 1:
            return False
        target = statement.targets[0].target
        names = {n.value for n in iter_nodes(target) if isinstance(n, cst.Name)} \
            if isinstance(target, (cst.Name, cst.Tuple, cst.List)) else set()
        if not names or any(len(call.scope.bindings.get(name, [])) != 1 for name in names):
            return False
        measured = {id(n) for n in iter_nodes(call.scope.node) for n in _measured_names(n)}
        written = {id(n) for n in iter_nodes(target)}
        reads = [n for name in names for n in self.model.name_reads(call.scope).get(name, [])
                 if id(n) not in written]
        return bool(reads) and all(id(n) in measured for n in reads)

    def made_up_inputs(self, call: F.Call, depth: int = 0) -> bool:
        """Every argument is a tensor made up on the spot, written in the call
        (`net(torch.randn(2, 3))`) or in the name's last assignment in the same
        scope (`x = torch.zeros(1, 6); net(x)`): also an item of one (`x[t]`),
        one wrapped by a project helper that returns its argument
        (`to_var(torch.LongTensor([1, 2]))`), a fresh model's initial hidden
        state (`enc.init_hidden()`), or what a fresh model returned for made-up
        inputs (`out, hidden = enc(x, hidden); dec(y, hidden, out)`)."""
        if not call.args or depth > MAX_CALL_DEPTH:
            return False
        return all(self._made_up(arg.value, call, depth) for arg in call.args)

    def _made_up(self, node: cst.BaseExpression | None, call: F.Call, depth: int) -> bool:
        for _ in range(8):  # names bound from names: a short chain
            node = _unwrapped(node) if node is not None else None
            if isinstance(node, cst.Subscript):
                node = node.value
            if isinstance(node, cst.Call) and node.args and self._returns_argument(node, call):
                node = node.args[0].value
            if not isinstance(node, cst.Name):
                break
            binding = binding_before(call.scope, node.value, call.order)
            fact = binding.fact if binding is not None and binding.order < call.order else None
            if not isinstance(fact, F.Assign) or fact.kind != "assign":
                return False
            node = fact.value
            if binding.path:  # `out, hidden = enc(x, hidden)`: an item of what a call returned
                return self._fresh_output(node, depth)
        if node is None:
            return False
        if isinstance(node, cst.Call) and (dotted_name(node.func) or "").rsplit(".", 1)[-1] in _INITIAL_STATES:
            return True
        return _synthetic_tensor(node) or self._fresh_output(node, depth)

    def _fresh_output(self, node: cst.BaseExpression | None, depth: int) -> bool:
        """`node` is a call of a never-trained model on made-up inputs."""
        fact = self.facts.call_of.get(id(node)) if node is not None else None
        forward = self._forward(fact, unknown=False) if fact is not None else None
        return forward is not None and self.fresh_model(forward) and self.made_up_inputs(fact, depth + 1)

    def _returns_argument(self, node: cst.Call, call: F.Call) -> bool:
        """`node` calls a project function that returns its first argument, at
        most wrapped or moved (`return Variable(x.cuda())`)."""
        fact = self.facts.call_of.get(id(node))
        helper = self.model.local_function(fact) if fact is not None and _may_call_function(fact) else None
        if helper is None or not helper.fact.params or not helper.fact.returns:
            return False
        first = helper.fact.params[0].name
        for returned in helper.fact.returns:
            value = returned.value
            while isinstance(value, cst.Call):
                inner = _unwrapped(value)
                if inner is value and isinstance(value.func, cst.Attribute) \
                        and value.func.attr.value in _TENSOR_MOVES:
                    inner = value.func.value  # `x.cuda()`, `x.to(device)`
                if inner is value:
                    break  # a call of something else: not the argument
                value = inner
            if not (isinstance(value, cst.Name) and value.value == first):
                return False
        return True

    def _built_here(self, target: str, models: frozenset[Value], scope: F.Scope, call: F.Call) -> bool:
        """`model = build_model(cfg)` / `net = resnet50(classes=21).cuda()` in `scope`
        before `call`: a model made by a factory starts in train mode, unless it
        was unpickled or loaded by `from_pretrained` (those keep or set a mode)."""
        if not models or "." in target:
            return False
        last = _last_binding(scope, target, call.order)
        if last is None or not isinstance(last.value, cst.Call):
            return False
        how = E.loading_call(last.value) or ""
        return not any(name in how for name in ("torch.load", "jit.load", "from_pretrained", "load_model",
                                                 "load_checkpoint"))

    def _mode_left_by_builder(self, models: frozenset[Value]) -> ModeState | None:
        """The mode a model leaves the function that builds it in: `def load(): m =
        Net(); m.eval(); return m` hands out a model in eval mode."""
        for value in models:
            fact = self.facts.call_of.get(id(value.origin)) if value.origin is not None else None
            builder = fact.scope if fact is not None else None
            if not isinstance(builder, F.Function):
                continue
            events = [e for e in self.mode_events(builder) if e.call.order > fact.order
                      and self._same_model(e, "", models)]
            for returned in builder.returns:
                if returned.order > fact.order:
                    state = _state_before([e for e in events if e.call.order < returned.order], returned, {})
                    if state is not None:
                        return state
        return None

    def _mode_left_by_importing(self, models: frozenset[Value]) -> ModeState:
        """A model made at the top level of another module and imported here (`from
        model import model`): importing runs that module's top level, so the mode in
        force is the one it leaves: its last top-level `.train()`/`.eval()` of that
        global, or train mode (the default) when it sets none."""
        modes = set()
        for value in models:
            if value.kind != "module" or value.facts is self.facts or value.origin is None:
                return ModeState("unknown")
            top = value.facts.scope
            names = {dotted_name(t) for a in top.assigns if a.value is not None
                     and any(n is value.origin for n in iter_nodes(a.value)) for t in a.targets}
            names.discard(None)
            if not names:
                return ModeState("unknown")
            events = [c for c in value.facts.calls if c.scope is top and c.method in ("train", "eval")
                      and dotted_name(c.receiver) in names and not _under_main_guard(c)]
            if not events:
                modes.add("default")
                continue
            last = max(events, key=lambda c: c.order)
            off = last.method == "eval" or literal_number(last.positional(0)) == 0
            modes.add("eval" if off else "train")
        if len(modes) != 1:
            return ModeState("unknown")
        return ModeState(modes.pop())

    def _created_in_file(self, models: frozenset[Value]) -> bool:
        return any(v.origin is not None and id(v.origin) in self.facts.call_of for v in models)

    @cached_property
    def file_loads_weights(self) -> bool:
        """Whether any call of this file loads trained weights (`load_state_dict`,
        `torch.load`, `pretrained=True` ...): the cheap test before looking for
        inference code, which infers every forward's model."""
        return any(call.method == "load_state_dict" or E.loading_call(call.node) is not None
                   for call in self.facts.calls)

    def weights_loaded(self, forward: Forward) -> str | None:
        """How the model of `forward` got trained weights before it runs, if the
        code says: `m.load_state_dict(...)`, `m = torch.load(...)`,
        `resnet50(pretrained=True)`, `Net.from_pretrained(...)`."""
        call, target = forward.call, forward.target
        if not target:
            return None
        for value in forward.models:
            how = E.loading_call(value.origin) if value.facts is self.facts else None
            if how is not None:
                return how
        how = self._loaded_into(call, target)
        receiver = dotted_name(call.receiver) if call.receiver is not None else None
        if how is None and receiver and receiver != "self" and target == dotted_name(call.func):
            # `net.encoder(x)`: a part of the model `net`, whose weights its own
            # load_state_dict(...) loads (`net.describe(x)` names `net` as its target already)
            how = self._loaded_into(call, receiver)
        return how

    def _loaded_into(self, call: F.Call, target: str) -> str | None:
        """Where `target` (a dotted name) gets weights before `call`: its
        load_state_dict(...), or an assignment of a loading call."""
        scopes = [call.scope]
        function = call.scope.function
        if function is not None and function.class_ is not None and target.startswith("self."):
            scopes = list(function.class_.methods.values())
        elif function is not None and function.param(target.split(".")[0]) is None:
            scopes.append(self.facts.scope)
        for scope in scopes:
            before = scope is call.scope
            for other in scope.calls:
                if before and other.order >= call.order:
                    break
                if other.method == "load_state_dict" and E.receiver_text(other) == target:
                    return f"`{target}.load_state_dict(...)` at {self.model.where(other.node)}"
            for assign in scope.assigns:
                if before and assign.order >= call.order:
                    break
                if any(dotted_name(t) == target for t in assign.targets):
                    how = E.loading_call(assign.value)
                    if how is not None:
                        return f"{how} at {self.model.where(assign.node)}"
        return None

    # -- autograd ---------------------------------------------------------------

    def _disables_grad(self, with_: F.With) -> bool:
        return any(self._grad_context(item.item, with_.scope, with_.order) for item in with_.items)

    def _grad_context(self, expr: cst.BaseExpression, scope: F.Scope, order: int, depth: int = 0) -> bool:
        """Whether entering `expr` turns autograd off, or may on purpose:
        `torch.no_grad()`, `set_grad_enabled(phase == "train")`, and a choice
        between contexts (`torch.no_grad() if not train else nullcontext()`, also
        through a local name)."""
        if isinstance(expr, cst.IfExp):
            return self._grad_context(expr.body, scope, order, depth) or \
                self._grad_context(expr.orelse, scope, order, depth)
        if isinstance(expr, cst.Name) and depth == 0:
            value = _last_value_before(scope, expr.value, order)
            if value is not None and self._grad_context(value, scope, order, depth + 1):
                return True
        callee = expr.func if isinstance(expr, cst.Call) else expr
        qualified = self.model.names.qualified(callee, scope, order)
        kind = self.model.symbols.function_kind(qualified)
        if kind in ("no_grad", "set_grad_enabled"):
            return True  # set_grad_enabled(phase == "train") manages it on purpose
        return _names_no_grad(callee)

    def _no_grad_decorator(self, callee: cst.BaseExpression, function: F.Function,
                           facts: F.FileFacts | None = None, path: Path | None = None) -> bool:
        """A project decorator that runs the function it wraps under no_grad:
        `def nograd(f): def run(*a): with torch.no_grad(): return f(*a)`."""
        facts = facts or self.facts
        definition = self.model.resolver.definition(callee, function.parent or facts.scope, function.order,
                                                    facts, path if facts is not self.facts else self.model.path)
        if definition is None or not isinstance(definition.fact, F.Function):
            return False
        wrapper = definition.fact
        if not wrapper.params:
            return False
        wrapped = wrapper.params[0].name
        for call in definition.facts.calls:  # `f(*args)` of the wrapped function, inside no_grad
            if not (wrapper.contains(call) and isinstance(call.func, cst.Name) and call.func.value == wrapped):
                continue
            with_ = call.with_
            while with_ is not None:
                if any(_names_no_grad(item.item) for item in with_.items):
                    return True
                with_ = with_.parent
        return False

    def method_without_grad(self, forward: Forward, phase: Phase | None = None) -> bool:
        """`net.predict(x)` where the model's own `predict` is decorated to run
        without autograd (`@torch.no_grad()`, or a project decorator that does), or
        runs its layers only under `with torch.no_grad()` for the arguments this call
        gives (`net.step(loader, phase)` with `if phase == "train": ... else: with
        torch.no_grad(): ...`), or a library model's method known to (transformers'
        `generate`). A call of the model itself runs its `forward`, which may be
        decorated so too (an inference wrapper whose forward is
        `@torch.inference_mode()`), or run its layers under no_grad in the arm the
        call's literal arguments select."""
        name = forward.call.method
        if name != "forward" and dotted_name(forward.call.func) == forward.target \
                and not any(v.module is not None and v.module.method(name or "") for v in forward.models):
            # `model(x)`, `self.net(x)`: runs forward, of every class the model may be
            if not forward.models or any(value.module is None for value in forward.models):
                return False
            return all(self._decorated_without_grad(value.module.method("forward"))
                       or self._runs_without_grad_for(value.module, forward.call)
                       for value in forward.models)
        if not name or name == "forward":
            return False
        found = _own_methods(forward.models, name)
        if not found:
            # A library model's method: `model.generate(...)` of transformers runs under no_grad.
            return name in self.model.symbols.grad_free_library_methods and self._from_grad_free_library(forward)
        if any(self._decorated_without_grad(each) for each in found):
            return True
        return all(self._layers_run_without_grad(method, owner, forward.call, phase) for method, owner in found)

    def method_trains(self, forward: Forward) -> bool:
        """`kge.train_step(kge, optimizer, batches)`: the model's own method (in
        whichever file defines it) runs backward or an optimizer step: a training
        step that resumes from loaded weights, not inference."""
        name = forward.call.method
        if not name or name == "forward":
            return False
        return any(self._phases_of_file(owner.facts, owner.path).trains(method, method)
                   for method, owner in _own_methods(forward.models, name))

    def _runs_without_grad_for(self, module: ModuleClass, call: F.Call) -> bool:
        """The model's forward, in the arm the call's literal arguments select
        (`model(data, mode="inference")` with `elif mode == "inference": with
        torch.no_grad(): ...`), runs every layer it runs inside `no_grad`."""
        found = module.method("forward")
        if found is None:
            return False
        forward, owner = found
        if len(forward.params) < 2 or not self.model.first_param_is_receiver(forward):
            return False
        assumptions = {}
        for param in forward.params[1:]:
            value = C.literal(F.bound_argument(call.node, param))  # type: ignore[arg-type]
            if isinstance(value, (bool, int, float, str)) or value is None and param.default is not None:
                assumptions[param.name] = value
        if not assumptions:
            return False
        receiver = forward.params[0].name
        ran = False
        home = self._phases_of_file(owner.facts, owner.path)
        for inner in forward.calls:
            head, _, attr = (dotted_name(inner.func) or "").partition(".")
            if head != receiver or not attr or not C.consistent(inner, assumptions):
                continue
            name = attr.split(".")[0]
            if owner.layer(name) is None and attr != "forward" and not _runs_layers(owner, name):
                continue  # `self.preprocess(data)`: no layer runs
            if not home.in_no_grad_block(inner):
                return False
            ran = True
        return ran

    def _decorated_without_grad(self, found: tuple[F.Function, ModuleClass] | None) -> bool:
        """A model's method decorated to run without autograd: `@torch.no_grad()`,
        `@torch.inference_mode()`, or a project decorator that does."""
        if found is None:
            return False
        method, owner = found
        for decorator in method.decorators:
            callee = decorator.func if isinstance(decorator, cst.Call) else decorator
            if _names_no_grad(callee) or self._no_grad_decorator(callee, method, owner.facts, owner.path):
                return True
        return False

    def _layers_run_without_grad(self, method: F.Function, owner, site: F.Call, phase: Phase | None) -> bool:
        """Every call in `method` that runs the model's layers (`self(x)`, `self.forward(x)`,
        `self.<layer>(x)`) is skipped for the arguments `site` passes, or is under a
        `with` that turns autograd off."""
        caller = phase.assumptions if phase is not None and site.scope is phase.scope else {}
        assumptions = self.callee_assumptions(method, site, caller)
        owner_phases = self._phases_of_file(owner.facts, owner.path)
        runs_layers = False
        for call in _layer_calls(method, owner):
            runs_layers = True
            if C.consistent(call, assumptions) and not owner_phases.in_no_grad_block(call):
                return False
        for call, callee, callee_owner in _delegations(method, owner):
            # `evaluate()` handing the batches to `self.predict(batch)`, which runs the layers
            runs_layers = True
            if C.consistent(call, assumptions) and not owner_phases.in_no_grad_block(call) \
                    and not self._delegate_without_grad(callee, callee_owner, 1):
                return False
        return runs_layers

    def _delegate_without_grad(self, method: F.Function, owner, depth: int) -> bool:
        """Every layer `method` of the model runs, itself or through its own methods it
        calls, runs under a `with` that turns autograd off (or a no_grad decorator)."""
        if depth > 2:
            return False
        if self._decorated_without_grad((method, owner)):
            return True
        owner_phases = self._phases_of_file(owner.facts, owner.path)
        if any(not owner_phases.in_no_grad_block(call) for call in _layer_calls(method, owner)):
            return False
        return all(owner_phases.in_no_grad_block(call) or self._delegate_without_grad(callee, callee_owner, depth + 1)
                   for call, callee, callee_owner in _delegations(method, owner))

    def _mode_set_by_method(self, call: F.Call, models: frozenset[Value]) -> ModeState | None:
        """`runner.evaluate_split(batches)`: a method of the model that switches itself
        (or a part: `self.model.eval()`) to eval mode before it runs any layer; the
        mode its layers run in is the method's own."""
        name = call.method
        if not name or name == "forward":
            return None
        for method, owner in _own_methods(models, name):
            first = next(_layer_calls(method, owner), None)
            if first is None:
                continue
            self_name = method.params[0].name
            events = [e for e in self._phases_of_file(owner.facts, owner.path).mode_events(method)
                      if e.call.order < first.order and e.call.scope is method
                      and (e.target == self_name or e.target.startswith(self_name + "."))]
            if events and events[-1].mode == "eval":
                return ModeState("eval", events[-1])
        return None

    def _phases_of_file(self, facts: F.FileFacts, path) -> Phases:
        """The phases of another file of the project (this one's for this file)."""
        return self if facts is self.facts else self.model.model_for(facts, path).phases

    def _from_grad_free_library(self, forward: Forward) -> bool:
        """The forward's model is made by transformers (`AutoModel.from_pretrained(...)`,
        also through `.to(device)`) or wrapped by peft (`get_peft_model(model, config)`,
        `PeftModel.from_pretrained(...)`): its `generate` is that library's."""
        receiver = forward.call.receiver
        if not isinstance(receiver, cst.Name):
            return False
        found = lookup(forward.call.scope, receiver.value, forward.call.order)
        fact = found[1].fact if found is not None else None
        if not isinstance(fact, F.Assign) or fact.kind != "assign":
            return False
        node = _chain_root(fact.value)  # `.to(device)`, `.eval()` chains
        if not isinstance(node, cst.Call):
            return False
        qualified = self.model.names.qualified(node.func, fact.scope, fact.order) or ""
        return qualified.split(".", 1)[0] in self.model.symbols.grad_free_method_libraries

    def in_no_grad_block(self, fact: F.Located) -> bool:
        """Whether a `with torch.no_grad()` (or inference_mode, set_grad_enabled) surrounds `fact`."""
        with_ = fact.with_
        while with_ is not None:
            if self._disables_grad(with_):
                return True
            with_ = with_.parent
        return False

    def grad_disabled_at(self, call: F.Call, depth: int = 0, phase: Phase | None = None,
                         via: tuple[F.Call, ...] = ()) -> bool:
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
                        _names_no_grad(callee) or \
                        self._no_grad_decorator(callee, function):
                    return True
            parent = function.parent
            function = parent.function if parent is not None else None
        assumptions = phase.assumptions if phase is not None and scope is phase.scope else {}
        for earlier in scope.calls:
            if earlier.order >= call.order:
                break
            kind = self.model.function_kind(earlier)
            if kind == "set_grad_enabled" and C.consistent(earlier, assumptions):
                flag = earlier.positional(0)
                if literal_number(flag) == 0 or assumptions and C.evaluate(flag, assumptions) is False:
                    return True
        function = scope if isinstance(scope, F.Function) else None
        if function is None or depth >= MAX_CALL_DEPTH:
            return False
        if via:
            return self.grad_disabled_at(via[-1], depth + 1, phase, via[:-1])
        sites = [phase.site] if phase is not None and phase.site is not None and scope is phase.scope \
            else self.model.project_call_sites(function)
        return any(self._phases_of(site).grad_disabled_at(site, depth + 1) for site in sites)

    def _phases_of(self, site: F.Call) -> Phases:
        """The phases of the file a call site is in: callers may be in other files."""
        return self._phases_of_file(*self.model.home_of(site))


class _EvalPhaseFinder:
    """Collects the evaluation phases of one scope after another; each forward
    pass belongs to the first (outermost, strongest) phase that claims it."""

    def __init__(self, phases: Phases) -> None:
        self.p = phases
        self.model = phases.model
        self.phases: list[Phase] = []
        self.claimed: set[tuple[int, int]] = set()

    def add(self, block: F.Block, scope: F.Scope, reason: str, forwards: list[Forward],
            assumptions: dict | None = None) -> None:
        fresh = [f for f in forwards if _claim_key(f) not in self.claimed]
        if not fresh:
            return
        self.claimed.update(_claim_key(f) for f in fresh)
        self.phases.append(Phase("eval", block, scope, reason, fresh, assumptions=assumptions or {}))

    def finish(self) -> list[Phase]:
        """The phases, each forward pass kept in the phase of the function it is
        written in when it has one (an `evaluate()` called from a branch of the
        training loop is reported in `evaluate()`)."""
        direct = {id(f.call) for phase in self.phases for f in phase.forwards if not f.via}
        kept = []
        for phase in self.phases:
            phase.forwards = [f for f in phase.forwards if not f.via or id(f.call) not in direct]
            if phase.forwards:
                kept.append(phase)
        return kept

    def scan(self, scope: F.Scope) -> None:
        p = self.p
        function = scope if isinstance(scope, F.Function) else None
        found = p._function_reason(function) if function is not None else None
        if found is not None and p.feeds_training(function):
            found = None  # `predict_scores()` whose result training backpropagates
        function_reason, strong = found if found is not None else (None, False)
        # Weak reasons are not read inside model classes (a submodule built with
        # pretrained weights runs in the model's forward) or in training-step helpers.
        in_model_class = function is not None and self.model.enclosing_module(function) is not None
        weak_allowed = function is None or not in_model_class and not p.is_training_step_helper(function)
        for loop in scope.loops:
            if self._phase_loop(loop, scope):
                continue
            reason = p.eval_reason_of_loop(loop)
            if reason is None and function_reason is not None and (strong or weak_allowed) \
                    and not (in_model_class and self._called(function)):
                # A model's own `inference()` loop that the project calls runs its layers:
                # whether autograd is on is up to that caller, where it is judged.
                reason = function_reason
            if reason is None and weak_allowed:
                reason = p._no_grad_reason(loop)
            if reason is None or p.trains(loop, scope):
                continue
            # A loop stepping a never-trained model through made-up tensors (a decoder
            # fed its own outputs in a shape check) is a try-out too.
            self.add(loop, scope, reason, [f for f in p.forwards_in(loop, scope, unknown=True)
                                           if not p.is_try_out(f)])
        trains = p.trains(scope, scope)
        if function_reason is not None and not trains and (strong or weak_allowed) and not in_model_class:
            forwards = [f for f in p.forwards_in(scope, scope, unknown=True) if not self._shape_check(f)]
            self.add(scope, scope, function_reason, forwards)
        if not trains:
            if weak_allowed:
                self._inference(scope)
                self._after_eval(scope)
            elif in_model_class:
                # A learner written as an nn.Module (`def validation(self, loader): model.eval();
                # for x, y in loader: model(x)`): its loops over batches evaluate, unlike a
                # model's own layers run after switching a submodule to eval mode.
                self._after_eval(scope, batch_loops_only=True)
            return
        self._eval_branches(scope)
        self._after_eval(scope)

    def _called(self, function: F.Function | None) -> bool:
        return function is not None and bool(self.model.project_call_sites(function))

    def _phase_loop(self, loop: F.Loop, scope: F.Scope) -> bool:
        """`for phase in ["train", "val"]:` with `if phase == "train": ... backward()`:
        the evaluation passes of the body run under `phase == "val"`."""
        passes = self.p.phase_loop_passes(loop)
        if passes is None:
            return False
        name, values = passes
        eval_words = self.model.symbols.eval_loader_words
        for value in values:
            if not words(value) & eval_words:
                continue
            assumptions = {name: value}
            if self.p._trains_under(loop, scope, assumptions):
                continue
            forwards = [f for f in self.p.forwards_in(loop, scope, unknown=True)
                        if C.consistent(f.site, assumptions)]
            self.add(loop, scope, f"the {value!r} pass of `for {name} in ...`", forwards, assumptions)
        return True

    def _shape_check(self, forward: Forward) -> bool:
        """`net = Net(); net(torch.randn(2, 3))`: a model built right here with no
        trained weights is being tried out, not evaluated."""
        return self.p.fresh_model(forward)

    def _inference(self, scope: F.Scope) -> None:
        """Code that never trains and runs a model given trained weights: an
        inference or test script, a `__main__` demo of a pretrained model."""
        if not self.p.file_loads_weights:
            return  # weights_loaded looks only in this file: nothing here loads any
        for forward in self.p.forwards_in(scope, scope, unknown=True):
            how = self.p.weights_loaded(forward)
            if how is not None and not self.p.method_trains(forward) and not self.p.shape_probe(forward):
                self.add(scope, scope, f"inference with weights from {how}", [forward])

    def _eval_branches(self, scope: F.Scope) -> None:
        """An `if` arm inside training code that evaluates: it draws a batch from
        a validation/test loader (`next(iter(test_loader))`), or its test names
        evaluation (`if step % eval_every == 0:`), and does not train itself."""
        p = self.p
        eval_words = self.model.symbols.eval_loader_words
        seen: set[int] = set()
        for call in scope.calls:
            branch = call.branch
            while branch is not None:
                if id(branch) not in seen:
                    seen.add(id(branch))
                    reason = self._branch_reason(branch, scope, eval_words)
                    if reason is not None and not p.trains(branch, scope):
                        self.add(branch, scope, reason, p.forwards_in(branch, scope, unknown=True))
                branch = branch.parent

    def _branch_reason(self, branch: F.Branch, scope: F.Scope, eval_words: frozenset[str]) -> str | None:
        code = self.model.facts.module.code_for_node
        if branch.arm == "body" and branch.test is not None and \
                not (isinstance(branch.test, cst.UnaryOperation) and isinstance(branch.test.operator, cst.Not)) \
                and E.data_words(code(branch.test), eval_words):
            return f"branch `if {' '.join(code(branch.test).split())[:40]}`"
        for call in self.p.calls_in(branch, scope):
            fetch = call.method in ("next", "__next__") or \
                isinstance(call.func, cst.Name) and call.func.value in ("next", "iter", "enumerate")
            if fetch and E.data_words(code(call.node), eval_words):
                return f"batch drawn by {' '.join(code(call.node).split())[:40]}"
        return None

    def _after_eval(self, scope: F.Scope, batch_loops_only: bool = False) -> None:
        """Forwards run after switching the model to eval mode, with no backward
        pass after them in the same iteration (or the rest of the function): an
        evaluation written inline in a training function, or code that only
        predicts (`net.eval()` then a loop over unnamed batches). With
        `batch_loops_only`, only forwards inside a loop over batches of data."""
        p = self.p
        if not any(e.mode == "eval" and e.call.scope is scope for e in p.mode_events(scope)):
            return  # no switch to eval mode here: the forwards need not be inferred
        groups: dict[int, tuple[ModeEvent, list[Forward]]] = {}
        for forward in p.forwards_in(scope, scope, unknown=True):
            if _claim_key(forward) in self.claimed or forward.via:
                continue
            if batch_loops_only and not self._in_batch_loop(forward.call, scope):
                continue
            state = p.mode_at(forward.call, forward.target, forward.models)
            event = state.event
            if state.mode != "eval" or event is None or event.call.scope is not scope:
                continue
            if p.is_try_out(forward):
                continue  # `net = Net(); net.eval(); net(torch.randn(1, 6))`: trying the model out
            groups.setdefault(id(event.call), (event, []))[1].append(forward)
        for event, forwards in groups.values():
            reason = f"after `{event.target}.eval()` at {self.model.where(event.call.node)}"
            # One phase from the switch to the end of the function when nothing
            # there trains, else one per loop (or the rest of the function).
            whole = F.Block(node=event.call.node, order=event.call.order, end_order=scope.end_order)
            if not p.trains(whole, scope):
                self.add(whole, scope, reason, forwards)
                continue
            for forward in forwards:
                loop = forward.call.loop
                if loop is not None and loop.scope is scope:
                    rest = F.Block(node=loop.node, order=loop.order, end_order=loop.end_order)
                else:
                    rest = F.Block(node=forward.call.node, order=event.call.order, end_order=scope.end_order)
                if not p.trains(rest, scope):
                    self.add(rest, scope, reason, [forward])


    def _in_batch_loop(self, call: F.Call, scope: F.Scope) -> bool:
        """`call` runs inside a loop of `scope` over batches of a data loader: what the
        loop iterates (under enumerate/tqdm) is named for data (`loader`, `dataset`,
        `batches`), as a model's own loops over time steps or layers are not."""
        loop = call.loop
        while loop is not None:
            if loop.scope is scope and loop.kind == "for":
                node = self.model.data.iterated(loop)
                if node is not None and words(self.model.code(node)) & _BATCH_SOURCE_WORDS:
                    return True
            loop = loop.parent
        return False


# Words naming what an evaluation loop draws batches from.
_BATCH_SOURCE_WORDS = frozenset({"loader", "loaders", "dataloader", "dataset", "dl", "batches", "iterator"})


def _runs_layers(module, name: str, depth: int = 0) -> bool:
    """Whether method `name` of a project model runs its layers (`encode()` calling
    `self.enc(...)`), unlike helpers such as `init_hidden()`."""
    found = module.method(name)
    if found is None or depth > 2:
        return False
    method, owner = found
    if next(_layer_calls(method, owner), None) is not None:
        return True
    # `self.encode(x)` of another method that does
    return any(attr and "." not in attr and attr != name and _runs_layers(owner, attr, depth + 1)
               for attr in _self_attributes_called(method))


def _delegations(method: F.Function, owner) -> Iterator[tuple[F.Call, F.Function, object]]:
    """The calls in a model's `method` of the model's own methods that run its layers
    (`self.predict(batch)` in `evaluate()`), with the method called and its class."""
    for call, attr in zip(method.calls, _self_attributes_called(method)):
        if not attr or "." in attr or attr == "forward" or attr == method.name:
            continue
        found = owner.method(attr)
        if found is not None and _runs_layers(owner, attr):
            yield call, found[0], found[1]


def _layer_calls(method: F.Function, owner) -> Iterator[F.Call]:
    """The calls in a model's `method` that run its layers, in order: `self(x)`,
    `self.forward(x)`, `self.enc(x)`, `self.enc.forward(x)`, `self.backbone.features(x)`;
    not `self.model.eval()`."""
    for call, attr in zip(method.calls, _self_attributes_called(method)):
        if attr is None:
            continue
        if not attr or attr == "forward":
            yield call
            continue
        layer, _, method_of_layer = attr.partition(".")
        if owner.layer(layer) is not None and method_of_layer.rpartition(".")[2] not in _NOT_RUNNING:
            yield call


def _self_attributes_called(method: F.Function) -> list[str | None]:
    """Per call of `method`, in order: what it calls on the method's receiver (`""` for
    `self(x)`, `"enc.forward"` for `self.enc.forward(x)`), None for other calls."""
    if not method.params:
        return [None] * len(method.calls)
    self_name = method.params[0].name
    found: list[str | None] = []
    for call in method.calls:
        head, _, attr = (dotted_name(call.func) or "").partition(".")
        found.append(attr if head == self_name else None)
    return found


def _own_methods(models: frozenset[Value], name: str) -> list[tuple[F.Function, ModuleClass]]:
    """Method `name` of each project model class among `models` (with its owner class)."""
    found = (value.module.method(name) for value in models if value.module is not None)
    return [each for each in found if each is not None]


# Methods that move, cast or switch a model without training it.
_MOVING_METHODS = frozenset({"eval", "train", "to", "cuda", "cpu", "float", "double", "half", "bfloat16",
                             "requires_grad_", "share_memory", "apply", "init_hidden", "initHidden",
                             "init_weights", "reset_parameters", "parameters", "named_parameters"})
# Methods of a layer that do not run it (`self.conv.reset_parameters()` in a model's
# own reset_parameters is no forward pass).
_NOT_RUNNING = _MOVING_METHODS | E.MODEL_METHODS | frozenset({
    "flatten_parameters", "reset_running_stats", "register_buffer", "register_parameter", "add_module",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook", "extra_repr",
    "named_buffers", "buffers"})
# Builtins that only look at what they are given (`print(net)`).
_LOOKING_BUILTINS = frozenset({"print", "len", "repr", "str", "type", "isinstance", "id", "hasattr", "getattr",
                               "vars", "dir"})
_TYPED_TENSORS = frozenset({"Tensor", "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ByteTensor",
                            "BoolTensor", "HalfTensor"})
_RANDOM_FACTORIES = ("randn", "rand", "randint", "zeros", "ones", "empty", "full", "tensor", "arange",
                     "randn_like", "rand_like", "zeros_like", "ones_like", "linspace")


def _names_no_grad(node: cst.BaseExpression) -> bool:
    """`torch.no_grad()`, `torch.inference_mode`, a project's `autocast_no_grad()`: a
    context or decorator named for turning autograd off."""
    callee = node.func if isinstance(node, cst.Call) else node
    return (dotted_name(callee) or "").endswith(("no_grad", "inference_mode"))


def _chain_root(node: cst.BaseExpression) -> cst.BaseExpression:
    """The call a chain of method calls starts from: `torch.zeros(1, 6)` of
    `torch.zeros(1, 6).unsqueeze(0).to(device)`."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and isinstance(node.func.value, cst.Call):
        node = node.func.value
    return node


def _unwrapped(node: cst.BaseExpression) -> cst.BaseExpression:
    """`Variable(x)`, the pre-0.4 wrapper, is the same tensor `x`."""
    if isinstance(node, cst.Call) and node.args and \
            (dotted_name(node.func) or "").rsplit(".", 1)[-1] == "Variable":
        return node.args[0].value
    return node


# Tensor methods that move or cast a tensor and keep its values.
_TENSOR_MOVES = frozenset({"cuda", "cpu", "to", "float", "double", "half", "long", "int", "contiguous"})
# Methods that make a recurrent model's initial (zero) hidden state.
_INITIAL_STATES = frozenset({"init_hidden", "initHidden", "init_hidden_state", "begin_state", "init_state"})


# What looking at a tensor's size reads of it: `y.shape`, `y.size(1)`, `len(y)`.
_SIZE_ATTRIBUTES = frozenset({"shape"})
_SIZE_METHODS = frozenset({"size", "dim", "numel"})


def _measured_names(node: cst.CSTNode) -> list[cst.Name]:
    """The names whose size `node` reads: `y` of `y.shape`, `y.size()`, `len(y)`."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.attr.value in _SIZE_ATTRIBUTES:
        return [node.value]
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value in _SIZE_METHODS:
            return [func.value]
        if isinstance(func, cst.Name) and func.value == "len" and len(node.args) == 1 \
                and isinstance(node.args[0].value, cst.Name):
            return [node.args[0].value]
    return []


def _synthetic_tensor(node: cst.BaseExpression) -> bool:
    """`torch.randn(2, 3)`, `torch.zeros(1, 6).unsqueeze(0)`, `torch.tensor([[0.5, 1.0]])`:
    a tensor made up on the spot (`torch.tensor(X_test)` holds data, not a made-up tensor)."""
    while isinstance(node, cst.Call) and _chain_root(_unwrapped(node)) is not node:
        node = _chain_root(_unwrapped(node))  # `.unsqueeze(0)`, `.to(device)`, `Variable(...)`
    if not isinstance(node, cst.Call):
        return False
    name = dotted_name(node.func) or ""
    factory = name.rsplit(".", 1)[-1]
    if not name.startswith("torch.") or factory not in _RANDOM_FACTORIES and factory not in _TYPED_TENSORS:
        return False
    if factory in _TYPED_TENSORS:  # `torch.LongTensor([1, 2, 3])`, `torch.FloatTensor(2, 3)`: not of data
        return bool(node.args) and all(isinstance(a.value, (cst.List, cst.Tuple, cst.Integer)) for a in node.args)
    return factory != "tensor" or bool(node.args) and isinstance(node.args[0].value, (cst.List, cst.Tuple))


def _last_binding(scope: F.Scope, name: str, order: int) -> F.Assign | None:
    """The plain `name = value` that binds `name` at `order` in `scope`: None when
    the last binding before it is something else (a loop variable rebinding the
    name, a parameter, an import) or there is none."""
    binding = binding_before(scope, name, order)
    if binding is None or binding.order >= order or binding.path:
        return None
    fact = binding.fact
    return fact if isinstance(fact, F.Assign) and fact.kind == "assign" else None


def _last_value_before(scope: F.Scope, name: str, order: int) -> cst.BaseExpression | None:
    """The value of `name` at `order` when its last binding in `scope` is a plain
    `name = value` (not a loop variable that rebinds it after)."""
    found = _last_binding(scope, name, order)
    return found.value if found is not None else None


def _claim_key(forward: Forward) -> tuple[int, int]:
    return id(forward.site), id(forward.call)


def _modules(values: frozenset[Value]) -> frozenset[Value]:
    return frozenset(v for v in values if v.kind == "module")


def _target_at_site(target: str, function: F.Function, site: F.Call, bound: bool) -> str | None:
    """What `target` (as written in `function`) is called at `site`; `bound`: the
    site passes its receiver for the first parameter (`SemanticModel.passes_receiver`)."""
    head, _, rest = target.partition(".")
    param = function.param(head)
    if param is None:
        return target  # a global or an attribute of a global: the same name
    if bound and param.index == 0:
        receiver = dotted_name(site.receiver) if site.receiver is not None else None
        return (f"{receiver}.{rest}" if rest else receiver) if receiver else None
    argument = site.argument(param.index - (1 if bound else 0), param.name)
    text = dotted_name(argument)
    if text is None:
        return None
    return f"{text}.{rest}" if rest else text


def _aliased(event: ModeEvent, target: str, call: F.Call) -> bool:
    """`model = ctx.model; model.train()` then `ctx.model` used at `call`, in one
    scope: the two names reach one object through a plain alias whose root is
    not rebound between."""
    scope = call.scope
    if not target or not event.target or event.call.scope is not scope:
        return False
    name, root = through_aliases(scope, event.target, event.call.order)
    other, other_root = through_aliases(scope, target, call.order)
    return name == other and root is other_root and (name, other) != (event.target, target)


def _state_before(before: list[ModeEvent], call: F.Call, assumptions: dict) -> ModeState | None:
    """The mode the events before `call` leave: the last one that always runs
    decides, later conditional ones may switch to eval (or an unknown mode)."""
    if not before:
        return None
    unconditional = [e for e in before if C.dominates(e.call, call, assumptions)]
    start = unconditional[-1].call.order if unconditional else -1
    considered = [e for e in before if e.call.order >= start]
    for event in reversed(considered):
        if event.mode in ("eval", "unknown"):
            return ModeState("unknown" if event.mode == "unknown" else "eval", event)
    if unconditional:
        return ModeState("train", unconditional[-1])
    return ModeState("unknown")


def _every_iteration(fact: F.Located, loop: F.Loop, assumptions: dict) -> bool:
    """Whether `fact` runs on every iteration of `loop` (no arm inside the loop skips it)."""
    branch = fact.branch
    while branch is not None and loop.contains(branch):
        if not C.implied(branch, assumptions):
            return False
        branch = branch.parent
    return True


def _may_call_function(call: F.Call) -> bool:
    """`helper(model)` or `self.helper()`: calls that may run a project function.
    `obj.method()` on other receivers is not followed (it would need inference)."""
    func = call.func  # exact types: asked of every call, and libcst's isinstance is slow
    if type(func) is cst.Name:
        return True
    return type(func) is cst.Attribute and type(func.value) is cst.Name \
        and func.value.value == "self"


def _may_call_model(call: F.Call) -> bool:
    """`model(x)`, `self.model(x)`, `self.net.encoder(x)`, `model.forward(x)`,
    `ddp.module(x)`: the shapes a forward pass is written in. Other method calls
    (`x.view()`, `loss.backward()`) are not inferred, which keeps this cheap."""
    func = call.func  # exact types: asked of every call, and libcst's isinstance is slow
    if type(func) is cst.Name:
        return True
    if type(func) is cst.Attribute:
        if call.method in ("forward", "module"):
            return True
        head = func
        while type(head) is cst.Attribute:
            head = head.value
        return type(head) is cst.Name and head.value == "self"
    return type(func) is cst.Subscript  # self.heads[name](x)


def iter_calls(scopes: Iterable[F.Scope]) -> Iterable[F.Call]:
    for scope in scopes:
        yield from scope.calls


def _under_main_guard(call: F.Call) -> bool:
    """Inside `if __name__ == "__main__":`, which importing the module does not run."""
    branch = call.branch
    while branch is not None:
        if branch.arm == "body" and branch.test is not None and "__name__" in \
                {dotted_name(n) for n in iter_nodes(branch.test)}:
            return True
        branch = branch.parent
    return False
