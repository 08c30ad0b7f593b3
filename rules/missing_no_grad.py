from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.probe_context import model_context


class MissingNoGrad(Rule):
    """## What it does
    Finds evaluation loops (over a validation or test loader, inside a
    function such as `evaluate()`, or in a pass function that trains only when
    given an optimizer, called with `None`) that run forward passes with
    autograd on:
    no `torch.no_grad()`, `torch.inference_mode()` or
    `torch.set_grad_enabled(False)` around them or up their call chain, and no
    `@torch.no_grad()` decorator.

    Not reported: a model whose every parameter is frozen
    (`requires_grad_(False)`, or `p.requires_grad = False` for all of
    `parameters()`, with no layer added after), which records no graph; a
    method that turns autograd off itself (`@torch.no_grad()` or a project
    decorator that enters `no_grad`, and transformers' `generate`); a model
    whose `forward` does so (decorated, or in the arm the call's literal
    arguments select: `model(x, mode="inference")`); a context chosen at run
    time between `no_grad()` and another; a helper named like evaluation
    (`predict_scores()`) whose result training backpropagates; a torch layer
    without parameters (`nn.Softmax`, pooling) applied to outputs; unit tests;
    files written for another framework (MXNet, TensorFlow, JAX) that import
    nothing of torch.

    ## Why is this bad?
    With autograd on, every forward pass records its graph and keeps the
    activations it needs for a backward pass that never comes. Evaluation
    uses several times the memory it needs (large validation batches run out
    of GPU memory) and runs slower.

    ## Example
    ```python
    model.eval()
    for x, y in val_loader:
        loss = criterion(model(x), y)
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            loss = criterion(model(x), y)
    ```

    ## Fix safety
    There is no automatic fix: wrapping a loop changes its indentation, and a
    loop that needs gradients on purpose (saliency maps, adversarial examples)
    calls `backward` or `torch.autograd.grad`, which this rule respects.
    """

    code = "TL102"
    name = "missing-no-grad"
    severity = Severity.WARNING
    summary = "An evaluation loop runs forward passes with autograd on."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 2)
model.eval()
val_loader = [torch.randn(2, 4)]


@torch.no_grad()
def evaluate():
    for x in val_loader:
        model(x)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 2)
model.eval()
val_loader = [torch.randn(2, 4)]
for x in val_loader:
    out = model(x)  # expect: TL102
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        phases = model.phases
        reported: set[int] = set()
        for phase in phases.eval_phases:
            if _needs_gradients(model, phase):
                continue
            # Every forward of a model records its own graph, so each is reported; inside a
            # model's own method (its submodules one after another) the method is one place.
            inside_model = model.enclosing_module(phase.scope) is not None
            for forward in phase.forwards:
                if id(forward.site) in reported or _computes_a_loss(model, forward) or _parameter_free(forward):
                    continue  # a loss module or a softmax run on the model's output records nothing new
                if phases.grad_disabled_at(forward.call, phase=phase, via=forward.via) or \
                        _detached_at_once(model, forward.call):
                    continue
                if model.freezing.frozen(forward.models, forward.call) or phases.method_without_grad(forward, phase):
                    continue  # every parameter frozen, or the method turns autograd off itself
                ctx.report(
                    forward.site.node,
                    title=f"{titles.code(forward.target)} runs with autograd on during evaluation",
                    message=f"`{forward.target}` runs with autograd on in this evaluation code "
                    f"({phase.reason}){_evidence(forward)}: each batch records a graph and keeps activations for a "
                    f"backward pass that never comes, wasting memory and time. Wrap the "
                    f"evaluation in `with torch.no_grad():` (or decorate the function with "
                    f"`@torch.no_grad()`).",
                    context={"model": forward.target, **model_context(model, forward.models),
                             "phase": phase.reason},
                )
                reported.add(id(forward.site))
                if inside_model:
                    break

    @staticmethod
    def experiment(lab):
        """An eval-mode forward with autograd on, as the evaluation code runs it,
        counting what autograd saves for a backward pass; then the same under no_grad."""
        torch = lab.torch

        def storage(tensor):
            try:
                return tensor.untyped_storage().data_ptr()
            except (RuntimeError, NotImplementedError):
                return id(tensor)

        def run(grad_enabled):
            """(output, [bytes of each activation saved for backward]); parameters
            that autograd also saves are not counted: they exist anyway."""
            saved = []

            def pack(tensor):
                if storage(tensor) not in weights:
                    saved.append(tensor.numel() * tensor.element_size())
                return tensor

            with torch.set_grad_enabled(grad_enabled), \
                    torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                output = lab.output_tensor(lab.forward(model, inputs))
            return output, saved

        model = lab.build_from_context()
        inputs = lab.inputs(model)
        model.eval()
        weights = {storage(p) for p in model.parameters()}
        with_grad, saved = run(True)
        without_grad, saved_off = run(False)
        grad_fn = type(with_grad.grad_fn).__name__ if with_grad.grad_fn is not None else None
        numbers = dict(requires_grad=with_grad.requires_grad, grad_fn=grad_fn,
                       saved_tensors=len(saved), saved_bytes=sum(saved),
                       no_grad_saved_tensors=len(saved_off), no_grad_requires_grad=without_grad.requires_grad,
                       batch_size=inputs.batch_size)
        if not with_grad.requires_grad:
            return lab.refuted(f"the eval-mode output does not require grad (no parameter trains): "
                               f"autograd saved {len(saved)} tensors for backward", **numbers)
        kib = sum(saved) / 1024
        return lab.confirmed(
            f"eval output requires grad ({grad_fn}); autograd saved {len(saved)} activation tensors "
            f"({lab.fmt(kib)} KiB for a batch of {inputs.batch_size}) for a backward pass that never "
            f"comes; under torch.no_grad: {len(saved_off)}", **numbers)


