"""Evidence read from names and uses, for code whose values are not known.

When data flow cannot say what an expression holds (a model passed in by a
caller in another file, a class from an uninstalled package), the code still
says a lot: ``net.eval()`` or ``net.parameters()`` are only called on models,
``evaluate_fold`` is evaluation code, ``model.load_state_dict(...)`` or
``resnet50(pretrained=True)`` give trained weights. These helpers read that
evidence from the facts of one file; :class:`~torchlint.semantic.phases.Phases`
decides with it and the rules say in their messages which evidence they used.
"""

from __future__ import annotations

import re
from pathlib import Path

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.walker import dotted_name, iter_nodes

_WORD_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# Words of a function name that mark evaluation code (`evaluate_fold`, `runTestPass`).
EVAL_NAME_WORDS = frozenset({
    "val", "valid", "validate", "validation", "eval", "evaluate", "evaluation", "test", "testing",
    "predict", "prediction", "predictions", "inference", "infer", "holdout",
})
# Methods only an nn.Module has among the things a script calls like a function
# (optimizers and schedulers are never called; loss functions have none of these).
MODEL_METHODS = frozenset({
    "eval", "train", "parameters", "named_parameters", "load_state_dict", "state_dict",
    "modules", "named_modules", "children", "named_children", "zero_grad", "requires_grad_",
})
# Methods that run a model's layers, accepted on receivers known as models only by use.
FORWARD_METHODS = frozenset({
    "forward", "encode", "decode", "generate", "sample", "embed", "extract_features", "classify",
})
# Words of a parameter or attribute name that, alone, make a callable look like a model.
MODEL_NAME_WORDS = frozenset({
    "model", "net", "network", "classifier", "encoder", "decoder", "generator", "discriminator",
    "backbone", "regressor", "autoencoder", "teacher", "student", "detector", "segmenter",
})
# Calls whose result is a model with trained weights.
_LOADING_CALLS = ("torch.load", "torch.jit.load", "from_pretrained", "load_model", "load_checkpoint",
                  "load_pretrained")
# Keywords of model constructors that load the whole model's trained weights
# (not `pretrained_embeddings=`, which fills one layer).
_WEIGHT_KEYWORDS = frozenset({"pretrained", "pretrain", "use_pretrained", "load_pretrained", "weights",
                              "pretrained_weights", "pretrained_model", "pretrained_path", "checkpoint"})
_CONTAINERS = ("ModuleList", "ModuleDict", "Sequential")
# Calls that hold or run the layers handed to them.
_RUN_ARGUMENTS = (*_CONTAINERS, "checkpoint", "checkpoint_sequential")
_PYTEST_FILE_RE = re.compile(r"^(test_.*|.*_test|conftest)\.py$")


def words(text: str) -> set[str]:
    """``val_loader`` -> {"val", "loader"}; ``testDL`` -> {"test", "dl"}."""
    return {w.lower() for w in _WORD_RE.findall(text)}


def eval_words_in_name(name: str) -> set[str]:
    return words(name) & EVAL_NAME_WORDS


# What follows an eval word run together with it: `testloader`, `valdata`, `devset`.
_DATA_SUFFIXES = ("loader", "loaders", "dataloader", "data", "dataset", "set", "iter", "iterator", "dl",
                  "batch", "batches", "samples", "gen", "generator", "queue", "feed")


def data_words(text: str, eval_words: frozenset[str]) -> set[str]:
    """The eval words of `text` (``val_loader``, ``testDL``), also when written
    run together with a data word (``testdataloader``, ``valset``)."""
    found = set()
    for word in words(text):
        if word in eval_words:
            found.add(word)
            continue
        for prefix in eval_words:
            if word.startswith(prefix) and word[len(prefix):] in _DATA_SUFFIXES:
                found.add(prefix)
    return found


def is_pytest_test(function: F.Function, path: Path | None, facts: F.FileFacts | None = None) -> bool:
    """A unit test collected by pytest, not an evaluation routine: a ``test_*``
    function of a pytest file, or one that takes no arguments (a script's
    ``test_seg(model, loader)`` takes what it evaluates) and that the file itself
    never calls (a script's ``results = test_dict()`` evaluates its global model)."""
    if not function.name.startswith("test"):
        return False
    if path is not None and _PYTEST_FILE_RE.match(path.name):
        return True
    cls = function.class_
    if cls is not None and any("TestCase" in (dotted_name(base) or "") for base in cls.bases):
        return True
    own = [p for p in function.params if not (cls is not None and p.index == 0)]
    if not function.name.startswith("test_") or own:
        return False
    return facts is None or cls is not None or not any(
        isinstance(call.func, cst.Name) and call.func.value == function.name for call in facts.calls)


