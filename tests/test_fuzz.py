"""Fuzzing the installed ``torchlint``: every fixture mutated, and programs from
hypothesmith, alone or spliced into fixtures, checked for the properties of
``bench/fuzz.py`` (no traceback, exit code 0/1/2 matching the findings, valid
JSON, positions inside the file, deterministic output, ``--fix --unsafe-fixes``
output that parses, changes only its edit ranges, leaves no fixable finding,
and is left alone by a second ``--fix``).

Bounded and reproducible: the mutations draw from ``random.Random`` with a fixed
seed, the programs from hypothesmith under hypothesis's ``@seed`` (generation
only: a shrink would rerun torchlint hundreds of times; a failure prints its
inputs instead). Many inputs share one torchlint process per step (startup
costs about 0.3 s). ``python bench/fuzz.py`` is the long run.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import tempfile
from pathlib import Path

from support import REPO


def _load_bench(name: str):
    """bench/ is not a package: load the script by path, once."""
    module_name = f"torchlint_bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fuzz = _load_bench("fuzz")
UNITS = fuzz.fixture_units()

def explain(report, cases) -> str:
    """Each failure with the input that shows it (the first 3,000 bytes of each file)."""
    parts = []
    for failure in report.failures:
        parts.append(f"[{failure.prop}] {failure.case}: {failure.detail[:1500]}")
        if failure.case.startswith("c") and failure.case[1:5].isdigit():
            case = cases[int(failure.case[1:5])]
            for name, data in case.files.items():
                if name in case.mutated:
                    parts.append(f"--- {name} ({len(data)} bytes)\n{data[:3000]!r}")
    return "\n".join(parts)


def check(cases) -> object:
    with tempfile.TemporaryDirectory(prefix="torchlint-fuzz-") as scratch:
        return fuzz.BatchChecker(Path(scratch), timeout=600).check(cases)


def test_every_fixture_mutated_keeps_every_property():
    """Every .py file under fixtures/, each with a mutation of its own: the kinds
    take turns (so each kind meets about 20 files), plus one drawn at random."""
    rng = random.Random(20_251_125)
    kinds = fuzz.MUTATION_KINDS
    cases = [
        fuzz.mutated_case(rng, unit, [kinds[index % len(kinds)], rng.choice(kinds)],
                          limits=fuzz.SUITE, every_file=True)
        for index, unit in enumerate(UNITS)
    ]
    report = check(cases)
    assert report.failures == [], explain(report, cases)
    assert (report.inputs, report.files) == (len(UNITS), sum(len(unit.files) for unit in UNITS))


def test_programs_from_the_grammar_keep_every_property():
    """Any text CPython compiles (hypothesmith.from_grammar, a fixed seed), alone
    (marked as torch code so it is analysed) or spliced between the top-level
    statements of a fixture."""
    programs = fuzz.generated_programs(24, seed=1, kind="grammar")
    rng = random.Random(1)
    cases = [fuzz.program_case(rng, program, UNITS, "from_grammar") for program in programs]
    report = check(cases)
    assert report.failures == [], explain(report, cases)
    assert report.inputs == 24


def test_programs_from_libcst_nodes_keep_every_property():
    """Programs built from libcst nodes (hypothesmith.from_node, a fixed seed)."""
    programs = fuzz.generated_programs(8, seed=2, kind="node")
    rng = random.Random(2)
    cases = [fuzz.program_case(rng, program, UNITS, "from_node") for program in programs]
    report = check(cases)
    assert report.failures == [], explain(report, cases)
    assert report.inputs == 8


# -- the checker itself flags what it is meant to flag ---------------------------------


def _completed(exit_code, stdout: str, stderr: str = ""):
    return fuzz.Completed(("--format", "json"), exit_code, stdout.encode(), stderr.encode())


def _finding(path="c0000/t.py", line=1, column=1, end_line=1, end_column=1, fix=None) -> str:
    import json

    return json.dumps([{"code": "TL101", "name": "missing-eval", "severity": "error", "message": "m",
                        "path": path, "line": line, "column": column, "end_line": end_line,
                        "end_column": end_column, "fix": fix, "probe": None}])


def _problems(run, contents=None, fixed=False) -> list[tuple[str, str]]:
    report = fuzz.BatchReport()
    checker = fuzz.BatchChecker(Path("."))
    checker.check_run("lint", run, contents or {"c0000/t.py": b"ab\ncd\n"}, lambda path: "c0000",
                      report, fixed=fixed)
    return [(failure.prop, failure.detail) for failure in report.failures]


def test_checker_accepts_a_clean_run():
    assert _problems(_completed(1, _finding(line=2, column=3, end_line=3, end_column=1))) == []
    assert _problems(_completed(0, "[]\n")) == []
    assert _problems(_completed(2, "[]\n", "torchlint: error: c0000/t.py:1: cannot decode byte "
                                           "b'\\xff' as utf-8; save the file as UTF-8\n")) == []


def test_checker_flags_each_broken_property():
    assert _problems(_completed(1, _finding(line=4, end_line=4))) == [
        ("positions inside the file", "lint: c0000/t.py: TL101 finding (4, 1, 4, 1): start line 4 outside 1..3")]
    assert _problems(_completed(1, _finding(column=4, end_column=4))) == [
        ("positions inside the file", "lint: c0000/t.py: TL101 finding (1, 4, 1, 4): "
                                      "start column 4 outside 1..3 on line 1")]
    assert _problems(_completed(1, _finding(line=2, end_line=1))) == [
        ("positions inside the file", "lint: c0000/t.py: TL101 finding (2, 1, 1, 1): end before start")]
    assert _problems(_completed(0, _finding())) == [
        ("exit code matches the findings", "lint: exit 0 with 1 findings and 0 error lines")]
    assert _problems(_completed(3, "[]")) == [
        ("exit code 0, 1 or 2", "lint: exit code 3"),
        ("exit code matches the findings", "lint: exit 3 with 0 findings and 0 error lines")]
    assert _problems(_completed(1, "[{")) == [
        ("valid JSON", "lint: Expecting property name enclosed in double quotes: line 1 column 3 (char 2): b'[{'")]
    traceback = "Traceback (most recent call last):\n  File x\nValueError: boom\n"
    assert [prop for prop, _ in _problems(_completed(2, "[]", traceback))] == [
        "no traceback", "only bad-input messages", "only bad-input messages", "only bad-input messages"]
    assert _problems(_completed(2, "[]", "torchlint: error: c0000/t.py: rule TL101 (missing-eval) "
                                         "crashed: KeyError: 'x' (at walker.py:1)\n")) == [
        ("only bad-input messages", "lint: torchlint: error: c0000/t.py: rule TL101 (missing-eval) "
                                    "crashed: KeyError: 'x' (at walker.py:1)")]
    fix = {"applicability": "safe", "title": "t", "edits": [
        {"line": 1, "column": 1, "end_line": 1, "end_column": 2, "replacement": "x"}]}
    assert _problems(_completed(1, _finding(fix=fix)), fixed=True) == [
        ("fix removes its finding", "lint: c0000/t.py:1:1 TL101 still has a safe fix after --fix")]
    assert _problems(_completed(None, "")) == [("finishes", "lint: killed after 900 s")]


def test_checker_positions_in_notebooks_are_per_cell():
    notebook = (b'{"cells": [{"cell_type": "markdown", "source": ["# t"]}, '
                b'{"cell_type": "code", "source": ["import torch\\n", "x = 1"]}], "nbformat": 4}')
    finding = _finding(path="c0000/n.ipynb", line=2, column=6, end_line=2, end_column=6)
    assert _problems(_completed(1, finding.replace('"probe": null', '"probe": null, "cell": 2')),
                     {"c0000/n.ipynb": notebook}) == []
    assert _problems(_completed(1, finding.replace('"probe": null', '"probe": null, "cell": 1')),
                     {"c0000/n.ipynb": notebook}) == [
        ("positions inside the file", "lint: c0000/n.ipynb: cell 1 is no code cell")]


def test_outside_edits_finds_changes_outside_the_ranges():
    before = "loss = f(a)\ntotal += loss\n"
    # `total += loss` -> `total += loss.item()`: the edit covers `loss` (offsets 21-25)
    assert fuzz.outside_edits(before, "loss = f(a)\ntotal += loss.item()\n", [(21, 25)]) is None
    # an insertion that a character diff could place before or after the range
    assert fuzz.outside_edits("f(a)", "f(a, a)", [(3, 3)]) is None
    assert fuzz.outside_edits(before, "loss = f(b)\ntotal += loss.item()\n", [(21, 25)]) == \
        "changed before the first edit at offset 9: 'a)\\ntotal += loss\\n' -> 'b)\\ntotal += loss.item()\\n'"
    assert fuzz.outside_edits(before, "loss = f(a)\ntotal += loss.item()\nx", [(21, 25)]) == \
        "the text after the last edit (from offset 25) changed"
    assert fuzz.outside_edits("a b c", "A b C", [(0, 1), (4, 5)]) is None
    assert fuzz.outside_edits("a b c", "A B C", [(0, 1), (4, 5)]) == \
        "the text between edits at offset 1 (' b ') changed"
