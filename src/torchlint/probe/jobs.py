"""One probe job per script: its stripped code, its model constructions, its experiments.

Built in the linter's process (libcst, no torch) and written as JSON for the
sandbox. A job holds:

- ``modules``: the stripped script and every local module it imports
  (followed across files and packages), with their sandbox module names;
- ``namespaces``: names the script binds to ``parser.parse_args()``, given the
  recovered argparse defaults instead;
- ``models``: a construction spec per model class (the script's own
  construction call where there is one, else the class's signature alone);
- ``experiments``: per finding, the experiment's source and the model spec
  the finding is about (from its ``context``: ``construct_line``,
  ``model_var``, ``class``, or the model class the finding sits in; else the
  script's model when it builds exactly one, else none: the experiment says so);
- ``hints``/``factories`` from ``[tool.torchlint.probe.classes]`` and the
  time and memory budgets of ``[tool.torchlint.probe]``.
"""

from __future__ import annotations

import importlib.util
import inspect
import keyword
import sys
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import libcst as cst

from torchlint.config import Config
from torchlint.engine import FileResult
from torchlint.findings import Finding
from torchlint.rule import Rule
from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup
from torchlint.semantic.project import Project
from torchlint.semantic.walker import collect

from . import recover
from .strip import is_main_guard, strip

MAX_LOCAL_MODULES = 64
_MAIN_FUNCTIONS = ("main", "train", "run", "cli", "fit", "training", "run_training")
_MODEL_VARS = ("model", "net", "network", "classifier", "rnn", "lstm", "cnn", "encoder")


class JobError(Exception):
    """The job cannot be made (e.g. a hint names a missing file); the message says why."""


@lru_cache(maxsize=None)
def experiment_of(rule: type[Rule]) -> tuple[str, str] | None:
    """(source, function name) of a rule's ``experiment`` staticmethod, or None."""
    raw = inspect.getattr_static(rule, "experiment", None)
    function = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
    if not inspect.isfunction(function):
        return None
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return None
    lines = source.splitlines(keepends=True)
    while lines and lines[0].lstrip().startswith("@"):
        lines.pop(0)
    return "".join(lines), function.__name__


_REAL_MODULES = ("torch", "torchvision", "numpy", "torchlint")
_MAX_PACKAGE_DEPTH = 8


