"""Every fix of every rule, applied by the installed command to every fixture.

Each group folder of fixtures/ (TL101 ... TL503, probe, seeds) is copied whole
(its project folders import their siblings) and linted with ``--format json``;
then, for each rule that has fixes there, a fresh copy is fixed with ``--fix
--unsafe-fixes --select CODE``, and finally every rule's fixes at once. After
each fix:

- every file it changed still parses, and only files with a fixable finding changed;
- each changed file is its old text with exactly the announced edits applied
  (so nothing outside the edit ranges changed; where announced edits overlap
  and wait for a second pass, the text outside their ranges is kept);
- no finding of that rule with a fix is left, and none is reported where a
  fixed finding was;
- after every rule's fixes, a second ``--fix --unsafe-fixes`` changes nothing.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from support import FIXTURES, REPO

from torchlint.registry import RuleSet


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


fuzz = _load_bench("fuzz")
GROUPS = sorted(folder.name for folder in FIXTURES.iterdir()
                if folder.is_dir() and any(folder.rglob("*.py")))
ARGS = ("--no-probe", "--format", "json")
FIX = ("--fix", "--unsafe-fixes")


def copy_group(group: str, target: Path) -> dict[str, bytes]:
    """The group's .py files (not its pyproject.toml files: probe settings and
    selections do not matter here) under a config of their own."""
    files = {}
    for path in sorted((FIXTURES / group).rglob("*.py")):
        relative = path.relative_to(FIXTURES / group).as_posix()
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
        files[relative] = path.read_bytes()
    (target / "pyproject.toml").write_text("[tool.torchlint]\n")
    return files


def contents(folder: Path, names) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


def json_findings(result) -> list[dict]:
    assert result.stderr == "", result.stderr
    assert result.exit_code in (0, 1), result.exit_code
    return json.loads(result.stdout)


def offsets_of(text: str, fixes: list[dict]) -> list[tuple[int, int, str]]:
    lines = fuzz.python_lines(text)
    return [(fuzz.to_offset(lines, text, e["line"], e["column"]),
             fuzz.to_offset(lines, text, e["end_line"], e["end_column"]), e["replacement"])
            for fix in fixes for e in fix["edits"]]


def moved(offset: int, edits: list[tuple[int, int, str]]) -> int:
    """Where `offset` of the old text lands once the edits are applied (a point
    inside an edited range lands at the start of its replacement)."""
    shift = 0
    for begin, end, replacement in sorted(edits):
        if begin <= offset < end:
            return begin + shift
        if end > offset:
            break
        shift += len(replacement) - (end - begin)  # wholly before (an insertion at it too)
    return offset + shift


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of an offset, with Python's line breaks."""
    line, start = 1, 0
    for match in fuzz._BREAK_RE.finditer(text):
        if match.end() > offset:
            break
        line, start = line + 1, match.end()
    return line, offset - start + 1


def check_fix(torchlint, group: str, folder: Path, select: str, findings: list[dict]) -> list[str]:
    """Fix `folder` with --select `select`; returns what went wrong."""
    before = copy_group(group, folder)
    if select != "ALL":
        # The fixes announced under the same selection as the fix run: what TL002 calls a
        # stale noqa code depends on which rules ran.
        findings = json_findings(torchlint(*ARGS, "--select", select, ".", cwd=folder, timeout=300))
    chosen = [f for f in findings if f["fix"] and (select == "ALL" or f["code"] == select)]
    result = torchlint(*ARGS, *FIX, "--select", select, ".", cwd=folder, timeout=300)
    remaining = json_findings(result)
    after = contents(folder, before)
    problems = []
    changed = {name for name in before if after[name] != before[name]}
    expected = {f["path"] for f in chosen}
    if changed != expected:
        problems.append(f"changed {sorted(changed)}, expected the files with fixes {sorted(expected)}")
    for name in sorted(changed):
        if not fuzz.python_parses(after[name]):
            problems.append(f"{name} does not parse after --fix")
        old, new = before[name].decode(), after[name].decode()
        edits = offsets_of(old, [f["fix"] for f in chosen if f["path"] == name])
        applied = fuzz.apply_edits(old, edits)
        if applied != new:
            # Overlapping edits (applied is None) wait for a second pass: then
            # only ask that the text outside the announced ranges is kept.
            outside = fuzz.outside_edits(old, new, [(b, e) for b, e, _ in edits])
            if outside or applied is not None:
                problems.append(f"{name}: the fixed text is not the announced edits applied"
                                + (f"; {outside}" if outside else " (inside the edit ranges)"))
            continue
        for finding in (f for f in chosen if f["path"] == name):
            start = fuzz.to_offset(fuzz.python_lines(old), old, finding["line"], finding["column"])
            line, column = position(new, moved(start, edits))
            again = [f for f in remaining if (f["path"], f["code"], f["line"], f["column"])
                     == (name, finding["code"], line, column)]
            if again:
                problems.append(f"{name}:{line}:{column}: {finding['code']} is still reported "
                                f"where its fix was applied")
    left = [f"{f['path']}:{f['line']}:{f['column']} {f['code']}" for f in remaining
            if f["fix"] and (select == "ALL" or f["code"] == select)]
    if left:
        problems.append(f"findings with a fix left after --fix: {left}")
    if select == "ALL" and changed:  # once every rule's fixes are in, nothing is left to do
        json_findings(torchlint(*ARGS, *FIX, "--select", "ALL", ".", cwd=folder, timeout=300))
        again = [name for name, data in contents(folder, before).items() if data != after[name]]
        if again:
            problems.append(f"a second --fix changed {again}")
    return problems


@pytest.mark.parametrize("group", GROUPS)
def test_every_fix_in_the_group_is_safe(torchlint, tmp_path, group):
    lint = tmp_path / "lint"
    copy_group(group, lint)
    findings = json_findings(torchlint(*ARGS, "--select", "ALL", ".", cwd=lint, timeout=300))
    codes = sorted({f["code"] for f in findings if f["fix"]})
    problems = []
    for code in [*codes, "ALL"]:
        problems += [f"--select {code}: {p}" for p in check_fix(torchlint, group, tmp_path / code,
                                                               code, findings)]
    assert problems == []


def test_every_rule_with_a_fix_has_a_fixture_that_uses_it(torchlint, tmp_path):
    """So the test above applies every fix of every rule at least once: the
    fixtures of each rule that declares a fix hold a finding with that fix."""
    declared = {rule.code: rule.fix_applicability for rule in RuleSet.all().rules if rule.fix_applicability}
    for code in declared:
        copy_group(code, tmp_path / code)
    result = torchlint(*ARGS, "--select", ",".join(declared), *declared, cwd=tmp_path, timeout=300)
    with_fixes: dict[str, set[str]] = {}
    for finding in json_findings(result):
        if finding["fix"]:
            with_fixes.setdefault(finding["code"], set()).add(finding["fix"]["applicability"])
    # A rule declares the best its fix can be; a finding may offer it as unsafe where
    # the fix could change what the program computes (TL501 where the total leaves the
    # function), never the other way round.
    assert set(with_fixes) == set(declared)
    for code, applicability in declared.items():
        assert applicability in with_fixes[code], (code, with_fixes[code])
        assert applicability == "safe" or with_fixes[code] == {"unsafe"}, (code, with_fixes[code])
