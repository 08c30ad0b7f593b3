from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.conditions import literal
from torchlint.semantic.names import lookup
from torchlint.semantic.probe_context import softmax_context


# Losses that take logits or log-probabilities: probabilities are wrong for each.
_WANT_NO_PROBS = frozenset({"cross_entropy", "nll", "ctc", "kl_div"})


class SoftmaxBeforeCrossEntropy(Rule):
    """## What it does
    Finds probabilities (the output of `softmax`, `nn.Softmax` or
    `.softmax()`, also when a model's `forward` returns them) passed to
    `CrossEntropyLoss`/`F.cross_entropy`, or to `NLLLoss`/`F.nll_loss`, which
    expect logits and log-probabilities respectively. Probabilities that only
    weight log-probabilities (a focal term) are not; nor are those a model makes
    only in eval mode (`if not self.training:`) when the loss trains.

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` itself. On probabilities it
    computes the softmax of a softmax: the loss can never approach zero, its
    gradients shrink by an order of magnitude, and training stalls at a poor
    accuracy. `NLLLoss` on probabilities (instead of their log) yields a loss
    in [-1, 0] whose gradient ignores how wrong the prediction is.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=1)
    loss = nn.CrossEntropyLoss()(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = nn.CrossEntropyLoss()(logits, y)
    probs = F.softmax(logits, dim=1)  # for metrics only
    ```

    ## Fix safety
    Where the softmax is applied right at the loss call, the fix passes its
    input (the logits) instead. It is unsafe: if the input was not logits the
    loss changes meaning. When `forward` returns probabilities there is no
    automatic fix; the message points at the line that applies the softmax.
    """

    code = "TL201"
    name = "softmax-before-cross-entropy"
    severity = Severity.ERROR
    fix_applicability = "unsafe"
    summary = "Probabilities from softmax are passed to CrossEntropyLoss or NLLLoss."

    VALID = [
        Example(
            """
import torch
import torch.nn.functional as F

logits = torch.randn(4, 3, requires_grad=True)
y = torch.tensor([0, 1, 2, 1])
loss = F.cross_entropy(logits, y)
accuracy = (F.softmax(logits, dim=1).argmax(1) == y).float().mean()
nll = F.nll_loss(torch.log(F.softmax(logits, dim=1)), y)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn
import torch.nn.functional as F

logits = torch.randn(4, 3, requires_grad=True)
y = torch.tensor([0, 1, 2, 1])
criterion = nn.CrossEntropyLoss()
loss = criterion(F.softmax(logits, dim=1), y)  # expect: TL201
""",
            fixed="""
import torch
import torch.nn as nn
import torch.nn.functional as F

logits = torch.randn(4, 3, requires_grad=True)
y = torch.tensor([0, 1, 2, 1])
criterion = nn.CrossEntropyLoss()
loss = criterion(logits, y)  # expect: TL201
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        # A criterion that may be one of several losses is reported only when every
        # one of them wants logits or log-probabilities, never probabilities.
        ambiguous = [loss for loss in model.losses.ambiguous_calls if set(loss.alternatives) <= _WANT_NO_PROBS]
        for loss in [*model.losses.calls, *ambiguous]:
            if loss.kind not in ("cross_entropy", "nll") or loss.input is None:
                continue
            found = _probabilities(model, loss.input, loss.call)
            if found is None:
                continue
            value, values = found
            ctx.report(
                loss.input,
                _message(model, loss, value),
                title=_title(loss),
                fix=_fix(ctx, model, loss, value),
                context={**_context(model, loss.qualname, value, values),
                         "call_keywords": _literal_keywords(loss.input) if value.via_forward else {}},
            )
        for wrapper in model.losses.wrapper_calls:
            if wrapper.wrapped.kind not in ("cross_entropy", "nll") or wrapper.input is None:
                continue
            found = _probabilities(model, wrapper.input, wrapper.call)
            if found is None:
                continue
            value, values = found
            ctx.report(
                wrapper.input,
                _wrapper_message(model, wrapper, value),
                title=f"{titles.name(wrapper.wrapped.qualname)} gets probabilities through a loss module, not logits",
                context=_context(model, wrapper.wrapped.qualname, value, values),
            )

    @staticmethod
    def experiment(lab):
        """The probabilities (the model's outputs, or the softmax of them where the
        script applies it): non-negative, summing to 1; then the gradient norm of
        the loss on them vs on the logits, over the model's parameters."""
        torch = lab.torch
        functional = lab.F

        def row_error(tensor, dim):
            return float((tensor.detach().sum(dim=dim) - 1).abs().max())

        def gradient_norm(loss, params):
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))

        def distribution(tensor):
            dims = [-1, *range(tensor.dim() - 1)]
            return float(tensor.detach().min()) >= 0 and any(row_error(tensor, d) < 1e-4 for d in dims)

        model = lab.build_from_context()
        inputs = lab.inputs(model)
        keywords = lab.context.get("call_keywords") or {}
        if keywords:  # `model(x, softmax=True)`: the flags the script passes decide what it returns
            lab.assume("call_keywords", f"the model called with {keywords}, as the script calls it")
            outputs = lab.output_tensors(model(*inputs.args, **{**inputs.kwargs, **keywords}))
        else:
            outputs = lab.output_tensors(lab.forward(model, inputs))
        outside = lab.context.get("softmax") == "outside"
        dim = lab.context.get("dim")
        output = outputs[0]
        if not outside and len(outputs) > 1:
            # Several heads (a GAN discriminator's validity and class outputs): the one
            # the finding is about is the one that holds probabilities, if any does.
            index = next((i for i, t in enumerate(outputs) if distribution(t)), 0)
            output = outputs[index]
            lab.assume("output", f"returned tensor {index + 1} of {len(outputs)}"
                       + (" (the one holding probabilities)" if distribution(output) else ""))
        if outside:
            dim = -1 if dim is None else dim
            probs = functional.softmax(output, dim=dim)
            lab.assume("softmax", f"applied to the model's output over dim {dim}, as the script does")
        else:
            probs = output
            if dim is None:  # the dimension the outputs sum to 1 over, classes last by preference
                dims = [-1, *range(probs.dim() - 1)]
                dim = next((d for d in dims if row_error(probs, d) < 1e-4), -1)
        lowest = float(probs.detach().min())
        error = row_error(probs, dim)
        if lowest < 0 or error > 1e-4:
            return lab.refuted(f"the outputs are not probabilities: min {lab.fmt(lowest)}, sums over dim "
                               f"{dim} off 1 by up to {lab.fmt(error)}", min=lowest, sum_error=error)
        classes = probs.shape[dim]
        flat = probs.movedim(dim, -1).reshape(-1, classes)
        logits = output.movedim(dim, -1).reshape(-1, classes) if outside else \
            torch.log(flat.clamp_min(1e-30))  # the logits up to a per-row constant: CE is the same
        targets = lab.class_targets(flat)
        nll = lab.context.get("loss") in ("NLLLoss", "nll_loss")
        name = "NLLLoss" if nll else "CrossEntropyLoss"
        on_probs = (functional.nll_loss if nll else functional.cross_entropy)(flat, targets)
        right = functional.cross_entropy(logits, targets)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return lab.inconclusive("experiment_error", "the model has no trainable parameters to take "
                                    "gradients of")
        with_softmax, on_logits = gradient_norm(on_probs, params), gradient_norm(right, params)
        numbers = dict(min=lowest, sum_error=error, classes=classes, loss_on_probs=on_probs,
                       loss_on_logits=right, grad_norm_with_softmax=with_softmax,
                       grad_norm_on_logits=on_logits)
        wrong = "on probabilities" if nll else "with softmax"
        right_text = "CrossEntropyLoss on logits" if nll else "on logits"
        within = "1e-6" if error < 1e-6 else lab.fmt(error)  # float rounding shows as 1.19e-07
        return lab.confirmed(
            f"outputs are probabilities (min {lab.fmt(lowest)}, rows sum to 1 within {within}); "
            f"{name} gradient norm {lab.fmt(with_softmax)} {wrong} vs {lab.fmt(on_logits)} {right_text} "
            f"(loss {lab.fmt(on_probs)} vs {lab.fmt(right)})", **numbers)


