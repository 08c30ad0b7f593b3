"""The semantic model of one file: the facade every rule reads.

It holds the file's facts and the project, and computes the shared analyses
(names, the nn.Module index, values, phases, data loaders) on first use, so
a rule never re-derives them and a file no rule asks about costs nothing.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from torchlint.semantic import facts as F
from torchlint.semantic.names import Names, Symbols, symbols
from torchlint.semantic.project import Project


class SemanticModel:
    def __init__(self, facts: F.FileFacts, project: Project, path: Path | None) -> None:
        self.facts = facts
        self.project = project
        self.path = path
        self._dependencies: set[Path] = set()

    @cached_property
    def names(self) -> Names:
        return Names(self.facts)

    @property
    def symbols(self) -> Symbols:
        return symbols()

    def callee(self, call: F.Call) -> str | None:
        """The canonical qualified name of what `call` calls, when it is imported."""
        return self.names.callee(call)

    def function_kind(self, call: F.Call) -> str | None:
        """The symbol-table category of the called function (``softmax``, ``seed``...)."""
        return self.symbols.function_kind(self.callee(call))

    def note_dependency(self, path: Path) -> None:
        self._dependencies.add(path)

    def dependencies(self) -> tuple[Path, ...]:
        return tuple(sorted(self._dependencies))
