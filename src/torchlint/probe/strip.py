"""The stripped copy of a script: its definitions without its top level's work.

A training script's top level trains, downloads, reads files and parses
arguments; the probe must not run any of that. The copy keeps what defines
the model -- imports, classes, functions, constant assignments (and ``if``/
``try`` blocks made only of those) -- and blanks every other top-level
statement, including ``if __name__ == "__main__":``, line for line, so the
copy has the same line numbers as the file and tracebacks point at the
user's own lines.

An assignment is kept when its value is *safe*: literals, names already
defined by kept statements, arithmetic, and calls to a small list of pure
functions (``torch.device``, ``torch.cuda.is_available``, ``nn.ReLU()``,
``os.environ.get`` ...). ``args = parser.parse_args()`` is blanked and
``args`` is given the argparse defaults recovered statically instead (see
:mod:`torchlint.probe.recover`).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import libcst as cst

from torchlint.semantic.walker import dotted_name

_BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}
_SAFE_BUILTIN_CALLS = frozenset({
    "int", "float", "str", "bool", "len", "range", "tuple", "list", "dict", "set", "frozenset",
    "min", "max", "abs", "round", "sum", "sorted", "enumerate", "zip", "isinstance", "hasattr",
    "getattr", "type", "object", "repr", "reversed", "any", "all", "slice", "complex", "pow",
    "divmod", "bytes", "chr", "ord",
})
_SAFE_QUALIFIED = frozenset({
    "torch.device", "torch.cuda.is_available", "torch.cuda.device_count",
    "torch.backends.mps.is_available", "torch.backends.cudnn.is_available",
    "torch.get_default_dtype", "torch.tensor", "torch.zeros", "torch.ones", "torch.arange",
    "torch.linspace", "torch.eye", "torch.full", "torch.empty", "torch.randn", "torch.rand",
    "torch.as_tensor", "torch.Tensor", "torch.FloatTensor", "torch.LongTensor", "torch.finfo",
    "torch.iinfo", "torch.Size", "os.environ.get", "os.getenv", "pathlib.Path", "pathlib.PurePath",
    "collections.namedtuple", "collections.OrderedDict", "logging.getLogger", "dataclasses.field",
    "functools.partial", "re.compile", "argparse.Namespace", "types.SimpleNamespace",
    "typing.TypeVar", "typing.NewType", "typing.NamedTuple", "numpy.array", "numpy.asarray",
    "numpy.zeros", "numpy.ones", "numpy.arange", "numpy.linspace", "numpy.float32",
    "numpy.float64", "numpy.int64", "numpy.int32", "numpy.sqrt", "numpy.log", "numpy.exp",
    "numpy.eye", "numpy.full", "math.sqrt", "math.log", "math.exp", "math.ceil", "math.floor",
    "math.pow", "math.log2", "math.prod", "math.gcd",
})
_SAFE_PREFIXES = ("os.path.", "enum.", "typing.")
_SAFE_METHODS = frozenset({
    "format", "join", "lower", "upper", "replace", "split", "strip", "get", "keys", "values",
    "items", "copy", "startswith", "endswith", "to", "float", "long", "int", "double", "view",
    "reshape", "unsqueeze", "squeeze", "t", "parent", "resolve",
})
_PARSE_ARGS = ("parse_args", "parse_known_args")
_OPTIONAL_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass
class Stripped:
    text: str  # same number of lines as the source
    kept_names: set[str] = field(default_factory=set)  # bound at module level by kept statements
    optional_imports: set[str] = field(default_factory=set)  # under try/except ImportError
    blanked: int = 0  # top-level statements not kept


def is_main_guard(node: cst.CSTNode) -> bool:
    """``if __name__ == "__main__":`` (either order of the comparison)."""
    if not isinstance(node, cst.If) or not isinstance(node.test, cst.Comparison):
        return False
    test = node.test
    if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = (test.left, test.comparisons[0].comparator)
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    strings = [s for s in sides if isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__"]
    return bool(names and strings)


def is_parse_args(node: cst.BaseExpression | None) -> bool:
    """``parser.parse_args()``, ``p.parse_known_args()[0]``."""
    if isinstance(node, cst.Subscript):
        node = node.value
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
        and node.func.attr.value in _PARSE_ARGS


class _Stripper:
    def __init__(self, module: cst.Module, injected: set[str]) -> None:
        self.module = module
        self.aliases: dict[str, str] = {}  # local name -> qualified, from kept imports
        self.defined: set[str] = set(injected)
        self.config_classes: set[str] = set()
        self.optional: set[str] = set()
        # Containers and objects filled by a blanked statement (`args["model"] = Net()`,
        # `cfg.width = read()`): reading their items or attributes would fail at load.
        self.incomplete: set[str] = set()
        self.opaque: set[str] = set()  # imported, but made by another module's blanked code
        self.rewritten: dict[int, cst.CSTNode] = {}  # kept statements written in a reduced form

    # -- names ---------------------------------------------------------------------

    def qualified(self, node: cst.BaseExpression) -> str | None:
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head)
        if base is None:
            return dotted if head in _BUILTIN_NAMES else None
        return f"{base}.{rest}" if rest else base

    def note_import(self, node: cst.Import | cst.ImportFrom, optional: bool) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                    self.aliases[local] = full
                else:
                    local = full.split(".")[0]
                    self.aliases[local] = local
                self.defined.add(local)
                if optional:
                    self.optional.add(full.split(".")[0])
            return
        module = dotted_name(node.module) if node.module is not None else ""
        if optional and not node.relative and module:
            self.optional.add(module.split(".")[0])
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted_name(alias.name) or ""
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            prefix = "." * len(node.relative)
            self.aliases[local] = f"{prefix}{module}.{name}" if module else f"{prefix}{name}"
            if local not in self.opaque:
                self.defined.add(local)

    # -- expressions ----------------------------------------------------------------

    def safe_call(self, node: cst.Call) -> bool:
        func = node.func
        qualified = self.qualified(func)
        if qualified is not None:
            if qualified in _SAFE_BUILTIN_CALLS or qualified in _SAFE_QUALIFIED:
                return True
            if qualified.startswith(_SAFE_PREFIXES):
                return True
            last = qualified.rsplit(".", 1)[-1]
            if qualified.startswith("torch.nn.") and last[:1].isupper():
                return True  # constructing a layer or a loss
        if isinstance(func, cst.Name) and func.value in self.config_classes:
            return True
        if isinstance(func, cst.Attribute) and func.attr.value in _SAFE_METHODS:
            return self.safe(func.value)
        return False

    def safe(self, node: cst.CSTNode | None) -> bool:
        """Whether evaluating `node` at import time is harmless and defined."""
        if node is None:
            return True
        if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis)):
            return True
        if isinstance(node, cst.Name):
            return node.value in self.defined or node.value in _BUILTIN_NAMES
        if isinstance(node, (cst.Attribute, cst.Subscript)) and _base_name(node) in self.incomplete:
            return False
        if isinstance(node, cst.Attribute):
            return self.safe(node.value)
        if isinstance(node, cst.Call):
            return self.safe_call(node) and all(self.safe(arg.value) for arg in node.args)
        if isinstance(node, cst.Lambda):
            return True
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp, cst.Await,
                             cst.Yield, cst.NamedExpr)):
            return False
        if isinstance(node, cst.FormattedString):
            return all(self.safe(part.expression) for part in node.parts
                       if isinstance(part, cst.FormattedStringExpression))
        children = [c for c in node.children if isinstance(c, cst.BaseExpression)
                    or isinstance(c, (cst.Element, cst.DictElement, cst.StarredDictElement,
                                      cst.ComparisonTarget, cst.SubscriptElement, cst.Index,
                                      cst.Slice, cst.Arg, cst.ConcatenatedString))]
        return all(self.safe(c) for c in children)

    # -- statements -------------------------------------------------------------------

    def keep_small(self, statement: cst.BaseSmallStatement, optional: bool) -> bool:
        if isinstance(statement, (cst.Import, cst.ImportFrom)):
            self.note_import(statement, optional)
            return True
        if isinstance(statement, cst.Pass):
            return True
        if isinstance(statement, cst.Expr):
            return isinstance(statement.value, (cst.SimpleString, cst.ConcatenatedString))
        if isinstance(statement, cst.Assign):
            targets = [t.target for t in statement.targets]
            if is_parse_args(statement.value) or not all(_plain_targets(t) for t in targets) \
                    or not self.safe(statement.value):
                self.incomplete.update(_base_name(t) for t in targets
                                       if isinstance(t, (cst.Subscript, cst.Attribute)))
                return False
            for target in targets:
                self.defined.update(_target_names(target))
            return True
        if isinstance(statement, cst.AnnAssign):
            if not isinstance(statement.target, cst.Name):
                return False
            if statement.value is not None and (is_parse_args(statement.value)
                                                or not self.safe(statement.value)):
                return False
            self.defined.add(statement.target.value)
            return True
        return False

    def keep(self, statement: cst.CSTNode, optional: bool = False) -> bool:
        if isinstance(statement, cst.SimpleStatementLine):
            snapshot = set(self.defined)
            if all(self.keep_small(s, optional) for s in statement.body):
                return True
            self.defined = snapshot
            return False
        if isinstance(statement, cst.FunctionDef):
            self.defined.add(statement.name.value)
            return True
        if isinstance(statement, cst.ClassDef):
            self.defined.add(statement.name.value)
            if _is_config_class(statement):
                self.config_classes.add(statement.name.value)
            return True
        if isinstance(statement, cst.If):
            if is_main_guard(statement) or not self.safe(statement.test):
                return False
            return self.keep_block(statement.body, optional) and self.keep_orelse(statement.orelse, optional)
        if isinstance(statement, cst.Try):
            handled = set()
            for handler in statement.handlers:
                handled |= _handled_names(handler)
            # `try: import torch ... except ImportError as e: print(e); raise`: the imports are
            # required (the handler only reports and re-raises), not optional
            reraises = bool(statement.handlers) and all(_reraises(h) for h in statement.handlers)
            is_optional = bool(handled & _OPTIONAL_IMPORT_ERRORS) and not reraises
            if not self.keep_block(statement.body, optional or is_optional):
                return False
            if not all(self.keep_block(h.body, optional) for h in statement.handlers):
                if not reraises or statement.orelse is not None or statement.finalbody is not None:
                    return False
                # kept with each handler reduced to its `raise` (the report is not run)
                self.rewritten[id(statement)] = statement.with_changes(handlers=[
                    h.with_changes(body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Raise()])]))
                    for h in statement.handlers])
                return True
            if statement.orelse is not None and not self.keep_block(statement.orelse.body, optional):
                return False
            return statement.finalbody is None or self.keep_block(statement.finalbody.body, optional)
        return False

    def keep_orelse(self, orelse: cst.If | cst.Else | None, optional: bool) -> bool:
        if orelse is None:
            return True
        if isinstance(orelse, cst.If):
            return self.safe(orelse.test) and self.keep_block(orelse.body, optional) \
                and self.keep_orelse(orelse.orelse, optional)
        return self.keep_block(orelse.body, optional)

    def keep_block(self, block: cst.BaseSuite, optional: bool) -> bool:
        body = block.body
        return all(self.keep(s, optional) if not isinstance(s, cst.BaseSmallStatement)
                   else self.keep_small(s, optional) for s in body)


def _base_name(node: cst.BaseExpression) -> str | None:
    """`args` of `args["model"]`, `cfg.a.b`, `x[0][1]`."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _plain_targets(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Name):
        return True
    if isinstance(target, (cst.Tuple, cst.List)):
        return all(_plain_targets(e.value) for e in target.elements)
    return False


