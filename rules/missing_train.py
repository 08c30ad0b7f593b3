from __future__ import annotations

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.modules import mode_layers_of
from torchlint.semantic.probe_context import model_context


class MissingTrain(Rule):
    """## What it does
    Finds training steps (forward, backward and optimizer step) that run while
    the model is in eval mode: an evaluation before a loop that trains
    (`model.eval()` and a no-grad check) never undone, or an evaluation inside
    the epoch loop (`validate(model)` calls `model.eval()`) after which the
    next epoch trains without `model.train()`. A bare `model.eval()` right
    before a training loop is taken as deliberate (fine-tuning with frozen
    BatchNorm statistics) and not reported. A check every few steps
    (`if step % k == 0: validate()`) counts when nothing in the loop sets train
    mode back; a model passed in from elsewhere (its layers unknown) counts when
    the code sets train mode on it itself before the step.

    ## Why is this bad?
    In eval mode Dropout does nothing and BatchNorm normalizes with its running
    statistics and stops updating them. The model still trains, the loss still
    goes down, but without the regularization you configured and with
    BatchNorm statistics frozen at whatever they were: from the second epoch on
    in the usual case, which makes the first epoch look fine.

    ## Example
    ```python
    model.train()
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        validate(model)  # calls model.eval()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        validate(model)
    ```

    ## Fix safety
    There is no automatic fix: where `model.train()` belongs (the top of the
    epoch loop, or the end of the evaluation helper) is a choice about the
    code's structure.
    """

    code = "TL104"
    name = "missing-train"
    severity = Severity.ERROR
    summary = "A training loop runs its steps while the model is in eval mode."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
batches = [(torch.randn(3, 4), torch.randint(0, 2, (3,)))]


def validate(net):
    net.eval()
    with torch.no_grad():
        return [net(x) for x, _ in batches]


for epoch in range(3):
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    validate(model)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
batches = [(torch.randn(3, 4), torch.randint(0, 2, (3,)))]


def validate(net):
    net.eval()
    with torch.no_grad():
        return [net(x) for x, _ in batches]


model.train()
for epoch in range(3):
    for x, y in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()  # expect: TL104
        optimizer.step()
    validate(model)
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        phases = model.phases
        reported: set[int] = set()  # forward calls (a step sits in the batch and the epoch loop)
        for loop, scope in phases.train_loops:
            function = scope if scope.kind == "function" else None
            if function is not None and model.is_framework_managed(function):
                continue  # Lightning and friends set the mode themselves
            for forward in phases.forwards_in(loop, scope, unknown=True):
                key = id(forward.call)
                if key in reported or forward.call.scope is not scope or not forward.target:
                    continue
                # Named layers only: an external class's "unknown layers" say nothing here.
                layers = [(path, text) for path, text in mode_layers_of(forward.models) if path]
                if not layers and not _mode_kept_by_author(phases, forward):
                    continue  # no Dropout/BatchNorm known: the mode changes nothing we can name
                if phases.grad_disabled_at(forward.call) or _evaluates(phases, forward.call) \
                        or not _before_a_backward(phases, forward.call, loop, scope):
                    continue  # not the training step: a frozen part, an inline evaluation
                state = phases.mode_at(forward.call, forward.target, forward.models)
                event, carried = None, False
                if state.mode == "eval" and state.event is not None and (
                        _unconditional_for(state.event, forward) or _never_restored_in_loop(phases, state.event, forward)):
                    event = state.event
                else:
                    event = phases.eval_left_by_loop(forward.call, forward.target, forward.models)
                    carried = event is not None
                if event is None or not _switched_for_evaluation(phases, event, forward, scope):
                    continue  # eval mode chosen for training itself (frozen BatchNorm statistics)
                reported.add(key)
                names = ", ".join(description for _, description in layers[:3]) or "Dropout and BatchNorm, if it has any"

                where = model.where(event.call.node)
                if carried:
                    title = f"{titles.code(forward.target, 24)} trains in eval mode after the evaluation in its loop"
                    why = (f"`{model.code(event.call.node)}` at {where} switches `{event.target}` to eval "
                           f"mode at the end of each iteration and nothing switches it back, so from the "
                           f"second iteration on this training step runs in eval mode")
                else:
                    kinds = titles.kinds(description for _, description in layers)
                    title = f"{titles.code(forward.target)} trains in eval mode" + (f" ({kinds})" if kinds else "")
                    why = (f"`{model.code(event.call.node)}` at {where} is still in force when this "
                           f"training step runs")
                ctx.report(
                    forward.call.node,
                    title=title,
                    message=(f"{why}: its mode-dependent layers ({names}) behave as in evaluation (Dropout off, BatchNorm frozen "
                             f"on its running statistics), so the model trains without the "
                             f"regularization and normalization you configured. Call "
                             f"`{forward.target}.train()` at the start of each training epoch."),
                    context={"model": forward.target, **model_context(model, forward.models),
                             "layers": [name for name, _ in layers]},
                )

    @staticmethod
    def experiment(lab):
        """The training step's forward on the same input in train mode (as it should
        run) and in eval mode (as it runs), with hooks on the mode-dependent layers:
        the outputs differ only if a mode-dependent layer ran."""
        model = lab.build_from_context()
        inputs = lab.inputs(model)
        layers = lab.mode_dependent_modules(model)
        train_out, (eval_out,), seen = lab.train_then_eval(model, inputs, layers)
        scale = float(eval_out.detach().abs().mean())
        gap = lab.max_abs_diff(train_out, eval_out)
        kinds = {name: type(module).__name__ for name, module in layers}
        numbers = dict(train_vs_eval=gap, output_scale=scale, layers=[name for name, _ in layers],
                       ran=seen.ran)
        summary = f"the step's forward in eval vs train mode differs by up to {lab.fmt(gap)} on outputs of scale {lab.fmt(scale)}"
        if gap > 1e-6 and seen.ran:
            ran = lab.listing([f"{name} ({kinds[name]})" for name in seen.ran])
            return lab.confirmed(f"{summary}; mode-dependent layers that ran: {ran}", **numbers)
        if layers and not seen.any_ran:
            return lab.not_exercised(f"{summary}; the mode-dependent layers never ran", **numbers)
        return lab.refuted(summary, **numbers)


