"""A one-line progress bar on standard error while several scripts are probed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

WIDTH = 24


@dataclass
class Progress:
    total: int
    enabled: bool  # the caller decides (standard error is a terminal)
    done: int = 0
    stream: TextIO = sys.stderr

    @property
    def shown(self) -> bool:
        return self.enabled and self.total > 1

    def advance(self) -> None:
        self.done += 1
        if not self.shown:
            return
        filled = WIDTH * self.done // self.total
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(f"\rprobe [{bar}] {self.done}/{self.total} scripts")
        self.stream.flush()

    def close(self) -> None:
        if self.shown and self.done:
            self.stream.write("\r\033[K")
            self.stream.flush()
