from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.phases import words
from torchlint.semantic.probe_context import model_context


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
                                   context=_context(model, loss))
            if divided and undivided:
                reference, norm = divided[0]
                for loss in undivided:
                    if id(loss) in reported:
                        continue
                    reported.add(id(loss))
                    ctx.report(loss.call.node, _mixed_message(model, loss, reference, norm),
                               context=_context(model, loss))
            for loss, norm in divided:
                if id(loss) in reported:
                    continue
                problem = _fixed_batch_size(model, loss, norm)
                if problem is not None:
                    reported.add(id(loss))
                    ctx.report(norm.node or loss.call.node, problem, context=_context(model, loss))

    @staticmethod
    def experiment(lab):
        """The summed loss of a batch of B vs the same samples tiled into a batch
        of 4·B: a sum grows with the batch (ratio 4), a mean would not (ratio 1)."""
        import copy

        torch = lab.torch
        functional = lab.F
        tile = 4
        name = lab.context.get("loss", "")
        by_class = name in ("CrossEntropyLoss", "cross_entropy", "NLLLoss", "nll_loss",
                            "MultiMarginLoss", "multi_margin_loss")
        binary = name in ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", "BCELoss",
                          "binary_cross_entropy")

        def loss_function():
            """(make(reduction), description): ``make(None)`` is the loss as the script
            builds it (its own construction where that evaluates in the script's
            namespace, else the torch loss with reduction='sum'), ``make("mean")`` the
            same loss averaged."""
            text = lab.context.get("loss_construct")
            if text:
                try:
                    made = lab.evaluate(text)
                except (NameError, AttributeError, TypeError, SyntaxError):
                    made = None
                if hasattr(made, "reduction"):
                    def with_reduction(reduction):
                        if reduction is None:
                            return made
                        changed = copy.copy(made)
                        changed.reduction = reduction
                        return changed
                    return with_reduction, text
            if lab.context.get("functional") and callable(getattr(functional, name, None)):
                function = getattr(functional, name)
                return (lambda reduction: lambda a, b: function(a, b, reduction=reduction or "sum")), \
                    f"F.{name}(..., reduction='sum')"
            if isinstance(getattr(lab.nn, name, None), type):
                return (lambda reduction: getattr(lab.nn, name)(reduction=reduction or "sum")), \
                    f"nn.{name}(reduction='sum')"
            raise lab.Inconclusive("experiment_error", f"cannot build the loss {name!r} in the sandbox")

        def batch_first(tensor, batch):
            """The tensor with its batch dimension (of size `batch`) first."""
            dim = next((d for d in range(tensor.dim()) if tensor.shape[d] == batch), 0)
            return tensor.movedim(dim, 0)

        make, described = loss_function()
        lab.assume("loss", described)
        if lab.context.get("class") or lab.context.get("construct"):
            model = lab.build_from_context()
            model.eval()
            inputs = lab.inputs(model)
            batch = inputs.batch_size
            with torch.no_grad():
                small = batch_first(lab.output_tensor(lab.forward(model, inputs)), batch)
                big = batch_first(lab.output_tensor(lab.forward(model, inputs.repeat(tile))), batch * tile)
        else:
            batch = lab.batch_size
            generator = torch.Generator().manual_seed(0)
            small = torch.randn(batch, 5, generator=generator)
            if name in ("NLLLoss", "nll_loss"):
                small = functional.log_softmax(small, dim=-1)
            big = small.repeat(tile, 1)
            lab.assume("predictions", f"float32[{batch},5] (no model output reaches this loss)")
        if name in ("BCELoss", "binary_cross_entropy") and (small.min() < 0 or small.max() > 1):
            small, big = torch.sigmoid(small), torch.sigmoid(big)
            lab.assume("predictions_sigmoid", "sigmoid applied so that BCELoss gets probabilities")
        if by_class:
            classes = small.shape[-1]
            small, big = small.reshape(-1, classes), big.reshape(-1, classes)
            targets = lab.class_targets(small)
        elif binary:
            targets = (torch.rand(small.shape, generator=torch.Generator().manual_seed(0)) > 0.5).float()
        else:
            targets = torch.randn(small.shape, generator=torch.Generator().manual_seed(0))
        big_targets = targets.repeat(tile, *([1] * (targets.dim() - 1)))
        summed, averaged = make(None), make("mean")
        loss_small, loss_big = float(summed(small, targets)), float(summed(big, big_targets))
        mean_small, mean_big = float(averaged(small, targets)), float(averaged(big, big_targets))
        if loss_small == 0 or mean_small == 0:
            return lab.inconclusive("experiment_error", "the loss is 0 on the probe's batch")
        ratio, mean_ratio = loss_big / loss_small, mean_big / mean_small
        numbers = dict(batch=batch, tiled_batch=batch * tile, loss_batch=loss_small,
                       loss_tiled_batch=loss_big, ratio=ratio, mean_ratio=mean_ratio)
        summary = (f"loss ratio {ratio:.1f} between batch {batch * tile} and batch {batch} tiled "
                   f"x{tile} ({lab.fmt(loss_big)} vs {lab.fmt(loss_small)}); with reduction='mean' the "
                   f"ratio is {mean_ratio:.1f}")
        if abs(ratio - tile) <= 1e-3 * tile:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary + ": the loss does not grow with the batch", **numbers)


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


def _context(model, loss) -> dict:
    found = {"loss": loss.qualname.rsplit(".", 1)[-1], "reduction": "sum", "functional": not loss.is_class}
    if loss.constructor is not None and loss.constructor_facts is model.facts:
        found["loss_construct"] = model.code(loss.constructor.node)
    if loss.input is not None:
        found.update(model_context(model, model.values.at(loss.input, loss.call)))
    return found
