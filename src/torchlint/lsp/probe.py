"""Probe on save: the runtime probe in a child process, never in the server.

The probe imports torch and runs the user's model, which takes seconds. It
runs in a child process (``python -m torchlint.lsp.probe_worker``) in a
session of its own, so edits keep being linted meanwhile, and cancelling it
(the next save, closing the file, shutting down) ends the child and the
sandboxes it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from torchlint.findings import ProbeResult, Span
from torchlint.lsp.diagnostics import Verdicts, verdict_key

if TYPE_CHECKING:
    from torchlint.lsp.documents import OpenDocument, Snapshot
    from torchlint.runner import Selection

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


@dataclass
class ProbeOutcome:
    status: str  # ok | unavailable | error
    findings: list[dict[str, Any]] = field(default_factory=list)  # Finding.to_json() each
    message: str = ""

    def verdicts(self, text: str) -> Verdicts:
        """The verdicts on the findings of `text` (the text the probe was given)."""
        found: dict[tuple[Any, ...], ProbeResult] = {}
        for data in self.findings:
            probe = data.get("probe")
            if not probe:
                continue  # a finding whose rule has no experiment
            span = Span(data["line"], data["column"] - 1, data["end_line"], data["end_column"] - 1)
            found[verdict_key(data["code"], data.get("cell"), span, data["message"])] = ProbeResult(
                verdict=probe["verdict"], evidence=probe.get("evidence") or {},
                assumptions=probe.get("assumptions") or {}, reason=probe.get("reason"),
                hint=probe.get("hint"))
        return Verdicts(text=text, by_finding=found)


def probe_request(doc: OpenDocument, snapshot: Snapshot, selection: Selection,
                  notebook: types.NotebookDocument | None) -> dict[str, Any]:
    """What the worker needs to lint and probe the saved document as the CLI would."""
    request: dict[str, Any] = {
        "path": str(doc.path), "display": doc.display,
        "select": list(selection.select) if selection.select is not None else None,
        "ignore": list(selection.ignore), "extend_select": list(selection.extend_select),
    }
    if notebook is not None:
        texts = {target.uri: target.text for target in snapshot.targets}
        request["cells"] = [
            {"cell_type": "code" if cell.document in texts else "markdown",
             "source": texts.get(cell.document, "")}
            for cell in notebook.cells
        ]
    else:
        request["text"] = snapshot.source.text
    return request


class ProbeProcesses:
    """Starts probe workers and ends them; remembers the running ones so that
    the server leaves none behind."""

    def __init__(self) -> None:
        self._running: set[asyncio.subprocess.Process] = set()

    async def run(self, request: dict[str, Any]) -> ProbeOutcome:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "torchlint.lsp.probe_worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        self._running.add(process)
        try:
            stdout, stderr = await process.communicate(json.dumps(request).encode("utf-8"))
        except asyncio.CancelledError:
            await self._end(process)
            raise
        finally:
            self._running.discard(process)
        try:
            answer = json.loads(stdout.decode("utf-8"))
            return ProbeOutcome(answer["status"], answer.get("findings", []), answer.get("message", ""))
        except (ValueError, KeyError, TypeError):
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            return ProbeOutcome("error", message=f"the probe process exited with code "
                                                 f"{process.returncode}: {tail[0]}")

    async def _end(self, process: asyncio.subprocess.Process) -> None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), KILL_GRACE)
        except asyncio.TimeoutError:
            pass
        _signal_group(process.pid, signal.SIGKILL)

    def kill_all(self) -> None:
        """Synchronous, for shutdown paths where no event loop may run any more."""
        for process in list(self._running):
            _signal_group(process.pid, signal.SIGTERM)
            _signal_group(process.pid, signal.SIGKILL)
        self._running.clear()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the worker leads its own process group
    except (ProcessLookupError, PermissionError):
        pass
