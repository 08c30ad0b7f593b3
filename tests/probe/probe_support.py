"""Helpers of the probe tests (imported by conftest.py and the tests): run the installed ``torchlint --probe`` with the
test rules of ``tests/plugins/probe_rules`` and read its JSON.

Each probe run imports torch in a fresh server (seconds), so the runs are
session fixtures shared by the tests that read them; every run uses its own
TMPDIR so that the tests can check that nothing of the probe survives it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
PROBE_FIXTURES = REPO / "fixtures" / "probe"


def executable() -> str:
    candidate = Path(sys.executable).parent / "torchlint"
    if not candidate.exists():
        pytest.fail("the torchlint command is not installed: pip install -e '.[dev]'")
    return str(candidate)


@dataclass
class ProbeRun:
    exit_code: int
    stdout: str
    stderr: str
    tmpdir: Path

    @property
    def findings(self) -> list[dict]:
        return json.loads(self.stdout)

    def by_message(self) -> dict[str, dict]:
        return {f["message"]: f for f in self.findings}

    def by_path(self) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for finding in self.findings:
            assert finding["path"] not in found, f"two findings in {finding['path']}"
            found[finding["path"]] = finding
        return found


def run_torchlint(*args: str, tmpdir: Path, env: dict[str, str] | None = None,
                  cwd: Path = REPO, plugins: bool = True, timeout: float = 300) -> ProbeRun:
    environment = dict(os.environ)
    environment.pop("TORCHLINT_PLUGINS", None)
    if plugins:
        environment["TORCHLINT_PLUGINS"] = "probe_rules"
        environment["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(TESTS / "plugins"), environment.get("PYTHONPATH", "")) if p)
    tmpdir.mkdir(parents=True, exist_ok=True)
    environment["TMPDIR"] = str(tmpdir)
    environment.update(env or {})
    completed = subprocess.run([executable(), *args], cwd=cwd, capture_output=True,
                               env=environment, timeout=timeout)
    return ProbeRun(completed.returncode, completed.stdout.decode("utf-8", "replace"),
                    completed.stderr.decode("utf-8", "replace"), tmpdir)


def probe(*args: str, tmpdir: Path, **kwargs) -> ProbeRun:
    return run_torchlint("--probe", "--format", "json", *args, tmpdir=tmpdir, **kwargs)


def without_sandbox(probe_json: dict) -> dict:
    """A finding's probe JSON without the platform-dependent sandbox record."""
    copy = json.loads(json.dumps(probe_json))
    copy["assumptions"].pop("sandbox", None)
    return copy


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under `root` with a hash of its bytes."""
    digest: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        digest[relative] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return digest
