"""--jobs: files linted in worker processes give exactly the serial run's output
(every format, --statistics, --diff, --fix); a worker that dies costs only the
file it was linting; Ctrl-C ends every process at once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support import FIXTURES, REPO, TESTS, terminal_signals, torchlint_executable

STATS = {"TORCHLINT_DEBUG_STATS": "1"}
#: Folders of rules with fixes: enough files for the pool, and every fix kind.
FIXABLE = ["TL103", "TL201", "TL202", "TL301", "TL401", "TL501"]


def stats_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("torchlint: stats:"))


def without_stats(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("torchlint: stats:")]


def how_linted(stderr: str) -> str:
    """``93 files: 0 from the cache, 93 linted in 2 processes``: the local modules
    parsed differ, since each worker parses the modules its own files import."""
    return stats_line(stderr).split(": ", 2)[2].split(";")[0]


def fixture_count() -> int:
    return sum(1 for path in FIXTURES.rglob("*") if path.suffix in (".py", ".ipynb"))


@pytest.mark.parametrize("options", [("--format", "json"),
                                     ("--statistics", "--show-source", "--format", "text")],
                         ids=["json", "text-statistics"])
def test_the_pool_prints_what_one_process_prints(torchlint, options):
    serial = torchlint(*options, "--no-cache", "--jobs", "1", "fixtures", cwd=REPO, env=STATS)
    pooled = torchlint(*options, "--no-cache", "--jobs", "2", "fixtures", cwd=REPO, env=STATS)
    assert serial.exit_code == pooled.exit_code == 1
    assert pooled.stdout == serial.stdout
    files = fixture_count()
    assert stats_line(serial.stderr).startswith(
        f"torchlint: stats: {files} files: 0 from the cache, {files} linted in 1 process; ")
    assert how_linted(pooled.stderr) == f"{files} files: 0 from the cache, {files} linted in 2 processes"


@pytest.mark.parametrize("output_format", ["sarif", "github", "lsp"])
def test_the_pool_prints_what_one_process_prints_in_every_format(torchlint, output_format):
    folders = [f"fixtures/{name}" for name in FIXABLE]
    serial = torchlint("--format", output_format, "--no-cache", "-j", "1", *folders, cwd=REPO)
    pooled = torchlint("--format", output_format, "--no-cache", "-j", "2", *folders, cwd=REPO)
    assert serial.exit_code == pooled.exit_code == 1
    assert pooled.stdout == serial.stdout


def test_diff_and_fix_in_the_pool_match_one_process(torchlint, tmp_path):
    trees = {}
    for jobs in ("1", "2"):
        root = tmp_path / f"jobs{jobs}"
        for name in FIXABLE:
            shutil.copytree(FIXTURES / name, root / name)
        diff = torchlint("--diff", "--unsafe-fixes", "--jobs", jobs, *FIXABLE, cwd=root, env=STATS)
        fixed = torchlint("--fix", "--unsafe-fixes", "--jobs", jobs, *FIXABLE, cwd=root, env=STATS)
        trees[jobs] = (diff.exit_code, diff.stdout, without_stats(diff.stderr),
                       fixed.exit_code, fixed.stdout, without_stats(fixed.stderr),
                       {path.relative_to(root).as_posix(): path.read_bytes()
                        for path in sorted(root.rglob("*")) if path.is_file()})
        assert how_linted(fixed.stderr).endswith(f"linted in {jobs} process{'es' if jobs == '2' else ''}")
    assert trees["2"] == trees["1"]
    diff_exit, diff_out, diff_err, fix_exit, _, fix_err, files = trees["1"]
    assert diff_exit == 1 and diff_out.startswith("--- a/")
    assert len(diff_err) == 1 and diff_err[0].startswith("Would fix ")
    assert fix_exit == 1 and fix_err == []  # what has no fix remains
    assert files != {path.relative_to(FIXTURES).as_posix(): path.read_bytes()
                     for name in FIXABLE for path in sorted((FIXTURES / name).rglob("*"))
                     if path.is_file()}  # the fixes were written
    assert not [name for name in files if name.endswith(".torchlint")]  # no temporary file left


def test_workers_never_import_torch():
    """-X importtime is inherited by the forked workers: what they import is listed too."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHLINT_PLUGINS"}
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "torchlint", "--no-cache", "--jobs", "2",
         *(f"fixtures/{name}" for name in FIXABLE)],
        cwd=REPO, env={**env, **STATS}, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert how_linted(completed.stderr).endswith("linted in 2 processes")
    modules = [line.split("|")[-1].strip() for line in completed.stderr.splitlines()
               if line.startswith("import time:")]
    assert "torchlint.engine" in modules  # the listing is real
    assert [name for name in modules if name == "torch" or name.startswith("torch.")] == []


