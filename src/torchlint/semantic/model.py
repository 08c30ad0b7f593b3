"""The semantic model of one file: the facade every rule reads.

It holds the file's facts and the project, and computes the shared analyses
(names, the nn.Module index, values, phases, data loaders) on first use, so
a rule never re-derives them and a file no rule asks about costs nothing.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import libcst as cst

from torchlint.locator import Locator
from torchlint.semantic import facts as F
from torchlint.semantic.data import DataFacts
from torchlint.semantic.losses import Losses
from torchlint.semantic.modules import ModuleClass, ModuleIndex
from torchlint.semantic.names import Names, Symbols, symbols
from torchlint.semantic.phases import Phases
from torchlint.semantic.project import Project
from torchlint.semantic.resolve import Definition, Resolver
from torchlint.semantic.values import Values
from torchlint.semantic.walker import dotted_name, iter_nodes


class SemanticModel:
    def __init__(self, facts: F.FileFacts, project: Project, path: Path | None,
                 text: str = "") -> None:
        self.facts = facts
        self.project = project
        self.path = path
        self.locator = Locator(text, facts)
        self._locators: dict[int, Locator] = {id(facts): self.locator}
        self._dependencies: set[Path] = set()
        self._names: dict[int, Names] = {}
        self._sites: dict[int, list[F.Call]] = {}
        self._reads: dict[int, dict[str, list[cst.Name]]] = {}
        self._instance_calls: set[int] = set()  # calls of a model instance (its forward)

    # -- the shared analyses --------------------------------------------------

    @property
    def symbols(self) -> Symbols:
        return symbols()

    @cached_property
    def names(self) -> Names:
        return self.names_for(self.facts)

    def names_for(self, facts: F.FileFacts) -> Names:
        names = self._names.get(id(facts))
        if names is None:
            names = self._names[id(facts)] = Names(
                facts, star_alias=lambda name: self.resolver.star_alias(facts, name))
        return names

    @cached_property
    def resolver(self) -> Resolver:
        return Resolver(self)

    @cached_property
    def modules(self) -> ModuleIndex:
        return ModuleIndex(self)

    @cached_property
    def values(self) -> Values:
        return Values(self)

    @cached_property
    def phases(self) -> Phases:
        return Phases(self)

    @cached_property
    def data(self) -> DataFacts:
        return DataFacts(self)

    @cached_property
    def losses(self) -> Losses:
        return Losses(self)

    def name_reads(self, scope: F.Scope) -> dict[str, list[cst.Name]]:
        """Every Name read in `scope`'s code (nested scopes included), by name."""
        key = id(scope)
        found = self._reads.get(key)
        if found is None:
            found = {}
            for node in iter_nodes(scope.node):
                if isinstance(node, cst.Name):
                    found.setdefault(node.value, []).append(node)
            self._reads[key] = found
        return found

    # -- convenience ------------------------------------------------------------

    def callee(self, call: F.Call) -> str | None:
        """The canonical qualified name of what `call` calls, when it is imported."""
        return self.names.callee(call)

    def function_kind(self, call: F.Call) -> str | None:
        """The symbol-table category of the called function (``softmax``, ``seed``...)."""
        return self.symbols.function_kind(self.callee(call))

    def code(self, node: cst.CSTNode) -> str:
        return " ".join(self.facts.module.code_for_node(node).split())

    def line_of(self, node: cst.CSTNode, facts: F.FileFacts | None = None) -> int:
        """The line of `node`, in this file or in the local module `facts` describes,
        for messages that point at another place."""
        facts = facts or self.facts
        locator = self._locators.get(id(facts))
        if locator is None:
            text = next((m.text for m in self.project.modules() if m.facts is facts), "")
            locator = self._locators[id(facts)] = Locator(text, facts)
        return locator.span(node).start_line

    def where(self, node: cst.CSTNode, facts: F.FileFacts | None = None) -> str:
        """``line 12`` here, ``model.py:12`` in another file."""
        line = self.line_of(node, facts)
        if facts is None or facts is self.facts:
            return f"line {line}"
        module = next((m for m in self.project.modules() if m.facts is facts), None)
        name = module.path.name if module is not None else "?"
        return f"{name}:{line}"

    @cached_property
    def imports_local_modules(self) -> bool:
        """Whether this file imports any module of the project (so values such as a
        loss built by a factory in losses.py can come from elsewhere)."""
        folder = self.path.parent if self.path else Path.cwd()
        return any(self.project.resolve(folder, fact.module if fact.module else (fact.name or ""),
                                        fact.level) is not None
                   for fact in self.facts.imports)

    def function_kind_in(self, call: F.Call, facts: F.FileFacts) -> str | None:
        """`function_kind` for a call of another project file."""
        return self.symbols.function_kind(self.names_for(facts).callee(call))

    def module_classes(self) -> list[ModuleClass]:
        """The nn.Module subclasses defined in this file."""
        found = []
        for cls in self.facts.classes:
            module = self.modules.of_class(cls, self.facts, self.path)
            if module is not None:
                found.append(module)
        return found

    def enclosing_module(self, scope: F.Scope) -> ModuleClass | None:
        function = scope.function
        while function is not None and function.class_ is None:
            parent = function.parent
            function = parent.function if parent is not None else None
        if function is None or function.class_ is None:
            return None
        return self.modules.of_class(function.class_, self.facts, self.path)

    def is_framework_managed(self, function: F.Function) -> bool:
        """Methods of Lightning modules: the framework sets modes and grad state."""
        if function.class_ is None:
            return False
        module = self.modules.of_class(function.class_, self.facts, self.path)
        return module is not None and module.is_framework_module

    # -- calls between functions -------------------------------------------------

    def local_function(self, call: F.Call) -> Definition | None:
        """The project function or method `call` invokes, if it is one."""
        func = call.func
        if isinstance(func, cst.Name):
            found = self.resolver.definition(func, call.scope, call.order, self.facts, self.path)
            if found is not None and isinstance(found.fact, F.Function):
                return found
            return None
        if isinstance(func, cst.Attribute):
            receiver = call.receiver
            function = call.scope.function
            if function is not None and function.class_ is not None and function.params \
                    and dotted_name(receiver) == function.params[0].name:
                method = _method(function.class_, func.attr.value, self)
                if method is not None:
                    return Definition(method, self.facts, self.path)
            found = self.resolver.definition(func, call.scope, call.order, self.facts, self.path)
            if found is not None and isinstance(found.fact, F.Function):
                return found
            for value in self.values.at(receiver, call):
                cls = None
                if value.kind == "module" and value.module is not None:
                    owner = value.module.method(func.attr.value)
                    if owner is not None:
                        return Definition(owner[0], owner[1].facts, owner[1].path)
                elif value.kind == "instance" and value.definition is not None:
                    cls = value.definition.fact
                    method = cls.methods.get(func.attr.value)
                    if method is not None:
                        return Definition(method, value.definition.facts, value.definition.path)
        return None

    def call_sites(self, function: F.Function) -> list[F.Call]:
        """Calls of `function` in this file (for ``forward``, calls of the model)."""
        key = id(function)
        if key in self._sites:
            return self._sites[key]
        self._sites[key] = []
        sites = []
        for call in self._calls_named.get(function.name, ()):
            found = self.local_function(call)
            if found is not None and found.fact is function:
                sites.append(call)
        if function.name == "__init__" and function.class_ is not None:
            # `Trainer(model, loader)` calls Trainer.__init__ with self bound.
            for call in self._calls_named.get(function.class_.name, ()):
                found = self.resolver.definition(call.func, call.scope, call.order, self.facts, self.path)
                if found is not None and found.fact is function.class_:
                    self._instance_calls.add(id(call))
                    sites.append(call)
        if function.name == "forward" and function.class_ is not None:
            module = self.modules.of_class(function.class_, self.facts, self.path)
            if module is not None:
                for call in self._calls_named.get("", ()):  # `model(x)`, `self.net(x)`
                    if any(value.kind == "module" and value.module is module
                           for value in self.values.at(call.func, call)):
                        self._instance_calls.add(id(call))
                        sites.append(call)
        self._sites[key] = sites
        return sites

    @cached_property
    def _calls_named(self) -> dict[str, list[F.Call]]:
        """Calls by the name they call (`helper(...)`, `self.helper(...)` -> "helper");
        under "" the calls that may call a model instance (a bare name or `self.x`)."""
        index: dict[str, list[F.Call]] = {}
        for call in self.facts.calls:
            func = call.func
            name = call.method if isinstance(func, cst.Attribute) else dotted_name(func)
            if name:
                index.setdefault(name, []).append(call)
            if isinstance(func, cst.Name) or isinstance(func, cst.Attribute) and \
                    isinstance(func.value, cst.Name) and func.value.value == "self":
                index.setdefault("", []).append(call)
        return index

    def arguments_for(self, param: F.Param, facts: F.FileFacts) -> list[tuple[F.Call, cst.BaseExpression]]:
        """(call site, argument expression) for each call passing `param`."""
        function = param.function
        if function is None or facts is not self.facts:
            return []
        found = []
        for site in self.call_sites(function):
            bound = function.class_ is not None and (
                site.receiver is not None or id(site) in self._instance_calls)
            argument = site.argument(param.index - (1 if bound else 0), param.name)
            if argument is not None:
                found.append((site, argument))
        return found

    # -- dependencies --------------------------------------------------------------

    def note_dependency(self, path: Path) -> None:
        self._dependencies.add(path)

    def dependencies(self) -> tuple[Path, ...]:
        return tuple(sorted(self._dependencies))


def _method(cls: F.Class, name: str, model: SemanticModel) -> F.Function | None:
    if name in cls.methods:
        return cls.methods[name]
    module = model.modules.of_class(cls, model.facts, model.path)
    if module is not None:
        found = module.method(name)
        if found is not None:
            return found[0]
    return None
