"""Where a tensor went through a sigmoid: a call, an `nn.Sigmoid` layer, or a model
whose `forward` returns sigmoid outputs (in this file or another).

Followed: local names (the last binding before the use), parameters (what every
known call passes), shape-only methods
(`.squeeze()`, `.view(-1)`, indexing), calls of model instances and their
`forward` returns, `nn.Sequential(..., nn.Sigmoid())`, items of returned tuples
(`model(x)[0]`) and of returned dicts (`model(x)["scores"]`, from a dict display or
`dict(...)` that is not written to afterwards). Memoized per expression and place,
so a rule asks once per loss call.
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

MAX_DEPTH = 12  # hops (names, items, calls, forwards, layers): a dict built from named pieces takes ~10
SIGMOID_FUNCTIONS = frozenset({"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit",
                               "torch.Tensor.sigmoid"})
# Methods that keep the values (and so the range) of their receiver.
_SHAPE_METHODS = frozenset({"squeeze", "unsqueeze", "view", "reshape", "flatten", "float", "double",
                            "to", "cuda", "cpu", "contiguous", "permute", "transpose", "view_as",
                            "reshape_as", "type_as", "clone", "squeeze_", "half", "type"})
# Dict methods that change items: a dict they are called on may no longer hold what it was built with.
_DICT_WRITES = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__"})
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
    item: tuple = ()  # which item of that model's output (`model(x)["flags"]` -> ("flags",)), for the probe


# An item of a returned value: a tuple position (int) or a dict key (str).
ItemPath = tuple  # tuple[int | str, ...]


class Activations:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._memo: dict[tuple[int, int], SigmoidOrigin | None] = {}
        # The classes whose forward is being followed, by id of their class fact: a
        # `self.layer(h)` inside another file's forward is one of the owner's layers.
        self._owners: dict[int, ModuleClass] = {}

    def sigmoid_of(self, node: cst.BaseExpression | None, fact: F.Located) -> SigmoidOrigin | None:
        """The sigmoid `node`, written where `fact` sits in this file, comes out of."""
        return self._origin(node, fact.scope, fact.order, self.model.facts, 0)

    def _origin(self, node, scope: F.Scope, order: int, facts: F.FileFacts, depth: int,
                path: ItemPath = ()) -> SigmoidOrigin | None:
        """`path`: the item of a tuple or dict `node` holds (`pred, aux = model(x)` asks the
        model's output at (0,), `model(x)["flags"]` at ("flags",))."""
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
              path: ItemPath) -> SigmoidOrigin | None:
        if isinstance(node, cst.Name):
            found = lookup(scope, node.value, order)
            if found is None:
                return None
            binding = found[1]
            fact = binding.fact
            if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign"):
                if not binding.path and path and isinstance(path[0], str):
                    # `out = {}` then `out["flags"] = probs`: the item written, if written once for sure
                    written = _item_written(found[0], node.value, fact, path[0])
                    if written is not _NOT_WRITTEN:
                        return self._origin(written.value, written.scope, written.order, facts, depth + 1,
                                            path[1:]) if written is not None else None
                if any(isinstance(step, str) for step in path) \
                        and _written_after(found[0], node.value, binding.order):
                    return None  # `out["score"] = logits` after `out = {...}`: the display is stale
                return self._origin(fact.value, fact.scope, fact.order, facts, depth + 1, binding.path + path)
            if isinstance(fact, F.Param):
                return self._param_origin(fact, facts, depth, path)
            return None
        if isinstance(node, (cst.Tuple, cst.List, cst.Dict)):
            item = _display_item(node, path[0]) if path else None
            return self._origin(item, scope, order, facts, depth + 1, path[1:]) if item is not None else None
        if isinstance(node, cst.Subscript):
            index = _literal_index(node)
            if index is not None:  # `model(x)[0]`, `model(x)["flags"]`: an item of a returned tuple or dict
                found = self._origin(node.value, scope, order, facts, depth + 1, (index, *path))
                if found is not None or isinstance(index, str):
                    return found
            # Otherwise indexing a tensor keeps its values.
            return self._origin(node.value, scope, order, facts, depth + 1) if not path else None
        if not isinstance(node, cst.Call):
            return None
        if path:
            entry = _dict_call_item(node, scope, order, path[0])
            if entry is not None:  # `dict(depth=d, valid=torch.sigmoid(v))`
                return self._origin(entry, scope, order, facts, depth + 1, path[1:])
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
            # Another file's forward: values are inferred in this file only, but
            # `self.gate(h)` there is a layer of the class whose forward is followed.
            return self._owner_layer_call(node, scope, depth)
        callees = self.model.values.infer(node.func, scope, order)
        for value in callees:
            if value.kind != "module":
                continue
            found = self._module_output(value.module, value.layer, depth)
            if found is not None:
                return SigmoidOrigin(found.node, found.facts, found.via_forward, found.applied_to,
                                     frozenset({value}))
        return None

    def _owner_layer_call(self, node: cst.Call, scope: F.Scope, depth: int) -> SigmoidOrigin | None:
        """`self.head(h)` in a method of a class whose forward is being followed."""
        attr = _self_attribute(node.func)
        function = scope.function
        owner = self._owners.get(id(function.class_)) if attr is not None and function is not None \
            and function.class_ is not None else None
        if owner is None:
            return None
        for layer in owner.all_layers():
            if layer.attr == attr:
                return self._layer_output(layer, depth + 1)
        return None

    def _call_item(self, node: cst.Call, scope: F.Scope, order: int, facts: F.FileFacts, depth: int,
                   path: ItemPath) -> SigmoidOrigin | None:
        """An item of the tuple or dict a model call returns (`return probs, features`)."""
        if facts is not self.model.facts:
            return None
        for value in self.model.values.infer(node.func, scope, order):
            if value.kind == "module" and value.layer is None and value.module is not None:
                found = self._module_output(value.module, None, depth, path)
                if found is not None:
                    return SigmoidOrigin(found.node, found.facts, found.via_forward, found.applied_to,
                                         frozenset({value}), path)
        return None

    def _param_origin(self, param: F.Param, facts: F.FileFacts, depth: int,
                      path: ItemPath = ()) -> SigmoidOrigin | None:
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
                       path: ItemPath = ()) -> SigmoidOrigin | None:
        if layer is not None:
            return self._layer_output(layer, depth)
        if module is None:
            return None
        found = module.method("forward")
        if found is None:
            return None
        forward, owner = found
        self._owners.setdefault(id(owner.cls), owner)
        returns = [r for r in forward.returns if r.value is not None]
        if not returns:
            return None
        origins = [self._return_origin(r, forward, owner, depth, path) for r in returns]
        if any(o is None for o in origins):
            return None  # some path returns something else (logits in train mode, say)
        first = origins[0]
        return SigmoidOrigin(first.node, first.facts, first.via_forward or module, first.applied_to)

    def _return_origin(self, ret: F.Return, forward: F.Function, owner: ModuleClass, depth: int,
                       path: ItemPath = ()):
        node = ret.value
        # `return self.act(h), feats` / `return {"flags": self.act(h)}`: the item asked
        # for, as if returned alone.
        while path and isinstance(node, (cst.Tuple, cst.List, cst.Dict)):
            node, path = _display_item(node, path[0]), path[1:]
            if node is None:
                return None
        direct = self._origin(node, forward, ret.order, owner.facts, depth + 1, path)
        if direct is not None or path:
            return direct
        # `return self.act(self.fc(x))` where self.act = nn.Sigmoid(): a layer of the class.
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


