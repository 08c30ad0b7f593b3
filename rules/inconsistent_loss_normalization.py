from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.losses import Scale, strip_scalar
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.phases import words
from torchlint.semantic.probe_context import model_context, model_through_function
from torchlint.semantic.walker import iter_nodes


class InconsistentLossNormalization(Rule):
    """## What it does
    Finds losses normalized by the wrong count, or by different counts in
    places that should agree:

    - a summed loss (`reduction="sum"`, `size_average=False`) divided on one
      path and not on another, or by a fixed `batch_size` although the
      loader keeps a smaller last batch;
    - per-batch losses added up over an epoch and divided by the wrong
      count: per-batch **means** divided by the number of samples
      (`len(loader.dataset)`), per-batch **sums** averaged over the number of
      batches (`len(loader)`, `np.mean(losses)`), or a divisor taken from
      another loader than the one summed over;
    - a mean loss divided again by the batch size, or a value divided twice by
      the same count;
    - a mean term added to a summed term (a VAE's mean reconstruction loss plus
      a KL divergence summed over the batch);
    - an element-wise loss (MSE, L1, BCE) summed and divided by the batch size
      in one place but averaged over every element in another.

    ## Why is this bad?
    A mean does not change with the batch size; a sum grows with it. Dividing
    an epoch's total of per-batch means by the number of samples shrinks the
    reported loss by the batch size; averaging per-batch sums over batches
    inflates it by the batch size; dividing a mean again by the batch size
    shrinks the gradient (an effective learning rate batch_size times too
    small). When a mean and a sum are added, the summed term dominates by a
    factor of the batch size and the weighting between the terms changes with
    it. Train and validation numbers normalized differently cannot be
    compared, so early stopping and model selection read the wrong curve.

    ## Example
    ```python
    criterion = nn.CrossEntropyLoss()  # mean over the batch
    total = 0.0
    for x, y in val_loader:
        total += criterion(model(x), y).item()
    print(total / len(val_loader.dataset))
    ```

    ## Use instead
    ```python
    criterion = nn.CrossEntropyLoss()
    total = 0.0
    for x, y in val_loader:
        total += criterion(model(x), y).item() * x.size(0)
    print(total / len(val_loader.dataset))  # or: sum of means / len(val_loader)
    ```

    ## Fix safety
    There is no automatic fix: the right normalizer (number of samples, sum
    of class weights, number of unmasked tokens, number of batches) depends on
    what the number should mean. The message names the divisor to use.
    """

    code = "TL203"
    name = "inconsistent-loss-normalization"
    severity = Severity.ERROR
    summary = "A loss is normalized by the wrong count, or differently in different places."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

criterion = nn.CrossEntropyLoss(reduction="sum")


def step(out, y):
    return criterion(out, y) / len(y)


