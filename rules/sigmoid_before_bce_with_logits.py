from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.activations import SigmoidOrigin, activations_of
from torchlint.semantic.names import lookup
from torchlint.semantic.probe_context import model_context

# Loss kinds that apply their own sigmoid or softmax to the input: they want logits.
_WANT_LOGITS = frozenset({"bce_logits", "cross_entropy"})


class SigmoidBeforeBceWithLogits(Rule):
    """## What it does
    Finds sigmoid outputs (`torch.sigmoid`, `.sigmoid()`, `nn.Sigmoid`, or a
    model whose `forward` ends in a sigmoid or returns one as an item of a
    tuple or dict, in this file or another) passed to `BCEWithLogitsLoss` or
    `F.binary_cross_entropy_with_logits`, which apply the sigmoid themselves.

    ## Why is this bad?
    The loss computes the sigmoid of a sigmoid. Its input lies in (0, 1), so
    the predicted probability lies in (0.5, 0.73): the loss of a positive
    target can never go below log(1 + e^-1) ≈ 0.31, a negative one never
    below 0.69, the model cannot express confidence, and the gradients shrink
    by the sigmoid's slope (at most 1/4). Training plateaus without an error.

    ## Example
    ```python
    probs = torch.sigmoid(model(x))
    loss = nn.BCEWithLogitsLoss()(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = nn.BCEWithLogitsLoss()(logits, y)
    probs = torch.sigmoid(logits)  # for metrics and thresholds only
    ```

    ## Fix safety
    Where the sigmoid is written at the loss call (or bound to a name just
    before), the fix passes its input, the logits. It is unsafe: if that input
    was not meant as logits the loss changes meaning. A sigmoid inside the
    model's `forward` has no automatic fix. Sigmoids used only for metrics or
    thresholds, and sigmoid outputs given to `BCELoss`, are not reported.
    """

    code = "TL205"
    name = "sigmoid-before-bce-with-logits"
    severity = Severity.ERROR
    fix_applicability = "unsafe"
    summary = "Sigmoid outputs are passed to BCEWithLogitsLoss, which applies a sigmoid again."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

logits = torch.randn(8, requires_grad=True)
target = torch.randint(0, 2, (8,)).float()
loss = nn.BCEWithLogitsLoss()(logits, target)
accuracy = ((torch.sigmoid(logits) > 0.5).float() == target).float().mean()
bce = nn.BCELoss()(torch.sigmoid(logits), target)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

logits = torch.randn(8, requires_grad=True)
target = torch.randint(0, 2, (8,)).float()
criterion = nn.BCEWithLogitsLoss()
loss = criterion(torch.sigmoid(logits), target)  # expect: TL205
""",
            fixed="""
import torch
import torch.nn as nn