def _display_item(node: cst.Tuple | cst.List | cst.Dict, step) -> cst.BaseExpression | None:
    """Item `step` of a display: a position of a tuple or list, a key of a dict."""
    if isinstance(node, cst.Dict):
        return _entry(node, step) if isinstance(step, str) else None
    return _item(node, step) if isinstance(step, int) else None


def _entry(node: cst.Dict, key: str) -> cst.BaseExpression | None:
    """The value a dict display gives `key`: its last entry for the key, unless a
    `**other` after it may replace it."""
    found = None
    for element in node.elements:
        written = None if isinstance(element, cst.StarredDictElement) else _string_value(element.key)
        if written == key:
            found = element.value
        elif written is None:
            found = None  # `**other` or a computed key: it may be `key`
    return found


def _dict_call_item(node: cst.Call, scope: F.Scope, order: int, key) -> cst.BaseExpression | None:
    """`dict(valid=v, ...)` (the builtin, by keywords only) -> the value of `key`."""
    if not isinstance(key, str) or not isinstance(node.func, cst.Name) or node.func.value != "dict" \
            or lookup(scope, "dict", order) is not None:
        return None
    if any(arg.keyword is None for arg in node.args):
        return None  # `dict(base, ...)`, `dict(**other)`: other keys may come from there
    return next((arg.value for arg in node.args if arg.keyword.value == key), None)