def validate(model, loader):
    total = 0.0
    for x, y in loader:
        total += criterion(model(x), y).item()
    return total / len(loader.dataset)
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
        Example(
            """
import torch
import torch.nn as nn

criterion = nn.MSELoss()


def validate(model, loader):
    total = 0.0
    for x, y in loader:
        total += criterion(model(x), y).item()
    return total / len(loader.dataset)  # expect: TL203
"""
        ),
    ]

    def check(self, ctx) -> None:
        reported: set[int] = set()
        explained: set[int] = set()  # losses whose normalization an earlier problem already reports
        for problem in (_summed_losses, _accumulated, _mean_divided_by_batch, _mixed_terms, _divided_twice,
                        _elementwise_sum_vs_mean):
            found_here: set[int] = set()
            for node, (title, message), loss in problem(ctx.model):
                origin = id(loss.origin if isinstance(loss, Scale) else loss.call.node)
                if id(node) in reported or origin in explained:
                    continue
                reported.add(id(node))
                found_here.add(origin)
                ctx.report(node, message, title=title, context=_context(ctx.model, loss, node))
            explained |= found_here

    @staticmethod
    def experiment(lab):
        """The loss of a batch of B vs the same samples tiled into a batch of 4·B:
        a sum grows with the batch (ratio 4), a mean does not (ratio 1). The finding
        rests on one of the two (`reduction` in its context); the ratio shows which."""
        import copy

        torch = lab.torch
        functional = lab.F
        tile = 4
        name = lab.context.get("loss", "")
        claimed = "mean" if lab.context.get("reduction") == "mean" else "sum"
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
                return (lambda reduction: lambda a, b: function(a, b, reduction=reduction or claimed)), \
                    f"F.{name}(..., reduction='{claimed}')"
            if isinstance(getattr(lab.nn, name, None), type):
                return (lambda reduction: getattr(lab.nn, name)(reduction=reduction or claimed)), \
                    f"nn.{name}(reduction='{claimed}')"
            raise lab.Inconclusive("experiment_error", f"cannot build the loss {name!r} in the sandbox")

        def batch_first(tensor, batch):
            """The tensor with its batch dimension (of size `batch`) first."""
            dim = next((d for d in range(tensor.dim()) if tensor.shape[d] == batch), 0)
            return tensor.movedim(dim, 0)

        def model_predictions():
            """(batch, the model's output on a batch, on that batch tiled), or None when the
            script's model does not run here (the reason recorded)."""
            try:
                model = lab.build_from_context()
                model.eval()
                inputs = lab.inputs(model)
                batch = inputs.batch_size
                with torch.no_grad():
                    small = batch_first(lab.output_tensor(lab.forward(model, inputs)), batch)
                    big = batch_first(lab.output_tensor(lab.forward(model, inputs.repeat(tile))), batch * tile)
            except Exception as err:  # noqa: BLE001 - the user's model failed; see user_code_failure
                failure = lab.user_code_failure(err)
                if failure is None:
                    raise
                lab.assume("model_not_run", failure)
                return None
            return batch, small, big

        make, described = loss_function()
        lab.assume("loss", described)
        names_model = any(lab.context.get(key) for key in ("class", "construct", "model_var"))
        made = model_predictions() if names_model else None
        if made is not None:
            batch, small, big = made
        else:
            batch = lab.batch_size
            generator = torch.Generator().manual_seed(0)
            small = torch.randn(batch, 5, generator=generator)
            if name in ("NLLLoss", "nll_loss"):
                small = functional.log_softmax(small, dim=-1)
            big = small.repeat(tile, 1)
            # Random predictions of the experiment's own: a sum grows 4x over a batch tiled 4x
            # whatever the predictions are, so the ratio says how the reduction works, not that
            # this code's losses are normalized wrongly.
            lab.stand_in("predictions", f"random float32[{batch},5] predictions: " + (
                "the model whose output reaches this loss did not run here" if names_model
                else "no model output reaches this loss"))
        if name in ("BCELoss", "binary_cross_entropy") and (small.min() < 0 or small.max() > 1):
            small, big = torch.sigmoid(small), torch.sigmoid(big)
            lab.assume("predictions_sigmoid", "sigmoid applied so that BCELoss gets probabilities")
        if by_class:
            classes = small.shape[-1]
            small, big = small.reshape(-1, classes), big.reshape(-1, classes)
            targets = lab.class_targets(small)
        elif binary:
            targets = (torch.rand(small.shape, generator=torch.Generator().manual_seed(1)) > 0.5).float()
        else:
            targets = torch.randn(small.shape, generator=torch.Generator().manual_seed(1))  # not the predictions
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
        if claimed == "mean":
            if abs(ratio - 1) <= 1e-3:
                return lab.confirmed(summary + ": the loss is a mean, it does not grow with the batch", **numbers)
            return lab.refuted(summary + ": the loss grows with the batch, it is not a mean", **numbers)
        if abs(ratio - tile) <= 1e-3 * tile:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary + ": the loss does not grow with the batch", **numbers)


# -- the problems: each yields (where to report, message, the loss it is about) ------------


def _summed_losses(model):
    """A sum-reduced loss divided on one path and not on another, or divided by a
    fixed batch size although the loader keeps a smaller last batch."""
    groups: dict[int, list] = {}
    for loss in model.losses.calls:
        if loss.reduction == "sum":
            key = id(loss.constructor) if loss.constructor is not None else id(loss.call.scope)
            groups.setdefault(key, []).append(loss)
    for group in groups.values():
        normalized = [(loss, model.losses.normalization(loss)) for loss in group]
        divided = [(l, n) for l, n in normalized if _normalizes(n)]
        undivided = [l for l, n in normalized if n.divisor is None]
        if divided and undivided:
            reference, norm = divided[0]
            for loss in undivided:
                yield loss.call.node, (_mixed_title(loss), _mixed_message(model, loss, reference, norm)), loss
        for loss, norm in divided:
            problem = _fixed_batch_size(model, loss, norm)
            if problem is not None:
                yield norm.node or loss.call.node, problem, loss


def _normalizes(norm) -> bool:
    """A division that can make a sum a mean: not by the literal 2 of a halved
    squared error (`mse_loss(..., reduction='sum') / 2`), a constant factor that
    leaves the loss a sum."""
    if norm.divisor is None:
        return False
    value = literal_number(norm.divisor)
    return value is None or value > 2


