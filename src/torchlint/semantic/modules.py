"""The nn.Module index: every ``nn.Module`` subclass of the project and what it holds.

For each class: its layers (``self.x = nn.Dropout(0.5)``, the contents of
``nn.Sequential``/``ModuleList``/``ModuleDict``, layers built in helper
methods), which of them behave differently in train and eval mode, and the
classes it inherits from, followed across local imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import conditions as C
from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import dotted_name

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

# Layer kinds whose train() and eval() behaviour differ (subject to arguments).
MODE_DEPENDENT_KINDS = frozenset(
    {"dropout", "batchnorm", "instancenorm", "rrelu", "recurrent", "transformer", "attention"}
)


# What mode_layers_of gives for a model that has no mode-dependent layer but whose
# forward reads self.training, and the prefix it gives a library model's unknown layers.
READS_TRAINING = "code that reads self.training"
LIBRARY_LAYERS = "the layers of "


def literal_number(node: cst.BaseExpression | None) -> float | None:
    """The value of a numeric or boolean literal (``0.5``, ``-1``, ``False``)."""
    if isinstance(node, cst.Integer):
        return float(int(node.value.replace("_", ""), 0))
    if isinstance(node, cst.Float):
        return float(node.value.replace("_", ""))
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return 1.0 if node.value == "True" else 0.0
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = literal_number(node.expression)
        return -inner if inner is not None else None
    return None


@dataclass(eq=False)
class Layer:
    """A submodule a class holds."""

    attr: str  # "dropout", "layers[2]", "blocks.conv"
    call: F.Call | None  # the constructor call, when known
    qualname: str | None = None  # torch.nn.Dropout
    kind: str | None = None  # symbol category: dropout, batchnorm, ...
    local: ModuleClass | None = None  # a project class
    facts: F.FileFacts | None = None
    children: list[Layer] = field(default_factory=list)  # container contents

    @property
    def short_name(self) -> str:
        if self.local is not None:
            return self.local.name
        return (self.qualname or "?").rsplit(".", 1)[-1]

    def describe(self) -> str:
        """``Dropout(p=0.5)`` as written, for messages."""
        if self.call is None or self.facts is None:
            return self.short_name
        args = self.facts.module.code_for_node(self.call.node).partition("(")[2].rstrip(")")
        args = " ".join(args.split())
        if len(args) > 40:
            args = args[:37] + "..."
        return f"{self.short_name}({args})"

    def argument(self, index: int, name: str) -> cst.BaseExpression | None:
        return self.call.argument(index, name) if self.call else None

    @property
    def mode_dependent(self) -> bool:
        """Whether this layer itself behaves differently in train and eval mode.
        Unknown argument values count as mode-dependent; literal zeros do not."""
        kind = self.kind
        if kind not in MODE_DEPENDENT_KINDS:
            return False
        if kind == "dropout":
            p = literal_number(self.argument(0, "p"))
            return p is None or p > 0 or self.argument(0, "p") is None
        if kind == "batchnorm":
            tracked = literal_number(self.argument(4, "track_running_stats"))
            return tracked is None or tracked != 0
        if kind == "instancenorm":
            tracked = literal_number(self.argument(4, "track_running_stats"))
            return tracked is not None and tracked != 0
        if kind == "recurrent":
            dropout = self.argument(4, "dropout")
            layers = literal_number(self.argument(2, "num_layers"))
            p = literal_number(dropout)
            if dropout is None or (p is not None and p == 0):
                return False
            return layers is None or layers > 1
        if kind == "transformer":
            p = literal_number(self.call.keyword("dropout") if self.call else None)
            return p is None or p > 0
        if kind == "attention":
            dropout = self.argument(2, "dropout")
            p = literal_number(dropout)
            return dropout is not None and (p is None or p > 0)
        return True  # rrelu

    def walk(self) -> list[Layer]:
        """This layer and every layer inside it (containers)."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


