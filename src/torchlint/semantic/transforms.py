"""Which random augmentations a dataset's ``transform`` holds.

Evidence, followed from a dataset construction call: its ``transform``
argument (by keyword; the second positional argument of ``ImageFolder`` /
``DatasetFolder``; the position of a ``transform`` parameter of a project
Dataset class's ``__init__``), then that expression through local names, dict
literals indexed by a constant key (``data_transforms["val"]``) and
``Compose([...])`` / ``nn.Sequential(...)`` / ``RandomApply([...])`` lists, down to
the qualified names of the transform calls. Only torchvision transforms (v1 and
v2) count; a transform of another package or a project class is unknown and
counts as nothing (rules decide nothing from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_DEPTH = 8
_PACKAGES = ("torchvision.transforms.v2.", "torchvision.transforms.")
#: Transforms that draw new random parameters on every call.
RANDOM_TRANSFORMS = frozenset({
    "RandomCrop", "RandomResizedCrop", "RandomSizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation",
    "ColorJitter", "RandomErasing", "RandAugment", "AutoAugment", "TrivialAugmentWide", "AugMix",
    "RandomAffine", "RandomPerspective", "RandomGrayscale", "RandomInvert", "RandomPosterize",
    "RandomSolarize", "RandomAdjustSharpness", "RandomAutocontrast", "RandomEqualize",
    "RandomApply", "RandomChoice", "RandomOrder", "RandomResize", "RandomShortestSize",
    "RandomIoUCrop", "RandomZoomOut", "RandomPhotometricDistort", "ScaleJitter", "RandomChannelPermutation",
})
#: Containers whose list argument holds the transforms they run.
_CONTAINERS = frozenset({"Compose", "RandomApply", "RandomOrder", "RandomChoice"})
# Random transforms that take a probability `p` of applying.
_HAS_P = frozenset({"RandomHorizontalFlip", "RandomVerticalFlip", "RandomGrayscale", "RandomApply",
                    "RandomErasing", "RandomInvert", "RandomPosterize", "RandomSolarize",
                    "RandomAdjustSharpness", "RandomAutocontrast", "RandomEqualize", "RandomPerspective"})
_FOLDER_DATASETS = frozenset({"ImageFolder", "DatasetFolder"})


@dataclass(frozen=True)
class RandomTransform:
    name: str  # "RandomHorizontalFlip"
    node: cst.Call  # the transform's construction
    pipeline: cst.BaseExpression  # the transform expression the dataset was given


class Transforms:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model

    def transform_argument(self, construct: F.Call) -> cst.BaseExpression | None:
        """The expression a dataset construction passes as its transform."""
        found = construct.keyword("transform")
        if found is not None:
            return found
        qualified = self.model.names.qualified(construct.func, construct.scope, construct.order) or ""
        if qualified.startswith("torchvision.datasets.") and qualified.rsplit(".", 1)[-1] in _FOLDER_DATASETS:
            return construct.positional(1)
        defined = self._defined(construct)
        if isinstance(defined, F.Class):
            init = defined.methods.get("__init__")
            param = init.param("transform") if init is not None else None
            if param is not None and param.index >= 1:
                return construct.positional(param.index - 1)  # `self` is not written at the call
        elif isinstance(defined, F.Function):
            param = transform_parameter(defined)
            if param is not None:  # `split(root, "test", pipeline)`
                return F.bound_argument(construct.node, param, receiver=False)
        return None

    def _defined(self, construct: F.Call) -> F.Class | F.Function | None:
        """The project class or function a dataset construction calls."""
        model = self.model
        definition = model.resolver.definition(construct.func, construct.scope, construct.order,
                                               model.facts, model.path)
        return definition.fact if definition is not None else None

    def applied_several_times(self, construct: F.Call) -> bool:
        """Test-time augmentation inside the dataset: a project Dataset class whose
        `__getitem__` calls its stored transform in a loop or comprehension (several
        augmented views of one sample, which the evaluation then averages)."""
        cls = self._defined(construct)
        if not isinstance(cls, F.Class):
            return False
        getitem = cls.methods.get("__getitem__")
        if getitem is None:
            return False
        stored = {attr for attr, assigns in cls.self_assigns.items()
                  if any(isinstance(a.value, cst.Name) and a.value.value == "transform" for a in assigns)}
        stored.add("transform")
        for call in getitem.calls:
            if call.loop is not None and call.dotted in {f"self.{attr}" for attr in stored}:
                return True
        return False

    def random_in(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                  depth: int = 0) -> list[RandomTransform]:
        """The random torchvision transforms an expression's pipeline holds (through
        the project's functions that build it, in this file or another)."""
        found = self._walk(node, scope, order, depth, self.model.facts, self.model.path)
        return [RandomTransform(name, call, node) for name, call in found]

    def _walk(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
              depth: int, facts: F.FileFacts, path) -> list[tuple[str, cst.Call]]:
        if node is None or depth > MAX_DEPTH:
            return []
        if isinstance(node, cst.Name):
            value = self._bound_value(node, scope, order)
            if not value:
                return []
            found = self._walk(value[0], value[1], value[2], depth + 1, facts, path)
            if isinstance(value[0], cst.List):
                for added in self._appended(node.value, value[1], value[2], scope, order):
                    found += self._walk(added, value[1], value[2], depth + 1, facts, path)
            return found
        if isinstance(node, cst.Subscript):
            return self._walk(self._dict_item(node, scope, order), scope, order, depth + 1, facts, path)
        if isinstance(node, (cst.List, cst.Tuple)):
            found: list[tuple[str, cst.Call]] = []
            for element in node.elements:
                found += self._walk(element.value, scope, order, depth + 1, facts, path)
            return found
        if not isinstance(node, cst.Call):
            return []
        name = self._transform_name(node, scope, order, facts)
        if name is None:
            return self._returned(node, scope, order, facts, path, depth)
        if name in RANDOM_TRANSFORMS and _switched_off(name, node):
            return []  # `RandomApply([...], p=0)` switches its contents off too
        found = [(name, node)] if name in RANDOM_TRANSFORMS else []
        if name in _CONTAINERS and node.args:
            found += [f for f in self._walk(node.args[0].value, scope, order, depth + 1, facts, path)
                      if f[1] is not node]
        return found

    def _returned(self, node: cst.Call, scope: F.Scope, order: int | None, facts: F.FileFacts, path,
                  depth: int) -> list[tuple[str, cst.Call]]:
        """``image_pipeline(128)``: what the project function returns, for the returns
        that can run with this call's literal arguments (``pipeline(train=False)``
        never reaches ``if train: return augmenting``). Random only when every such
        return is: ``pipeline(is_train)`` may give the deterministic one."""
        model = self.model
        definition = model.resolver.definition(node.func, scope, order, facts, path)
        if definition is None or not isinstance(definition.fact, F.Function):
            return []
        function = definition.fact
        found: list[tuple[str, cst.Call]] = []
        for ret in model.values.possible_returns(function, node, facts.call_of.get(id(node))):
            returned = self._walk(ret.value, function, ret.order, depth + 1, definition.facts, definition.path)
            if not returned:
                return []
            found += returned
        return found

    @staticmethod
    def _appended(name: str, home: F.Scope, bound_at: int, scope: F.Scope,
                  order: int | None) -> list[cst.BaseExpression]:
        """What `name.append(t)` / `.insert(i, t)` / `.extend([...])` add to the list
        `name` (bound at `bound_at` in `home`) before `order`: a pipeline built step by
        step. Only unconditional additions (in no `if` the list's binding is not in):
        `if train: steps.append(RandomCrop())` is for one of the pipelines built there."""
        added = []
        for call in home.calls:
            if call.order <= bound_at or (order is not None and home is scope and call.order >= order):
                continue
            if call.method not in ("append", "insert", "extend") or not isinstance(call.receiver, cst.Name) \
                    or call.receiver.value != name:
                continue
            if call.branch is not None and call.branch.order > bound_at:
                continue  # added only on some paths
            argument = call.argument(1 if call.method == "insert" else 0, "object")
            if argument is not None:
                added.append(argument)
        return added

    def _transform_name(self, node: cst.Call, scope: F.Scope, order: int | None,
                        facts: F.FileFacts) -> str | None:
        qualified = self.model.names_for(facts).qualified(node.func, scope, order)
        if qualified is None:
            return None
        for package in _PACKAGES:
            if qualified.startswith(package):
                return qualified.rsplit(".", 1)[-1]
        return None

    def _bound_value(self, node: cst.Name, scope: F.Scope, order: int | None):
        found = lookup(scope, node.value, order)
        if found is None:
            return None
        binding = found[1]
        fact = binding.fact
        if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign") and not binding.path:
            return fact.value, fact.scope, fact.order
        return None

    def _dict_item(self, node: cst.Subscript, scope: F.Scope, order: int | None) -> cst.BaseExpression | None:
        """`tfs["val"]` where `tfs` is bound to a dict literal with that constant key."""
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None
        key = node.slice[0].slice.value
        if not isinstance(key, cst.SimpleString):
            return None
        container = node.value
        if isinstance(container, cst.Name):
            bound = self._bound_value(container, scope, order)
            container = bound[0] if bound else None
        if not isinstance(container, cst.Dict):
            return None
        for element in container.elements:
            if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString) \
                    and element.key.evaluated_value == key.evaluated_value:
                return element.value
        return None


