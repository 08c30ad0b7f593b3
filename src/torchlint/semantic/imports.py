"""Which files a run lints and where an import leads, read without parsing.

The cache checks a stored result's dependencies with these before anything is
parsed (see dependencies.py), so this module must stay light: no libcst, no
semantic layer. :class:`~torchlint.semantic.project.Project` builds on it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

# Whole import statements (a parenthesized name list may span lines), for the
# words they mention: a file can import module m only if "m" is one of them.
_IMPORT_STATEMENT_RE = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]*(\([^)]*\)|[^\n;#]*)|import[ \t]+([^\n;#]*))",
    re.M)
_WORD_RE = re.compile(r"\w+")
_DOTTED_RE = re.compile(r"[\w.]+|\*")
# A folder holding one of these is a project root: imports are not looked for above it.
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
# Never resolved locally even when a file of that name exists beside the script.
EXTERNAL = frozenset({"torch", "numpy", "torchvision", "torchaudio", "torchtext"})
MAX_UP = 4  # how many folders above a file are searched for absolute imports
# Import lookups remembered; bounded because an editor session types many
# half-finished names.
MAX_REMEMBERED_LOOKUPS = 20_000


def module_name(path: Path) -> str:
    """The last part of the module name a file is imported by: ``evaluation``
    for evaluation.py, ``models`` for models/__init__.py."""
    return path.parent.name if path.name == "__init__.py" else path.stem


def import_words(text: str) -> set[str]:
    """Every word of the import statements of `text`: module names, their
    parts, and the names imported (``from .engine import evaluate as ev`` gives
    engine, evaluate, as, ev). Read with a regex, without parsing."""
    words: set[str] = set()
    for match in _IMPORT_STATEMENT_RE.finditer(text):
        for group in match.groups()[1:]:
            if group:
                words.update(_WORD_RE.findall(group))
    return words


class ImportLine(NamedTuple):
    """One import statement as the regex reads it: ``from ..m import a, b`` is
    (2, "m", ("a", "b")); ``import a.b`` is (0, "a.b", ())."""

    level: int
    module: str
    names: tuple[str, ...]


def import_lines(text: str) -> list[ImportLine]:
    found = []
    for match in _IMPORT_STATEMENT_RE.finditer(text):
        dots, module, names, plain = match.groups()
        if plain is not None:
            for item in plain.split(","):
                dotted = _DOTTED_RE.findall(item)
                if dotted:
                    found.append(ImportLine(0, dotted[0], ()))
            continue
        imported = tuple(d[0] for d in (_DOTTED_RE.findall(item) for item in names.strip("()").split(",")) if d)
        found.append(ImportLine(len(dots or ""), module or "", imported))
    return found


@dataclass(frozen=True)
class RunFiles:
    """The Python files a run lints (their texts, as read for the lint),
    indexed by the words of their imports: the only files searched for the
    callers of a module's functions."""

    texts: dict[Path, str] = field(default_factory=dict)  # by resolved path
    by_word: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, files: Iterable[tuple[Path, str]]) -> RunFiles:
        """From (path, text) of each linted file."""
        texts: dict[Path, str] = {}
        index: dict[str, list[Path]] = {}
        for path, text in files:
            resolved = path.resolve()
            texts[resolved] = text
            for word in import_words(text):
                index.setdefault(word, []).append(resolved)
        return cls(texts, {word: tuple(paths) for word, paths in index.items()})

    _lines: dict[Path, list[ImportLine]] = field(default_factory=dict)

    def mentioning(self, name: str) -> tuple[Path, ...]:
        """The files whose import statements mention `name` (a superset of the
        files importing a module of that name)."""
        return self.by_word.get(name, ())

    def import_lines(self, path: Path) -> list[ImportLine]:
        found = self._lines.get(path)
        if found is None:
            found = self._lines[path] = import_lines(self.texts.get(path, ""))
        return found


@dataclass
class ModuleFinder:
    """Finds the file of a local module, as Python would from a script in a
    folder, and remembers each answer (a few ``stat`` calls each)."""

    _resolved: dict[tuple[Path, str, int], Path | None] = field(default_factory=dict)
    _roots: dict[str, bool] = field(default_factory=dict)  # folder -> holds a project marker

    def resolve(self, folder: Path, module: str, level: int) -> Path | None:
        """The file of local module `module` imported from a file in `folder`."""
        key = (folder, module, level)
        if key in self._resolved:
            return self._resolved[key]
        found = self._find(folder, module, level)
        if len(self._resolved) >= MAX_REMEMBERED_LOOKUPS:
            self._resolved.clear()  # cheap to recompute: a few stat calls each
            self._roots.clear()
        self._resolved[key] = found
        return found

    def _find(self, folder: Path, module: str, level: int) -> Path | None:
        # Absolute, so that `cd app && torchlint train.py` searches the parent
        # folders as `torchlint app/train.py` does (Path(".").parents is empty).
        # Strings rather than Paths: a cached run checks its files' imports here.
        base = os.path.abspath(folder)
        parts = [p for p in module.split(".") if p]
        if level == 0:
            if not parts or parts[0] in EXTERNAL:
                return None
            bases = [base]
            while len(bases) <= MAX_UP and os.path.dirname(bases[-1]) != bases[-1]:
                bases.append(os.path.dirname(bases[-1]))
        else:
            for _ in range(level - 1):
                base = os.path.dirname(base)
            bases = [base]
        for base in bases:
            candidate = os.path.join(base, *parts) if parts else base
            for path in (candidate + ".py" if parts else None, os.path.join(candidate, "__init__.py")):
                if path is not None and os.path.isfile(path):
                    return Path(path)
            if level == 0 and self._is_project_root(base):
                break  # do not search above the project root
        return None

    def _is_project_root(self, folder: str) -> bool:
        known = self._roots.get(folder)
        if known is None:
            known = self._roots[folder] = any(os.path.exists(os.path.join(folder, marker))
                                              for marker in PROJECT_MARKERS)
        return known

    def forget(self) -> None:
        """Forget every answer (a module was created or deleted)."""
        self._resolved.clear()
        self._roots.clear()
