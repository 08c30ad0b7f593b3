from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import conditions
from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.steps import STEP, steps_of
from torchlint.semantic.walker import dotted_name, iter_nodes

_MODULE_KINDS = ("module",)


@dataclass(frozen=True)
class _Optimizer:
    name: str  # the variable holding it
    assign: F.Assign  # `opt = torch.optim.X(model.parameters())`
    owner: str  # "model", "self.net"
    owner_node: cst.BaseExpression  # the owner as written in the construction
    returned: bool = False  # unpacked from a project function's `return model, optimizer`


@dataclass(frozen=True)
class _ForeignLoad:
    """`other.load_state_dict(...)` after the optimizer, onto a module other than the
    one the optimizer holds, which the optimizer then trains."""

    call: F.Call  # the load_state_dict call
    target: str  # "restored", "self.best"
    trained_at: F.Call  # the step (or the training helper's call) that uses the optimizer on it
    loaded: frozenset  # the module values of `target`


class OptimizerOnStaleParameters(Rule):
    """## What it does
    Finds an optimizer built over a model's parameters
    (`SGD(model.parameters())`, also `list(...) + list(...)`, `filter(...)`,
    param-group dicts, or returned with the model by a helper) after which,
    and before the optimizer steps, the model gets parameters the optimizer
    never sees: a layer replaced (`model.fc = nn.Linear(...)`), the model
    variable (or the object holding it) rebound to a new module or a
    `copy.deepcopy`, or layers rebuilt in place by a library call (NNI's
    `ModelSpeedup(model, ...).speedup_model()`; `resize_token_embeddings`
    after tokens were added to the tokenizer). Also weights loaded with
    `load_state_dict` into another module than the optimizer's (a fresh
    `restored = Net()`) when that module is then trained with the optimizer:
    its steps update the first model only (not when another optimizer holds
    the loaded module: a GAN's critic run forward in the generator's step).

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
    as `DataParallel(model)`, `copy.copy(model)` (same parameter tensors) and
    an optimizer built again or given `add_param_group` after the change are
    not reported, nor a change under an `if` that module-level constants
    never take (`RESET_HEAD = False`), nor
    `load_state_dict` into the optimizer's own model (it copies into the same
    tensors) or into a module the optimizer does not train (a teacher, an
    EMA copy, a model only evaluated).
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
            reported: set[int] = set()  # one finding per change, however many owners it replaces
            optimizers = [*_optimizers(model, scope), *_returned_optimizers(model, scope)]
            for optimizer in optimizers:
                for change in _parameter_changes(model, scope, optimizer):
                    if id(change.node) not in reported and _used_after(model, scope, optimizer, change):
                        reported.add(id(change.node))
                        self._report(ctx, optimizer, change)
                for call in _rebuilding_calls(model, scope, optimizer):
                    if id(call.node) not in reported and _used_after(model, scope, optimizer, call):
                        reported.add(id(call.node))
                        self._report_rebuilt(ctx, optimizer, call)
                if not optimizer.returned:
                    for load in _foreign_loads(model, scope, optimizer):
                        if not _has_own_optimizer(model, load, optimizers):
                            self._report_load(ctx, optimizer, load)

    def _report_rebuilt(self, ctx, optimizer: _Optimizer, call: F.Call) -> None:
        model = ctx.model
        owner, name = optimizer.owner, optimizer.name
        what = "`resize_token_embeddings` builds a new embedding matrix" \
            if call.method == "resize_token_embeddings" else "model speedup replaces the pruned layers with new ones"
        ctx.report(
            call.node,
            title=f"{titles.code(owner, 20)} gets new layers after {titles.code(name, 14)} was built: "
                  f"they never train",
            message=f"{what} for `{owner}` here, after `{name}` was built over its parameters "
            f"({model.where(optimizer.assign.node)}). The new layers have new parameter tensors that "
            f"`{name}` does not hold, so `{name}.step()` never updates them and they keep the values "
            f"they were created with. Build the optimizer after this call.",
            context={"rebuilt_by": model.code(call.func),
                     **model_context(model, model.values.at(_name_in(optimizer), optimizer.assign))},
        )

    def _report_load(self, ctx, optimizer: _Optimizer, load: _ForeignLoad) -> None:
        model = ctx.model
        owner, target, name = optimizer.owner, load.target, optimizer.name
        ctx.report(
            load.call.node,
            title=f"{titles.code(name, 14)} steps {titles.code(owner, 20)}, not the loaded "
                  f"{titles.code(target, 20)}",
            message=f"`{target}` gets the weights here, but it is another module than `{owner}`, whose "
            f"parameters `{name}` was built over ({model.where(optimizer.assign.node)}). `{target}` is "
            f"then trained with `{name}` ({model.where(load.trained_at.node)}), whose `step()` updates "
            f"only `{owner}`'s tensors: `{target}` computes gradients that are never applied and keeps "
            f"the loaded weights. Load the weights into `{owner}` (`{owner}.load_state_dict(...)`), or "
            f"build the optimizer over `{target}.parameters()` after loading.",
            context=_load_context(model, optimizer, load),
        )

    def _report(self, ctx, optimizer: _Optimizer, change: F.Assign) -> None:
        model = ctx.model
        target = model.code(change.targets[0])
        rebinds = not target.startswith(optimizer.owner + ".")  # the owner itself or what holds it
        what = (f"rebinds `{target}` to a new module" if target == optimizer.owner
                else f"rebinds `{target}`, which holds `{optimizer.owner}`, to a new object" if rebinds
                else f"gives `{optimizer.owner}` a new layer `{target}`")
        ctx.report(
            change.node,
            title=f"{titles.code(target, 30)} {'rebound' if rebinds else 'replaced'} after the optimizer "
                  f"was built: it never trains",
            message=f"this {what} after `{optimizer.name}` was built over `{optimizer.owner}.parameters()` "
            f"({model.where(optimizer.assign.node)}): the optimizer keeps the old parameter tensors, so "
            f"`{optimizer.name}.step()` never updates the new ones and they keep the values they were "
            f"created with. Build the optimizer after changing the model (or add the new parameters "
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
        rebuilt_by = lab.context.get("rebuilt_by")
        if rebuilt_by:
            return lab.inconclusive("missing_dependency", f"`{rebuilt_by}` rebuilds the layers inside a library "
                                    "(NNI, Hugging Face transformers) the probe does not run")
        if not source:
            return lab.inconclusive("experiment_error", "the new module is not an expression the sandbox "
                                    "can evaluate")
        model = lab.build_from_context()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        lab.assume("optimizer", "SGD over model.parameters(): which tensors it holds does not depend on "
                                "the optimizer class")
        attribute = lab.context.get("attribute")
        try:
            new = lab.deep_copy_of(model, attribute) if lab.context.get("deep_copy") else lab.evaluate(source)
        except Exception as err:  # noqa: BLE001 - names of the script's main block
            return lab.inconclusive("experiment_error", f"{source[:60]} could not be built in the sandbox "
                                    f"({type(err).__name__}: {err})")
        if not isinstance(new, torch.nn.Module):
            return lab.inconclusive("experiment_error", f"{source[:60]} is not a module")
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
    """One entry per module whose parameters an optimizer built here holds:
    `SGD(model.parameters())`, `Adam(list(a.parameters()) + list(b.parameters()))`,
    `AdamW([{"params": m.head.parameters()}, ...])`, `[p for n, p in m.named_parameters()]`."""
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
        seen: set[str] = set()
        for owner_node in _parameter_owners(call.argument(0, "params")):
            owner = dotted_name(owner_node)
            if owner is not None and owner not in seen:
                seen.add(owner)
                found.append(_Optimizer(name, assign, owner, owner_node))
    return found


def _returned_optimizers(model, scope: F.Scope) -> list[_Optimizer]:
    """`model, optimizer, ... = make_all(...)` where every return of the project function
    `make_all` gives, at those positions, a model and an optimizer built over that model."""
    found = []
    for assign in scope.assigns:
        if assign.kind != "assign" or len(assign.targets) != 1 or not isinstance(assign.value, cst.Call):
            continue
        target = assign.targets[0]
        call = model.facts.call_of.get(id(assign.value))
        if not isinstance(target, (cst.Tuple, cst.List)) or call is None \
                or any(isinstance(e, cst.StarredElement) for e in target.elements):
            continue
        definition = model.local_function(call)
        if definition is None or definition.facts is not model.facts:
            continue
        names = [dotted_name(e.value) for e in target.elements]
        for at, owner_at in sorted(_returned_pairs(model, definition.fact)):
            if max(at, owner_at) < len(names) and names[at] and names[owner_at]:
                found.append(_Optimizer(names[at], assign, names[owner_at],
                                        target.elements[owner_at].value, returned=True))
    return found


def _returned_pairs(model, function: F.Function) -> set[tuple[int, int]]:
    """(optimizer position, model position) pairs that every `return a, b, ...` of
    `function` fills with an optimizer built there over `.parameters()` of the name
    returned beside it."""
    built: dict[str, set[str]] = {}
    for optimizer in _optimizers(model, function):
        built.setdefault(optimizer.name, set()).add(optimizer.owner)
    pairs: set[tuple[int, int]] | None = None
    for ret in function.returns:
        if not isinstance(ret.value, cst.Tuple):
            return set()
        names = [dotted_name(e.value) for e in ret.value.elements]
        here = {(at, owner_at) for at, name in enumerate(names) if name in built
                for owner_at, owner in enumerate(names) if owner is not None and built[name] == {owner}}
        pairs = here if pairs is None else pairs & here
    return pairs or set()


def _parameter_owners(params: cst.BaseExpression | None) -> list[cst.BaseExpression]:
    """The receivers of the `.parameters()` / `.named_parameters()` calls in an
    optimizer's parameter argument, however it wraps them (list(), +, filter(),
    comprehensions, param-group dicts)."""
    owners = []
    for node in iter_nodes(params) if params is not None else ():
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in ("parameters", "named_parameters"):
            if node.func.attr.value == "named_parameters" or not node.args:
                owners.append(node.func.value)
    return owners


def _parameter_changes(model, scope: F.Scope, optimizer: _Optimizer) -> list[F.Assign]:
    """Assignments after the optimizer that give its model new parameter tensors."""
    changes = []
    for assign in scope.assigns:
        if assign.order <= optimizer.assign.order or assign.kind != "assign" or len(assign.targets) != 1:
            continue
        target = dotted_name(assign.targets[0])
        if target is None or not (_nested(target, optimizer.owner)):
            continue
        if optimizer.assign.loop is not None and optimizer.assign.loop is not assign.loop:
            continue  # an optimizer built per iteration
        if (_deep_copy(model, assign) or _new_module(model, assign, optimizer.owner)) \
                and not _ruled_out_by_constants(model, assign):
            changes.append(assign)
    return changes


def _ruled_out_by_constants(model, fact: F.Located) -> bool:
    """`fact` sits in an `if` arm that module-level constants never take (`RESET_HEAD =
    False` ... `if RESET_HEAD: model.fc = ...`): names bound once, to a literal, in the
    module, and read there (not shadowed where `fact` runs)."""
    assumptions: dict = {}
    branch = fact.branch
    while branch is not None:
        for name in conditions.names_tested(branch.test):
            found = lookup(fact.scope, name, fact.order)
            if found is None or found[0] is not model.facts.scope or len(found[0].bindings.get(name, ())) != 1:
                continue
            bound = found[1].fact
            if isinstance(bound, F.Assign) and bound.kind == "assign" and len(bound.targets) == 1:
                value = conditions.literal(bound.value)
                if value is not conditions.UNKNOWN:
                    assumptions[name] = value
        branch = branch.parent
    return bool(assumptions) and not conditions.consistent(fact, assumptions)


def _rebuilding_calls(model, scope: F.Scope, optimizer: _Optimizer) -> list[F.Call]:
    """Library calls after the optimizer that rebuild layers of its model in place, with
    new parameter tensors: Hugging Face `model.resize_token_embeddings(n)` after tokens
    were added to a tokenizer (and the model not resized since), and NNI's
    `ModelSpeedup(model, ...).speedup_model()`, which swaps pruned layers for smaller ones."""
    found = []
    for call in scope.calls:
        if call.order <= optimizer.assign.order or call.receiver is None:
            continue
        if optimizer.assign.loop is not None and optimizer.assign.loop is not call.loop:
            continue  # an optimizer built per iteration
        if _ruled_out_by_constants(model, call):
            continue
        if call.method == "resize_token_embeddings":
            if _denotes(model, scope, call.receiver, call.order, optimizer.owner) \
                    and _vocabulary_grown(scope, call):
                found.append(call)
        elif call.method == "speedup_model" and not call.args:
            speedup = _speedup_construction(model, scope, call)
            if speedup is not None and _denotes(model, scope, speedup.argument(0, "model"), call.order,
                                                optimizer.owner):
                found.append(call)
    return found


def _denotes(model, scope: F.Scope, node: cst.BaseExpression | None, order: int, owner: str) -> bool:
    """`node` is the owner, a part of it, or a name bound to it (`m = model.module if
    hasattr(model, "module") else model`)."""
    if node is None:
        return False
    if _within(dotted_name(node), owner):
        return True
    if not isinstance(node, cst.Name):
        return False
    found = lookup(scope, node.value, order)
    fact = found[1].fact if found is not None else None
    if not isinstance(fact, F.Assign) or fact.kind != "assign" or len(fact.targets) != 1 or fact.value is None:
        return False
    return all(_within(dotted_name(arm), owner) for arm in _arms(fact.value))


def _arms(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(node, cst.IfExp):
        return [*_arms(node.body), *_arms(node.orelse)]
    return [node]


def _vocabulary_grown(scope: F.Scope, resize: F.Call) -> bool:
    """Tokens were added in this scope before `resize`, and no resize ran between them and
    it (a second resize to the same length changes nothing)."""
    added = [c.order for c in scope.calls
             if c.method in ("add_tokens", "add_special_tokens") and c.order < resize.order]
    if not added:
        return False
    return not any(c.method == "resize_token_embeddings" and max(added) < c.order < resize.order
                   for c in scope.calls)


def _speedup_construction(model, scope: F.Scope, call: F.Call) -> F.Call | None:
    """The `ModelSpeedup(...)` construction (NNI) `call` runs `speedup_model()` on:
    the receiver itself or the name it was bound to."""
    receiver = call.receiver
    if isinstance(receiver, cst.Name):
        found = lookup(scope, receiver.value, call.order)
        fact = found[1].fact if found is not None else None
        receiver = fact.value if isinstance(fact, F.Assign) and fact.kind == "assign" else None
    construction = model.facts.call_of.get(id(receiver)) if isinstance(receiver, cst.Call) else None
    if construction is None:
        return None
    qualified = model.names.qualified(construction.func, construction.scope, construction.order) or ""
    return construction if qualified.startswith("nni.") and qualified.endswith(".ModelSpeedup") else None


def _new_module(model, assign: F.Assign, owner: str) -> bool:
    """A freshly constructed module that does not wrap the old model (`DataParallel(model)`,
    `model.to(device)` keep its tensors)."""
    value = assign.value
    if not isinstance(value, cst.Call):
        return False
    target = dotted_name(assign.targets[0])
    if any(_within(name, owner) or name == target and _within(owner, name)
           for name in map(dotted_name, iter_nodes(value))):
        return False  # wraps the model or a part of it, or the object it rebinds, which holds the model
    values = model.values.at(value, assign)
    return any(v.kind in _MODULE_KINDS and v.origin is value for v in values)


def _deep_copy(model, assign: F.Assign) -> bool:
    """`copy.deepcopy(x)`: every tensor in the copy is new, whatever `x` is (the model
    itself, an untrained template, an object holding the model)."""
    value = assign.value
    if not isinstance(value, cst.Call):
        return False
    return model.names.qualified(value.func, assign.scope, assign.order) == "copy.deepcopy"


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


def _foreign_loads(model, scope: F.Scope, optimizer: _Optimizer) -> list[_ForeignLoad]:
    """`other.load_state_dict(...)` after the optimizer, where `other` is known to be a
    module and not the optimizer's own model, then trained with the optimizer."""
    owned = _module_values(model, _name_in(optimizer), optimizer.assign)
    found = []
    for call in scope.calls:
        if call.order <= optimizer.assign.order or call.method != "load_state_dict" or call.receiver is None:
            continue
        if optimizer.assign.loop is not None and optimizer.assign.loop is not call.loop:
            continue  # an optimizer built per iteration
        target = dotted_name(call.receiver)
        if target is None or _nested(target, optimizer.owner):
            continue  # the optimizer's model, or a part of it: loaded into the same tensors
        loaded = _module_values(model, call.receiver, call)
        if not loaded or loaded & owned:
            continue  # not known to be a module, or the same model under another name
        trained_at = _trained_with(model, scope, optimizer, call, loaded, owned)
        if trained_at is not None:
            found.append(_ForeignLoad(call, target, trained_at, loaded))
    return found


