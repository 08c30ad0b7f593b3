"""The semantic model of one file: the facade every rule reads.

It holds the file's facts and the project, and computes the shared analyses
(names, the nn.Module index, values, phases, data loaders) on first use, so
a rule never re-derives them and a file no rule asks about costs nothing.
"""

from __future__ import annotations

import ast
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import libcst as cst

from torchlint.locator import Locator
from torchlint.semantic import facts as F
from torchlint.semantic.data import DataFacts
from torchlint.semantic.freezing import Freezing
from torchlint.semantic.losses import Losses
from torchlint.semantic.modules import ModuleClass, ModuleIndex
from torchlint.semantic.names import Names, Symbols, symbols
from torchlint.semantic.phases import Phases
from torchlint.semantic.project import LocalModule, Project
from torchlint.semantic.resolve import Definition, Resolver
from torchlint.semantic.values import Values
from torchlint.semantic.walker import dotted_name, iter_nodes


# Caller searches answered while still running are asked again later, so that
# answers do not depend on which rule asked first. Where calls and values form
# long cycles (a library's modules) that repeats exponentially: after this many
# repeated searches in one file, answers are kept as first found.
MAX_REPEATED_SEARCHES = 200
# Call sites of a function taken from other files. A training helper has a few;
# a library's utility (torch's _pair) has hundreds, each a value to infer.
MAX_SITES_ELSEWHERE = 4
# Steps from the linted file through the files that import it: its callers'
# files (1), the files calling those (2). A parameter bound by an argument that
# is itself a parameter of a caller's function is followed this far; in a
# library every module is imported by dozens, and each further step parses
# dozens more files, each with its own callers.
MAX_CALLER_HOPS = 2
# Importing files parsed to answer the caller searches of one linted file (its
# callers' files included): bounds its time and memory where every module is
# imported by many (torch's own _dynamo, _inductor). A function's search keeps
# MAX_SITES_ELSEWHERE call sites from them anyway.
MAX_IMPORTER_FILES = 16


# Frameworks whose code torch's rules do not apply to, and packages that mean
# torch even when the file does not import it by name.
_OTHER_FRAMEWORKS = frozenset({"mxnet", "tensorflow", "tf_keras", "keras", "jax", "flax", "haiku",
                               "equinox", "paddle", "mindspore", "chainer", "oneflow",
                               "megengine", "theano", "lasagne", "cntk", "dynet"})
_TORCH_FAMILY = frozenset({"pytorch_lightning", "lightning", "ignite", "timm", "fastai", "accelerate",
                           "deepspeed", "functorch"})