def is_unit_test(function: F.Function, facts: F.FileFacts, path: Path | None) -> bool:
    """Test code rather than a training or evaluation routine: a pytest test, or
    any method of a unittest class (helpers like `_check_parity` included), whose
    forward passes check outputs and are no evaluation loop to be fixed; in a
    `tests/` folder also the helpers tests call (`_test_merge(...)`, the methods
    of a tester mixin the test classes of other files derive from)."""
    if is_pytest_test(function, path, facts):
        return True
    cls = function.class_
    if cls is not None and is_test_class(cls, facts):
        return True
    return _in_tests_folder(path) and (function.name.lstrip("_").startswith("test")
                                       or cls is not None and "Test" in cls.name)


def _in_tests_folder(path: Path | None) -> bool:
    """The file sits in a `tests` folder, where pytest looks for tests (near the
    file: a project kept under some `~/tests/` of its owner is not test code)."""
    return path is not None and "tests" in path.parts[-4:-1]


def in_unit_test(scope: F.Scope, facts: F.FileFacts, path: Path | None) -> bool:
    """Code inside a unit test (pytest's `test_*`, a unittest method): a training
    loop there keeps a fixed order or size on purpose, to compare exact losses."""
    function = scope.function
    return function is not None and is_unit_test(function, facts, path)


def is_test_class(cls: F.Class, facts: F.FileFacts, depth: int = 0) -> bool:
    """A unittest class: a base named `*TestCase` (unittest.TestCase, torch's
    MultiProcessTestCase), also through this file's own classes deriving from one."""
    for base in cls.bases:
        name = dotted_name(base) or ""
        if "TestCase" in name:
            return True
        local = facts.class_named(name) if depth < 8 and "." not in name else None
        if local is not None and local is not cls and is_test_class(local, facts, depth + 1):
            return True
    return False


def receiver_text(call: F.Call) -> str | None:
    return dotted_name(call.receiver) if call.receiver is not None else None


def model_method_receivers(calls: list[F.Call]) -> set[str]:
    """The dotted expressions that `MODEL_METHODS` are called on among `calls`."""
    found = set()
    for call in calls:
        if call.method in MODEL_METHODS:
            text = receiver_text(call)
            if text:
                found.add(text)
    return found


# Last words that make a model word a mere qualifier: `model_fn_factory`,
# `model_path`, `net_cfg` name something about a model, not the model.
_NOT_A_MODEL_TAIL = frozenset({
    "factory", "factories", "fn", "func", "function", "builder", "name", "names", "path", "paths", "dir",
    "file", "type", "cls", "class", "config", "cfg", "args", "kwargs", "id", "url", "key", "kind", "spec",
    "params", "parameters", "state", "dict", "size", "dim", "version", "str",
})


def looks_like_model_name(text: str) -> bool:
    """A name that says it holds a model instance (`model`, `self.encoder`, `G`),
    not a class: a CapWords name (`Discriminator`, `ModelClass`) passed in is a
    class, and calling it builds a model."""
    last = text.rsplit(".", 1)[-1]
    if last[:1].isupper() and any(c.islower() for c in last) and "_" not in last.strip("_"):
        return False
    parts = [w.lower() for w in _WORD_RE.findall(last)]
    return bool(set(parts) & MODEL_NAME_WORDS) and parts[-1] not in _NOT_A_MODEL_TAIL


def loading_call(node: cst.CSTNode | None) -> str | None:
    """How a constructing expression gives trained weights, if it does:
    ``torch.load(path)``, ``Net.from_pretrained(name)``, ``resnet50(pretrained=True)``,
    ``resnet50(weights="IMAGENET1K_V1")``, also inside ``.to(device)`` chains."""
    while isinstance(node, cst.Call):
        name = dotted_name(node.func) or ""
        if name.endswith(_LOADING_CALLS) or name in _LOADING_CALLS:
            return f"`{name}(...)`"
        for arg in node.args:
            keyword = arg.keyword.value if arg.keyword is not None else ""
            if keyword in _WEIGHT_KEYWORDS and _truthy(arg.value):
                return f"`{keyword}=...`"
        func = node.func
        node = func.value if isinstance(func, cst.Attribute) else None
    return None


def _truthy(node: cst.BaseExpression) -> bool:
    """`pretrained=True`, `pretrained="imagenet"`, `pretrained=args.pretrained`; not
    `pretrained=False` nor a tensor built on the spot (`pretrained=torch.randn(...)`)."""
    if isinstance(node, cst.Name):
        return node.value != "False" and node.value != "None"
    if isinstance(node, cst.Integer):
        return node.value != "0"
    return isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Attribute))