def _within(name: str | None, owner: str) -> bool:
    return name is not None and (name == owner or name.startswith(owner + "."))


def _has_own_optimizer(model, load: _ForeignLoad, optimizers: list[_Optimizer]) -> bool:
    """Another optimizer of the scope holds the loaded module's parameters (a GAN's
    discriminator, loaded and stepped by its own optimizer): running it forward in the
    first optimizer's step does not train it with that one."""
    for other in optimizers:
        if _nested(load.target, other.owner) or \
                _module_values(model, _name_in(other), other.assign) & load.loaded:
            return True
    return False


def _nested(a: str, b: str) -> bool:
    """One dotted name is the other or a part of it (`self.net` and `self.net.head`)."""
    return _within(a, b) or _within(b, a)


def _module_values(model, node: cst.BaseExpression | None, fact: F.Located) -> frozenset:
    return frozenset(v for v in model.values.at(node, fact) if v.kind == "module") if node is not None \
        else frozenset()


def _trained_with(model, scope: F.Scope, optimizer: _Optimizer, load: F.Call, loaded: frozenset,
                  owned: frozenset) -> F.Call | None:
    """Where the optimizer, unchanged since `load`, first trains `loaded`: a step whose
    iteration runs forward passes of the loaded module and none of the optimizer's own
    model, or a project function of this file that steps an optimizer and is given the
    loaded module and the optimizer (not its own model). None when its first use after
    the load trains the optimizer's own model."""
    steps = steps_of(model)
    for call in scope.calls:
        if call.order <= load.order:
            continue
        if call.method == "add_param_group" and dotted_name(call.receiver) == optimizer.name:
            return None
        found = lookup(scope, optimizer.name.split(".")[0], call.order)
        if "." not in optimizer.name and (found is None or found[1].fact is not optimizer.assign):
            return None  # rebuilt since
        stepped = steps.stepped_optimizer(call)
        if stepped is not None and dotted_name(stepped) == optimizer.name:
            trained = _forward_models(model, call, scope)
            return call if trained & loaded and not trained & owned else None
        if any(dotted_name(arg.value) == optimizer.name for arg in call.args) and _steps_inside(model, call):
            given = frozenset(v for arg in call.args for v in _module_values(model, arg.value, call))
            return call if given & loaded and not given & owned else None
    return None