# Where a random transform takes its probability `p` positionally (0 for the others).
_P_AFTER_ONE = frozenset({"RandomApply", "RandomPosterize", "RandomSolarize", "RandomAdjustSharpness",
                          "RandomPerspective"})


def _switched_off(name: str, node: cst.Call) -> bool:
    """`RandomHorizontalFlip(p=0)`, or a probability chosen with an arm of 0
    (`p=0.5 if args.flip else 0`): the author turns the randomness on or off
    explicitly, and it is off unless asked for."""
    p = next((arg.value for arg in node.args if arg.keyword is not None and arg.keyword.value == "p"), None)
    if p is None:
        index = 1 if name in _P_AFTER_ONE else 0
        plain = [arg for arg in node.args if arg.keyword is None and not arg.star]
        if name not in _HAS_P or len(plain) <= index:
            return False
        p = plain[index].value
    arms = [p.body, p.orelse] if isinstance(p, cst.IfExp) else [p]
    return any(literal_number(arm) == 0 for arm in arms)


def transform_parameter(function: F.Function) -> F.Param | None:
    """The parameter of a dataset factory that becomes its datasets' transform:
    ``def split(root, name, pipeline): return ImageFolder(..., transform=pipeline)``."""
    for call in function.calls:
        value = call.keyword("transform")
        if isinstance(value, cst.Name):
            param = function.param(value.value)
            if param is not None and param.node.star not in ("*", "**"):
                return param
    return None


def transforms_of(model: SemanticModel) -> Transforms:
    """The file's transform analysis, one per semantic model (kept on it, as its
    other analyses are)."""
    found = model.__dict__.get("_transforms")
    if found is None:
        found = model.__dict__["_transforms"] = Transforms(model)
    return found
