"""``--diff``, ``--fix`` and ``--unsafe-fixes`` through the installed command,
with the frame_rules test rules: TL901 renames ``print`` to ``log`` (safe),
TL902 ``eval`` to ``literal_eval`` (unsafe), TL905's fix breaks the file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PLUGINS = "frame_rules"


def finding_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.match(r"^\S+:\d+:\d+: TL\d{3} ", line)]


def test_diff_prints_a_unified_diff_and_writes_nothing(torchlint, tmp_path):
    original = b"import torch\nprint(1)\nx = eval('2')\nprint(x)"  # no newline at the end
    (tmp_path / "t.py").write_bytes(original)
    result = torchlint("--diff", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout == (
        "--- a/t.py\n"
        "+++ b/t.py\n"
        "@@ -1,4 +1,4 @@\n"
        " import torch\n"
        "-print(1)\n"
        "+log(1)\n"
        " x = eval('2')\n"
        "-print(x)\n"
        "\\ No newline at end of file\n"
        "+log(x)\n"
        "\\ No newline at end of file\n"
    )
    assert result.stderr == "Would fix 2 findings (of 3 findings in 1 file).\n"
    assert (tmp_path / "t.py").read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["t.py"]

    unsafe = torchlint("--diff", "--unsafe-fixes", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert unsafe.stdout == (
        "--- a/t.py\n"
        "+++ b/t.py\n"
        "@@ -1,4 +1,4 @@\n"
        " import torch\n"
        "-print(1)\n"
        "-x = eval('2')\n"
        "-print(x)\n"
        "\\ No newline at end of file\n"
        "+log(1)\n"
        "+x = literal_eval('2')\n"
        "+log(x)\n"
        "\\ No newline at end of file\n"
    )
    assert (tmp_path / "t.py").read_bytes() == original


def test_diff_applies_with_git_apply(torchlint, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    original = b"import torch\r\nprint(1)\r\n\r\nif True:\n\tprint(2)\r\nprint(3)"
    (tmp_path / "t.py").write_bytes(original)
    diff = torchlint("--diff", "t.py", cwd=tmp_path, plugins=PLUGINS).stdout
    (tmp_path / "fix.patch").write_text(diff, newline="")
    subprocess.run(["git", "apply", "--whitespace=nowarn", "fix.patch"], cwd=tmp_path, check=True)
    assert (tmp_path / "t.py").read_bytes() == original.replace(b"print", b"log")


def test_fix_applies_safe_fixes_only(torchlint, tmp_path):
    (tmp_path / "t.py").write_text("import torch\nprint(1)\nx = eval('2')\nprint(x)\n")
    result = torchlint("--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert (tmp_path / "t.py").read_text() == "import torch\nlog(1)\nx = eval('2')\nlog(x)\n"
    assert result.exit_code == 1  # the unsafe one is left
    assert finding_lines(result.stdout) == ["t.py:3:5: TL902 eval() called"]
    assert "2 fixed" in result.stdout.splitlines()[-1]
    assert result.stderr == ""


def test_unsafe_fixes(torchlint, tmp_path):
    (tmp_path / "t.py").write_text("import torch\nprint(1)\nx = eval('2')\n")
    result = torchlint("--fix", "--unsafe-fixes", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert (tmp_path / "t.py").read_text() == "import torch\nlog(1)\nx = literal_eval('2')\n"
    assert result.exit_code == 0
    assert finding_lines(result.stdout) == []


def test_second_fix_changes_nothing(torchlint, tmp_path):
    target = tmp_path / "t.py"
    target.write_text("import torch\nprint(print(1))\n")  # nested: both in one run
    first = torchlint("--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert first.exit_code == 0
    fixed = target.read_bytes()
    assert fixed == b"import torch\nlog(log(1))\n"
    before = os.stat(target)
    second = torchlint("--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    after = os.stat(target)
    assert second.exit_code == 0
    assert target.read_bytes() == fixed
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert second.stdout.splitlines()[-1].startswith("No findings")


def test_fix_keeps_every_byte_outside_the_edits(torchlint, tmp_path):
    """Mixed line endings (\\n, \\r\\n, \\r), tabs, a UTF-8 BOM, non-ASCII text and
    a last line without a newline: only the edited ranges change."""
    original = (
        b"\xef\xbb\xbfimport torch\r\n"
        b"x = 1\r"
        b"print(x)\n"
        b"\n"
        b"if x:\n"
        b"\tprint('tab\tinside')\r\n"
        b"\ty = 'caf\xc3\xa9 \xe2\x9c\x93'  # \xc3\xa9t\xc3\xa9\r\n"
        b"\tprint(y);  print(y)\r\n"
        b"print(y)"
    )
    (tmp_path / "t.py").write_bytes(original)
    result = torchlint("--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (tmp_path / "t.py").read_bytes() == original.replace(b"print", b"log")


def test_fix_keeps_a_pep263_encoding(torchlint, tmp_path):
    original = (
        b"# -*- coding: latin-1 -*-\n"
        b"import torch\n"
        b"name = 'caf\xe9'\r\n"
        b"print(name)  # \xe9t\xe9\n"
        b"print('\xa9')"
    )
    (tmp_path / "t.py").write_bytes(original)
    result = torchlint("--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (tmp_path / "t.py").read_bytes() == original.replace(b"print", b"log")


def test_fix_is_atomic_and_keeps_mode_and_links(torchlint, tmp_path):
    target = tmp_path / "real.py"
    target.write_text("import torch\nprint(1)\n")
    target.chmod(0o640)
    (tmp_path / "link.py").symlink_to("real.py")
    inode = os.stat(target).st_ino
    result = torchlint("--fix", "link.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 0
    assert (tmp_path / "link.py").is_symlink()  # the link still points at the file
    assert target.read_text() == "import torch\nlog(1)\n"
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert os.stat(target).st_ino != inode  # a new file renamed over the old one
    assert sorted(os.listdir(tmp_path)) == ["link.py", "real.py"]  # no temporary file left


def test_fix_that_would_not_parse_is_not_written(torchlint, tmp_path):
    original = "import torch\nbreakfix()\nprint(1)\n"
    (tmp_path / "t.py").write_text(original)
    result = torchlint("--fix", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 2
    assert (tmp_path / "t.py").read_text() == original
    assert result.stderr.startswith(
        "torchlint: error: t.py: fixes not applied, the fixed code would not parse (")
    assert result.stderr.endswith("); please report it\n")
    assert len(result.stderr.splitlines()) == 1
    assert finding_lines(result.stdout) == ["t.py:2:1: TL905 [*] breakfix() called",
                                            "t.py:3:1: TL901 [*] print() called"]


def test_fix_of_several_files_and_folders(torchlint, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("import torch\nprint(1)\n")
    (tmp_path / "b.py").write_text("import torch\nx = 1\n")
    result = torchlint("--fix", ".", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 0
    assert (tmp_path / "pkg" / "a.py").read_text() == "import torch\nlog(1)\n"
    assert (tmp_path / "b.py").read_text() == "import torch\nx = 1\n"


def test_stdin_fix_prints_the_fixed_code(torchlint, tmp_path):
    source = "import torch\nprint(1)\nx = eval('2')\n"
    result = torchlint("--fix", "-", "--stdin-filename", "t.py", input=source, cwd=tmp_path,
                       plugins=PLUGINS)
    assert result.stdout == "import torch\nlog(1)\nx = eval('2')\n"
    assert finding_lines(result.stderr) == ["t.py:3:5: TL902 eval() called"]
    assert result.exit_code == 1
    assert os.listdir(tmp_path) == []

    clean = torchlint("--fix", "-", input="import torch\n", cwd=tmp_path, plugins=PLUGINS)
    assert (clean.exit_code, clean.stdout) == (0, "import torch\n")  # unchanged code, echoed

    diff = torchlint("--diff", "-", "--stdin-filename", "t.py", input=source, cwd=tmp_path,
                     plugins=PLUGINS)
    assert diff.stdout == ("--- a/t.py\n+++ b/t.py\n@@ -1,3 +1,3 @@\n import torch\n"
                           "-print(1)\n+log(1)\n x = eval('2')\n")


def test_stdin_fix_keeps_bytes(tmp_path):
    source = b"\xef\xbb\xbfimport torch\r\nprint(1)\rif True:\n\tprint('\xc3\xa9')"
    assert fix_stdin(tmp_path, source) == source.replace(b"print", b"log")


def test_fix_after_a_form_feed(tmp_path):
    # str.splitlines() splits at a form feed, Python does not: the locator once took
    # columns from the wrong line and the edit landed one column early.
    source = b"import torch\nprint(1)\n\x0cprint(2)\n"
    assert fix_stdin(tmp_path, source) == source.replace(b"print", b"log")


def fix_stdin(tmp_path: Path, source: bytes) -> bytes:
    """``torchlint --fix -`` on raw bytes (the fixture decodes its output)."""
    from support import TESTS, torchlint_executable

    env = dict(os.environ, TORCHLINT_PLUGINS=PLUGINS, PYTHONPATH=str(TESTS / "plugins"))
    completed = subprocess.run([torchlint_executable(), "--fix", "-"], input=source, cwd=tmp_path,
                               env=env, capture_output=True, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_json_after_fix_lists_what_is_left(torchlint, tmp_path):
    (tmp_path / "t.py").write_text("import torch\nprint(1)\nx = eval('2')\n")
    result = torchlint("--fix", "--format", "json", "t.py", cwd=tmp_path, plugins=PLUGINS)
    assert [(f["code"], f["line"]) for f in json.loads(result.stdout)] == [("TL902", 3)]
