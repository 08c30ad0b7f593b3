"""Helpers shared by the test modules. Import them as ``from support import ...``:
``conftest`` is not reliably importable when several test folders have one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
FIXTURES = REPO / "fixtures"


def torchlint_executable() -> str:
    """The console script installed beside this interpreter (never the source tree)."""
    candidate = Path(sys.executable).parent / "torchlint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("torchlint")
    if found is None:
        raise RuntimeError("the torchlint command is not installed: pip install -e '.[dev]'")
    return found


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_torchlint(*args: str, cwd: Path | str | None = None, input: bytes | str | None = None,
                  plugins: str | None = None, env: dict[str, str] | None = None,
                  timeout: float = 120) -> Result:
    """Run the installed command as a user would; ``plugins`` names test rule packages."""
    environment = dict(os.environ)
    environment.pop("TORCHLINT_PLUGINS", None)
    if plugins:
        environment["TORCHLINT_PLUGINS"] = plugins
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(TESTS / "plugins"), environment.get("PYTHONPATH", "")])
    if env:
        environment.update(env)
    data = input.encode() if isinstance(input, str) else input
    completed = subprocess.run(
        [torchlint_executable(), *args], cwd=cwd, input=data, capture_output=True,
        env=environment, timeout=timeout,
    )
    return Result(completed.returncode, completed.stdout.decode("utf-8", "replace"),
                  completed.stderr.decode("utf-8", "replace"))


def terminal_signals() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child starts with Ctrl-C as a
    terminal delivers it (SIGINT handled by default, not blocked), whatever the
    test process inherited or was left with (a test runner's worker may ignore it,
    and an ignored SIGINT survives exec)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
