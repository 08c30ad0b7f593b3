"""Pathological input through the installed command: each run ends on its own
with findings or a one-line message, exit code 0, 1 or 2, no traceback.

Sizes here are smaller than the issue's where the full size costs more than a
few seconds (``bench/pathological.py`` runs those and reports time and peak
memory); the input builders are the bench's own:

    case                   here            bench
    lines of one file      5,000           200,000
    one line, refused      10 MB           10 MB
    one line, a string     2 MB            7 MB
    one line, a list       20,000 items    1,000,000 items
    nested parentheses     1,000 (+ 190 around a finding)   1,000
    ... in an imported module  1,000 and 5,000   5,000
    chained a + a + ...    5,000 and 1,000 5,000 and 2,500
    nested blocks          150 and 99      150 and 99
    elif branches          5,000           5,000
    notebook cells         1,000           5,000
    files in a tree        500             10,000

No test asserts a time: the limits are generous timeouts only.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from support import REPO


def _load_bench(name: str):
    module_name = f"torchlint_bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


patho = _load_bench("pathological")
TIMEOUT = 600
ARGS = ("--select", "ALL", "--no-probe")


@pytest.fixture
def project(tmp_path):
    """A folder with a config of its own (nothing from the folders above applies)."""
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    return tmp_path


def lint(torchlint, folder, *paths, output="concise"):  # one line per finding: the lines are huge
    return torchlint(*ARGS, "--format", output, *paths, cwd=folder, timeout=TIMEOUT)


def test_a_5000_line_file_reports_every_finding(torchlint, project):
    (project / "big.py").write_text(patho.many_lines(5_000))
    result = lint(torchlint, project, "big.py", output="json")
    blocks = patho.blocks_in(5_000)
    assert (result.exit_code, result.stderr) == (1, "")
    found = [(f["code"], f["line"], f["column"]) for f in json.loads(result.stdout)]
    header = patho.HEADER.count("\n")
    assert found == [("TL201", header + patho.BLOCK_FINDING_LINE + patho.BLOCK_LINES * block, 32)
                     for block in range(blocks)]
    assert blocks == 293


def test_a_10_mb_line_is_refused_with_one_line(torchlint, project):
    (project / "line.py").write_text(patho.long_string_line(10_000_000))
    result = lint(torchlint, project, "line.py")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("torchlint: error: line.py: 10.0 MB is larger than the 8 MiB torchlint "
                             "reads; exclude it in [tool.torchlint] exclude\n")


def test_a_2_mb_string_line_is_linted(torchlint, project):
    (project / "line.py").write_text(patho.long_string_line(2_000_000))
    result = lint(torchlint, project, "line.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")


def test_a_line_holding_a_20000_item_list_is_linted(torchlint, project):
    (project / "data.py").write_text(patho.long_list_line(20_000))
    result = lint(torchlint, project, "data.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")


def test_1000_nested_parentheses_are_a_syntax_error_as_in_python(torchlint, project):
    (project / "nested.py").write_text(patho.nested_parentheses(1_000))
    result = lint(torchlint, project, "nested.py")
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout == (
        "nested.py:2:205: TL001 The file does not parse: too many nested parentheses\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file.\n")


def test_a_finding_inside_190_parentheses_is_found_and_fixed(torchlint, project):
    inner = "F.cross_entropy(F.softmax(model(x), dim=1), y)"
    text = (patho.HEADER + "\n\ndef train(model, loader):\n    for x, y in loader:\n"
            f"        loss = {'(' * 190}{inner}{')' * 190}\n        loss.backward()\n")
    (project / "deep.py").write_text(text)
    result = lint(torchlint, project, "deep.py", output="json")
    assert (result.exit_code, result.stderr) == (1, "")
    assert [(f["code"], f["line"], f["column"], f["end_column"]) for f in json.loads(result.stdout)] == \
        [("TL201", 8, 222, 248)]
    fixed = torchlint(*ARGS, "--fix", "--unsafe-fixes", "deep.py", cwd=project, timeout=TIMEOUT)
    assert (fixed.exit_code, fixed.stderr) == (0, "")
    assert (project / "deep.py").read_text() == text.replace("F.softmax(model(x), dim=1)", "model(x)")


def test_1000_nested_parentheses_in_an_imported_module(torchlint, project):
    patho.imported_nesting(project, 1_000)
    result = lint(torchlint, project, "train.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")


def test_5000_nested_parentheses_in_an_imported_module(torchlint, project):
    # libcst's native parser overflows the C stack on this (a segmentation fault
    # until imported modules went through the same guarded parser as linted files)
    patho.imported_nesting(project, 5_000)
    result = lint(torchlint, project, "train.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")


def test_deep_nesting_in_a_file_with_a_nul_byte_past_8_kib(torchlint, project):
    # A NUL byte in the first 8 KiB makes it a binary file; later, it is a syntax error.
    # (Found by bench/fuzz.py: this once reached libcst, which overflowed the C stack.)
    (project / "t.py").write_bytes(b"import torch\nx = " + b"(" * 3000 + b"1" + b")" * 3000
                                   + b"\n#" + b"x" * 9000 + b"\0\n")
    result = lint(torchlint, project, "t.py")
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout == (
        "t.py:3:9002: TL001 The file does not parse: a NUL byte, which Python "
        "source cannot hold\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file.\n")


def test_5000_chained_operators_are_too_deep_as_in_python(torchlint, project):
    # CPython 3.11 refuses it too: "maximum recursion depth exceeded during compilation"
    (project / "chain.py").write_text(patho.operator_chain(5_000))
    result = lint(torchlint, project, "chain.py")
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout == (
        "chain.py:1:1: TL001 The file does not parse: too deeply nested for the parser\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file.\n")


def test_1000_chained_operators_are_linted(torchlint, project):
    (project / "chain.py").write_text(patho.operator_chain(1_000))
    result = lint(torchlint, project, "chain.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")


def test_150_nested_blocks_are_a_syntax_error_as_in_python(torchlint, project):
    (project / "blocks.py").write_text(patho.nested_blocks(150))
    result = lint(torchlint, project, "blocks.py")
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout == (
        "blocks.py:103:1: TL001 The file does not parse: too many levels of indentation\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file.\n")


def test_99_nested_loops_are_linted(torchlint, project):
    (project / "blocks.py").write_text(patho.nested_blocks(99, "for i in x:"))
    result = lint(torchlint, project, "blocks.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")


def test_5000_elif_branches_are_too_deep_as_in_python(torchlint, project):
    (project / "elif.py").write_text(patho.elif_chain(5_000))
    result = lint(torchlint, project, "elif.py")
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout == (
        "elif.py:1:1: TL001 The file does not parse: too deeply nested for the parser\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file.\n")


def test_a_notebook_of_1000_cells_reports_a_finding_per_cell(torchlint, project):
    (project / "notebook.ipynb").write_text(patho.notebook(1_000))
    result = lint(torchlint, project, "notebook.ipynb", output="json")
    assert (result.exit_code, result.stderr) == (1, "")
    found = [(f["code"], f["cell"], f["line"], f["column"]) for f in json.loads(result.stdout)]
    assert found == [("TL201", cell, 2, 24) for cell in range(2, 1_001)]


def test_a_tree_of_500_files(torchlint, project):
    patho.write_tree(project / "tree", 500)
    result = lint(torchlint, project, "tree", output="json")
    assert (result.exit_code, result.stderr) == (1, "")
    found = [(f["path"], f["line"], f["column"]) for f in json.loads(result.stdout)]
    assert found == [(f"tree/pkg{i // 100:04d}/mod{i:05d}.py", 19, 36) for i in range(0, 500, 10)]


def test_a_global_rebound_from_itself_is_linted(torchlint, project):
    # `step = step * 0.9` under `global step`: the name's binding is the statement
    # that reads it, so following a value to its assignment must stop.
    (project / "decay.py").write_text(
        "import torch\n\nstep = 1.0\n\n\ndef descend(w, grad):\n    global step\n"
        "    w = w - step * grad\n    step = step * 0.9\n    return w\n")
    result = lint(torchlint, project, "decay.py")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "No findings in 1 file.\n", "")
