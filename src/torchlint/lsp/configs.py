"""``[tool.torchlint]`` for the editor: the CLI's ConfigFinder, made forgiving.

The CLI stops at a bad configuration (exit 2). An editor cannot: a file with a
bad pyproject.toml above it is linted with the defaults, and the problem is
kept in :attr:`EditorConfigs.problems` for the session to show once.
"""

from __future__ import annotations

from pathlib import Path

from torchlint.config import Config, ConfigError, ConfigFinder
from torchlint.registry import RuleSet, UnknownRuleError


class EditorConfigs:
    """Same interface as :class:`ConfigFinder` (``for_file``), never raising."""

    def __init__(self) -> None:
        self._finder = ConfigFinder()
        self._by_folder: dict[Path, Config] = {}
        self.problems: list[str] = []  # appended from the lint thread, read after each lint

    def for_file(self, file: Path | None) -> Config:
        folder = (file.parent if file else Path.cwd()).resolve()
        config = self._by_folder.get(folder)
        if config is None:
            config = self._load(file)
            self._by_folder[folder] = config
        return config

    def _load(self, file: Path | None) -> Config:
        try:
            config = self._finder.for_file(file)
        except ConfigError as err:
            self.problems.append(f"{err}; linting with the default settings until it is fixed")
            return Config()
        try:  # codes that name no rule would make every lint fail: check them once here
            ignored = [code for _, codes in config.per_file_ignores for code in codes]
            RuleSet.all().select(list(config.select) if config.select is not None else None,
                                 [*config.ignore, *ignored], list(config.extend_select))
        except UnknownRuleError as err:
            self.problems.append(f"{config.path}: [tool.torchlint] {err}; "
                                 "linting with the default settings until it is fixed")
            return Config()
        return config