def test_a_few_files_are_linted_in_this_process(torchlint, tmp_path):
    for index in range(3):
        (tmp_path / f"t{index}.py").write_text("import torch\nprint(1)\n")
    result = torchlint("--jobs", "2", "--output-format", "concise", ".", cwd=tmp_path,
                       plugins="scale_rules", env=STATS)
    assert result.stdout == "".join(
        f"t{index}.py:2:1: TL922 [*] print() called\n" for index in range(3)
    ) + "Found 3 findings (0 errors, 3 warnings) in 3 files. [*] 3 fixable with --fix.\n"
    assert stats_line(result.stderr) == ("torchlint: stats: 3 files: 0 from the cache, 3 linted "
                                         "in 1 process; 0 local modules parsed")


def test_a_worker_that_dies_costs_only_its_file(torchlint, tmp_path):
    for index in range(12):
        call = "crash_process()" if index == 5 else "x = 1"
        (tmp_path / f"t{index:02}.py").write_text(f"import torch\n{call}\nprint({index})\n")
    result = torchlint("--no-cache", "--jobs", "2", "--output-format", "concise", ".", cwd=tmp_path,
                       plugins="scale_rules", env=STATS)
    assert result.exit_code == 2
    assert result.stdout == "".join(
        f"t{index:02}.py:3:1: TL922 [*] print() called\n"
        for index in range(12) if index != 5
    ) + "Found 11 findings (0 errors, 11 warnings) in 12 files. [*] 11 fixable with --fix.\n"
    assert result.stderr.splitlines()[1:] == [
        "torchlint: error: t05.py: internal error: the process linting this file was killed by "
        "SIGKILL; please report it (--jobs 1 lints in one process)"]
    assert stats_line(result.stderr) == ("torchlint: stats: 12 files: 0 from the cache, 12 linted "
                                         "in 2 processes; 0 local modules parsed")


def test_jobs_must_be_positive(torchlint, tmp_path):
    result = torchlint("--jobs", "0", "t.py", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == \
        "Error: Invalid value for '--jobs' / '-j': 0 is not in the range x>=1."


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_ends_the_parent_and_every_worker(tmp_path):
    """The terminal sends SIGINT to the whole process group: the workers ignore
    it, the parent kills them and exits 130, and nobody prints a traceback."""
    for index in range(8):
        (tmp_path / f"t{index}.py").write_text("import torch\n" + ("hang()\n" if index == 6 else ""))
    marker = tmp_path / "marker"
    env = dict(os.environ, TORCHLINT_PLUGINS="frame_rules", TORCHLINT_TEST_MARKER=str(marker),
               PYTHONPATH=str(TESTS / "plugins"))
    process = subprocess.Popen([torchlint_executable(), "--no-cache", "--jobs", "2", "."],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True, preexec_fn=terminal_signals)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the hang rule never started"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # the killed workers are being reaped
        assert not _group_alive(process.pid), "a worker outlived the run"
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130
    assert stdout == b""
    assert stderr.strip() == b""  # click ends the line the ^C was echoed on
