from __future__ import annotations

import libcst as cst

from torchlint.edits import replace_callee_attribute
from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.modules import literal_number
from torchlint.semantic.probe_context import softmax_context


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
        also_probs: set[int] = set()  # losses some other model choice feeds probabilities (TL201's)
        for loss in losses:
            values = model.values.at(loss.input, loss.call)
            found = [v for v in values if v.kind == "log_probs"]
            probs = [v for v in values if v.kind == "probs"]
            if found and (not probs or _other_models(found, probs)):
                log_fed[id(loss)] = found[0]
                if probs:
                    also_probs.add(id(loss))
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
                title=f"{name} gets log-probabilities (log_softmax twice; use {nll})",
                fix=_fix(ctx, model, loss, losses, log_fed) if id(loss) not in also_probs else None,
                context={"loss": name, "label_smoothing": literal_number(loss.option("label_smoothing")),
                         **softmax_context(model, value, model.values.at(loss.input, loss.call))},
            )
        for wrapper in model.losses.wrapper_calls:
            if wrapper.wrapped.kind != "cross_entropy" or wrapper.input is None:
                continue
            values = model.values.at(wrapper.input, wrapper.call)
            found = [v for v in values if v.kind == "log_probs"]
            if not found or any(v.kind == "probs" for v in values):
                continue
            ctx.report(wrapper.input, _wrapper_message(model, wrapper, found[0]),
                       title=f"{titles.name(wrapper.wrapped.qualname)} in a loss module gets log-probabilities",
                       context={"loss": wrapper.wrapped.qualname.rsplit(".", 1)[-1],
                                **softmax_context(model, found[0], values)})

    @staticmethod
    def experiment(lab):
        """The log-probabilities (the model's outputs, or the log_softmax of them
        where the script applies it) have logsumexp 0, so CrossEntropyLoss on them
        equals NLLLoss (with label smoothing: the smoothed NLL) on them."""
        torch = lab.torch
        functional = lab.F

        def written(tensor, dim):
            # Rows of exact zeros are positions the model never wrote (a buffer it fills step by
            # step, `outputs[t] = step_output` from t = 1): neither logits nor log-probabilities.
            return tensor.ne(0).any(dim=dim)

        def off_zero(tensor, dim):
            sums = tensor.logsumexp(dim=dim)
            kept = written(tensor, dim)
            return float((sums[kept] if bool(kept.any()) else sums).abs().max())

        model = lab.build_from_context()
        inputs = lab.inputs(model)
        model.eval()
        with torch.no_grad():
            outputs = lab.output_tensors(lab.forward(model, inputs))
        outside = lab.context.get("softmax") == "outside"
        output = outputs[0]
        if not outside and len(outputs) > 1:
            # Several heads: the one the finding is about holds log-probabilities, if any does.
            index = next((i for i, t in enumerate(outputs)
                          if any(off_zero(t, d) < 1e-4 for d in [-1, *range(t.dim() - 1)])), 0)
            output = outputs[index]
            lab.assume("output", f"returned tensor {index + 1} of {len(outputs)}")
        dim = lab.context.get("dim")
        if outside:
            dim = -1 if dim is None else dim
            logp = functional.log_softmax(output, dim=dim)
            lab.assume("log_softmax", f"applied to the model's output over dim {dim}, as the script does")
        else:
            # The dimension whose logsumexp is 0: the log_softmax's own dim first, but it
            # names a dim of the tensor where log_softmax ran, which the model may have
            # stacked into a bigger output (a decoder's steps): then the classes dim moved.
            logp = output
            dims = [d for d in (dim, -1, *range(logp.dim() - 1)) if d is not None and -logp.dim() <= d < logp.dim()]
            dim = next((d for d in dims if off_zero(logp, d) < 1e-4), dims[0] if dims else -1)
        deviation = off_zero(logp, dim)
        if deviation > 1e-4:
            return lab.refuted(f"the outputs are not log-probabilities: logsumexp over dim {dim} is up to "
                               f"{lab.fmt(deviation)} away from 0", logsumexp_deviation=deviation)
        classes = logp.shape[dim]
        flat = logp.movedim(dim, -1).reshape(-1, classes)
        kept = written(flat, -1)
        if bool(kept.any()) and not bool(kept.all()):
            lab.assume("rows_skipped", f"{int((~kept).sum())} of {len(flat)} rows of zeros "
                                       "(positions the model never wrote)")
            flat = flat[kept]
        targets = lab.class_targets(flat)
        smoothing = float(lab.context.get("label_smoothing") or 0.0)
        cross_entropy = functional.cross_entropy(flat, targets, label_smoothing=smoothing)
        nll = functional.nll_loss(flat, targets)
        reference = (1 - smoothing) * nll + smoothing * (-flat.mean(dim=-1)).mean()
        gap = abs(float(cross_entropy) - float(reference))
        numbers = dict(logsumexp_deviation=deviation, cross_entropy=cross_entropy, nll_loss=nll,
                       label_smoothing=smoothing, difference=gap)
        if smoothing:
            equals = (f"CrossEntropyLoss(label_smoothing={smoothing:g}) {lab.fmt(cross_entropy)} equals the "
                      f"smoothed NLLLoss {lab.fmt(reference)} on them")
        else:
            equals = f"CrossEntropyLoss {lab.fmt(cross_entropy)} equals NLLLoss {lab.fmt(nll)} on them"
        def tiny(number):  # float rounding (1.19e-07) is shown as what it is
            return "< 1e-6" if number < 1e-6 else lab.fmt(number)

        summary = f"outputs are log-probabilities (|logsumexp| {tiny(deviation)}); {equals} (|diff| {tiny(gap)})"
        if gap > 1e-5 * max(1.0, abs(float(reference))):
            return lab.refuted(summary.replace("equals", "differs from"), **numbers)
        return lab.confirmed_redundant(summary, **numbers)


def _wrapper_message(model, wrapper, value) -> str:
    """For log-probabilities given to a project loss module that hands them to
    cross_entropy."""
    wrapped = wrapper.wrapped
    holder = f"`{value.via_forward.name}.forward` returns log-probabilities" if value.via_forward \
        else f"`{model.code(wrapper.input)}` holds log-probabilities"
    origin = ""
    if value.origin is not None and value.facts is not None:
        origin = f" from `{' '.join(value.facts.module.code_for_node(value.origin).split())[:50]}` " \
                 f"({model.where(value.origin, value.facts)})"
    inner = wrapped.qualname.rsplit(".", 1)[-1]
    return (f"{holder}{origin}; `{wrapped.module.name}` passes them to {inner} "
            f"({model.where(wrapped.inner.node, wrapped.facts)}), which applies log_softmax to them "
            f"again: that changes nothing, the loss equals NLLLoss on the same input. Pass the logits, "
            f"or make the loss module use nll_loss, to say what the code does.")


def _other_models(log_probs, probs) -> bool:
    """The log-probabilities and the probabilities come out of different model classes
    (`get_model(args)` builds a CNN ending in log_softmax or an MLP ending in softmax):
    each choice is wrong its own way, and TL201 reports the other one."""
    log_models = {id(v.via_forward) for v in log_probs}
    prob_models = {id(v.via_forward) for v in probs}
    return None not in {v.via_forward for v in log_probs} | {v.via_forward for v in probs} \
        and not log_models & prob_models


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
