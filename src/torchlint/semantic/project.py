"""The project: local modules found by following imports, each parsed once per run.

``from model import Net`` in train.py reaches model.py, ``from .models import
*`` reaches a package. Only the modules a linted file imports (transitively)
are read, never the whole tree.

The other direction, the files that import a module (where its functions are
called from), is looked up among the files of the run only: a run over a
folder knows them all already, and a run over one file reads nothing more.
"""

from __future__ import annotations

import gc
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from torchlint.memory import LARGE_FILE_CHARS
from torchlint.parsing import parse_recovering
from torchlint.semantic import facts as F
from torchlint.semantic.imports import (EXTERNAL, MAX_UP, PROJECT_MARKERS, ImportLine, ModuleFinder, RunFiles,
                                        module_name)
from torchlint.semantic.walker import collect
from torchlint.source import SourceError, SourceFile, decode

# Import statements, read with a regex before parsing to decide whether a file
# that never says "torch" may still reach torch through a local module.
_IMPORT_RE = re.compile(r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import|import[ \t]+([\w.]+))", re.M)
#: Words of training and evaluation code that need no `torch` in the file's own text.
_TRAINING_WORDS = (".backward(", ".eval()", ".train()", "zero_grad(", "no_grad(", ".step()")
# A package __init__ that imports a module re-exports it to the package's own
# importers; followed this many packages up.
MAX_REEXPORT_LEVELS = 2
# Importers parsed for one name of a module, in the run's order. A training
# script's helper module has a few; a library's base module (torch's module.py)
# has hundreds, and parsing them all would cost more than the lint.
MAX_IMPORTERS = 16
# Parsed local modules kept for reuse. A module's syntax tree and facts cost
# about 50 bytes per character of its text, so the cache is bounded by both
# count and total text: 96 small modules, or fewer large ones (about 250 MB;
# in a library's tree each file takes in over a million characters of them).
MAX_CACHED_MODULES = 96
MAX_CACHED_CHARS = 5_000_000
# Local modules larger than this are generated tables (torch's own
# _triton_ops_meta.py is 500 KB of literals), never model definitions worth
# following; parsing one costs over 500 MB.
MAX_MODULE_CHARS = 300_000
# Text of the distinct local modules one lint takes in (what its file imports,
# transitively, and the files importing it): about 50 bytes a character while
# its analyses hold them, so 1.5 million characters cost about 75 MB and 3 s of
# parsing. A training project's modules are far fewer (the largest of the
# real-world set: 60,000); a module of a library (torch's _dynamo) reaches
# hundreds. Past it, a further module is as unreadable.
MAX_LINT_CHARS = 1_500_000
# Before a file of LARGE_FILE_CHARS or more is parsed, the cache gives up what
# would push the run past its memory budget (see memory.py).
PARSE_PEAK_PER_KEPT = 20  # the parse peak of a character, in cached characters
# Modules of a namespace package (a folder without __init__.py) searched for a
# name imported from the package itself; a model folder holds a few.
MAX_NAMESPACE_FILES = 32
MAX_REMEMBERED_MEMBERS = 256


@dataclass
class LocalModule:
    path: Path
    facts: F.FileFacts | None  # None when it does not parse
    text: str = ""
    # Parsed with its unparsable statements blanked (see parsing.recover): its
    # facts are not those of a file that parses, which a lint of it would report.
    recovered: bool = False


