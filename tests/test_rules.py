"""Every rule, through the installed command: its class is complete, its
documented examples behave as documented (and their fixes produce the
documented code), and every fixture yields exactly the findings written in it.

Expected findings are written in the code: a line ending with
``# expect: TL101`` (or ``# expect: TL101, TL102``) must be reported with those
codes, and no other line may be reported.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from support import FIXTURES

from torchlint.registry import discover
from torchlint.rule import DOC_HEADINGS

EXPECT_RE = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
RULES = discover()
DESIGN_CODES = {
    "TL001": "syntax-error", "TL002": "unused-noqa", "TL101": "missing-eval", "TL102": "missing-no-grad",
    "TL103": "functional-dropout-always-on", "TL104": "missing-train", "TL201": "softmax-before-cross-entropy",
    "TL202": "log-softmax-before-cross-entropy", "TL203": "inconsistent-loss-normalization",
    "TL204": "softmax-over-batch-dim", "TL205": "sigmoid-before-bce-with-logits",
    "TL301": "batchnorm-single-sample", "TL302": "random-augmentation-in-evaluation",
    "TL303": "unshuffled-training-loader",
    "TL401": "discarded-from-pretrained", "TL501": "loss-accumulated-with-graph",
    "TL502": "seed-reset-in-loop", "TL503": "missing-zero-grad", "TL504": "optimizer-on-stale-parameters",
    "TL505": "zero-grad-between-backward-and-step", "TL506": "misplaced-gradient-clipping",
}
# Fixtures pinned by other test modules (the probe's models carry findings on purpose).
OWN_TESTS = ("probe",)


def expected_findings(text: str) -> set[tuple[int, str]]:
    found = set()
    for number, line in enumerate(text.splitlines(), start=1):
        match = EXPECT_RE.search(line)
        if match:
            for code in match.group(1).replace(" ", "").split(","):
                if code:
                    found.add((number, code))
    return found


def reported(findings: list[dict], path: str) -> set[tuple[int, str]]:
    return {(f["line"], f["code"]) for f in findings if Path(f["path"]).as_posix() == path}


def test_rules_match_the_design_table():
    assert {rule.code: rule.name for rule in RULES} == DESIGN_CODES


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_class_is_complete(rule):
    assert rule.problems() == []
    assert list(rule.doc_sections()) == list(DOC_HEADINGS)
    assert rule.summary.endswith(".")
    assert rule.INVALID or rule.code == "TL001", "a rule documents at least one invalid example"
    assert rule.VALID, "a rule documents at least one valid example"
    documents_fix = any(example.fixed is not None for example in rule.INVALID)
    assert documents_fix == (rule.fix_applicability is not None), "a fixable rule shows its fix"
    assert rule.fix_applicability in (None, "safe", "unsafe")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_documented_examples(rule, tmp_path, torchlint):
    cases = []
    for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID)):
        for index, example in enumerate(examples):
            folder = tmp_path / f"{kind}_{index}"
            folder.mkdir()
            code = textwrap.dedent(example.code).lstrip("\n")
            (folder / "example.py").write_text(code)
            for relative, text in example.files:
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                (folder / relative).write_text(textwrap.dedent(text).lstrip("\n"))
            cases.append((folder, code, example))
    result = torchlint("--format", "json", "--select", rule.code, ".", cwd=tmp_path)
    assert result.exit_code in (0, 1), result.stderr
    findings = json.loads(result.stdout)
    for folder, code, _ in cases:
        name = f"{folder.name}/example.py"
        want = {item for item in expected_findings(code) if item[1] == rule.code}
        assert reported(findings, name) == want, (name, code, findings)
        if folder.name.startswith("valid"):
            assert not want
    for folder, code, example in cases:
        if example.fixed is None:
            continue
        fixed = torchlint("--fix", "--unsafe-fixes", "--select", rule.code, "example.py", cwd=folder)
        assert fixed.exit_code in (0, 1), fixed.stderr
        assert (folder / "example.py").read_text() == textwrap.dedent(example.fixed).lstrip("\n")


def fixture_files() -> list[Path]:
    return sorted(
        path for path in FIXTURES.rglob("*.py")
        if not any(part in OWN_TESTS for part in path.relative_to(FIXTURES).parts)
    )


@pytest.fixture(scope="module")
def fixture_findings(tmp_path_factory) -> list[dict]:
    """All rules over every fixture folder, in one run of the installed command."""
    import subprocess

    from support import torchlint_executable

    folders = sorted({p.relative_to(FIXTURES).parts[0] for p in fixture_files()})
    folders = [f for f in folders if f not in OWN_TESTS]
    completed = subprocess.run(
        [torchlint_executable(), "--format", "json", "--select", "ALL", *folders],
        cwd=FIXTURES, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_fixture(path, fixture_findings):
    relative = path.relative_to(FIXTURES).as_posix()
    want = expected_findings(path.read_text())
    got = {(f["line"], f["code"]) for f in fixture_findings if f["path"] == relative}
    assert got == want, [f for f in fixture_findings if f["path"] == relative]


def test_every_rule_has_bad_and_good_fixtures():
    for rule in RULES:
        if rule.code == "TL001":
            continue
        folder = FIXTURES / rule.code
        bad = [p for p in folder.rglob("*.py") if (rule.code in {c for _, c in expected_findings(p.read_text())})]
        good = [p for p in folder.rglob("*.py") if "good" in p.as_posix()]
        assert bad, f"{rule.code} has no bad fixture"
        assert good, f"{rule.code} has no good fixture"


def test_fixture_findings_have_specific_short_titles(fixture_findings):
    """Every finding's title (JSON `message`) says what is wrong in one short line
    of its own, not the rule's summary; the body carries the why and the what to do."""
    from torchlint.engine import summary_title

    summaries = {rule.code: summary_title(rule) for rule in RULES}
    problems = []
    for finding in fixture_findings:
        title, body = finding["message"], finding["body"]
        where = f"{finding['path']}:{finding['line']} {finding['code']}"
        if len(title) > 80 or "\n" in title:
            problems.append(f"{where}: title of {len(title)} characters: {title}")
        if title == summaries[finding["code"]]:
            problems.append(f"{where}: the title is the rule's summary")
        if "``" in title:
            problems.append(f"{where}: empty code in the title: {title}")
        if not body or body == title:
            problems.append(f"{where}: no body beside the title")
    assert not problems, "\n".join(problems)
