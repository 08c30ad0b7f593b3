"""The one thread that lints and owns the project's caches.

Jobs run one at a time, in the order they were given, so a lint never sees
half of a change to the project. A burst of edits must not queue a job per
keystroke: :meth:`LintThread.submit_latest` keeps one job per key, which
runs with the last value given before it started (each queued job would
otherwise hold its own copy of the document's text).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Hashable


class LintThread:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchlint-lint")
        self._unfinished: set[Future[Any]] = set()
        self._latest: dict[Hashable, Any] = {}  # key -> value for its job still waiting
        self._lock = threading.Lock()  # _latest is read by the thread, written by the loop

    def submit(self, job: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self._executor.submit(job, *args)
        self._unfinished.add(future)
        future.add_done_callback(self._unfinished.discard)
        return future

    def submit_latest(self, key: Hashable, job: Callable[[Any, Any], None], value: Any) -> None:
        """Run ``job(key, value)`` with the last `value` given for `key` before
        the job starts; a job already waiting for `key` takes the new value."""
        with self._lock:
            waiting = key in self._latest
            self._latest[key] = value
        if not waiting:
            self.submit(self._run_latest, key, job)

    def _run_latest(self, key: Hashable, job: Callable[[Any, Any], None]) -> None:
        with self._lock:
            value = self._latest.pop(key)
        job(key, value)

    @property
    def unfinished(self) -> int:
        """Jobs queued or running."""
        return len(self._unfinished)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