@dataclass(eq=False)
class ModuleClass:
    """A project class that subclasses nn.Module (directly or through others)."""

    name: str
    cls: F.Class
    facts: F.FileFacts
    path: Path | None
    bases: list[ModuleClass] = field(default_factory=list)
    external_bases: list[str] = field(default_factory=list)  # torch.nn.Module, ...
    layers: list[Layer] = field(default_factory=list)
    uses_training_flag: bool = False  # reads self.training (custom train/eval behaviour)

    def method(self, name: str) -> tuple[F.Function, ModuleClass] | None:
        """A method, looked up through the local base classes."""
        if name in self.cls.methods:
            return self.cls.methods[name], self
        for base in self.bases:
            found = base.method(name)
            if found is not None:
                return found
        return None

    def all_layers(self, seen: set[int] | None = None) -> list[Layer]:
        """Own and inherited layers, containers expanded (not nested classes)."""
        seen = seen if seen is not None else set()
        if id(self) in seen:
            return []
        seen.add(id(self))
        found = [inner for layer in self.layers for inner in layer.walk()]
        for base in self.bases:
            found.extend(base.all_layers(seen))
        return found

    def layer(self, attr: str) -> Layer | None:
        for layer in self.layers:
            if layer.attr == attr:
                return layer
        for base in self.bases:
            found = base.layer(attr)
            if found is not None:
                return found
        return None

    def mode_layers(self, seen: set[int] | None = None) -> list[tuple[str, Layer]]:
        """(path, layer) for every mode-dependent layer, nested classes included."""
        seen = seen if seen is not None else set()
        if id(self) in seen:
            return []
        seen.add(id(self))
        found: list[tuple[str, Layer]] = []
        for layer in self.all_layers():
            if layer.mode_dependent:
                found.append((layer.attr, layer))
            if layer.local is not None:
                for path, inner in layer.local.mode_layers(seen):
                    found.append((f"{layer.attr}.{path}", inner))
        for base in self.bases:
            for path, inner in base.mode_layers(seen):
                if all(inner is not other for _, other in found):
                    found.append((path, inner))
        return found

    @property
    def is_framework_module(self) -> bool:
        """A Lightning module, which sets train/eval mode itself."""
        from torchlint.semantic.names import symbols

        bases = symbols().framework_bases
        return any(b in bases for b in self.external_bases) or any(
            b.is_framework_module for b in self.bases)

    def mode_dependent(self) -> bool:
        return bool(self.mode_layers()) or self.uses_training_flag