logits = torch.randn(8, requires_grad=True)
target = torch.randint(0, 2, (8,)).float()
criterion = nn.BCEWithLogitsLoss()
loss = criterion(logits, target)  # expect: TL205
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        activations = None
        # A criterion chosen at run time between BCEWithLogitsLoss and a cross entropy
        # (`CrossEntropyLoss() if classes > 1 else BCEWithLogitsLoss()`): both expect
        # logits, so sigmoid outputs are wrong whichever it is.
        ambiguous = [loss for loss in model.losses.ambiguous_calls
                     if "bce_logits" in {loss.kind, *loss.alternatives}
                     and {loss.kind, *loss.alternatives} <= _WANT_LOGITS]
        for loss in [*model.losses.calls, *ambiguous]:
            if loss.kind not in _WANT_LOGITS or "bce_logits" not in {loss.kind, *loss.alternatives} \
                    or loss.input is None:
                continue
            activations = activations or activations_of(model)
            origin = activations.sigmoid_of(loss.input, loss.call)
            if origin is None:
                continue
            ctx.report(loss.input, _message(model, loss, origin), fix=_fix(ctx, model, loss, origin),
                       title=_title(loss),
                       context=_context(model, loss.input, loss.call, _probe_loss(loss), origin))
        # A project loss module (a focal loss, say) whose forward hands its input to
        # binary_cross_entropy_with_logits: the sigmoid outputs reach that loss.
        for wrapper in model.losses.wrapper_calls:
            if wrapper.wrapped.kind != "bce_logits" or wrapper.input is None:
                continue
            activations = activations or activations_of(model)
            origin = activations.sigmoid_of(wrapper.input, wrapper.call)
            if origin is None:
                continue
            inner = wrapper.wrapped.qualname.rsplit(".", 1)[-1]
            ctx.report(wrapper.input, _wrapper_message(model, wrapper, origin),
                       title=f"{wrapper.wrapped.module.name} gets sigmoid outputs ({inner} inside)",
                       context=_context(model, wrapper.input, wrapper.call, inner, origin))

    @staticmethod
    def experiment(lab):
        """The model's outputs through the sigmoid (the model's own, or the one the script
        applies): in (0, 1); then BCEWithLogitsLoss on them vs on the logits: the loss of
        all-positive targets, and the gradient norm over the model's parameters."""
        import math

        torch = lab.torch
        functional = lab.F

        def gradient_norm(loss, params):
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))

        model = lab.build_from_context()
        inputs = lab.inputs(model)
        output = lab.forward(model, inputs)
        for step in lab.context.get("output_item") or ():
            try:
                output = output[step]
            except (KeyError, IndexError, TypeError) as err:
                return lab.inconclusive("experiment_error", f"the model's output has no item {step!r} "
                                        f"({type(err).__name__}: {err})")
        output = lab.output_tensor(output).float()
        if lab.context.get("sigmoid") == "outside":
            probs, logits = torch.sigmoid(output), output
            lab.assume("sigmoid", "applied to the model's output, as the script does")
        else:
            probs = output
            logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))  # what the model's sigmoid was applied to
        low, high = float(probs.detach().min()), float(probs.detach().max())
        if low < 0 or high > 1:
            return lab.refuted(f"the outputs are not sigmoid outputs: they range over [{lab.fmt(low)}, "
                               f"{lab.fmt(high)}]", min=low, max=high)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return lab.inconclusive("experiment_error", "the model has no trainable parameters")
        lab.seed(0)
        targets = torch.randint(0, 2, probs.shape).float()
        positive = torch.ones_like(probs)
        on_probs = functional.binary_cross_entropy_with_logits(probs, targets)
        on_logits = functional.binary_cross_entropy_with_logits(logits, targets)
        floor = math.log1p(math.exp(-1.0))
        positive_loss = float(functional.binary_cross_entropy_with_logits(probs, positive))
        with_sigmoid, without = gradient_norm(on_probs, params), gradient_norm(on_logits, params)
        numbers = dict(min=low, max=high, loss_with_sigmoid=on_probs, loss_on_logits=on_logits,
                       positive_target_loss=positive_loss, floor=floor, grad_norm_with_sigmoid=with_sigmoid,
                       grad_norm_on_logits=without)
        summary = (f"outputs lie in [{lab.fmt(low)}, {lab.fmt(high)}]; BCEWithLogitsLoss of positive targets "
                   f"{lab.fmt(positive_loss)} cannot go below {lab.fmt(floor)}; gradient norm "
                   f"{lab.fmt(with_sigmoid)} with the sigmoid vs {lab.fmt(without)} on logits (loss "
                   f"{lab.fmt(on_probs)} vs {lab.fmt(on_logits)})")
        if with_sigmoid < without and positive_loss >= floor - 1e-6:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary, **numbers)


def _loss_name(loss) -> str:
    if loss.alternatives:  # chosen at run time; see `check`
        return "BCEWithLogitsLoss (or the CrossEntropyLoss chosen instead)"
    return loss.qualname.rsplit(".", 1)[-1]


def _title(loss) -> str:
    if loss.alternatives:
        return "Criterion (BCEWithLogitsLoss or CrossEntropyLoss) gets sigmoid outputs"
    return f"{_loss_name(loss)} gets sigmoid outputs (sigmoid applied twice)"


def _probe_loss(loss) -> str:
    return "BCEWithLogitsLoss" if loss.kind != "bce_logits" else loss.qualname.rsplit(".", 1)[-1]


