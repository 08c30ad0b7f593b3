from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.edits import add_keyword_argument
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.batchnorm_inputs import external_model, pooled_batchnorms
from torchlint.semantic.conditions import consistent
from torchlint.semantic.modules import arm_not_built, flat_batchnorms, literal_number
from torchlint.semantic.probe_context import model_context


class BatchNormSingleSample(Rule):
    """## What it does
    Finds BatchNorm layers that run in train mode on a batch that can hold a
    single sample: `batch_size=1` (the DataLoader default) for a model with
    BatchNorm, a training DataLoader without `drop_last=True` whose dataset
    length leaves a last batch of one (`len(dataset) % batch_size == 1`), or of
    unknown length when the model feeds (batch, features) tensors to
    `BatchNorm1d`, and a single sample `unsqueeze(0)`-ed into a training
    forward pass. A shape check (`net = Net(); net(torch.randn(1, 3, 32, 32))`,
    a fresh model on made-up tensors) is reported only where one sample
    crashes it (BatchNorm1d on (batch, features)).

    A loader built in a helper module (`get_loaders()` in data.py) and trained
    on by a loop in another file is reported where it is built, where
    `drop_last` belongs; so is the loader of an alternative factory of that
    module nobody calls, when it returns its loaders the same way as the one
    the training loop uses.

    ## Why is this bad?
    In train mode BatchNorm normalizes with the mean and variance of the
    batch. For (B, C) inputs and a batch of one PyTorch raises
    `ValueError: Expected more than 1 value per channel when training`, which
    crashes the run at the end of an epoch, hours in. For larger inputs the
    statistics of one sample are degenerate and the running averages used in
    evaluation are corrupted.

    ## Example
    ```python
    loader = DataLoader(dataset, batch_size=32, shuffle=True)  # len(dataset) == 1025
    ```

    ## Use instead
    ```python
    loader = DataLoader(dataset, batch_size=32, shuffle=True, drop_last=True)
    ```

    ## Fix safety
    Adding `drop_last=True` is offered as an unsafe fix: it stops the crash,
    but each epoch then skips the last few samples, which changes training.
    """

    code = "TL301"
    name = "batchnorm-single-sample"
    severity = Severity.ERROR
    fix_applicability = "unsafe"
    summary = "BatchNorm runs in train mode on a batch that can hold one sample."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 2))
data = TensorDataset(torch.randn(1024, 8), torch.randint(0, 2, (1024,)))
loader = DataLoader(data, batch_size=32, shuffle=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 2))
data = TensorDataset(torch.randn(1025, 8), torch.randint(0, 2, (1025,)))
loader = DataLoader(data, batch_size=32, shuffle=True)  # expect: TL301
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
""",
            fixed="""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 2))