class ModuleIndex:
    """Finds ModuleClass objects for classes of this file and the files it imports."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._by_class: dict[int, ModuleClass | None] = {}

    def of_class(self, cls: F.Class, facts: F.FileFacts, path: Path | None) -> ModuleClass | None:
        key = id(cls)
        if key in self._by_class:
            return self._by_class[key]
        self._by_class[key] = None  # guard against cycles (class A(B), class B(A))
        module = self._build(cls, facts, path)
        self._by_class[key] = module
        return module

    def _build(self, cls: F.Class, facts: F.FileFacts, path: Path | None) -> ModuleClass | None:
        names = self.model.names_for(facts)
        local_bases: list[ModuleClass] = []
        external: list[str] = []
        is_module = False
        for base in cls.bases:
            qualified = names.qualified(base, cls.parent, cls.order)
            if qualified is not None and qualified.startswith("torch.nn."):
                external.append(qualified)
                is_module = True
                continue
            if qualified is not None and qualified in self.model.symbols.framework_bases:
                external.append(qualified)
                is_module = True
                continue
            found = self.resolve_class(base, cls.parent or facts.scope, cls.order, facts, path)
            if found is not None:
                local_bases.append(found)
                is_module = True
        if not is_module:
            return None
        module = ModuleClass(name=cls.name, cls=cls, facts=facts, path=path,
                             bases=local_bases, external_bases=external)
        self._collect_layers(module)
        return module

    def resolve_class(self, node: cst.BaseExpression, scope: F.Scope, order: int | None,
                      facts: F.FileFacts, path: Path | None) -> ModuleClass | None:
        """The project nn.Module class `node` names (``Net``, ``models.Net``)."""
        found = self.model.resolver.definition(node, scope, order, facts, path)
        if found is None or not isinstance(found.fact, F.Class):
            return None
        return self.of_class(found.fact, found.facts, found.path)

    # -- layers -------------------------------------------------------------

    def _collect_layers(self, module: ModuleClass) -> None:
        cls, facts = module.cls, module.facts
        for attr, assigns in cls.self_assigns.items():
            for assign in assigns:
                # `self.fc, self.bn = nn.Linear(...), nn.BatchNorm1d(...)`: this attribute's element.
                value = tuple_element(assign.value, cls.self_assign_path(attr, assign))
                if value is None:
                    continue
                layer = self.layer_of(value, assign.scope, assign.order, facts, module.path, attr)
                if layer is not None:
                    # A later assignment of the same attribute replaces the earlier, unless the
                    # two are the arms of one `if` (`if p: self.drop = nn.Dropout(p)` / `else:
                    # self.drop = nn.Identity()`): then either may be the layer.
                    module.layers = [l for l in module.layers if l.attr != attr or l.call is not None
                                     and layer.call is not None and F.exclusive(l.call.branch, layer.call.branch)]
                    module.layers.append(layer)
        for method in cls.methods.values():
            for call in method.calls:
                if call.method == "add_module" and dotted_name(call.receiver) == _self_name(method):
                    name_node, value = call.positional(0), call.positional(1)
                    if isinstance(name_node, cst.SimpleString) and value is not None:
                        attr = name_node.evaluated_value if isinstance(name_node.evaluated_value, str) else "?"
                        layer = self.layer_of(value, method, call.order, facts, module.path, attr)
                        if layer is not None:
                            module.layers.append(layer)
            if not module.uses_training_flag and _reads_training_flag(method, facts):
                module.uses_training_flag = True

    def _own_attribute_layer(self, value: cst.Attribute, scope: F.Scope, facts: F.FileFacts,
                             path: Path | None, attr: str, depth: int) -> Layer | None:
        """`nn.Sequential(self.fc, self.softmax)`: a layer the model already holds,
        put in a container by name (its one `self.<attr> = ...`)."""
        function = scope.function if isinstance(scope, F.Scope) else None
        if function is None or function.class_ is None or dotted_name(value.value) != _self_name(function):
            return None
        assigns = function.class_.self_assigns.get(value.attr.value, [])
        if len(assigns) != 1 or assigns[0].kind != "assign" or assigns[0].value is None \
                or function.class_.self_assign_path(value.attr.value, assigns[0]):
            return None
        fact = assigns[0]
        return self.layer_of(fact.value, fact.scope, fact.order, facts, path, attr, depth + 1)

    def layer_of(self, value: cst.BaseExpression, scope: F.Scope, order: int,
                 facts: F.FileFacts, path: Path | None, attr: str, depth: int = 0) -> Layer | None:
        """The layer an expression builds (``nn.Dropout(0.5)``, ``Block()``,
        ``nn.Sequential(...)``, a local variable holding one, a helper's return)."""
        if depth > 4:
            return None
        if isinstance(value, cst.Name):
            found = lookup(scope, value.value, order)
            if found is not None and isinstance(found[1].fact, F.Assign) and found[1].fact.value is not None \
                    and found[1].fact.kind == "assign":
                fact = found[1].fact
                return self.layer_of(fact.value, fact.scope, fact.order, facts, path, attr, depth + 1)
            return None
        if isinstance(value, cst.Attribute):
            return self._own_attribute_layer(value, scope, facts, path, attr, depth)
        if not isinstance(value, cst.Call):
            return None
        call = facts.call_of.get(id(value))
        if call is None:
            return None
        names = self.model.names_for(facts)
        qualified = names.qualified(value.func, scope, order)
        if qualified is None and isinstance(value.func, cst.Name):
            qualified = self._layer_class_parameter(value.func.value, scope, order, facts)
        kind = self.model.symbols.layer_kind(qualified)
        if qualified in ("torch.nn.Embedding.from_pretrained", "torch.nn.EmbeddingBag.from_pretrained"):
            return Layer(attr=attr, call=call, qualname=qualified.rsplit(".", 1)[0], kind="embedding",
                         facts=facts)
        if kind == "containers":
            layer = Layer(attr=attr, call=call, qualname=qualified, kind=kind, facts=facts)
            elements = self._container_elements(call, scope, facts) + self._filled_later(value, scope)
            for index, element in enumerate(elements):
                child = self.layer_of(element, scope, order, facts, path, f"{attr}[{index}]", depth + 1)
                if child is not None:
                    layer.children.append(child)
            return layer
        if kind is not None or (qualified and qualified.startswith("torch.nn.") and qualified[9:10].isupper()):
            return Layer(attr=attr, call=call, qualname=qualified, kind=kind, facts=facts)
        local = self.resolve_class(value.func, scope, order, facts, path)
        if local is not None:
            return Layer(attr=attr, call=call, local=local, facts=facts)
        # A factory function that builds and returns the layer: `self.stem = make_stem(c)`.
        factory = self.model.resolver.definition(value.func, scope, order, facts, path)
        if factory is not None and isinstance(factory.fact, F.Function) and factory.fact.class_ is None:
            for ret in factory.fact.returns:
                if ret.value is not None:
                    built = self.layer_of(ret.value, factory.fact, ret.order, factory.facts, factory.path,
                                          attr, depth + 1)
                    if built is not None:
                        return built
        # A helper method that builds the layer: `self._make_block(...)`.
        if isinstance(value.func, cst.Attribute) and isinstance(scope, F.Scope):
            function = scope.function
            if function is not None and function.class_ is not None \
                    and dotted_name(value.func.value) == _self_name(function):
                helper = function.class_.methods.get(value.func.attr.value)
                if helper is not None:
                    for ret in helper.returns:
                        if ret.value is not None:
                            built = self.layer_of(ret.value, helper, ret.order, facts, path, attr, depth + 1)
                            if built is not None:
                                return built
        return None

    def _layer_class_parameter(self, name: str, scope: F.Scope, order: int, facts: F.FileFacts) -> str | None:
        """`norm_layer(planes)` where `norm_layer` is a parameter: the torch layer class it
        defaults to, or (default None, the torchvision style of threading a layer class
        through constructors by name) the one class the file's same-named parameters
        default to (`def __init__(..., norm_layer=nn.BatchNorm2d)` in the model above)."""
        found = lookup(scope, name, order)
        if found is None or not isinstance(found[1].fact, F.Param):
            return None
        names = self.model.names_for(facts)
        param = found[1].fact
        if param.default is not None and literal_number(param.default) is None \
                and not (isinstance(param.default, cst.Name) and param.default.value == "None"):
            return self._torch_layer_class(names.qualified(param.default, scope, order))
        defaults = set()
        for function in facts.functions:
            other = function.param(name)
            if other is not None and other.default is not None:
                layer = self._torch_layer_class(names.qualified(other.default, function, function.order))
                if layer is not None:
                    defaults.add(layer)
        return defaults.pop() if len(defaults) == 1 else None

    def _torch_layer_class(self, qualified: str | None) -> str | None:
        if qualified is None:
            return None
        if self.model.symbols.layer_kind(qualified) is not None or \
                (qualified.startswith("torch.nn.") and qualified[9:10].isupper()):
            return qualified
        return None

    def _container_elements(self, call: F.Call, scope: F.Scope,
                            facts: F.FileFacts) -> list[cst.BaseExpression]:
        elements: list[cst.BaseExpression] = []
        for arg in call.args:
            value = arg.value
            if arg.star == "*" and isinstance(value, (cst.ListComp, cst.GeneratorExp)):
                elements.append(value.elt)  # nn.Sequential(*[Block(c) for _ in range(n)])
            elif arg.star == "*" and isinstance(value, (cst.List, cst.Tuple)):
                elements.extend(e.value for e in value.elements)
            elif arg.star == "*":
                elements.extend(self._list_items(value, scope, call.order))
            elif isinstance(value, (cst.List, cst.Tuple)):
                elements.extend(e.value for e in value.elements)
            elif isinstance(value, cst.Dict):
                elements.extend(e.value for e in value.elements if isinstance(e, cst.DictElement))
            elif isinstance(value, (cst.ListComp, cst.GeneratorExp)):
                elements.append(value.elt)
            elif isinstance(value, cst.Call) and dotted_name(value.func) == "dict" \
                    and all(inner.keyword is not None for inner in value.args):
                # nn.ModuleDict(dict(drop=nn.Dropout(p), h=nn.ModuleList([...]))): keyword items
                elements.extend(inner.value for inner in value.args)
            elif isinstance(value, cst.Call) and dotted_name(value.func) in ("OrderedDict", "collections.OrderedDict"):
                for inner in value.args:
                    if isinstance(inner.value, (cst.List, cst.Tuple)):
                        for pair in inner.value.elements:
                            if isinstance(pair.value, cst.Tuple) and len(pair.value.elements) == 2:
                                elements.append(pair.value.elements[1].value)
            elif isinstance(value, cst.Name):
                elements.extend(self._list_items(value, scope, call.order))
            else:
                elements.append(value)
        return elements

    def _filled_later(self, container: cst.Call, scope: F.Scope) -> list[cst.BaseExpression]:
        """Layers put into a container after it is built and bound: ``clf =
        nn.Sequential()`` then ``clf.add_module("drop", nn.Dropout())``, or
        ``self.blocks = nn.ModuleList()`` then ``self.blocks.append(Block())`` (in
        any method of the class), and ``self.heads["cls"] = nn.Linear(...)``."""
        holders = [dotted_name(target) for assign in scope.assigns if assign.value is container
                   for target in assign.targets]
        holders = [holder for holder in holders if holder is not None]
        if not holders:
            return []
        scopes: list[F.Scope] = [scope]
        function = scope.function
        if function is not None and function.class_ is not None \
                and any(h.startswith(f"{_self_name(function)}.") for h in holders):
            scopes += [m for m in function.class_.methods.values() if m is not scope
                       and _self_name(m) == _self_name(function)]
        found: list[cst.BaseExpression] = []
        for where in scopes:
            for call in where.calls:
                if call.method in _FILLING_METHODS and dotted_name(call.receiver) in holders:
                    found.extend(_filled_by(call))
            for assign in where.assigns:
                for target in assign.targets:
                    if isinstance(target, cst.Subscript) and dotted_name(target.value) in holders \
                            and assign.value is not None:
                        found.append(assign.value)
        return found

    def _list_items(self, node: cst.BaseExpression, scope: F.Scope, order: int) -> list[cst.BaseExpression]:
        """Items of a list built in the same function: ``layers = [...]``,
        ``layers.append(x)``, ``layers += [...]``."""
        if not isinstance(node, cst.Name):
            return []
        name = node.value
        items: list[cst.BaseExpression] = []
        for assign in scope.assigns:
            if assign.order < order and any(isinstance(t, cst.Name) and t.value == name for t in assign.targets):
                if isinstance(assign.value, (cst.List, cst.Tuple)):
                    items = [e.value for e in assign.value.elements]
                elif isinstance(assign.value, cst.ListComp):
                    items = [assign.value.elt]
        for call in scope.calls:
            if call.order < order and call.method in ("append", "extend") and dotted_name(call.receiver) == name:
                arg = call.positional(0)
                if arg is None:
                    continue
                if call.method == "append":
                    items.append(arg)
                elif isinstance(arg, (cst.List, cst.Tuple)):
                    items.extend(e.value for e in arg.elements)
        for aug in scope.aug_assigns:
            if aug.order < order and dotted_name(aug.target) == name and isinstance(aug.value, (cst.List, cst.Tuple)):
                items.extend(e.value for e in aug.value.elements)
        return items


_FILLING_METHODS = frozenset({"add_module", "append", "extend", "insert", "register_module"})


def _filled_by(call: F.Call) -> list[cst.BaseExpression]:
    """The layers a filling call puts into its container."""
    if call.method in ("add_module", "register_module", "insert"):  # (name or index, module)
        value = call.argument(1, "module")
    else:
        value = call.argument(0, "modules" if call.method == "extend" else "module")
    if value is None:
        return []
    if call.method == "extend":
        if isinstance(value, (cst.List, cst.Tuple)):
            return [e.value for e in value.elements if not isinstance(e, cst.StarredElement)]
        return [value.elt] if isinstance(value, (cst.ListComp, cst.GeneratorExp)) else []
    return [value]


def tuple_element(value: cst.BaseExpression | None, path: tuple[int, ...]) -> cst.BaseExpression | None:
    """The part of a literal tuple `value` a tuple target at `path` receives
    (`value` itself for an empty path; None when it is not a literal)."""
    for index in path:
        if not isinstance(value, (cst.Tuple, cst.List)) or index >= len(value.elements) \
                or any(isinstance(e, cst.StarredElement) for e in value.elements):
            return None
        value = value.elements[index].value
    return value


_FLATTENING_METHODS = frozenset({"view", "reshape", "flatten", "mean", "sum", "squeeze", "max", "amax"})


def _flattens(node: cst.BaseExpression, values, scope: F.Scope, order: int, facts: F.FileFacts,
              path: Path | None, depth: int = 0) -> bool:
    """Whether `node` evaluates to (B, C) features: a time step picked by an integer
    index, a Linear layer's output, or a flattened/pooled tensor."""
    if depth > 4:
        return False
    if isinstance(node, cst.Subscript):
        return any(isinstance(e.slice, cst.Index) and literal_number(e.slice.value) is not None
                   for e in node.slice)
    if isinstance(node, cst.Name):
        found = lookup(scope, node.value, order)
        if found is not None and isinstance(found[1].fact, F.Assign) and found[1].fact.value is not None \
                and not found[1].path:
            fact = found[1].fact
            return _flattens(fact.value, values, fact.scope, fact.order, facts, path, depth + 1)
        return False
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _FLATTENING_METHODS:
            # `x.view(-1, C)` merges batch and time: many rows even for one sample.
            first = node.args[0].value if node.args else None
            return node.func.attr.value not in ("view", "reshape") or literal_number(first) != -1
        name = dotted_name(node.func) or ""
        if name.endswith(("flatten", ".mean", ".sum")):
            return True
        first = node.args[0].value if node.args and node.args[0].keyword is None else None
        if name.rsplit(".", 1)[-1] in _ELEMENTWISE_FUNCTIONS and first is not None:
            return _flattens(first, values, scope, order, facts, path, depth + 1)  # `F.relu(fc(x))`
        for value in values.infer(node.func, scope, order, facts, path):
            if value.kind == "module" and value.layer is not None and value.layer.kind == "linear":
                return True
            if value.kind == "module" and value.layer is not None and first is not None \
                    and (value.layer.kind == "dropout" or value.layer.qualname in _ELEMENTWISE_LAYERS):
                # `self.drop(self.act(fc(x)))`: element-wise layers keep (B, C)
                return _flattens(first, values, scope, order, facts, path, depth + 1)
    return False


# Layers and functions that act element by element: their output has the input's shape.
_ELEMENTWISE_LAYERS = frozenset({f"torch.nn.{name}" for name in (
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid",
    "PReLU", "Softplus", "Hardswish", "Hardtanh", "Identity", "Dropout", "AlphaDropout")})
_ELEMENTWISE_FUNCTIONS = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish",
                                    "tanh", "sigmoid", "softplus", "dropout", "alpha_dropout"})