def _usable(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def module_name_for(path: Path | None) -> str:
    """The sandbox module name of a probed script: its stem when that cannot
    clash with a real module."""
    if path is None:
        return "__torchlint_script__"
    stem = path.stem
    if not _usable(stem) or stem in sys.stdlib_module_names or stem in _REAL_MODULES:
        return "__torchlint_script__"
    return stem


def package_module_name(path: Path | None, namespace: bool = False) -> str | None:
    """For a module of a package (its folder, and maybe theirs, hold an
    ``__init__.py``): its dotted name from the outermost package
    (``models/heads.py`` -> ``models.heads``), so that its relative imports
    resolve; None outside a package or when the name could shadow a real module."""
    if path is None or path.name == "__init__.py":
        return None
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and len(parts) <= _MAX_PACKAGE_DEPTH:
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1 and namespace:  # `src/train.py` importing `.model`, no __init__.py:
        parts.insert(0, folder.name)  # its folder is a namespace package, as `python -m src.train` has it
    if len(parts) == 1 or not all(_usable(part) for part in parts) \
            or parts[0] in sys.stdlib_module_names or parts[0] in _REAL_MODULES:
        return None
    return ".".join(parts)


# -- the project: the script and the local modules it reaches -----------------------------------


def _parse(path: Path | None, name: str, text: str, package: bool = False) -> recover.SourceInfo | None:
    try:
        module = cst.parse_module(text)
    except Exception:  # noqa: BLE001 - an unparsable local module is left to fail at import
        return None
    return recover.SourceInfo(path=path, name=name, text=text, module=module, facts=collect(module),
                              package=package)


@dataclass
class ProbeProject:
    script: recover.SourceInfo
    infos: list[recover.SourceInfo] = field(default_factory=list)
    by_path: dict[Path, recover.SourceInfo] = field(default_factory=dict)
    synthetic_packages: list[str] = field(default_factory=list)
    project: Project = field(default_factory=Project)

    def __post_init__(self) -> None:
        self.infos.append(self.script)
        if self.script.path is not None:
            self.by_path[self.script.path.resolve()] = self.script

    def follow(self) -> None:
        queue = [self.script]
        while queue and len(self.infos) < MAX_LOCAL_MODULES:
            info = queue.pop(0)
            for fact in info.facts.imports:
                for name, path in self._targets(info, fact):
                    added = self._add(name, path)
                    if added is not None:
                        queue.append(added)

    def _folder(self, info: recover.SourceInfo) -> Path:
        return info.path.parent if info.path is not None else Path.cwd()

    def _absolute(self, info: recover.SourceInfo, module: str, level: int) -> str | None:
        if level == 0:
            return module
        package = info.name if info.package else info.name.rpartition(".")[0]
        parts = package.split(".") if package else []
        if level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (level - 1)] if level > 1 else parts
        if not base and not module:
            return None
        return ".".join([*base, *([module] if module else [])]) or None

    def _targets(self, info: recover.SourceInfo, fact: F.Import) -> list[tuple[str, Path]]:
        found: list[tuple[str, Path]] = []
        root = fact.module.split(".")[0] if fact.module else ""
        if fact.level == 0 and (root in sys.stdlib_module_names or not root):
            return found
        folder = self._folder(info)
        path = self.project.resolve(folder, fact.module, fact.level)
        absolute = self._absolute(info, fact.module, fact.level)
        if path is not None and absolute:
            found.append((absolute, path))
        if fact.name and fact.name != "*":
            sub = f"{fact.module}.{fact.name}" if fact.module else fact.name
            sub_path = self.project.resolve(folder, sub, fact.level)
            sub_absolute = self._absolute(info, sub, fact.level)
            if sub_path is not None and sub_absolute:
                found.append((sub_absolute, sub_path))
        return found

    def _add(self, name: str, path: Path) -> recover.SourceInfo | None:
        resolved = path.resolve()
        if resolved in self.by_path or any(i.name == name for i in self.infos):
            return None
        parts = name.split(".")
        self.add_parents(name, resolved)
        try:
            text = resolved.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        info = _parse(resolved, name, text, package=resolved.name == "__init__.py")
        if info is None:
            return None
        self.infos.append(info)
        self.by_path[resolved] = info
        return info

    def add_parents(self, name: str, resolved: Path) -> None:
        """The packages above module `name` (at `resolved`): ``import a.b`` and
        ``from . import x`` need them; their ``__init__.py`` where there is one."""
        parts = name.split(".")
        is_init = resolved.name == "__init__.py"
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if any(i.name == parent for i in self.infos) or parent in self.synthetic_packages:
                continue
            folder = resolved.parents[len(parts) - depth - 1 + (1 if is_init else 0)]
            init = folder / "__init__.py"
            if not (init.is_file() and self._add(parent, init) is not None):
                self.synthetic_packages.append(parent)

    def resolve_import(self, info: recover.SourceInfo, fact: F.Import
                       ) -> tuple[recover.SourceInfo, str | None] | None:
        """For ``from m import n`` in `info`: (m's info, n); for a module import or
        ``from pkg import submodule``: (that module's info, None)."""
        folder = self._folder(info)
        if fact.name is not None and fact.name != "*":
            path = self.project.resolve(folder, fact.module, fact.level)
            if path is not None and path.resolve() in self.by_path:
                target = self.by_path[path.resolve()]
                sub = f"{fact.module}.{fact.name}" if fact.module else fact.name
                sub_path = self.project.resolve(folder, sub, fact.level)
                if sub_path is not None and sub_path.resolve() in self.by_path and not any(
                        c.name == fact.name for c in target.facts.classes):
                    return self.by_path[sub_path.resolve()], None
                return target, fact.name
            sub = f"{fact.module}.{fact.name}" if fact.module else fact.name
            path = self.project.resolve(folder, sub, fact.level)
            if path is not None and path.resolve() in self.by_path:
                return self.by_path[path.resolve()], None
            return None
        path = self.project.resolve(folder, fact.module, fact.level)
        if path is not None and path.resolve() in self.by_path:
            return self.by_path[path.resolve()], None
        return None


# -- constructions ---------------------------------------------------------------------------------


def _calls_inside(node: cst.CSTNode) -> set[int]:
    found: set[int] = set()

    def visit(current: cst.CSTNode) -> None:
        if isinstance(current, cst.Call):
            found.add(id(current))
        for child in current.children:
            visit(child)

    visit(node)
    return found


def _assigned_vars(info: recover.SourceInfo) -> dict[int, str]:
    """id(call node) -> the variable its (possibly wrapped) result is assigned to."""
    found: dict[int, str] = {}
    for assign in info.facts.assigns:
        names = [t.value for t in assign.targets if isinstance(t, cst.Name)]
        if not names or assign.value is None:
            continue
        for call_id in _calls_inside(assign.value):
            found.setdefault(call_id, names[0])
    return found


def _in_main_guard(info: recover.SourceInfo, call: F.Call) -> bool:
    branch = call.branch
    while branch is not None:
        if branch.test is not None and isinstance(branch.node, cst.IndentedBlock):
            for statement in info.module.body:
                if is_main_guard(statement) and statement.body is branch.node:  # type: ignore[attr-defined]
                    return True
        branch = branch.parent
    return False


