"""Static recovery of the values a script builds its model with.

Nothing here runs user code. Values come from the text: literals, module
constants, assignments before the construction call (the branch whose test
can be decided, e.g. ``if args.classify == 'emotion': n_classes = 7``),
argparse and click defaults, simple config dicts and attribute-only config
classes. What cannot be recovered stays *unknown*, with its source text, for
the sandbox to substitute and record (``len(vocab) -> 50``).

Construction calls are the calls of the script to ``nn.Module`` subclasses
defined in the script or in the local modules it imports; each becomes a
*construction spec* (see ``sandbox_build``).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import libcst as cst

from torchlint.locator import Locator
from torchlint.semantic import facts as F
from torchlint.semantic.names import Names, lookup, symbols
from torchlint.semantic.walker import dotted_name

from .strip import Stripped, is_parse_args


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_MAX_DEPTH = 40
_NAMESPACE_PARAMS = frozenset({"args", "opt", "opts", "options", "config", "cfg", "hparams", "flags",
                               "params", "hp", "conf", "arguments", "a"})


@dataclass
class ArgNamespace:
    """``args`` of ``args = parser.parse_args()``: the defaults of its options."""

    values: dict[str, Any]
    origin: str = "argparse default"


@dataclass(frozen=True)
class ClassRef:
    node: cst.ClassDef
    scope: F.Class


@dataclass
class SourceInfo:
    """One parsed file of the probed project."""

    path: Path | None
    name: str  # its module name inside the sandbox
    text: str
    module: cst.Module
    facts: F.FileFacts
    package: bool = False
    stripped: Stripped | None = None
    _locator: Locator | None = None

    @property
    def names(self) -> Names:
        return Names(self.facts)

    def line(self, node: cst.CSTNode) -> int:
        return self._span(node).start_line

    def line_span_end(self, node: cst.CSTNode) -> int:
        """The last line of `node`; for a compound statement, of its header only."""
        return self._span(node).end_line

    def last_line(self, node: cst.CSTNode) -> int:
        """The last line of `node` with its whole body (`def`, `for`, `with`, `try`...):
        the span of a compound statement ends with its header, so its last
        statement, recursively, is where it ends."""
        while True:
            inner = _last_statement(node)
            if inner is None:
                return self.line_span_end(node)
            node = inner

    def _span(self, node: cst.CSTNode):
        if self._locator is None:
            self._locator = Locator(self.text, self.facts)
        return self._locator.span(node)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


# -- argparse and click ---------------------------------------------------------------------------


def _option_dest(strings: list[str]) -> str | None:
    longs = [s for s in strings if s.startswith("--")]
    if longs:
        return longs[0][2:].replace("-", "_")
    plain = [s for s in strings if not s.startswith("-")]
    if plain:
        return plain[0].replace("-", "_")
    shorts = [s for s in strings if s.startswith("-")]
    return shorts[0].lstrip("-").replace("-", "_") if shorts else None


def _convert(value: Any, kind: str | None) -> Any:
    if kind in ("int", "float") and isinstance(value, str):
        try:
            return int(value) if kind == "int" else float(value)
        except ValueError:
            return value
    return value


def argparse_defaults(info: SourceInfo, evaluator: Evaluator) -> dict[str, Any]:
    """Option name -> default of every ``add_argument`` call in the file."""
    defaults: dict[str, Any] = {}
    for call in info.facts.calls:
        if call.method == "add_argument":
            strings = [a.value.evaluated_value for a in call.args
                       if a.keyword is None and isinstance(a.value, cst.SimpleString)]
            dest_node = call.keyword("dest")
            dest = dest_node.evaluated_value if isinstance(dest_node, cst.SimpleString) else \
                _option_dest([s for s in strings if isinstance(s, str)])
            if not dest:
                continue
            action_node = call.keyword("action")
            action = action_node.evaluated_value if isinstance(action_node, cst.SimpleString) else None
            default_node = call.keyword("default")
            if default_node is not None:
                value = evaluator.value(default_node, call.scope, call.order)
                type_node = call.keyword("type")
                value = _convert(value, dotted_name(type_node) if type_node is not None else None)
            elif action == "store_true":
                value = False
            elif action == "store_false":
                value = True
            elif call.keyword("required") is not None or (strings and not str(strings[0]).startswith("-")):
                value = UNKNOWN
            else:
                value = None
            defaults[dest] = value
        elif call.method == "set_defaults":
            for arg in call.args:
                if arg.keyword is not None:
                    defaults[arg.keyword.value] = evaluator.value(arg.value, call.scope, call.order)
    return defaults


def click_defaults(info: SourceInfo, evaluator: Evaluator) -> dict[int, dict[str, Any]]:
    """For functions decorated with ``@click.option``: parameter -> default."""
    found: dict[int, dict[str, Any]] = {}
    for function in info.facts.functions:
        values: dict[str, Any] = {}
        for decorator in function.decorators:
            if not isinstance(decorator, cst.Call):
                continue
            name = dotted_name(decorator.func) or ""
            if not (name.endswith("option") or name.endswith("argument")):
                continue
            strings = [a.value.evaluated_value for a in decorator.args
                       if a.keyword is None and isinstance(a.value, cst.SimpleString)]
            explicit = [s for s in strings if isinstance(s, str) and not s.startswith("-")]
            dest = explicit[0] if explicit else _option_dest([s for s in strings if isinstance(s, str)])
            if not dest:
                continue
            default = next((a.value for a in decorator.args
                            if a.keyword is not None and a.keyword.value == "default"), None)
            is_flag = any(a.keyword is not None and a.keyword.value == "is_flag" for a in decorator.args)
            if default is not None:
                values[dest] = evaluator.value(default, function.parent or info.facts.scope, function.order)
            else:
                values[dest] = False if is_flag else None
        if values:
            found[id(function)] = values
    return found


# -- evaluation --------------------------------------------------------------------------------

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
    cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod,
    cst.Power: operator.pow, cst.LeftShift: operator.lshift, cst.RightShift: operator.rshift,
    cst.BitAnd: operator.and_, cst.BitOr: operator.or_, cst.BitXor: operator.xor,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
    cst.In: lambda a, b: a in b, cst.NotIn: lambda a, b: a not in b,
    cst.Is: operator.is_, cst.IsNot: operator.is_not,
}
_PURE_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len, "int": int, "float": float, "str": str, "bool": bool, "abs": abs, "round": round,
    "min": min, "max": max, "sum": sum, "tuple": tuple, "list": list, "sorted": sorted,
    "math.sqrt": math.sqrt, "math.ceil": math.ceil, "math.floor": math.floor, "math.log": math.log,
    "math.log2": math.log2, "math.prod": math.prod,
}


class Evaluator:
    """Evaluates expressions of one file from its text alone."""

    def __init__(self, info: SourceInfo) -> None:
        self.info = info
        self.argparse: dict[str, Any] = {}
        self.click: dict[int, dict[str, Any]] = {}
        self.notes: list[str] = []
        self._parse_functions: set[str] | None = None

    def setup(self) -> None:
        self.argparse = argparse_defaults(self.info, self)
        self.click = click_defaults(self.info, self)

    def namespace(self) -> ArgNamespace:
        return ArgNamespace(dict(self.argparse))

    def parse_args_functions(self) -> set[str]:
        """Local functions that return the parsed arguments (``def get_args()``)."""
        if self._parse_functions is None:
            self._parse_functions = {
                fn.name for fn in self.info.facts.functions
                if any(is_parse_args(r.value) for r in fn.returns)
                or any(r.value is not None and isinstance(r.value, cst.Name) and any(
                    is_parse_args(a.value) for a in fn.assigns
                    if any(isinstance(t, cst.Name) and t.value == r.value.value for t in a.targets))
                    for r in fn.returns)
            }
        return self._parse_functions

    def is_namespace_call(self, node: cst.BaseExpression | None) -> bool:
        if is_parse_args(node):
            return True
        return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
            and node.func.value in self.parse_args_functions()

    # -- names ---------------------------------------------------------------------------

    def _consistent(self, fact: F.Located, depth: int) -> bool:
        branch = fact.branch
        while branch is not None:
            if branch.test is not None and branch.arm in ("body", "orelse"):
                value = self.value(branch.test, branch.scope or self.info.facts.scope,
                                   branch.order, depth + 1)
                if value is not UNKNOWN and not isinstance(value, ArgNamespace):
                    try:
                        truth = bool(value)
                    except Exception:  # noqa: BLE001
                        truth = None
                    if truth is not None and truth != (branch.arm == "body"):
                        return False
            branch = branch.parent
        return True

    def name(self, name: str, scope: F.Scope, order: int | None, depth: int) -> Any:
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        if name == "__name__":
            return "__main__"
        found = lookup(scope, name, order)
        if found is None:
            return UNKNOWN
        where, _ = found
        bindings = where.bindings.get(name, [])
        limit = order if where is scope and order is not None else None
        candidates = [b for b in bindings if limit is None or b.order < limit] or bindings[:1]
        for binding in reversed(candidates):
            fact = binding.fact
            if isinstance(fact, F.Assign) and not self._consistent(fact, depth):
                continue
            return self.binding(binding, depth)
        return UNKNOWN

    def binding(self, binding: F.Binding, depth: int) -> Any:
        fact = binding.fact
        if isinstance(fact, F.Assign):
            if fact.kind not in ("assign", "annassign", "walrus") or fact.value is None:
                return UNKNOWN
            if self.is_namespace_call(fact.value):
                return self.namespace() if not binding.path or binding.path == (0,) else UNKNOWN
            value = self.value(fact.value, fact.scope, fact.order, depth + 1)
            for index in binding.path:
                if isinstance(value, (tuple, list)) and index < len(value):
                    value = value[index]
                else:
                    return UNKNOWN
            return value
        if isinstance(fact, F.Param):
            function = fact.function
            if function is not None and id(function) in self.click and fact.name in self.click[id(function)]:
                value = self.click[id(function)][fact.name]
                if value is not UNKNOWN:
                    self.notes.append(f"{fact.name} -> {value!r} (click default)")
                return value
            if fact.default is not None and function is not None:
                return self.value(fact.default, function.parent or self.info.facts.scope,
                                  function.order, depth + 1)
            if fact.name in _NAMESPACE_PARAMS and self.argparse:
                return self.namespace()
            return UNKNOWN
        if isinstance(fact, F.Class):
            return ClassRef(fact.node, fact)  # type: ignore[arg-type]
        return UNKNOWN

    # -- expressions ---------------------------------------------------------------------------

    def value(self, node: cst.CSTNode | None, scope: F.Scope, order: int | None, depth: int = 0) -> Any:
        if node is None or depth > _MAX_DEPTH:
            return UNKNOWN
        try:
            return self._value(node, scope, order, depth)
        except Exception:  # noqa: BLE001 - 1/0, bad indexes...: simply not recoverable
            return UNKNOWN

    def _value(self, node: cst.CSTNode, scope: F.Scope, order: int | None, depth: int) -> Any:
        if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
            value = node.evaluated_value
            return UNKNOWN if value is None and isinstance(node, cst.ConcatenatedString) else value
        if isinstance(node, cst.Name):
            return self.name(node.value, scope, order, depth)
        if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
            items = []
            for element in node.elements:
                if isinstance(element, cst.StarredElement):
                    return UNKNOWN
                item = self.value(element.value, scope, order, depth + 1)
                if item is UNKNOWN:
                    return UNKNOWN
                items.append(item)
            return tuple(items) if isinstance(node, cst.Tuple) else \
                (items if isinstance(node, cst.List) else set(items))
        if isinstance(node, cst.Dict):
            result = {}
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    return UNKNOWN
                key = self.value(element.key, scope, order, depth + 1)
                value = self.value(element.value, scope, order, depth + 1)
                if key is UNKNOWN:
                    return UNKNOWN
                result[key] = value
            return result
        if isinstance(node, cst.Attribute):
            return self.attribute(node, scope, order, depth)
        if isinstance(node, cst.Subscript):
            container = self.value(node.value, scope, order, depth + 1)
            if container is UNKNOWN or len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
                return UNKNOWN
            key = self.value(node.slice[0].slice.value, scope, order, depth + 1)
            if key is UNKNOWN:
                return UNKNOWN
            if isinstance(container, dict):
                return container.get(key, UNKNOWN)
            if isinstance(container, (list, tuple, str)) and isinstance(key, int):
                return container[key]
            return UNKNOWN
        if isinstance(node, cst.BinaryOperation):
            left = self.value(node.left, scope, order, depth + 1)
            right = self.value(node.right, scope, order, depth + 1)
            function = _BINARY.get(type(node.operator))
            if left is UNKNOWN or right is UNKNOWN or function is None:
                return UNKNOWN
            return function(left, right)
        if isinstance(node, cst.UnaryOperation):
            operand = self.value(node.expression, scope, order, depth + 1)
            if operand is UNKNOWN:
                return UNKNOWN
            if isinstance(node.operator, cst.Minus):
                return -operand
            if isinstance(node.operator, cst.Plus):
                return +operand
            if isinstance(node.operator, cst.Not):
                return not operand
            return ~operand
        if isinstance(node, cst.BooleanOperation):
            left = self.value(node.left, scope, order, depth + 1)
            if left is UNKNOWN:
                return UNKNOWN
            if isinstance(node.operator, cst.And):
                return self.value(node.right, scope, order, depth + 1) if left else left
            return left if left else self.value(node.right, scope, order, depth + 1)
        if isinstance(node, cst.Comparison):
            left = self.value(node.left, scope, order, depth + 1)
            for target in node.comparisons:
                right = self.value(target.comparator, scope, order, depth + 1)
                function = _COMPARE.get(type(target.operator))
                if left is UNKNOWN or right is UNKNOWN or function is None:
                    return UNKNOWN
                if not function(left, right):
                    return False
                left = right
            return True
        if isinstance(node, cst.IfExp):
            test = self.value(node.test, scope, order, depth + 1)
            if test is UNKNOWN:
                return UNKNOWN
            return self.value(node.body if test else node.orelse, scope, order, depth + 1)
        if isinstance(node, cst.Call):
            return self.call(node, scope, order, depth)
        return UNKNOWN

    def attribute(self, node: cst.Attribute, scope: F.Scope, order: int | None, depth: int) -> Any:
        base = self.value(node.value, scope, order, depth + 1)
        attr = node.attr.value
        if isinstance(base, ArgNamespace):
            value = base.values.get(attr, UNKNOWN)
            if value is not UNKNOWN:
                self.notes.append(f"{self.info.code(node)} -> {value!r} ({base.origin})")
            return value
        if isinstance(base, ClassRef):
            for assign in base.scope.assigns:
                if any(isinstance(t, cst.Name) and t.value == attr for t in assign.targets):
                    return self.value(assign.value, base.scope, assign.order, depth + 1)
            return UNKNOWN
        if base is UNKNOWN and isinstance(node.value, cst.Name) and node.value.value in _NAMESPACE_PARAMS \
                and attr in self.argparse and self.argparse[attr] is not UNKNOWN:
            value = self.argparse[attr]
            self.notes.append(f"{self.info.code(node)} -> {value!r} (argparse default)")
            return value
        return UNKNOWN

    def call(self, node: cst.Call, scope: F.Scope, order: int | None, depth: int) -> Any:
        if self.is_namespace_call(node):
            return self.namespace()
        qualified = self.info.names.qualified(node.func, scope, order) or dotted_name(node.func) or ""
        positional = [a for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if qualified in ("os.environ.get", "os.getenv"):
            default = positional[1].value if len(positional) > 1 else keywords.get("default")
            value = self.value(default, scope, order, depth + 1) if default is not None else None
            if value is not UNKNOWN:
                self.notes.append(f"{self.info.code(node)} -> {value!r} (its default; the "
                                  "environment is not read)")
            return value
        if qualified in ("types.SimpleNamespace", "argparse.Namespace", "dict"):
            values = {}
            for key, arg in keywords.items():
                values[key] = self.value(arg, scope, order, depth + 1)
            if any(a.star == "**" for a in node.args):
                for arg in node.args:
                    if arg.star == "**":
                        extra = self.value(arg.value, scope, order, depth + 1)
                        if not isinstance(extra, dict):
                            return UNKNOWN
                        values.update(extra)
            return values if qualified == "dict" else ArgNamespace(values, "namespace")
        if qualified == "vars" and len(positional) == 1:
            base = self.value(positional[0].value, scope, order, depth + 1)
            return dict(base.values) if isinstance(base, ArgNamespace) else UNKNOWN
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" and positional:
            container = self.value(node.func.value, scope, order, depth + 1)
            if isinstance(container, dict):
                key = self.value(positional[0].value, scope, order, depth + 1)
                default = self.value(positional[1].value, scope, order, depth + 1) \
                    if len(positional) > 1 else None
                return container.get(key, default) if key is not UNKNOWN else UNKNOWN
        function = _PURE_BUILTINS.get(qualified)
        if function is None or keywords or any(a.star for a in node.args):
            return UNKNOWN
        values = [self.value(a.value, scope, order, depth + 1) for a in positional]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        return function(*values)


# -- turning an argument into spec form ----------------------------------------------------------


def is_literal(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple, set)):
        return all(is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    return False


def _free_names(node: cst.CSTNode) -> list[str]:
    found: list[str] = []

    def visit(current: cst.CSTNode) -> None:
        if isinstance(current, cst.Name):
            found.append(current.value)
            return
        if isinstance(current, cst.Attribute):
            visit(current.value)
            return
        if isinstance(current, cst.Arg):
            visit(current.value)
            return
        if isinstance(current, (cst.Lambda, cst.ListComp, cst.GeneratorExp, cst.DictComp, cst.SetComp)):
            found.append("<comprehension>")
            return
        for child in current.children:
            visit(child)

    visit(node)
    return found


def argument_spec(info: SourceInfo, evaluator: Evaluator, node: cst.BaseExpression, scope: F.Scope,
                  order: int) -> tuple[dict[str, Any], list[str]]:
    """``{"literal": ...}``, ``{"expr": ...}`` or ``{"unknown": ...}`` and the notes."""
    evaluator.notes = []
    value = evaluator.value(node, scope, order)
    notes = list(evaluator.notes)
    if value is not UNKNOWN and is_literal(value):
        return {"literal": repr(value)}, notes
    if _partly_known_config(value):
        # `op = {"vocab_sz": data.getVocabSize(), "emb_dim": args.emb_dim, "lr": 1e-3}`: the known
        # entries as they are, the others guessed in the sandbox by their keys
        return {"dict": {k: {"literal": repr(v)} if v is not UNKNOWN else {"unknown": k}
                         for k, v in value.items()}}, notes
    code = info.code(node)
    kept = info.stripped.kept_names if info.stripped else set()
    names = _free_names(node)
    module_scope = info.facts.scope
    expressible = bool(names) and all(
        n in ("True", "False", "None") or (
            n in kept and (found := lookup(scope, n, order)) is not None and found[0] is module_scope)
        for n in names)
    if expressible:
        return {"expr": code}, []
    return {"unknown": _root_text(info, node, scope, order)}, notes


def _partly_known_config(value: Any) -> bool:
    """A dict of string keys whose values are literals or unknown, some unknown."""
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) for k in value) \
        and any(v is UNKNOWN for v in value.values()) \
        and all(v is UNKNOWN or is_literal(v) for v in value.values())


def _root_text(info: SourceInfo, node: cst.BaseExpression, scope: F.Scope, order: int) -> str:
    """The expression an unknown name stands for: for ``vocab_size`` assigned
    ``len(vocab_to_int)``, that call (names assigned names are followed)."""
    for _ in range(5):
        if not isinstance(node, cst.Name):
            break
        found = lookup(scope, node.value, order)
        if found is None:
            break
        fact = found[1].fact
        if not isinstance(fact, F.Assign) or fact.kind != "assign" or fact.value is None \
                or found[1].path:
            break
        node, scope, order = fact.value, fact.scope, fact.order
    text = " ".join(info.code(node).split())
    return text if len(text) <= 80 else text[:77] + "..."


# -- model classes and their constructions ------------------------------------------------------


def _module_base(qualified: str | None) -> bool:
    if not qualified:
        return False
    return qualified == "torch.nn.Module" or qualified.startswith("torch.nn.") \
        or qualified.endswith("LightningModule") or qualified.endswith("nn.Module")


@dataclass
class ModelClass:
    info: SourceInfo
    fact: F.Class

    @property
    def name(self) -> str:
        return self.fact.name

    def init_params(self) -> list[str]:
        init = self.fact.methods.get("__init__")
        if init is None:
            return []
        return [p.name for p in init.params[1:]
                if not p.node.star]  # type: ignore[union-attr]


@dataclass
class Construction:
    model: ModelClass
    site: SourceInfo  # the file of the call
    call: F.Call
    line: int
    end_line: int
    var: str | None
    function: str | None  # the enclosing function's name, None at module level
    spec: dict[str, Any] = field(default_factory=dict)


def model_classes(infos: list[SourceInfo], resolve_import: Callable[[SourceInfo, F.Import],
                  tuple[SourceInfo, str | None] | None]) -> dict[tuple[str, str], ModelClass]:
    """Every top-level class of the project that is an nn.Module, by (module name, class name)."""
    candidates: dict[tuple[str, str], tuple[SourceInfo, F.Class]] = {}
    for info in infos:
        for cls in info.facts.classes:
            if cls.parent is info.facts.scope:
                candidates[(info.name, cls.name)] = (info, cls)
    found: dict[tuple[str, str], ModelClass] = {}
    changed = True
    while changed:
        changed = False
        for key, (info, cls) in candidates.items():
            if key in found:
                continue
            for base in cls.bases:
                qualified = info.names.qualified(base, info.facts.scope)
                local = local_class_of(info, base, info.facts.scope, None, resolve_import)
                if _module_base(qualified) or (local is not None and local in found):
                    found[key] = ModelClass(info, cls)
                    changed = True
                    break
    return found


def local_class_of(info: SourceInfo, func: cst.BaseExpression, scope: F.Scope, order: int | None,
                   resolve_import: Callable[[SourceInfo, F.Import], tuple[SourceInfo, str | None] | None]
                   ) -> tuple[str, str] | None:
    """(module name, class name) of the local class an expression names."""
    dotted = dotted_name(func)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    found = lookup(scope, head, order)
    if found is None:
        return None
    fact = found[1].fact
    if isinstance(fact, (F.Class, F.Function)) and not rest and fact.parent is info.facts.scope:
        return (info.name, fact.name)  # a class, or a top-level function (maybe a model factory)
    if isinstance(fact, F.Import):
        target = resolve_import(info, fact)
        if target is None:
            return None
        module, name = target
        if name is not None and not rest:
            return _defining_module(module, name, resolve_import)
        if name is None and rest and "." not in rest:
            return _defining_module(module, rest, resolve_import)
    return None


@dataclass
class Factory:
    """A top-level function of the project that returns a model it builds
    (``def resnet50(**kw): model = ResNet(Bottleneck, [3, 4, 6, 3], **kw); return model``),
    or a library's model it adapts (``net = models.resnet50(pretrained=True);
    net.fc = nn.Linear(2048, classes); return net``)."""

    info: SourceInfo
    function: F.Function
    model: ModelClass  # the class of the model it returns; for a library's model, the function
    library: str | None = None  # the library builder it returns a model of (torchvision.models.resnet50)

    def params(self) -> list[str]:
        return [p.name for p in self.function.params if not p.node.star]  # type: ignore[union-attr]


_FACTORY_DEPTH = 4  # factories calling factories (`vgg16_bn` -> `_vgg` -> `VGG(...)`)


def model_factories(infos: list[SourceInfo], classes: dict[tuple[str, str], ModelClass],
                    resolve_import: Callable[[SourceInfo, F.Import], tuple[SourceInfo, str | None] | None]
                    ) -> dict[tuple[str, str], Factory]:
    """The top-level functions of the project that return an instance of one of its
    model classes, by (module name, function name): what the script's
    ``net = resnet50(classes=21)`` builds. A function returns a model when a
    ``return`` gives a construction call of a model class or of another factory,
    directly or through a local name assigned from one."""
    functions = [(info, function) for info in infos for function in info.facts.scope.functions]
    found: dict[tuple[str, str], Factory] = {}
    for _ in range(_FACTORY_DEPTH):
        grew = False
        for info, function in functions:
            key = (info.name, function.name)
            if key in found:
                continue
            model = _returned_model(info, function, classes, found, resolve_import)
            if isinstance(model, str):  # a library's model: the function stands for its class
                found[key] = Factory(info, function, ModelClass(info, function), library=model)  # type: ignore[arg-type]
                grew = True
            elif model is not None:
                found[key] = Factory(info, function, model)
                grew = True
        if not grew:
            break
    return found


def _returned_model(info: SourceInfo, function: F.Function, classes: dict[tuple[str, str], ModelClass],
                    factories: dict[tuple[str, str], Factory],
                    resolve_import: Callable[[SourceInfo, F.Import], tuple[SourceInfo, str | None] | None]
                    ) -> ModelClass | str | None:
    """The model class `function` returns an instance of, or the qualified name of the
    library builder whose model it returns."""
    for ret in function.returns:
        value = ret.value
        candidates: list[cst.BaseExpression] = []
        if isinstance(value, cst.Call):
            candidates.append(value)
        elif isinstance(value, cst.Name):
            candidates += [a.value for a in function.assigns if isinstance(a.value, cst.Call)
                           and any(isinstance(t, cst.Name) and t.value == value.value for t in a.targets)]
        for call in candidates:
            target = local_class_of(info, call.func, function, None, resolve_import)
            if target in classes:
                return classes[target]
            if target in factories:
                factory = factories[target]
                return factory.library or factory.model
            library = info.names.qualified(call.func, function)
            if library and library.startswith(symbols().model_factories):
                return library
    return None


def _defining_module(module: SourceInfo, name: str,
                     resolve_import: Callable[[SourceInfo, F.Import], tuple[SourceInfo, str | None] | None]
                     ) -> tuple[str, str]:
    """(module name, class name) where class `name`, reached through `module`, is
    defined: a package's ``__init__.py`` often only re-exports it (``from .heads
    import *``, ``from .heads import DropoutHead``)."""
    return _definition(module, name, resolve_import, 0) or (module.name, name)


def _definition(module: SourceInfo, name: str,
                resolve_import: Callable[[SourceInfo, F.Import], tuple[SourceInfo, str | None] | None],
                depth: int) -> tuple[str, str] | None:
    if any(c.name == name for c in module.facts.classes) \
            or any(f.name == name for f in module.facts.scope.functions):
        return (module.name, name)
    if depth >= 4:  # re-exports of re-exports: far enough
        return None
    for fact in module.facts.imports:
        if fact.name != "*" and fact.local != name:
            continue
        target = resolve_import(module, fact)
        if target is None or (fact.name == "*" and target[1] is not None):
            continue
        inner, inner_name = target
        found = _definition(inner, inner_name or name, resolve_import, depth + 1)
        if found is not None:
            return found
    return None


def _last_statement(node: cst.CSTNode) -> cst.CSTNode | None:
    """The statement a compound statement's text ends with (its `finally`, `else`,
    last handler or body), None for a simple statement."""
    for part in ("finalbody", "orelse"):
        block = getattr(node, part, None)
        if block is not None:
            return block if isinstance(block, cst.If) else _last_statement_of_block(block)
    handlers = getattr(node, "handlers", None)
    if handlers:
        return handlers[-1]
    cases = getattr(node, "cases", None)
    if cases:
        return cases[-1]
    body = getattr(node, "body", None)
    return _last_statement_of_block(body) if body is not None else None


def _last_statement_of_block(block) -> cst.CSTNode | None:
    statements = getattr(block, "body", None)
    if isinstance(statements, (list, tuple)) and statements:
        return statements[-1]
    return None
