"""``[tool.torchlint]`` in pyproject.toml: finding it, reading it, validating it.

Each linted file uses the nearest ``pyproject.toml`` above it that has a
``[tool.torchlint]`` table (or the file given with ``--config``). An unknown
key, a value of the wrong type or a rule code that names no rule is an error
naming the file, the key and what is allowed (exit 2), never silently ignored.

Paths in ``exclude`` and ``per-file-ignores`` are globs relative to the folder
of the pyproject.toml, in .gitignore's language (see :func:`compile_glob`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class ProbeSettings:
    enabled: bool = False
    timeout: float = 30.0  # seconds per experiment
    script_timeout: float = 120.0  # seconds per script
    memory_mb: int = 4096  # address space the sandboxed script may add to what Python and torch map
    refuted: str = "hint"  # what the editor does with refuted findings: hint | hide | keep
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # hints per model class

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "timeout": self.timeout,
                "script-timeout": self.script_timeout, "memory-mb": self.memory_mb,
                "refuted": self.refuted, "classes": self.classes}


@dataclass(frozen=True)
class Config:
    path: Path | None = None  # the pyproject.toml read, if any
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    probe: ProbeSettings = ProbeSettings()

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def ignored_for(self, file: Path | None, display: str) -> tuple[str, ...]:
        """Codes that per-file-ignores turns off for this file."""
        if not self.per_file_ignores:  # the common case, asked once per file: skip the path work
            return ()
        codes: list[str] = []
        relative = _relative(file, self.root) if file else display
        for pattern, ignored in self.per_file_ignores:
            if path_matches(relative, pattern):
                codes.extend(ignored)
        return tuple(codes)

    def excludes(self, file: Path) -> bool:
        if not self.exclude:
            return False
        relative = _relative(file, self.root)
        return any(path_matches(relative, pattern) for pattern in self.exclude)

    def to_json(self) -> dict[str, Any]:
        """The settings as ``torchlint --show-settings`` prints them."""
        return {
            "config": str(self.path) if self.path else None,
            "select": list(self.select) if self.select is not None else None,
            "ignore": list(self.ignore),
            "extend-select": list(self.extend_select),
            "per-file-ignores": {pattern: list(codes) for pattern, codes in self.per_file_ignores},
            "exclude": list(self.exclude),
            "probe": self.probe.to_json(),
        }


def _relative(file: Path, root: Path) -> str:
    try:
        return Path(os.path.abspath(file)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        pass
    try:  # through symbolic links
        return file.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return file.as_posix()


# -- globs ---------------------------------------------------------------------


@lru_cache(maxsize=None)
def compile_glob(pattern: str, covers_contents: bool = True) -> re.Pattern[str]:
    """A .gitignore-style glob as a regex over a relative POSIX path.

    ``*`` and ``?`` never cross a ``/``; ``**/x`` matches x in any folder,
    ``x/**`` everything inside x, ``a/**/b`` zero or more folders between. A
    pattern with no ``/`` but a trailing one matches at any depth; one with a
    ``/`` at its start or in its middle is anchored to the base folder. The
    regex also matches everything inside a matching folder. (A trailing ``/``
    and ``!`` negation are the caller's business: see files.GitIgnore.)
    """
    anchored = "/" in pattern.rstrip("/")
    body = pattern.strip("/") if anchored else pattern.rstrip("/")
    if body.startswith("**/"):
        anchored = True  # "**/" already says "at any depth"
    regex = _translate(body)
    prefix = "^" if anchored else "^(?:.*/)?"
    suffix = "(?:/.*)?$" if covers_contents else "$"
    return re.compile(f"{prefix}{regex}{suffix}", re.DOTALL)


def _translate(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        if char == "*":
            if glob.startswith("**", i):
                before_ok = i == 0 or glob[i - 1] == "/"
                after = i + 2
                if before_ok and after == n:  # trailing "/**": everything inside
                    out.append(".*")
                    i = after
                    continue
                if before_ok and glob.startswith("/", after):  # "**/": zero or more folders
                    out.append("(?:.*/)?")
                    i = after + 1
                    continue
                out.append("[^/]*")  # other runs of stars are one star
                while i < n and glob[i] == "*":
                    i += 1
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = glob.find("]", i + 2 if glob.startswith(("[!", "[^"), i) else i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                inside = glob[i + 1:end]
                if inside[:1] in ("!", "^"):
                    inside = "^" + inside[1:]
                out.append("[" + inside.replace("\\", "\\\\") + "]")
                i = end
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def path_matches(relative: str, pattern: str) -> bool:
    """Does `pattern` name `relative` (a POSIX path) or a folder that holds it?"""
    return compile_glob(pattern).match(relative) is not None


# -- validation ---------------------------------------------------------------

_STRING_LIST = "a list of strings"
_CODE_LIST = 'a list of rule codes, prefixes or names (e.g. ["TL101", "TL2"])'
_TOP_KEYS = {
    "select": _CODE_LIST,
    "ignore": _CODE_LIST,
    "extend-select": _CODE_LIST,
    "per-file-ignores": 'a table of glob = [codes] (e.g. "tests/*" = ["TL101"])',
    "exclude": 'a list of globs (e.g. ["legacy/", "*_pb2.py"])',
    "probe": "true/false or a table",
}
_PROBE_KEYS = {
    "enabled": "true/false",
    "timeout": "seconds (a number)",
    "script-timeout": "seconds (a number)",
    "memory-mb": "megabytes (an integer)",
    "refuted": '"hint", "hide" or "keep"',
    "classes": "a table of class name = { init, inputs, factory }",
}
_CLASS_KEYS = {"init": "a table", "inputs": "a table", "factory": '"file.py:function"'}


def _fail(path: Path | str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: [tool.torchlint] {key}: {message}")


def _unknown(path: Path | str, key: str, allowed: dict[str, str]) -> ConfigError:
    return _fail(path, key, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _strings(path: Path | str, key: str, value: Any, expected: str = _STRING_LIST) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, f"expected {expected}, got {_show(value)}")
    return tuple(value)


def _codes(path: Path | str, key: str, value: Any) -> tuple[str, ...]:
    codes = _strings(path, key, value, _CODE_LIST)
    from torchlint.registry import RuleSet, UnknownRuleError

    rules = RuleSet.all()
    for code in codes:
        try:
            rules.matching(code)
        except UnknownRuleError:
            raise _fail(path, key, f"{code!r} matches no rule code or name "
                                   "(see `torchlint rule --all`)") from None
    return codes


def _show(value: Any) -> str:
    """A TOML value as the user wrote it, roughly (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _number(path: Path | str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(path, key, f"expected a positive number, got {_show(value)}")
    return float(value)


def _probe(path: Path | str, value: Any) -> ProbeSettings:
    if isinstance(value, bool):
        return ProbeSettings(enabled=value)
    if not isinstance(value, dict):
        raise _fail(path, "probe", f"expected {_TOP_KEYS['probe']}, got {_show(value)}")
    unknown = sorted(set(value) - set(_PROBE_KEYS))
    if unknown:
        raise _unknown(path, f"probe.{unknown[0]}", _PROBE_KEYS)
    settings: dict[str, Any] = {}
    if "enabled" in value:
        if not isinstance(value["enabled"], bool):
            raise _fail(path, "probe.enabled", f"expected true or false, got {_show(value['enabled'])}")
        settings["enabled"] = value["enabled"]
    if "timeout" in value:
        settings["timeout"] = _number(path, "probe.timeout", value["timeout"])
    if "script-timeout" in value:
        settings["script_timeout"] = _number(path, "probe.script-timeout", value["script-timeout"])
    if "memory-mb" in value:
        memory = value["memory-mb"]
        if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
            raise _fail(path, "probe.memory-mb", f"expected a positive integer, got {_show(memory)}")
        settings["memory_mb"] = memory
    if "refuted" in value:
        if value["refuted"] not in ("hint", "hide", "keep"):
            raise _fail(path, "probe.refuted",
                        f"expected {_PROBE_KEYS['refuted']}, got {_show(value['refuted'])}")
        settings["refuted"] = value["refuted"]
    if "classes" in value:
        settings["classes"] = _classes(path, value["classes"])
    return ProbeSettings(**settings)


def _classes(path: Path | str, classes: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(classes, dict):
        raise _fail(path, "probe.classes", f"expected {_PROBE_KEYS['classes']}, got {_show(classes)}")
    for name, hint in classes.items():
        where = f"probe.classes.{name}"
        if not isinstance(hint, dict):
            raise _fail(path, where, f"expected a table with {', '.join(_CLASS_KEYS)}, got {_show(hint)}")
        bad = sorted(set(hint) - set(_CLASS_KEYS))
        if bad:
            raise _unknown(path, f"{where}.{bad[0]}", _CLASS_KEYS)
        for key in ("init", "inputs"):
            if key in hint and not isinstance(hint[key], dict):
                raise _fail(path, f"{where}.{key}", f"expected a table, got {_show(hint[key])}")
        if "inputs" in hint:
            for argument, spec in hint["inputs"].items():
                if not isinstance(spec, str):
                    raise _fail(path, f"{where}.inputs.{argument}",
                                f'expected a string such as "float[B,T,D]", got {_show(spec)}')
        factory = hint.get("factory")
        if factory is not None and (not isinstance(factory, str) or ":" not in factory):
            raise _fail(path, f"{where}.factory", f'expected "file.py:function", got {_show(factory)}')
    return dict(classes)


def from_table(table: Any, path: Path | None) -> Config:
    where: Path | str = path or "configuration"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [tool.torchlint] must be a table")
    unknown = sorted(set(table) - set(_TOP_KEYS))
    if unknown:
        raise _unknown(where, unknown[0], _TOP_KEYS)
    values: dict[str, Any] = {"path": path}
    if "select" in table:
        values["select"] = _codes(where, "select", table["select"])
    if "ignore" in table:
        values["ignore"] = _codes(where, "ignore", table["ignore"])
    if "extend-select" in table:
        values["extend_select"] = _codes(where, "extend-select", table["extend-select"])
    if "exclude" in table:
        values["exclude"] = _strings(where, "exclude", table["exclude"], _TOP_KEYS["exclude"])
    if "per-file-ignores" in table:
        raw = table["per-file-ignores"]
        if not isinstance(raw, dict):
            raise _fail(where, "per-file-ignores",
                        f"expected {_TOP_KEYS['per-file-ignores']}, got {_show(raw)}")
        values["per_file_ignores"] = tuple(
            (pattern, _codes(where, f'per-file-ignores."{pattern}"', codes))
            for pattern, codes in raw.items()
        )
    if "probe" in table:
        values["probe"] = _probe(where, table["probe"])
    return Config(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text, as TOML must be") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML ({err})") from None


def _torchlint_table(data: dict[str, Any], path: Path) -> Any:
    """The [tool.torchlint] table, or None. A file not named pyproject.toml may
    also hold the settings at its top level (``--config torchlint.toml``)."""
    tool = data.get("tool")
    if isinstance(tool, dict) and "torchlint" in tool:
        return tool["torchlint"]
    if path.name != "pyproject.toml" and "tool" not in data:
        return data
    return None


def load(path: Path) -> Config:
    """Read `path` (a pyproject.toml, or a TOML file given with --config)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; --config takes a pyproject.toml")
    table = _torchlint_table(_read_toml(path), path)
    return from_table(table if table is not None else {}, path)


class ConfigFinder:
    """The nearest pyproject.toml with a [tool.torchlint] table above each file."""

    def __init__(self, explicit: Path | None = None) -> None:
        self._explicit = load(explicit) if explicit else None
        self._by_folder: dict[Path, Config] = {}
        # By the folder as written: for_file is asked several times per linted
        # file, and making absolute Paths dominated a run read from the cache.
        self._by_parent: dict[str, Config] = {}

    def for_file(self, file: Path | None) -> Config:
        if self._explicit is not None:
            return self._explicit
        parent = os.path.dirname(file) if file is not None else None
        found = self._by_parent.get(parent) if parent is not None else None
        if found is None:
            folder = Path(os.path.abspath(file.parent if file else Path.cwd()))
            found = self._for_folder(folder)
            if parent is not None:
                self._by_parent[parent] = found
        return found

    def _for_folder(self, folder: Path) -> Config:
        found = self._by_folder.get(folder)
        if found is not None:
            return found
        config = self._here(folder / "pyproject.toml")
        if config is None:
            config = self._for_folder(folder.parent) if folder.parent != folder else Config()
        self._by_folder[folder] = config
        return config

    @staticmethod
    def _here(candidate: Path) -> Config | None:
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:  # no such file (the common case), or a folder of that name
            return None
        if "torchlint" not in text:  # most pyproject.toml files: skip parsing them
            return None
        table = _torchlint_table(_read_toml(candidate), candidate)
        return None if table is None else from_table(table, candidate)