data = TensorDataset(torch.randn(1025, 8), torch.randint(0, 2, (1025,)))
loader = DataLoader(data, batch_size=32, shuffle=True, drop_last=True)  # expect: TL301
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        phases = model.phases
        reported: set[int] = set()
        for loop, scope in phases.train_loops:
            forwards = _training_forwards(phases, loop, scope)
            batchnorm = _batchnorm_models(model, forwards)
            if not batchnorm:
                continue
            target, layers, flat = batchnorm
            for forward in forwards:
                single = _single_sample_argument(model, forward.call)
                if single is not None and id(forward.call) not in reported:
                    reported.add(id(forward.call))
                    ctx.report(forward.call.node, _single_sample_message(model, target, layers, single),
                               title=f"{titles.code(target, 24)} trains on a single sample with "
                                     f"{titles.kinds(layers, 2, default='BatchNorm')}",
                               context={**_context(model, forwards, target, layers, 1),
                                        "premise": f"the call passes a single sample (`{single}`)"})
            for loader in model.data.loaders_iterated(loop):
                if id(loader.call) in reported or loader.batch_sampler:
                    continue
                _report_loader(ctx, loader, (model, forwards, target, layers, flat), reported)
        self._loaders_trained_elsewhere(ctx, reported)
        self._single_samples_in_train_mode(ctx, reported)

    def _loaders_trained_elsewhere(self, ctx, reported: set[int]) -> None:
        """Loaders made here (a `get_loaders()` helper) that another project file's
        training loop iterates: reported here, where `drop_last` belongs."""
        model = ctx.model
        for elsewhere in model.data.loops_elsewhere():
            other = elsewhere.model
            forwards = _training_forwards(other.phases, elsewhere.loop, elsewhere.scope)
            batchnorm = _batchnorm_models(other, forwards)
            if not batchnorm:
                continue
            target, layers, flat = batchnorm
            where = model.where(elsewhere.loop.node, other.facts)
            if elsewhere.mirrors is not None:
                where += (f", which iterates the loaders of `{elsewhere.mirrors}`; this factory returns its "
                          f"loaders the same way and would replace it")
            for loader in elsewhere.loaders:
                if id(loader.call) in reported:
                    continue
                _report_loader(ctx, loader, (other, forwards, target, layers, flat), reported, where)

    def _single_samples_in_train_mode(self, ctx, reported: set[int]) -> None:
        """A forward pass outside training (a demo, an inference script) that feeds one
        sample to a model with BatchNorm still in train mode (never ``.eval()``-ed)."""
        model = ctx.model
        phases = model.phases
        scopes = [model.facts.scope, *(f for f in model.facts.functions
                                       if model.enclosing_module(f) is None and not model.is_framework_managed(f))]
        for scope in scopes:
            for forward in phases.forwards_in(scope, scope):
                if id(forward.call) in reported or forward.call.scope is not scope:
                    continue
                single = _single_sample_argument(model, forward.call)
                if single is None:
                    continue
                if phases.mode_at(forward.call, forward.target, forward.models).mode not in ("default", "train"):
                    continue
                found = _batchnorm_of(model, forward.models)
                if found is None:
                    continue
                layers, one_value = found
                if not one_value and (phases.is_try_out(forward) or phases.shape_probe(forward)):
                    continue  # `net(torch.randn(1, 3, 32, 32))` on a fresh model, or measured only: a shape check
                reported.add(id(forward.call))
                ctx.report(forward.call.node, _single_sample_message(model, forward.target, layers, single,
                                                                     training=False),
                           title=f"{titles.code(forward.target, 24)} runs one sample in train mode with "
                                 f"{titles.kinds(layers, 2, default='BatchNorm')}",
                           context={**_context(model, [forward], forward.target, layers, 1),
                                    "premise": f"the call passes a single sample (`{single}`)"})

    @staticmethod
    def experiment(lab):
        """A train-mode forward with a batch of one: PyTorch's exception for
        (batch, features) inputs, or each sample normalized by its own statistics
        (every channel's mean output collapses to the layer's bias)."""
        torch = lab.torch

        def collapse(batch):
            """Per BatchNorm layer that ran: max over samples and channels of
            |mean of the sample's channel - bias| in a train-mode forward."""
            found = {}

            def hook(module, _inputs, output, name):
                if output.dim() < 3:  # (N, C): one value per channel and sample
                    per_sample = output
                else:
                    per_sample = output.flatten(2).mean(dim=2)
                bias = module.bias if module.bias is not None else torch.zeros(output.shape[1])
                found[name] = float((per_sample - bias).abs().max())

            handles = [module.register_forward_hook(lambda m, i, o, n=name: hook(m, i, o, n))
                       for name, module in norms]
            try:
                model.train()
                with torch.no_grad():
                    lab.forward(model, lab.inputs(model, batch=batch))
            finally:
                for handle in handles:
                    handle.remove()
            return found

        model = lab.build_from_context()
        norms = lab.modules_of_type(model, ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"))
        # The experiment shows what a batch of one does to this model; that a batch of one
        # occurs is the static premise (a loader's arithmetic, a single-sample call), which
        # no run of the model can show. The verdict says both, apart.
        premise = lab.context.get("premise") or "the static analysis found a batch of one"
        premise_note = f"a batch of one: from the static facts ({premise}), not run"
        if not lab.context.get("premise_certain", True):
            # The script does not fix the batch of one (a default the user may override, a
            # dataset length unknown statically): the batch of one is the experiment's own.
            lab.stand_in("batch of one", f"the experiment's batch of one; the script may never make "
                         f"one ({premise})")
        try:
            single = collapse(1)
        except ValueError as err:
            if "Expected more than 1 value per channel" not in str(err):
                raise
            return lab.confirmed(f"effect shown: a batch of one raises ValueError: {err}; that a batch of "
                                 f"one occurs is the static premise ({premise})", batch_size=1,
                                 premise=premise_note, shown="the effect of a batch of one on this model")
        if not single:
            return lab.not_exercised(f"none of {len(norms)} BatchNorm layers ran", batch_size=1,
                                     premise=premise_note)
        baseline = collapse(lab.batch_size)
        collapsed = sorted(name for name, gap in single.items() if gap < 1e-4 <= baseline.get(name, 0))
        numbers = dict(batch_size=1, ran=sorted(single), max_gap_to_bias=max(single.values()),
                       max_gap_to_bias_batch=max(baseline.values()) if baseline else None,
                       premise=premise_note)
        if collapsed:
            return lab.confirmed(
                f"effect shown: with a batch of one, {', '.join(collapsed)} normalized the sample by its own "
                f"statistics: every channel's mean output equals the layer's bias (|diff| < 1e-4; up to "
                f"{lab.fmt(baseline[collapsed[0]])} with a batch of {lab.batch_size}); that a batch of one "
                f"occurs is the static premise ({premise})", collapsed=collapsed,
                shown="the effect of a batch of one on this model", **numbers)
        return lab.refuted("a batch of one ran through BatchNorm without error and without collapsing "
                           f"to its bias (max |mean - bias| {lab.fmt(numbers['max_gap_to_bias'])})",
                           **numbers)


def _training_forwards(phases, loop, scope):
    """The forwards of a training loop whose model is not in eval mode (frozen
    BatchNorm); in a phase loop, those of the training pass, in its mode."""
    phase = phases.training_pass(loop)
    assumptions = phase.assumptions if phase is not None else {}
    return [f for f in phases.forwards_in(loop, scope)
            if (not assumptions or consistent(f.site, assumptions))
            and phases.mode_at(f.call, f.target, f.models, phase=phase).mode != "eval"]


def _batchnorm_models(model, forwards):
    """(model name, BatchNorm layer descriptions, whether some BatchNorm sees one
    value per channel and sample: BatchNorm1d on (B, C), BatchNorm2d on 1x1 maps)."""
    for forward in forwards:
        found = _batchnorm_of(model, forward.models)
        if found is not None:
            return (forward.target, *found)
    return None


def _batchnorm_of(model, values):
    """(BatchNorm layer descriptions, whether one of them sees one value per channel)
    over the models `values` may hold (a factory may build one of several)."""
    described: set[str] = set()
    one_value = False
    for value in values:
        layers = []
        flat = []
        if value.module is not None:
            layers = [layer for _, layer in value.module.mode_layers() if layer.kind == "batchnorm"]
            layers += [layer for layer in value.module.all_layers()
                       if layer.kind == "batchnorm" and layer not in layers]
            flat = flat_batchnorms(value.module, model) + pooled_batchnorms(value.module, model)
            # a BatchNorm built in an arm of __init__ this construction skips is not in the model
            layers = [layer for layer in layers if not arm_not_built(layer, value)]
            flat = [layer for layer in flat if not arm_not_built(layer, value)]
            layers += [layer for layer in value.module.all_layers()
                       if _external_batchnorm(layer.qualname) and layer not in layers]
        elif value.layer is not None:
            layers = [layer for layer in value.layer.walk() if layer.kind == "batchnorm"]
            for previous, current in zip(value.layer.children, value.layer.children[1:]):
                if current.qualname == "torch.nn.BatchNorm1d" and previous.kind == "linear":
                    flat.append(current)
        else:
            known = external_model(value.qualname)
            if known is not None:
                where = "BatchNorm2d on 1x1 pooled maps" if known.one_value_per_channel else "BatchNorm2d"
                described.add(f"{known.name} (torchvision; {where})")
                one_value = one_value or known.one_value_per_channel
        described.update(layer.describe() for layer in layers)
        one_value = one_value or bool(flat)
    return (sorted(described), one_value) if described else None


def _external_batchnorm(qualname) -> bool:
    known = external_model(qualname)
    return known is not None and known.batchnorm


def _single_sample_argument(model, call) -> str | None:
    """``model(x.unsqueeze(0))``, ``model(torch.rand(1, 3, 224, 224))``, ``model(x[None])``,
    ``model(item.view(-1, 3, H, W))``, directly or through the names that hold them."""
    if not call.args or call.args[0].keyword is not None:
        return None
    argument = call.args[0].value
    found = model.data.single_sample(argument, call.scope, call.order)
    if found is None:
        return None
    shown = model.code(found)
    return shown if found is argument else f"{model.code(argument)} = {shown}"


def _loader_problem(model, loader, flat: bool):
    """(node, reason, fix with drop_last, batch size) when the loader can yield one sample."""
    if loader.drop_last is None or loader.drop_last:
        size = loader.batch_size.value if loader.batch_size else None
        if size == 1 and loader.batch_size_node is not None:
            return loader.batch_size_node, "`batch_size=1`: every batch holds one sample", False, 1
        return None
    size = loader.batch_size.value if loader.batch_size else None
    if size == 1:
        node = loader.batch_size_node if loader.batch_size_node is not None else loader.node
        how = "" if loader.batch_size.how == "literal" else f" ({loader.batch_size.how})"
        reason = f"`batch_size` is 1{how}: every batch holds one sample"
        return node, reason, False, 1
    if size is None and flat and loader.dataset_length is None and not _batches_of_none(loader):
        reason = ("neither the batch size nor the dataset length is known statically, so the last "
                  "batch (len(dataset) % batch_size) can hold one sample, and the model has BatchNorm "
                  "layers that see one value per channel and sample")
        return loader.node, reason, True, 1
    if not isinstance(size, int) or size < 2:
        return None
    length = loader.dataset_length
    if length is not None:
        if isinstance(length.value, int) and length.value % size == 1:
            reason = (f"the last batch of every epoch holds one sample: "
                      f"len(dataset) {length.value} % batch_size {size} == 1")
            return loader.node, reason, True, 1
        return None
    if flat:
        reason = (f"the dataset length is not known statically, so the last batch (len(dataset) % "
                  f"{size}) can hold one sample, and the model has BatchNorm layers that see one "
                  f"value per channel and sample (BatchNorm1d on (batch, features), BatchNorm2d on "
                  f"1x1 pooled maps)")
        return loader.node, reason, True, 1
    return None


def _premise_certain(loader) -> bool:
    """Whether the script itself fixes the batch of one (literal or module-constant sizes
    and lengths), rather than an argparse default the user may override or a dataset
    length nobody knows statically (the probe then treats its batch of one as its own)."""
    size = loader.batch_size
    if size is None or "default" in size.how:
        return False
    if size.value == 1:
        return True
    length = loader.dataset_length
    return length is not None and "default" not in length.how


def _batches_of_none(loader) -> bool:
    """``batch_size=None``: the loader yields single samples without a batch dimension."""
    node = loader.batch_size_node
    return isinstance(node, cst.Name) and node.value == "None"


def _report_loader(ctx, loader, trained, reported: set[int], where: str | None = None) -> None:
    """Report `loader` when a batch of one can reach the BatchNorm model of
    `trained` = (semantic model of the training loop's file, its forwards, the
    model's name, its layers, whether BatchNorm sees flat features)."""
    loop_model, forwards, target, layers, flat = trained
    finding = _loader_problem(ctx.model, loader, flat)
    if finding is None:
        return
    reported.add(id(loader.call))
    node, reason, fixable, batch = finding
    fix = None
    if fixable and loader.fixable:
        fix = ctx.fix("Add `drop_last=True`", _add_drop_last(ctx, loader.call), safe=False)
    ctx.report(node, _message(target, layers, reason, flat, where, every_batch=not fixable), fix=fix,
               title=_loader_title(layers, every_batch=not fixable),
               context={**_context(loop_model, forwards, target, layers, batch), "premise": reason,
                        "premise_certain": _premise_certain(loader)})


def _loader_title(layers, every_batch: bool) -> str:
    kinds = titles.kinds(layers, 2, default='BatchNorm')
    if every_batch:
        return f"{kinds} in train mode gets batches of one sample"
    return f"{kinds} in train mode can get a last batch of one sample"


def _message(target, layers, reason, flat, where: str | None = None, every_batch: bool = False) -> str:
    shown = ", ".join(layers[:3])
    subject = f"`{target}`" if where is None else f"`{target}` (in the training loop at {where})"
    crash = ("PyTorch raises \"Expected more than 1 value per channel when training\" when a "
             "batch of one reaches them" if flat else
             "PyTorch raises \"Expected more than 1 value per channel when training\" for (batch, "
             "features) inputs, and otherwise the statistics of one sample are degenerate")
    # drop_last cannot help when every batch holds one sample
    advice = ("Use a batch size above one (or freeze BatchNorm with `.eval()` on its layers)" if every_batch
              else "Pass `drop_last=True` to the DataLoader (or use a batch size that leaves no batch of one)")
    return (f"{subject} trains with {shown} and {reason}. In train mode BatchNorm normalizes "
            f"with batch statistics: {crash}. {advice}.")


def _single_sample_message(model, target, layers, argument, training: bool = True) -> str:
    if training:
        where = f"`{target}` trains on a single sample (`{argument}`)"
        advice = "Train on batches, or freeze BatchNorm with `.eval()` on its layers."
    else:
        where = (f"`{target}` runs a single sample (`{argument}`) in train mode (it is never set to "
                 f"`.eval()` before this call)")
        advice = ("Call `.eval()` on the model before inference, or feed batches of more than one "
                  "sample.")
    return (f"{where} but holds {', '.join(layers[:3])}: in train mode BatchNorm normalizes with the "
            f"statistics of the batch, so the output of one sample is normalized by itself and the "
            f"running averages are overwritten; where a layer sees one value per channel (BatchNorm1d "
            f"on (batch, features), BatchNorm2d on 1x1 maps) PyTorch raises \"Expected more than 1 "
            f"value per channel when training\". {advice}")


def _context(model, forwards, target, layers, batch) -> dict:
    values = [value for forward in forwards if forward.target == target for value in forward.models]
    return {"model": target, **model_context(model, values), "layers": layers, "batch_size": batch}


def _add_drop_last(ctx, call):
    return ctx.replace(call.node, add_keyword_argument(call.node, "drop_last", cst.Name("True")))
