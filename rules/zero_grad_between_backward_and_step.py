from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.steps import BACKWARD, OPAQUE, STEP, ZERO_GRAD, StepEvent, Steps, steps_of
from torchlint.semantic.walker import dotted_name


class ZeroGradBetweenBackwardAndStep(Rule):
    """## What it does
    Finds a `zero_grad()` that runs after `backward()` and before
    `optimizer.step()` in the same iteration, on the optimizer that steps (or
    on the model whose parameters it updates). The order is followed around
    the loop, so `zero_grad(); step(); ...; backward()` is found too.

    ## Why is this bad?
    `zero_grad()` clears (or sets to `None`) the gradients `backward()` just
    computed, so every `step()` applies zero gradients: the parameters never
    move (or move only by weight decay), the loss stays flat, and nothing
    crashes to say why.

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.zero_grad()
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
    There is no automatic fix: where the `zero_grad()` belongs (start of the
    iteration, or right after the step) is the author's choice. Not reported
    when another `backward()` or a hand-written `.grad` runs between the
    `zero_grad()` and the step (gradient surgery), when the `zero_grad()` is
    conditional, or when it clears another optimizer or model (a GAN's
    generator while the discriminator steps).
    """

    code = "TL505"
    name = "zero-grad-between-backward-and-step"
    severity = Severity.ERROR
    summary = "zero_grad() runs between backward() and step(), so every step applies zero gradients."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

net_d, net_g = nn.Linear(4, 1), nn.Linear(2, 4)
opt_d = torch.optim.SGD(net_d.parameters(), lr=0.1)
opt_g = torch.optim.SGD(net_g.parameters(), lr=0.1)
for step in range(100):
    opt_d.zero_grad()
    loss_d = net_d(net_g(torch.randn(8, 2)).detach()).mean()
    loss_d.backward()
    opt_g.zero_grad()
    opt_d.step()
    loss_g = -net_d(net_g(torch.randn(8, 2))).mean()
    loss_g.backward()
    opt_g.step()
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
for step in range(100):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    optimizer.zero_grad()  # expect: TL505
    optimizer.step()
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        steps = steps_of(model)
        for scope in (model.facts.scope, *model.facts.functions):
            if isinstance(scope, F.Function) and model.is_framework_managed(scope):
                continue  # Lightning runs the optimization step itself
            for step in steps.events(scope):
                if step.kind != STEP:
                    continue
                found = _clear_before(steps, step)
                if found is not None:
                    self._report(ctx, steps, step, *found)

    def _report(self, ctx, steps: Steps, step: StepEvent, clear: StepEvent, backward: StepEvent,
                loop) -> None:
        model = ctx.model
        stepping = model.code(step.fact.node)
        clearing = model.code(clear.fact.node)
        wraps = backward.order > clear.order
        where = "at the end of the previous pass of the loop" if wraps else model.where(backward.fact.node)
        ctx.report(
            clear.fact.node,
            title=f"{titles.call(clearing, 28)} clears gradients between backward() and step()",
            message=f"`{clearing}` runs after `backward()` ({where}) and before "
            f"`{stepping}` ({model.where(step.fact.node)}): it clears the gradients backward just "
            f"computed, so every step applies zero gradients and the parameters never learn from the loss. "
            f"Move `zero_grad()` to the start of the iteration (before the forward pass) or right after "
            f"`step()`.",
            context=_context(model, steps, step, clear, loop),
        )

    @staticmethod
    def experiment(lab):
        """The script's optimizer over the model's parameters: forward, backward, the
        misplaced zero_grad, step. With the loss scaled by 1 and by 3 the parameters end
        the same (the loss has no effect on the step); without the zero_grad they move."""
        import copy

        torch = lab.torch
        name = lab.context.get("optimizer")
        optimizer_class = getattr(torch.optim, (name or "").rsplit(".", 1)[-1], None) if name else None
        if optimizer_class is None:
            return lab.inconclusive("construct_failed", "the script's optimizer is not known statically, "
                                    "so the step cannot be reproduced with it")
        options = {}
        source = lab.context.get("optimizer_options")
        if source:
            try:
                options = lab.evaluate(f"dict({source})")
            except Exception as err:  # noqa: BLE001 - names of the script's main block
                lab.assume("optimizer_options", f"{source} did not evaluate ({type(err).__name__}); "
                                                "the optimizer's defaults are used")
        base = lab.build_from_context()
        inputs = lab.inputs(base)
        if not any(p.requires_grad for p in base.parameters()):
            return lab.inconclusive("experiment_error", "the model has no trainable parameters")
        lab.assume("loss", "the mean square of the model's output stands in for the script's loss")
        clear_options = {"set_to_none": lab.context["set_to_none"]} if "set_to_none" in lab.context else {}

        def stepped(scale, clear):
            model = copy.deepcopy(base)
            optimizer = optimizer_class(model.parameters(), **options)
            lab.seed(0)
            loss = lab.output_tensor(lab.forward(model, inputs)).float().pow(2).mean() * scale
            loss.backward()
            grad = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None))
            if clear:
                optimizer.zero_grad(**clear_options)
            optimizer.step()
            return torch.cat([p.detach().flatten().double() for p in model.parameters()]), float(grad)

        start = torch.cat([p.detach().flatten().double() for p in base.parameters()])
        once, grad_norm = stepped(1.0, True)
        thrice, _ = stepped(3.0, True)
        normal, _ = stepped(1.0, False)
        moved_by_loss = lab.max_abs_diff(once, thrice)
        moved = lab.max_abs_diff(once, start)
        moved_normally = lab.max_abs_diff(normal, start)
        numbers = dict(grad_norm_before_zero_grad=grad_norm, max_change_with_zero_grad=moved,
                       change_between_loss_x1_and_x3=moved_by_loss, max_change_without_zero_grad=moved_normally)
        summary = (f"{optimizer_class.__name__}.step() after zero_grad moved the parameters by up to "
                   f"{lab.fmt(moved)} whatever the loss (loss x1 vs x3 differ by {lab.fmt(moved_by_loss)}; "
                   f"gradient norm {lab.fmt(grad_norm)} was cleared); without zero_grad up to "
                   f"{lab.fmt(moved_normally)}")
        if grad_norm == 0:
            return lab.inconclusive("experiment_error", "the stand-in loss has a zero gradient on the "
                                    "synthesized inputs, so clearing it changes nothing measurable")
        if moved_by_loss == 0 and moved_normally > 0:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary, **numbers)


