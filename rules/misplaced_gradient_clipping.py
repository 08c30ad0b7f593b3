from __future__ import annotations

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.steps import (
    BACKWARD, CLIP, OPAQUE, STEP, UNSCALE, ZERO_GRAD, StepEvent, Steps, steps_of,
)

# Events that change or use the gradients a clip acts on.
_GRADIENT_EVENTS = (BACKWARD, ZERO_GRAD, STEP, OPAQUE)


class MisplacedGradientClipping(Rule):
    """## What it does
    Finds `clip_grad_norm_`/`clip_grad_value_` calls that clip gradients the
    optimizer step never uses: after `optimizer.step()` (the next
    `zero_grad()` or `backward()` replaces them), or before `backward()` (it
    clips the cleared gradients, then backward writes the real ones; also in a
    helper that runs the backward for a caller that steps). With an
    AMP `GradScaler`, it also finds clipping between `scaler.scale(loss).backward()`
    and `scaler.step(optimizer)` without `scaler.unscale_(optimizer)` first. The
    scaler is known by what builds it (`torch.amp.GradScaler(...)`, a subclass),
    whatever the variable is called; by its name only when its value cannot be
    followed (a parameter, an attribute set in another file).

    ## Why is this bad?
    Clipping is there to bound the update on a bad batch. Placed anywhere
    but between backward and step, the step uses the unclipped gradients:
    the run looks protected and still diverges on the first gradient spike.
    On scaled gradients (AMP) the threshold applies to the gradient times the
    loss scale (65536 at the start): nearly every step is clipped to a tiny
    update, and how tiny changes whenever the scaler changes its scale.

    ## Example
    ```python
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    ```

    ## Fix safety
    There is no automatic fix: moving the clip changes which statements run
    together. Clipping inside an accumulation loop, between two `backward()`
    calls, under a condition the step does not share, or through a
    framework's own method (Lightning, Accelerate unscale by themselves), or
    with a `GradScaler(enabled=False)` (it does not scale) is not reported.
    """

    code = "TL506"
    name = "misplaced-gradient-clipping"
    severity = Severity.WARNING
    summary = "Gradient clipping runs where it cannot affect the optimizer step."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    optimizer.zero_grad()
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
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
    optimizer.zero_grad()
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)  # expect: TL506
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        steps = steps_of(model)
        for scope in (model.facts.scope, *model.facts.functions):
            if isinstance(scope, F.Function) and model.is_framework_managed(scope):
                continue
            for clip in steps.events(scope):
                if clip.kind != CLIP or _measures_only(model, clip):
                    continue
                verdict = _placement(steps, clip)
                if verdict is not None:
                    self._report(ctx, steps, clip, *verdict)

    def _report(self, ctx, steps: Steps, clip: StepEvent, case: str, other: StepEvent, loop) -> None:
        model = ctx.model
        where = model.where(other.fact.node)
        if case == "after_step" and other.order > clip.order:
            where += ", in the previous pass of the loop"
        written = model.code(other.fact.node)
        if len(written) > 60:
            written = written[:57] + "..."
        named = titles.call(written, 28)
        if case == "after_step":
            title = f"gradient clipping after {named} bounds no update"
            message = (f"gradient clipping runs after `{written}` ({where}): the step already applied the "
                       f"unclipped gradients, and the next zero_grad()/backward() replaces the clipped ones, "
                       f"so clipping never bounds an update. Clip between backward() and step().")
        elif case == "before_backward":
            title = f"gradient clipping before {named} clips stale gradients"
            message = (f"gradient clipping runs before `{written}` ({where}): it clips the cleared gradients "
                       f"of the previous step, then backward writes the real ones and the step applies them "
                       f"unclipped. Clip between backward() and step().")
        else:
            title = "gradient clipping on AMP-scaled gradients: no `unscale_()` before it"
            message = (f"gradient clipping runs on scaled gradients: `{written}` ({where}) multiplies them by "
                       f"the GradScaler's loss scale (65536 at the start) and no `scaler.unscale_(optimizer)` "
                       f"comes before the clip, so the threshold bounds the scaled norm and every step is "
                       f"clipped to a tiny update. Call `scaler.unscale_(optimizer)` before clipping.")
        ctx.report(clip.fact.node, message, title=title, context=_context(model, steps, clip, case, loop))

    @staticmethod
    def experiment(lab):
        """The model's gradients as the optimizer step sees them, with the clip where the
        script puts it and where it belongs (between backward and step, on unscaled
        gradients). The stand-in loss is scaled so the gradient exceeds the threshold."""
        torch = lab.torch
        case = lab.context.get("case")
        by_value = lab.context.get("clip") == "value"
        threshold = lab.context.get("threshold")
        if threshold is None:
            threshold = 1.0
            lab.assume("threshold", "1.0: the script's threshold is not a static number")
        threshold = float(threshold)
        model = lab.build_from_context()
        inputs = lab.inputs(model)
        model.eval()  # the same gradient on every pass
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return lab.inconclusive("experiment_error", "the model has no trainable parameters")

        def size():  # what the clip bounds: the total norm, or the largest entry
            grads = [p.grad.detach().double() for p in params if p.grad is not None]
            if not grads:
                return 0.0
            if by_value:
                return float(max(g.abs().max() for g in grads))
            return float(torch.sqrt(sum((g ** 2).sum() for g in grads)))

        def clip():
            if by_value:
                torch.nn.utils.clip_grad_value_(params, threshold)
            else:
                torch.nn.utils.clip_grad_norm_(params, threshold)

        def backward(scale=1.0):
            (lab.output_tensor(lab.forward(model, inputs)).float().pow(2).mean() * boost * scale).backward()

        boost = 1.0
        model.zero_grad(set_to_none=True)
        backward()
        unclipped = size()
        if unclipped == 0:
            return lab.inconclusive("experiment_error", "the stand-in loss has a zero gradient on the "
                                    "synthesized inputs")
        boost = 10 * threshold / unclipped  # a gradient spike: 10x the threshold
        lab.assume("loss", f"the mean square of the model's output, scaled so the gradient is 10x the "
                           f"threshold {lab.fmt(threshold)}")
        model.zero_grad(set_to_none=True)
        backward()
        clip()
        right = size()  # clip between backward and step
        model.zero_grad(set_to_none=False)
        if case == "before_backward":
            clip()
            backward()
        elif case == "after_step":
            backward()  # the step reads the gradients here; the clip comes later
        else:
            scale = 2.0 ** 16
            lab.assume("loss_scale", "65536, GradScaler's initial scale")
            backward(scale)
            clip()
            for p in params:
                if p.grad is not None:
                    p.grad.div_(scale)  # what scaler.step does before stepping
        at_step = size()
        what = "largest gradient entry" if by_value else "gradient norm"
        numbers = dict(threshold=threshold, at_step=at_step, clipped_in_place=right, spike=10 * threshold)
        summary = (f"{what} at step time {lab.fmt(at_step)} with the clip where the script has it vs "
                   f"{lab.fmt(right)} clipped between backward and step (threshold {lab.fmt(threshold)}, "
                   f"spike {lab.fmt(10 * threshold)})")
        tolerance = 1e-3 * threshold
        if abs(right - threshold) < tolerance and abs(at_step - threshold) > tolerance:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary, **numbers)


