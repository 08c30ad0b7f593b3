"""The pre-commit hook, run by the real ``pre-commit`` in a temporary git
repository whose .pre-commit-config.yaml points at this checkout's HEAD.

pre-commit clones the checkout at that commit and installs torchlint from it
into its own environment (libcst and click come from the package index), so
the hook file must be committed: the tests skip, saying so, until it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

pytestmark = pytest.mark.timeout(900)  # the first run installs torchlint into pre-commit's env

SYNTAX_ERROR = "import torch\nfor epoch in range(3)\n    pass\n"
GOOD = "import torch\n\nx = torch.zeros(3)\n"


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def hook_revision() -> str:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        revision = _git("rev-parse", "HEAD", cwd=REPO)
    except subprocess.CalledProcessError:
        pytest.skip(f"{REPO} is not a git checkout with a commit")
    committed = subprocess.run(["git", "cat-file", "-e", f"{revision}:.pre-commit-hooks.yaml"],
                               cwd=REPO, capture_output=True)
    if committed.returncode != 0:
        pytest.skip(f".pre-commit-hooks.yaml is not committed at HEAD ({revision[:10]}) yet; "
                    "pre-commit installs hooks from a commit")
    return revision


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    """One pre-commit cache for the run, so torchlint is installed once. Under
    pytest-xdist the workers share it (pre-commit locks its store)."""
    base = tmp_path_factory.getbasetemp()
    home = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "pre-commit-home"
    home.mkdir(exist_ok=True)
    return home


def run_hook(tmp_path: Path, revision: str, home: Path, files: dict[str, str]
             ) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "project"
    project.mkdir()
    _git("init", "-q", cwd=project)
    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {REPO}\n"
        f"    rev: {revision}\n"
        "    hooks:\n"
        "      - id: torchlint\n"
    )
    for name, text in files.items():
        (project / name).write_text(text)
    _git("add", ".", cwd=project)
    env = {key: value for key, value in os.environ.items()
           if key not in ("TORCHLINT_PLUGINS", "PYTHONPATH") and not key.startswith("GIT_")}
    env["PRE_COMMIT_HOME"] = str(home)
    env["PRE_COMMIT_COLOR"] = "never"
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=850)


def test_hook_fails_on_a_file_that_does_not_parse(tmp_path, hook_revision, pre_commit_home):
    result = run_hook(tmp_path, hook_revision, pre_commit_home,
                      {"bad.py": SYNTAX_ERROR, "good.py": GOOD})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "torchlint" in output and "Failed" in output
    assert "- hook id: torchlint\n- exit code: 1" in output
    assert "bad.py:2:22: TL001 The file does not parse: expected ':'" in output
    assert "good.py:" not in output


def test_hook_passes_on_a_good_file(tmp_path, hook_revision, pre_commit_home):
    result = run_hook(tmp_path, hook_revision, pre_commit_home, {"good.py": GOOD})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "torchlint" in output and "Passed" in output


def test_hook_reports_a_real_rule(torchlint, tmp_path, hook_revision, pre_commit_home):
    if torchlint("rule", "TL101").exit_code != 0:
        pytest.skip("rule TL101 does not exist yet")
    from torchlint.registry import RuleSet

    example = RuleSet.all().lookup("TL101").INVALID[0].code.lstrip("\n")
    (tmp_path / "expected").mkdir()
    (tmp_path / "expected" / "train.py").write_text(example)
    expected = torchlint("--quiet", "--output-format", "concise", "--select", "TL101", "train.py",
                         cwd=tmp_path / "expected")
    (finding,) = expected.stdout.splitlines()
    assert finding.startswith("train.py:") and " TL101 " in finding

    result = run_hook(tmp_path, hook_revision, pre_commit_home, {"train.py": example})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert finding in output
