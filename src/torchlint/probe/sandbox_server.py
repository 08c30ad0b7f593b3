"""The probe server: imports torch once, then runs one sandbox child per script.

Started by the launcher as ``python -B sandbox_server.py WORKDIR`` in the
user's interpreter, with a scrubbed environment. It never imports torchlint:
its sibling ``sandbox_*`` modules are loaded as the private package
``_torchlint_sandbox``.

Protocol: the launcher writes one job file path per line on standard input
(end of input: no more jobs). The server answers on standard output with one
JSON line per event: ``{"event": "ready", ...}`` once torch is imported,
``{"event": "done", "job": N}`` when a job's results file is complete, or
``{"event": "error", "reason": ..., "detail": ...}`` if it cannot start.

Where the platform allows (Linux), each child is *forked* from this process,
so it starts with torch already imported (a few milliseconds instead of
seconds); elsewhere it is spawned as ``sandbox_server.py --child ...``. The
server supervises its children: a hard wall-clock limit per experiment and
per script (SIGKILL to the child's process group), a verdict for the
experiment that was running when a child died, and a new child for the
experiments still to run.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "_torchlint_sandbox"
GRACE_SECONDS = 3.0  # after the child's own alarm, before SIGKILL
POLL_SECONDS = 0.01


def _register_package() -> None:
    """Make the sandbox modules importable as ``_torchlint_sandbox.<name>``
    without putting this folder on sys.path (user modules keep their names)."""
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [_HERE]
        sys.modules[PACKAGE] = package


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def start_method() -> str:
    forced = os.environ.get("TORCHLINT_PROBE_START")
    if forced in ("fork", "spawn"):
        return forced
    return "fork" if sys.platform.startswith("linux") and hasattr(os, "fork") else "spawn"


@dataclass
class Child:
    job_index: int
    job_path: str
    job: dict[str, Any]
    results_path: str
    attempt: int
    pid: int = 0
    process: Any = None  # subprocess.Popen in spawn mode
    started: float = 0.0
    offset: int = 0
    current: int | None = None  # id of the experiment running
    current_since: float = 0.0
    finished: set[int] = field(default_factory=set)
    loaded: bool = False
    killed_for: str | None = None


@dataclass
class JobState:
    index: int
    path: str
    job: dict[str, Any]
    started: float
    attempts: int = 0
    done: set[int] = field(default_factory=set)


class Server:
    def __init__(self, workdir: str, start: str, parallel: int) -> None:
        self.workdir = workdir
        self.start = start
        self.parallel = parallel
        self.pending: list[str] = []
        self.children: list[Child] = []
        self.jobs: dict[int, JobState] = {}
        self.input_closed = False
        self._input = b""

    # -- jobs in ---------------------------------------------------------------------

    def read_input(self, timeout: float) -> None:
        """Take the job paths the launcher has written so far (never blocking
        longer than `timeout` where select works on pipes)."""
        if self.input_closed:
            return
        fd = sys.stdin.fileno()
        try:
            import select

            ready, _, _ = select.select([fd], [], [], timeout)
        except (OSError, ValueError):  # Windows: select does not take pipes
            ready = [fd]
        if not ready:
            return
        data = os.read(fd, 65536)
        if not data:
            self.input_closed = True
            data = b"\n"
        self._input += data
        *lines, self._input = self._input.split(b"\n")
        self.pending.extend(line.decode().strip() for line in lines if line.strip())

    # -- children ----------------------------------------------------------------------

    def launch(self, state: JobState) -> None:
        state.attempts += 1
        rundir = os.path.join(os.path.dirname(state.path), f"run-{state.attempts}")
        results = os.path.join(os.path.dirname(state.path), "results.jsonl")
        os.makedirs(rundir, exist_ok=True)
        child = Child(state.index, state.path, state.job, results, state.attempts,
                      started=time.monotonic(), finished=set(state.done))
        sys.stdout.flush()
        sys.stderr.flush()
        if self.start == "fork":
            pid = os.fork()
            if pid == 0:
                from _torchlint_sandbox import sandbox_child

                sandbox_child.enter(state.path, results, rundir, "fork", set(state.done))
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass
            child.pid = pid
        else:
            import subprocess

            skip = ",".join(str(i) for i in sorted(state.done))
            command = [sys.executable, "-B", os.path.join(_HERE, "sandbox_server.py"), "--child",
                       state.path, results, rundir, skip]
            child.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=rundir,
                                             start_new_session=hasattr(os, "setsid"))
            child.pid = child.process.pid
        self.children.append(child)

    def kill(self, child: Child, why: str) -> None:
        if child.killed_for is None:
            child.killed_for = why
        try:
            if hasattr(os, "killpg"):
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.process.kill()
        except (ProcessLookupError, PermissionError, OSError):
            try:
                os.kill(child.pid, signal.SIGKILL)
            except OSError:
                pass

    def sweep(self, child: Child) -> None:
        """After a child ended: kill what is left of its process group, so that
        nothing it started (past the sandbox's refusals) outlives it. The
        group's id cannot be reused while any member lives."""
        if hasattr(os, "killpg"):
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except OSError:
                pass

    def read_events(self, child: Child) -> None:
        try:
            with open(child.results_path, encoding="utf-8") as handle:
                handle.seek(child.offset)
                data = handle.read()
        except OSError:
            return
        complete = data[: data.rfind("\n") + 1]
        child.offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = event.get("event")
            if kind == "loaded":
                child.loaded = True
            elif kind == "start":
                child.current = event["id"]
                child.current_since = time.monotonic()
            elif kind == "result":
                child.finished.add(event["id"])
                if child.current == event["id"]:
                    child.current = None

    def exited(self, child: Child) -> int | None:
        """The wait status once the child has ended, else None."""
        if child.process is not None:
            code = child.process.poll()
            if code is None:
                return None
            return -code if code < 0 else code << 8  # like os.waitpid's status
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        return status if pid else None

    def check_deadlines(self, child: Child, now: float) -> None:
        settings = child.job["settings"]
        state = self.jobs[child.job_index]
        if now - state.started > float(settings["script_timeout"]) + GRACE_SECONDS:
            self.kill(child, "script_timeout")
        elif child.current is not None and \
                now - child.current_since > float(settings["timeout"]) + GRACE_SECONDS:
            self.kill(child, "timeout")
        elif child.current is None and not child.loaded and \
                now - child.started > float(settings["timeout"]) * 2 + GRACE_SECONDS:
            self.kill(child, "timeout")

    # -- results for what a dead child left unfinished ---------------------------------------

    def _write(self, child: Child, ident: int, reason: str, detail: str) -> None:
        result = {"event": "result", "id": ident, "verdict": "inconclusive", "reason": reason,
                  "evidence": {"summary": detail}, "assumptions": {}}
        with open(child.results_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
        child.finished.add(ident)

    def settle(self, child: Child, status: int) -> None:
        """Record verdicts for what the child did not finish; start another child
        for the rest when there is time left."""
        self.read_events(child)
        state = self.jobs[child.job_index]
        state.done |= child.finished
        settings = child.job["settings"]
        remaining = [e["id"] for e in child.job["experiments"] if e["id"] not in state.done]
        if not remaining:
            return
        reason, detail = _death(child, status, settings)
        if child.killed_for == "script_timeout":
            for ident in remaining:
                self._write(child, ident, "timeout",
                            f"the script's probe ran past its {float(settings['script_timeout']):g} s "
                            "limit before this experiment finished")
            state.done |= set(remaining)
            return
        if child.current is not None:
            self._write(child, child.current, reason, detail)
            state.done.add(child.current)
        elif not child.loaded:
            if child.killed_for == "timeout":
                detail = (f"loading the script's definitions ran past "
                          f"{2 * float(settings['timeout']):g} s and its process was killed")
            else:
                detail = f"loading the script's definitions: {detail}"
            for ident in remaining:  # the script's definitions never finished loading
                self._write(child, ident, "load_failed" if reason == "experiment_error" else reason,
                            detail)
            state.done |= set(remaining)
            return
        else:
            first = remaining[0]
            self._write(child, first, reason, detail)
            state.done.add(first)
        if any(e["id"] not in state.done for e in child.job["experiments"]):
            self.launch(state)

    # -- the loop ----------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            self.read_input(0 if (self.pending or self.children) else 0.2)
            while self.pending and len(self.children) < self.parallel:
                path = self.pending.pop(0)
                try:
                    with open(path, encoding="utf-8") as handle:
                        job = json.load(handle)
                except (OSError, json.JSONDecodeError) as err:
                    _emit({"event": "error", "reason": "load_failed", "detail": f"{path}: {err}"})
                    continue
                state = JobState(job["index"], path, job, time.monotonic())
                self.jobs[state.index] = state
                self.launch(state)
            now = time.monotonic()
            for child in list(self.children):
                self.read_events(child)
                status = self.exited(child)
                if status is None:
                    self.check_deadlines(child, now)
                    continue
                self.children.remove(child)
                self.sweep(child)
                self.settle(child, status)
                if not any(c.job_index == child.job_index for c in self.children):
                    _emit({"event": "done", "job": child.job_index})
            if self.input_closed and not self.pending and not self.children:
                return
            if self.children:
                time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        for child in self.children:
            self.kill(child, "stopped")
        for child in self.children:
            try:
                if child.process is not None:
                    child.process.wait(5)
                else:
                    os.waitpid(child.pid, 0)
            except (OSError, Exception):  # noqa: BLE001
                pass


def _death(child: Child, status: int, settings: dict[str, Any]) -> tuple[str, str]:
    """(reason, detail) for the experiment a child was running when it ended."""
    if child.killed_for == "timeout":
        return "timeout", (f"the experiment ran past its {float(settings['timeout']):g} s limit "
                           "and its process was killed")
    signum = os.WTERMSIG(status) if hasattr(os, "WIFSIGNALED") and os.WIFSIGNALED(status) else 0
    if signum:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        if name == "SIGXCPU":
            return "resource_limit", (f"the CPU time limit of {int(settings['script_timeout']) + 5} s "
                                      "was reached")
        if name == "SIGXFSZ":
            return "resource_limit", "the file size limit was reached"
        if name == "SIGKILL":
            return "resource_limit", "the sandbox process was killed by the system (out of memory?)"
        return "experiment_error", f"the sandbox process crashed ({name})"
    code = os.WEXITSTATUS(status) if hasattr(os, "WEXITSTATUS") else status >> 8
    detail = f"the sandbox process ended unexpectedly (exit code {code})"
    last = _last_output_line(child)
    return "experiment_error", detail + (f": {last}" if last else "")


def _last_output_line(child: Child) -> str:
    path = os.path.join(os.path.dirname(child.job_path), f"run-{child.attempt}", "output.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle.read()[-4000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _child_main(argv: list[str]) -> None:
    """Spawn mode: this process is the child."""
    job_path, results, rundir, skip_text = argv
    skip = {int(s) for s in skip_text.split(",") if s}
    _register_package()
    import torch  # noqa: F401 - before confinement, like a forked child

    from _torchlint_sandbox import sandbox_child

    sandbox_child.enter(job_path, results, rundir, "spawn", skip)


def main(argv: list[str]) -> int:
    if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
        del sys.path[0]  # user modules named like ours must not resolve here
    sys.dont_write_bytecode = True
    if argv and argv[0] == "--child":
        _child_main(argv[1:])
        return 70
    workdir = argv[0]
    _register_package()
    from _torchlint_sandbox import sandbox_limits

    sandbox_limits.die_with_parent()
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
            import torch.nn.functional  # noqa: F401
        from _torchlint_sandbox import sandbox_child  # noqa: F401 - imported once, before forks
    except BaseException as err:  # noqa: BLE001
        _emit({"event": "error", "reason": "missing_dependency",
               "detail": f"torch cannot be imported by {sys.executable}: {type(err).__name__}: {err}"})
        return 0
    start = start_method()
    parallel = max(1, min(int(os.environ.get("TORCHLINT_PROBE_PARALLEL", "0") or 0)
                          or (os.cpu_count() or 1), 8))
    _emit({"event": "ready", "torch": torch.__version__, "start": start, "parallel": parallel,
           "python": sys.executable})
    sandbox_limits.threads_of_user()  # counted once; forked children inherit the count
    server = Server(workdir, start, parallel)
    signal.signal(signal.SIGTERM, lambda *_: (server.stop(), os._exit(0)))
    try:
        server.serve()
    finally:
        server.stop()
        sys.stdout.flush()
    os._exit(0)  # tearing torch down costs a second and serves nothing


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