def flat_batchnorms(module: ModuleClass, model: SemanticModel,
                    seen: set[int] | None = None) -> list[Layer]:
    """BatchNorm1d layers of `module` that receive (B, C) features, which PyTorch
    refuses in train mode for a batch of one."""
    seen = seen if seen is not None else set()
    if id(module) in seen:
        return []
    seen.add(id(module))
    found: list[Layer] = []
    for layer in module.all_layers():
        # nn.Sequential(..., nn.Linear(...), nn.BatchNorm1d(...))
        for previous, current in zip(layer.children, layer.children[1:]):
            if current.qualname == "torch.nn.BatchNorm1d" and previous.kind == "linear":
                found.append(current)
    values = model.values
    # forward, and the other methods forward may run (`self._encode(x)`) when the model
    # holds a BatchNorm1d for them to call
    names = ["forward"]
    if any(layer.qualname == "torch.nn.BatchNorm1d" for layer in module.all_layers()):
        names.extend(module.cls.methods)
    methods = [m for m in (module.method(name) for name in names) if m is not None]
    for function, owner in dict.fromkeys(methods):
        for call in function.calls:
            if not call.args:
                continue
            for value in values.infer(call.func, call.scope, call.order, owner.facts, owner.path):
                layer = value.layer
                if value.kind == "module" and layer is not None and layer.qualname == "torch.nn.BatchNorm1d" \
                        and _flattens(call.args[0].value, values, call.scope, call.order, owner.facts, owner.path):
                    found.append(layer)
    for layer in module.all_layers():
        if layer.local is not None:
            found.extend(flat_batchnorms(layer.local, model, seen))
    return found