def _accumulated(model):
    """Per-batch losses added up and divided by a count that does not match them."""
    for accumulation in model.losses.accumulations:
        for averaging in accumulation.averagings:
            problem = _accumulation_problem(model, accumulation, averaging)
            if problem is not None:
                yield averaging.node, problem, accumulation.scale


def _mean_divided_by_batch(model):
    """A loss that is already a mean over its batch, divided by the batch size again."""
    losses = model.losses
    for fact, node, value, divisor in _divisions(model):
        if losses.divisor(divisor, fact.scope, fact.order).kind != "batch_size":
            continue
        scale = losses.scale(value, fact.scope, fact.order)
        if scale is None or not scale.is_loss or scale.reduction != "mean":
            continue
        if scale.per_sample is not None:
            where = model.where(scale.per_sample, scale.per_sample_facts)
            over = f"the batch (it was divided by the batch size at {where})"
        else:
            over = "every element" if scale.per_element else "the samples of the batch"
            over += " (reduction='mean')"
        yield node, (
            f"{_short_name(scale.name)} is already a mean; dividing by {titles.code(model.code(divisor), 20)} "
            f"averages twice",
            f"{scale.name} ({model.where(scale.origin, scale.facts)}) already averages over {over}, and "
            f"dividing it by `{model.code(divisor)}` divides by the batch size a second time: the loss "
            f"and its gradients shrink with the batch size, like a learning rate that changes with it. "
            f"Drop this division (or use reduction='sum' if a per-sample sum divided by the batch size "
            f"was meant)."), scale


def _divisions(model):
    """(fact, node, divided value, divisor) for every `a / b` and `a /= b` of the file."""
    return model.losses.divisions


def _mixed_terms(model):
    """A mean loss added to a sum over the batch (`mse_loss(...) + kld_sum`)."""
    losses = model.losses
    seen: set[int] = set()
    seen_pairs: set[tuple[int, int]] = set()
    facts = model.facts
    located = [*facts.assigns, *(r for f in facts.functions for r in f.returns), *facts.scope.returns]
    for fact in located:
        if fact.value is None:
            continue
        for node in _walk(fact.value):
            if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract))) \
                    or id(node) in seen:
                continue
            seen.add(id(node))
            left = losses.scale(node.left, fact.scope, fact.order) or losses.full_sum(node.left, fact.scope,
                                                                                        fact.order)
            right = losses.scale(node.right, fact.scope, fact.order) or losses.full_sum(node.right, fact.scope,
                                                                                          fact.order)
            if left is None or right is None or left.reduction == right.reduction:
                continue
            mean, total = (left, right) if left.reduction == "mean" else (right, left)
            if not (mean.is_loss or total.is_loss):
                continue
            # `mean + total_a - total_b` nests two sums around one mean: one finding
            pair = (id(fact), id(mean.origin))
            if pair in seen_pairs:
                continue
            seen_pairs.add(pair)
            yield node, (_mixed_terms_title(mean, total), _mixed_terms_message(model, mean, total)), \
                mean if mean.is_loss else total


def _divided_twice(model):
    """`loss = (...) / batch_size` and later `loss.item() / batch_size` again."""
    losses = model.losses
    for fact, node, value, divisor in _divisions(model):
        if not isinstance(node, cst.BinaryOperation):
            continue
        first = _earlier_division(model, node, fact)
        if first is None:
            continue
        scale = losses.scale(first.left, fact.scope, fact.order)
        if scale is None or literal_number(first.right) is not None:
            continue  # `x / 2` twice may be meant; a count twice is not
        name = model.code(strip_scalar(node.left))
        yield node, (
            f"{titles.code(name, 24)} is divided by {titles.code(model.code(first.right), 24)} twice",
            f"`{name}` was already divided by `{model.code(first.right)}` ({model.where(first)}), and is "
            f"divided by it again here: the value logged or accumulated is {model.code(first.right)} "
            f"times smaller than the loss it reports. Divide once (use `{name}` as it is)."), scale


