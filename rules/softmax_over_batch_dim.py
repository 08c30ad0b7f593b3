from __future__ import annotations

import re

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.walker import iter_nodes


class SoftmaxOverBatchDim(Rule):
    """## What it does
    Finds `softmax`/`log_softmax` (functional, `torch.*`, the tensor method,
    or `nn.Softmax`/`nn.LogSoftmax`) that normalizes over the batch:

    - over dim 0 (or a negative dim naming it in a tensor of known rank, -2 of
      a 2-D tensor) of a tensor whose dim 0 is certainly the batch: a model's
      output in the code that trains or evaluates it (also a model of a class
      the linter cannot read, recognized by its `.train()`/`.eval()` calls),
      products of it with other matrices, `bmm`/`baddbmm` results, and views
      shaped `(batch_size * heads, ...)`;
    - over dim 0 of a tensor of two or more dims that a model's `forward`
      returns as its output;
    - without `dim` where PyTorch's implicit choice is dim 0: a 1-D or 3-D
      input, or an input whose rank is not known (the message says which).
      On a tensor that is provably 2-D or 4-D the implicit dim is 1, the
      classes, and nothing is reported; the rank is also read from what the
      code does with the result (`probs[:, k]` picks a class column,
      `nn.NLLLoss2d` takes only (N, C, H, W)).

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
    Softmax over dim 0 of a tensor made inside a model from its inputs
    (attention over the time steps of a time-first sequence), of a single
    sample (`output[0]`, `.squeeze(0)`), or of a 1-D score vector is not
    reported.
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
        shapes = model.losses.shapes
        for call in model.facts.calls:
            qualified = model.callee(call)
            kind = symbols.function_kind(qualified)
            layer_kind = symbols.layer_kind(qualified)
            if layer_kind in ("softmax", "log_softmax") and qualified != "torch.nn.Softmax2d":
                if call.argument(0, "dim") is None:
                    if not _unpacks(call):
                        self._implicit_layer(ctx, call, layer_kind)
                else:
                    self._dim0_layer(ctx, call, layer_kind)
                continue
            if kind in ("softmax", "log_softmax"):
                tensor, dim = call.argument(0, "input"), _dim_argument(call, 1, qualified)
            elif call.method in ("softmax", "log_softmax") and qualified is None and call.receiver is not None \
                    and not _is_module(model, call):
                tensor, dim = call.receiver, _dim_argument(call, 0, None)
            else:
                continue
            if dim is None and _unpacks(call):
                continue  # `F.softmax(x, **options)`: the dim may be among them
            if dim is None:
                if kind is not None:  # the tensor method requires dim; only functions default it
                    rank = shapes.at(tensor, call).rank
                    if rank is None:  # what the code does with the result may show its rank
                        rank = next(iter(shapes.rank_from_use(call) or ()), None)
                    if rank not in _CLASS_DIM_RANKS:
                        ctx.report(call.node, _implicit_message(model.code(call.func), rank),
                                   title=_implicit_title(model.code(call.func)),
                                   context={"dim": None, "function": kind, "where": "output",
                                            **model_context(model, model.values.at(tensor, call))})
                continue
            if tensor is None or not _is_dim0(literal_number(dim), shapes, tensor, call):
                continue
            message = _dim0_problem(model, shapes, tensor, call)
            if message is not None:
                module = model.enclosing_module(call.scope)
                where = {"where": "inside", "class": module.name} if module is not None else \
                    {"where": "output", **model_context(model, model.values.at(tensor, call))}
                ctx.report(dim, message, title=f"{titles.call(model.code(call.node))} normalizes over dim 0, "
                           f"the batch dimension", context={"dim": 0, "function": kind or call.method, **where})

    def _implicit_layer(self, ctx, call, layer_kind: str) -> None:
        """`nn.Softmax()`: reported unless every tensor it is applied to is 2-D or 4-D
        (where PyTorch's implicit choice, dim 1, is the class dim)."""
        model = ctx.model
        attr, local = _attribute_of(model, call), _local_of(model, call)
        shapes = model.losses.shapes
        ranks = shapes.layer_input_ranks(attr, local, call) if attr or local else shapes.sequential_input_ranks(call)
        if ranks and all(rank in _CLASS_DIM_RANKS for rank in ranks):
            return
        if not ranks and attr is not None and _never_read(model, call, attr):
            return  # `self.softmax = nn.Softmax()` kept but never applied: it normalizes nothing
        batch_ranks = [rank for rank in ranks if rank is not None and rank not in _CLASS_DIM_RANKS]
        module = model.enclosing_module(call.scope)
        ctx.report(call.node, _implicit_message(model.code(call.func), batch_ranks[0] if batch_ranks else None),
                   title=_implicit_title(model.code(call.func)),
                   context={"dim": None, "function": layer_kind, "where": "layer",
                            "class": module.name if module is not None else None, "attr": attr})

    def _dim0_layer(self, ctx, call, layer_kind: str) -> None:
        """`nn.Softmax(dim=0)`: reported when a tensor whose dim 0 is certainly the batch
        reaches the layer (a policy net also run on one unbatched state is still run on
        the batch of an episode's states)."""
        model = ctx.model
        dim = call.argument(0, "dim")
        number = literal_number(dim)
        if number is None or number > 0:
            return
        attr, local = _attribute_of(model, call), _local_of(model, call)
        shapes = model.losses.shapes
        layouts = shapes.layer_input_layouts(attr, local, call) if attr or local \
            else shapes.sequential_input_layouts(call, uncalled=True)
        batch = next((layout for layout in layouts if layout.batch_first and layout.min_rank >= 2
                      and (number == 0 or layout.rank is not None and layout.rank + number == 0)), None)
        if batch is None:
            return
        name = model.code(call.func)
        module = model.enclosing_module(call.scope)
        ctx.report(dim, f"`{name}` with dim={number} normalizes over dim 0 of the {batch.rank or batch.min_rank}-D "
                   f"batch it is applied to ({batch.evidence}): each sample's probabilities then depend on the "
                   f"other samples in its batch and no sample's row sums to 1. Use the class dim (dim=1, or dim=-1).",
                   title=f"{titles.call(model.code(call.node))} normalizes over dim 0, the batch dimension",
                   context={"dim": 0, "function": layer_kind, "where": "layer",
                            "class": module.name if module is not None else None, "attr": attr})

    @staticmethod
    def experiment(lab):
        """Sample 0's (log-)probabilities before and after sample 1 of the batch is
        drawn again: they change when the softmax normalizes over the batch, while
        the tensor it normalizes (sample 0's logits) stays the same."""
        torch = lab.torch
        functional = lab.F

        def sample(tensor, batch, index):
            """Sample `index` of a tensor whose batch dimension has size `batch`."""
            dim = next((d for d in range(tensor.dim()) if tensor.shape[d] == batch), 0)
            return tensor.select(dim, index), dim

        if lab.context.get("where") == "layer" and not lab.context.get("class"):
            return lab.inconclusive("no_inputs", "this softmax layer is built outside any model class: the "
                                    "probe cannot tell which tensor it normalizes")
        model = lab.build_from_context()
        model.eval()
        inputs = lab.inputs(model)
        batch = inputs.batch_size
        changed = inputs.with_sample_changed(1)
        implicit = lab.context.get("dim") is None
        dim = lab.context.get("dim")
        if lab.context.get("where") == "inside":
            # The softmax runs inside the model: if it mixes the batch, sample 0's output
            # changes when only sample 1 of the input does.
            with torch.no_grad():
                before = lab.output_tensor(lab.forward(model, inputs))
                after = lab.output_tensor(lab.forward(model, changed))
            first, batch_dim = sample(before, batch, 0)
            diff = lab.max_abs_diff(first, sample(after, batch, 0)[0])
            where = f"{lab.context.get('function') or 'softmax'} over dim 0 inside {lab.context.get('class')}"
            numbers = dict(dim=0, input_shape=list(before.shape), batch_dim=batch_dim, sample0_output_diff=diff)
            if diff > 1e-6:
                return lab.confirmed(f"{where} mixes the batch: changing sample 1 of the input changes sample "
                                     f"0's output by up to {lab.fmt(diff)} (in eval mode)", **numbers)
            return lab.refuted(f"{where} keeps samples apart: changing sample 1 changes sample 0's output by "
                               f"{lab.fmt(diff)}", **numbers)
        if lab.context.get("where") == "layer":
            kind = "LogSoftmax" if lab.context.get("function") == "log_softmax" else "Softmax"
            layers = [(name, module) for name, module in lab.modules_of_type(model, kind) if module.dim is None]
            attr = lab.context.get("attr")
            layers = [(n, m) for n, m in layers if attr and n.rsplit(".", 1)[-1] == attr] or layers
            seen = []
            for run in (inputs, changed):
                captured = {}
                handles = [module.register_forward_hook(
                    lambda m, args, out, name=name: captured.setdefault(name, (args[0], out)))
                    for name, module in layers]
                try:
                    with torch.no_grad():
                        lab.forward(model, run)
                finally:
                    for handle in handles:
                        handle.remove()
                seen.append(captured)
            if not seen[0]:
                return lab.not_exercised(f"none of {len(layers)} softmax layers without dim ran")
            name = sorted(seen[0])[0]
            (before, probs_before), (after, probs_after) = seen[0][name], seen[1][name]
            dim = 0 if before.dim() in (0, 1, 3) else 1  # PyTorch's implicit choice (_get_softmax_dim)
            where = f"layer {name}"
        else:
            with torch.no_grad():
                before = lab.output_tensor(lab.forward(model, inputs))
                after = lab.output_tensor(lab.forward(model, changed))
            if implicit:
                dim = 0 if before.dim() in (0, 1, 3) else 1  # PyTorch's implicit choice (_get_softmax_dim)
            apply = functional.log_softmax if lab.context.get("function") == "log_softmax" else functional.softmax
            probs_before, probs_after = apply(before, dim=dim), apply(after, dim=dim)
            where = "the model's output"
        first, batch_dim = sample(before, batch, 0)
        logits_diff = lab.max_abs_diff(first, sample(after, batch, 0)[0])
        probs_diff = lab.max_abs_diff(sample(probs_before, batch, 0)[0], sample(probs_after, batch, 0)[0])
        chosen = f"{lab.context.get('function') or 'softmax'} over dim {dim}" + \
            (f" (PyTorch's implicit choice for {before.dim()}-D input)" if implicit else "")
        numbers = dict(dim=dim, implicit_dim=implicit, input_shape=list(before.shape), batch_dim=batch_dim,
                       sample0_logits_diff=logits_diff, sample0_probs_diff=probs_diff)
        if logits_diff > 1e-6:
            return lab.inconclusive("experiment_error", f"sample 0's logits themselves change by up to "
                                    f"{lab.fmt(logits_diff)} when sample 1 changes: the softmax's share "
                                    f"cannot be told apart")
        if probs_diff > 1e-6:
            return lab.confirmed(
                f"{chosen} of {where} mixes the batch: changing sample 1 changes sample 0's "
                f"probabilities by up to {lab.fmt(probs_diff)} while its logits stay the same", **numbers)
        return lab.refuted(
            f"{chosen} of {where} keeps samples apart: changing sample 1 changes sample 0's "
            f"probabilities by {lab.fmt(probs_diff)}", **numbers)


def _is_dim0(dim, shapes, tensor, call) -> bool:
    """`dim` is 0, or a negative dim that names dim 0 of a tensor of known rank
    (`log_softmax(scores.view(-1, k), dim=-2)`)."""
    if dim == 0:
        return True
    if dim is None or dim >= 0:
        return False
    rank = shapes.at(tensor, call).rank
    return rank is not None and rank + dim == 0


def _dim_argument(call, index: int, qualified: str | None) -> cst.BaseExpression | None:
    """The dim given to a softmax: by keyword, at position `index`, or for torch's
    native `torch.softmax`/`x.softmax` by the numpy-style alias `axis=` (which
    `F.softmax`, a Python function, rejects)."""
    found = call.argument(index, "dim")
    if found is None and not (qualified or "").startswith("torch.nn.functional."):
        found = call.keyword("axis")
    return found


def _unpacks(call) -> bool:
    """`nn.Softmax(**options)`, `F.softmax(x, *args)`: arguments unpacked from a
    container, which may hold the dim."""
    return any(arg.star for arg in call.args)


def _attribute_of(model, call) -> str | None:
    """``softmax`` for ``self.softmax = nn.Softmax()``: where the layer is kept."""
    statement = model.facts.statement_of.get(id(call.node))
    if isinstance(statement, cst.Assign) and statement.value is call.node and len(statement.targets) == 1:
        target = statement.targets[0].target
        if isinstance(target, cst.Attribute):
            return target.attr.value
    return None


def _never_read(model, call, attr: str) -> bool:
    """No code of this file, nor of the run's files that import this class, reads
    `<x>.<attr>` (or names it as a string, for `getattr`): the layer kept there is
    never applied."""
    for node in iter_nodes(model.facts.module):
        if isinstance(node, cst.Attribute) and node.attr.value == attr and \
                not _assigned(model, node):
            return False
        if isinstance(node, cst.SimpleString) and node.value.strip("'\"") == attr:
            return False
    module = model.enclosing_module(call.scope)
    if module is None or model.path is None:
        return module is not None
    pattern = re.compile(rf"\.{re.escape(attr)}\b")
    for path in model.project.importer_paths(model.path, module.name):
        importer = model.project.module(path)
        model.note_dependency(path)
        if importer is None or pattern.search(importer.text):
            return False
    return True


def _assigned(model, node: cst.Attribute) -> bool:
    """`node` is the target of an assignment (`self.softmax = ...`), not a read."""
    statement = model.facts.statement_of.get(id(node))
    return isinstance(statement, cst.Assign) and any(t.target is node for t in statement.targets)


# Ranks for which PyTorch's implicit softmax dim is 1, the classes of (batch, classes)
# and (batch, classes, height, width) tensors.
_CLASS_DIM_RANKS = (2, 4)


def _local_of(model, call) -> str | None:
    """``m`` for ``m = nn.Softmax()``: the local name the layer is called through."""
    statement = model.facts.statement_of.get(id(call.node))
    if isinstance(statement, cst.Assign) and statement.value is call.node and len(statement.targets) == 1:
        target = statement.targets[0].target
        if isinstance(target, cst.Name):
            return target.value
    return None


def _is_module(model, call) -> bool:
    """`self.softmax(x)` calls a layer, it is not the tensor method."""
    return any(v.kind == "module" for v in model.values.at(call.func, call))


def _implicit_title(name: str) -> str:
    return f"{titles.code(name, 24)} without `dim` may normalize over the batch"


def _implicit_message(name: str, rank: int | None) -> str:
    if rank is None:
        chosen = ("the rank of its input is not known here: PyTorch uses dim 0 for 1-D and 3-D inputs, "
                  "so a (batch, time, classes) output is normalized across the batch")
    elif rank == 1:
        chosen = ("its input is 1-D, so PyTorch uses dim 0: if that tensor holds one score per sample, "
                  "the samples of the batch are normalized against each other")
    else:
        chosen = (f"its input is {rank}-D, so PyTorch uses dim 0, the batch of a (batch, time, classes) "
                  f"tensor: each sample's probabilities then depend on the rest of the batch")
    return (f"`{name}` without `dim` lets PyTorch pick the dimension, and {chosen}. The implicit choice "
            f"is deprecated; pass `dim=` explicitly (usually dim=-1 or dim=1).")


def _dim0_problem(model, shapes, tensor: cst.BaseExpression, call) -> str | None:
    """Why dim 0 of `tensor` is the batch, as a finding message, or None when it may not be."""
    code = model.code(call.node)[:60]
    layout = shapes.at(tensor, call)
    if layout.batch_first:
        return (f"`{code}` normalizes over dim 0, the batch ({layout.evidence}): each sample's "
                f"probabilities then depend on the other samples in its batch and no sample's row "
                f"sums to 1. Use the class dim (dim=1, or dim=-1).")
    module = _returned_as_model_output(model, call)
    if module is not None and layout.min_rank >= 2:
        dims = f"a {layout.rank}-D tensor" if layout.rank is not None else \
            f"a tensor of at least {layout.min_rank} dims"
        return (f"`{code}` normalizes over dim 0 of {dims} that `{module.name}.forward` "
                f"returns as the model's output, whose dim 0 is the batch (or time), never the classes: "
                f"each sample's probabilities then depend on the rest of the batch. Use the class dim "
                f"(dim=1, or dim=-1).")
    return None


def _returned_as_model_output(model, call):
    """The model class whose forward returns this softmax (alone or in a tuple, directly
    or through one local name), when that class is used as a model, not as a part."""
    function = call.scope.function
    if function is None or function.name != "forward" or function.class_ is None:
        return None
    module = model.modules.of_class(function.class_, model.facts, model.path)
    if module is None or not _used_as_model(model, module):
        return None
    statement = model.facts.statement_of.get(id(call.node))
    if isinstance(statement, cst.Return):
        return module if _returns(statement.value, call.node) else None
    if isinstance(statement, cst.Assign) and statement.value is call.node and len(statement.targets) == 1 \
            and isinstance(statement.targets[0].target, cst.Name):
        name = statement.targets[0].target.value
        for ret in function.returns:
            if ret.order > call.order and _returns(ret.value, name):
                found = lookup(function, name, ret.order)
                if found is not None and found[1].fact.node is statement:
                    return module
    return None


def _returns(value, target) -> bool:
    """`return target` or `return target, other` (target: a node or a local name)."""
    items = [e.value for e in value.elements] if isinstance(value, cst.Tuple) else [value]
    if isinstance(target, str):
        return any(isinstance(item, cst.Name) and item.value == target for item in items)
    return any(item is target for item in items)


def _used_as_model(model, module) -> bool:
    """Called by code outside any module of this file (a training loop, a main block),
    or held by no other module class of this file."""
    for call in model.facts.calls:
        if model.enclosing_module(call.scope) is None and any(
                v.kind == "module" and v.module is module for v in model.values.at(call.func, call)):
            return True
    for other in model.module_classes():
        if other is not module and any(layer.local is module for layer in other.all_layers()):
            return False
    return True
