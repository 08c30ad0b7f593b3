from __future__ import annotations

import re

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.walker import dotted_name, iter_nodes


class LossAccumulatedWithGraph(Rule):
    """## What it does
    Finds a running total of loss tensors kept across loop iterations
    (`total_loss += loss`, `total = total + loss`, `losses.append(loss)`)
    where the total is never backpropagated.

    ## Why is this bad?
    A loss tensor holds its whole autograd graph: the activations of the
    forward pass that produced it. Adding it to a running total keeps every
    step's graph alive until the total is freed, so memory grows each
    iteration until the run dies with an out-of-memory error, usually hours
    in. Logging only needs the number.

    ## Example
    ```python
    total_loss = 0.0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        total_loss += loss
    ```

    ## Use instead
    ```python
    total_loss = 0.0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        total_loss += loss.item()
    ```

    ## Fix safety
    The fix is safe: it adds `.item()` when the total starts as a Python
    number and is only used as a number, and `.detach()` otherwise (lists,
    totals used as tensors). Totals that are backpropagated (gradient
    accumulation) are never reported.
    """

    code = "TL501"
    name = "loss-accumulated-with-graph"
    severity = Severity.WARNING
    fix_applicability = "safe"
    summary = "A running total of losses keeps every step's autograd graph alive."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
