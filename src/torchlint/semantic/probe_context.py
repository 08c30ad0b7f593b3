"""Which model a finding is about, as the ``context`` keys its probe experiment reads.

Shared by the rules that report a model's findings (the static side: libcst,
never torch). The keys follow the experiment contract of
``src/torchlint/probe/README.md``: the probe picks the model to build from
``construct_line`` (the script's own construction call), ``model`` and
``class``; ``lab.build_from_context()`` evaluates ``construct`` (the source of
a torch layer built in the script, e.g. ``nn.Sequential(...)``) in the
script's namespace when the model is not a class of the project.
"""

from __future__ import annotations

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import iter_nodes

_MODEL_KINDS = ("module", "model_output")

#: Layers that only wrap the model they are given: the probe builds the wrapped model
#: (evaluating ``DataParallel(model)`` in the script fails: ``model`` is a local).
_WRAPPERS = frozenset({"DataParallel", "DistributedDataParallel"})


def model_context(model, values, depth: int = 0) -> dict:
    """Which model the values hold (or produced), for the probe: ``{"class",
    "construct_line"}`` for a class of the project (and ``construct_path`` when the
    construction is in another file), ``{"construct",
    "construct_line"}`` for a torch layer built in this file outside any class
    (``nn.Sequential(...)``), ``{}`` when neither is known. A wrapper
    (``DataParallel(model)``) stands for the model it wraps."""
    values = _in_source_order(model, [v for v in values if v.kind in _MODEL_KINDS])
    wrapped, names = _wrapped_values(model, values) if depth < 3 else ([], [])
    if wrapped or names:
        found = model_context(model, wrapped, depth + 1)
        if found:
            return found
        values = [v for v in values if not _is_wrapper(v)]
        if not values and len(set(names)) == 1:
            # `net = DataParallel(net)` around a model the value analysis does not know:
            # the probe builds the script's last construction bound to that name.
            return {"model_var": names[0]}
    for value in values:
        if value.module is not None:  # a LightningModule too: the probe builds it like any model
            found = {"class": value.module.name}
            others = _other_classes(values, value.module.name)
            if others:  # `if cfg.small: Tiny(...) else: Big(...)`: the verdict is about the first
                found["alternatives"] = others
            if value.kind == "module" and isinstance(value.origin, cst.Call) and value.facts is model.facts:
                found["construct_line"] = model.line_of(value.origin)  # the construction call
            elif value.kind == "module" and isinstance(value.origin, cst.Call) and value.facts is not None:
                # built in another file of the project (a caller passes it in): where, so that
                # the probe loads that file and builds the model as it does
                path = model.path_of(value.facts)
                if path is not None:
                    found["construct_path"] = str(path)
                    found["construct_line"] = model.line_of(value.origin, value.facts)
            return found
    for value in values:
        found = _library_model(model, value)
        if found:
            return found
    for value in values:
        layer = value.layer
        if layer is None or layer.local is not None or layer.call is None or layer.facts is not model.facts:
            continue
        if model.enclosing_module(layer.call.scope) is None:  # not a layer inside a model class
            # The exact source, not model.code's one-line form: a `# comment` inside a
            # multi-line `nn.Sequential(...)` would swallow the rest of a joined line.
            source = model.facts.module.code_for_node(layer.call.node)
            return {"construct": source, "construct_line": model.line_of(layer.call.node)}
    return {}


_MOVES = frozenset({"to", "cuda", "cpu", "float", "double", "half", "train"})


