from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.steps import steps_of
from torchlint.semantic.walker import dotted_name, iter_nodes

_MODULE_KINDS = ("module",)


@dataclass(frozen=True)
class _Optimizer:
    name: str  # the variable holding it
    assign: F.Assign  # `opt = torch.optim.X(model.parameters())`
    owner: str  # "model", "self.net"


class OptimizerOnStaleParameters(Rule):
    """## What it does
    Finds an optimizer built over a model's parameters
    (`SGD(model.parameters())`) after which, and before the optimizer steps,
    the model gets parameters the optimizer never sees: a layer replaced
    (`model.fc = nn.Linear(...)`) or the model variable rebound to a new
    module.

    ## Why is this bad?
    An optimizer holds the parameter tensors it was given. A layer built
    afterwards has new tensors: `backward()` fills their gradients, but
    `step()` never updates them, so the new head stays at its random
    initialization while the loss falls only through the other layers (or
    not at all when everything else is frozen). Nothing raises an error.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.fc = nn.Linear(512, 10)
    ```

    ## Use instead
    ```python
    model.fc = nn.Linear(512, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    ```

    ## Fix safety
    There is no automatic fix. `model.to(device)`, `.cuda()`, wrappers such
    as `DataParallel(model)` (same parameter tensors) and an optimizer built
    again or given `add_param_group` after the change are not reported.
    """

    code = "TL504"
    name = "optimizer-on-stale-parameters"
    severity = Severity.ERROR
    summary = "A model gets new parameters after its optimizer was built over the old ones."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
model = model.to("cpu")
model.head = nn.Linear(8, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(10):
    optimizer.zero_grad()
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model.head = nn.Linear(8, 2)  # expect: TL504
for _ in range(10):
    optimizer.zero_grad()
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        for scope in (model.facts.scope, *model.facts.functions):
            for optimizer in _optimizers(model, scope):
                for change in _parameter_changes(model, scope, optimizer):
                    if _used_after(model, scope, optimizer, change):
                        self._report(ctx, optimizer, change)

    def _report(self, ctx, optimizer: _Optimizer, change: F.Assign) -> None:
        model = ctx.model
        target = model.code(change.targets[0])
        rebinds = target == optimizer.owner
        what = (f"rebinds `{target}` to a new module" if rebinds
                else f"gives `{optimizer.owner}` a new layer `{target}`")
        ctx.report(
            change.node,
            title=f"{titles.code(target, 30)} {'rebound' if rebinds else 'replaced'} after the optimizer "
                  f"was built: it never trains",
            message=f"this {what} after `{optimizer.name}` was built over `{optimizer.owner}.parameters()` "
            f"({model.where(optimizer.assign.node)}): the optimizer keeps the old parameter tensors, so "
            f"`{optimizer.name}.step()` never updates the new ones and they stay at their random "
            f"initialization. Build the optimizer after changing the model (or add the new parameters "
            f"with `add_param_group`).",
            context=_context(model, optimizer, change, rebinds),
        )

    @staticmethod
    def experiment(lab):
        """The model as the script builds it, an optimizer over its parameters, then the
        script's change (its new module evaluated in the script): the ids of the
        parameters the model now has against those the optimizer holds."""
        torch = lab.torch
        source = lab.context.get("new_module")
        if not source:
            return lab.inconclusive("experiment_error", "the new module is not an expression the sandbox "
                                    "can evaluate")
        model = lab.build_from_context()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        lab.assume("optimizer", "SGD over model.parameters(): which tensors it holds does not depend on "
                                "the optimizer class")
        try:
            new = lab.evaluate(source)
        except Exception as err:  # noqa: BLE001 - names of the script's main block
            return lab.inconclusive("experiment_error", f"{source[:60]} could not be built in the sandbox "
                                    f"({type(err).__name__}: {err})")
        if not isinstance(new, torch.nn.Module):
            return lab.inconclusive("experiment_error", f"{source[:60]} is not a module")
        attribute = lab.context.get("attribute")
        if attribute:
            owner = model
            *path, last = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, last, new)
        else:
            model = new
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        params = [p for p in model.parameters() if p.requires_grad]
        missing = [p for p in params if id(p) not in held]
        numbers = dict(model_tensors=len(params), optimizer_tensors=len(held), not_in_optimizer=len(missing),
                       missing_elements=sum(p.numel() for p in missing))
        summary = (f"{len(missing)} of the model's {len(params)} trainable tensors "
                   f"({sum(p.numel() for p in missing)} values) are not in the optimizer's "
                   f"{len(held)} after the change")
        if missing:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary, **numbers)