def _target_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for e in target.elements for n in _target_names(e.value)}
    return set()


def _reraises(handler: cst.ExceptHandler) -> bool:
    """The handler ends by raising (`raise`, `raise ImportError(...)`): it only reports."""
    body = handler.body.body if isinstance(handler.body, cst.IndentedBlock) else ()
    last = body[-1] if body else None
    return isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Raise)


def _handled_names(handler: cst.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"BaseException"}
    kinds = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
    names = set()
    for kind in kinds:
        value = kind.value if isinstance(kind, cst.Element) else kind
        dotted = dotted_name(value)
        if dotted:
            names.add(dotted.rsplit(".", 1)[-1])
    return names


def _is_config_class(node: cst.ClassDef) -> bool:
    """A class that only holds values (attributes, a dataclass): safe to instantiate."""
    decorators = {dotted_name(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                  for d in node.decorators}
    if decorators & {"dataclass", "dataclasses.dataclass"}:
        return True
    if node.bases or node.decorators:
        return False
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Assign, cst.AnnAssign, cst.Pass, cst.Expr)) for s in statement.body):
            continue
        return False
    return True


def strip(module: cst.Module, injected: set[str] | frozenset[str] = frozenset(),
          opaque: set[str] | frozenset[str] = frozenset()) -> Stripped:
    """The stripped copy of `module`; `injected` names will be set before it runs;
    `opaque` names are imported from a module whose stripped copy does not define
    them (``from main import train_loader``, made by main's blanked top level):
    the statements that use them are blanked too."""
    stripper = _Stripper(module, set(injected))
    stripper.opaque = set(opaque)
    parts: list[str] = [_render_lines(module.header)]
    blanked = 0
    for statement in module.body:
        code = module.code_for_node(statement)
        if stripper.keep(statement):
            reduced = stripper.rewritten.get(id(statement))
            if reduced is not None:  # fewer lines: padded, so that later line numbers hold
                short = module.code_for_node(reduced)
                code = short + "\n" * max(code.count("\n") - short.count("\n"), 0)
            parts.append(code)
        else:
            blanked += 1
            parts.append("\n" * code.count("\n"))
    parts.append(_render_lines(module.footer))
    return Stripped(text="".join(parts), kept_names=stripper.defined - set(injected),
                    optional_imports=stripper.optional, blanked=blanked)


def _render_lines(lines: tuple[cst.EmptyLine, ...] | list[cst.EmptyLine]) -> str:
    return "".join(cst.Module(body=[]).code_for_node(line) for line in lines)
