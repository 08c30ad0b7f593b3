"""A project that notes what each file's lint depends on, for the cache.

Every module read and every import lookup made while a file is linted, the
memoized ones included, becomes the file's :class:`~torchlint.dependencies.Record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torchlint.dependencies import UNREADABLE, Lookup, ModuleRead, Record, Scan, text_digest
from torchlint.semantic.imports import module_name
from torchlint.semantic.project import LocalModule, Project


def _module_digest(module: LocalModule) -> str:
    if module.facts is None and not module.text:  # unreadable or undecodable (empty text parses)
        return UNREADABLE
    return text_digest(module.text)


@dataclass
class RecordingProject(Project):
    """A :class:`Project` that notes, for the file being linted, each module it
    reads and each lookup it makes, including those answered from its memo."""

    _reads: dict[str, str] = field(default_factory=dict)
    _lookups: dict[tuple[str, str, int], str | None] = field(default_factory=dict)
    _scans: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def resolve(self, folder: Path, module: str, level: int) -> Path | None:
        found = super().resolve(folder, module, level)
        self._lookups[(str(folder), module, level)] = str(found) if found is not None else None
        return found

    def module(self, path: Path) -> LocalModule | None:
        found = super().module(path)
        if found is not None:  # None: the module is being read already (an import cycle)
            self._reads[str(found.path)] = _module_digest(found)
        return found

    def examined(self, path: Path, text: str) -> None:
        self._reads[str(path)] = text_digest(text)

    def candidate_importers(self, path: Path) -> tuple[Path, ...]:
        found = super().candidate_importers(path)
        self._scans[module_name(path.resolve())] = tuple(str(p) for p in found)
        return found

    def begin(self) -> None:
        """Start recording for a new file."""
        self._reads.clear()
        self._lookups.clear()
        self._scans.clear()

    def record(self) -> Record:
        """What the file linted since :meth:`begin` depends on."""
        return Record(
            modules=tuple(ModuleRead(path, value) for path, value in sorted(self._reads.items())),
            lookups=tuple(Lookup(folder, module, level, found) for (folder, module, level), found
                          in sorted(self._lookups.items())),
            scans=tuple(Scan(name, files) for name, files in sorted(self._scans.items())),
        )