def _library_model(model, value) -> dict:
    """A library's model the script builds outside any model class
    (``net = models.resnet18(pretrained=True)``): ``construct`` is that call's source
    and ``construct_then`` the script's changes to it that follow in the same block
    (``net.fc = nn.Linear(net.fc.in_features, 10)``), with ``construct_var`` the
    name they use, so the probe builds the network the script trains."""
    call = value.origin
    qualname = value.qualname or ""
    if value.kind != "module" or not isinstance(call, cst.Call) or value.facts is not model.facts \
            or not qualname.startswith(model.symbols.model_factories) or qualname.endswith("<name>"):
        return {}
    fact = model.facts.call_of.get(id(call))
    if fact is None or model.enclosing_module(fact.scope) is not None:
        return {}
    found = {"construct": model.facts.module.code_for_node(call), "construct_line": model.line_of(call)}
    assign = next((a for a in model.facts.assigns if a.kind == "assign" and a.value is not None
                   and _moved(a.value) is call and len(a.targets) == 1
                   and isinstance(a.targets[0], cst.Name)), None)
    if assign is None:
        return found
    name = assign.targets[0].value
    changes = []
    for later in model.facts.assigns:
        if later.order <= assign.order or later.scope is not assign.scope or later.loop is not assign.loop \
                or later.branch is not assign.branch or later.kind != "assign" or later.value is None:
            continue
        if any(isinstance(t, cst.Name) and t.value == name for t in later.targets):
            if _root(_moved(later.value)) != name:
                break  # rebound to something else (`net = Wrapper(net)`): its changes are not ours
            continue  # `net = net.to(device)`
        if all(_root(t) == name for t in later.targets):
            if isinstance(later.node, cst.Assign):
                changes.append(model.facts.module.code_for_node(later.node).strip())
    if changes:
        found.update(construct_var=name, construct_then=changes)
    return found


def _moved(node: cst.BaseExpression) -> cst.BaseExpression:
    """``models.resnet18().to(device)`` -> ``models.resnet18()``."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _MOVES:
        node = node.func.value
    return node


def _root(node: cst.BaseExpression) -> str | None:
    """The name an attribute or subscript chain starts from: ``net`` of ``net.classifier[6]``."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _in_source_order(model, values: list) -> list:
    """The values by where they were made (file, line). The value analysis hands out sets
    ordered by memory address: without this, a variable bound in several branches
    (``if cfg.small: net = Tiny() else: net = Big()``) named a different model each run."""
    if len(values) < 2:
        return values

    def where(value) -> tuple[str, int, str, int, str]:
        facts = value.facts if value.facts is not None else model.facts
        try:
            line = model.line_of(value.origin, facts) if value.origin is not None else 0
        except Exception:  # noqa: BLE001 - a node the locator does not know: last
            line = 1 << 30
        path = model.path_of(facts) if facts is not model.facts else model.path
        # Outputs of one call (`net(x)` where net may be either class) tie on their
        # origin: then the class defined first, then its name.
        module = value.module
        defined = _class_line(model, module) if module is not None else 0
        return (str(path or ""), line, value.kind, defined, module.name if module is not None else "")

    return sorted(values, key=where)


def _class_line(model, module) -> int:
    try:
        return model.line_of(module.cls.node, module.facts)
    except Exception:  # noqa: BLE001 - a class the locator does not know: by name only
        return 0


def _other_classes(values: list, chosen: str) -> list[str]:
    """The other model classes of the project the values may hold, in source order."""
    names = [v.module.name for v in values if v.module is not None and v.module.name != chosen]
    return list(dict.fromkeys(names))


def _is_wrapper(value) -> bool:
    layer = value.layer
    return layer is not None and layer.local is None and layer.call is not None \
        and (layer.qualname or "").rsplit(".", 1)[-1] in _WRAPPERS


def _wrapped_values(model, values) -> tuple[list, list[str]]:
    """The values the wrappers among `values` were given (their first argument), and
    the argument's name where it is a plain name."""
    found, names = [], []
    for value in values:
        if _is_wrapper(value) and value.layer.facts is model.facts and value.layer.call.args:
            argument = value.layer.call.args[0].value
            while isinstance(argument, cst.Call) and isinstance(argument.func, cst.Attribute) \
                    and argument.func.attr.value in ("cuda", "to", "cpu", "float", "double"):
                argument = argument.func.value  # DataParallel(model.cuda())
            found.extend(model.values.at(argument, value.layer.call))
            if isinstance(argument, cst.Name):
                names.append(argument.value)
    return found, names


def softmax_context(model, value, values) -> dict:
    """For probabilities or log-probabilities `value` among the `values` a loss
    receives: whether the softmax is part of the model (``"softmax": "model"``:
    the model's outputs already are (log-)probabilities) or applied by the script
    to the model's output (``"outside"``, with its literal ``dim``), and the model."""
    outside = [v for v in value.source if v.kind in _MODEL_KINDS]
    if value.via_forward is None and outside:
        found = {"softmax": "outside", **model_context(model, outside)}
    else:
        found = {"softmax": "model", **model_context(model, values)}
    dim = _dim_of(model, value.origin, value.facts)
    if dim is not None:
        found["dim"] = dim
    return found


