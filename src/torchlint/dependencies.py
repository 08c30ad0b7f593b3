"""What a file's findings depend on beyond its own text, recorded while the
file is linted and checked again before a cached result is reused.

Three kinds of thing: the local modules the analysis read (by the text it
read), every import lookup it made, whether it found a file or not, and each
search of the run's files for the importers of a module (callers of its
functions), by the files it found: a file of the run that starts importing
the module changes the findings too. The
lookups matter on their own: ``from model import Net`` while model.py does
not exist yet finds nothing, and creating model.py must change the findings;
a new ``model.py`` nearer than the old one must too. Checking a lookup again
costs a few ``stat`` calls; checking a module costs reading and hashing it,
once per run however many files depend on it.

This module is read by every cached run before anything is parsed, so it stays
light; the project that records a lint is in recording.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from torchlint.semantic.imports import ModuleFinder, RunFiles
from torchlint.source import SourceError, decode

#: The digest of a module that could not be read or decoded.
UNREADABLE = "-"

try:  # _blake2 alone imports in a fraction of hashlib's time (OpenSSL), and startup is budgeted
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import blake2b


def digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


def text_digest(text: str) -> str:
    return digest(text.encode("utf-8", "surrogatepass"))


class ModuleRead(NamedTuple):
    path: str  # resolved, as the project reads it
    digest: str  # of the decoded text; UNREADABLE when it could not be read


class Lookup(NamedTuple):
    folder: str  # as the analysis passed it (relative folders search differently)
    module: str
    level: int
    found: str | None


class Scan(NamedTuple):
    """The run's files whose imports mention module name `name`."""

    name: str
    files: tuple[str, ...]


class Record(NamedTuple):
    """A file's dependencies: JSON-friendly (lists of strings and numbers)."""

    modules: tuple[ModuleRead, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    scans: tuple[Scan, ...] = ()


class DependencyCheck:
    """Tells whether recorded dependencies still hold, with one lookup and one
    read per module for the whole run, however many files share them."""

    def __init__(self) -> None:
        self._finder = ModuleFinder()  # its own memo: the same answers a fresh lint would get
        self._found: dict[tuple[str, str, int], str | None] = {}
        self._digests: dict[str, str] = {}
        #: The files of the run being checked (the importers a lint would search).
        self.run_files: RunFiles | None = None

    def holds(self, record: Record) -> bool:
        return all(self._lookup(lookup) == lookup.found for lookup in record.lookups) \
            and all(self._scan(scan.name) == scan.files for scan in record.scans) \
            and all(self._digest(read.path) == read.digest for read in record.modules)

    def _scan(self, name: str) -> tuple[str, ...]:
        found = self.run_files.mentioning(name) if self.run_files is not None else ()
        return tuple(str(path) for path in found)

    def _lookup(self, lookup: Lookup) -> str | None:
        key = (lookup.folder, lookup.module, lookup.level)
        if key not in self._found:
            found = self._finder.resolve(Path(lookup.folder), lookup.module, lookup.level)
            self._found[key] = str(found) if found is not None else None
        return self._found[key]

    def _digest(self, path: str) -> str:
        known = self._digests.get(path)
        if known is None:
            try:
                text, _, _ = decode(Path(path).read_bytes(), path)
                known = text_digest(text)
            except (OSError, SourceError, ValueError):
                known = UNREADABLE
            self._digests[path] = known
        return known
