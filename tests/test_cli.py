"""The command line: commands, options and exit codes, through the installed
``torchlint`` command. The test rules of tests/plugins/frame_rules stand in for
real rules: TL901 print-call (safe fix), TL902 eval-call (unsafe fix), TL903
crashes on ``explode()``, TL904 breakpoint-call (off by default), TL906 waits
on ``hang()``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support import TESTS, terminal_signals, torchlint_executable

PLUGINS = "frame_rules"

SCRIPT = 'import torch\n\nprint("start")\nvalue = eval("1 + 1")\nbreakpoint()\n'
PRINT_LINE = "t.py:3:1: TL901 [*] print() called"
EVAL_LINE = "t.py:4:9: TL902 eval() called"
BREAKPOINT_LINE = "t.py:5:1: TL904 breakpoint() called"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    (tmp_path / "t.py").write_text(SCRIPT)
    return tmp_path


def finding_lines(stdout: str) -> list[str]:
    """The finding lines of text output (the summary line left out)."""
    return [line for line in stdout.splitlines() if re.match(r"^\S+:\d+:\d+: TL\d{3} ", line)]


def codes(stdout: str) -> list[str]:
    return [finding["code"] for finding in json.loads(stdout)]


def test_paths_and_check_are_the_same_command(torchlint, script):
    implied = torchlint("t.py", cwd=script, plugins=PLUGINS)
    spelled = torchlint("check", "t.py", cwd=script, plugins=PLUGINS)
    assert implied.exit_code == spelled.exit_code == 1
    assert implied.stdout == spelled.stdout
    assert finding_lines(implied.stdout) == [PRINT_LINE, EVAL_LINE]
    assert implied.stderr == ""


def test_exit_codes(torchlint, tmp_path):
    (tmp_path / "clean.py").write_text("import torch\nx = 1\n")
    (tmp_path / "dirty.py").write_text("import torch\nprint(1)\n")
    assert torchlint("clean.py", cwd=tmp_path, plugins=PLUGINS).exit_code == 0
    assert torchlint("dirty.py", cwd=tmp_path, plugins=PLUGINS).exit_code == 1
    exit_zero = torchlint("--exit-zero", "dirty.py", cwd=tmp_path, plugins=PLUGINS)
    assert exit_zero.exit_code == 0
    assert finding_lines(exit_zero.stdout) == ["dirty.py:2:1: TL901 [*] print() called"]
    assert torchlint("--no-such-option", "clean.py", cwd=tmp_path).exit_code == 2


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), [PRINT_LINE, EVAL_LINE]),  # TL904 is off by default
        (("--select", "TL901"), [PRINT_LINE]),
        (("--select", "TL9"), [PRINT_LINE, EVAL_LINE, BREAKPOINT_LINE]),  # a prefix
        (("--select", "print-call"), [PRINT_LINE]),  # a name
        (("--select", "TL901,TL902"), [PRINT_LINE, EVAL_LINE]),
        (("--select", "TL901", "--select", "TL904"), [PRINT_LINE, BREAKPOINT_LINE]),
        (("--ignore", "TL901"), [EVAL_LINE]),
        (("--select", "TL9", "--ignore", "TL90"), []),
        (("--extend-select", "TL904"), [PRINT_LINE, EVAL_LINE, BREAKPOINT_LINE]),
        (("--select", "TL902", "--extend-select", "TL904"), [EVAL_LINE, BREAKPOINT_LINE]),
        (("--select", "ALL", "--ignore", "TL902"), [PRINT_LINE, BREAKPOINT_LINE]),
    ],
)
def test_select_ignore_extend_select(torchlint, script, options, expected):
    result = torchlint(*options, "t.py", cwd=script, plugins=PLUGINS)
    assert finding_lines(result.stdout) == expected
    assert result.exit_code == (1 if expected else 0)
    assert result.stderr == ""


@pytest.mark.parametrize("option", ["--select", "--ignore", "--extend-select"])
def test_unknown_code_is_a_usage_error(torchlint, script, option):
    result = torchlint(option, "TL999", "t.py", cwd=script, plugins=PLUGINS)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"torchlint: error: {option}: 'TL999' matches no rule code or name (codes look like "
        "TL101; prefixes like TL1 select a group; see `torchlint rule --all`)\n")


def test_json_format(torchlint, script):
    result = torchlint("--format", "json", "t.py", cwd=script, plugins=PLUGINS)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"code": "TL901", "name": "print-call", "severity": "warning", "message": "print() called",
         "body": "print() called", "path": "t.py", "line": 3, "column": 1, "end_line": 3, "end_column": 15,
         "fix": {"applicability": "safe", "title": "rename print to log", "edits": [
             {"line": 3, "column": 1, "end_line": 3, "end_column": 6, "replacement": "log"}]},
         "probe": None},
        {"code": "TL902", "name": "eval-call", "severity": "error", "message": "eval() called",
         "body": "eval() called", "path": "t.py", "line": 4, "column": 9, "end_line": 4, "end_column": 22,
         "fix": {"applicability": "unsafe", "title": "use literal_eval", "edits": [
             {"line": 4, "column": 9, "end_line": 4, "end_column": 13,
              "replacement": "literal_eval"}]},
         "probe": None},
    ]


def test_every_format_is_wired(torchlint, script):
    sarif = torchlint("--format", "sarif", "t.py", cwd=script, plugins=PLUGINS)
    assert sarif.exit_code == 1
    run = json.loads(sarif.stdout)["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["TL901", "TL902"]

    github = torchlint("--format", "github", "t.py", cwd=script, plugins=PLUGINS)
    assert github.exit_code == 1
    assert [line.split(" ", 1)[0] for line in github.stdout.splitlines()] == ["::warning", "::error"]
    assert "file=t.py,line=3,col=1" in github.stdout.splitlines()[0]

    lsp = torchlint("--format", "lsp", "t.py", cwd=script, plugins=PLUGINS)
    assert lsp.exit_code == 1
    diagnostics = json.loads(lsp.stdout)
    assert list(diagnostics) == [(script / "t.py").resolve().as_uri()]
    assert [(d["code"], d["range"]["start"]) for d in diagnostics[(script / "t.py").resolve().as_uri()]] == [
        ("TL901", {"line": 2, "character": 0}), ("TL902", {"line": 3, "character": 8})]


def test_full_format_prints_the_source_and_help(torchlint, script):
    """ruff's default: the title, the source lines with the range marked, the
    body as help; --show-source is kept and changes nothing."""
    result = torchlint("t.py", cwd=script, plugins=PLUGINS)
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[:7] == [
        PRINT_LINE,
        "  |",
        '3 | print("start")',
        "  | " + "^" * len('print("start")'),
        "  |",
        "  = help: print() called",
        "  = fix (--fix): rename print to log",
    ]
    assert lines[8] == EVAL_LINE
    assert lines[10] == '4 | value = eval("1 + 1")'
    assert torchlint("--show-source", "t.py", cwd=script, plugins=PLUGINS).stdout == result.stdout
    concise = torchlint("--output-format", "concise", "t.py", cwd=script, plugins=PLUGINS)
    assert 'print("start")' not in concise.stdout
    assert concise.stdout.splitlines()[:2] == [PRINT_LINE, EVAL_LINE]


def test_statistics_counts_per_rule(torchlint, tmp_path):
    (tmp_path / "t.py").write_text("import torch\nprint(1)\nprint(2)\nprint(3)\neval('1')\n")
    result = torchlint("--statistics", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout == "3\tTL901\t[*] print-call\n1\tTL902\t[ ] eval-call\n"
    plain = torchlint("t.py", cwd=tmp_path, plugins=PLUGINS)
    assert not [line for line in plain.stdout.splitlines() if re.match(r"^\s*\d+\s+TL\d{3}\s", line)]


def test_quiet_prints_findings_only(torchlint, script, tmp_path):
    result = torchlint("--quiet", "--output-format", "concise", "t.py", cwd=script, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout == f"{PRINT_LINE}\n{EVAL_LINE}\n"
    (tmp_path / "clean.py").write_text("import torch\n")
    clean = torchlint("-q", "clean.py", cwd=tmp_path, plugins=PLUGINS)
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "", "")


def test_summary_line(torchlint, script):
    result = torchlint("t.py", cwd=script, plugins=PLUGINS)
    assert result.stdout.splitlines()[-1].startswith("Found 2 findings (1 error, 1 warning) in 1 file.")


def test_version(torchlint):
    from torchlint import __version__

    result = torchlint("--version")
    assert (result.exit_code, result.stdout) == (0, f"torchlint, version {__version__}\n")


def test_help_lists_the_commands(torchlint):
    result = torchlint("--help")
    assert result.exit_code == 0
    commands = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert commands == ["check", "lsp", "rule", "server"]


def test_stdin_with_a_filename(torchlint, tmp_path):
    result = torchlint("-", "--stdin-filename", "pkg/train.py", input=SCRIPT, cwd=tmp_path,
                       plugins=PLUGINS)
    assert result.exit_code == 1
    assert finding_lines(result.stdout) == [
        "pkg/train.py:3:1: TL901 [*] print() called",
        "pkg/train.py:4:9: TL902 eval() called",
    ]
    bare = torchlint("-", input=SCRIPT, cwd=tmp_path, plugins=PLUGINS)
    assert finding_lines(bare.stdout) == ["-:3:1: TL901 [*] print() called",
                                          "-:4:9: TL902 eval() called"]
    implied = torchlint("--stdin-filename", "x.py", input=SCRIPT, cwd=tmp_path, plugins=PLUGINS)
    assert [line.split(":")[0] for line in finding_lines(implied.stdout)] == ["x.py", "x.py"]


def test_stdin_filename_finds_the_config_beside_it(torchlint, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL901"]\n')
    result = torchlint("-", "--stdin-filename", "project/train.py", input=SCRIPT, cwd=tmp_path,
                       plugins=PLUGINS)
    assert finding_lines(result.stdout) == ["project/train.py:4:9: TL902 eval() called"]


def test_stdin_and_files_together(torchlint, script):
    result = torchlint("-", "t.py", "--stdin-filename", "in.py", "--select", "TL901",
                       input="import torch\nprint(0)\n", cwd=script, plugins=PLUGINS)
    assert finding_lines(result.stdout) == ["in.py:2:1: TL901 [*] print() called", PRINT_LINE]


def test_rule_by_code_and_by_name(torchlint):
    by_code = torchlint("rule", "TL901", plugins=PLUGINS)
    by_name = torchlint("rule", "print-call", plugins=PLUGINS)
    assert by_code.exit_code == by_name.exit_code == 0
    assert by_code.stdout == by_name.stdout
    assert by_code.stdout.startswith("# TL901 print-call (warning)\n\nA call to print.\n\n## What it does\n")
    for heading in ("## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
        assert f"\n{heading}\n" in by_code.stdout


def test_rule_all_shows_every_rule(torchlint):
    listing = json.loads(torchlint("rule", "--all", "--format", "json", plugins=PLUGINS).stdout)
    plugin_codes = [rule["code"] for rule in listing if rule["code"].startswith("TL9")]
    assert plugin_codes == ["TL901", "TL902", "TL903", "TL904", "TL905", "TL906", "TL907"]
    assert "TL001" in [rule["code"] for rule in listing]
    text = torchlint("rule", "--all", plugins=PLUGINS)
    assert text.exit_code == 0
    headers = re.findall(r"^# (TL\d{3}) ", text.stdout, re.M)
    assert headers == [rule["code"] for rule in listing]


def test_rule_unknown(torchlint):
    result = torchlint("rule", "TL999")
    assert result.exit_code == 2
    assert result.stderr == ("torchlint: error: unknown rule 'TL999'; `torchlint rule --all` "
                             "lists every rule\n")
    assert torchlint("rule").exit_code == 2


def test_crashing_rule_is_reported_and_other_findings_still_print(torchlint, tmp_path):
    (tmp_path / "a.py").write_text("import torch\nprint(1)\nexplode()\n")
    (tmp_path / "b.py").write_text("import torch\nprint(2)\n")
    result = torchlint("a.py", "b.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 2
    assert finding_lines(result.stdout) == ["a.py:2:1: TL901 [*] print() called",
                                            "b.py:2:1: TL901 [*] print() called"]
    assert result.stderr == ("torchlint: error: a.py: rule TL903 (crashing-rule) crashed: "
                             "RuntimeError: boom (at crashing_rule.py:38)\n")
    exit_zero = torchlint("--exit-zero", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert exit_zero.exit_code == 2  # an internal error is not a finding


def test_plugin_that_fails_to_import(torchlint, tmp_path):
    package = tmp_path / "broken_rules"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1 / 0\n")
    (tmp_path / "t.py").write_text("import torch\n")
    result = torchlint("t.py", cwd=tmp_path, env={"TORCHLINT_PLUGINS": "broken_rules",
                                                   "PYTHONPATH": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == ("torchlint: error: cannot load the rule plugins in $TORCHLINT_PLUGINS "
                             "(broken_rules): ZeroDivisionError: division by zero (at __init__.py:1)\n")

    missing = torchlint("t.py", cwd=tmp_path, env={"TORCHLINT_PLUGINS": "no_such_rules"})
    assert missing.exit_code == 2
    assert missing.stderr == ("torchlint: error: cannot load the rule plugins in $TORCHLINT_PLUGINS "
                              "(no_such_rules): no module named 'no_such_rules' on the Python path\n")
    rule = torchlint("rule", "--all", cwd=tmp_path, env={"TORCHLINT_PLUGINS": "no_such_rules"})
    assert rule.exit_code == 2 and "Traceback" not in rule.stderr


def test_interrupt_exits_quietly(tmp_path):
    """Ctrl-C in the middle of a lint: exit 130, no traceback. The TL906 rule
    creates the marker file when it starts waiting, so the signal lands mid-run."""
    (tmp_path / "t.py").write_text("import torch\nhang()\n")
    marker = tmp_path / "marker"
    env = dict(os.environ, TORCHLINT_PLUGINS=PLUGINS, TORCHLINT_TEST_MARKER=str(marker),
               PYTHONPATH=str(TESTS / "plugins"))
    process = subprocess.Popen([torchlint_executable(), "t.py"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=terminal_signals)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the hang rule never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert stdout == b""
    assert stderr.strip() == b""


def test_broken_pipe_exits_quietly(tmp_path):
    """``torchlint big.py | head -1``: the reader goes away after one line."""
    lines = "".join(f"print({i})\n" for i in range(2000))  # ~100 kB of output: over a pipe buffer
    (tmp_path / "big.py").write_text("import torch\n" + lines)
    env = dict(os.environ, TORCHLINT_PLUGINS=PLUGINS, PYTHONPATH=str(TESTS / "plugins"))
    process = subprocess.Popen([torchlint_executable(), "big.py"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    assert first == b"big.py:2:1: TL901 [*] print() called\n"
    assert stderr == b""
    assert process.returncode == 1
