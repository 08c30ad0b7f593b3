"""``[tool.torchlint]`` in pyproject.toml: reading and validating it.

An unknown key or a value of the wrong type is an error naming the file, the
key and what is allowed (exit 2), never silently ignored.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class ProbeSettings:
    enabled: bool = False
    timeout: float = 30.0  # seconds per experiment
    script_timeout: float = 120.0  # seconds per script
    memory_mb: int = 4096  # address-space limit of the sandbox
    refuted: str = "hint"  # what the editor does with refuted findings: hint | hide | keep
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # hints per model class


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
        codes: list[str] = []
        relative = _relative(file, self.root) if file else display
        for pattern, ignored in self.per_file_ignores:
            if _glob_match(relative, pattern):
                codes.extend(ignored)
        return tuple(codes)

    def excludes(self, file: Path) -> bool:
        relative = _relative(file, self.root)
        return any(_glob_match(relative, pattern) for pattern in self.exclude)


def _relative(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file.as_posix()


def _glob_match(relative: str, pattern: str) -> bool:
    """A gitignore-like match: a pattern without a slash matches any path part."""
    pattern = pattern.rstrip("/")
    if "/" not in pattern:
        return any(fnmatch.fnmatch(part, pattern) for part in PurePosixPath(relative).parts)
    return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*") \
        or PurePosixPath(relative).match(pattern)


# -- validation ---------------------------------------------------------------

_STRING_LIST = "a list of strings"
_TOP_KEYS = {
    "select": _STRING_LIST,
    "ignore": _STRING_LIST,
    "extend-select": _STRING_LIST,
    "per-file-ignores": "a table of glob = [codes]",
    "exclude": _STRING_LIST,
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


def _strings(path: Path | str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, f"expected {_STRING_LIST}, got {value!r}")
    return tuple(value)


def _number(path: Path | str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(path, key, f"expected a positive number, got {value!r}")
    return float(value)


def _probe(path: Path | str, value: Any) -> ProbeSettings:
    if isinstance(value, bool):
        return ProbeSettings(enabled=value)
    if not isinstance(value, dict):
        raise _fail(path, "probe", f"expected {_TOP_KEYS['probe']}, got {value!r}")
    unknown = sorted(set(value) - set(_PROBE_KEYS))
    if unknown:
        raise _fail(path, f"probe.{unknown[0]}",
                    f"unknown key; allowed: {', '.join(sorted(_PROBE_KEYS))}")
    settings: dict[str, Any] = {}
    if "enabled" in value:
        if not isinstance(value["enabled"], bool):
            raise _fail(path, "probe.enabled", f"expected true or false, got {value['enabled']!r}")
        settings["enabled"] = value["enabled"]
    if "timeout" in value:
        settings["timeout"] = _number(path, "probe.timeout", value["timeout"])
    if "script-timeout" in value:
        settings["script_timeout"] = _number(path, "probe.script-timeout", value["script-timeout"])
    if "memory-mb" in value:
        settings["memory_mb"] = int(_number(path, "probe.memory-mb", value["memory-mb"]))
    if "refuted" in value:
        if value["refuted"] not in ("hint", "hide", "keep"):
            raise _fail(path, "probe.refuted", f"expected {_PROBE_KEYS['refuted']}, got {value['refuted']!r}")
        settings["refuted"] = value["refuted"]
    if "classes" in value:
        classes = value["classes"]
        if not isinstance(classes, dict):
            raise _fail(path, "probe.classes", f"expected {_PROBE_KEYS['classes']}")
        for name, hint in classes.items():
            if not isinstance(hint, dict):
                raise _fail(path, f"probe.classes.{name}", "expected a table")
            bad = sorted(set(hint) - set(_CLASS_KEYS))
            if bad:
                raise _fail(path, f"probe.classes.{name}.{bad[0]}",
                            f"unknown key; allowed: {', '.join(sorted(_CLASS_KEYS))}")
            for key in ("init", "inputs"):
                if key in hint and not isinstance(hint[key], dict):
                    raise _fail(path, f"probe.classes.{name}.{key}", "expected a table")
            if "factory" in hint and (not isinstance(hint["factory"], str) or ":" not in hint["factory"]):
                raise _fail(path, f"probe.classes.{name}.factory", 'expected "file.py:function"')
        settings["classes"] = dict(classes)
    return ProbeSettings(**settings)


def from_table(table: Any, path: Path | None) -> Config:
    where: Path | str = path or "configuration"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [tool.torchlint] must be a table")
    unknown = sorted(set(table) - set(_TOP_KEYS))
    if unknown:
        raise _fail(where, unknown[0], f"unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
    values: dict[str, Any] = {"path": path}
    if "select" in table:
        values["select"] = _strings(where, "select", table["select"])
    if "ignore" in table:
        values["ignore"] = _strings(where, "ignore", table["ignore"])
    if "extend-select" in table:
        values["extend_select"] = _strings(where, "extend-select", table["extend-select"])
    if "exclude" in table:
        values["exclude"] = _strings(where, "exclude", table["exclude"])
    if "per-file-ignores" in table:
        raw = table["per-file-ignores"]
        if not isinstance(raw, dict):
            raise _fail(where, "per-file-ignores", f"expected {_TOP_KEYS['per-file-ignores']}")
        values["per_file_ignores"] = tuple(
            (pattern, _strings(where, f"per-file-ignores.{pattern!r}", codes))
            for pattern, codes in raw.items()
        )
    if "probe" in table:
        values["probe"] = _probe(where, table["probe"])
    return Config(**values)


def load(path: Path) -> Config:
    """Read `path` (a pyproject.toml or a torchlint.toml)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: invalid TOML ({err})") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("torchlint", {})
    else:
        table = data.get("tool", {}).get("torchlint", data)
    return from_table(table, path)


def has_section(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "[tool.torchlint" in text


class ConfigFinder:
    """The nearest pyproject.toml with a [tool.torchlint] section above each file."""

    def __init__(self, explicit: Path | None = None) -> None:
        self._explicit = load(explicit) if explicit else None
        self._by_folder: dict[Path, Config] = {}

    def for_file(self, file: Path | None) -> Config:
        if self._explicit is not None:
            return self._explicit
        folder = (file.parent if file else Path.cwd()).resolve()
        return self._for_folder(folder)

    def _for_folder(self, folder: Path) -> Config:
        if folder in self._by_folder:
            return self._by_folder[folder]
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and has_section(candidate):
            config = load(candidate)
        elif folder.parent != folder:
            config = self._for_folder(folder.parent)
        else:
            config = Config()
        self._by_folder[folder] = config
        return config