class SemanticModel:
    def __init__(self, facts: F.FileFacts, project: Project, path: Path | None,
                 text: str = "", python_tree: ast.Module | None = None) -> None:
        self.facts = facts
        self.project = project
        self.path = path
        self.locator = Locator(text, facts, python_tree)  # python_tree: Python's tree of `text`, if parsed
        self._locators: dict[int, Locator] = {id(facts): self.locator}
        self._dependencies: set[Path] = set()
        self._names: dict[int, Names] = {}
        # Calls between functions, across the files of the project.
        self._sites: dict[tuple[int, int], list[Site]] = {}
        self._callers: dict[int, list[Site]] = {}
        self._arguments: dict[int, list[Argument]] = {}  # by id of the parameter
        self._callers_pending: set[int] = set()
        self._sites_pending: set[tuple[int, int]] = set()
        # Answers given while a caller search was still running (the recursion guard's
        # empty list): analyses must not remember what they built on them.
        self.unfinished_answers = 0
        self._repeated_searches = 0
        self._calls_index: dict[int, dict[str, list[F.Call]]] = {}
        self._alias_index: dict[int, dict[str, set[str]]] = {}
        self._importer_memo: dict[tuple[str, str], list[LocalModule]] = {}
        # Importer steps from the linted file, by id of a file's facts (the linted
        # file 0, its callers' files 1...), and the importing files taken in so
        # far; shared by the family, so the bounds hold for the whole lint.
        self._caller_hops: dict[int, int] = {id(facts): 0}
        self._importer_files: set[Path] = set()
        # The file of a module scope (by id) and of a FileFacts (by id); each entry
        # holds the facts, so the ids stay valid.
        self._homes: dict[int, tuple[F.FileFacts, Path | None]] = {}
        self._paths: dict[int, tuple[F.FileFacts, Path | None]] = {}
        self._texts: dict[int, str] = {id(facts): text}  # for the locators of callers' files
        self._register(facts, path)
        # The models of the other project files this one asks about (callers'
        # files), shared by all of them and keyed by the id of their facts.
        self._family: dict[int, SemanticModel] = {id(facts): self}
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

    @cached_property
    def freezing(self) -> Freezing:
        return Freezing(self)

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
        """The line of `node`, in this file or in the local module `facts` describes
        (found from the node when not given: a caller's file), for messages that
        point at another place."""
        facts = facts or self.file_of_node(node)
        locator = self._locators.get(id(facts))
        if locator is None:
            text = self._texts.get(id(facts))
            if text is None:
                text = next((m.text for m in self.project.modules() if m.facts is facts), "")
            locator = self._locators[id(facts)] = Locator(text, facts)
        return locator.line(node)

    def where(self, node: cst.CSTNode, facts: F.FileFacts | None = None) -> str:
        """``line 12`` here, ``model.py:12`` in another file."""
        facts = facts or self.file_of_node(node)
        line = self.line_of(node, facts)
        if facts is self.facts:
            return f"line {line}"
        path = self.path_of(facts)
        return f"{path.name if path is not None else '?'}:{line}"

    def file_of_node(self, node: cst.CSTNode) -> F.FileFacts:
        """The facts of the project file `node` is in, among this file and the
        files this model read callers in (this file when it is none of them)."""
        if id(node) in self.facts.statement_of:
            return self.facts
        for facts, _ in self._paths.values():
            if id(node) in facts.statement_of:
                return facts
        return self.facts

    @cached_property
    def imports_local_modules(self) -> bool:
        """Whether values can come from other project files: this file imports a
        module of the project (a loss built by a factory in losses.py), or files
        of the run import this one (their calls pass values in)."""
        folder = self.path.parent if self.path else Path.cwd()
        if any(self.project.resolve(folder, fact.module if fact.module else (fact.name or ""),
                                    fact.level) is not None
               for fact in self.facts.imports):
            return True
        return self.path is not None and self.project.is_imported(self.path)

    @cached_property
    def other_framework(self) -> str | None:
        """The deep-learning framework this file is written for when it is not
        PyTorch: it imports MXNet, TensorFlow, JAX... and nothing of torch's
        family (d2l keeps `mxnet.py` and `tensorflow.py` beside `torch.py`; a
        `net(X)` there records no torch graph and `net.eval()` means nothing)."""
        roots = {(fact.module or fact.name or "").split(".", 1)[0] for fact in self.facts.imports
                 if not fact.level}
        if any(root.startswith("torch") or root in _TORCH_FAMILY for root in roots):
            return None
        found = sorted(roots & _OTHER_FRAMEWORKS)
        return found[0] if found else None

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

    def local_function(self, call: F.Call, facts: F.FileFacts | None = None,
                       path: Path | None = None) -> Definition | None:
        """The project function or method `call` invokes, if it is one. `call`
        may sit in another project file (`facts`, `path`; found from the call
        when not given)."""
        if facts is None:
            facts, path = self.home_of(call)
        func = call.func
        if isinstance(func, cst.Name):
            found = self.resolver.definition(func, call.scope, call.order, facts, path)
            if found is not None and isinstance(found.fact, F.Function):
                return found
            return None
        if isinstance(func, cst.Attribute):
            receiver = call.receiver
            function = call.scope.function
            if function is not None and function.class_ is not None and function.params \
                    and (function.params[0].name == "self" or function.is_classmethod) \
                    and dotted_name(receiver) == function.params[0].name:
                method = _method(function.class_, func.attr.value, self, facts, path)
                if method is not None:
                    return Definition(method, facts, path)
            found = self.resolver.definition(func, call.scope, call.order, facts, path)
            if found is not None and isinstance(found.fact, F.Function):
                return found
            for value in self.values.infer(receiver, call.scope, call.order, facts, path):
                if value.kind == "module" and value.module is not None:
                    owner = value.module.method(func.attr.value)
                    if owner is not None:
                        return Definition(owner[0], owner[1].facts, owner[1].path)
                elif value.kind in ("instance", "class") and value.definition is not None \
                        and isinstance(value.definition.fact, F.Class):
                    # `trainer.fit(...)`, and `Trainer.epoch(model, loader)`: a method
                    # called through its class (see `passes_receiver`).
                    cls = value.definition.fact
                    method = cls.methods.get(func.attr.value)
                    if method is not None:
                        return Definition(method, value.definition.facts, value.definition.path)
        return None

    def passes_receiver(self, call: F.Call, function: F.Function,
                        facts: F.FileFacts | None = None, path: Path | None = None) -> bool:
        """Whether `call` of `function` fills its first parameter itself, so that
        the call's first argument goes to the second parameter: the instance
        (`obj.m(x)`, `model(x)` for forward, `Net(...)` for __init__) or, for a
        classmethod, the class. A staticmethod, or a plain method called through
        its class (`Trainer.epoch(model, loader)`, `Base.forward(self, x)`),
        takes every parameter from the call's arguments. `call` may sit in
        another project file (`facts`, `path`; found from the call when not given)."""
        if function.class_ is None or function.is_staticmethod:
            return False
        if function.is_classmethod:
            return True
        receiver = call.receiver
        if receiver is None:  # `Net(...)`, `model(x)`; a bare call in the class body is plain
            return call.scope is not function.class_
        if call.method != function.name:  # `zoo.Net(...)`, `self.encoder(x)`: __init__, forward
            return True
        if facts is None:
            facts, path = self.home_of(call)
        return not self.names_class(receiver, call, facts, path)

    def names_class(self, receiver: cst.BaseExpression, call: F.Call, facts: F.FileFacts,
                     path: Path | None) -> bool:
        """Whether `receiver` is a class, not an instance: a project class's name
        (imported too), or the `cls` of the classmethod the call sits in."""
        found = self.resolver.definition(receiver, call.scope, call.order, facts, path)
        if found is not None:
            return isinstance(found.fact, F.Class)
        caller = call.scope.function
        return caller is not None and caller.is_classmethod and bool(caller.params) \
            and dotted_name(receiver) == caller.params[0].name

    def first_param_is_receiver(self, function: F.Function) -> bool:
        """Whether `function`'s first parameter holds what the method is called on
        (`self`; `cls` of a classmethod) rather than the call's first argument.
        Not for a staticmethod, nor for a plain function kept in a class
        namespace (Python-2 style code): one whose first parameter is not named
        `self` and whose every known call passes it through the class
        (`Trainer.epoch(model, loader)`)."""
        if function.class_ is None or not function.params or function.is_staticmethod:
            return False
        first = function.params[0]
        if function.is_classmethod or first.name == "self" or first.node.star in ("*", "**"):
            return True
        sites = self.callers(function, self.home_of_scope(function)[0])
        return not sites or any(self.passes_receiver(site.call, function, site.facts, site.path)
                                for site in sites)

    def call_sites(self, function: F.Function) -> list[F.Call]:
        """Calls of `function` in this file (for ``forward``, calls of the model)."""
        return [site.call for site in self._sites_in(function, self.facts, self.path,
                                                     self.facts, self.path)]

    def project_call_sites(self, function: F.Function) -> list[F.Call]:
        """Calls of `function` of this file here and in the run's files that
        import it; :meth:`home_of` tells a call's file, :meth:`model_for` its model."""
        return [site.call for site in self.callers(function)]

    def callers(self, function: F.Function, facts: F.FileFacts | None = None) -> list[Site]:
        """Calls of `function`, defined in `facts` (this file by default): in its
        own file, in the files of the run that import that file when it is this
        file or one of its callers, and in this file."""
        facts = facts or self.facts
        key = id(function)
        if key in self._callers:
            if key in self._callers_pending and self._repeated_searches < MAX_REPEATED_SEARCHES:
                self.unfinished_answers += 1
            return self._callers[key]
        self._callers[key] = []  # recursion guard: inferring a receiver may come back here
        self._callers_pending.add(key)
        unfinished_before = self.unfinished_answers
        path = self.path_of(facts)
        homes = [(facts, path)]
        hops = self._caller_hops.get(id(facts))
        if hops is not None and hops < MAX_CALLER_HOPS:
            called = function.class_.name if function.class_ is not None and \
                function.name in ("__init__", "forward") else function.name
            homes.extend((m.facts, m.path) for m in self._importers(path, called, hops + 1)
                         if m.facts is not None)
        if facts is not self.facts and self.facts not in [h[0] for h in homes]:
            homes.append((self.facts, self.path))
        sites = self._sites_in(function, facts, path, facts, path)
        elsewhere = [site for home_facts, home_path in homes[1:]
                     for site in self._sites_in(function, facts, path, home_facts, home_path)]
        sites = sites + elsewhere[:MAX_SITES_ELSEWHERE]
        self._callers_pending.discard(key)
        if self.unfinished_answers == unfinished_before:
            self._callers[key] = sites
        else:
            del self._callers[key]  # built on an unfinished search: ask again next time
            self._repeated_searches += 1
        return sites

    def _importers(self, path: Path | None, called: str, hops: int) -> list[LocalModule]:
        """The run's files that import the file at `path` and mention `called`,
        once per file, name and model; `hops` importer steps from the linted
        file. Past MAX_IMPORTER_FILES files taken in, only those already taken."""
        if path is None:
            return []
        key = (str(path), called)
        found = self._importer_memo.get(key)
        if found is None:
            found = []
            for importer in self.project.importer_paths(path, called):
                if importer not in self._importer_files:
                    if len(self._importer_files) >= MAX_IMPORTER_FILES:
                        continue
                    self._importer_files.add(importer)
                module = self.project.module(importer)
                if module is None or module.facts is None:
                    continue
                found.append(module)
                self._register(module.facts, module.path)
                self._texts[id(module.facts)] = module.text
                self._caller_hops.setdefault(id(module.facts), hops)
                self.note_dependency(module.path)
            self._importer_memo[key] = found
        for module in found:  # asked again from nearer the linted file: nearer now
            self._caller_hops[id(module.facts)] = min(hops, self._caller_hops[id(module.facts)])
        return found

    def _sites_in(self, function: F.Function, facts: F.FileFacts, path: Path | None,
                  home: F.FileFacts, home_path: Path | None) -> list[Site]:
        """Calls in the file `home` of `function` (defined in `facts` at `path`)."""
        key = (id(function), id(home))
        if key in self._sites:
            if key in self._sites_pending and self._repeated_searches < MAX_REPEATED_SEARCHES:
                self.unfinished_answers += 1
            return self._sites[key]
        self._sites[key] = []
        self._sites_pending.add(key)
        unfinished_before = self.unfinished_answers
        calls = self._calls_named(home)
        sites = []
        named = [call for name in (function.name, *self._aliases(home).get(function.name, ()))
                 for call in calls.get(name, ())]
        for call in named:
            found = self.local_function(call, home, home_path)
            if found is not None and _same(found, function, path):
                sites.append(Site(call, home, home_path))
        cls = function.class_
        if function.name == "__init__" and cls is not None:
            # `Trainer(model, loader)` calls Trainer.__init__ with self bound.
            for call in calls.get(cls.name, ()):
                found = self.resolver.definition(call.func, call.scope, call.order, home, home_path)
                if found is not None and _same(found, cls, path):
                    self._instance_calls.add(id(call))
                    sites.append(Site(call, home, home_path))
        # `model(x)` calls forward: every bare call of the file is inferred, so in
        # another file only where the class is constructed (a loss module built
        # and called in the training script); an instance passed further is rare.
        constructed_here = home is facts or bool(calls.get(cls.name)) if cls is not None else False
        if function.name == "forward" and cls is not None and constructed_here:
            module = self.modules.of_class(cls, facts, path)
            if module is not None:
                for call in calls.get("", ()):  # `model(x)`, `self.net(x)`
                    if any(value.kind == "module" and value.module is not None
                           and _same_class(value.module.cls, value.module.path, cls, path)
                           for value in self.values.infer(call.func, call.scope, call.order, home, home_path)):
                        self._instance_calls.add(id(call))
                        sites.append(Site(call, home, home_path))
        self._sites_pending.discard(key)
        if self.unfinished_answers == unfinished_before:
            self._sites[key] = sites
        else:
            del self._sites[key]  # built on an unfinished search: ask again next time
            self._repeated_searches += 1
        return sites

    def _aliases(self, facts: F.FileFacts) -> dict[str, set[str]]:
        """Names bound to a function under another name in `facts`, by the
        function's name: ``loss_fn = my_loss`` gives {"my_loss": {"loss_fn"}}
        (the calls of `loss_fn` may call it; the resolver says whether they do)."""
        found = self._alias_index.get(id(facts))
        if found is None:
            found = self._alias_index[id(facts)] = {}
            for assign in facts.assigns:
                value = assign.value
                if assign.kind != "assign" or not isinstance(value, (cst.Name, cst.Attribute)):
                    continue
                original = value.value if isinstance(value, cst.Name) else value.attr.value
                for target in assign.targets:
                    if isinstance(target, cst.Name) and target.value != original:
                        found.setdefault(original, set()).add(target.value)
        return found

    def _calls_named(self, facts: F.FileFacts) -> dict[str, list[F.Call]]:
        """Calls of `facts` by the name they call (`helper(...)`, `self.helper(...)`,
        `engine.helper(...)` -> "helper"); under "" the calls that may call a model
        instance (a bare name or `self.x`)."""
        index = self._calls_index.get(id(facts))
        if index is not None:
            return index
        index = self._calls_index[id(facts)] = {}
        for call in facts.calls:
            func = call.func
            name = call.method if isinstance(func, cst.Attribute) else dotted_name(func)
            if name:
                index.setdefault(name, []).append(call)
            if isinstance(func, cst.Name) or isinstance(func, cst.Attribute) and \
                    isinstance(func.value, cst.Name) and func.value.value == "self":
                index.setdefault("", []).append(call)
        return index

    def arguments_for(self, param: F.Param, facts: F.FileFacts) -> list[tuple[F.Call, cst.BaseExpression]]:
        """(call site, argument expression) for each call passing `param`, in this
        file only (the expressions are read with this file's facts)."""
        if facts is not self.facts:
            return []
        return [(found.call, found.argument) for found in self.arguments_across(param, facts)
                if found.facts is self.facts]

    def arguments_across(self, param: F.Param, facts: F.FileFacts) -> list[Argument]:
        """(call site, argument expression, the call site's file facts) for each
        call passing `param` of a function of `facts`, in any file that calls it
        (see :meth:`callers`); :meth:`path_of` gives the call site file's path."""
        function = param.function
        if function is None:
            return []
        known = self._arguments.get(id(param))
        if known is not None:
            return known
        found = []
        for site in self.callers(function, facts):
            bound = self.passes_receiver(site.call, function, site.facts, site.path)
            index = param.index - (1 if bound else 0)
            argument = site.call.argument(index, param.name) if index >= 0 else None
            if argument is not None:
                found.append(Argument(site.call, argument, site.facts))
        if id(function) in self._callers and id(function) not in self._callers_pending:
            self._arguments[id(param)] = found  # the search was finished and remembered
        return found

    def passed_numbers(self, param: F.Param, facts: F.FileFacts, hops: int = 3) -> set[float]:
        """The literal numbers (``0.``, ``True``) callers pass for `param`, also
        through callers that hand on a parameter of their own (``self.decoder(x,
        rate)`` in a ``forward(self, rate)`` that is called ``model(0.)``)."""
        from torchlint.semantic.modules import literal_number
        from torchlint.semantic.names import lookup

        found: set[float] = set()
        for site, argument, site_facts in self.arguments_across(param, facts):
            number = literal_number(argument)
            if number is not None:
                found.add(number)
            elif isinstance(argument, cst.Name) and hops > 1 and site.scope.function is not None:
                bound = lookup(site.scope, argument.value, site.order)
                if bound is not None and isinstance(bound[1].fact, F.Param) \
                        and bound[1].fact.function is site.scope.function:
                    found |= self.passed_numbers(bound[1].fact, site_facts, hops - 1)
        return found

    # -- files ---------------------------------------------------------------------

    def model_for(self, facts: F.FileFacts, path: Path | None) -> SemanticModel:
        """The semantic model of another project file (a caller's), to ask its
        phases about a call site there; findings are never reported through it.
        It shares this model's project and dependencies."""
        found = self._family.get(id(facts))
        if found is None:
            text = self._texts.get(id(facts))
            if text is None:
                text = next((m.text for m in self.project.modules() if m.facts is facts), "")
            found = SemanticModel(facts, self.project, path, text)
            found._dependencies = self._dependencies
            found._family = self._family
            found._importer_files = self._importer_files
            self._caller_hops.setdefault(id(facts), 0)  # asked about as a file of its own
            found._caller_hops = self._caller_hops
            self._family[id(facts)] = found
        return found

    def _register(self, facts: F.FileFacts, path: Path | None) -> None:
        self._homes[id(facts.scope)] = (facts, path)
        self._paths[id(facts)] = (facts, path)

    def path_of(self, facts: F.FileFacts) -> Path | None:
        """The path of the project file `facts` describes."""
        known = self._paths.get(id(facts))
        if known is not None:
            return known[1]
        module = next((m for m in self.project.modules() if m.facts is facts), None)
        path = module.path if module is not None else None
        self._register(facts, path)
        return path

    def home_of(self, fact: F.Located) -> tuple[F.FileFacts, Path | None]:
        """The file (facts, path) a call or other fact of the project sits in."""
        return self.home_of_scope(fact.scope)

    def home_of_scope(self, scope: F.Scope) -> tuple[F.FileFacts, Path | None]:
        """The file (facts, path) a scope of the project sits in."""
        while scope.parent is not None:
            scope = scope.parent
        known = self._homes.get(id(scope))
        if known is not None:
            return known
        module = next((m for m in self.project.modules()
                       if m.facts is not None and m.facts.scope is scope), None)
        if module is None or module.facts is None:
            return self.facts, self.path
        self._register(module.facts, module.path)
        return module.facts, module.path

    # -- dependencies --------------------------------------------------------------

    def note_dependency(self, path: Path) -> None:
        self._dependencies.add(path)

    def dependencies(self) -> tuple[Path, ...]:
        return tuple(sorted(self._dependencies))


