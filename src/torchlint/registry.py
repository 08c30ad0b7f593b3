"""Rule discovery: every Rule subclass defined in a module of ``torchlint.rules``.

Rules are found by walking the package, never listed by hand, so adding a
rule means adding one file.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Union

from torchlint.rule import Rule


class UnknownRuleError(ValueError):
    pass


#: Extra rule packages, comma-separated (plugins, and the test suite's own rules).
PLUGINS_ENV = "TORCHLINT_PLUGINS"


def rule_packages() -> tuple[str, ...]:
    """The packages rules come from: ``torchlint.rules`` and those named in $TORCHLINT_PLUGINS."""
    plugins = tuple(p.strip() for p in os.environ.get(PLUGINS_ENV, "").split(",") if p.strip())
    return ("torchlint.rules", *plugins)


def discover() -> tuple[type[Rule], ...]:
    """Every rule of the :func:`rule_packages`, sorted by code."""
    return _discover(rule_packages())


@lru_cache(maxsize=None)
def _discover(packages: tuple[str, ...]) -> tuple[type[Rule], ...]:
    found: list[type[Rule]] = []
    for package in packages:
        found.extend(_rules_of(package))
    found.sort(key=lambda rule: rule.code)
    return tuple(found)


def _rules_of(package: str) -> list[type[Rule]]:
    root = importlib.import_module(package)
    modules = [root]
    if hasattr(root, "__path__"):
        modules += [importlib.import_module(info.name)
                    for info in pkgutil.iter_modules(root.__path__, prefix=f"{package}.")]
    found: list[type[Rule]] = []
    for module in modules:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
                and getattr(value, "code", None)
            ):
                found.append(value)
    return found


class RuleInfo(NamedTuple):
    """What choosing a rule takes, without importing it. The cache keeps these
    for the code it was written by (cache.py), so that a run whose files all
    come from the cache chooses its rules without importing any (a rule module
    imports the semantic layer and libcst: most of such a run's time)."""

    code: str
    name: str
    default_enabled: bool
    origin: str  # module.qualname of the class


def rule_origin(rule: type[Rule] | RuleInfo) -> str:
    """Where a rule is defined, ``torchlint.rules.missing_eval.MissingEval``."""
    return rule.origin if isinstance(rule, RuleInfo) else f"{rule.__module__}.{rule.__qualname__}"


@dataclass(frozen=True)
class RuleSet:
    """The rules a run uses, chosen from the discovered ones. Built from the
    cache's catalog, it holds :class:`RuleInfo` records instead of classes:
    enough to choose rules and key the cache, never to lint."""

    rules: tuple[Union[type[Rule], RuleInfo], ...]

    @classmethod
    def all(cls) -> RuleSet:
        return cls(discover())

    def by_code(self, code: str) -> type[Rule] | None:
        for rule in self.rules:
            if rule.code == code:
                return rule
        return None

    def lookup(self, code_or_name: str) -> type[Rule]:
        """A rule by its code (TL101) or name (missing-eval)."""
        key = code_or_name.strip()
        for rule in self.rules:
            if rule.code == key.upper() or rule.name == key.lower():
                return rule
        raise UnknownRuleError(f"unknown rule {code_or_name!r}")

    def matching(self, selector: str) -> list[type[Rule]]:
        """Rules whose code starts with `selector` (TL1, TL10, TL101) or whose name is it;
        ``ALL`` matches every rule."""
        key = selector.strip()
        if key.upper() == "ALL":
            return list(self.rules)
        matched = [r for r in self.rules if r.code.startswith(key.upper()) or r.name == key.lower()]
        if not matched:
            raise UnknownRuleError(
                f"{selector!r} matches no rule code or name (codes look like TL101; "
                "prefixes like TL1 select a group; see `torchlint rule --all`)"
            )
        return matched

    def select(self, select: list[str] | None, ignore: list[str], extend: list[str]) -> RuleSet:
        """Apply --select/--ignore/--extend-select the way ruff does."""
        if select is None:
            chosen = [r for r in self.rules if r.default_enabled]
        else:
            chosen = [r for s in select for r in self.matching(s)]
        chosen += [r for s in extend for r in self.matching(s)]
        ignored = {r for s in ignore for r in self.matching(s)}
        unique = sorted({r for r in chosen if r not in ignored}, key=lambda r: r.code)
        return RuleSet(tuple(unique))