def constructions(project: ProbeProject, classes: dict[tuple[str, str], recover.ModelClass],
                  evaluator: recover.Evaluator, display: str) -> list[recover.Construction]:
    """The calls of the project's script to its model classes, as specs."""
    info = project.script
    assigned = _assigned_vars(info)
    factories = recover.model_factories(project.infos, classes, project.resolve_import)
    found: list[recover.Construction] = []
    unknown: list[_UnknownArgument] = []
    for call in info.facts.calls:
        target = recover.local_class_of(info, call.func, call.scope, call.order, project.resolve_import)
        factory = factories.get(target) if target is not None else None
        if target is None or (target not in classes and factory is None):
            continue
        model = classes[target] if factory is None else factory.model
        params = model.init_params() if factory is None else factory.params()
        args: list[dict[str, Any]] = []
        kwargs: dict[str, dict[str, Any]] = {}
        notes: dict[str, str] = {}
        position = 0
        for arg in call.args:
            if arg.star == "**":
                expanded = evaluator.value(arg.value, call.scope, call.order)
                if isinstance(expanded, recover.ArgNamespace):
                    expanded = expanded.values
                if isinstance(expanded, dict):
                    for key, value in expanded.items():
                        if isinstance(key, str) and (not params or key in params) and recover.is_literal(value):
                            kwargs[key] = {"literal": repr(value)}
                continue
            if arg.star == "*":
                continue
            spec, arg_notes = recover.argument_spec(info, evaluator, arg.value, call.scope, call.order)
            if arg.keyword is not None:
                key = arg.keyword.value
                kwargs[key] = spec
            else:
                key = params[position] if position < len(params) else f"arg{position}"
                args.append(spec)
                position += 1
            if "unknown" in spec:
                unknown.append(_UnknownArgument(spec, key, notes, arg.value, call))
            if arg_notes and "literal" in spec:
                notes[key] = _note(spec["literal"], list(dict.fromkeys(arg_notes)))
        span_start = info.line(call.node)
        text = info.code(call.node)
        function = call.scope.function
        spec = {"class": model.name, "module": model.info.name, "callee": model.name,
                "args_module": info.name, "args": args, "kwargs": kwargs, "notes": notes,
                "text": " ".join(text.split())[:200], "line": span_start, "kind": "call",
                "origin": f"{display}:{span_start}"}
        if factory is not None:  # `net = resnet50(classes=21)`: the function builds the model
            made = model.name if factory.library is None else \
                f"{factory.library.rsplit('.', 1)[-1]} of {factory.library.split('.')[0]}"
            spec.update({"module": factory.info.name, "callee": factory.function.name, "kind": "factory",
                         "class_module": model.info.name, "class_callee": model.name,
                         "origin": f"{display}:{span_start} (a {made} made by {factory.function.name}())"})
        found.append(recover.Construction(
            model=model, site=info, call=call, line=span_start, end_line=span_start + text.count("\n"),
            var=assigned.get(id(call.node)), function=function.name if function else None, spec=spec))
    _nest(info, found, unknown)
    return found


@dataclass
class _UnknownArgument:
    spec: dict[str, Any]  # the argument's spec, replaced in place when it is a model
    key: str  # the parameter it binds
    notes: dict[str, str]  # its construction's notes
    node: cst.BaseExpression
    call: F.Call


_MOVES = ("to", "cuda", "cpu", "float", "double", "train")


def _unwrapped(node: cst.BaseExpression) -> cst.BaseExpression:
    """``Encoder(...).to(device)`` -> ``Encoder(...)``."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _MOVES:
        node = node.func.value
    return node


def _nest(info: recover.SourceInfo, found: list[recover.Construction], unknown: list[_UnknownArgument]) -> None:
    """Arguments that are models the script builds (``Seq2Seq(encoder, decoder)`` after
    ``encoder = Encoder(...)``): their spec becomes that construction's, built in the
    sandbox first, rather than a guessed number."""
    by_node = {id(c.call.node): c for c in found}
    for item in unknown:
        node = _unwrapped(item.node)
        if isinstance(node, cst.Name):
            reaching = lookup(item.call.scope, node.value, item.call.order)
            fact = reaching[1].fact if reaching is not None else None
            if not isinstance(fact, F.Assign) or fact.kind != "assign" or fact.value is None or reaching[1].path:
                continue
            node = _unwrapped(fact.value)
        inner = by_node.get(id(node))
        if inner is None or inner.call is item.call:
            continue
        item.spec.clear()
        item.spec["model"] = inner.spec
        item.notes[item.key] = f"{inner.spec['text']} (line {inner.line}, built as the script builds it)"


def _note(literal: str, notes: list[str]) -> str:
    """``args.dropout -> 0.5 (argparse default)``, or for a value reached through
    other values: ``7, via args.classify -> 'emotion' (argparse default)``."""
    if len(notes) == 1 and f"-> {literal} (" in notes[0]:
        return notes[0]
    return f"{literal}, via " + "; ".join(notes)


def _signature_spec(model: recover.ModelClass) -> dict[str, Any]:
    return {"class": model.name, "module": model.info.name, "callee": model.name,
            "args_module": model.info.name, "args": [], "kwargs": {}, "notes": {},
            "text": f"{model.name}()", "line": None, "kind": "signature"}


def _instantiated_inside(classes: dict[tuple[str, str], recover.ModelClass]) -> set[str]:
    """Names of model classes some other model class builds in its body."""
    names = {c.name for c in classes.values()}
    inner: set[str] = set()
    for model in classes.values():
        for call in model.info.facts.calls:
            if model.fact.contains(call) and call.dotted and call.dotted.split(".")[-1] in names:
                inner.add(call.dotted.split(".")[-1])
    return inner


def _main_rank(construction: recover.Construction) -> tuple[int, int, int, int]:
    var = (construction.var or "").lower()
    named = 0 if any(word in var for word in _MODEL_VARS) else 1
    where = 0 if construction.function in _MAIN_FUNCTIONS or construction.function is None \
        or _in_main_guard(construction.site, construction.call) else 1
    own = 0 if "sibling" not in construction.spec else 1
    return (own, where, named, construction.line)


@dataclass
class _Borrowed:
    """Constructions of the script's classes found in other files of the run."""

    constructions: list[recover.Construction] = field(default_factory=list)
    infos: list[recover.SourceInfo] = field(default_factory=list)  # their stripped modules
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # module -> {name: defaults}