def _self_name(function: F.Function) -> str | None:
    return function.params[0].name if function.params else None


def _reads_training_flag(method: F.Function, facts: F.FileFacts) -> bool:
    """Whether a method branches on ``self.training`` (custom train/eval behaviour),
    or passes it on (``F.dropout(x, training=self.training)``)."""
    self_name = _self_name(method)
    return any(
        method.contains(attribute_scope) or attribute_scope is method
        for attribute_scope, node in facts.training_reads
        if dotted_name(node.value) == self_name
    )


def mode_layers_of(models) -> list[tuple[str, str]]:
    """(attribute path, description) of the mode-dependent layers the model values
    hold (Dropout, BatchNorm ..., code reading self.training); for a model of an
    external class, one entry with an empty path naming its layers as unknown."""
    found: list[tuple[str, str]] = []
    for value in models:
        if value.module is not None:
            if value.module.is_framework_module:
                return []
            found.extend((path, layer.describe()) for path, layer in value.module.mode_layers()
                         if not _dropout_off_for(layer, value) and not arm_not_built(layer, value))
            if not found and value.module.uses_training_flag:
                found.append(("forward", READS_TRAINING))
        elif value.layer is not None:
            found.extend((layer.attr or layer.short_name, layer.describe())
                         for layer in value.layer.walk() if layer.mode_dependent)
            for layer in value.layer.walk():
                if layer.local is not None:
                    found.extend((f"{layer.attr}.{p}", inner.describe())
                                 for p, inner in layer.local.mode_layers())
        elif value.qualname is not None:
            found.append(("", f"{LIBRARY_LAYERS}{value.qualname.rsplit('.', 1)[-1]}"))
    unique: dict[str, tuple[str, str]] = {}
    for path, description in found:
        unique.setdefault(description + path, (path, description))
    return list(unique.values())