def _measures_only(model, clip: StepEvent) -> bool:
    """`clip_grad_norm_(params, float("inf"))`: the total norm for logging, nothing clipped."""
    call = clip.call
    by_value = (model.callee(call) or "").endswith("clip_grad_value_")
    threshold = call.argument(1, "clip_value" if by_value else "max_norm")
    return threshold is not None and "inf" in model.code(threshold).lower()


def _first(events, kinds) -> StepEvent | None:
    return next((e for e in events if e.kind in kinds), None)


def _placement(steps: Steps, clip: StepEvent):
    """(case, the event the message names, the iteration loop) for a misplaced clip."""
    loop = steps.iteration(clip, STEP)
    scope_events = steps.events(clip.fact.scope)
    after = _first(steps.scan(clip, loop, forward=True), _GRADIENT_EVENTS)
    before = _first(steps.scan(clip, loop, forward=False), _GRADIENT_EVENTS)
    if loop is None and not any(e.kind == STEP for e in scope_events):
        # A helper that does not step: its callers decide, unless it clips right before
        # the backward it runs itself (the step its caller takes gets those gradients unclipped).
        if after is not None and after.kind == BACKWARD and steps.certain(after, loop, clip.fact) \
                and (before is None or before.kind == ZERO_GRAD):
            return "before_backward", after, loop
        return None
    if after is not None and after.kind == STEP:
        return _scaled(steps, clip, loop, after)
    if after is not None and after.kind == BACKWARD and (before is None or before.kind == ZERO_GRAD) \
            and _backward_in_every_arm(steps, clip, after, loop):
        return "before_backward", after, loop
    if after is not None and (after.kind == OPAQUE or not steps.certain(after, loop, clip.fact)):
        return None
    if before is not None and before.kind == STEP and (after is not None or any(
            e.kind == ZERO_GRAD and (loop is None or loop.contains(e.fact)) for e in scope_events)):
        return "after_step", before, loop
    if after is not None and after.kind == BACKWARD and (before is None or before.kind == ZERO_GRAD):
        return "before_backward", after, loop
    return None