def _evaluates(phases, call) -> bool:
    """`call` sits in evaluation code (an inline check inside the training loop)."""
    return any(phase.block.contains(call) or phase.block is call.loop for phase in phases.eval_phases)


def _before_a_backward(phases, call, loop, scope) -> bool:
    """A backward pass (or optimizer step) follows `call` in the same iteration: its output trains."""
    return any(call.order < other.order and (phases.is_backward(other) or phases.is_optimizer_step(other))
               for other in phases.calls_in(loop, scope))


def _mode_kept_by_author(phases, forward) -> bool:
    """A model only its use shows (`self.net` set from a constructor parameter): its
    layers are unknown, but the training code itself calls `.train()` on it before the
    step, so the mode matters to the author and eval mode at the step is a mistake."""
    if forward.models or forward.evidence == "name":
        return False
    return any(event.mode == "train" and event.target == forward.target and event.call.order < forward.call.order
               for event in phases.mode_events(forward.call.scope))


def _never_restored_in_loop(phases, event, forward) -> bool:
    """A conditional eval switch (`if step % k == 0: validate()`) in a loop around the
    step, in a loop that never sets the mode back: once it has run, every later step
    trains in eval mode. (A loop that sets the mode per pass, `if phase == "train":
    model.train() else: model.eval()`, has its train switch in the loop.)"""
    loop = forward.call.loop
    if loop is None or not loop.contains(event.call):
        return False
    return not any(other.mode != "eval" and other.target == event.target and loop.contains(other.call)
                   for other in phases.mode_events(forward.call.scope))


def _unconditional_for(event, forward) -> bool:
    """The eval switch runs whenever the forward does: not in an `if` arm the forward is not in
    (`if phase == "train": model.train() else: model.eval()` decides per pass)."""
    branch = event.call.branch
    return branch is None or branch.contains(forward.call)


def _switched_for_evaluation(phases, event, forward, scope) -> bool:
    """The eval switch serves an evaluation, and training after it inherits it by
    accident: it sits in an evaluation helper (`validate(model)`), or the model runs an
    evaluation forward (under no_grad, or in evaluation code) after the switch. A bare
    `model.eval()` right before a training loop is fine-tuning with frozen BatchNorm
    statistics on purpose."""
    if event.call.method != "eval":
        return True  # a helper that switches the mode: evaluation code
    for other in phases.forwards_in(scope, scope):
        if other.call is forward.call or other.target != forward.target:
            continue
        if event.call.order < other.call.order and (phases.grad_disabled_at(other.call)
                                                   or _evaluates(phases, other.call)):
            return True
    return False
