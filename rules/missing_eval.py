from __future__ import annotations

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.evidence import injected_submodules, recalibrates_batchnorm, samples_same_input
from torchlint.semantic.modules import LIBRARY_LAYERS, READS_TRAINING, mode_layers_of
from torchlint.semantic.probe_context import model_context


class MissingEval(Rule):
    """## What it does
    Finds evaluation code (a loop over a validation or test loader, a function
    such as `evaluate()`, a loop under `torch.no_grad()`) that runs a model
    holding Dropout or BatchNorm layers while the model is still in train mode.
    Not reported: `train()` called in the function that then passes one
    unchanged input through the model many times (Monte Carlo dropout), or
    that recomputes BatchNorm statistics.

    ## Why is this bad?
    In train mode Dropout zeroes random activations and BatchNorm normalizes
    with the statistics of the current batch and updates its running averages
    from validation data. Validation loss and accuracy become noisy and
    pessimistic, and the model you save is not the model you measured. This is
    the classic cause of "training loss falls, validation loss rises".

    ## Example
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            ...
        with torch.no_grad():
            for x, y in val_loader:
                out = model(x)  # still in train mode
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            ...
        model.eval()
        with torch.no_grad():
            for x, y in val_loader:
                out = model(x)
    ```

    ## Fix safety
    There is no automatic fix: where training resumes (and `model.train()`
    must be called again) is a decision about your loop. The message says
    where eval mode is missing.
    """

    code = "TL101"
    name = "missing-eval"
    severity = Severity.ERROR
    summary = "An evaluation loop runs a model with Dropout or BatchNorm in train mode."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
val_loader = [(torch.randn(2, 4), torch.tensor([0, 1]))]
model.train(False)
with torch.no_grad():
    for x, y in val_loader:
        out = model(x)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
val_loader = [(torch.randn(2, 4), torch.tensor([0, 1]))]
with torch.no_grad():
    for x, y in val_loader:
        out = model(x)  # expect: TL101
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        phases = model.phases
        reported: set[tuple[int, str]] = set()
        for phase in phases.eval_phases:
            for forward in phase.forwards:
                target = forward.target
                # One finding per model and phase, and per arm of an `if` that
                # runs the model its own way (`if packed: model(a) else: model(b)`).
                key = (id(phase.block), target, id(forward.call.branch) if forward.call.branch is not None
                       and phase.block.contains(forward.call.branch) else None)
                if key in reported:
                    continue
                layers = mode_layers_of(forward.models)
                if not layers and not _unknown_layers(forward):
                    continue
                state = phases.mode_at(forward.call, target, forward.models, phase=phase, via=forward.via)
                if state.mode not in ("train", "default"):
                    continue
                if not layers and (state.mode != "train" or state.event is None):
                    continue  # layers unknown: only an explicit train() says the mode matters
                if state.event is not None and state.mode == "train" \
                        and recalibrates_batchnorm(state.event.call.scope):
                    continue  # train() to recompute BatchNorm statistics on purpose
                if state.event is not None and state.mode == "train" and _train_pass_then_eval(phases, state, forward):
                    continue  # `model.train(); <forwards>; model.eval(); <evaluation>`: a deliberate train-mode pass
                if state.event is not None and state.mode == "train" \
                        and state.event.call.scope is forward.call.scope and samples_same_input(forward.call) \
                        and (not layers or any("ropout" in d or "training" in d for _, d in layers)):
                    continue  # train() here, to sample one input n times: Monte Carlo dropout
                reported.add(key)
                # a model reached through a subscript (`self.parts["net"](x)`) has no name: show its code
                shown = target or model.code(forward.call.node.func)
                ctx.report(
                    forward.call.node,
                    _message(model, shown, layers, phase.reason, state, forward),
                    title=_title(shown, layers),
                    context={
                        "model": target,
                        "class": None,
                        **model_context(model, forward.models),
                        "layers": [name for name, _ in layers],
                        "phase": phase.reason,
                    },
                )

    @staticmethod
    def experiment(lab):
        """The same input in train mode and in eval mode, and twice in eval mode,
        with hooks on the mode-dependent layers to see which of them ran."""
        model = lab.build_from_context()
        inputs = lab.inputs(model)
        layers = lab.mode_dependent_modules(model)
        train_out, (first, second), seen = lab.train_then_eval(model, inputs, layers, eval_passes=2)
        scale = float(first.detach().abs().mean())
        train_vs_eval = lab.max_abs_diff(train_out, first)
        eval_vs_eval = lab.max_abs_diff(first, second)
        numbers = dict(train_vs_eval=train_vs_eval, eval_vs_eval=eval_vs_eval, output_scale=scale,
                       layers=[name for name, _ in layers], ran=seen.ran)
        summary = (f"train vs eval max |diff| {lab.fmt(train_vs_eval)} on outputs of scale "
                   f"{lab.fmt(scale)}; eval vs eval {lab.fmt(eval_vs_eval)}")
        kinds = {name: type(module).__name__ for name, module in layers}
        if train_vs_eval > 1e-6:
            ran = "; ran: " + lab.listing([f"{name} ({kinds[name]})" for name in seen.ran]) if seen.ran \
                else "; no mode-dependent layer ran: forward reads self.training"
            return lab.confirmed(summary + ran, **numbers)
        if layers and not seen.any_ran:
            never = ", ".join(f"{name} ({kinds[name]})" for name, _ in layers[:3])
            return lab.not_exercised(f"{summary}; the mode-dependent layers never ran: {never}", **numbers)
        return lab.refuted(summary + ("; no mode-dependent layer ran" if not seen.any_ran else ""),
                           **numbers)


