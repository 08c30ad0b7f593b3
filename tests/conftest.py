"""Shared test helpers. Tests run the installed ``torchlint`` command, as users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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
        pytest.fail("the torchlint command is not installed: pip install -e '.[dev]'")
    return found


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def torchlint():
    """Run the installed command: ``torchlint(*args, cwd=..., input=..., plugins=...)``."""

    def run(*args: str, cwd: Path | str | None = None, input: bytes | str | None = None,
            plugins: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Result:
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

    return run
