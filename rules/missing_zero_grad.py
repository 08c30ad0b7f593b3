from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.walker import dotted_name

MAX_DEPTH = 3


class MissingZeroGrad(Rule):
    """## What it does
    Finds training loops that call `optimizer.step()` on every iteration but
    never clear the gradients (`optimizer.zero_grad()`, `model.zero_grad()`
    or that of a module holding the model, or setting `p.grad = None`) inside
    the loop or in a helper it calls. A clear in the other arm of an `if` than
    the step (`if amp: opt.zero_grad() ... else: opt.step()`) does not count.

    ## Why is this bad?
    `backward()` adds into `.grad`; it does not overwrite it. Without
    `zero_grad()` each step applies the sum of all gradients so far: the
    effective learning rate grows every step, the loss oscillates or
    explodes, and the model may still "train" just badly enough to hide it.

    ## Example
    ```python
    optimizer.zero_grad()
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    There is no automatic fix. Gradient accumulation (`zero_grad()` under the
    same `if (i + 1) % k == 0:` as `step()`) is recognized and not reported.
    """

    code = "TL503"
    name = "missing-zero-grad"
    severity = Severity.ERROR
    summary = "A training loop steps the optimizer without clearing gradients."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for i in range(100):
    loss = model(torch.randn(8, 4)).pow(2).mean() / 4
    loss.backward()
    if (i + 1) % 4 == 0:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
optimizer.zero_grad()
for i in range(100):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()  # expect: TL503
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        phases = model.phases
        for call in model.facts.calls:
            optimizer = _stepped_optimizer(model, call)
            if optimizer is None:
                continue
            function = call.scope.function
            if function is not None and model.is_framework_managed(function):
                continue
            loop = call.loop
            if loop is None:
                if not _clears(model, call.scope, call.scope, 0) and _called_in_loops_without_clear(model, call.scope):
                    self._report(ctx, model, call, optimizer)
                continue
            if not _backpropagates(model, loop, call.scope, 0) or _optimizer_built_in(model, optimizer, call, loop):
                continue  # looping over optimizers in a hook, or a fresh optimizer per iteration
            if not _clears(model, loop, call.scope, 0, _owners(model, optimizer, call), step=call):
                self._report(ctx, model, call, optimizer)

    def _report(self, ctx, model, call, optimizer_node) -> None:
        optimizer = dotted_name(optimizer_node) or "optimizer"
        ctx.report(
            call.node,
            title=f"{titles.code(f'{optimizer}.step()', 30)} without `zero_grad()`: gradients pile up "
                  f"across steps",
            message=f"`{optimizer}.step()` runs on every iteration but no `zero_grad()` clears the "
            f"gradients in this loop: `backward()` adds into `.grad`, so each step applies the sum of "
            f"all gradients so far and training diverges. Call `{optimizer}.zero_grad()` at the start "
            f"of each iteration (or right after `step()`).",
            context={"optimizer": optimizer, **_optimized_model(model, call, optimizer_node),
                     **_optimizer_construction(model, call, optimizer_node)},
        )

    @staticmethod
    def experiment(lab):
        """Two backward passes of the same batch without zero_grad, then the script's
        optimizer's ``step()`` as the loop runs it: ``.grad`` is then twice one pass's
        gradient, and the step neither clears nor uses less than it.

        What is the user's and what is not. The model is the script's (or a stand-in,
        said so, when no model reaches the loop). The optimizer is the script's own
        construction (``context["optimizer_call"]``, evaluated with the model bound to
        the name whose ``.parameters()`` it takes); when it cannot be built, no step is
        run and that is a stand-in: an optimizer class of the script could clear
        ``.grad`` in its ``step``. The loss is the mean square of the model's output:
        recorded as an assumption, not a stand-in, because accumulation in ``.grad`` is
        linear in backward and the same for every loss whose gradient reaches the
        parameters (the form of the loss scales the gradient, never the 2x); a model
        whose output does not reach trainable parameters is refuted."""
        torch = lab.torch

        def backward():
            lab.output_tensor(lab.forward(model, inputs)).float().pow(2).mean().backward()

        def gradients():
            return torch.cat([p.grad.flatten().double() if p.grad is not None else
                              torch.zeros(p.numel(), dtype=torch.float64) for p in params])

        def script_optimizer():
            """The script's optimizer over this model: its construction as written, else its
            class over the model's parameters with the class's defaults (arguments such as
            ``lr=lr`` name what exists only at run time; they scale the step, they do not
            decide whether it clears ``.grad``); None when neither builds (recorded)."""
            source = lab.context.get("optimizer_call")
            holder = lab.context.get("optimizer_params")
            if not source or not holder:
                return None, None
            root, *path = holder.split(".")
            value = model
            for name in reversed(path):  # self.net -> an object whose .net is the model
                value = type("Holder", (), {name: value})()
            failures = []
            attempts = [source]
            if lab.context.get("optimizer_class"):
                attempts.append(f"{lab.context['optimizer_class']}({holder}.parameters())")
            for attempt in attempts:
                try:
                    return lab.evaluate(attempt, names={root: value}), attempt
                except Exception as err:  # noqa: BLE001 - any failure means: not built this way
                    failures.append(f"{attempt}: {type(err).__name__}: {err}"[:200])
            lab.assume("optimizer_failed", "; ".join(failures))
            return None, None

        model, inputs = lab.model_and_inputs(stand_in="nn.Linear(8, 4)")
        model.eval()  # the same gradient on every pass (no dropout draws, fixed BatchNorm statistics)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return lab.refuted("the model has no trainable parameters: nothing accumulates in .grad",
                               trainable_parameters=0)
        lab.assume("loss", "the mean square of the model's output (accumulation in .grad does not "
                   "depend on the loss's form)")
        optimizer, built_as = script_optimizer()
        if optimizer is None:
            lab.stand_in("optimizer", "no step() was run: the script's optimizer construction is not "
                         "known or failed here")
        elif built_as == lab.context["optimizer_call"]:
            lab.assume("optimizer", built_as)
        else:
            lab.assume("optimizer", f"{built_as}: the script's class with its defaults "
                       f"({lab.context['optimizer_call']} names values known only at run time)")
        model.zero_grad(set_to_none=True)
        backward()
        one = gradients()
        backward()
        two = gradients()
        stepped = ""
        if optimizer is not None:
            optimizer.step()  # as the loop: the step after the passes; its gradients stay
            two = gradients()
            stepped = f" and {type(optimizer).__name__}.step()"
        model.zero_grad()
        backward()
        cleared = gradients()
        one_norm = float(one.norm())
        if one_norm == 0:
            return lab.refuted("the gradient of one pass is 0: the output does not reach the trainable "
                               "parameters", grad_norm_one_pass=0.0)
        ratio, cleared_ratio = float(two.norm()) / one_norm, float(cleared.norm()) / one_norm
        numbers = dict(grad_norm_one_pass=one_norm, grad_norm_two_passes=float(two.norm()), ratio=ratio,
                       ratio_after_zero_grad=cleared_ratio)
        summary = (f"after two backward passes without zero_grad{stepped}, .grad is {ratio:.2f}x one pass's "
                   f"(norm {lab.fmt(float(two.norm()))} vs {lab.fmt(one_norm)})")
        if abs(ratio - 2) < 1e-3:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary, **numbers)