def _borrow(project: ProbeProject, siblings: list[tuple[Path, str, str]], wanted: set[str],
            taken: set[str]) -> _Borrowed:
    """For a model file probed on its own: the construction calls that the other
    scripts of the run (which import it) make of its classes, so the model is
    built the way the training script builds it."""
    borrowed = _Borrowed()
    script = project.script
    if script.path is None or not wanted:
        return borrowed
    for path, display, text in siblings:
        if path == script.path or not any(class_name in text for class_name in wanted):
            continue  # cheap: a file that never names the classes cannot build them
        name = module_name_for(path)
        if name in taken or name == script.name:
            name = f"__torchlint_sibling_{len(borrowed.namespaces)}__"
        info = _parse(path, name, text)
        if info is None:
            continue
        sub = ProbeProject(info, project=project.project)
        sub.follow()
        ours = sub.by_path.get(script.path)
        if ours is None or ours.name != script.name:
            continue
        evaluator = recover.Evaluator(info)
        evaluator.setup()
        names = _namespace_names(info, evaluator)
        for other in sub.infos:
            other.stripped = strip(other.module, set(names) if other is info else set())
        classes = recover.model_classes(sub.infos, sub.resolve_import)
        found = [c for c in constructions(sub, classes, evaluator, display)
                 if c.model.info is ours and c.model.name in wanted]
        if not found:
            continue
        for construction in found:
            construction.spec["module"] = script.name
            construction.spec["sibling"] = True
        borrowed.constructions.extend(found)
        borrowed.infos.extend(i for i in sub.infos if i.path not in project.by_path
                              and i.name not in taken)
        taken.update(i.name for i in sub.infos)
        borrowed.namespaces[name] = {n: {k: v for k, v in evaluator.argparse.items()
                                         if recover.is_literal(v)} for n in names}
        wanted -= {c.model.name for c in found}
        if not wanted:
            break
    return borrowed


@dataclass(frozen=True)
class _ModelParameter:
    """A function of the script that receives the finding's model as a parameter."""

    function: str
    position: int  # among the parameters (self excluded for plain functions)
    name: str


def _model_parameter(info: recover.SourceInfo, context: dict[str, Any], line: int
                     ) -> _ModelParameter | None:
    """``val(net, loader)`` with the finding on ``net``: the top-level function whose
    parameter holds the model the finding names, or None."""
    named = context.get("model_var") or context.get("model")
    if not isinstance(named, str) or "." in named:
        return None
    for function in info.facts.scope.functions:  # top level: methods get their model from self
        if not info.line(function.node) <= line <= info.last_line(function.node):
            continue
        param = function.param(named)
        if param is not None and param.node.star not in ("*", "**"):
            return _ModelParameter(function.name, param.index, param.name)
    return None


def _argument_for(call: F.Call, wanted: _ModelParameter) -> cst.BaseExpression | None:
    position = 0
    for arg in call.args:
        if arg.star:
            return None  # `f(*args)`: positions are not known
        if arg.keyword is not None:
            if arg.keyword.value == wanted.name:
                return arg.value
            continue
        if position == wanted.position:
            return arg.value
        position += 1
    return None


