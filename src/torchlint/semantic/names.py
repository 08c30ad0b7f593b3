"""Torch names: what an expression refers to, from the file's import table.

``import torch.nn as nn``, ``from torch import nn``, ``from torch.nn import
BatchNorm1d as BN``, ``import torch.nn.functional as F`` and full paths such
as ``torch.nn.modules.batchnorm.BatchNorm2d`` all resolve to one canonical
name (``torch.nn.BatchNorm2d``), which is looked up in the symbol tables of
``data/torch_symbols.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.walker import dotted_name

_SUBMODULE_RE = re.compile(r"^torch\.nn\.modules(?:\.[a-z_]+)?\.(?=[A-Z])")
_CANONICAL_PREFIXES = (
    ("torch.utils.data.dataloader.", "torch.utils.data."),
    ("torch.utils.data.dataset.", "torch.utils.data."),
    ("torch.nn.parameter.", "torch.nn."),
    ("torch.optim.optimizer.", "torch.optim."),
    ("torch.autograd.grad_mode.", "torch.autograd."),
    ("torch.random.", "torch."),
    ("np.", "numpy."),
)


def canonical(name: str) -> str:
    name = _SUBMODULE_RE.sub("torch.nn.", name)
    for prefix, replacement in _CANONICAL_PREFIXES:
        if name.startswith(prefix):
            return replacement + name[len(prefix):]
    return name


@dataclass(frozen=True)
class Symbols:
    """The tables of ``torch_symbols.json``, indexed for lookup."""

    layer_kinds: dict[str, str]
    function_kinds: dict[str, str]
    losses: dict[str, dict[str, Any]]
    framework_eval_methods: frozenset[str]
    framework_bases: frozenset[str]
    framework_evaluators: frozenset[str]
    model_factories: tuple[str, ...]
    grad_scalers: frozenset[str]  # AMP GradScaler classes: scaler.scale(loss) multiplies the gradients
    eval_function_names: dict[str, tuple[str, ...]]
    eval_loader_words: frozenset[str]
    # Standard datasets: the argument that picks the split and each split's length.
    dataset_sizes: dict[str, dict[str, Any]]
    # Methods of library models that run without autograd themselves
    # (transformers' `generate` is decorated with torch.no_grad()).
    grad_free_library_methods: frozenset[str]
    # The libraries whose models those methods belong to (peft's PeftModel.generate
    # hands the call to the transformers model it wraps).
    grad_free_method_libraries: frozenset[str]

    def dataset_size(self, name: str | None) -> dict[str, Any] | None:
        """The size table of a standard dataset class (`torchvision.datasets.MNIST`,
        also written through its submodule `torchvision.datasets.mnist.MNIST`)."""
        if not name or not name.startswith("torchvision.datasets."):
            return None
        return self.dataset_sizes.get(f"torchvision.datasets.{name.rsplit('.', 1)[-1]}")

    def layer_kind(self, name: str | None) -> str | None:
        return self.layer_kinds.get(name) if name else None

    def function_kind(self, name: str | None) -> str | None:
        return self.function_kinds.get(name) if name else None

    def loss(self, name: str | None) -> dict[str, Any] | None:
        return self.losses.get(name) if name else None


@lru_cache(maxsize=1)
def symbols() -> Symbols:
    # A plain path: importlib.resources costs tens of milliseconds of startup.
    data = json.loads((Path(__file__).parent.parent / "data" / "torch_symbols.json").read_text())
    layer_kinds = {name: kind for kind, names in data["layers"].items() for name in names}
    function_kinds = {name: kind for kind, names in data["functions"].items() for name in names}
    return Symbols(
        layer_kinds=layer_kinds,
        function_kinds=function_kinds,
        losses=data["losses"],
        framework_eval_methods=frozenset(data["framework_eval_methods"]),
        framework_bases=frozenset(data["framework_bases"]),
        framework_evaluators=frozenset(data["framework_evaluators"]),
        model_factories=tuple(data["model_factories"]),
        grad_scalers=frozenset(data["grad_scalers"]),
        eval_function_names={k: tuple(v) for k, v in data["eval_function_names"].items()
                             if not k.startswith("_")},
        eval_loader_words=frozenset(data["eval_loader_words"]),
        dataset_sizes={k: v for k, v in data["dataset_sizes"].items() if not k.startswith("_")},
        grad_free_library_methods=frozenset(data["grad_free_library_methods"]),
        grad_free_method_libraries=frozenset(data["grad_free_method_libraries"]),
    )


def binding_before(scope: F.Scope, name: str, order: int | None) -> F.Binding | None:
    """The last binding of `name` in `scope` before `order` (any, if order is None
    or none precedes it: a function may use a global bound later in the file)."""
    found = scope.bindings.get(name)
    if not found:
        return None
    if order is not None:
        earlier = [b for b in found if b.order < order]
        if earlier:
            return earlier[-1]
    return found[-1] if scope.kind != "function" or order is None else found[0]


def reaching_bindings(scope: F.Scope, name: str, order: int | None) -> list[F.Binding]:
    """The bindings of `name` in `scope` that may hold at `order`: the one
    :func:`binding_before` picks and, when it sits in an ``if``/``try`` arm that
    does not enclose the use, the earlier ones that still reach when the arm does
    not run (``model = Net()`` then ``if cuda: model = DataParallel(model)``).
    Latest first. With no order the use is the end of the scope."""
    found = scope.bindings.get(name)
    if not found:
        return []
    last = binding_before(scope, name, order)
    assert last is not None
    index = next(i for i, b in enumerate(found) if b is last)
    if order is not None and last.order >= order:
        return [last]  # used before any binding here (a later global): keep the one choice
    use = order if order is not None else scope.end_order + 1
    reaching = [last]
    covered: list[F.Branch] = []  # arms whose binding shadows earlier ones in them
    binding = last
    while index > 0:
        arms = _arms_not_enclosing(binding, use)
        if not arms:
            break  # runs whenever the use runs: nothing earlier reaches
        covered.append(arms[0])
        index -= 1
        binding = found[index]
        if any(arm in covered for arm in _arms(binding)):
            continue  # shadowed by a later binding of the same arm
        reaching.append(binding)
    return reaching


def through_aliases(scope: F.Scope, name: str, order: int) -> tuple[str, F.Binding | None]:
    """The dotted `name`, used at `order` in `scope`, with each head that a plain
    alias binds there replaced by what it aliases (`model = ctx.model` makes
    `model.train()` act on `ctx.model`), and the binding of the resulting
    root at that point. An alias that may not hold (set in one arm only, or
    by unpacking) stops the walk, as does any value that is not a dotted name."""
    for _ in range(4):  # alias of an alias, a few hops at most
        head, dot, rest = name.partition(".")
        reaching = reaching_bindings(scope, head, order)
        if len(reaching) != 1 or reaching[0].order >= order or reaching[0].path:
            break
        fact = reaching[0].fact
        if not isinstance(fact, F.Assign) or fact.kind != "assign" or len(fact.targets) != 1:
            break
        value = dotted_name(fact.value)
        if value is None or value.partition(".")[0] == head:
            break  # `model = model.module` rebinds in place: no second name for the object
        name, order = value + dot + rest, reaching[0].order
    return name, binding_before(scope, name.partition(".")[0], order)


def _arms(binding: F.Binding) -> list[F.Branch]:
    """The ``if``/``try`` arms around `binding`, innermost first."""
    branch = getattr(binding.fact, "branch", None)
    arms = []
    while branch is not None:
        arms.append(branch)
        branch = branch.parent
    return arms


def _arms_not_enclosing(binding: F.Binding, use: int) -> list[F.Branch]:
    return [arm for arm in _arms(binding) if not arm.order < use <= arm.end_order]


def lookup_reaching(scope: F.Scope, name: str, order: int | None) -> tuple[F.Scope, list[F.Binding]] | None:
    """:func:`lookup` with every binding that may reach the use (see
    :func:`reaching_bindings`), latest first."""
    found = lookup(scope, name, order)
    if found is None:
        return None
    owner, binding = found
    reaching = reaching_bindings(owner, name, order if owner is scope else None)
    return owner, reaching if reaching and reaching[0] is binding else [binding]


def lookup(scope: F.Scope, name: str, order: int | None) -> tuple[F.Scope, F.Binding] | None:
    """Resolve `name` as Python does: the scope, then enclosing functions, then the
    module (class bodies are skipped for names used inside methods)."""
    current: F.Scope | None = scope
    first = True
    while current is not None:
        if first or current.kind != "class":
            binding = binding_before(current, name, order if first else None)
            if binding is not None:
                return current, binding
        first = False
        current = current.parent
    return None


class Names:
    """Resolves dotted expressions of one file to canonical qualified names."""

    def __init__(self, facts: F.FileFacts,
                 star_alias: Callable[[str], F.Import | None] | None = None) -> None:
        self.facts = facts
        # `from .parts import *` also brings the import aliases of parts.py
        # (`nn`, `torch`, `F`): asked for a name this file does not bind.
        self.star_alias = star_alias
        # What each call of the file calls, by id of its Call fact: asked by most
        # rules of most calls.
        self._callees: dict[int, str | None] = {}

    def qualified(self, node: cst.CSTNode | None, scope: F.Scope | None = None,
                  order: int | None = None) -> str | None:
        """``nn.functional.softmax`` -> ``torch.nn.functional.softmax``; None when the
        head of the chain is not an import (a local variable, ``self``, a call)."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        found = lookup(scope or self.facts.scope, head, order)
        if found is None:
            star = self.star_alias(head) if self.star_alias is not None else None
            if star is None:
                return None
            return canonical(f"{star.qualified}.{rest}" if rest else star.qualified)
        _, binding = found
        fact = binding.fact
        if isinstance(fact, F.Import):
            if fact.level or fact.name == "*":
                base = fact.qualified
            else:
                base = fact.qualified
            return canonical(f"{base}.{rest}" if rest else base)
        if isinstance(fact, F.Assign) and fact.kind == "assign" and len(fact.targets) == 1 \
                and isinstance(fact.targets[0], cst.Name) and fact.value is not None \
                and dotted_name(fact.value) is not None and fact.value is not node:
            # `nn = torch.nn`, `Dropout = nn.Dropout`: one alias hop.
            base = self.qualified(fact.value, fact.scope, fact.order)
            if base is not None:
                return canonical(f"{base}.{rest}" if rest else base)
        return None

    def callee(self, call: F.Call) -> str | None:
        key = id(call)
        if key in self._callees:
            return self._callees[key]
        found = self._callees[key] = self.qualified(call.func, call.scope, call.order)
        return found