def arm_not_built(layer: Layer, value) -> bool:
    """`layer` is built in an arm of `__init__` that this construction skips:
    `if use_dropout: self.drop = nn.Dropout(p)` with `Net(use_dropout=False)` (or
    a default of False), as the literal arguments of the construction say."""
    if layer.call is None or value.call is None or layer.call.branch is None:
        return False
    function = layer.call.scope.function
    if function is None or function.name != "__init__" or not function.contains(layer.call.branch):
        return False
    assumptions = {}
    for param in function.params[1:]:
        given = C.literal(value.call.bound_argument(param))
        if isinstance(given, (bool, int, float, str)):
            assumptions[param.name] = given
    return bool(assumptions) and not C.consistent(layer.call, assumptions)


def _dropout_off_for(layer: Layer, value) -> bool:
    """`nn.Dropout(p=dropout)` with `dropout` a parameter of the model's `__init__`
    that this construction leaves at a default of 0 (or passes 0): the layer drops
    nothing, in either mode."""
    if layer.kind != "dropout" or layer.call is None or value.call is None:
        return False
    p = layer.argument(0, "p")
    function = layer.call.scope.function
    if not isinstance(p, cst.Name) or function is None or function.name != "__init__":
        return False
    param = function.param(p.value)
    if param is None or param.index == 0:
        return False
    return literal_number(value.call.bound_argument(param)) == 0
