"""Models whose every parameter is frozen (``requires_grad`` off).

A forward pass of such a model records no graph even with autograd on (unless
its input requires gradients), so it wastes nothing that ``no_grad()`` would
save: a feature extractor, a teacher, a model loaded only to visualise its
attention. The model is known by the values the semantic layer follows to it,
so a freeze written in a loader method counts where another method runs it.

A freeze counts when it covers every parameter:

- ``X.requires_grad_(False)``;
- ``for p in X.parameters(): p.requires_grad = False`` (or
  ``p.requires_grad_(False)``), the statement not under an ``if`` inside the
  loop (``named_parameters()`` loops that freeze by name freeze only some).

It counts for a forward pass it always precedes: earlier in the forward's
own scope on every path to it, or unconditionally in another function (the
method that loads the model). Anything in the file that turns gradients back
on for the same model (``requires_grad = True``, ``requires_grad_()``, a layer
assigned to it, its ``parameters()`` handed to an optimizer) cancels it: the
order of freezing and fine-tuning is not followed.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Iterable

import libcst as cst

from torchlint.semantic import conditions as C
from torchlint.semantic import facts as F
from torchlint.semantic.conditions import literal
from torchlint.semantic.walker import iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel
    from torchlint.semantic.values import Value

_PARAMETER_METHODS = ("parameters", "named_parameters")


class Freezing:
    """The models of one file frozen whole, by the node that built them."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model

    def frozen(self, models: Iterable[Value], at: F.Located) -> bool:
        """Whether the model holding `models` is frozen whole when `at` runs: every
        value known, each frozen by a statement that always runs before `at` (in
        `at`'s scope), or unconditionally in the function that builds it."""
        origins = [v.origin for v in models if v.kind == "module"]
        if not origins or any(o is None or id(o) not in self._freezes for o in origins):
            return False
        return all(any(self._holds(freeze, at) for freeze in self._freezes[id(o)]) for o in origins)

    def _holds(self, freeze: F.Located, at: F.Located) -> bool:
        if freeze.scope is at.scope:
            return freeze.order < at.order and C.dominates(freeze, at)
        # In another function (the loader of the model): it must run whenever that does.
        return freeze.branch is None

    @cached_property
    def _freezes(self) -> dict[int, list[F.Located]]:
        """The freezing statements of each model never thawed, by id of its origin."""
        freezes: dict[int, list[F.Located]] = {}
        thawed: set[int] = set()
        for owner, on, fact in self._switches():
            for value in owner:
                if value.kind == "module" and value.origin is not None:
                    if on is False:
                        freezes.setdefault(id(value.origin), []).append(fact)
                    else:
                        thawed.add(id(value.origin))
        if freezes:
            thawed.update(self._given_new_layers())
            thawed.update(self._optimized())
        return {key: facts for key, facts in freezes.items() if key not in thawed}

    def _optimized(self) -> set[int]:
        """Models whose `parameters()` are handed to an optimizer: something of them trains."""
        found: set[int] = set()
        for call in self.model.facts.calls:
            if call.method not in ("parameters", "named_parameters") or call.receiver is None:
                continue
            if self._inside_optimizer(call):
                found.update(id(v.origin) for v in self.model.values.at(call.receiver, call)
                             if v.kind == "module" and v.origin is not None)
        return found

    def _inside_optimizer(self, call: F.Call) -> bool:
        """Whether `call` is (part of) an argument of an optimizer's construction."""
        for other in call.scope.calls:
            if other is call or not other.args or other.order > call.order:
                continue
            if any(node is call.node for arg in other.args for node in iter_nodes(arg.value)) and \
                    any(v.kind == "optimizer" for v in self.model.values.at(other.node, other)):
                return True
        return False

    def _given_new_layers(self) -> set[int]:
        """Models given a layer after construction (`model.fc = nn.Linear(512, 10)`, the
        usual head of a frozen backbone): its parameters require gradients."""
        found: set[int] = set()
        for assign in self.model.facts.assigns:
            if assign.kind != "assign" or not isinstance(assign.value, cst.Call):
                continue
            for target in assign.targets:
                if isinstance(target, cst.Attribute) and not _is_self(target.value, assign):
                    found.update(id(v.origin) for v in self.model.values.at(target.value, assign)
                                 if v.kind == "module" and v.origin is not None)
        return found

    def _switches(self) -> Iterable[tuple[frozenset, object, F.Located]]:
        """(model values, the requires_grad it sets: True, False or unknown, the
        statement) for each
        statement that switches the gradients of a whole model, or of its
        parameters in a loop. A freeze that covers only some parameters (under an
        `if` inside the loop) is left out; every thaw counts."""
        facts = self.model.facts
        for call in facts.calls:
            if call.method == "requires_grad_" and call.receiver is not None:
                given = call.argument(0, "requires_grad")
                yield from self._switched(call.receiver, call, True if given is None else literal(given), whole=True)
        for assign in facts.assigns:
            if assign.kind != "assign" or assign.value is None:
                continue
            for target in assign.targets:
                if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
                    yield from self._switched(target.value, assign, literal(assign.value), whole=False)

    def _switched(self, node: cst.BaseExpression, fact: F.Located, on: object, whole: bool):
        """`node.requires_grad_(on)` (whole) or `node.requires_grad = on`: a parameter
        bound by `for p in M.parameters()` switches M, a freeze only when no `if`
        inside the loop guards it; otherwise `requires_grad_` switches the model
        `node` itself."""
        loop = self._loop_of(node.value, fact) if isinstance(node, cst.Name) else None
        if loop is not None:
            if on is False and fact.branch is not None and loop.contains(fact.branch):
                return  # `if "bn" in name: p.requires_grad = False`: some parameters only
            yield from self._owners(loop.iter.func.value, fact, on)  # type: ignore[union-attr]
        elif whole:
            yield from self._owners(node, fact, on)

    def _owners(self, node: cst.BaseExpression, fact: F.Located, on: object):
        """The model `node` holds; a thaw of a part (`model.fc`) thaws the
        models it belongs to as well."""
        yield self.model.values.at(node, fact), on, fact
        while on is not False and isinstance(node, cst.Attribute):
            node = node.value
            yield self.model.values.at(node, fact), on, fact

    @staticmethod
    def _loop_of(name: str, fact: F.Located) -> F.Loop | None:
        """The loop around `fact` binding `name` to the parameters of a model."""
        loop = fact.loop
        while loop is not None:
            target = loop.target
            if isinstance(target, cst.Tuple) and target.elements:
                target = target.elements[-1].value  # `for name, p in m.named_parameters()`
            iterated = loop.iter
            if isinstance(target, cst.Name) and target.value == name:
                if isinstance(iterated, cst.Call) and isinstance(iterated.func, cst.Attribute) \
                        and iterated.func.attr.value in _PARAMETER_METHODS:
                    return loop
                return None
            loop = loop.parent
        return None


def _is_self(node: cst.BaseExpression, fact: F.Located) -> bool:
    """`self` of a method: `self.fc = nn.Linear(...)` builds the model itself."""
    function = fact.scope.function
    return isinstance(node, cst.Name) and function is not None and function.class_ is not None \
        and bool(function.params) and function.params[0].name == node.value