def _where(model, origin: SigmoidOrigin) -> str:
    code = " ".join(origin.facts.module.code_for_node(origin.node).split())
    if len(code) > 50:
        code = code[:47] + "..."
    return f"`{code}` ({model.where(origin.node, origin.facts)})"


def _message(model, loss, origin: SigmoidOrigin) -> str:
    name = _loss_name(loss)
    if origin.via_forward is not None:
        source = f"`{origin.via_forward.name}.forward` returns sigmoid outputs from {_where(model, origin)}"
        advice = "Return the logits from forward and apply the sigmoid only for predictions"
    elif origin.node is loss.input:
        source = f"`{model.code(loss.input)}` is a sigmoid output"
        advice = "Pass the logits (keep the sigmoid for metrics and thresholds)"
    else:
        source = f"`{model.code(loss.input)}` holds sigmoid outputs from {_where(model, origin)}"
        advice = "Pass the logits (keep the sigmoid for metrics and thresholds)"
    if loss.alternatives:
        name = "BCEWithLogitsLoss (the criterion when it is not the CrossEntropyLoss chosen instead, " \
               "which also expects logits)"
    return (f"{source}, and {name} applies a sigmoid again: predictions are squeezed into (0.5, 0.73), "
            f"the loss of a positive target cannot go below 0.31 and gradients shrink, so training "
            f"plateaus. {advice}.")


def _wrapper_message(model, wrapper, origin: SigmoidOrigin) -> str:
    inner = wrapper.wrapped.qualname.rsplit(".", 1)[-1]
    if origin.via_forward is not None:
        source = f"`{origin.via_forward.name}.forward` returns sigmoid outputs from {_where(model, origin)}"
        advice = "Return the logits from forward and apply the sigmoid only for predictions"
    else:
        source = f"`{model.code(wrapper.input)}` holds sigmoid outputs from {_where(model, origin)}"
        advice = "Pass the logits (keep the sigmoid for metrics and thresholds)"
    where = model.where(wrapper.wrapped.inner.node, wrapper.wrapped.facts)
    return (f"{source}, and the loss module `{wrapper.wrapped.module.name}` hands them to {inner} ({where}), "
            f"which applies a sigmoid again: predictions are squeezed into (0.5, 0.73), the loss of a "
            f"positive target cannot go below 0.31 and gradients shrink, so training plateaus. {advice}.")


def _context(model, node, call, loss_name: str, origin: SigmoidOrigin) -> dict:
    if origin.via_forward is not None or origin.model_values:
        values = origin.model_values or model.values.at(node, call)
        found = {"sigmoid": "model", "loss": loss_name, **model_context(model, values)}
        if origin.item:  # the loss reads one item of the output (`out["flags"]`, `score, box = net(x)`)
            found["output_item"] = list(origin.item)
        return found
    found = {"sigmoid": "outside", "loss": loss_name}
    if origin.applied_to is not None and origin.facts is model.facts:
        sigmoid_call = model.facts.call_of.get(id(origin.node))
        if sigmoid_call is not None:
            found.update(model_context(model, model.values.at(origin.applied_to, sigmoid_call)))
    return found


def _fix(ctx, model, loss, origin: SigmoidOrigin):
    """Pass the sigmoid's input when the sigmoid is written at the loss call, or bound to
    a name whose input name means the same thing at the loss call."""
    if origin.via_forward is not None or origin.facts is not model.facts or origin.applied_to is None:
        return None
    logits = origin.applied_to
    if origin.node is loss.input:
        return ctx.fix("Pass the logits", ctx.replace(loss.input, logits), safe=False)
    if isinstance(loss.input, cst.Name) and isinstance(logits, cst.Name):
        sigmoid_call = model.facts.call_of.get(id(origin.node))
        bound = lookup(loss.call.scope, loss.input.value, loss.call.order)
        if sigmoid_call is None or bound is None or getattr(bound[1].fact, "value", None) is not origin.node:
            return None
        here = lookup(loss.call.scope, logits.value, loss.call.order)
        there = lookup(sigmoid_call.scope, logits.value, sigmoid_call.order)
        if here is not None and there is not None and here[1] is there[1]:
            return ctx.fix("Pass the logits", ctx.replace(loss.input, logits), safe=False)
    return None