def injected_submodules(cls: F.Class) -> list[str]:
    """Attributes of a model class set from constructor arguments
    (``self.head = head``, ``self.encoders = nn.ModuleList(encoders)``): layers
    the class does not define, so its mode-dependent layers are not all known.
    An argument the class only ever uses as something else than a layer
    (``self.std = std`` read in ``Normal(mu, self.std)``) is no layer."""
    found = []
    for attr, assigns in cls.self_assigns.items():
        for assign in assigns:
            function = assign.scope.function
            if function is None or assign.value is None:
                continue
            params = {p.name for p in function.params[1:]}
            if _reads_any(assign.value, params) and not _never_a_layer(cls, attr):
                found.append(attr)
                break
    return found


def _never_a_layer(cls: F.Class, attr: str) -> bool:
    """The class's methods never use ``self.<attr>`` as a layer (see
    :func:`layer_attributes`): a number read in ``Normal(mu, self.std)``, or a
    size kept and never read. Not known for a class with a base of the project,
    whose methods may."""
    if any(not (dotted_name(base) or "").endswith("Module") for base in cls.bases):
        return False
    return attr not in layer_attributes(cls)


def layer_attributes(cls: F.Class) -> frozenset[str]:
    """The ``self.<attr>`` the class's methods use as layers: call
    (``self.head(x)``, ``self.blocks[i](x)``, ``self.head.forward(x)``), loop
    over, put in a container of layers or hand to checkpointing. Read once per
    class (kept on the fact: every rule asks about the same classes)."""
    if cls.layer_attributes is None:
        found: set[str] = set()
        for method in cls.methods.values():
            for node in iter_nodes(method.node):
                if isinstance(node, cst.Call):
                    found.update(_self_attrs_in_chain(node.func))
                    if (dotted_name(node.func) or "").endswith(_RUN_ARGUMENTS):
                        for arg in node.args:
                            found.update(_self_attrs_in_chain(arg.value))
                elif isinstance(node, (cst.For, cst.CompFor)):
                    found.update(inner.attr.value for inner in iter_nodes(node.iter) if _is_self_attr(inner))
        cls.layer_attributes = frozenset(found)
    return cls.layer_attributes


def _self_attrs_in_chain(node: cst.BaseExpression) -> list[str]:
    """The ``<attr>`` of ``self.<attr>`` that `node` is, or is an attribute,
    item or call result of."""
    while True:
        if _is_self_attr(node):
            return [node.attr.value]  # type: ignore[attr-defined]
        if isinstance(node, (cst.Attribute, cst.Subscript)):
            node = node.value
        elif isinstance(node, cst.Call):
            node = node.func
        else:
            return []


def _is_self_attr(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self"


def _reads_any(node: cst.BaseExpression, names: set[str]) -> bool:
    """`node` is one of the parameters, or a container built from one
    (``nn.ModuleList(encoders)``, ``nn.Sequential(*blocks)``)."""
    if isinstance(node, cst.Name):
        return node.value in names
    if isinstance(node, cst.Call) and (dotted_name(node.func) or "").endswith(_CONTAINERS):
        return any(isinstance(arg.value, cst.Name) and arg.value.value in names for arg in node.args)
    return False


# What recomputes BatchNorm statistics on purpose: resetting them, or changing the
# momentum (None: a cumulative average) before running data through in train mode.
_BATCHNORM_STATISTICS = frozenset({"momentum", "running_mean", "running_var", "num_batches_tracked"})


def samples_same_input(call: F.Call) -> bool:
    """`call` runs inside `for _ in range(n)` on inputs the loop never changes:
    the same input is passed n times to draw n samples (Monte Carlo dropout
    keeps Dropout on for this). A loop over batches, or one that feeds each
    output back (`x = net(x)`), changes what it passes."""
    loop = call.loop
    if loop is None or loop.kind not in ("for", "comprehension") or not isinstance(loop.iter, cst.Call) \
            or dotted_name(loop.iter.func) != "range":
        return False
    read = {node.value for arg in call.args for node in _names_in(arg.value)}
    if not read or read & {node.value for node in _names_in(loop.target)}:
        return False
    scope = call.scope
    return not any(loop.order < binding.order <= loop.end_order
                   for name in read for binding in scope.bindings.get(name, ()))


def _names_in(node: cst.CSTNode | None) -> list[cst.Name]:
    found: list[cst.Name] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            found.append(current)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)  # `x.view`: `x` is read; the attribute name is not a variable
        else:
            stack.extend(current.children)
    return found


def recalibrates_batchnorm(scope: F.Scope) -> bool:
    """`scope` recomputes BatchNorm running statistics on purpose (SWA's update_bn,
    BN recalibration after pruning or quantization): it calls
    `reset_running_stats()` or assigns a BatchNorm statistic or momentum. A
    `train()` there is the point of the code, not a forgotten `eval()`."""
    if any(call.method in ("reset_running_stats", "reset_running_statistics") for call in scope.calls):
        return True
    for assign in scope.assigns:
        for target in assign.targets:
            if isinstance(target, cst.Attribute) and target.attr.value in _BATCHNORM_STATISTICS:
                return True
    return False