def _train_pass_then_eval(phases, state, forward) -> bool:
    """The function sets train mode itself, runs forwards without training, then
    switches the same model to eval mode: the train-mode pass is written on purpose
    (`if bn_eval: model.train(); for x in loader: model(x)` to refresh BatchNorm
    statistics before `model.eval()` and the real evaluation)."""
    event = state.event
    scope = forward.call.scope
    if event.call.scope is not scope or event.call.order > forward.call.order:
        return False
    return any(later.mode == "eval" and later.target == event.target and later.call.scope is scope
               and later.call.order > forward.call.order for later in phases.mode_events(scope))


def _unknown_layers(forward) -> bool:
    """The model's mode-dependent layers cannot all be known here: its class is
    not known (a model passed in from elsewhere), or it holds submodules its
    constructor receives (`self.head = head`)."""
    if not forward.models:
        return True
    for value in forward.models:
        if value.module is not None:
            if value.module.is_framework_module:
                return False
            if injected_submodules(value.module.cls):
                return True
        elif value.layer is None and value.qualname is None:
            return True
    return False


def _title(target: str, layers: list[tuple[str, str]]) -> str:
    base = f"{titles.code(target, 28)} runs in train mode during evaluation"
    descriptions = [description for _, description in layers]
    for most in (3, 1):  # as many layer kinds as fit in 80 characters
        kinds = titles.kinds(descriptions, most=most, limit=28)
        if kinds and len(base) + len(kinds) + 3 <= 80:
            return f"{base} ({kinds})"
    return base


def _what_behaves(descriptions: list[str]) -> str:
    """The subject of "... behave differently in training": the model's layers
    (`BatchNorm2d(64)`), a library model's layers (`the layers of resnet18`), or,
    when no layer is known, its forward that reads self.training itself."""
    layers = [d for d in descriptions if d != READS_TRAINING and not d.startswith(LIBRARY_LAYERS)]
    if layers:
        shown = ", ".join(layers[:3]) + (f" and {len(layers) - 3} more" if len(layers) > 3 else "")
        return f"Its {shown} layer{'s behave' if len(layers) > 1 else ' behaves'}"
    libraries = [d[len(LIBRARY_LAYERS):] for d in descriptions if d.startswith(LIBRARY_LAYERS)]
    if libraries:
        return f"The layers of {' or '.join(libraries)} behave"
    return "Its forward branches on `self.training` (dropout or noise switched by the mode): it behaves"


def _message(model, target: str, layers: list[tuple[str, str]], reason: str, state, forward) -> str:
    if state.event is not None:
        where = model.where(state.event.call.node)
        why = f"`{state.event.target}.train()` at {where} is still in force"
        if state.carried:
            why = f"`{state.event.target}.train()` at {where}, later in the loop, is in force from the second iteration"
    else:
        why = "it is never switched to eval mode"
    if not layers:
        known = "its class is not known here" if not forward.models else "some of its layers are passed in"
        return (
            f"`{target}` runs in train mode in this evaluation code ({reason}): {why}. "
            f"Its mode-dependent layers cannot be listed ({known}), but calling train() says its mode "
            f"matters: Dropout and BatchNorm behave differently in training, so validation results are noisy. "
            f"Call `{target}.eval()` before evaluating and `{target}.train()` when training resumes."
        )
    descriptions = sorted({description for _, description in layers})
    batchnorm = any("BatchNorm" in d for d in descriptions)
    return (
        f"`{target}` runs in train mode in this evaluation code ({reason}): {why}. "
        f"{_what_behaves(descriptions)} differently in training, so validation results are noisy"
        f"{' and BatchNorm running statistics absorb validation data' if batchnorm else ''}. "
        f"Call `{target}.eval()` before evaluating "
        f"and `{target}.train()` when training resumes."
    )
