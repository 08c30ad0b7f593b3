"""Which files a run lints: paths given, folders walked.

Folders are walked recursively for ``.py``, ``.pyi`` and ``.ipynb`` files,
skipping version control, virtual environments (any folder holding a
``pyvenv.cfg``), build output, caches, and what ``exclude`` and
``.gitignore`` name. Symbolic links to folders are not followed, so a link
loop cannot trap the walk. A file named on the command line is linted
whatever its suffix and whatever .gitignore says, unless ``exclude`` names it
(so pre-commit, which passes file names, honours ``exclude``).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import NamedTuple

from torchlint.config import ConfigFinder, compile_glob

SKIPPED_FOLDERS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "build", "dist",
        "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        ".torchlint_cache", ".ipynb_checkpoints", "site-packages", ".eggs",
    }
)
SUFFIXES = (".py", ".pyi", ".ipynb")


class Target(NamedTuple):
    path: Path
    display: str


class Discovery(NamedTuple):
    targets: list[Target]
    errors: list[str]  # paths that do not exist, link loops


# -- .gitignore ----------------------------------------------------------------


class IgnoreRule(NamedTuple):
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def parse_gitignore(text: str) -> list[IgnoreRule]:
    """The rules of one .gitignore file, in order (the last match wins)."""
    rules: list[IgnoreRule] = []
    for line in text.splitlines():
        stripped = line.rstrip(" \t")
        if stripped.endswith("\\") and len(stripped) < len(line):
            stripped += " "  # "\ " keeps one trailing space
        if not stripped or stripped.startswith("#"):
            continue
        negated = stripped.startswith("!")
        if negated:
            stripped = stripped[1:]
        directory_only = stripped.endswith("/")
        if not stripped.strip("/"):
            continue
        rules.append(IgnoreRule(compile_glob(stripped, covers_contents=False), negated, directory_only))
    return rules


def _read_rules(file: Path) -> list[IgnoreRule]:
    try:
        return parse_gitignore(file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


class GitIgnore:
    """The .gitignore files that apply to one walk: those met on the way down,
    and those of the folders between the repository root and the walk's root.

    Rules are matched against the path relative to the folder of their file;
    deeper files come later, and the last matching rule decides, as in git.
    A file inside an ignored folder is never reached, so (as in git) a ``!``
    rule cannot bring it back.
    """

    def __init__(self, root: Path) -> None:
        self._rules: dict[Path, list[IgnoreRule]] = {}
        # .git/info/exclude: rules relative to the repository root, before its .gitignore
        self._info_exclude: tuple[Path, list[IgnoreRule]] | None = None
        root = Path(os.path.abspath(root))
        repository = next((folder for folder in (root, *root.parents)
                           if (folder / ".git").exists()), None)
        if repository is not None:
            self._info_exclude = (repository, _read_rules(repository / ".git" / "info" / "exclude"))
            for folder in reversed(root.relative_to(repository).parents):
                self.load(repository / folder)

    def load(self, folder: Path) -> None:
        folder = Path(os.path.abspath(folder))
        if folder not in self._rules:
            self._rules[folder] = _read_rules(folder / ".gitignore")

    def ignores(self, path: Path, is_dir: bool) -> bool:
        path = Path(os.path.abspath(path))
        layers = [(folder, self._rules.get(folder)) for folder in reversed(path.parents)]
        if self._info_exclude is not None and self._info_exclude[0] in path.parents:
            layers.insert(0, self._info_exclude)
        verdict = False
        for folder, rules in layers:
            if not rules:
                continue
            relative = path.relative_to(folder).as_posix()
            for rule in rules:
                if rule.directory_only and not is_dir:
                    continue
                if rule.regex.match(relative):
                    verdict = not rule.negated
        return verdict


# -- the walk ------------------------------------------------------------------


def _link_problem(path: Path, given: str) -> str | None:
    """Why a path that does not exist is unusable: a loop or a dangling link."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f"{given}: symbolic link loop; nothing to lint"
        if path.is_symlink():
            return f"{given}: broken symbolic link (its target does not exist)"
        if err.errno == errno.EACCES:
            return f"{given}: permission denied"
        return f"{given}: no such file or folder"
    return None


def _is_virtualenv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def discover(paths: list[str], configs: ConfigFinder, *, force: bool = False) -> Discovery:
    """Expand `paths` into the files to lint. With `force`, ``exclude`` does not
    apply to files named explicitly."""
    found = Discovery(targets=[], errors=[])
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        problem = _link_problem(path, given)
        if problem is not None:
            found.errors.append(problem)
            continue
        if not path.is_dir():
            real = os.path.realpath(path)
            if real not in seen and (force or not configs.for_file(path).excludes(path)):
                seen.add(real)
                found.targets.append(Target(path, given))
            continue
        _walk(path, configs, found, seen)
    return found


def _walk(root: Path, configs: ConfigFinder, found: Discovery, seen: set[str]) -> None:
    first = len(found.targets)
    _walk_unsorted(root, configs, found, seen)
    found.targets[first:] = sorted(found.targets[first:], key=lambda target: target.path.parts)


def _walk_unsorted(root: Path, configs: ConfigFinder, found: Discovery, seen: set[str]) -> None:
    ignore = GitIgnore(root)
    visited: set[tuple[int, int]] = set()

    def unreadable(err: OSError) -> None:
        found.errors.append(f"{Path(err.filename).as_posix()}: cannot read folder ({err.strerror})")

    for folder, dirs, files in os.walk(root, followlinks=False, onerror=unreadable):
        here = Path(folder)
        stat = here.stat()
        key = (stat.st_dev, stat.st_ino)
        if key in visited:  # a bind mount or similar brought us back
            dirs[:] = []
            continue
        visited.add(key)
        ignore.load(here)
        config = configs.for_file(here / "__init__.py")
        kept = []
        for name in sorted(dirs):
            sub = here / name
            if name in SKIPPED_FOLDERS or name.endswith(".egg-info") or sub.is_symlink():
                continue
            if _is_virtualenv(sub) or config.excludes(sub) or ignore.ignores(sub, True):
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            file = here / name
            if file.suffix not in SUFFIXES or ignore.ignores(file, False) or config.excludes(file):
                continue
            if file.is_symlink():
                problem = _link_problem(file, file.as_posix())
                if problem is not None:
                    found.errors.append(problem)
                    continue
            real = os.path.realpath(file)
            if real in seen:
                continue
            seen.add(real)
            found.targets.append(Target(file, file.as_posix()))