class Site(NamedTuple):
    """A call, with the file it is in."""

    call: F.Call
    facts: F.FileFacts
    path: Path | None


class Argument(NamedTuple):
    """What a call site passes for a parameter, and the call site's file."""

    call: F.Call
    argument: cst.BaseExpression
    facts: F.FileFacts


def _same(found: Definition, fact: F.Function | F.Class, path: Path | None) -> bool:
    """Whether `found` is `fact` (of the file at `path`). The same file may have
    been parsed twice (a linted file, then again as an import after the project
    dropped it from its cache): then the same name at the same place counts."""
    if found.fact is fact:
        return True
    return type(found.fact) is type(fact) and _same_file(found.path, path) and \
        _qualname(found.fact) == _qualname(fact) and found.fact.order == fact.order


def _same_class(cls: F.Class, path: Path | None, other: F.Class, other_path: Path | None) -> bool:
    return cls is other or (_same_file(path, other_path) and cls.name == other.name
                            and cls.order == other.order)


def _qualname(fact: F.Function | F.Class) -> str:
    return fact.qualname if isinstance(fact, F.Function) else fact.name


def _same_file(path: Path | None, other: Path | None) -> bool:
    return path is not None and other is not None and (path == other or path.resolve() == other.resolve())


def _method(cls: F.Class, name: str, model: SemanticModel, facts: F.FileFacts,
            path: Path | None) -> F.Function | None:
    if name in cls.methods:
        return cls.methods[name]
    module = model.modules.of_class(cls, facts, path)
    if module is not None:
        found = module.method(name)
        if found is not None:
            return found[0]
    return None