def _optimizers(model, scope: F.Scope) -> list[_Optimizer]:
    found = []
    for assign in scope.assigns:
        if assign.kind != "assign" or len(assign.targets) != 1 or not isinstance(assign.value, cst.Call):
            continue
        name = dotted_name(assign.targets[0])
        call = model.facts.call_of.get(id(assign.value))
        if name is None or call is None or not call.args:
            continue
        if not any(v.kind == "optimizer" for v in model.values.at(assign.value, assign)):
            continue
        params = call.args[0].value
        if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) \
                and params.func.attr.value == "parameters" and not params.args:
            owner = dotted_name(params.func.value)
            if owner is not None:
                found.append(_Optimizer(name, assign, owner))
    return found


def _parameter_changes(model, scope: F.Scope, optimizer: _Optimizer) -> list[F.Assign]:
    """Assignments after the optimizer that give its model new parameter tensors."""
    changes = []
    for assign in scope.assigns:
        if assign.order <= optimizer.assign.order or assign.kind != "assign" or len(assign.targets) != 1:
            continue
        target = dotted_name(assign.targets[0])
        if target is None or not (target == optimizer.owner or target.startswith(optimizer.owner + ".")):
            continue
        if optimizer.assign.loop is not None and optimizer.assign.loop is not assign.loop:
            continue  # an optimizer built per iteration
        if _new_module(model, assign, optimizer.owner):
            changes.append(assign)
    return changes


def _new_module(model, assign: F.Assign, owner: str) -> bool:
    """A freshly constructed module that does not wrap the old model (`DataParallel(model)`,
    `model.to(device)` keep its tensors)."""
    value = assign.value
    if not isinstance(value, cst.Call):
        return False
    if any(dotted_name(node) == owner for node in iter_nodes(value)):
        return False
    values = model.values.at(value, assign)
    return any(v.kind in _MODULE_KINDS and v.origin is value for v in values)


def _used_after(model, scope: F.Scope, optimizer: _Optimizer, change: F.Assign) -> bool:
    """The same optimizer (not built again) steps after the change, here or in a function
    the scope passes it to; no add_param_group in between."""
    steps = steps_of(model)
    for call in scope.calls:
        if call.order <= change.order:
            continue
        if call.method == "add_param_group" and dotted_name(call.receiver) == optimizer.name:
            return False
        found = lookup(scope, optimizer.name.split(".")[0], call.order)
        if "." not in optimizer.name and (found is None or found[1].fact is not optimizer.assign):
            continue  # rebuilt since
        stepped = steps.stepped_optimizer(call)
        if stepped is not None and dotted_name(stepped) == optimizer.name:
            return True
        if any(dotted_name(arg.value) == optimizer.name for arg in call.args):
            return True
    return False


def _context(model, optimizer: _Optimizer, change: F.Assign, rebinds: bool) -> dict:
    context = {"new_module": model.code(change.value)}
    if not rebinds:
        context["attribute"] = model.code(change.targets[0])[len(optimizer.owner) + 1:]
    context.update(model_context(model, model.values.at(_name_in(optimizer), optimizer.assign)))
    return context


def _name_in(optimizer: _Optimizer) -> cst.BaseExpression | None:
    """The owner expression as written in the optimizer's construction."""
    call = optimizer.assign.value
    params = call.args[0].value if isinstance(call, cst.Call) and call.args else None
    return params.func.value if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) else None
