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
from torchlint.semantic.walker import dotted_name

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
        self._paths: dict[int, Path | None] = {}

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
        if hops > MAX_HOPS:
            return None
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