def _backward_in_every_arm(steps: Steps, clip: StepEvent, backward: StepEvent, loop) -> bool:
    """`if scaler is None: loss.backward(); opt.step()` / `else: scaler.scale(loss).backward(); ...`
    right after the clip: the backward is in an arm, but each arm of that `if` starts its gradient
    work with a backward, so one always runs after the clip."""
    arm = backward.fact.branch
    if arm is None or arm.test is None or arm.arm != "body" or arm.contains(clip.fact) \
            or _innermost_loop_of(backward.fact) is not loop:
        return False
    outer = arm.parent
    while outer is not None and (loop is None or loop.contains(outer)):
        if not outer.contains(clip.fact):
            return False  # the whole `if` sits in another condition than the clip
        outer = outer.parent
    for event in steps.scan(backward, loop, forward=True):
        branch = event.fact.branch
        if branch is not None and branch.test is arm.test and branch.arm == "orelse":
            return event.kind == BACKWARD and _innermost_loop_of(event.fact) is loop
        if event.order < backward.order:
            break  # wrapped around the loop: no gradient work in the other arm
    return False


def _innermost_loop_of(fact) -> F.Loop | None:
    loop = fact.loop
    while loop is not None and loop.kind == "comprehension":
        loop = loop.parent
    return loop


def _scaled(steps: Steps, clip: StepEvent, loop, step: StepEvent):
    """The clip before a step: misplaced when the gradients are scaled by AMP and no
    unscale_ comes between the backward and the clip."""
    for event in steps.scan(clip, loop, forward=False):
        if event.kind == UNSCALE or event.kind in (OPAQUE, STEP, ZERO_GRAD):
            return None
        if event.kind == BACKWARD:
            scaled = steps.is_scaled_backward(event) or step.call is not None and \
                steps.scales_gradients(step.call.receiver, step.call)
            return ("scaled", event, loop) if scaled else None
    return None


def _context(model, steps: Steps, clip: StepEvent, case: str, loop) -> dict:
    call = clip.call
    by_value = (model.callee(call) or "").endswith("clip_grad_value_")
    context: dict = {"case": case, "clip": "value" if by_value else "norm"}
    threshold = call.argument(1, "clip_value" if by_value else "max_norm")
    known = model.data.constant(threshold, call.scope, call.order) if threshold is not None else None
    if known is not None and isinstance(known.value, (int, float)) and not isinstance(known.value, bool) \
            and known.value > 0:
        context["threshold"] = known.value
    step = next((e for e in steps.events(call.scope) if e.kind == STEP
                 and (loop is None or loop.contains(e.fact))), None)
    context.update(steps.model_context(step.target if step else None, step.call if step else call, loop))
    return context