loader = [(torch.randn(2, 4), torch.randn(2, 1))]
total = 0.0
for x, y in loader:
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    total += loss.item()
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
loader = [(torch.randn(2, 4), torch.randn(2, 1))]
total = 0.0
for x, y in loader:
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    total += loss  # expect: TL501
""",
            fixed="""
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
loader = [(torch.randn(2, 4), torch.randn(2, 1))]
total = 0.0
for x, y in loader:
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    total += loss.item()  # expect: TL501
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        for aug in model.facts.aug_assigns:
            if aug.loop is None or aug.operator != "AddAssign" or dotted_name(aug.target) is None:
                continue
            self._check_added(ctx, model, aug, dotted_name(aug.target), aug.value, is_list=False)
        for assign in model.facts.assigns:
            if assign.loop is None or len(assign.targets) != 1 or assign.kind != "assign":
                continue
            total = dotted_name(assign.targets[0])
            value = assign.value
            if total is None or not isinstance(value, cst.BinaryOperation) \
                    or not isinstance(value.operator, cst.Add) or dotted_name(value.left) != total:
                continue
            self._check_added(ctx, model, assign, total, value.right, is_list=False)
        for call in model.facts.calls:
            if call.loop is None or call.method != "append" or len(call.args) != 1:
                continue
            total = dotted_name(call.receiver)
            if total is None:
                continue
            self._check_added(ctx, model, call, total, call.args[0].value, is_list=True)

    def _check_added(self, ctx, model, fact: F.Located, total: str, added: cst.BaseExpression,
                     is_list: bool) -> None:
        values = model.values.at(added, fact)
        if not any(v.kind == "loss" for v in values):
            return
        if model.phases.in_no_grad_block(fact) or _backpropagated(model, fact.scope, total):
            return
        fix = None
        method = "detach" if is_list or not _numeric_total(model, fact, total) else "item"
        fix = ctx.fix(f"Add `.{method}()`", ctx.replace(added, _with_method(model, added, method)))
        kind = "list" if is_list else "running total"
        ctx.report(
            added,
            f"`{model.code(added)}` is a loss tensor with its autograd graph, and adding it to the "
            f"{kind} `{total}` keeps every iteration's graph (and activations) alive, so memory "
            f"grows each step. Add `.{method}()` to keep only the number.",
            fix=fix,
            context={"total": total, "kind": "list" if is_list else "sum",
                     "trains": model.phases.trains(fact.loop, fact.scope),
                     **model_context(model, [v for forward in model.phases.forwards_in(fact.loop, fact.scope)
                                             for v in forward.models])},
        )

    @staticmethod
    def experiment(lab):
        """Several steps that keep each step's loss in a running total (or list), as
        the script does, vs keeping ``loss.item()``: the autograd nodes the total
        keeps alive, and the saved activations they still hold."""
        import weakref

        torch = lab.torch
        steps = 6
        as_list = lab.context.get("kind") == "list"
        trains = lab.context.get("trains", True)

        class Saved:
            """A tensor autograd saved for backward, as a weakly referenceable box."""

            def __init__(self, tensor):
                self.tensor = tensor

        def storage(tensor):
            try:
                return tensor.untyped_storage().data_ptr()
            except (RuntimeError, NotImplementedError):
                return id(tensor)

        def graph_nodes(totals):
            seen, stack = set(), [t.grad_fn for t in totals if isinstance(t, torch.Tensor) and t.grad_fn]
            while stack:
                node = stack.pop()
                if node not in seen:
                    seen.add(node)
                    stack.extend(child for child, _ in node.next_functions if child is not None)
            return len(seen)

        def run(keep_number):
            """(graph nodes after each step, saved activations still alive, their bytes)."""
            alive = weakref.WeakSet()

            def pack(tensor):
                box = Saved(tensor)
                if storage(tensor) not in weights:
                    alive.add(box)
                return box

            total = [] if as_list else 0.0
            nodes = []
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.tensor):
                for _ in range(steps):
                    model.zero_grad(set_to_none=True)
                    loss = lab.output_tensor(lab.forward(model, inputs)).float().pow(2).mean()
                    if trains:
                        loss.backward()
                    value = loss.item() if keep_number else loss
                    if as_list:
                        total.append(value)
                    else:
                        total = total + value
                    del loss
                    nodes.append(graph_nodes(total if as_list else [total]))
            held = [box.tensor.numel() * box.tensor.element_size() for box in alive]
            return nodes, len(held), sum(held)

        model = lab.build_from_context(stand_in="nn.Linear(8, 4)")
        inputs = lab.inputs(model)
        weights = {storage(p) for p in model.parameters()}
        lab.assume("loss", "the mean square of the model's output stands in for the script's loss")
        lab.assume("backward", "called on each step's loss, as the loop does" if trains
                   else "not called: the loop does not train")
        nodes, held, held_bytes = run(keep_number=False)
        item_nodes, item_held, _ = run(keep_number=True)
        per_step = (nodes[-1] - nodes[0]) / (steps - 1)
        what = "list" if as_list else "running total"
        numbers = dict(steps=steps, graph_nodes=nodes, nodes_per_step=per_step, saved_tensors_held=held,
                       saved_bytes_held=held_bytes, item_graph_nodes=item_nodes[-1],
                       item_saved_tensors_held=item_held)
        kept = f" and {held} saved activation tensors ({lab.fmt(held_bytes / 1024)} KiB)" if held else ""
        summary = (f"after {steps} steps the {what} keeps {nodes[-1]} autograd nodes alive{kept}, "
                   f"{lab.fmt(per_step)} more nodes per step; with .item(): {item_nodes[-1]} nodes")
        if nodes[-1] > nodes[0]:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary + ": the graph does not grow", **numbers)


def _backpropagated(model, scope, total: str) -> bool:
    """Gradient accumulation: the total itself (or an expression of it) is backpropagated."""
    for call in scope.calls:
        if call.method == "backward" and call.receiver is not None:
            if total in {dotted_name(node) for node in iter_nodes(call.receiver)}:
                return True
        if model.function_kind(call) == "autograd_grad" and call.args:
            if total in {dotted_name(node) for node in iter_nodes(call.args[0].value)}:
                return True
    return False


def _numeric_total(model, fact, total: str) -> bool:
    """The total starts as a Python number and no tensor method is called on it."""
    scope = fact.scope
    initial = None
    for assign in scope.assigns:
        if assign.order < fact.order and any(dotted_name(t) == total for t in assign.targets):
            initial = assign.value
    if initial is None or literal_number(initial) is None:
        return False
    code = model.facts.module.code_for_node(scope.node) if scope.node is not model.facts.module \
        else model.facts.module.code
    return re.search(rf"\b{re.escape(total)}\s*\.\s*\w", code) is None


def _with_method(model, node: cst.BaseExpression, method: str) -> str:
    code = model.facts.module.code_for_node(node)
    simple = isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or node.lpar
    return f"{code}.{method}()" if simple else f"({code}).{method}()"