def _optimizer_construction(model, call, optimizer) -> dict:
    """The optimizer's construction as the script writes it (``optim.SGD(model.parameters(),
    lr=args.lr)``) and the name whose ``.parameters()`` it takes, for the probe."""
    for value in model.values.at(optimizer, call):
        if value.kind == "optimizer" and value.call is not None and value.call.args \
                and value.facts is model.facts:
            params = value.call.args[0].value
            if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) \
                    and params.func.attr.value in ("parameters", "named_parameters") \
                    and dotted_name(params.func.value):
                return {"optimizer_call": model.code(value.call.node),
                        "optimizer_class": model.code(value.call.func),
                        "optimizer_params": dotted_name(params.func.value)}
    return {}


def _optimized_model(model, call, optimizer) -> dict:
    """The model whose parameters the optimizer updates (``SGD(model.parameters())``),
    or the models the loop runs, for the probe."""
    for value in model.values.at(optimizer, call):
        if value.kind == "optimizer" and value.call is not None and value.call.args:
            params = value.call.args[0].value
            if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) \
                    and params.func.attr.value in ("parameters", "named_parameters"):
                found = model_context(model, model.values.at(params.func.value, value.call))
                if found:
                    return found
    if call.loop is None:
        return {}
    return model_context(model, [v for forward in model.phases.forwards_in(call.loop, call.scope)
                                 for v in forward.models])


def _backpropagates(model, block, scope, depth: int) -> bool:
    """A training loop calls backward (itself or in a helper), not only step()."""
    for call in model.phases.calls_in(block, scope):
        if model.phases.is_backward(call):
            return True
        if depth < MAX_DEPTH:
            definition = model.local_function(call)
            if definition is not None and definition.facts is model.facts and \
                    _backpropagates(model, definition.fact, definition.fact, depth + 1):
                return True
    return False