def _dim_of(model, node, facts) -> int | None:
    """The literal ``dim`` of a softmax call: ``F.softmax(x, dim=1)``, ``x.softmax(1)``."""
    if facts is not model.facts or not isinstance(node, cst.Call):
        return None
    call = model.facts.call_of.get(id(node))
    if call is None:
        return None
    method = call.method in ("softmax", "log_softmax") and model.function_kind(call) is None
    layer = model.symbols.layer_kind(model.callee(call)) in ("softmax", "log_softmax")
    number = literal_number(call.argument(0 if method or layer else 1, "dim"))
    return int(number) if number is not None and number == int(number) else None


def model_through_function(model, loss_node, loss_facts) -> dict:
    """The model whose output reaches a loss computed inside a function whose
    parameter feeds the loss's predictions (a nested ``loss_fn(logp, ...)``, a model's own
    ``loss_function`` method in another file): a call of that function in this file
    passing the model's output for that parameter (``model(x)`` itself, or a name
    bound from it: ``recon, mu = model(x)``). For a method, the model whose method it
    is must be that model. ``{}`` when no such call is known: the loss's inputs are
    then not known to be any model's, and the probe says its predictions are its own."""
    loss_call = loss_facts.call_of.get(id(loss_node)) if loss_facts is not None else None
    function = loss_call.scope.function if loss_call is not None else None
    if function is None or not loss_call.args:
        return {}
    predictions = {n.value for n in iter_nodes(loss_call.args[0].value) if isinstance(n, cst.Name)}
    fed = [param for param in function.params if param.name in predictions]
    if len(fed) != 1:
        return {}
    index = fed[0].index - (1 if function.class_ is not None else 0)  # `self` is the receiver
    for call in model.facts.calls:
        func = call.node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else \
            func.value if isinstance(func, cst.Name) else None
        if name != function.name or not call.args:
            continue
        argument = _argument_at(call, index, fed[0].name)
        outputs = _output_values(model, argument, call) if argument is not None else []
        if not outputs:
            continue
        if function.class_ is not None:
            if not isinstance(func, cst.Attribute):
                continue
            owners = [v for v in model.values.at(func.value, call) if v.kind == "module"
                      and v.module is not None and v.module.name == function.class_.name]
            if not owners or not any(_made_by(model, v, owners[0], func.value) for v in outputs):
                continue
            outputs = owners  # the receiver: its construction is the model's
        found = model_context(model, outputs)
        if found:
            return found
    return {}


def _made_by(model, output, owner, receiver) -> bool:
    """The model output came from the owner's forward (its class's, or a layer's inside it), or a call of the
    same receiver (``net(x)`` for ``net.loss(...)``) when the output's class is not known
    (a tuple the forward returns)."""
    made_in = output.via_forward or output.module
    if made_in is not None and not made_in.is_framework_module:
        return made_in.name == owner.module.name
    origin = output.origin
    made_at = output.facts.call_of.get(id(origin)) if output.facts is not None else None
    method = made_at.scope.function if made_at is not None else None
    if method is not None and method.class_ is not None:  # a layer's output inside a forward
        return method.class_.name == owner.module.name
    return isinstance(origin, cst.Call) and model.code(origin.func) == model.code(receiver)


def _argument_at(call, index: int, name: str):
    """The argument a call passes for the parameter at `index` (named `name`); for
    ``f(*model(x))`` the starred model call (it fills every position)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    positional = [arg for arg in call.args if arg.keyword is None]
    if positional and positional[0].star == "*" and len(positional) == 1:
        return positional[0].value
    if index < len(positional) and not any(arg.star for arg in positional[:index + 1]):
        return positional[index].value
    return None


def _output_values(model, node, call) -> list:
    """The model_output values `node` holds, directly or through the name it is bound to."""
    found = [v for v in model.values.at(node, call) if v.kind == "model_output"]
    if found or not isinstance(node, cst.Name):
        return found
    bound = lookup(call.scope, node.value, call.order)
    fact = bound[1].fact if bound is not None else None
    if isinstance(fact, F.Assign) and fact.value is not None:
        return [v for v in model.values.at(fact.value, fact) if v.kind == "model_output"]
    return []