def _borrow_from_callers(project: ProbeProject, siblings: list[tuple[Path, str, str]],
                         wanted: dict[str, _ModelParameter], taken: set[str],
                         classes_wanted: frozenset[str] = frozenset(),
                         sites: frozenset[tuple[Path, int]] = frozenset()
                         ) -> tuple[_Borrowed, dict[str, recover.Construction]]:
    """For a function that receives its model (``test(model, loader)``): the
    construction of the model that a caller in another file of the run passes to
    it, when the caller imports this script and builds the model in the same
    function from a class of the project (``model = Net(...)`` ... ``test(model, ...)``).
    The same for a model class of another file that a finding names
    (``class`` in its context) and this script never builds: its construction in
    a file of the run that imports this script (key ``class:Name``).
    A class may be built there through a factory function of the project
    (``vgg.vgg16_bn(num_classes=10)``), so any file importing this script is read
    for it; where the static side located the construction (`sites`: its file and
    line), that one is taken.
    Returns the borrowed modules and, per function name (or class key), the construction."""
    borrowed = _Borrowed()
    chosen: dict[str, recover.Construction] = {}
    script = project.script
    if script.path is None or not (wanted or classes_wanted):
        return borrowed, chosen
    for path, display, text in siblings:
        pending = {name: w for name, w in wanted.items() if name not in chosen and name in text}
        imports_script = script.path.stem in text  # (cheap: the import names the script's module)
        pending_classes = {c for c in classes_wanted if f"class:{c}" not in chosen
                           and (c in text or imports_script)}
        if path == script.path or not (pending or pending_classes):
            continue  # cheap: a file that never names the function or class cannot use it
        name = module_name_for(path)
        if name in taken or name == script.name:
            name = f"__torchlint_caller_{len(borrowed.namespaces)}__"
        info = _parse(path, name, text)
        if info is None:
            continue
        sub = ProbeProject(info, project=project.project)
        sub.follow()
        ours = sub.by_path.get(script.path)
        if ours is None:
            continue  # the file does not import this script: its calls are to something else
        evaluator = recover.Evaluator(info)
        evaluator.setup()
        names = _namespace_names(info, evaluator)
        for other in sub.infos:
            other.stripped = strip(other.module, set(names) if other is info else set())
        classes = recover.model_classes(sub.infos, sub.resolve_import)
        built = constructions(sub, classes, evaluator, display)
        found: dict[str, recover.Construction] = {}
        for call in info.facts.calls:
            function = (call.dotted or "").rsplit(".", 1)[-1]
            if function not in pending or function in found:
                continue
            argument = _argument_for(call, pending[function])
            if not isinstance(argument, cst.Name):
                continue
            caller = call.scope.function.name if call.scope.function else None
            line = info.line(call.node)
            before = [c for c in built if c.var == argument.value and c.function == caller and c.line <= line]
            if before:
                found[function] = before[-1]
        for class_name in pending_classes:
            of_class = [c for c in built if c.model.name == class_name]
            located = [c for c in of_class if any(path == site_path and c.line <= line <= c.end_line
                                                  for site_path, line in sites)]
            if located or of_class:
                found[f"class:{class_name}"] = (located or [min(of_class, key=_main_rank)])[0]
        if not found:
            continue
        for key, construction in found.items():
            construction.spec["sibling"] = True
            # the script is loaded under its own name (`basics`), the caller imports it under
            # another (`training.basics`): a class of the script is the loaded one
            if construction.model.info is ours:
                for field_name in ("module", "class_module"):
                    if construction.spec.get(field_name) == ours.name:
                        construction.spec[field_name] = script.name
            how = f"a {key[6:]} built there" if key.startswith("class:") else f"passed to {script.name}.{key}"
            if not (key.startswith("class:") and construction.spec.get("kind") == "factory"):
                construction.spec["origin"] = f"{construction.spec['origin']} ({how})"
        chosen.update(found)
        borrowed.constructions.extend(found.values())
        borrowed.infos.extend(i for i in sub.infos if i.path not in project.by_path and i.name not in taken)
        taken.update(i.name for i in sub.infos)
        borrowed.namespaces[name] = {n: {k: v for k, v in evaluator.argparse.items()
                                         if recover.is_literal(v)} for n in names}
        if len(chosen) == len(wanted):
            break
    return borrowed, chosen


# -- the job ------------------------------------------------------------------------------------


@dataclass
class ProbedFinding:
    index: int  # in its FileResult's findings
    finding: Finding
    source: str
    function: str


def probed_findings(result: FileResult, rules: dict[str, type[Rule]]) -> list[ProbedFinding]:
    found = []
    for index, finding in enumerate(result.findings):
        rule = rules.get(finding.code)
        experiment = experiment_of(rule) if rule is not None else None
        if experiment is not None:
            found.append(ProbedFinding(index, finding, experiment[0], experiment[1]))
    return found


def _choose(context: dict[str, Any], constructions: list[recover.Construction],
            specs: list[dict[str, Any]], main: int | None, line: int,
            enclosing_class: str | None = None) -> int | None:
    """The model (index into `specs`) a finding's experiment builds: the construction
    the finding names, its model variable, its class, or the model class the finding
    sits in. None when none of these identifies one: the experiment then says so
    rather than confirm a finding on some other model of the script."""
    def index_of(construction: recover.Construction) -> int:
        return specs.index(construction.spec)

    construct_line = context.get("construct_line")
    if isinstance(construct_line, int):
        at_line = [c for c in constructions if c.line <= construct_line <= c.end_line]
        # `encoder, head = Encoder(), Head()`: several on the line, the finding's class decides
        named = [c for c in at_line if c.model.name == context.get("class")]
        if named or at_line:
            return index_of((named or at_line)[0])
    model_var = context.get("model_var") or context.get("model")
    if isinstance(model_var, str) and model_var.startswith("self.") and enclosing_class is not None:
        model_var = None  # `self.encoder(x)` in a model's own method: a part of the enclosing class
    if isinstance(model_var, str):
        matching = [c for c in constructions if c.var == model_var]
        before = [c for c in matching if c.line <= line]
        if before or matching:
            return index_of((before or matching)[-1])
    class_name = context.get("class")
    if isinstance(class_name, str):
        for construction in constructions:
            if construction.model.name == class_name:
                return index_of(construction)
        for index, spec in enumerate(specs):
            if spec["class"] == class_name:
                return index
        return None  # the class the finding is about cannot be built: never another model
    if isinstance(model_var, str) or context.get("construct"):
        return None
    enclosing = enclosing_class
    if enclosing is not None:  # a finding inside a model class is about that class
        for index, spec in enumerate(specs):
            if spec["class"] == enclosing:
                return index
        return None
    # The finding names no model and sits in no model class: the script's main model
    # only when the script builds exactly one (anything else would be a guess).
    built = {construction.model.name for construction in constructions}
    return main if len(built) == 1 or len({spec["class"] for spec in specs}) == 1 else None


