"""Linting files in worker processes, one per core.

A small pool of our own rather than concurrent.futures: when a worker dies
(a crash in native code, the kernel's OOM killer), ProcessPoolExecutor fails
every pending file and cannot say which one killed it. Here each worker gets
a batch of files, answers after each file, and so the first unanswered file
of a dead worker's batch is the one that killed it: that file gets an error,
the rest of its batch goes to a new worker, and the run goes on.

Workers ignore Ctrl-C; the parent, which gets KeyboardInterrupt, kills them,
so an interrupted run ends at once with no traceback from any process.
Workers import what the parent imports (never torch); on Linux they are
forked, so they start with the rules already loaded.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Iterator, NamedTuple

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from torchlint.config import ConfigFinder
    from torchlint.runner import Linted, Run, Selection
    from torchlint.semantic.imports import RunFiles
    from torchlint.source import SourceFile

#: Files sent to a worker at a time: enough to make a message worth it, few
#: enough that the last batches still spread over the workers.
MAX_BATCH = 16
_BATCHES_PER_WORKER = 6


class Job(NamedTuple):
    """What every worker needs to lint like the parent would."""

    configs: ConfigFinder
    selection: Selection
    recording: bool  # record dependencies for the cache
    run_files: RunFiles | None = None  # the run's files, where callers are looked for

    def run(self) -> Run:
        """A run of its own, with a fresh project index."""
        from torchlint.recording import RecordingProject
        from torchlint.runner import Run
        from torchlint.semantic.project import Project

        return Run(configs=self.configs, selection=self.selection,
                   project=RecordingProject(run_files=self.run_files) if self.recording
                   else Project(run_files=self.run_files))


def _context() -> multiprocessing.context.BaseContext:
    # fork: workers start in milliseconds with everything imported. Elsewhere
    # (macOS, where fork is unsafe; Windows) spawn re-imports torchlint.
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _worker(conn: Connection, job: Job) -> None:
    """Lint each batch received, answering after every file; stop on None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from torchlint.runner import crash_outcome, fewer_collections, lint_recorded

    run = job.run()
    try:
        with fewer_collections():  # inherited when forked; a spawned worker sets it here
            while True:
                batch = conn.recv()
                if batch is None:
                    return
                for index, source in batch:
                    try:
                        outcome = lint_recorded(run, source)
                    except Exception as err:  # noqa: BLE001 - reported for this file, the worker goes on
                        outcome = crash_outcome(source, err)
                    try:
                        conn.send((index, outcome))
                    except (TypeError, ValueError, AttributeError) as err:  # pickling failed: nothing sent
                        conn.send((index, crash_outcome(source, err)))
    except (EOFError, OSError):  # the parent went away
        return


class _Worker:
    def __init__(self, context: multiprocessing.context.BaseContext, job: Job) -> None:
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(target=_worker, args=(child, job), daemon=True)
        # Block Ctrl-C until the worker has chosen to ignore it (it inherits the mask).
        masked = hasattr(signal, "pthread_sigmask")
        if masked:
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            if masked:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        child.close()
        self.batch: deque[int] = deque()  # indices sent and not yet answered, in order
        self.stopping = False

    def send(self, batch: list[tuple[int, SourceFile]]) -> bool:
        """False when the worker is gone and did not take the batch."""
        try:
            self.conn.send(batch)
        except OSError:
            return False
        self.batch.extend(index for index, _ in batch)
        return True

    def stop(self) -> None:
        self.stopping = True
        try:
            self.conn.send(None)
        except OSError:
            pass

    def kill(self) -> None:
        """Stop the process (at once unless it was told to stop) and reap it."""
        self.process.join(timeout=5 if self.stopping else 0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


def _how_it_ended(process: BaseProcess) -> str:
    process.join(timeout=5)
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def batch_size(files: int, jobs: int) -> int:
    return max(1, min(MAX_BATCH, files // (jobs * _BATCHES_PER_WORKER)))


def lint_in_pool(sources: list[SourceFile], job: Job, jobs: int) -> Iterator[tuple[int, Linted]]:
    """(index into `sources`, outcome) for every file, in the order they finish."""
    from torchlint.runner import died_outcome

    size = batch_size(len(sources), jobs)
    pending: deque[list[tuple[int, SourceFile]]] = deque(
        list(enumerate(sources))[start:start + size] for start in range(0, len(sources), size))
    context = _context()
    workers: list[_Worker] = []

    def give_work(worker: _Worker | None) -> None:
        """Send `worker` (or a new one) the next batch, or tell it to stop."""
        while pending:
            if worker is None:
                try:
                    worker = _Worker(context, job)
                except OSError:  # no process to be had (EAGAIN, ENOMEM): the others carry on
                    return
                workers.append(worker)
            batch = pending.popleft()
            if worker.send(batch):
                return
            pending.appendleft(batch)  # it died before taking the batch: not its fault
            retire(worker)
            worker = None
        if worker is not None:
            worker.stop()
            retire(worker)

    def retire(worker: _Worker) -> None:
        worker.kill()
        workers.remove(worker)

    try:
        for _ in range(min(jobs, len(pending))):
            give_work(None)
        while workers:
            ready = set(wait([w.conn for w in workers] + [w.process.sentinel for w in workers]))
            for worker in [w for w in workers if w.conn in ready or w.process.sentinel in ready]:
                dead = False
                try:
                    while worker.batch and worker.conn.poll():
                        index, outcome = worker.conn.recv()
                        worker.batch.popleft()
                        yield index, outcome
                except (EOFError, OSError):
                    dead = True
                dead = dead or not worker.process.is_alive()
                if worker.batch and dead:
                    # It died on the first file it had not answered; the rest go elsewhere.
                    culprit = worker.batch.popleft()
                    yield culprit, died_outcome(sources[culprit], _how_it_ended(worker.process))
                    if worker.batch:
                        pending.appendleft([(index, sources[index]) for index in worker.batch])
                    retire(worker)
                    give_work(None)
                elif not worker.batch:
                    if dead:
                        retire(worker)
                        give_work(None)
                    else:
                        give_work(worker)
        if pending:  # not a single worker could be started: lint the rest here
            yield from _lint_here([item for batch in pending for item in batch], job)
    finally:  # Ctrl-C, or an error of ours: no worker outlives the run
        for worker in list(workers):
            worker.kill()


def _lint_here(items: list[tuple[int, SourceFile]], job: Job) -> Iterator[tuple[int, Linted]]:
    from torchlint.runner import lint_recorded

    run = job.run()
    for index, source in items:
        yield index, lint_recorded(run, source)