def _forward_models(model, step: F.Call, scope: F.Scope) -> frozenset:
    """The module values run forward in the iteration of `step`."""
    loop = step.loop
    while loop is not None and loop.kind == "comprehension":
        loop = loop.parent
    forwards = model.phases.forwards_in(loop if loop is not None else scope, scope)
    return frozenset(v for forward in forwards for v in forward.models if v.kind == "module")


def _steps_inside(model, call: F.Call) -> bool:
    """`call` runs a project function of this file that steps an optimizer."""
    definition = model.local_function(call)
    if definition is None or definition.facts is not model.facts:
        return False
    return any(event.kind == STEP for event in steps_of(model).events(definition.fact))


def _load_context(model, optimizer: _Optimizer, load: _ForeignLoad) -> dict:
    """Probe context: the loaded module's construction stands for the model trained."""
    context = model_context(model, model.values.at(_name_in(optimizer), optimizer.assign))
    built = next((v.origin for v in load.loaded if isinstance(v.origin, cst.Call) and v.facts is model.facts),
                 None)
    if built is not None:
        context["new_module"] = model.code(built)
    return context


def _context(model, optimizer: _Optimizer, change: F.Assign, rebinds: bool) -> dict:
    context = {"new_module": model.code(change.value)}
    if _deep_copy(model, change):
        context["deep_copy"] = True  # whatever is copied, the copy's tensors are new: copy the model
    if not rebinds:
        context["attribute"] = model.code(change.targets[0])[len(optimizer.owner) + 1:]
    context.update(model_context(model, model.values.at(_name_in(optimizer), optimizer.assign)))
    return context


def _name_in(optimizer: _Optimizer) -> cst.BaseExpression | None:
    """The owner expression as written in the optimizer's construction."""
    return optimizer.owner_node
