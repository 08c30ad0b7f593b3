"""The flags ruff users type by habit, through the installed command:
--output-file, --silent, --show-fixes, --diff's exit code, --add-noqa and
TL002 unused-noqa, --watch, `torchlint server`, and progress on a terminal.
Test rules: TL901 print-call (safe fix), TL902 eval-call (unsafe fix)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

from support import torchlint_executable

TESTS = Path(__file__).parent
PLUGINS = "frame_rules"
SCRIPT = 'import torch\n\nprint("start")\nvalue = eval("1 + 1")\n'


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TORCHLINT_PLUGINS=PLUGINS, PYTHONPATH=str(TESTS / "plugins"))
    for name in ("CI", "NO_COLOR", "FORCE_COLOR"):
        env.pop(name, None)
    env.update(extra)
    return env


def test_output_file_takes_the_findings(torchlint, tmp_path):
    (tmp_path / "t.py").write_text(SCRIPT)
    result = torchlint("-o", "out.json", "--output-format", "json", "t.py", cwd=tmp_path,
                       plugins=PLUGINS)
    assert (result.exit_code, result.stdout) == (1, "")
    assert [f["code"] for f in json.loads((tmp_path / "out.json").read_text())] == ["TL901", "TL902"]
    long = torchlint("--output-file", "out.txt", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert long.stdout == ""
    assert (tmp_path / "out.txt").read_text().startswith("t.py:3:1: TL901 [*] print() called\n")


def test_silent_prints_nothing_but_keeps_the_exit_code(torchlint, tmp_path):
    (tmp_path / "t.py").write_text(SCRIPT)
    result = torchlint("--silent", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "")
    (tmp_path / "clean.py").write_text("import torch\n")
    assert torchlint("-s", "clean.py", cwd=tmp_path, plugins=PLUGINS).exit_code == 0


def test_show_fixes_lists_what_fix_fixed(torchlint, tmp_path):
    (tmp_path / "t.py").write_text(SCRIPT + "print(2)\n")
    result = torchlint("--fix", "--show-fixes", "--output-format", "concise", "t.py", cwd=tmp_path,
                       plugins=PLUGINS)
    assert result.stdout == (
        "t.py:4:9: TL902 eval() called\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file (2 fixed). 1 fixable with --fix --unsafe-fixes.\n"
        "Fixed 2 findings:\n"
        "- t.py:\n"
        "    2 \u00d7 TL901 (print-call)\n"
    )


def test_diff_exits_0_when_there_is_nothing_to_fix(torchlint, tmp_path):
    (tmp_path / "t.py").write_text(SCRIPT)
    fixable = torchlint("--diff", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert fixable.exit_code == 1
    assert fixable.stdout.startswith("--- a/t.py\n+++ b/t.py\n")
    (tmp_path / "t.py").write_text('import torch\nvalue = eval("1")\n')  # an unsafe fix only
    nothing = torchlint("--diff", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert (nothing.exit_code, nothing.stdout) == (0, "")
    assert nothing.stderr == "Would fix 0 findings (of 1 finding in 1 file).\n"


def test_add_noqa_then_the_run_is_clean(torchlint, tmp_path):
    text = ('import torch\n\nprint("start")  # note\nvalue = eval("1 + 1")  # noqa: E501\n'
            'x = f("""\nprint""", print(2))\n')
    (tmp_path / "t.py").write_text(text)
    added = torchlint("--add-noqa", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert (added.exit_code, added.stdout, added.stderr) == (0, "", "Added 3 noqa directives.\n")
    assert (tmp_path / "t.py").read_text() == (
        'import torch\n\nprint("start")  # note  # noqa: TL901\n'
        'value = eval("1 + 1")  # noqa: E501, TL902\n'
        # a line that ends inside a string gets its comment where the statement ends
        'x = f("""\nprint""", print(2))  # noqa: TL901\n')
    again = torchlint("t.py", cwd=tmp_path, plugins=PLUGINS)
    assert (again.exit_code, again.stdout) == (0, "No findings in 1 file.\n")
    # The comments it wrote are all in use: TL002 finds nothing to remove.
    assert torchlint("--extend-select", "TL002", "t.py", cwd=tmp_path, plugins=PLUGINS).exit_code == 0


def test_unused_noqa_is_reported_and_fixed_safely(torchlint, tmp_path):
    (tmp_path / "t.py").write_text(
        "import torch\nx = 1  # noqa: TL901\ny = 2  # noqa: E501, TL999\nprint(3)  # noqa: TL901\n"
        "z = 3  # noqa: TL904\n")  # TL904 is not enabled here: whether it would report is unknown
    found = torchlint("--extend-select", "TL002", "--output-format", "concise", "t.py", cwd=tmp_path,
                      plugins=PLUGINS)
    assert found.stdout.splitlines()[:-1] == [
        "t.py:2:16: TL002 [*] `# noqa: TL901` silences nothing on this line",
        "t.py:3:22: TL002 [*] `# noqa: TL999` names no torchlint rule",
    ]
    assert found.exit_code == 1
    fixed = torchlint("--extend-select", "TL002", "--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert fixed.exit_code == 0
    assert (tmp_path / "t.py").read_text() == (
        "import torch\nx = 1\ny = 2  # noqa: E501\nprint(3)  # noqa: TL901\nz = 3  # noqa: TL904\n")
    off = torchlint("t.py", cwd=tmp_path, plugins=PLUGINS)  # TL002 is off by default
    assert off.exit_code == 0


def _read_until(process: subprocess.Popen, stream, needle: str, seen: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in "".join(seen):
        assert time.monotonic() < deadline, "".join(seen)
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            data = os.read(stream.fileno(), 65536).decode()
            assert data, "".join(seen)
            seen.append(data)


def test_watch_lints_again_when_a_file_changes(tmp_path):
    script = tmp_path / "t.py"
    script.write_text("import torch\nx = 1\n")
    process = subprocess.Popen([torchlint_executable(), "--watch", "--output-format", "concise", "."],
                               cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out: list[str] = []
        _read_until(process, process.stdout, "No findings in 1 file.", out)
        time.sleep(0.1)
        script.write_text("import torch\nx = 1\nprint(x)\n")
        _read_until(process, process.stdout, "t.py:3:1: TL901 [*] print() called", out)
        err: list[str] = []
        _read_until(process, process.stderr, "change detected, linting again", err)
        assert process.poll() is None  # still watching
    finally:
        process.terminate()
        process.wait(timeout=30)


def _on_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Exit code and standard error of the command with standard error on a pseudo-terminal."""
    master, slave = pty.openpty()
    process = subprocess.Popen([torchlint_executable(), *args], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    code = process.wait(timeout=120)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_only(tmp_path):
    for index in range(30):
        (tmp_path / f"t{index:02}.py").write_text("import torch\nx = 1\n")
    args = ["--no-cache", "--jobs", "1", "."]
    code, stderr = _on_terminal(args, tmp_path, _env(TORCHLINT_PROGRESS_AFTER="0"))
    assert code == 0
    assert "\rtorchlint: linting 1/30 files" in stderr
    assert "\rtorchlint: linting 30/30 files" in stderr
    assert stderr.endswith("\r\x1b[K")  # erased at the end
    assert _on_terminal(args, tmp_path, _env(TORCHLINT_PROGRESS_AFTER="0", CI="true")) == (0, "")
    piped = subprocess.run([torchlint_executable(), *args], cwd=tmp_path, capture_output=True,
                           text=True, env=_env(TORCHLINT_PROGRESS_AFTER="0"), timeout=120)
    assert (piped.returncode, piped.stderr) == (0, "")
    # A short run stays silent on a terminal too (the default waits half a second).
    assert _on_terminal(["--no-cache", "t00.py"], tmp_path, _env()) == (0, "")
