"""Which files a run lints: paths given, folders walked.

Folders are walked recursively, skipping version control, virtual
environments, build output, caches and what ``exclude`` and ``.gitignore``
name. Symbolic links to folders are not followed, so a link loop cannot
trap the walk.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.config import ConfigFinder

SKIPPED_FOLDERS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", ".tox", ".nox", "build", "dist",
        "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        ".torchlint_cache", ".ipynb_checkpoints", "site-packages", ".eggs",
    }
)
SUFFIXES = (".py", ".pyi", ".ipynb")


@dataclass(frozen=True)
class Target:
    path: Path
    display: str


@dataclass
class Discovery:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # paths that do not exist, loops


class _GitIgnore:
    """The patterns of the .gitignore files met while walking (no negation)."""

    def __init__(self) -> None:
        self._patterns: dict[Path, list[str]] = {}

    def load(self, folder: Path) -> None:
        ignore = folder / ".gitignore"
        patterns: list[str] = []
        if ignore.is_file():
            try:
                for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines():
                    line = line.strip()
                    if line and not line.startswith(("#", "!")):
                        patterns.append(line)
            except OSError:
                pass
        self._patterns[folder] = patterns

    def ignores(self, path: Path, is_dir: bool) -> bool:
        for folder, patterns in self._patterns.items():
            if not patterns:
                continue
            try:
                relative = path.relative_to(folder).as_posix()
            except ValueError:
                continue
            for pattern in patterns:
                directory_only = pattern.endswith("/")
                pattern = pattern.rstrip("/")
                if directory_only and not is_dir:
                    continue
                if pattern.startswith("/"):
                    if fnmatch.fnmatch(relative, pattern[1:]):
                        return True
                elif "/" in pattern:
                    if fnmatch.fnmatch(relative, pattern):
                        return True
                elif fnmatch.fnmatch(path.name, pattern):
                    return True
        return False


def _is_linted_file(path: Path) -> bool:
    return path.suffix in SUFFIXES


def discover(paths: list[str], configs: ConfigFinder, *, force: bool = False) -> Discovery:
    """Expand `paths` into the files to lint. A file named explicitly is linted
    even when a folder rule would skip it (as ruff does), unless excluded."""
    found = Discovery()
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            if path.is_symlink():
                found.errors.append(f"{given}: broken symbolic link")
            else:
                found.errors.append(f"{given}: no such file or folder")
            continue
        if path.is_file():
            resolved = path.resolve()
            if resolved not in seen and (force or not configs.for_file(path).excludes(path)):
                seen.add(resolved)
                found.targets.append(Target(path, given))
            continue
        ignore = _GitIgnore()
        visited: set[tuple[int, int]] = set()
        for folder, dirs, files in os.walk(path, followlinks=False):
            here = Path(folder)
            stat = here.stat()
            key = (stat.st_dev, stat.st_ino)
            if key in visited:
                found.errors.append(f"{folder}: folder visited twice (symbolic link loop); skipped")
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
                if (sub / "pyvenv.cfg").exists():  # a virtual environment of any name
                    continue
                if config.excludes(sub) or ignore.ignores(sub, True):
                    continue
                kept.append(name)
            dirs[:] = kept
            for name in sorted(files):
                file = here / name
                if not _is_linted_file(file) or ignore.ignores(file, False):
                    continue
                if config.excludes(file):
                    continue
                resolved = file.resolve()
                if resolved in seen:
                    continue
                seen.add(resolved)
                display = file.as_posix() if given not in (".", "./") else file.relative_to(".").as_posix()
                found.targets.append(Target(file, display))
    return found