def _elementwise_sum_vs_mean(model):
    """An element-wise loss summed and divided by the batch size (a per-sample sum
    over the outputs) in one place, averaged over every element in another."""
    by_kind: dict[str, list] = {}
    for loss in model.losses.calls:
        if loss.per_element and loss.reduction in ("sum", "mean"):
            by_kind.setdefault(loss.kind, []).append(loss)
    for group in by_kind.values():
        means = [loss for loss in group if loss.reduction == "mean"]
        if not means:
            continue
        for loss in group:
            if loss.reduction != "sum":
                continue
            norm = model.losses.normalization(loss)
            if norm.divisor is None or norm.node is None or \
                    model.losses.divisor(norm.divisor, loss.call.scope, loss.call.order).kind != "batch_size":
                continue
            name = _short(loss.qualname)
            yield norm.node, (
                f"{name} is summed per sample here but averaged per element elsewhere",
                f"{name}(reduction='sum') divided by `{model.code(norm.divisor)}` is a sum over each "
                f"sample's elements (every output, pixel or dimension), but {_describe(model, means[0])} the "
                f"same loss is a mean over every element (reduction='mean'): the two differ by the number "
                f"of elements per sample, so train and validation numbers are not comparable. Divide by "
                f"the number of elements (`target.numel()`) here, or sum and divide by the batch size in "
                f"both places."), loss


# -- messages and helpers ---------------------------------------------------------------


def _accumulation_problem(model, accumulation, averaging) -> tuple[str, str] | None:
    """(title, body) of what is wrong with the average of `accumulation`, if anything."""
    scale, counts = accumulation.scale, averaging.counts
    total = f"`{accumulation.total}`" if accumulation.total is not None else "This sum"
    divisor = f"`{model.code(averaging.divisor)}`" if averaging.divisor is not None else \
        "its length (a mean over the list)"
    loader = accumulation.loader if accumulation.loader and _names_loader(accumulation.loader) else "loader"
    what = _what(model, scale)
    if counts.loader is not None and accumulation.loader is not None and counts.loader != accumulation.loader \
            and _names_loader(counts.loader) and _names_loader(accumulation.loader):
        return (f"losses of {titles.code(accumulation.loader, 24)} averaged over the length of "
                f"{titles.code(counts.loader, 24)}",
                f"{total} adds up the losses of `{accumulation.loader}`, but is divided by {divisor}, which "
                f"counts `{counts.loader}`: the two loaders have different lengths, so the average is "
                f"scaled by their ratio. Divide by the {'samples' if counts.kind == 'samples' else 'batches'} "
                f"of the loader summed over (`len({accumulation.loader}"
                f"{'.dataset' if counts.kind == 'samples' else ''})`).")
    if scale.reduction == "sum" and counts.kind == "samples" and counts.whole_dataset_of_subset:
        return (f"per-sample sum averaged over all of {titles.code(counts.loader or 'the dataset', 24)}'s dataset",
                f"{total} adds up the loss of every sample `{counts.loader}` yields, and is divided by "
                f"{divisor}, the size of the whole dataset; but the loader's sampler draws only a subset "
                f"of it (a train/validation split), so the average is too small by that fraction. Divide "
                f"by `len({counts.loader}.sampler)`, the number of samples the loader yields.")
    if scale.reduction == "mean" and counts.kind == "samples":
        return ("batch mean losses are averaged over the samples, not the batches",
                f"{total} adds up one mean per batch ({what}) and is divided by {divisor}, the number of "
                f"samples: the result is about batch_size times smaller than the mean loss. Divide by the "
                f"number of batches (`len({loader})`), or add each batch's loss times its size "
                f"(`loss.item() * x.size(0)`) before dividing by the number of samples.")
    if scale.reduction == "sum" and counts.kind == "batches":
        made = "each batch's mean times its size" if scale.weighted else f"one sum per batch ({what})"
        return ("per-batch loss sums are averaged over the batches, not the samples",
                f"{total} adds up {made} and is divided by {divisor}, the number of batches: that is a "
                f"per-batch sum, which grows with the batch size, not a per-sample loss (and it is not "
                f"comparable with a mean elsewhere). Divide by the number of samples "
                f"(`len({loader}.dataset)`).")
    return None


def _what(model, scale) -> str:
    where = model.where(scale.origin, scale.facts)
    if scale.reduction == "mean":
        over = "every element" if scale.per_element else "the batch"
        how = f"divided by the batch size at {_per_sample_where(model, scale)}" if scale.per_sample is not None \
            else f"reduction='mean' averages over {over}"
        return f"{scale.name} at {where}: {how}"
    return f"{scale.name} at {where} sums over the batch"


def _mixed_terms_message(model, mean, total) -> str:
    mean_text = f"{mean.name} ({model.where(mean.origin, mean.facts)}) is a mean"
    if mean.per_sample is not None:
        mean_text = f"{mean.name} divided by the batch size ({_per_sample_where(model, mean)}) is a per-sample mean"
    total_text = f"{total.name} ({model.where(total.origin, total.facts)}) sums over the batch" if total.is_loss \
        else f"`{model.code(total.origin)[:50]}` ({model.where(total.origin, total.facts)}) is a sum over the " \
             f"whole batch"
    return (f"This adds terms on different scales: {mean_text}, while {total_text}. The summed term grows "
            f"with the batch size, so it outweighs the other by about that factor and the balance between "
            f"them changes with the batch size. Normalize both the same way: average the sum over the "
            f"batch (e.g. `.sum() / x.size(0)` or `.mean()` over the batch), or use reduction='sum' for "
            f"the other term and divide the total once.")


