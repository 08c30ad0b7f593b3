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
            per_batch = [(l, n) for l, n in divided if _counts_batches(model, l, n.divisor)]
            per_sample = [(l, n) for l, n in divided if not _counts_batches(model, l, n.divisor)]
            if per_batch and per_sample:
                reference, norm = per_sample[0]
                for loss, batch_norm in per_batch:
                    if id(loss) not in reported:
                        reported.add(id(loss))
                        ctx.report(batch_norm.node or loss.call.node,
                                   _batch_count_message(model, loss, batch_norm, reference, norm),
                                   context=_context(loss))
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


_BATCH_COUNT_WORDS = ({"num", "batches"}, {"n", "batches"}, {"batch", "count"}, {"steps"}, {"iters"})


def _counts_batches(model, loss, divisor) -> bool:
    """`len(loader)`, `len(losses)`, `num_batches`: a number of batches, not of samples."""
    text = model.code(divisor)
    if isinstance(divisor, cst.Call) and model.code(divisor.func) == "len" and divisor.args:
        inner = divisor.args[0].value
        if isinstance(inner, cst.Attribute) and inner.attr.value == "dataset":
            return False  # len(loader.dataset): samples
        inner_words = words(model.code(inner))
        if inner_words & {"loader", "dl", "batches", "losses", "iterator"}:
            return True
        values = model.values.at(inner, loss.call)
        return any(v.kind == "loader" for v in values)
    found = words(text)
    return any(group <= found for group in _BATCH_COUNT_WORDS)


def _batch_count_message(model, loss, norm, reference, reference_norm) -> str:
    return (f"This sum-reduced loss is averaged over batches (divided by `{model.code(norm.divisor)}`), "
            f"but {_describe(model, reference)} it is divided by `{model.code(reference_norm.divisor)}`, a "
            f"number of samples: a mean over batches of per-batch sums is about batch_size times larger, "
            f"so the two numbers are not comparable. Divide by the number of samples here too "
            f"(e.g. `len(loader.dataset)`), or use reduction='mean'.")


def _describe(model, loss) -> str:
    function = loss.call.scope.function
    where = f"in `{function.name}()`" if function is not None else "at module level"
    return f"{where} ({model.where(loss.call.node)})"


def _how_summed(model, loss) -> str:
    node = loss.reduction_node
    return model.code(node) if node is not None and loss.option("reduction") is None else "reduction='sum'"


def _mixed_message(model, loss, reference, norm) -> str:
    name = loss.qualname.rsplit(".", 1)[-1]
    divisor = model.code(norm.divisor)
    summed = _how_summed(model, loss)
    summed = f"size_average={summed}" if "=" not in summed else summed
    return (f"This {name} sums over the batch ({summed}) and is used here without normalization, "
            f"but {_describe(model, reference)} the same loss is divided by `{divisor}`: the two "
            f"values are on different scales (one grows with the number of samples), so curves and "
            f"comparisons mislead and the effective learning rate differs. Normalize it on every path "
            f"by the count of what it sums (samples, unmasked elements or their weights), or use "
            f"reduction='mean'.")


def _fixed_batch_size(model, loss, norm) -> str | None:
    """Dividing by a constant `batch_size` inside a loop over a loader whose last
    batch is smaller."""
    divisor = norm.divisor
    text = model.code(divisor)
    if not {"batch", "size"} <= words(text) and "bs" not in words(text):
        return None
    constant = model.data.constant(divisor, loss.call.scope, loss.call.order)
    if constant is None:
        return None  # `batch_size = x.size(0)` measured per batch is right
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
