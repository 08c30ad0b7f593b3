"""The probe's child process (see :mod:`torchlint.lsp.probe`).

Reads one JSON request on standard input (the saved file's path, text or
notebook cells, and the rule selection), lints it with the CLI's engine, runs
``probe_results`` on the findings and prints one JSON answer. The probe is
imported here, never in the server, so torch never enters the server process.
Killed by its parent (SIGTERM) or orphaned, it first ends every process it
started, so no sandbox outlives the editor session.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from torchlint.lsp.configs import EditorConfigs
from torchlint.runner import Run, Selection
from torchlint.semantic.project import Project
from torchlint.source import SourceError, SourceFile, read_notebook

#: Environment variable naming the module whose ``probe_results`` is called;
#: the test suite points it at a stand-in.
RUNNER_ENV = "TORCHLINT_LSP_PROBE_RUNNER"
DEFAULT_RUNNER = "torchlint.probe.launcher"


def _descendants(root: int) -> list[int]:
    """Process ids below `root` (Linux /proc; elsewhere the process group suffices)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _end_everything(*_: Any) -> None:
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(143)


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            _end_everything()
        time.sleep(0.5)


def _source(request: dict[str, Any]) -> SourceFile:
    path = Path(request["path"])
    if request.get("cells") is not None:
        data = json.dumps({"cells": request["cells"]}).encode("utf-8")
        return read_notebook(data, request["display"], path)
    return SourceFile(display=request["display"], text=request["text"], path=path)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    module_name = os.environ.get(RUNNER_ENV) or DEFAULT_RUNNER
    try:
        probe_results = importlib.import_module(module_name).probe_results
    except (ImportError, AttributeError) as err:
        return {"status": "unavailable", "message": f"{type(err).__name__}: {err}"}
    selection = Selection(
        select=tuple(request["select"]) if request.get("select") is not None else None,
        ignore=tuple(request.get("ignore", ())),
        extend_select=tuple(request.get("extend_select", ())),
    )
    configs = EditorConfigs()
    try:
        result = Run(configs=configs, selection=selection, project=Project()).lint(_source(request))
    except SourceError as err:
        return {"status": "error", "message": str(err)}
    if not result.findings:
        return {"status": "ok", "findings": []}
    probed = probe_results([result], configs, progress=False)
    return {"status": "ok", "findings": [f.to_json() for r in probed for f in r.findings]}


def main() -> None:
    signal.signal(signal.SIGTERM, _end_everything)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    try:
        reply = answer(request)
    except Exception as err:  # noqa: BLE001 - the server shows the message; never a silent death
        reply = {"status": "error", "message": f"{type(err).__name__}: {err}"}
    sys.stdout.write(json.dumps(reply))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