def _first_in_source(model, probs):
    """The probabilities made first in the project's source (file, line, model
    class): a set of values has no order of its own (it follows memory
    addresses), and a finding must name the same model and softmax on every run."""
    def place(value):
        if value.origin is None:
            return ("", 0, value.via_forward.name if value.via_forward else "")
        facts = value.facts or model.file_of_node(value.origin)
        path = model.path_of(facts)
        return (str(path) if path is not None else "", model.line_of(value.origin, facts),
                value.via_forward.name if value.via_forward else "")
    return min(probs, key=place)


def _origin_text(model, value) -> str:
    if value.origin is None:
        return "softmax"
    where = model.where(value.origin, value.facts)
    code = " ".join(value.facts.module.code_for_node(value.origin).split()) if value.facts else "softmax"
    if len(code) > 50:
        code = code[:47] + "..."
    return f"`{code}` ({where})"


def _title(loss) -> str:
    name = loss.qualname.rsplit(".", 1)[-1]
    if loss.kind == "nll":
        return f"{name} gets probabilities from softmax, not log-probabilities"
    return f"{name} gets probabilities from softmax, not logits"


def _message(model, loss, value) -> str:
    name = loss.qualname.rsplit(".", 1)[-1]
    origin = _origin_text(model, value)
    if value.via_forward is not None:
        source = f"`{value.via_forward.name}.forward` returns probabilities from {origin}"
        advice = "Return the logits from forward and apply softmax only for predictions"
    else:
        source = f"`{model.code(loss.input)}` holds probabilities from {origin}"
        advice = "Pass the logits (keep softmax for metrics)"
    if loss.kind == "nll":
        return (f"{source}, but {name} expects log-probabilities: on probabilities the loss lies in "
                f"[-1, 0] and its gradient ignores how wrong a prediction is. Use log_softmax, or "
                f"CrossEntropyLoss on the logits.")
    return (f"{source}, and {name} applies log_softmax again: the loss cannot approach zero and "
            f"its gradients shrink, so training stalls. {advice}.")


