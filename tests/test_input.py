"""Bad input never prints a traceback: each gets one clear line naming the
file, and the exit code cli.py documents (unreadable input and bad config: 2;
a file that does not parse: a TL001 finding, 1). Through the installed command."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

PLUGINS = "frame_rules"
GOOD = "import torch\nprint(1)\n"  # one TL901 finding, so we see it is still linted


def run_beside_good(torchlint, tmp_path: Path, name: str, data: bytes | None):
    """Lint the bad file together with a good one; the good one must still be linted."""
    if data is not None:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.py").write_text(GOOD)
    result = torchlint(name, "good.py", cwd=tmp_path, plugins=PLUGINS)
    assert "Traceback" not in result.stderr + result.stdout
    return result


def assert_unreadable(result, message: str) -> None:
    assert result.exit_code == 2
    assert result.stderr == f"torchlint: error: {message}\n"
    assert result.stdout.splitlines()[0] == "good.py:2:1: TL901 [*] print() called"


def test_file_that_is_not_utf8(torchlint, tmp_path):
    result = run_beside_good(torchlint, tmp_path, "latin.py", b"import torch\nname = 'caf\xe9'\n")
    assert_unreadable(result, "latin.py:2: cannot decode byte b'\\xe9' as utf-8; save the file as "
                              "UTF-8 or declare its encoding (PEP 263)")


def test_pep263_coding_line_is_honoured(torchlint, tmp_path):
    (tmp_path / "latin.py").write_bytes(
        b"#!/usr/bin/env python\n# -*- coding: latin-1 -*-\nimport torch\nx = '\xe9\xe9'; print(x)\n")
    result = torchlint("latin.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "latin.py:4:11: TL901 [*] print() called"
    assert result.stderr == ""


def test_coding_line_after_code_is_not_a_declaration(torchlint, tmp_path):
    # PEP 263: the second line counts only when the first is blank or a comment
    data = b"import torch\n# -*- coding: latin-1 -*-\nx = '\xe9'\n"
    result = run_beside_good(torchlint, tmp_path, "late.py", data)
    assert_unreadable(result, "late.py:3: cannot decode byte b'\\xe9' as utf-8; save the file as "
                              "UTF-8 or declare its encoding (PEP 263)")


def test_unknown_or_lying_coding_line(torchlint, tmp_path):
    # A codec registered at run time by a package (future_fstrings, pyxl) transforms UTF-8
    # source: the file is read as UTF-8; only bytes that are not UTF-8 make it unreadable.
    result = run_beside_good(torchlint, tmp_path, "k.py", b"# coding: klingon\nimport torch\nprint(1)\n")
    assert result.exit_code == 1 and result.stderr == "", result.stderr
    assert "k.py:3:1: TL901" in result.stdout
    result = run_beside_good(torchlint, tmp_path, "k2.py", b"# coding: klingon\nx = '\xe9'\n")
    assert_unreadable(result, "k2.py: unknown encoding 'klingon' in its coding line, and the file is not UTF-8")
    result = run_beside_good(torchlint, tmp_path, "a.py", b"# coding: ascii\nx = '\xc3\xa9'\n")
    assert_unreadable(result, "a.py:2: cannot decode byte b'\\xc3' as ascii; its coding line does "
                              "not match its bytes")


def test_binary_file(torchlint, tmp_path):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    result = run_beside_good(torchlint, tmp_path, "image.py", data)
    assert_unreadable(result, "image.py: binary file (contains NUL bytes), not Python source")


def test_unreadable_file(torchlint, tmp_path):
    locked = tmp_path / "locked.py"
    locked.write_text(GOOD)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user that can read any file (root)")
        result = run_beside_good(torchlint, tmp_path, "locked.py", None)
    finally:
        locked.chmod(0o644)
    assert_unreadable(result, "locked.py: permission denied")


def test_missing_path(torchlint, tmp_path):
    result = run_beside_good(torchlint, tmp_path, "missing.py", None)
    assert_unreadable(result, "missing.py: no such file or folder")
    alone = torchlint("missing.py", "nodir/", cwd=tmp_path, plugins=PLUGINS)
    assert (alone.exit_code, alone.stdout) == (2, "")
    assert alone.stderr.splitlines() == ["torchlint: error: missing.py: no such file or folder",
                                         "torchlint: error: nodir/: no such file or folder"]


def test_empty_file(torchlint, tmp_path):
    (tmp_path / "empty.py").write_bytes(b"")
    result = torchlint("empty.py", cwd=tmp_path, plugins=PLUGINS)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")
    as_json = torchlint("--format", "json", "empty.py", cwd=tmp_path, plugins=PLUGINS)
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])


def test_file_of_50000_lines(torchlint, tmp_path):
    # mostly comments, so the test stays fast; one statement every 100 lines
    lines = ["import torch\n"]
    for number in range(2, 50000):
        lines.append(f"x{number} = torch.zeros({number})\n" if number % 100 == 0 else f"# {number}\n")
    lines.append("print(x49900)\n")
    (tmp_path / "long.py").write_text("".join(lines))
    result = torchlint("long.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "long.py:50000:1: TL901 [*] print() called"
    assert len(finding_lines(result.stdout)) == 1
    assert result.stderr == ""


def test_file_over_the_size_limit(torchlint, tmp_path):
    result = run_beside_good(torchlint, tmp_path, "huge.py", b"# " + b"x" * (9 * 1024 * 1024) + b"\n")
    assert_unreadable(result, "huge.py: 9.4 MB is larger than the 8 MiB torchlint reads; exclude "
                              "it in [tool.torchlint] exclude")


def test_notebook_with_invalid_json(torchlint, tmp_path):
    result = run_beside_good(torchlint, tmp_path, "nb.ipynb", b'{"cells": [\n')
    assert_unreadable(result, "nb.ipynb: not a valid notebook (invalid JSON: Expecting value: "
                              "line 2 column 1 (char 12))")
    result = run_beside_good(torchlint, tmp_path, "old.ipynb", b'{"worksheets": []}')
    assert_unreadable(result, "old.ipynb: not a valid notebook (no list of cells; nbformat 4 expected)")


def test_notebook_cell_that_does_not_parse(torchlint, tmp_path):
    notebook = {"cells": [
        {"cell_type": "code", "source": ["import torch\n", "print(1)\n"]},
        {"cell_type": "code", "source": ["def broken(:\n", "    pass\n"]},
        {"cell_type": "code", "source": ["print(2)\n"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook))
    result = torchlint("nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert finding_lines(result.stdout) == [
        "nb.ipynb:cell 1:2:1: TL901 [*] print() called",
        "nb.ipynb:cell 2:1:12: TL001 The file does not parse: invalid syntax",
        "nb.ipynb:cell 3:1:1: TL901 [*] print() called",
    ]
    assert result.stderr == ""


def test_symlink_loop(torchlint, tmp_path):
    (tmp_path / "a.py").symlink_to("b.py")
    (tmp_path / "b.py").symlink_to("a.py")
    result = run_beside_good(torchlint, tmp_path, "a.py", None)
    assert_unreadable(result, "a.py: symbolic link loop; nothing to lint")
    (tmp_path / "loop").symlink_to("loop", target_is_directory=True)
    folder = torchlint("loop", cwd=tmp_path, plugins=PLUGINS)
    assert (folder.exit_code, folder.stderr) == (2, "torchlint: error: loop: symbolic link loop; nothing to lint\n")


def test_config_with_an_unknown_key(torchlint, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nslect = []\n")
    result = run_beside_good(torchlint, tmp_path, "good.py", None)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"torchlint: error: {tmp_path / 'pyproject.toml'}: [tool.torchlint] slect: "
                             "unknown key; allowed: exclude, extend-select, ignore, per-file-ignores, "
                             "probe, select\n")


def test_select_with_an_unknown_code(torchlint, tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    result = torchlint("--select", "TL1O1", "good.py", cwd=tmp_path, plugins=PLUGINS)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("torchlint: error: --select: 'TL1O1' matches no rule code or name (codes "
                             "look like TL101; prefixes like TL1 select a group; see `torchlint rule --all`)\n")


def test_syntax_error_is_a_finding_and_the_other_files_are_linted(torchlint, tmp_path):
    result = run_beside_good(torchlint, tmp_path, "broken.py", b"import torch\nfor x in range(3)\n    pass\n")
    assert result.exit_code == 1
    assert finding_lines(result.stdout) == [
        "broken.py:2:18: TL001 The file does not parse: expected ':'",
        "good.py:2:1: TL901 [*] print() called",
    ]
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import torch\nx = " + "(" * 5000 + ")" * 5000 + "\n",
         "deep.py:2:205: TL001 The file does not parse: too many nested parentheses"),
        ("import torch\nx = " + "-" * 50000 + "1\n",
         "deep.py:1:1: TL001 The file does not parse: too deeply nested for the parser"),
        ("import torch\n" + "x = 1\n" * 3000 + "y = \0\n",
         "deep.py:3002:5: TL001 The file does not parse: a NUL byte, which Python "
         "source cannot hold"),
    ],
    ids=["brackets", "operators", "nul-byte"],
)
def test_input_that_would_crash_the_parser(torchlint, tmp_path, text, expected):
    """libcst's native parser overflows the C stack on deep nesting (a segmentation
    fault, exit -11); CPython's parser refuses it first."""
    result = run_beside_good(torchlint, tmp_path, "deep.py", text.encode())
    assert finding_lines(result.stdout) == [expected, "good.py:2:1: TL901 [*] print() called"]
    assert (result.exit_code, result.stderr) == (1, "")


def finding_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.match(r"^\S+:(cell \d+:)?\d+:\d+: TL\d{3} ", line)]


def test_imported_local_module_that_would_crash_the_parser(torchlint, tmp_path):
    (tmp_path / "helpers.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n"
                                         "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    (tmp_path / "train.py").write_text("import torch\nfrom helpers import Net\nmodel = Net()\n"
                                       "with torch.no_grad():\n    for a in [1]:\n        y = model(a)\n")
    result = torchlint("train.py", cwd=tmp_path)
    assert result.exit_code in (0, 1), f"exit {result.exit_code}: {result.stderr}"
