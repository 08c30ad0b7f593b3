from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.phases import words


class InconsistentSumReduction(Rule):
    """## What it does
    Finds a loss summed over the batch (`reduction="sum"`, or the legacy
    `size_average=False`) that is normalized differently in different places:
    divided on one branch and not on the other, divided in training but not in
    validation, or divided by a fixed `batch_size` although the last batch of
    the loader is smaller.

    ## Why is this bad?
    A summed loss grows with the number of samples it covers. When one branch
    divides it and another does not, or training divides and validation does
    not, the numbers you compare (train vs. validation curves, weighted vs.
    unweighted runs) are on different scales, and the effective learning rate
    changes with the batch: a learning rate tuned for a mean loss is
    `batch_size` times too large on a sum. Dividing by a fixed `batch_size`
    over-weights the samples of a smaller last batch.

    ## Example
    ```python
    criterion = nn.NLLLoss(weight=w, reduction="sum")
    if weighted:
        loss = criterion(logp, y) / w[y].sum()
    else:
        loss = criterion(logp, y)
    ```

    ## Use instead
    ```python
    criterion = nn.NLLLoss(weight=w, reduction="sum")
    if weighted:
        loss = criterion(logp, y) / w[y].sum()
    else:
        loss = criterion(logp, y) / len(y)
    ```

    ## Fix safety
    There is no automatic fix: the right normalizer (number of samples, sum
    of class weights, number of unmasked tokens) depends on what the loss
    should mean. The message names the places that disagree.
    """

    code = "TL203"
    name = "inconsistent-sum-reduction"
    severity = Severity.ERROR
    summary = "A sum-reduced loss is normalized differently in different places."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

criterion = nn.CrossEntropyLoss(reduction="sum")


def step(out, y):
    return criterion(out, y) / len(y)


def validate(out, y):
    return criterion(out, y) / y.size(0)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

criterion = nn.CrossEntropyLoss(reduction="sum")


def compute(out, y, normalize):
    if normalize:
        return criterion(out, y) / len(y)
    return criterion(out, y)  # expect: TL203
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        summed = [loss for loss in model.losses.calls if loss.reduction == "sum"]
        groups: dict[int, list] = {}
        for loss in summed:
            key = id(loss.constructor) if loss.constructor is not None else id(loss.call.scope)
            groups.setdefault(key, []).append(loss)
        reported: set[int] = set()
        for group in groups.values():
            normalized = [(loss, model.losses.normalization(loss)) for loss in group]
            divided = [(l, n) for l, n in normalized if n.divisor is not None]
            undivided = [l for l, n in normalized if n.divisor is None]
            if divided and undivided:
                reference, norm = divided[0]
                for loss in undivided:
                    if id(loss) in reported:
                        continue
                    reported.add(id(loss))
                    ctx.report(loss.call.node, _mixed_message(model, loss, reference, norm),
                               context=_context(loss))
            for loss, norm in divided:
                if id(loss) in reported:
                    continue
                problem = _fixed_batch_size(model, loss, norm)
                if problem is not None:
                    reported.add(id(loss))
                    ctx.report(norm.node or loss.call.node, problem, context=_context(loss))


def _describe(model, loss) -> str:
    function = loss.call.scope.function
    where = f"in `{function.name}()`" if function is not None else "at module level"
    return f"{where} ({model.where(loss.call.node)})"


def _mixed_message(model, loss, reference, norm) -> str:
    name = loss.qualname.rsplit(".", 1)[-1]
    divisor = model.code(norm.divisor)
    return (f"This {name} sums over the batch (reduction='sum') and is used here without "
            f"normalization, but {_describe(model, reference)} the same loss is divided by "
            f"`{divisor}`: the two values are on different scales (one grows with the number of "
            f"samples), so curves and comparisons mislead and the effective learning rate differs. "
            f"Normalize it the same way everywhere (divide by `{divisor}` here too), or use "
            f"reduction='mean'.")


def _fixed_batch_size(model, loss, norm) -> str | None:
    """Dividing by a constant `batch_size` inside a loop over a loader whose last
    batch is smaller."""
    divisor = norm.divisor
    text = model.code(divisor)
    if not {"batch", "size"} <= words(text) and "bs" not in words(text):
        return None
    constant = model.data.constant(divisor, loss.call.scope, loss.call.order)
    loop = loss.call.loop
    while loop is not None:
        for loader in model.data.loaders_iterated(loop):
            if loader.drop_last is not False or loader.batch_size is None:
                continue
            size = loader.batch_size.value
            if constant is not None and constant.value != size:
                continue
            length = loader.dataset_length
            if length is not None and isinstance(size, int) and size > 0 and length.value % size == 0:
                return None
            last = (f"{length.value} % {size} = {length.value % size} samples"
                    if length is not None and isinstance(size, int) and size > 0
                    else f"len(dataset) % {size} samples, fewer than {size}")
            return (f"This sum-reduced loss is divided by the fixed `{text}`, but the loader "
                    f"({model.where(loader.call.node)}) keeps a smaller last batch ({last}): that "
                    f"batch's loss is scaled down and its samples count less. Divide by the actual "
                    f"batch size (`len(y)` or `x.size(0)`), use reduction='mean', or pass "
                    f"drop_last=True.")
        loop = loop.parent
    return None


def _context(loss) -> dict:
    return {"loss": loss.qualname.rsplit(".", 1)[-1], "reduction": "sum"}
