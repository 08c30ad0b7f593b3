"""Progress of the probe on standard error: scripts done out of the total, and
what the script being probed is doing (starting torch, loading the script,
experiment k of m), read from the events its sandbox writes.

Shown only when the caller says so (standard error is a terminal and the run
is not in CI); the line is redrawn in place and erased at the end.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

WIDTH = 24
#: Seconds between two looks at the running scripts' events.
INTERVAL = 0.25


@dataclass
class Script:
    """One probed script: its name as shown, where its sandbox writes events,
    and how many experiments it runs."""

    display: str
    events: Path
    experiments: int


def stage(script: Script) -> str | None:
    """What the script's sandbox is doing now; None when it is done."""
    try:
        text = script.events.read_text(encoding="utf-8")
    except OSError:
        return "starting torch"
    started = finished = 0
    loaded = sandboxed = False
    for line in text.splitlines():
        try:
            event = json.loads(line).get("event")
        except (json.JSONDecodeError, AttributeError):
            continue
        sandboxed = sandboxed or event == "sandbox"
        loaded = loaded or event == "loaded"
        started += event == "start"
        finished += event == "result"
    if finished >= script.experiments:
        return None
    if loaded:
        number = max(started, 1)
        building = " (building the model)" if started <= 1 and finished == 0 else ""
        return f"experiment {number} of {script.experiments}{building}"
    return "loading the script" if sandboxed else "starting torch"


@dataclass
class Progress:
    total: int
    enabled: bool  # the caller decides (standard error is a terminal, not CI)
    done: int = 0
    stream: TextIO = sys.stderr
    scripts: list[Script] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _drawn: bool = False

    @property
    def shown(self) -> bool:
        return self.enabled and self.total > 0

    def start(self) -> None:
        """Redraw the line in the background while the scripts run."""
        if self.shown and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="torchlint-probe-progress",
                                            daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(INTERVAL):
            self._draw()

    def _current(self) -> str:
        for script in self.scripts:
            now = stage(script)
            if now is not None:
                return f" · {script.display}: {now}"
        return ""

    def _draw(self) -> None:
        with self._lock:
            if self._stop.is_set() and self._thread is not None and threading.current_thread() is self._thread:
                return
            filled = WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (WIDTH - filled)
            line = f"probe [{bar}] {self.done}/{self.total} scripts{self._current()}"
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self._drawn = True

    def advance(self) -> None:
        self.done += 1
        if self.shown:
            self._draw()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if self._drawn:
                self.stream.write("\r\033[K")
                self.stream.flush()
