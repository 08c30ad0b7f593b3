from __future__ import annotations

import libcst as cst

from torchlint.edits import replace_callee_attribute
from torchlint.findings import Severity
from torchlint.rule import Example, Rule


class LogSoftmaxBeforeCrossEntropy(Rule):
    """## What it does
    Finds log-probabilities (`log_softmax`, `nn.LogSoftmax`, or a `forward`
    that returns them) passed to `CrossEntropyLoss`/`F.cross_entropy`.

    ## Why is this bad?
    It is redundant, not wrong: `CrossEntropyLoss` applies `log_softmax`, and
    the log-softmax of log-probabilities is the same log-probabilities, so the
    loss equals `NLLLoss` on them. It costs an extra pass and misleads readers
    into thinking the model outputs logits (and others may then add a second
    softmax for predictions).

    ## Example
    ```python
    logp = F.log_softmax(model(x), dim=1)
    loss = F.cross_entropy(logp, y)
    ```

    ## Use instead
    ```python
    logp = F.log_softmax(model(x), dim=1)
    loss = F.nll_loss(logp, y)
    ```

    ## Fix safety
    The fix replaces `F.cross_entropy` with `F.nll_loss`, or
    `nn.CrossEntropyLoss(...)` with `nn.NLLLoss(...)` when every use of that
    loss receives log-probabilities; the arguments are kept. The loss value
    is identical, so the fix is safe. It is not offered when `label_smoothing`
    is set, which `NLLLoss` does not have.
    """

    code = "TL202"
    name = "log-softmax-before-cross-entropy"
    severity = Severity.WARNING
    fix_applicability = "safe"
    summary = "Log-probabilities are passed to CrossEntropyLoss (equal to NLLLoss)."

    VALID = [
        Example(
            """
import torch
import torch.nn.functional as F

logits = torch.randn(4, 3, requires_grad=True)
y = torch.tensor([0, 1, 2, 1])
loss = F.nll_loss(F.log_softmax(logits, dim=1), y)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn.functional as F

logits = torch.randn(4, 3, requires_grad=True)
y = torch.tensor([0, 1, 2, 1])
logp = F.log_softmax(logits, dim=1)
loss = F.cross_entropy(logp, y)  # expect: TL202
""",
            fixed="""
import torch
import torch.nn.functional as F

logits = torch.randn(4, 3, requires_grad=True)
y = torch.tensor([0, 1, 2, 1])
logp = F.log_softmax(logits, dim=1)
loss = F.nll_loss(logp, y)  # expect: TL202
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        losses = [loss for loss in model.losses.calls if loss.kind == "cross_entropy" and loss.input is not None]
        log_fed = {}
        for loss in losses:
            values = model.values.at(loss.input, loss.call)
            found = [v for v in values if v.kind == "log_probs"]
            if found and not any(v.kind == "probs" for v in values):
                log_fed[id(loss)] = found[0]
        for loss in losses:
            value = log_fed.get(id(loss))
            if value is None:
                continue
            origin = ""
            if value.origin is not None and value.facts is not None:
                origin = f" from `{' '.join(value.facts.module.code_for_node(value.origin).split())[:50]}` " \
                         f"({model.where(value.origin, value.facts)})"
            holder = f"`{value.via_forward.name}.forward` returns log-probabilities" if value.via_forward \
                else f"`{model.code(loss.input)}` holds log-probabilities"
            name = loss.qualname.rsplit(".", 1)[-1]
            nll = "NLLLoss" if loss.is_class else "F.nll_loss"
            ctx.report(
                loss.input,
                f"{holder}{origin if not value.via_forward else origin}; {name} applies log_softmax to "
                f"them again, which changes nothing: the loss equals {nll} on the same input. Use "
                f"{nll} to say what the code does.",
                fix=_fix(ctx, model, loss, losses, log_fed),
                context={"loss": name},
            )


def _fix(ctx, model, loss, losses, log_fed):
    if loss.option("label_smoothing") is not None:
        return None
    if not loss.is_class:
        func = loss.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "cross_entropy":
            return ctx.fix("Use `nll_loss`", ctx.replace(loss.call.node, replace_callee_attribute(
                loss.call.node, "nll_loss")))
        return None
    constructor = loss.constructor
    if constructor is None or loss.constructor_facts is not model.facts:
        return None
    sharing = [other for other in losses if other.constructor is constructor]
    if not all(id(other) in log_fed for other in sharing):
        return None  # the same loss also receives logits somewhere
    func = constructor.func
    if isinstance(func, cst.Attribute) and func.attr.value == "CrossEntropyLoss":
        return ctx.fix("Use `NLLLoss`", ctx.replace(constructor.node, replace_callee_attribute(
            constructor.node, "NLLLoss")))
    return None