def _clear_before(steps: Steps, step: StepEvent):
    """(the zero_grad, the backward before it, the iteration loop) when, going back
    from `step`, the nearest gradient event is a zero_grad of this optimizer that
    surely runs before it, and a backward precedes that zero_grad."""
    loop = steps.iteration(step, BACKWARD)
    owners = steps.owners(step.target, step.call)
    clear = None
    for event in steps.scan(step, loop, forward=False):
        if clear is None:
            if event.kind == ZERO_GRAD and dotted_name(event.target) in owners \
                    and steps.certain(event, loop, step.fact):
                clear = event
                continue
            if event.kind == ZERO_GRAD and dotted_name(event.target) not in owners:
                continue  # another optimizer or model: a GAN's other half
            return None  # a backward, a step, a conditional zero_grad, a helper: fine or unknown
        if event.kind == BACKWARD:
            return clear, event, loop
        if event.kind == ZERO_GRAD:
            continue
        if event.kind in (STEP, OPAQUE):
            return None
    return None


def _context(model, steps: Steps, step: StepEvent, clear: StepEvent, loop) -> dict:
    context = {"optimizer_var": dotted_name(step.target) or ""}
    construction = steps.optimizer_construction(step.target, step.call)
    if construction is not None:
        qualified = model.callee(construction)
        if qualified:
            context["optimizer"] = qualified
        options = [a for a in construction.args if a.keyword is not None]
        if options:
            context["optimizer_options"] = ", ".join(f"{a.keyword.value}={model.code(a.value)}" for a in options)
    set_to_none = clear.call.argument(0, "set_to_none") if clear.call is not None else None
    if isinstance(set_to_none, cst.Name) and set_to_none.value in ("True", "False"):
        context["set_to_none"] = set_to_none.value == "True"
    context.update(steps.model_context(step.target, step.call, loop))
    return context
