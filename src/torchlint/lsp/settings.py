"""The client's settings for torchlint, from initializationOptions or
workspace/didChangeConfiguration.

Settings may come bare or under a ``torchlint`` key. A change names the
settings it changes; the others keep what initializationOptions said (a
client that sends other tools' sections, or nothing, changes nothing). A bad
value is reported (the caller shows it once) and that setting keeps its
default; the others still apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchlint.registry import RuleSet, UnknownRuleError
from torchlint.runner import Selection

REFUTED_MODES = ("hint", "hide", "keep")
DEFAULT_DEBOUNCE_MS = 200

#: Setting name -> what it takes, for messages about bad values.
KNOWN = {
    "select": "a list of codes or prefixes",
    "ignore": "a list of codes or prefixes",
    "extendSelect": "a list of codes or prefixes",
    "unsafeFixes": "true or false",
    "probeOnSave": "true or false",
    "refuted": '"hint", "hide" or "keep"',
    "debounce": "milliseconds (a number >= 0)",
}


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] | None = None  # None: the configuration's select
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    probe_on_save: bool = False
    refuted: str | None = None  # None: [tool.torchlint.probe] refuted
    debounce_ms: float = DEFAULT_DEBOUNCE_MS

    @property
    def selection(self) -> Selection:
        """The rule choice, as the CLI's --select/--ignore/--extend-select would make it."""
        return Selection(select=self.select, ignore=self.ignore, extend_select=self.extend_select)

    @property
    def debounce(self) -> float:
        return self.debounce_ms / 1000


def _codes(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(v.strip() for v in value if v.strip())


def section(raw: Any) -> Any:
    """torchlint's part of a settings payload: the ``torchlint`` key when there
    is one, the payload when it names torchlint settings, else None."""
    if isinstance(raw, dict):
        if isinstance(raw.get("torchlint"), dict):
            return raw["torchlint"]
        if raw and not set(raw) & set(KNOWN) and all(isinstance(v, dict) for v in raw.values()):
            return None  # only other tools' sections
    return raw or None


def parse(raw: Any) -> tuple[Settings, list[str]]:
    """The settings in `raw` (already :func:`section`-ed), and one message per bad value."""
    if raw is None:
        return Settings(), []
    if not isinstance(raw, dict):
        return Settings(), [f"torchlint settings: expected an object, got {raw!r}; using defaults"]
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KNOWN:
            problems.append(f"torchlint settings: unknown setting {key!r} ignored; "
                            f"known: {', '.join(KNOWN)}")
            continue
        if value is None:
            continue
        bad = f"torchlint settings: {key}: expected {KNOWN[key]}, got {value!r}; using the default"
        if key in ("select", "ignore", "extendSelect"):
            codes = _codes(value)
            problem = None if codes is None else _unknown_code(codes)
            if codes is None or problem:
                problems.append(f"torchlint settings: {key}: {problem}; using the default"
                                if problem else bad)
                continue
            values[{"extendSelect": "extend_select"}.get(key, key)] = codes
        elif key in ("unsafeFixes", "probeOnSave"):
            if not isinstance(value, bool):
                problems.append(bad)
                continue
            values["unsafe_fixes" if key == "unsafeFixes" else "probe_on_save"] = value
        elif key == "refuted":
            if value not in REFUTED_MODES:
                problems.append(bad)
                continue
            values["refuted"] = value
        elif key == "debounce":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                problems.append(bad)
                continue
            values["debounce_ms"] = float(value)
    return Settings(**values), problems


def _unknown_code(codes: tuple[str, ...]) -> str | None:
    rules = RuleSet.all()
    for code in codes:
        try:
            rules.matching(code)
        except UnknownRuleError as err:
            return str(err)
    return None
