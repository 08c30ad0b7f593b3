"""How the command line reaches the probe: only when asked, text and JSON
output, the progress bar."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys

from probe_support import PROBE_FIXTURES, REPO, TESTS, executable, probe, run_torchlint


def test_without_probe_nothing_runs_and_probe_is_null(tmp_path):
    run = run_torchlint("--select", "TL9", "--format", "json", "fixtures/probe/seed002_lstm/train.py",
                        tmpdir=tmp_path)
    assert run.exit_code == 1, run.stderr
    assert [(f["line"], f["code"], f["probe"]) for f in run.findings] == [
        (44, "TL903", None), (48, "TL902", None), (96, "TL901", None)]
    assert list(tmp_path.iterdir()) == []  # no probe folder was ever made


def test_the_static_path_never_imports_torch(tmp_path):
    code = ("import sys\nfrom torchlint.cli import main\n"
            "sys.argv = ['torchlint', '--select', 'TL9', 'fixtures/probe/seed002_lstm/train.py']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH-IMPORTED' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n")
    env = dict(os.environ, TORCHLINT_PLUGINS="probe_rules", PYTHONPATH=str(TESTS / "plugins"))
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=120)
    assert completed.stderr.strip().splitlines()[-1] == "NO-TORCH"


def test_the_config_key_turns_the_probe_on_and_no_probe_off(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROBE_FIXTURES / "modes" / "no_mode_layers.py", project / "evaluate.py")
    (project / "pyproject.toml").write_text("[tool.torchlint]\nprobe = true\n")
    on = run_torchlint("--select", "TL901", "--format", "json", "evaluate.py", cwd=project,
                       tmpdir=tmp_path / "on")
    assert on.exit_code == 0, on.stderr  # a refuted finding does not fail the run
    [finding] = on.findings
    assert finding["probe"]["verdict"] == "refuted"
    off = run_torchlint("--select", "TL901", "--format", "json", "--no-probe", "evaluate.py",
                        cwd=project, tmpdir=tmp_path / "off")
    assert [f["probe"] for f in off.findings] == [None]
    assert off.exit_code == 1
    # probe.refuted = "keep" keeps the old behaviour: refuted findings fail the run too.
    (project / "pyproject.toml").write_text('[tool.torchlint.probe]\nenabled = true\nrefuted = "keep"\n')
    kept = run_torchlint("--select", "TL901", "--format", "concise", "evaluate.py", cwd=project,
                         tmpdir=tmp_path / "keep")
    assert kept.exit_code == 1, kept.stderr
    assert "(refuted by the probe)" in kept.stdout
    (project / "pyproject.toml").write_text('[tool.torchlint.probe]\nenabled = true\nrefuted = "hide"\n')
    hidden = run_torchlint("--select", "TL901", "--format", "concise", "evaluate.py", cwd=project,
                           tmpdir=tmp_path / "hide")
    assert (hidden.exit_code, hidden.stdout) == (0, "No findings in 1 file.\n")


def test_without_torch_the_probe_says_so_once(tmp_path):
    """torch not importable: one line on standard error, no verdict under each finding."""
    code = ("import sys\nsys.modules['torch'] = None\nfrom torchlint.cli import main\n"
            "sys.argv = ['torchlint', '--select', 'TL9', '--probe', '--format', 'json',\n"
            "            'fixtures/probe/seed002_lstm/train.py']\nmain()\n")
    env = dict(os.environ, TORCHLINT_PLUGINS="probe_rules", PYTHONPATH=str(TESTS / "plugins"))
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 1
    assert [f["probe"] for f in json.loads(completed.stdout)] == [None, None, None]
    [line] = completed.stderr.splitlines()
    assert line.startswith("torchlint: the probe needs torch, which is not installed for ")


def test_text_output_prints_the_verdict_under_the_finding(tmp_path):
    run = run_torchlint("--select", "TL904", "--probe", "fixtures/probe/failures/opaque_argument.py",
                        tmpdir=tmp_path)
    assert run.exit_code == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "fixtures/probe/failures/opaque_argument.py:4:1: TL904 probe Scaled"
    start = lines.index("  = help: probe Scaled") + 1
    assert lines[start:] == [
        "  = probe: inconclusive (no_inputs): cannot tell what forward(x, temperature) "
        "needs for `temperature`: it reaches no layer the probe knows",
        "    assumed: constructor=Scaled()",  # the sandbox record stays in JSON
        "    to help the probe, add to pyproject.toml:",
        "        [tool.torchlint.probe.classes.Scaled]",
        "        # B and T are chosen by the probe; other names are constructor arguments",
        '        inputs = { x = "float[B,8]", temperature = "float[B,T]" }',
        "",
        "Found 1 finding (0 errors, 1 warning) in 1 file.",
    ]


def _run_with_terminal_stderr(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run with standard error on a pseudo-terminal; returns (code, stdout, stderr)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    stdout = process.stdout.read().decode()
    code = process.wait()
    os.close(master)
    return code, stdout, b"".join(chunks).decode(errors="replace")


def _terminal_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ, TORCHLINT_PLUGINS="probe_rules", PYTHONPATH=str(TESTS / "plugins"),
               TMPDIR=str(tmp_path))
    env.pop("CI", None)  # progress is never shown in CI, and the tests may run there
    return env


def test_progress_bar_on_a_terminal_for_several_scripts(tmp_path):
    env = _terminal_env(tmp_path)
    code, stdout, stderr = _run_with_terminal_stderr(
        [executable(), "--select", "TL901", "--probe", "--format", "json",
         "fixtures/probe/modes/no_mode_layers.py", "fixtures/probe/modes/dropout_never_runs.py"], env)
    assert code == 1  # not_exercised is no refutation: that finding still fails the run
    assert [f["probe"]["verdict"] for f in json.loads(stdout)] == ["not_exercised", "refuted"]
    assert "probe [############------------] 1/2 scripts" in stderr
    assert "probe [########################] 2/2 scripts" in stderr
    # the stage of the script being probed, from its sandbox's events
    assert re.search(r"0/2 scripts · fixtures/probe/modes/\w+\.py: (starting torch|loading the "
                     r"script|experiment 1 of 1)", stderr), stderr
    assert stderr.endswith("\r\x1b[K")


def test_progress_for_one_script_but_never_without_a_terminal_or_in_ci(tmp_path):
    env = _terminal_env(tmp_path)
    code, _, stderr = _run_with_terminal_stderr(
        [executable(), "--select", "TL901", "--probe", "fixtures/probe/modes/no_mode_layers.py"], env)
    assert code == 0  # its one finding is refuted
    assert "0/1 scripts · fixtures/probe/modes/no_mode_layers.py: " in stderr
    assert stderr.endswith("\r\x1b[K")
    code, _, stderr = _run_with_terminal_stderr(
        [executable(), "--select", "TL901", "--probe", "fixtures/probe/modes/no_mode_layers.py"],
        {**env, "CI": "true"})
    assert (code, stderr) == (0, "")
    run = probe("--select", "TL901", "fixtures/probe/modes/no_mode_layers.py",
                "fixtures/probe/modes/dropout_never_runs.py", tmpdir=tmp_path / "pipe")
    assert run.stderr == ""