@dataclass
class Project:
    """Caches local modules for one run; shared by every file the run lints."""

    root: Path | None = None
    #: The files of the run, where callers of a module are looked for (None: none).
    run_files: RunFiles | None = None
    _modules: dict[Path, LocalModule | None] = field(default_factory=dict)
    _finder: ModuleFinder = field(default_factory=ModuleFinder)
    _importers: dict[tuple[Path, str, int], list[Path]] = field(default_factory=dict)
    _importers_of: RunFiles | None = None  # the run files `_importers` was found in
    # (folder, package, level, name) -> the defining module, and the texts searched for it
    _members: dict[tuple[Path, str, int, str], tuple[Path | None, tuple[tuple[Path, str], ...]]] = \
        field(default_factory=dict)
    # The files each run file's imports reach (resolved), found once per run file.
    _import_targets: dict[Path, frozenset[Path]] = field(default_factory=dict)
    #: Text the editor holds for files that differ from the disk.
    overlays: dict[Path, str] = field(default_factory=dict)
    files_read: int = 0
    _cached_chars: int = 0
    # The modules taken in by the lint under way (None: no lint), kept for it
    # whatever the cache evicts meanwhile: parsed once per lint, never twice.
    _taken: dict[Path, LocalModule] | None = None
    _taken_chars: int = 0
    _room_for: Path | None = None  # the large file make_room last made room for

    # -- which files -------------------------------------------------------

    def worth_parsing(self, source: SourceFile) -> bool:
        """A file that never mentions torch, has none of a training loop's words,
        imports no local module and is imported by no file of the run cannot hold
        a torch training bug. (A trainer whose
        torch objects all come from a package that is not in the checkout still says
        `.backward()` or `.eval()`.)"""
        text = source.text
        if "torch" in text or any(word in text for word in _TRAINING_WORDS):
            return True
        folder = source.path.parent if source.path else Path.cwd()
        for match in _IMPORT_RE.finditer(text):
            dots, module, plain = match.group(1) or "", match.group(2) or "", match.group(3) or ""
            name = plain or module
            if self.resolve(folder, name, len(dots)) is not None:
                return True
            if dots and not name:
                return True  # `from . import x`: a sibling module
        # A helper module of the run's training code: its callers pass torch objects in.
        return source.path is not None and self.is_imported(source.path)

    def resolve(self, folder: Path, module: str, level: int) -> Path | None:
        """The file of local module `module` imported from a file in `folder`."""
        return self._finder.resolve(folder, module, level)

    def namespace_member(self, folder: Path, package: str, level: int, name: str) -> Path | None:
        """The module of namespace package `package` (a folder without
        ``__init__.py``) that defines class or function `name` at its top level,
        when exactly one does. Python cannot import a name from such a folder: the
        checkout lacks the ``__init__.py`` that re-exports it (a partial copy, an
        ignored file), and the module defining it is what the import meant."""
        if name == "*" or not package and level == 0:
            return None
        key = (Path(os.path.abspath(folder)), package, level, name)
        known = self._members.get(key)
        if known is None:
            if len(self._members) >= MAX_REMEMBERED_MEMBERS:
                self._members.clear()
            known = self._members[key] = self._find_member(folder, package, level, name)
        found, searched = known
        for path, text in searched:  # noted for this file's record, memoized or not
            self.examined(path, text)
        return found

    def _find_member(self, folder: Path, package: str, level: int,
                     name: str) -> tuple[Path | None, tuple[tuple[Path, str], ...]]:
        directory = self._namespace_folder(folder, package, level)
        if directory is None:
            return None, ()
        defines = re.compile(rf"^(?:async[ \t]+)?(?:class|def)[ \t]+{re.escape(name)}\b", re.M)
        searched: list[tuple[Path, str]] = []
        found: list[Path] = []
        try:
            paths = sorted(p for p in directory.iterdir() if p.suffix == ".py" and p.is_file())
        except OSError:
            return None, ()
        for path in paths[:MAX_NAMESPACE_FILES]:
            try:
                text, _, _ = decode(path.read_bytes(), str(path))
            except (OSError, SourceError, ValueError):
                continue
            searched.append((path.resolve(), text))
            if len(text) <= MAX_MODULE_CHARS and defines.search(text):
                found.append(path)
        return (found[0] if len(found) == 1 else None), tuple(searched)

    def _namespace_folder(self, folder: Path, package: str, level: int) -> Path | None:
        """The folder of namespace package `package` imported from `folder`, found
        as :meth:`resolve` finds modules (None when a module of that name exists)."""
        folder = Path(os.path.abspath(folder))
        parts = [p for p in package.split(".") if p]
        if level == 0:
            if not parts or parts[0] in EXTERNAL:
                return None
            bases = [folder, *list(folder.parents)[:MAX_UP]]
        else:
            base = folder
            for _ in range(level - 1):
                base = base.parent
            bases = [base]
        for base in bases:
            candidate = base.joinpath(*parts)
            if candidate.is_dir() and not (candidate / "__init__.py").exists() \
                    and not candidate.with_suffix(".py").is_file():
                return candidate
            if level == 0 and any((base / marker).exists() for marker in PROJECT_MARKERS):
                break
        return None

    # -- parsed modules ----------------------------------------------------

    def begin_lint(self) -> None:
        """A file's lint starts: the modules it takes in count to MAX_LINT_CHARS."""
        self._taken = {}
        self._taken_chars = 0

    def end_lint(self) -> None:
        self._taken = None
        self._taken_chars = 0

    def module(self, path: Path) -> LocalModule | None:
        path = path.resolve()
        taken = self._taken
        if taken is None:
            return self._module(path)
        found = taken.get(path)
        if found is not None:
            return found
        if self._taken_chars + self._parsed_size(path) > MAX_LINT_CHARS:
            return None  # beyond this lint's budget: an unknown module
        found = self._module(path)
        if found is not None and self._taken is taken:
            taken[path] = found
            self._taken_chars += len(found.text) if found.facts is not None else 0
        return found

    def _parsed_size(self, path: Path) -> int:
        """The characters of `path` a parse of it would hold (0: too large to parse)."""
        cached = self._modules.get(path)
        if cached is not None:
            return len(cached.text) if cached.facts is not None else 0
        text = self.overlays.get(path)
        try:
            size = len(text) if text is not None else os.stat(path).st_size
        except OSError:
            return 0
        return size if size <= MAX_MODULE_CHARS else 0

    def _module(self, path: Path) -> LocalModule | None:
        if path in self._modules:
            found = self._modules.pop(path)  # most recently used last
            self._modules[path] = found
            return found
        self._modules[path] = None  # guards against import cycles while parsing
        text = self.overlays.get(path)
        recovery = None
        try:
            if text is None:
                self.files_read += 1
                text, _, _ = decode(path.read_bytes(), str(path))
            # Too large to follow: known to the analysis as a module it cannot read.
            facts = None
            if len(text) <= MAX_MODULE_CHARS:
                tree, _, recovery = parse_recovering(text)
                facts = collect(tree)
        except (OSError, SourceError, cst.ParserSyntaxError, SyntaxError, RecursionError, MemoryError,
                ValueError):
            facts = None
        found = LocalModule(path=path, facts=facts, text=text or "", recovered=recovery is not None)
        self._keep(found)
        return found

    def _keep(self, found: LocalModule) -> None:
        """Cache `found` as the most recently used module, within the bounds."""
        self._evict_for(len(found.text))
        self._modules[found.path] = found
        self._cached_chars += len(found.text)

    def _evict_for(self, chars: int) -> int:
        """Bound memory on huge trees: drop the least recently used modules
        until one more of `chars` characters fits. Entries still being parsed
        (None, the new module's among them) are kept and not counted. Returns
        how many were dropped."""
        parsed = sum(entry is not None for entry in self._modules.values())
        dropped = 0
        for key in list(self._modules):
            if parsed < MAX_CACHED_MODULES and self._cached_chars + chars <= MAX_CACHED_CHARS:
                break
            entry = self._modules[key]
            if entry is None:
                continue
            del self._modules[key]
            parsed -= 1
            dropped += 1
            self._cached_chars -= len(entry.text)
        return dropped

    def known_facts(self, path: Path, text: str) -> F.FileFacts | None:
        """The facts of `path` if it was parsed already with this very text: in
        a run over a whole tree most linted files are also imported by others,
        and parsing is most of the cost of linting."""
        found = self._modules.get(path.resolve())
        if found is None or found.facts is None or found.text != text or found.recovered:
            return None
        self._modules[found.path] = self._modules.pop(found.path)  # most recently used last
        return found.facts

    def make_room(self, path: Path | None, chars: int) -> None:
        """Before a file of `chars` characters is parsed: when it is large, drop the
        least recently used modules so the parse's peak fits beside the cache. Not
        again for the file made room for last (an editor re-linting it on every
        keystroke would parse its imports again each time)."""
        if chars < LARGE_FILE_CHARS or not self._cached_chars or (path is not None and path == self._room_for):
            return
        self._room_for = path
        if self._evict_for(chars * PARSE_PEAK_PER_KEPT):
            gc.collect()  # the dropped trees hold cycles; free them before the peak

    def remember(self, path: Path, text: str, facts: F.FileFacts) -> None:
        """Keep the facts of a linted file read from disk for the files that
        import it. Only for text read from the disk: the files importing it
        must see what they would read themselves. A file too large to be read
        as a module (generated tables) is never asked for."""
        path = path.resolve()
        if len(text) > MAX_MODULE_CHARS or path in self._modules:
            return  # being read as a module right now (None), or known already
        self._keep(LocalModule(path=path, facts=facts, text=text))

    def import_target(self, importer: Path | None, fact: F.Import) -> tuple[LocalModule, str | None] | None:
        """For ``from m import name`` in `importer`: m's module and the name; for
        ``from . import m`` the module m itself (name None)."""
        folder = importer.parent if importer else Path.cwd()
        if fact.name is not None:
            path = self.resolve(folder, fact.module, fact.level)
            if path is not None:
                module = self.module(path)
                return (module, fact.name) if module else None
            # `from pkg import submodule`
            sub = f"{fact.module}.{fact.name}" if fact.module else fact.name
            path = self.resolve(folder, sub, fact.level)
            if path is not None:
                module = self.module(path)
                return (module, None) if module else None
            path = self.namespace_member(folder, fact.module, fact.level, fact.name)
            if path is not None:
                module = self.module(path)
                return (module, fact.name) if module else None
            return None
        path = self.resolve(folder, fact.module, fact.level)
        if path is None:
            return None
        module = self.module(path)
        return (module, None) if module else None

    # -- importers -----------------------------------------------------------

    def importers(self, path: Path, called: str, levels: int = MAX_REEXPORT_LEVELS) -> list[LocalModule]:
        """The files of the run that import the module at `path` and mention
        `called` (the function or class whose calls are wanted), parsed; through
        a package ``__init__`` that imports the module, the package's importers.
        Files are checked on their text first: only those that pass are parsed."""
        if self.run_files is None:
            return []
        self._forget_other_runs()
        path = path.resolve()
        key = (path, called, levels)
        modules = [self.module(found) for found in self.importer_paths(path, called, levels)]
        return [m for m in modules if m is not None and m.facts is not None]

    def importer_paths(self, path: Path, called: str, levels: int = MAX_REEXPORT_LEVELS) -> list[Path]:
        """The paths of :meth:`importers`, none parsed."""
        if self.run_files is None:
            return []
        self._forget_other_runs()
        path = path.resolve()
        key = (path, called, levels)
        paths = self._importers.get(key)
        if paths is None:
            paths = self._importers[key] = self._find_importers(path, called, levels)
        else:
            for candidate in self.candidate_importers(path):  # noted again for this file's record
                self.examined(candidate, self.run_files.texts.get(candidate, ""))
        return paths

    def is_imported(self, path: Path) -> bool:
        """Whether a file of the run imports the module at `path` (read from the
        texts, nothing parsed)."""
        if self.run_files is None:
            return False
        self._forget_other_runs()
        path = path.resolve()
        found = False
        for candidate in self.candidate_importers(path):
            self.examined(candidate, self.run_files.texts.get(candidate, ""))
            found = found or candidate != path and path in self._targets_of(candidate)
        return found

    def _forget_other_runs(self) -> None:
        """Drop what was found among the files of an earlier run."""
        if self._importers_of is not self.run_files:  # a new run
            self._importers.clear()
            self._import_targets.clear()
            self._importers_of = self.run_files

    def _find_importers(self, path: Path, called: str, levels: int) -> list[Path]:
        assert self.run_files is not None
        mention = re.compile(rf"\b{re.escape(called)}\b")
        found: list[Path] = []
        for candidate in self.candidate_importers(path):
            if len(found) >= MAX_IMPORTERS:
                break  # the files after these cannot change the answer
            text = self.run_files.texts.get(candidate, "")
            self.examined(candidate, text)
            if candidate == path or path not in self._targets_of(candidate):
                continue
            if candidate.name == "__init__.py" and levels > 0:  # re-exported to the package's importers
                found.extend(p for p in self._find_importers(candidate, called, levels - 1)
                             if p != path and p not in found)
            # The plain search first: in a library most files import the package's
            # __init__, and the word search is the slower one.
            if called in text and mention.search(text) and candidate not in found:
                found.append(candidate)
        return found[:MAX_IMPORTERS]

    def candidate_importers(self, path: Path) -> tuple[Path, ...]:
        """Files of the run whose imports mention the module's name (their text
        was searched, not parsed)."""
        assert self.run_files is not None
        return self.run_files.mentioning(module_name(path))

    def examined(self, path: Path, text: str) -> None:
        """`text`, the content of run file `path`, was searched for imports and calls."""

    def _targets_of(self, importer: Path) -> frozenset[Path]:
        """The files (resolved) that the import statements of run file `importer`
        reach; asked of each importer for every module it may import."""
        assert self.run_files is not None
        known = self._import_targets.get(importer)
        if known is not None:
            return known
        targets: set[Path] = set()
        for line in self.run_files.import_lines(importer):
            for name in self._imported_names(line):
                found = self.resolve(importer.parent, name, line.level)
                if found is not None:
                    targets.add(found.resolve())
        known = self._import_targets[importer] = frozenset(targets)
        return known

    @staticmethod
    def _imported_names(line: ImportLine) -> list[str]:
        """The module names the import statement `line` may import."""
        names = [line.module]
        for name in line.names:
            if name != "*":  # `from pkg import module`
                names.append(f"{line.module}.{name}" if line.module else name)
        return names

    def modules(self) -> list[LocalModule]:
        """The local modules read so far."""
        return [m for m in self._modules.values() if m is not None]

    def forget(self, path: Path) -> None:
        """Drop a module so it is read again (the editor changed it)."""
        dropped = self._modules.pop(path.resolve(), None)
        if dropped is not None:
            self._cached_chars -= len(dropped.text)

    def forget_resolutions(self) -> None:
        """Forget which import names to which file (a module was created or deleted)."""
        self._finder.forget()
        self._importers.clear()
        self._members.clear()
        self._import_targets.clear()
