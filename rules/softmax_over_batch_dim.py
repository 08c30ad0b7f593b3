from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup


class SoftmaxOverBatchDim(Rule):
    """## What it does
    Finds `softmax`/`log_softmax` (functional, `torch.*`, the tensor method,
    or `nn.Softmax`/`nn.LogSoftmax`) applied over dim 0 of a model's
    (batch, classes) output, and softmax calls with no `dim` at all.

    ## Why is this bad?
    Over dim 0 the probabilities of each class are normalized across the
    samples of the batch, not across the classes of each sample: every
    prediction depends on the other samples in its batch, rows no longer sum
    to one, and accuracy changes with the batch size. Without `dim`, PyTorch
    picks a dimension implicitly (dim 0 for 1-D and 3-D inputs, dim 1 for
    2-D and 4-D) and warns that this is deprecated.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=0)
    ```

    ## Use instead
    ```python
    probs = F.softmax(model(x), dim=1)  # or dim=-1
    ```

    ## Fix safety
    There is no automatic fix: the class dimension depends on the output
    layout (`dim=1` for (B, C) and (B, C, H, W), `dim=-1` for (B, T, C)).
    Softmax over dim 0 of a time-first tensor (attention over time steps) is
    not reported.
    """

    code = "TL204"
    name = "softmax-over-batch-dim"
    severity = Severity.ERROR
    summary = "Softmax normalizes over the batch dimension (or has no dim)."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(8, 3)
x = torch.randn(4, 8)
probs = F.softmax(model(x), dim=1)
scores = torch.randn(10)
weights = F.softmax(scores, dim=0)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(8, 3)
x = torch.randn(4, 8)
probs = F.softmax(model(x), dim=0)  # expect: TL204
head = nn.Softmax()  # expect: TL204
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        symbols = model.symbols
        for call in model.facts.calls:
            qualified = model.callee(call)
            kind = symbols.function_kind(qualified)
            layer_kind = symbols.layer_kind(qualified)
            if layer_kind in ("softmax", "log_softmax") and qualified != "torch.nn.Softmax2d":
                dim = call.argument(0, "dim")
                if dim is None:
                    ctx.report(call.node, _implicit_message(model.code(call.func)),
                               context={"dim": None})
                continue
            if kind in ("softmax", "log_softmax"):
                tensor, dim = call.argument(0, "input"), call.argument(1, "dim")
            elif call.method in ("softmax", "log_softmax") and qualified is None and call.receiver is not None:
                tensor, dim = call.receiver, call.argument(0, "dim")
            else:
                continue
            if dim is None:
                if kind is not None:  # the tensor method requires dim; only functions default it
                    ctx.report(call.node, _implicit_message(model.code(call.func)), context={"dim": None})
                continue
            if literal_number(dim) != 0 or tensor is None:
                continue
            if _is_model_output(model, tensor, call):
                ctx.report(
                    dim,
                    f"`{model.code(call.node)[:60]}` normalizes over dim 0, the batch of the model's "
                    f"(batch, classes) output: each sample's probabilities then depend on the other "
                    f"samples in its batch and rows no longer sum to 1. Use dim=1 (or dim=-1).",
                    context={"dim": 0},
                )


def _implicit_message(name: str) -> str:
    return (f"`{name}` without `dim` lets PyTorch pick the dimension: dim 0 for 1-D and 3-D inputs, "
            f"so a (batch, time, classes) output is normalized across the batch. The implicit choice "
            f"is deprecated; pass `dim=` explicitly (usually dim=-1 or dim=1).")


def _drops_batch(model, tensor: cst.BaseExpression, call) -> bool:
    """`output[0]` or `.squeeze(0)`: one sample of the batch, so dim 0 is the classes."""
    for _ in range(3):
        if isinstance(tensor, cst.Subscript) and tensor.slice and \
                isinstance(tensor.slice[0].slice, cst.Index) and isinstance(tensor.slice[0].slice.value, cst.Integer):
            return True
        if isinstance(tensor, cst.Call) and isinstance(tensor.func, cst.Attribute):
            if tensor.func.attr.value in ("squeeze", "squeeze_"):
                return True
            if tensor.func.attr.value in ("detach", "cpu", "float", "to", "clone"):
                tensor = tensor.func.value
                continue
        if isinstance(tensor, cst.Name):
            found = lookup(call.scope, tensor.value, call.order)
            if found is not None and isinstance(found[1].fact, F.Assign) and found[1].fact.kind == "assign" \
                    and not found[1].path and found[1].fact.value is not None:
                tensor = found[1].fact.value
                continue
        return False
    return False


def _is_model_output(model, tensor: cst.BaseExpression, call) -> bool:
    """The softmax input is what a model returned (batch first), not a tensor made
    inside a model (attention scores over a time-first sequence are fine)."""
    if _drops_batch(model, tensor, call):
        return False
    values = model.values.at(tensor, call)
    if any(v.kind == "model_output" and (v.module is not None or v.layer is not None) for v in values):
        return model.enclosing_module(call.scope) is None
    return False
