"""Where a tensor went through a sigmoid: a call, an `nn.Sigmoid` layer, or a model
whose `forward` returns sigmoid outputs (in this file or another).

Followed: local names (the last binding before the use), parameters (what every
known call passes), shape-only methods
(`.squeeze()`, `.view(-1)`, indexing), calls of model instances and their
`forward` returns, `nn.Sequential(..., nn.Sigmoid())`. Memoized per
expression and place, so a rule asks once per loss call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel
    from torchlint.semantic.modules import Layer, ModuleClass

MAX_DEPTH = 8
SIGMOID_FUNCTIONS = frozenset({"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit",
                               "torch.Tensor.sigmoid"})
# Methods that keep the values (and so the range) of their receiver.
_SHAPE_METHODS = frozenset({"squeeze", "unsqueeze", "view", "reshape", "flatten", "float", "double",
                            "to", "cuda", "cpu", "contiguous", "permute", "transpose", "view_as",
                            "reshape_as", "type_as", "clone", "squeeze_", "half", "type"})
# The same as functions: `torch.squeeze(probs)`.
_SHAPE_FUNCTIONS = frozenset({"torch.squeeze", "torch.unsqueeze", "torch.flatten", "torch.reshape",
                              "torch.transpose", "torch.permute", "torch.clone"})


@dataclass(frozen=True)
class SigmoidOrigin:
    node: cst.CSTNode  # the sigmoid call, or the nn.Sigmoid layer's construction
    facts: F.FileFacts
    via_forward: ModuleClass | None = None  # the model whose forward applies it
    applied_to: cst.BaseExpression | None = None  # the sigmoid's input, when written as a call here
    model_values: frozenset = frozenset()  # the model instance whose output it is, for the probe


class Activations:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._memo: dict[tuple[int, int], SigmoidOrigin | None] = {}

    def sigmoid_of(self, node: cst.BaseExpression | None, fact: F.Located) -> SigmoidOrigin | None:
        """The sigmoid `node`, written where `fact` sits in this file, comes out of."""
        return self._origin(node, fact.scope, fact.order, self.model.facts, 0)

    def _origin(self, node, scope: F.Scope, order: int, facts: F.FileFacts, depth: int,
                path: tuple[int, ...] = ()) -> SigmoidOrigin | None:
        """`path`: the item of a tuple `node` holds (`pred, aux = model(x)` asks the
        model's output at (0,))."""
        if node is None or depth > MAX_DEPTH:
            return None
        key = (id(node), order, path)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = None  # a cycle: x = f(x)
        found = self._find(node, scope, order, facts, depth, path)
        self._memo[key] = found
        return found

    def _find(self, node, scope: F.Scope, order: int, facts: F.FileFacts, depth: int,
              path: tuple[int, ...]) -> SigmoidOrigin | None:
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None:
                return None
            binding = found[1]
            fact = binding.fact
            if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign"):
                return self._origin(fact.value, fact.scope, fact.order, facts, depth + 1, binding.path + path)
            if isinstance(fact, F.Param):
                return self._param_origin(fact, facts, depth, path)
            return None
        if isinstance(node, (cst.Tuple, cst.List)):
            item = _item(node, path[0]) if path else None
            return self._origin(item, scope, order, facts, depth + 1, path[1:]) if item is not None else None
        if isinstance(node, cst.Subscript):
            index = _literal_index(node)
            if index is not None:  # `model(x)[0]`: an item of a returned tuple
                found = self._origin(node.value, scope, order, facts, depth + 1, (index, *path))
                if found is not None:
                    return found
            # Otherwise indexing a tensor keeps its values.
            return self._origin(node.value, scope, order, facts, depth + 1) if not path else None
        if not isinstance(node, cst.Call):
            return None
        if path:
            return self._call_item(node, scope, order, facts, depth, path)
        call = facts.call_of.get(id(node))
        qualified = self.model.names_for(facts).qualified(node.func, scope, order)
        if qualified in SIGMOID_FUNCTIONS:
            argument = call.argument(0, "input") if call is not None else None
            return SigmoidOrigin(node, facts, applied_to=argument)
        if qualified in _SHAPE_FUNCTIONS and call is not None:
            return self._origin(call.argument(0, "input"), scope, order, facts, depth + 1)
        if isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if method == "sigmoid" and qualified is None and not node.args:
                return SigmoidOrigin(node, facts, applied_to=node.func.value)
            if method in _SHAPE_METHODS and qualified is None:
                return self._origin(node.func.value, scope, order, facts, depth + 1)
        if facts is not self.model.facts:
            return None  # another file's forward: its layers are matched by _return_origin
        callees = self.model.values.infer(node.func, scope, order)
        for value in callees:
            if value.kind != "module":
                continue
            found = self._module_output(value.module, value.layer, depth)
            if found is not None:
                return SigmoidOrigin(found.node, found.facts, found.via_forward, found.applied_to,
                                     frozenset({value}))
        return None

    def _call_item(self, node: cst.Call, scope: F.Scope, order: int, facts: F.FileFacts, depth: int,
                   path: tuple[int, ...]) -> SigmoidOrigin | None:
        """An item of the tuple a model call returns (`return probs, features`)."""
        if facts is not self.model.facts:
            return None
        for value in self.model.values.infer(node.func, scope, order):
            if value.kind == "module" and value.layer is None and value.module is not None:
                found = self._module_output(value.module, None, depth, path)
                if found is not None:
                    return SigmoidOrigin(found.node, found.facts, found.via_forward, found.applied_to,
                                         frozenset({value}))
        return None

    def _param_origin(self, param: F.Param, facts: F.FileFacts, depth: int,
                      path: tuple[int, ...] = ()) -> SigmoidOrigin | None:
        """A parameter (`def loss(self, scores, y)`) holds sigmoid outputs when every known
        call passes one; a default or an unknown caller may pass logits."""
        function = param.function
        if function is None or param.default is not None or param.node.star in ("*", "**"):
            return None
        if function.class_ is not None and param.index == 0 and self.model.first_param_is_receiver(function):
            return None
        sites = self.model.arguments_across(param, facts)
        origins = [self._origin(argument, site.scope, site.order, site_facts, depth + 1, path)
                   for site, argument, site_facts in sites]
        if not origins or any(origin is None for origin in origins):
            return None
        return origins[0]

    def _module_output(self, module: ModuleClass | None, layer: Layer | None, depth: int,
                       path: tuple[int, ...] = ()) -> SigmoidOrigin | None:
        if layer is not None:
            return self._layer_output(layer, depth)
        if module is None:
            return None
        found = module.method("forward")
        if found is None:
            return None
        forward, owner = found
        returns = [r for r in forward.returns if r.value is not None]
        if not returns:
            return None
        origins = [self._return_origin(r, forward, owner, depth, path) for r in returns]
        if any(o is None for o in origins):
            return None  # some path returns something else (logits in train mode, say)
        first = origins[0]
        return SigmoidOrigin(first.node, first.facts, first.via_forward or module, first.applied_to)

    def _return_origin(self, ret: F.Return, forward: F.Function, owner: ModuleClass, depth: int,
                       path: tuple[int, ...] = ()):
        direct = self._origin(ret.value, forward, ret.order, owner.facts, depth + 1, path)
        if direct is not None or path:
            return direct
        # `return self.act(self.fc(x))` where self.act = nn.Sigmoid(): a layer of the class.
        node = ret.value
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in _SHAPE_METHODS:
            node = node.func.value
        if isinstance(node, cst.Call):
            attr = _self_attribute(node.func)
            if attr is not None:
                for layer in owner.all_layers():
                    if layer.attr == attr:
                        return self._layer_output(layer, depth + 1)
        return None

    def _layer_output(self, layer: Layer, depth: int) -> SigmoidOrigin | None:
        if depth > MAX_DEPTH:
            return None
        if layer.kind == "sigmoid" and layer.call is not None and layer.facts is not None:
            return SigmoidOrigin(layer.call.node, layer.facts)
        if layer.qualname == "torch.nn.Sequential" and layer.children:
            return self._layer_output(layer.children[-1], depth + 1)
        if layer.local is not None:
            return self._module_output(layer.local, None, depth + 1)
        return None


def _item(node: cst.Tuple | cst.List, index: int) -> cst.BaseExpression | None:
    """The `index`-th item of a tuple or list display, if no starred item comes first."""
    elements = node.elements
    if index >= len(elements) or any(isinstance(e, cst.StarredElement) for e in elements[:index + 1]):
        return None
    return elements[index].value


def _literal_index(node: cst.Subscript) -> int | None:
    """`x[0]` -> 0; None for slices, names, several indices."""
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    value = node.slice[0].slice.value
    if isinstance(value, cst.Integer):
        return int(value.value)
    return None


def _self_attribute(func: cst.BaseExpression) -> str | None:
    """`self.head` -> "head"."""
    text = dotted_name(func)
    if text is None or not text.startswith("self.") or text.count(".") != 1:
        return None
    return text[5:]


def activations_of(model: SemanticModel) -> Activations:
    """The file's sigmoid analysis, computed once per semantic model (kept on it, as
    its other analyses are)."""
    found = model.__dict__.get("_activations")
    if found is None:
        found = model.__dict__["_activations"] = Activations(model)
    return found
