"""What kind of dataset a DataLoader reads: map-style (indexable, so the loader
can shuffle it) or iterable (it streams; order is its own business).

Evidence, followed from the loader's ``dataset`` argument through local names
and tuple targets: torch's map-style datasets (``TensorDataset``, ``Subset``,
``random_split`` parts, ``ConcatDataset``), torchvision/torchaudio datasets, a
project class deriving from ``Dataset`` with ``__getitem__`` (in this file or
another), lists and tensors; ``IterableDataset`` subclasses and data pipes are
iterable. Anything else is unknown (None), and rules decide nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup, lookup_reaching
from torchlint.semantic.transforms import transform_parameter
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 6
_PARAM_HOPS = 2  # parameters followed to their callers: evaluate(net, data) <- run(data) <- main
_MAP_STYLE_TORCH = frozenset({"torch.utils.data.TensorDataset", "torch.utils.data.Subset",
                              "torch.utils.data.ConcatDataset", "torch.utils.data.StackDataset"})
_MAP_STYLE_PACKAGES = ("torchvision.datasets.", "torchaudio.datasets.", "torch_geometric.datasets.")
_ITERABLE_BASES = ("IterableDataset", "IterDataPipe")
_TENSOR_FACTORIES = frozenset({"torch.randn", "torch.rand", "torch.zeros", "torch.ones", "torch.tensor",
                               "torch.arange", "torch.randint", "torch.stack", "torch.cat"})


@dataclass(frozen=True)
class DatasetKind:
    style: str  # "map" | "iterable" | "factory" (what a project function given `transform=` returns)
    what: str  # for messages: "TensorDataset", "class ImageFolderSet (Dataset)"
    construct: cst.Call | None = None  # the construction call (in this file), for the probe


class Datasets:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model

    def kind(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
             depth: int = 0, path: tuple[int, ...] = ()) -> DatasetKind | None:
        if node is None or depth > MAX_DEPTH:
            return None
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None:
                return None
            binding = found[1]
            fact = binding.fact
            if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign"):
                return self.kind(fact.value, fact.scope, fact.order, depth + 1, binding.path)
            return None
        if isinstance(node, (cst.Tuple, cst.List)):
            if path:
                if path[0] < len(node.elements):
                    return self.kind(node.elements[path[0]].value, scope, order, depth + 1, path[1:])
                return None
            return DatasetKind("map", "a list") if isinstance(node, cst.List) else None
        if isinstance(node, cst.ListComp) and not path:
            return DatasetKind("map", "a list")
        if isinstance(node, cst.Subscript) and not path:
            # `sets[name]` of what a dataset factory returns (a dict or list of its datasets)
            inner = self.kind(node.value, scope, order, depth + 1)
            return inner if inner is not None and inner.style == "factory" else None
        if not isinstance(node, cst.Call):
            return None
        qualified = self.model.names.qualified(node.func, scope, order)
        if qualified == "torch.utils.data.random_split" and path:
            return DatasetKind("map", "a random_split part (Subset)")
        if path:
            return None
        if qualified in _MAP_STYLE_TORCH:
            return DatasetKind("map", qualified.rsplit(".", 1)[-1], node)
        if qualified in _TENSOR_FACTORIES:
            return DatasetKind("map", "a tensor", node)
        if qualified is not None and qualified.startswith(_MAP_STYLE_PACKAGES):
            return DatasetKind("map", qualified, node)
        if dotted_name(node.func) == "list":
            return DatasetKind("map", "a list", node)
        definition = self.model.resolver.definition(node.func, scope, order, self.model.facts, self.model.path)
        if definition is not None and isinstance(definition.fact, F.Class):
            return self._class_kind(definition.fact, node)
        if definition is not None and isinstance(definition.fact, F.Function) and (
                any(arg.keyword is not None and arg.keyword.value == "transform" for arg in node.args)
                or transform_parameter(definition.fact) is not None):
            # `make_sets(root, transform=eval_tf)`, `split(root, "test", pipeline)`: a project
            # factory given the transform of the datasets it builds; their style is not known.
            return DatasetKind("factory", f"what {definition.fact.name}() returns", node)
        return None

    def possible(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                 depth: int = 0) -> list[DatasetKind]:
        """What :meth:`kind` finds, and for a parameter (`def evaluate(net, data):
        DataLoader(data)`) what each known call site in this file passes it: one entry
        per site whose argument is known, in source order."""
        found = self.kind(node, scope, order)
        if found is not None:
            return [found]
        param = _param_named(node, scope, order)
        if param is None or depth >= _PARAM_HOPS:
            return []
        kinds = []
        for site in self.model.arguments_across(param, self.model.facts):
            if site.facts is self.model.facts:  # other files' datasets are theirs to report
                kinds.extend(self.possible(site.argument, site.call.scope, site.call.order, depth + 1))
        return kinds

    def reaching(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None) -> list[DatasetKind]:
        """What :meth:`possible` finds, and for a name bound in several arms before its
        use (`if name == "cifar": data = CIFAR10(...) elif ...: data = SVHN(...)`)
        what each binding that may reach it holds, in source order."""
        found = lookup_reaching(scope, node.value, order) if isinstance(node, cst.Name) else None
        if found is None or len(found[1]) < 2:
            return self.possible(node, scope, order)
        kinds = []
        for binding in reversed(found[1]):
            fact = binding.fact
            if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign"):
                kind = self.kind(fact.value, fact.scope, fact.order, 1, binding.path)
                if kind is not None:
                    kinds.append(kind)
        return kinds

    def _class_kind(self, cls: F.Class, node: cst.Call) -> DatasetKind | None:
        bases = [dotted_name(b) or "" for b in cls.bases]
        if any(b.rsplit(".", 1)[-1] in _ITERABLE_BASES for b in bases):
            return DatasetKind("iterable", f"class {cls.name} (IterableDataset)")
        if "__iter__" in cls.methods and "__getitem__" not in cls.methods:
            return DatasetKind("iterable", f"class {cls.name} (defines __iter__)")
        derives = any(b.rsplit(".", 1)[-1] == "Dataset" for b in bases)
        if derives and "__getitem__" in cls.methods:
            return DatasetKind("map", f"class {cls.name} (Dataset with __getitem__)", node)
        return None


def _param_named(node: cst.BaseExpression | None, scope: F.Scope, order: int | None) -> F.Param | None:
    """The parameter a bare name is, where it is used (not rebound before)."""
    if not isinstance(node, cst.Name):
        return None
    found = lookup(scope, node.value, order)
    fact = found[1].fact if found is not None else None
    usable = isinstance(fact, F.Param) and fact.default is None and fact.node.star not in ("*", "**")
    return fact if usable else None


def datasets_of(model: SemanticModel) -> Datasets:
    """The file's dataset analysis, one per semantic model (kept on it, as its other
    analyses are)."""
    found = model.__dict__.get("_datasets")
    if found is None:
        found = model.__dict__["_datasets"] = Datasets(model)
    return found


def carries_state_across_batches(model: SemanticModel, loop: F.Loop, scope: F.Scope) -> bool:
    """Truncated backpropagation through time: a forward pass in the loop takes a name
    (`hidden`) that the loop rebinds and that was bound before it, so each batch
    continues where the previous one ended and the batches must come in order."""
    for forward in model.phases.forwards_in(loop, scope):
        call = forward.call
        if call.scope is not scope:
            continue
        for arg in call.args:
            name = arg.value.value if isinstance(arg.value, cst.Name) else None
            if name is None:
                continue
            bindings = scope.bindings.get(name, [])
            rebound = any(loop.contains(b.fact) for b in bindings if isinstance(b.fact, F.Assign)
                          and b.fact.kind != "for")
            earlier = any(b.order < loop.order for b in bindings)
            if rebound and earlier:
                return True
    return False