_NOT_WRITTEN = object()


def _item_written(scope: F.Scope, name: str, bound: F.Assign, key: str):
    """The assignment `name[key] = value` that sets the item after the dict display
    `bound` (only a plain `name = {...}`/`dict(...)`), when there is exactly one and it
    runs whenever the display does (same branch and loop) and nothing else writes the
    dict but other literal keys; None when the item is written otherwise (a branch, a
    computed key, `.update()`); `_NOT_WRITTEN` when no statement writes `key`."""
    if not _is_dict_display(bound.value, scope, bound.order):
        return _NOT_WRITTEN
    writes = []
    for assign in scope.assigns:
        if assign.order <= bound.order:
            continue
        for target in assign.targets:
            if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name) \
                    and target.value.value == name:
                index = _literal_index(target)
                if index is None:
                    return None  # a computed key may be `key`
                if index == key:
                    writes.append(assign)
    if not writes:
        return _NOT_WRITTEN
    if len(writes) > 1 or _written_otherwise(scope, name, bound.order):
        return None
    write = writes[0]
    if write.branch is not bound.branch or write.loop is not bound.loop or len(write.targets) != 1:
        return None
    return write


def _is_dict_display(node, scope: F.Scope, order: int) -> bool:
    if isinstance(node, cst.Dict):
        return True
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict" \
        and lookup(scope, "dict", order) is None and all(arg.keyword is not None for arg in node.args)


def _written_otherwise(scope: F.Scope, name: str, order: int) -> bool:
    """`name[k] += v`, `name.update(...)`, `name.pop(k)` after `order`."""
    def is_name(node) -> bool:
        return isinstance(node, cst.Name) and node.value == name

    for aug in scope.aug_assigns:
        if aug.order > order and isinstance(aug.target, cst.Subscript) and is_name(aug.target.value):
            return True
    return any(call.order > order and call.method in _DICT_WRITES and is_name(call.receiver)
               for call in scope.calls)


def _written_after(scope: F.Scope, name: str, order: int) -> bool:
    """Whether the dict bound to `name` at `order` gets items written in `scope` later:
    `name[k] = v`, or as :func:`_written_otherwise` says."""
    return any(assign.order > order and any(isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name)
                                            and t.value.value == name for t in assign.targets)
               for assign in scope.assigns) or _written_otherwise(scope, name, order)


def _string_value(node) -> str | None:
    """A plain string literal's value (`"flags"`); None for f-strings and other keys."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _item(node: cst.Tuple | cst.List, index: int) -> cst.BaseExpression | None:
    """The `index`-th item of a tuple or list display, if no starred item comes first."""
    elements = node.elements
    if index >= len(elements) or any(isinstance(e, cst.StarredElement) for e in elements[:index + 1]):
        return None
    return elements[index].value


def _literal_index(node: cst.Subscript) -> int | str | None:
    """`x[0]` -> 0, `x["flags"]` -> "flags"; None for slices, names, several indices."""
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    value = node.slice[0].slice.value
    if isinstance(value, cst.Integer):
        return int(value.value)
    return _string_value(value)


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