def _class_at(info: recover.SourceInfo, line: int) -> str | None:
    """The innermost class of the script whose body holds `line`."""
    found = None
    for cls in info.facts.classes:
        if info.line(cls.node) <= line <= info.last_line(cls.node):
            found = cls.name
    return found


def _display(path: Path | None) -> str:
    """A path as the user would write it: relative below the working folder."""
    if path is None:
        return "-"
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def build_job(index: int, result: FileResult, probed: list[ProbedFinding], config: Config,
              siblings: list[tuple[Path, str, str]] = ()) -> dict[str, Any]:
    """The job of one script. `siblings`: (path, display, text) of the other
    files of the run, where constructions of this file's classes may be."""
    source = result.source
    assert source is not None
    path = source.path.resolve() if source.path is not None else None
    script = _parse(path, module_name_for(path), source.text)
    if script is None:
        raise JobError(f"{result.display} does not parse")
    if any(fact.level > 0 for fact in script.facts.imports):
        # `from .base import Head`: loaded as a module of its package, as Python would
        script.name = package_module_name(path, namespace=True) or script.name
    name = script.name
    project = ProbeProject(script)
    if script.path is not None:
        project.add_parents(script.name, script.path)
    project.follow()
    evaluator = recover.Evaluator(script)
    evaluator.setup()
    namespaces = _namespace_names(script, evaluator)
    for info in project.infos:
        info.stripped = strip(info.module, set(namespaces) if info is script else set())
    for info, opaque in _opaque_imports(project):  # second pass, knowing what the others keep
        info.stripped = strip(info.module, set(namespaces) if info is script else set(), opaque)
    classes = recover.model_classes(project.infos, project.resolve_import)
    found = constructions(project, classes, evaluator, result.display)
    unbuilt = {m.name for m in classes.values() if m.info is script} - {c.model.name for c in found}
    borrowed = _borrow(project, list(siblings), unbuilt, {i.name for i in project.infos})
    found += borrowed.constructions
    # Findings in a function that receives its model: the model a caller passes to it.
    parameters = {item.index: _model_parameter(script, item.finding.context, item.finding.line)
                  for item in probed if not _names_a_model(item.finding.context)}
    wanted = {p.function: p for p in parameters.values() if p is not None}
    known = {c.model.name for c in found} | {m.name for m in classes.values()}
    foreign = frozenset(item.finding.context["class"] for item in probed
                        if isinstance(item.finding.context.get("class"), str)
                        and item.finding.context["class"] not in known)
    sites = _construction_sites(probed)
    callers, passed = _borrow_from_callers(project, _with_sites(list(siblings), sites, script.path), wanted,
                                           {i.name for i in [*project.infos, *borrowed.infos]}, foreign,
                                           frozenset(sites))
    borrowed.infos.extend(callers.infos)
    borrowed.namespaces.update(callers.namespaces)
    specs: list[dict[str, Any]] = [c.spec for c in found]
    constructed = {c.model.name for c in found}
    for model in classes.values():
        if model.name not in constructed:
            specs.append(_signature_spec(model))
    main: int | None = None
    if found:
        best = min(found, key=_main_rank)
        main = specs.index(best.spec)
    else:
        inner = _instantiated_inside(classes)
        roots = [m for m in classes.values() if m.name not in inner]
        own = [m for m in roots if m.info is script] or roots
        if own:
            chosen = own[-1]
            main = next(i for i, s in enumerate(specs) if s["class"] == chosen.name
                        and s["module"] == chosen.info.name)
    # Models of other files (passed in by a caller, or a class the finding names): only for
    # the findings that name them, never the script's main model.
    own_specs = len(specs)
    specs += [c.spec for c in callers.constructions]
    modules = [{"name": info.name, "path": str(info.path) if info.path else "<stdin>",
                "source": info.stripped.text if info.stripped else "", "package": info.package}
               for info in [*project.infos, *borrowed.infos]]
    modules += [{"name": package, "path": f"<package {package}>", "source": "", "package": True}
                for package in project.synthetic_packages
                if not any(info.name == package for info in project.infos)]
    optional = sorted({n for info in [*project.infos, *borrowed.infos] if info.stripped
                       for n in info.stripped.optional_imports})
    blanked = {info.name: _blanked_globals(info, evaluator if info is script else None)
               for info in project.infos}
    blanked = {name: values for name, values in blanked.items() if values}
    hints, hint_sources, factories = _hints(config, project, modules)
    experiments = []
    for ident, item in enumerate(probed):
        finding = item.finding
        experiments.append({
            "id": ident, "code": finding.code, "message": finding.message, "line": finding.line,
            "column": finding.column, "context": finding.context,
            "model": _model_index(item, finding, found, specs, own_specs, main, script, parameters,
                                  passed),
            "source": item.source, "function": item.function,
        })
        if experiments[-1]["model"] is None:
            missing = _model_from_missing_module(project, finding)
            if missing is not None:
                experiments[-1]["unbuilt"] = missing
    assumptions: dict[str, Any] = {}
    parsed = sorted({*namespaces, *(n for values in borrowed.namespaces.values() for n in values)})
    if parsed:
        assumptions["namespaces"] = {n: "argparse defaults (the script's arguments are not parsed)"
                                     for n in parsed}
    return {
        "index": index, "display": result.display, "script_module": name, "modules": modules,
        "namespaces": {n: {k: v for k, v in evaluator.argparse.items() if recover.is_literal(v)}
                       for n in namespaces},
        "module_namespaces": borrowed.namespaces,
        "globals": blanked,
        "optional_imports": optional, "models": specs, "experiments": experiments,
        "hints": hints, "hint_sources": hint_sources, "factories": factories,
        "settings": {"timeout": config.probe.timeout, "script_timeout": config.probe.script_timeout,
                     "memory_mb": config.probe.memory_mb},
        "assumptions": assumptions,
    }