def _evidence(forward) -> str:
    """How an unknown callee was taken for a model, for the message."""
    if forward.evidence == "use":
        return f" (`{forward.target}` is taken for a model: model methods such as eval() or parameters() are called on it)"
    if forward.evidence == "name":
        return f" (`{forward.target}` is taken for a model by its name; its value is not known here)"
    return ""


def _needs_gradients(model, phase) -> bool:
    """Saliency maps and adversarial examples call backward or autograd.grad on purpose."""
    scope = phase.scope
    block = phase.block
    for call in model.phases.calls_in(block, scope):
        if not model.phases.runs_in(call, phase):
            continue  # `if train: loss.backward()` in a run with train=False
        if model.phases.is_backward(call) or call.method in ("requires_grad_",):
            return True
        if call.method == "grad" and model.function_kind(call) == "autograd_grad":
            return True
    return False


def _detached_at_once(model, call) -> bool:
    """``model(x).detach()`` or ``model(x).item()``: no graph outlives the line."""
    statement = model.facts.statement_of.get(id(call.node))
    for other in model.facts.calls:
        if other.method in ("detach", "item", "detach_") and other.receiver is call.node:
            return True
        if other.order > call.order + 50:
            break
    return isinstance(statement, cst.Expr) and statement.value is call.node


def _parameter_free(forward) -> bool:
    """`sm = nn.Softmax(dim=1); sm(outputs)`: every model it may be is a torch layer with no
    parameters; it extends only the graph of its input, whose forward is judged where it runs."""
    names = [v.qualname or (v.layer.qualname if v.layer is not None else None) for v in forward.models]
    return bool(names) and all(name is not None and name.startswith("torch.nn.")
                               and name.rsplit(".", 1)[-1] in _PARAMETER_FREE_LAYERS for name in names)


# torch.nn layers that hold no parameters (a PReLU, a norm with affine weights hold some).
_PARAMETER_FREE_LAYERS = frozenset({
    "Softmax", "LogSoftmax", "Softmin", "Softmax2d", "Sigmoid", "LogSigmoid", "Tanh", "ReLU", "ReLU6",
    "LeakyReLU", "GELU", "ELU", "CELU", "SELU", "SiLU", "Mish", "Softplus", "Softsign", "Hardtanh",
    "Hardswish", "Hardsigmoid", "Tanhshrink", "Threshold", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "Identity", "Flatten", "Unflatten", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d",
    "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Upsample", "UpsamplingNearest2d",
    "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "CosineSimilarity", "PairwiseDistance",
})


def _computes_a_loss(model, forward) -> bool:
    """`criterion(out, y)` where the criterion is an nn.Module: a forward by the
    letter, but the graph it extends is the model's, already reported."""
    if any(loss.call is forward.call for loss in model.losses.calls):
        return True
    modules = [v.module for v in forward.models if v.module is not None]
    return bool(modules) and all(model.losses.is_loss_module(module)
                                 or any(word in module.name.lower() for word in ("loss", "criterion"))
                                 for module in modules)
