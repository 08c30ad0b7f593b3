"""What a name refers to, across the files of the project.

``Net`` may be a class of this file, ``from model import Net``, ``from
.models import *``, ``import models`` then ``models.Net``, or a package's
``__init__`` re-exporting it. :class:`Resolver` follows all of these to the
defining class or function, and otherwise to the external qualified name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.names import lookup
from torchlint.semantic.project import LocalModule
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

MAX_HOPS = 8


@dataclass(frozen=True, eq=False)
class Definition:
    """A class or function of some project file, with where it lives."""

    fact: Union[F.Class, F.Function]
    facts: F.FileFacts
    path: Path | None


class Resolver:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._imports: dict[tuple[int, str], Definition | None] = {}
        self._star_aliases: dict[tuple[int, str], F.Import | None] = {}
        self._stars: dict[tuple[int, str], Definition | None] = {}  # by (id of facts, name)
        self._paths: dict[int, Path | None] = {}
        self._dynamic: dict[int, LocalModule | None] = {}  # by id of the import_module call

    def definition(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                   facts: F.FileFacts, path: Path | None, hops: int = 0) -> Definition | None:
        """The project class or function `node` names, if any."""
        dotted = dotted_name(node)
        if dotted is None or hops > MAX_HOPS:
            return None
        head, _, rest = dotted.partition(".")
        found = lookup(scope, head, order)
        if found is None:
            return self._from_star_imports(facts, path, dotted, hops) if not rest else None
        fact = found[1].fact
        if isinstance(fact, (F.Class, F.Function)):
            return Definition(fact, facts, path) if not rest else None
        if isinstance(fact, F.Import):
            return self._through_import(fact, rest, path, hops)
        if isinstance(fact, F.Assign) and rest and found[1].path == ():
            module = self.dynamic_module(fact, facts, path)
            if module is not None:  # `net = importlib.import_module(name)` then `net.Model`
                parts = rest.split(".")
                return self._in_module(module, parts[0], hops) if len(parts) == 1 else None
        if isinstance(fact, F.Assign) and fact.kind == "assign" and not rest \
                and isinstance(fact.value, (cst.Name, cst.Attribute)) and fact.value is not node:
            return self.definition(fact.value, fact.scope, fact.order, facts, path, hops + 1)
        return None

    def _module(self, importer: Path | None, fact: F.Import) -> tuple[LocalModule, str | None] | None:
        target = self.model.project.import_target(importer, fact)
        if target is None or target[0].facts is None:
            return None
        self.model.note_dependency(target[0].path)
        return target

    def _through_import(self, fact: F.Import, rest: str, path: Path | None,
                        hops: int) -> Definition | None:
        key = (id(fact), rest)
        if key not in self._imports:
            self._imports[key] = None  # an import cycle resolves to nothing
            self._imports[key] = self._follow_import(fact, rest, path, hops)
        return self._imports[key]

    def _follow_import(self, fact: F.Import, rest: str, path: Path | None,
                       hops: int) -> Definition | None:
        target = self._module(path, fact)
        if target is None:
            return None
        module, name = target
        parts = ([name] if name else []) + (rest.split(".") if rest else [])
        if not parts:
            return None
        # Walk `a.b.C` through submodules: each part but the last names a module.
        while len(parts) > 1:
            sub = F.Import(local=parts[0], module=parts[0], name=None, level=1, node=fact.node)
            nested = self._module(module.path, sub)
            if nested is None:
                return self._in_module(module, parts[0], hops) if len(parts) == 1 else None
            module = nested[0]
            parts = parts[1:]
        return self._in_module(module, parts[0], hops)

    def _in_module(self, module: LocalModule, name: str, hops: int) -> Definition | None:
        facts = module.facts
        assert facts is not None
        bindings = facts.scope.bindings.get(name)
        if bindings:
            fact = bindings[-1].fact
            if isinstance(fact, (F.Class, F.Function)):
                return Definition(fact, facts, module.path)
            if isinstance(fact, F.Import):  # re-exported, e.g. by a package __init__
                return self._through_import(fact, "", module.path, hops + 1)
            return None
        return self._from_star_imports(facts, module.path, name, hops + 1)

    def _from_star_imports(self, facts: F.FileFacts, path: Path | None, name: str,
                           hops: int) -> Definition | None:
        """`name` brought into a file by its `from m import *` lines, remembered per
        file and name: chains of star imports are asked the same names again and
        again (nine chained `import *` lines once cost seconds a file)."""
        if hops > MAX_HOPS:
            return None
        key = (id(facts), name)
        if key in self._stars:
            return self._stars[key]
        self._stars[key] = None  # a star-import cycle brings nothing
        found = self._star_search(facts, path, name, hops)
        if hops == 0 or found is not None:
            self._stars[key] = found
        else:
            del self._stars[key]  # cut short by the hop bound: ask again from nearer
        return found

    def _star_search(self, facts: F.FileFacts, path: Path | None, name: str, hops: int) -> Definition | None:
        for fact in facts.imports:
            if fact.name != "*":
                continue
            star = F.Import(local="*", module=fact.module, name=None, level=fact.level, node=fact.node)
            target = self._module(path, star)
            if target is None:
                continue
            found = self._in_module(target[0], name, hops + 1)
            if found is not None:
                return found
        return None

    # -- names brought by star imports ---------------------------------------------

    def star_alias(self, facts: F.FileFacts, name: str) -> F.Import | None:
        """The absolute import that `from m import *` brings in as `name` (``nn``
        from ``import torch.nn as nn`` in m), following nested star imports."""
        key = (id(facts), name)
        if key not in self._star_aliases:
            self._star_aliases[key] = None  # a star-import cycle brings nothing
            self._star_aliases[key] = self._star_alias_in(facts, self.path_of(facts), name, 0)
        return self._star_aliases[key]

    def _star_alias_in(self, facts: F.FileFacts, path: Path | None, name: str,
                       hops: int) -> F.Import | None:
        if hops > MAX_HOPS or name.startswith("_"):
            return None  # `import *` skips private names
        for fact in facts.imports:
            if fact.name != "*":
                continue
            star = F.Import(local="*", module=fact.module, name=None, level=fact.level, node=fact.node)
            target = self._module(path, star)
            if target is None:
                continue
            module = target[0]
            assert module.facts is not None
            bindings = module.facts.scope.bindings.get(name)
            if bindings:
                bound = bindings[-1].fact
                # Relative imports name modules relative to the other file: only
                # absolute ones mean the same here.
                if isinstance(bound, F.Import) and bound.level == 0 and bound.name != "*":
                    return bound
                return None
            found = self._star_alias_in(module.facts, module.path, name, hops + 1)
            if found is not None:
                return found
        return None

    def path_of(self, facts: F.FileFacts) -> Path | None:
        """The file `facts` were collected from (this file or a local module)."""
        if facts is self.model.facts:
            return self.model.path
        key = id(facts)
        if key not in self._paths:
            self._paths[key] = next((m.path for m in self.model.project.modules() if m.facts is facts), None)
        return self._paths[key]

    # -- modules named by an expression ---------------------------------------------

    def local_module(self, node: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                     facts: F.FileFacts, path: Path | None) -> LocalModule | None:
        """The project module `node` names: ``zoo`` after ``import zoo`` or
        ``from models import zoo``, ``models.zoo`` after ``import models``."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        found = lookup(scope, head, order)
        if found is not None and isinstance(found[1].fact, F.Assign) and not rest and found[1].path == ():
            return self.dynamic_module(found[1].fact, facts, path)
        if found is None or not isinstance(found[1].fact, F.Import):
            return None
        fact = found[1].fact
        target = self._module(path, fact)
        if target is None:
            return None
        module, name = target
        parts = ([name] if name else []) + (rest.split(".") if rest else [])
        for part in parts:
            sub = F.Import(local=part, module=part, name=None, level=1, node=fact.node)
            nested = self._module(module.path, sub)
            if nested is None:
                return None
            module = nested[0]
        return module

    # -- modules imported by name at run time ------------------------------------------

    def dynamic_module(self, fact: F.Assign, facts: F.FileFacts, path: Path | None) -> LocalModule | None:
        """The project module ``importlib.import_module(name)`` loads, when `name` is
        a constant (a literal, a module constant, an argparse default): looked up
        like an import from the file, then in the folders the file adds to
        ``sys.path``."""
        value = fact.value
        if fact.kind != "assign" or not isinstance(value, cst.Call) or not value.args \
                or value.args[0].keyword is not None:
            return None
        key = id(value)
        if key in self._dynamic:
            return self._dynamic[key]
        self._dynamic[key] = None  # a cycle through the name's constant resolves to nothing
        qualified = self.model.names_for(facts).qualified(value.func, fact.scope, fact.order)
        if qualified not in _IMPORTING_FUNCTIONS:
            return None
        model = self.model if facts is self.model.facts else self.model.model_for(facts, path)
        name = model.data.constant(value.args[0].value, fact.scope, fact.order)
        if name is None or not isinstance(name.value, str) or not name.value.strip("."):
            return None
        folder = path.parent if path is not None else Path.cwd()
        for base in (folder, *_sys_path_folders(model, facts, folder)):
            found = self.model.project.resolve(base, name.value, 0)
            if found is not None:
                module = self.model.project.module(found)
                if module is not None and module.facts is not None:
                    self.model.note_dependency(module.path)
                    self._dynamic[key] = module
                    return module
        return None


# Functions that import a module given its name as a string.
_IMPORTING_FUNCTIONS = frozenset({"importlib.import_module", "__import__"})
_SYS_PATH_ADDERS = frozenset({"sys.path.append", "sys.path.insert"})


def _sys_path_folders(model: SemanticModel, facts: F.FileFacts, folder: Path) -> list[Path]:
    """Folders the file adds to ``sys.path`` relative to its own folder:
    ``sys.path.append(os.path.join(BASE_DIR, "models"))`` gives <folder>/models
    (the string parts of the expression, joined; the rest taken for the file's
    folder, as ``os.path.dirname(__file__)`` mostly is)."""
    found = []
    names = model.names_for(facts)
    for call in facts.calls:
        if call.method not in ("append", "insert") or not call.args:
            continue
        if names.qualified(call.func, call.scope, call.order) not in _SYS_PATH_ADDERS:
            continue
        parts = [node.evaluated_value for node in iter_nodes(call.args[-1].value)
                 if isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, str)]
        if parts and all(part and "\n" not in part for part in parts):
            candidate = folder.joinpath(*parts)
            if candidate.is_dir():
                found.append(candidate)
    return found