def _construction_sites(probed: list[ProbedFinding]) -> list[tuple[Path, int]]:
    """Where the static side found the findings' models built in other files
    (``construct_path`` and ``construct_line`` in their context)."""
    found = []
    for item in probed:
        path, line = item.finding.context.get("construct_path"), item.finding.context.get("construct_line")
        if isinstance(path, str) and isinstance(line, int):
            found.append((Path(path).resolve(), line))
    return list(dict.fromkeys(found))


def _with_sites(siblings: list[tuple[Path, str, str]], sites: list[tuple[Path, int]],
                script: Path | None) -> list[tuple[Path, str, str]]:
    """The run's files, plus the files where models are built that the run does not
    include (the user linted one file; its model is built in another): those are read
    first, so their construction is the one taken."""
    known = {path for path, _, _ in siblings}
    extra = []
    for path, _ in sites:
        if path in known or path == script or not path.is_file():
            continue
        try:
            extra.append((path, _display(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
        known.add(path)
    located = {path for path, _ in sites}
    return extra + sorted(siblings, key=lambda s: s[0] not in located)


def _opaque_imports(project: ProbeProject) -> list[tuple[recover.SourceInfo, set[str]]]:
    """Per module of the project, the names it imports from another module of the
    project whose stripped copy does not define them (``from main import
    train_loader``: main's top level, which makes it, is blanked)."""
    found = []
    for info in project.infos:
        opaque = set()
        for fact in info.facts.imports:
            if fact.name is None or fact.name == "*":
                continue
            target = project.resolve_import(info, fact)
            if target is None or target[1] is None or target[0] is info or target[0].stripped is None:
                continue
            module, name = target
            if name not in module.stripped.kept_names:
                opaque.add(fact.local)
        if opaque:
            found.append((info, opaque))
    return found


def _model_from_missing_module(project: ProbeProject, finding: Finding) -> str | None:
    """Why the finding's model cannot be built when the script builds it from a class
    it imports from a module that is neither among the files nor installed
    (``model = PSPNet(...)`` after ``from model.pspnet import PSPNet``, linted
    without ``model/pspnet.py``): that says what to do, where "no construction is
    known" does not."""
    named = finding.context.get("model_var") or finding.context.get("model")
    info = project.script
    if not isinstance(named, str) or "." in named:
        return None
    for assign in info.facts.assigns:
        if assign.kind != "assign" or not isinstance(assign.value, cst.Call) or info.line(assign.node) > finding.line \
                or not any(isinstance(t, cst.Name) and t.value == named for t in assign.targets):
            continue
        call = _unwrapped(assign.value)
        head = (recover.dotted_name(call.func) or "").split(".")[0] if isinstance(call, cst.Call) else ""
        found = lookup(assign.scope, head, assign.order) if head else None
        fact = found[1].fact if found is not None else None
        if not isinstance(fact, F.Import) or project.resolve_import(info, fact) is not None:
            continue
        module = fact.module or ""
        root = module.split(".")[0]
        if not root or fact.level == 0 and importlib.util.find_spec(root) is not None:
            continue  # an installed package: its own error, in the sandbox, says more
        return (f"`{named}` is built by {recover.dotted_name(call.func)}(...) (line {info.line(assign.node)}), from "
                f"{'.' * fact.level}{module}, which is neither among the files probed nor installed: "
                f"probe the whole project (or the file that defines it)")
    return None


def _blanked_globals(info: recover.SourceInfo, evaluator: recover.Evaluator | None
                     ) -> dict[str, dict[str, Any]]:
    """Module-level names (the main block included) that the stripped copy does not
    compute but that the module's classes and functions read as globals
    (``n_hidden = 128``, ``n_class = len(word_dict)`` read by ``nn.RNN(input_size=n_class,
    ...)``), with the spec of the value assigned first: a literal as it is, a size
    (``len(...)``) guessed in the sandbox from the name; anything else is left out
    (building it would run the script's top level)."""
    if info.stripped is None:
        return {}
    read = _names_read_in_bodies(info.module) - {
        name for scope in [*info.facts.functions, *info.facts.classes] for name in scope.bindings}
    kept = info.stripped.kept_names
    if evaluator is None:
        evaluator = recover.Evaluator(info)
        evaluator.setup()
    found: dict[str, dict[str, Any]] = {}
    for assign in info.facts.assigns:
        if assign.scope is not info.facts.scope or assign.kind != "assign" or assign.value is None \
                or len(assign.targets) != 1 or not isinstance(assign.targets[0], cst.Name):
            continue
        name = assign.targets[0].value
        if name in kept or name in found or name not in read:
            continue
        spec, _ = recover.argument_spec(info, evaluator, assign.value, assign.scope, assign.order)
        if "literal" in spec:
            found[name] = spec
        elif isinstance(assign.value, cst.Call) and recover.dotted_name(assign.value.func) == "len":
            found[name] = {"unknown": info.code(assign.value)}  # a size: guessed in the sandbox
    return found


def _names_read_in_bodies(module: cst.Module) -> set[str]:
    """The names the module's functions and classes read (not attribute names,
    keyword names or parameters; the caller removes the names they bind)."""
    names: set[str] = set()

    class Reads(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            names.add(node.value)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            node.value.visit(self)  # `self.vocab_size`: only `self` is read
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)  # `Embedding(num_embeddings=n)`: not the keyword
            return False

        def visit_Param(self, node: cst.Param) -> bool:
            for part in (node.default, node.annotation):
                if part is not None:
                    part.visit(self)
            return False

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            for decorator in node.decorators:
                decorator.visit(self)
            node.params.visit(self)
            node.body.visit(self)
            return False

    for statement in module.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            statement.visit(Reads())
    return names


def _names_a_model(context: dict[str, Any]) -> bool:
    return any(context.get(key) for key in ("construct_line", "class", "construct"))


def _model_index(item: ProbedFinding, finding: Finding, found: list[recover.Construction],
                 specs: list[dict[str, Any]], own_specs: int, main: int | None,
                 script: recover.SourceInfo, parameters: dict[int, _ModelParameter | None],
                 passed: dict[str, recover.Construction]) -> int | None:
    """The model of one finding: as :func:`_choose` picks among the script's own models;
    else the model a caller passes to the function the finding sits in, or the
    construction elsewhere in the run of the class the finding names."""
    chosen = _choose(finding.context, found, specs[:own_specs], main, finding.line,
                     _class_at(script, finding.line))
    foreign = passed.get(f"class:{finding.context.get('class')}")
    if chosen is None and foreign is not None and foreign.spec in specs:
        return specs.index(foreign.spec)
    parameter = parameters.get(item.index)
    if chosen is not None or parameter is None or parameter.function not in passed:
        return chosen
    construction = passed[parameter.function]
    if _class_at(script, finding.line) is None and construction.spec in specs:
        return specs.index(construction.spec)
    return chosen


def _namespace_names(info: recover.SourceInfo, evaluator: recover.Evaluator) -> list[str]:
    """Module-level names (the main block included) bound to the parsed arguments."""
    names: list[str] = []
    for assign in info.facts.assigns:
        if assign.scope is not info.facts.scope or not evaluator.is_namespace_call(assign.value):
            continue
        for target in assign.targets:
            if isinstance(target, cst.Name):
                names.append(target.value)
            elif isinstance(target, (cst.Tuple, cst.List)) and target.elements \
                    and isinstance(target.elements[0].value, cst.Name):
                names.append(target.elements[0].value.value)
    return sorted(set(names))


def _hints(config: Config, project: ProbeProject, modules: list[dict[str, Any]]
           ) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    hints: dict[str, Any] = {}
    sources: dict[str, str] = {}
    factories: dict[str, Any] = {}
    where = _display(config.path) if config.path else "pyproject.toml"
    for class_name, hint in config.probe.classes.items():
        hints[class_name] = {k: v for k, v in hint.items() if k in ("init", "inputs")}
        sources[class_name] = f"{where} [tool.torchlint.probe.classes.{class_name}]"
        factory = hint.get("factory")
        if not factory:
            continue
        file_text, _, function = factory.rpartition(":")
        file_path = (config.root / file_text).resolve()
        if not file_path.is_file():
            raise JobError(f"{sources[class_name]}: factory file {file_text} does not exist")
        info = project.by_path.get(file_path)
        if info is None:
            name = f"__torchlint_factory_{len(factories)}__"
            info = _parse(file_path, name, file_path.read_text(encoding="utf-8"))
            if info is None:
                raise JobError(f"{sources[class_name]}: factory file {file_text} does not parse")
            sub = ProbeProject(info, project=project.project)
            sub.follow()
            known = {m["name"] for m in modules}
            for extra in sub.infos:
                extra.stripped = strip(extra.module)
                if extra.name not in known:
                    modules.append({"name": extra.name, "path": str(extra.path),
                                    "source": extra.stripped.text, "package": extra.package})
                    known.add(extra.name)
        factories[class_name] = {"module": info.name, "function": function, "text": factory}
    return hints, sources, factories