def _earlier_division(model, node: cst.BinaryOperation, fact):
    """The division `name = ... / d` that made the value `node` divides by `d` again."""
    left = strip_scalar(node.left)
    if not isinstance(left, cst.Name):
        return None
    found = lookup(fact.scope, left.value, fact.order)
    if found is None or not isinstance(found[1].fact, F.Assign) or found[1].path:
        return None
    assign = found[1].fact
    value = assign.value
    if assign.kind != "assign" or not isinstance(value, cst.BinaryOperation) or \
            not isinstance(value.operator, cst.Divide) or value is node:
        return None
    if model.code(value.right) != model.code(node.right):
        return None
    if isinstance(value.right, cst.Name):
        here = lookup(fact.scope, value.right.value, fact.order)
        there = lookup(assign.scope, value.right.value, assign.order)
        if here is None or there is None or here[1] is not there[1]:
            return None
    return value


def _walk(node):
    return iter_nodes(node) if node is not None else ()


def _names_loader(text: str) -> bool:
    return bool(words(text) & {"loader", "dl", "dataloader", "iterator", "loaders"})


def _short(qualname: str | None) -> str:
    return (qualname or "loss").rsplit(".", 1)[-1]


def _describe(model, loss) -> str:
    function = loss.call.scope.function
    where = f"in `{function.name}()`" if function is not None else "at module level"
    return f"{where} ({model.where(loss.call.node)})"


def _how_summed(model, loss) -> str:
    node = loss.reduction_node
    return model.code(node) if node is not None and loss.option("reduction") is None else "reduction='sum'"


def _mixed_title(loss) -> str:
    name = loss.qualname.rsplit(".", 1)[-1]
    return f"sum-reduced {name} is not normalized here but is elsewhere"


def _mixed_terms_title(mean, total) -> str:
    return (f"{mean.name} (a mean) is added to {total.name if total.is_loss else 'a term'} "
            f"(a sum over the batch)")


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


def _fixed_batch_size(model, loss, norm) -> tuple[str, str] | None:
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
            return (f"sum-reduced loss divided by fixed {titles.code(text, 24)}; the last batch is smaller",
                    f"This sum-reduced loss is divided by the fixed `{text}`, but the loader "
                    f"({model.where(loader.call.node)}) keeps a smaller last batch ({last}): that "
                    f"batch's loss is scaled down and its samples count less. Divide by the actual "
                    f"batch size (`len(y)` or `x.size(0)`), use reduction='mean', or pass "
                    f"drop_last=True.")
        loop = loop.parent
    return None


def _context(model, subject, node=None) -> dict:
    """Probe context: the loss, the reduction the finding rests on, the model feeding it."""
    if isinstance(subject, Scale):
        loss = next((l for l in model.losses.calls if l.call.node is subject.origin), None)
        if loss is None:
            found = {"loss": subject.name, "reduction": subject.reduction,
                     "functional": subject.name[:1].islower()}
            return {**found, **model_through_function(model, subject.origin, subject.facts)}
        found = _context(model, loss)
        if not _names_model(found):
            found.update(model_through_function(model, subject.origin, subject.facts))
        found["reduction"] = subject.reduction if not subject.weighted and subject.per_sample is None \
            else loss.reduction
        return found
    loss = subject
    found = {"loss": loss.qualname.rsplit(".", 1)[-1], "reduction": loss.reduction or "sum",
             "functional": not loss.is_class}
    if loss.constructor is not None and loss.constructor_facts is model.facts:
        found["loss_construct"] = model.code(loss.constructor.node)
    if loss.input is not None:
        found.update(model_context(model, model.values.at(loss.input, loss.call)))
    return found


def _names_model(context: dict) -> bool:
    return any(key in context for key in ("class", "construct", "model_var"))


def _per_sample_where(model, scale) -> str:
    """Where the division by the batch size that made `scale` a per-sample mean is."""
    return model.where(scale.per_sample, scale.per_sample_facts)


def _short_name(name: str, limit: int = 24) -> str:
    """A loss's name for a title: long ones (`binary_cross_entropy_with_logits`) become "the loss"."""
    return name if len(name) <= limit else "the loss"
