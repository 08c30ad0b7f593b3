"""BatchNorm layers that see one value per channel and sample.

In train mode BatchNorm needs more than one value per channel: for (B, C)
features that is B > 1, so a batch of one raises "Expected more than 1 value
per channel when training". ``modules.flat_batchnorms`` finds BatchNorm1d on
(B, C); this module adds BatchNorm2d after a global pooling to 1x1
(squeeze-excitation gates, ASPP image pooling), and what is known of the
models torchvision builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import Layer, ModuleClass, literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

_POOLS = frozenset({"torch.nn.AdaptiveAvgPool2d", "torch.nn.AdaptiveMaxPool2d"})
_POOL_FUNCTIONS = frozenset({"torch.nn.functional.adaptive_avg_pool2d", "torch.nn.functional.adaptive_max_pool2d"})
_BATCHNORM_2D = frozenset({"torch.nn.BatchNorm2d", "torch.nn.SyncBatchNorm", "torch.nn.LazyBatchNorm2d"})
# Layers after which a 1x1 map is still 1x1 (pointwise or padded convolutions, activations).
_KEEPS_1X1 = frozenset({"torch.nn.Conv2d", "torch.nn.ReLU", "torch.nn.ReLU6", "torch.nn.SiLU",
                        "torch.nn.Hardswish", "torch.nn.Sigmoid", "torch.nn.GELU", "torch.nn.LeakyReLU",
                        "torch.nn.Dropout", "torch.nn.Dropout2d", "torch.nn.Identity", "torch.nn.PReLU"})

# torchvision builders (last name of torchvision.models.<...>.<builder>) whose models
# hold BatchNorm layers, by prefix; the others (alexnet, plain vgg, squeezenet, vit,
# swin, convnext, detection models with frozen BatchNorm) hold none that trains.
_TORCHVISION_BATCHNORM = ("resnet", "resnext", "wide_resnet", "densenet", "inception_v3", "googlenet",
                          "mobilenet", "mnasnet", "shufflenet", "efficientnet", "regnet", "fcn_",
                          "deeplabv3", "lraspp", "DeepLabHead", "ASPP")
# ...and of those, the ones that apply BatchNorm2d to 1x1 maps for any input size: the
# ASPP image-pooling branch of DeepLabV3, and Inception v3's auxiliary head (a 5x5
# convolution on a 5x5 map) which runs in train mode.
_TORCHVISION_POOLED = ("deeplabv3", "DeepLabHead", "ASPP", "inception_v3")


@dataclass(frozen=True)
class KnownModel:
    """What is known of a model built outside the project."""

    name: str
    batchnorm: bool  # holds BatchNorm layers
    one_value_per_channel: bool  # some BatchNorm sees one value per channel and sample


def external_model(qualname: str | None) -> KnownModel | None:
    """Facts on a torchvision model builder or class, by its qualified name."""
    if not qualname or not qualname.startswith("torchvision.models."):
        return None
    name = qualname.rsplit(".", 1)[-1]
    batchnorm = name.startswith(_TORCHVISION_BATCHNORM) or name.endswith("_bn")
    if not batchnorm:
        return None
    return KnownModel(name, True, name.startswith(_TORCHVISION_POOLED))


def pooled_batchnorms(module: ModuleClass, model: SemanticModel, seen: set[int] | None = None) -> list[Layer]:
    """BatchNorm2d layers of `module` (nested project modules included) that
    normalize a map pooled to 1x1, one value per channel and sample."""
    seen = seen if seen is not None else set()
    if id(module) in seen:
        return []
    seen.add(id(module))
    found: list[Layer] = []
    for layer in module.all_layers():
        found.extend(_pooled_in_sequence(layer.children))
        if layer.local is not None:
            found.extend(pooled_batchnorms(layer.local, model, seen))
        elif external_model(layer.qualname) is not None and external_model(layer.qualname).one_value_per_channel:
            found.append(layer)
    found.extend(_pooled_in_forward(module, model))
    return found


def _pooled_in_sequence(children: list[Layer]) -> list[Layer]:
    """``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1), nn.BatchNorm2d(c))``."""
    found = []
    pooled = False
    for child in children:
        if child.qualname in _POOLS:
            pooled = _to_one(child.argument(0, "output_size"))
        elif pooled and child.qualname in _BATCHNORM_2D:
            found.append(child)
        elif child.qualname not in _KEEPS_1X1 and child.qualname not in _BATCHNORM_2D:
            pooled = False
    return found


def _pooled_in_forward(module: ModuleClass, model: SemanticModel) -> list[Layer]:
    """``self.bn(self.conv(self.pool(x)))`` in forward, with pool an adaptive pooling
    to 1x1 (a layer, ``F.adaptive_avg_pool2d(x, 1)`` or ``x.mean((2, 3), keepdim=True)``)."""
    method = module.method("forward")
    if method is None:
        return []
    function, owner = method
    found = []
    for call in function.calls:
        if not call.args:
            continue
        layers = _layers_called(call.func, call, owner, model)
        for norm in (layer for layer in layers if layer.qualname in _BATCHNORM_2D):
            if _pooled(call.args[0].value, call.scope, call.order, owner, model, 0, norm):
                found.append(norm)
    return found


def _layers_called(func: cst.BaseExpression, where: F.Located, owner: ModuleClass,
                   model: SemanticModel) -> list[Layer]:
    values = model.values.infer(func, where.scope, where.order, owner.facts, owner.path)
    return [value.layer for value in values if value.kind == "module" and value.layer is not None]


def _pooled(node: cst.BaseExpression, scope: F.Scope, order: int, owner: ModuleClass,
            model: SemanticModel, depth: int, norm: Layer | None = None) -> bool:
    """Whether `node` is a 1x1 map: a global pooling, or 1x1-keeping layers over one.
    Layers built in an arm of `__init__` that excludes `norm`'s never feed it
    (`if global_pool: self.pool = AdaptiveAvgPool2d(1)` / `else: self.bn = ...`)."""
    if depth > 6:
        return False
    if isinstance(node, cst.Name):
        found = lookup(scope, node.value, order)
        if found is None or not isinstance(found[1].fact, F.Assign) or found[1].path \
                or found[1].fact.value is None:
            return False
        fact = found[1].fact
        return _pooled(fact.value, fact.scope, fact.order, owner, model, depth + 1, norm)
    if not isinstance(node, cst.Call) or not node.args:
        return False
    inner = node.args[0].value
    if isinstance(node.func, cst.Attribute) and node.func.attr.value == "mean":
        keepdim = next((a.value for a in node.args if a.keyword and a.keyword.value == "keepdim"), None)
        dims = inner if not node.args[0].keyword else None
        if isinstance(keepdim, cst.Name) and keepdim.value == "True" and isinstance(dims, (cst.Tuple, cst.List)) \
                and sorted(literal_number(e.value) or 0 for e in dims.elements) in ([2, 3], [-2, -1]):
            return True
    qualified = model.names_for(owner.facts).qualified(node.func, scope, order)
    if qualified in _POOL_FUNCTIONS:
        size = node.args[1].value if len(node.args) > 1 else None
        return _to_one(size)
    name = (dotted_name(node.func) or "").rsplit(".", 1)[-1]
    if qualified and qualified.startswith("torch.") and name in ("relu", "sigmoid", "silu", "hardswish", "gelu"):
        return _pooled(inner, scope, order, owner, model, depth + 1, norm)
    call = owner.facts.call_of.get(id(node))
    where = call if call is not None else None
    if where is None:
        return False
    for layer in _layers_called(node.func, where, owner, model):
        if norm is not None and _never_together(layer, norm):
            continue
        if layer.qualname in _POOLS:
            return _to_one(layer.argument(0, "output_size"))
        if layer.qualname in _KEEPS_1X1:
            return _pooled(inner, scope, order, owner, model, depth + 1, norm)
        if layer.children and all(child.qualname in _KEEPS_1X1 | _BATCHNORM_2D for child in layer.children):
            return _pooled(inner, scope, order, owner, model, depth + 1, norm)
    return False


def _never_together(layer: Layer, other: Layer) -> bool:
    """The two layers are built in different arms of one `if` of the same method."""
    return layer.call is not None and other.call is not None and layer.call.scope is other.call.scope \
        and F.exclusive(layer.call.branch, other.call.branch)


def _to_one(size: cst.BaseExpression | None) -> bool:
    """``1`` or ``(1, 1)``: an output size of one value per channel."""
    if isinstance(size, (cst.Tuple, cst.List)):
        return bool(size.elements) and all(literal_number(e.value) == 1 for e in size.elements)
    return literal_number(size) == 1