def _stepped_optimizer(model, call):
    """The optimizer expression a call steps: `opt.step()`, or AMP's `scaler.step(opt)`.
    `opt.step(closure)` (LBFGS) runs its own zero_grad and is left alone."""
    if call.method != "step" or call.receiver is None:
        return None
    if not call.args and model.phases.is_optimizer_step(call):
        return call.receiver
    if len(call.args) == 1 and "scaler" in (dotted_name(call.receiver) or "").lower():
        argument = call.args[0].value
        values = model.values.at(argument, call)
        if any(v.kind == "optimizer" for v in values) or "opt" in (dotted_name(argument) or "").lower():
            return argument
    return None


def _owners(model, optimizer, call) -> set | None:
    """What a zero_grad must be called on to clear this optimizer's gradients: the
    optimizer itself and the model whose parameters built it, by name, and (as
    `("made", id)` entries) the places that model was made, so that the same model
    under a parameter's name (`adv.zero_grad()` in a helper given `adv_i`) counts too;
    None when the link is unknown."""
    names: set = {dotted_name(optimizer)}
    for value in model.values.at(optimizer, call):
        if value.kind == "optimizer" and value.call is not None and value.call.args:
            params = value.call.args[0].value
            if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) \
                    and params.func.attr.value in ("parameters", "named_parameters"):
                names.add(dotted_name(params.func.value))
                facts, path = model.home_of(value.call)
                names.update(("made", id(made.origin)) for made in model.values.infer(
                    params.func.value, value.call.scope, value.call.order, facts, path)
                    if made.kind == "module" and made.origin is not None)
            else:
                return None
        elif value.kind == "optimizer":
            return None
    names.discard(None)
    return names if len(names) > 1 else None


def _clears_owner(model, call, owners: set) -> bool:
    """`call` (a zero_grad) is on the optimizer or on its model (by name, or by where it was made),
    or on a module that holds that model (`net.zero_grad()` clears `net.module.head`'s gradients)."""
    receiver = dotted_name(call.receiver)
    if receiver in owners or receiver is not None and any(
            isinstance(owner, str) and owner.startswith(receiver + ".") for owner in owners):
        return True
    return any(("made", id(v.origin)) in owners for v in model.values.at(call.receiver, call)
               if v.kind == "module" and v.origin is not None)


def _optimizer_built_in(model, optimizer, call, loop) -> bool:
    """`opt = SGD(...)` inside the loop: every iteration starts a new optimizer
    (a numerics check, not a training loop)."""
    for value in model.values.at(optimizer, call):
        if value.kind == "optimizer" and value.call is not None and value.facts is model.facts \
                and loop.contains(value.call):  # an optimizer passed in from another file: not here
            return True
    return False


def _clears(model, block, scope, depth: int, owners: set[str] | None = None, step=None) -> bool:
    """A zero_grad (of the optimizer or its model, when `owners` names them) in `block`;
    with `step`, one that can run with it (not in the other arm of an `if`: `if amp:
    opt.zero_grad(); ... else: loss.backward(); opt.step()`)."""
    for call in model.phases.calls_in(block, scope):
        if step is not None and F.exclusive(call.branch, step.branch):
            continue
        if call.method == "zero_grad":
            if owners is None or call.receiver is None or _clears_owner(model, call, owners):
                return True
            continue
        if call.method in ("zero_", "fill_") and (dotted_name(call.receiver) or "").endswith(("grad", "grad.data")):
            return True
        if depth < MAX_DEPTH:
            definition = model.local_function(call)
            if definition is not None and _clears(model, definition.fact, definition.fact, depth + 1):
                return True  # zero_grad in a helper, in this file or another
    for assign in scope.assigns:
        if block is not scope and not block.contains(assign) or \
                step is not None and F.exclusive(assign.branch, step.branch):
            continue
        for target in assign.targets:
            if isinstance(target, cst.Attribute) and target.attr.value == "grad":
                return True
    return False


def _called_in_loops_without_clear(model, function) -> bool:
    """A step helper without zero_grad: a bug only where a caller loops without it."""
    if not hasattr(function, "params"):
        return False
    sites = model.call_sites(function)
    looped = [site for site in sites if site.loop is not None]
    return bool(looped) and not any(_clears(model, site.loop, site.scope, 0) for site in looped)
