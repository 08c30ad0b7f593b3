from __future__ import annotations

import re

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.uses import uses_of
from torchlint.semantic.walker import dotted_name, iter_nodes


class LossAccumulatedWithGraph(Rule):
    """## What it does
    Finds a running total of loss tensors kept across loop iterations
    (`total_loss += loss`, `total = total + loss`, `losses.append(loss)`, or
    `meter.update(loss)` where a method of the meter's project class adds the
    value into an attribute: `self.sum += val * n`)
    where the total is never backpropagated. A loss computed from detached
    tensors only (`crit(pred.detach().cpu(), y.detach())`) and the number arm
    of `x.item() if torch.is_tensor(x) else x` hold no graph.

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
    The fix adds `.item()` when the total starts as a Python number, and
    `.detach()` otherwise (lists, totals used as tensors). It is safe only
    when the total is read as a number and nothing else (printed, logged,
    compared): then the program computes the same. Where the total is
    returned, stored or passed on, the fix is unsafe: code elsewhere may need
    the tensor. Totals that are backpropagated (gradient accumulation, the
    terms of one step's loss) are never reported, so no fix can take a term
    out of what reaches `backward()`.
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
            total = _total_name(aug.target)
            if aug.loop is None or aug.operator != "AddAssign" or total is None:
                continue
            self._check_added(ctx, model, aug, total, aug.value, is_list=False)
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
        for call in model.facts.calls:
            if call.loop is None or call.method is None or call.method == "append" or not call.args:
                continue
            total = dotted_name(call.receiver) if call.receiver is not None else None
            if total is None:
                continue
            for added in _summed_by_method(model, call):
                self._check_added(ctx, model, call, total, added, is_list=False)

    def _check_added(self, ctx, model, fact: F.Located, total: str, added: cst.BaseExpression,
                     is_list: bool) -> None:
        if not _carries_graph(model, fact, added):
            return
        if model.phases.grad_disabled_at(fact) or _reset_each_iteration(fact, total, fact.loop):
            return
        trains = model.phases.trains(fact.loop, fact.scope)
        if not trains and _over_parts_of_one_item(fact.loop) and fact.loop.parent is not None \
                and _reset_each_iteration(fact, total, fact.loop.parent):
            return  # a sum over the frames/heads of one item, dropped with the next item: no growth
        uses = uses_of(model, fact.scope, total)
        # A sum that is backpropagated is a loss being built (gradient accumulation,
        # terms of one step's loss), not a running total: never report it. A sum
        # handed out of a loop that does not train is the same (a loss module's
        # forward summing its heads), as far as this function can see; but in an
        # evaluation phase the sum is a metric, and a graph kept there is a leak.
        if uses.backpropagated or (not trains and not uses.only_read_as_number
                                   and not _in_evaluation(model, fact)):
            return
        method = "detach" if is_list or not _numeric_total(model, fact, total) else "item"
        # Safe only where nothing but number-reading code sees the total: then
        # `.item()` changes no result. Anywhere else the tensor may be needed.
        safe = method == "item" and uses.only_read_as_number and "." not in total \
            and isinstance(fact, F.AugAssign | F.Assign)  # an attribute is read by other methods
        fix = ctx.fix(f"Add `.{method}()`", ctx.replace(added, _with_method(model, added, method)), safe=safe)
        kind = "list" if is_list else "running total"
        ctx.report(
            added,
            title=f"running {'list' if is_list else 'total'} `{_short(total)}` keeps every step's loss graph alive",
            message=f"`{model.code(added)}` is a loss tensor with its autograd graph, and adding it to the "
            f"{kind} `{total}` keeps every iteration's graph (and activations) alive, so memory "
            f"grows each step. Add `.{method}()` to keep only the number.",
            fix=fix,
            context={"total": total, "kind": "list" if is_list else "sum",
                     "trains": trains,
                     **model_context(model, _models_feeding(model, fact))},
        )

    @staticmethod
    def experiment(lab):
        """Several steps that keep each step's loss in a running total (or list), as
        the script does, vs keeping ``loss.item()``: the autograd nodes the total
        keeps alive, and the saved activations they still hold.

        Which objects decide. The loss is the mean square of the model's output: an
        assumption, not a stand-in. Whether a kept loss holds a graph depends on one
        fact of the user's code only, that the model's output requires grad where the
        loop runs (trainable parameters reached by the forward, grad mode on: the
        static side drops totals under ``no_grad``/``inference_mode``); any loss made
        from that output by differentiable operations carries its graph, and the
        graph it keeps is the model's own forward graph (its size is the model's).
        A frozen model, or a forward that detaches, is refuted. Without a model of the
        script the stand-in model says so (``mechanism_only``)."""
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

        model, inputs = lab.model_and_inputs(stand_in="nn.Linear(8, 4)")
        weights = {storage(p) for p in model.parameters()}
        lab.assume("loss", "the mean square of the model's output: a kept loss holds a graph exactly when "
                   "the output requires grad, whatever the loss's form")
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


def _models_feeding(model, fact: F.Located) -> list:
    """The models the loop around the total runs: the innermost enclosing loop with a
    forward pass (``for name, value in parts.items(): totals[name] += value`` sums inside
    the training loop that ran the model)."""
    loop = fact.loop
    while loop is not None:
        found = [v for forward in model.phases.forwards_in(loop, fact.scope) for v in forward.models]
        if found:
            return found
        loop = loop.parent
    return []


def _carries_graph(model, fact: F.Located, added: cst.BaseExpression) -> bool:
    """The added value is a loss, or a tensor the same loop backpropagates (so it has a graph).
    A loss computed from detached tensors only (`crit(pred.detach().cpu(), y.detach())`) has none."""
    values = model.values.at(added, fact)
    if any(v.kind == "loss" and not _of_detached_tensors(v.origin) for v in values):
        return True
    if values and all(v.kind == "number" for v in values):
        return False  # `loss = loss.item()` before it is added: every binding reaching here is a number
    added_names = {dotted_name(_scaled_operand(added))} - {None}
    for call in fact.loop.scope.calls if fact.loop.scope is not None else ():
        if fact.loop.contains(call) and call.method == "backward" and call.receiver is not None:
            receiver = call.receiver
            if isinstance(receiver, cst.Call) and dotted_name(receiver.func) is not None \
                    and dotted_name(receiver.func).endswith(".scale") and receiver.args:
                receiver = receiver.args[0].value  # scaler.scale(loss).backward()
            if dotted_name(receiver) in added_names and _same_binding(fact, call, receiver):
                return True
    return _returned_after_backward(model, fact, _scaled_operand(added))


def _same_binding(fact: F.Located, backward: F.Call, receiver: cst.BaseExpression) -> bool:
    """The name backpropagated still holds that tensor where it is added: not rebound
    in between (`loss.backward()` ... `loss = loss.detach()` ... `losses.append(loss)`)."""
    if not isinstance(receiver, cst.Name) or fact.scope is not backward.scope:
        return True
    at_add = lookup(fact.scope, receiver.value, fact.order)
    at_backward = lookup(backward.scope, receiver.value, backward.order)
    return at_add is None or at_backward is None or at_add[1] is at_backward[1]


def _summed_by_method(model, call: F.Call) -> list[cst.BaseExpression]:
    """The arguments of `meter.update(loss, n)` that a method of the meter's project class adds
    into one of its attributes (`self.sum += val * n`): a running total kept by an object."""
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if not positional or not any(isinstance(a, (cst.Name, cst.Attribute, cst.BinaryOperation, cst.Subscript))
                                 for a in positional):
        return []
    methods = []
    for value in model.values.at(call.receiver, call):
        definition = value.definition if value.kind == "instance" else None
        if definition is not None and isinstance(definition.fact, F.Class):
            method = definition.fact.methods.get(call.method)
            if method is not None:
                methods.append(method)
    if len(methods) != 1:
        return []
    method = methods[0]
    found = []
    for param in method.params[1:]:
        added = call.keyword(param.name)
        if added is None and param.index - 1 < len(positional):
            added = positional[param.index - 1]
        if added is not None and _accumulates_param(method, param.name):
            found.append(added)
    return found


_NUMBER_MAKERS = frozenset({"item", "float", "int", "detach", "tolist", "numpy"})


def _accumulates_param(method: F.Function, name: str) -> bool:
    """`self.sum += val * n` (or `self.total[i] += val`) in `method`, with `val` the parameter
    `name` as given: not rebound first, not made a number (`val.item()`, `float(val)`)."""
    if any(isinstance(t, cst.Name) and t.value == name for a in method.assigns for t in a.targets):
        return False
    for aug in method.aug_assigns:
        root = aug.target.value if isinstance(aug.target, cst.Subscript) else aug.target
        if aug.operator != "AddAssign" or not isinstance(root, cst.Attribute) or dotted_name(root.value) != "self":
            continue
        names = [n for n in iter_nodes(aug.value) if isinstance(n, cst.Name) and n.value == name]
        converted = any(isinstance(n, cst.Call) and (
            isinstance(n.func, cst.Attribute) and n.func.attr.value in _NUMBER_MAKERS
            or isinstance(n.func, cst.Name) and n.func.value in _NUMBER_MAKERS) for n in iter_nodes(aug.value))
        if names and not converted:
            return True
    return False


def _of_detached_tensors(origin) -> bool:
    """A loss call whose every argument is detached (`.detach()` or `.data`, then any
    copies or views: `.cpu()`, `.float()`, `.view(-1)`), so its result records no graph."""
    if not isinstance(origin, cst.Call) or not origin.args:
        return False
    return all(_detached(arg.value) for arg in origin.args)


def _detached(node: cst.BaseExpression) -> bool:
    while True:
        if isinstance(node, cst.Attribute) and node.attr.value == "data":
            return True
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
            return False
        if node.func.attr.value in ("detach", "detach_"):
            return True
        if node.func.attr.value not in _KEEPING_METHODS:
            return False
        node = node.func.value


# Methods whose result has a graph exactly when their receiver does.
_KEEPING_METHODS = frozenset({"cpu", "cuda", "to", "float", "double", "half", "long", "view", "reshape",
                              "squeeze", "unsqueeze", "contiguous", "flatten", "permute", "transpose"})


def _returned_after_backward(model, fact: F.Located, added: cst.BaseExpression) -> bool:
    """The added name holds (a part of) what a project function returned after
    calling backward() on it: `losses = trainer.train_step(batch)`, where train_step
    runs `losses.total.backward()` and returns `losses`. Its tensors keep their graph."""
    if not isinstance(added, cst.Name):
        return False
    scope, order, name = fact.scope, fact.order, added.value
    for _ in range(3):  # `total` <- `a, total = losses` <- `losses = helper(...)`
        found = lookup(scope, name, order)
        if found is None or not isinstance(found[1].fact, F.Assign) or found[1].fact.kind != "assign":
            return False
        assign = found[1].fact
        value = assign.value
        if isinstance(value, cst.Name):
            scope, order, name = assign.scope, assign.order, value.value
            continue
        if not isinstance(value, cst.Call):
            return False
        callees = model.values.infer(value.func, assign.scope, assign.order)
        return any(v.kind == "function" and v.definition is not None
                   and _backpropagates_its_return(model, v.definition.fact) for v in callees)
    return False


def _backpropagates_its_return(model, function: F.Function) -> bool:
    """`loss.backward(); ...; return loss` (or an attribute's backward, `losses.total.backward()`)."""
    returned = {r.value.value for r in function.returns if isinstance(r.value, cst.Name)}
    if not returned:
        return False
    for call in function.calls:
        if call.method != "backward" or call.receiver is None:
            continue
        root = call.receiver
        while isinstance(root, cst.Attribute):
            root = root.value
        if isinstance(root, cst.Name) and root.value in returned:
            return True
    return False


def _scaled_operand(node: cst.BaseExpression) -> cst.BaseExpression:
    """`loss * n`, `loss / n`, `w * loss`: the tensor operand of a scaling (it keeps the graph)."""
    while isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Multiply, cst.Divide)):
        left, right = node.left, node.right
        node = left if dotted_name(left) is not None or isinstance(left, cst.BinaryOperation) else right
    return node


def _in_evaluation(model, fact: F.Located) -> bool:
    return any(phase.block is fact.loop or phase.block.contains(fact) for phase in model.phases.eval_phases)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _total_name(target: cst.BaseExpression) -> str | None:
    """`total`, `self.total`, and the container of `totals[name]` (a dict of running totals)."""
    if isinstance(target, cst.Subscript):
        target = target.value
    return dotted_name(target)


def _over_parts_of_one_item(loop: F.Loop) -> bool:
    """`for i in range(n)` / `for a, b in zip(...)`: a loop over the parts of something, not data."""
    iterated = loop.iter
    return isinstance(iterated, cst.Call) and dotted_name(iterated.func) in ("range", "zip")


def _reset_each_iteration(fact: F.Located, total: str, loop: F.Loop) -> bool:
    """`total = ...` earlier in the body of `loop`: the sum lives for one iteration of it only."""
    for assign in fact.scope.assigns:
        if assign is not fact and loop.contains(assign) and assign.order < fact.order \
                and any(dotted_name(t) == total for t in assign.targets) \
                and not (isinstance(assign.value, cst.BinaryOperation) and dotted_name(assign.value.left) == total):
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
