"""The probe, seen from the linter: findings in, findings with verdicts out.

``probe_results`` is called by the CLI after linting when ``--probe`` (or
``probe = true``) is given. It never imports torch: it builds one job per
script that has findings whose rule defines an experiment (in this process,
with libcst), starts the probe server in the user's interpreter with a
scrubbed environment, hands it the jobs, and reads back the results files.
Every finding it probed gets a :class:`~torchlint.findings.ProbeResult`;
anything that went wrong is an ``inconclusive`` verdict with its reason,
never a crash of the linter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torchlint.config import ConfigFinder
from torchlint.engine import FileResult
from torchlint.findings import ProbeResult
from torchlint.registry import RuleSet

from . import jobs
from .progress import Progress, Script
from .sandbox_limits import hide_from_sandbox, scrubbed_environment

SERVER = Path(__file__).with_name("sandbox_server.py")
STARTUP_SECONDS = 180.0  # importing torch, generously
#: Passed to the server for tests and benchmarks (start method, children at once).
_PASSED_VARIABLES = ("PYTHONPATH", "TORCHLINT_PROBE_START", "TORCHLINT_PROBE_PARALLEL")


@dataclass
class _Planned:
    result_index: int
    job_index: int
    probed: list[jobs.ProbedFinding]
    job: dict[str, Any] | None = None
    failure: ProbeResult | None = None  # decided without running (a broken hint, ...)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)


def _inconclusive(reason: str, summary: str, hint: str | None = None) -> ProbeResult:
    return ProbeResult(verdict="inconclusive", evidence={"summary": summary}, assumptions={},
                       reason=reason, hint=hint)


def _to_probe_result(record: dict[str, Any]) -> ProbeResult:
    return ProbeResult(verdict=record.get("verdict", "inconclusive"),
                       evidence=dict(record.get("evidence", {})),
                       assumptions=dict(record.get("assumptions", {})),
                       reason=record.get("reason"), hint=record.get("hint"))


def _candidates(results: list[FileResult]) -> list[tuple[int, list[jobs.ProbedFinding]]]:
    """(result index, findings with experiments) of each file worth probing."""
    rules = {rule.code: rule for rule in RuleSet.all().rules}
    found = []
    for index, result in enumerate(results):
        if result.source is None:
            continue
        probed = jobs.probed_findings(result, rules)
        if probed:
            found.append((index, probed))
    return found


def plan(results: list[FileResult], configs: ConfigFinder,
         candidates: list[tuple[int, list[jobs.ProbedFinding]]]) -> list[_Planned]:
    planned: list[_Planned] = []
    siblings = [(r.source.path.resolve(), r.display, r.source.text) for r in results
                if r.source is not None and r.source.path is not None]
    for result_index, probed in candidates:
        result = results[result_index]
        item = _Planned(result_index, len(planned), probed)
        config = configs.for_file(result.source.path if result.source else None)
        try:
            item.job = jobs.build_job(item.job_index, result, probed, config, siblings)
        except jobs.JobError as err:
            item.failure = _inconclusive("load_failed", str(err))
        except RecursionError:
            item.failure = _inconclusive("load_failed", f"{result.display} is too deeply nested "
                                         "for the probe to read")
        except Exception as err:  # noqa: BLE001 - a probe bug must not cost the lint results
            item.failure = _inconclusive(
                "load_failed", f"the probe could not read {result.display} (an internal error: "
                f"{type(err).__name__}: {err}); please report it")
        planned.append(item)
    return planned


def _absolute_search_path(value: str) -> str:
    """PYTHONPATH for the server, which runs in its temporary folder: relative
    entries (``PYTHONPATH=src``) made absolute from here, so the user's
    packages are found there too; empty ones (the current folder) dropped, so
    no unstripped project file becomes importable."""
    return os.pathsep.join(os.path.abspath(entry) for entry in value.split(os.pathsep) if entry)


class _Server:
    """The probe server process and its event stream."""

    def __init__(self, workdir: Path) -> None:
        env = scrubbed_environment(str(workdir), dict(os.environ))
        for name in _PASSED_VARIABLES:
            if name in os.environ:
                env[name] = os.environ[name]
        if "PYTHONPATH" in env:
            env["PYTHONPATH"] = _absolute_search_path(env["PYTHONPATH"])
        self.stderr = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-B", str(SERVER), str(workdir)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, cwd=str(workdir), env=env,
            start_new_session=hasattr(os, "setsid"))
        self.timed_out = False
        self._timer: threading.Timer | None = None

    def send(self, path: Path) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(f"{path}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def close_input(self) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def watch(self, seconds: float) -> None:
        """Kill the server (and so its children) if it runs past `seconds`."""
        def expire() -> None:
            self.timed_out = True
            self.kill()

        self._timer = threading.Timer(seconds, expire)
        self._timer.daemon = True
        self._timer.start()

    def events(self):
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue

    def kill(self) -> None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(self.process.pid, signal.SIGTERM)
            else:
                self.process.terminate()
        except OSError:
            pass

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            try:
                if hasattr(os, "killpg"):
                    os.killpg(self.process.pid, signal.SIGKILL)
                else:
                    self.process.kill()
            except OSError:
                pass
            self.process.wait()
        self.stderr.close()


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _read_results(path: Path) -> dict[int, dict[str, Any]]:
    records: dict[int, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return records
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "result" and isinstance(event.get("id"), int):
            event.pop("event")
            records.setdefault(event.pop("id"), event)
    return records


def _run(planned: list[_Planned], workdir: Path, server: _Server, progress: Progress) -> ProbeResult | None:
    """Run the jobs; fills each item's records. Returns a verdict for everything
    left unfinished (the server could not start or was stopped)."""
    runnable = [item for item in planned if item.job is not None]
    budget = STARTUP_SECONDS + sum(float(i.job["settings"]["script_timeout"]) + 10
                                   for i in runnable)  # type: ignore[index]
    server.watch(budget)
    failure: ProbeResult | None = None
    try:
        for item in runnable:
            folder = workdir / f"job-{item.job_index}"
            folder.mkdir()
            path = folder / "job.json"
            path.write_text(json.dumps(item.job), encoding="utf-8")
            server.send(path)
        server.close_input()
        for event in server.events():
            kind = event.get("event")
            if kind == "done":
                progress.advance()
            elif kind == "error" and event.get("reason") == "missing_dependency":
                failure = _inconclusive("missing_dependency", event.get("detail", "") +
                                        "; install it in this environment: pip install 'torchlint[probe]'")
            elif kind == "error":
                failure = _inconclusive("load_failed", event.get("detail", ""))
    except BaseException:
        server.kill()  # Ctrl-C: the server runs in its own session and would go on
        raise
    finally:
        server.stop()
    for item in runnable:
        item.records = _read_results(workdir / f"job-{item.job_index}" / "results.jsonl")
    if failure is None and server.timed_out:
        failure = _inconclusive("timeout", f"the probe ran past its overall limit of {budget:g} s")
    if failure is None and server.process.returncode not in (0, None):
        last = _last_line(workdir / "server.log")
        failure = _inconclusive("experiment_error",
                                f"the probe server ended unexpectedly (exit code "
                                f"{server.process.returncode})" + (f": {last}" if last else ""))
    return failure


def probe_results(results: list[FileResult], configs: ConfigFinder, progress: bool) -> list[FileResult]:
    """The results with a probe verdict on every finding whose rule has an experiment."""
    candidates = _candidates(results)
    if not candidates:
        return results
    hide_from_sandbox()  # this process's environment holds the user's tokens
    with tempfile.TemporaryDirectory(prefix="torchlint-probe-") as folder:
        workdir = Path(folder)
        server = _Server(workdir)  # imports torch while the jobs are being built
        try:
            planned = plan(results, configs, candidates)
        except BaseException:
            server.kill()
            server.stop()
            raise
        bar = Progress(total=sum(1 for p in planned if p.job is not None), enabled=progress,
                       scripts=[Script(results[p.result_index].display,
                                       workdir / f"job-{p.job_index}" / "results.jsonl",
                                       len(p.job["experiments"]))
                                for p in planned if p.job is not None])
        bar.start()
        try:
            failure = _run(planned, workdir, server, bar)
        finally:
            bar.close()
    updated = list(results)
    for item in planned:
        result = updated[item.result_index]
        findings = list(result.findings)
        for ident, probed in enumerate(item.probed):
            if item.failure is not None:
                verdict = item.failure
            elif ident in item.records:
                verdict = _to_probe_result(item.records[ident])
            else:
                verdict = failure or _inconclusive(
                    "experiment_error", "the probe ended before this experiment ran")
            findings[probed.index] = findings[probed.index].with_probe(verdict)
        updated[item.result_index] = replace(result, findings=findings)
    return updated