def _wrapper_message(model, wrapper, value) -> str:
    """For probabilities given to a project loss module that hands them to
    cross_entropy or nll_loss."""
    wrapped = wrapper.wrapped
    origin = _origin_text(model, value)
    if value.via_forward is not None:
        source = f"`{value.via_forward.name}.forward` returns probabilities from {origin}"
    else:
        source = f"`{model.code(wrapper.input)}` holds probabilities from {origin}"
    inner = wrapped.qualname.rsplit(".", 1)[-1]
    where = model.where(wrapped.inner.node, wrapped.facts)
    if wrapped.kind == "nll":
        return (f"{source}; `{wrapped.module.name}` passes them to {inner} ({where}), which expects "
                f"log-probabilities: the loss lies in [-1, 0] and its gradient ignores how wrong a "
                f"prediction is. Pass log-probabilities, or logits to a cross-entropy loss.")
    return (f"{source}; `{wrapped.module.name}` passes them to {inner} ({where}), which applies "
            f"log_softmax again: the loss cannot approach zero and its gradients shrink, so training "
            f"stalls. Pass the logits (keep softmax for metrics).")


def _fix(ctx, model, loss, value):
    """Pass the softmax's input when the softmax is written at the loss call or
    bound to a local just before."""
    if loss.kind != "cross_entropy" or value.via_forward is not None or value.facts is not model.facts:
        return None
    origin = value.origin
    if not isinstance(origin, cst.Call) or not origin.args:
        return None
    logits = _softmax_input(model, origin)
    if logits is None:
        return None
    if origin is loss.input:
        return ctx.fix("Pass the logits", ctx.replace(loss.input, logits), safe=False)
    if isinstance(loss.input, cst.Name) and isinstance(logits, cst.Name):
        softmax_call = model.facts.call_of.get(id(origin))
        here = lookup(loss.call.scope, logits.value, loss.call.order)
        there = lookup(softmax_call.scope, logits.value, softmax_call.order) if softmax_call else None
        if here is not None and there is not None and here[1] is there[1]:
            return ctx.fix("Pass the logits", ctx.replace(loss.input, logits), safe=False)
    return None


def _softmax_input(model, call: cst.Call) -> cst.BaseExpression | None:
    """The tensor a softmax call normalizes: ``F.softmax(x)`` -> x, ``x.softmax(1)`` -> x."""
    fact = model.facts.call_of.get(id(call))
    if fact is not None and model.function_kind(fact) == "softmax":
        return fact.argument(0, "input")
    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "softmax":
        return call.func.value
    return None


def _literal_keywords(node) -> dict:
    """The literal keyword arguments of a model call written as the loss's input
    (`decoder(x, softmax=True)`), for the probe to call the model the same way."""
    if not isinstance(node, cst.Call):
        return {}
    found = {}
    for arg in node.args:
        if arg.keyword is not None:
            value = literal(arg.value)
            if isinstance(value, (bool, int, float, str)) or value is None and isinstance(arg.value, cst.Name):
                found[arg.keyword.value] = value
    return found


def _probabilities(model, node, call):
    """(the first probabilities in source order, every value) `node` may hold
    where `call` gives it to a loss; None when it holds no probabilities. A model
    that makes its probabilities only in eval mode gives logits to a training step."""
    values = model.values.at(node, call)
    probs = [v for v in values if v.kind == "probs"]
    if probs and _trains(model, call):
        probs = [v for v in probs if not model.values.eval_mode_only(v)]
    return (_first_in_source(model, probs), values) if probs else None


def _trains(model, call) -> bool:
    """The loss at `call` is part of a training step: its loop or function backpropagates,
    or the function's result reaches a backward where it is called."""
    phases = model.phases
    if call.loop is not None and phases.trains(call.loop, call.scope):
        return True
    function = call.scope.function
    return function is not None and (phases.trains(function, function) or phases.feeds_training(function))


def _context(model, loss_qualname: str, value, values) -> dict:
    """The probe's context: the loss, the model class whose forward makes the
    probabilities, and where the softmax is."""
    return {"loss": loss_qualname.rsplit(".", 1)[-1],
            "class": value.via_forward.name if value.via_forward else None,
            **softmax_context(model, value, values)}
