"""Output formats: text, JSON, SARIF 2.1.0, GitHub annotations, LSP diagnostics.

The command runs on files whose findings come from the test rules in
tests/plugins/report_rules (a call of ``flag_error("message")`` is reported
with that message; ``probed("verdict", ...)`` carries a probe verdict) and
from TL001 (a file that does not parse). Every test pins the exact output.
The line ``x = "é🙂"; flag_error(...)`` pins column conversions: the call
starts at code point 10 but at UTF-16 unit 11 (the emoji counts twice), and
a terminal draws the emoji two cells wide.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft4Validator, Draft7Validator

TESTS = Path(__file__).parent
DATA = TESTS / "data"
PLUGINS = "report_rules"
SELECT = ("--select", "TL001,TL98")  # only the test rules and TL001, whatever rules exist
DOCS = "https://github.com/torchlint/torchlint/blob/main/docs/rules.md#{}-{}"

TRAIN = (
    "import torch  # the reporter tests' file\n"
    'x = "é🙂"; flag_error("bad thing")\n'
    'flag_warning("50% done,\\nnext: line", unsafe_replace="ok()")\n'
    "if x:\n"
    '\tflag_error("fixable", replace="None")\n'
)
BROKEN = "import torch\nfor epoch in range(10)\n    pass\n"
PROBES = (
    "import torch\n"
    'probed("confirmed", summary="train vs eval max |diff| 1.28 on outputs of scale 0.14")\n'
    'probed("inconclusive", reason="construct_failed", summary="TypeError: missing norm",\n'
    '       hint="[tool.torchlint.probe.classes.Net]\\ninit = { norm = 3 }",\n'
    '       assumptions={"len(vocab)": 50})\n'
    'probed("refuted", evidence={"max_abs_diff": 0.0, "layers_run": 2})\n'
)
CLEAN = "import torch\nprint(torch)\n"


def notebook() -> str:
    code = ["x = 1\n", "if x:\n", "    pass\n", "for i in range(3):\n",
            '        flag_error("in a cell")\n']
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Training\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["import torch\n", "%matplotlib inline\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": code},
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {"train.py": TRAIN, "broken.py": BROKEN, "probes.py": PROBES, "clean.py": CLEAN,
             "nb.ipynb": notebook()}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path.resolve()


@pytest.fixture
def lint(torchlint, project):
    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        quiet_env = {"NO_COLOR": "", "FORCE_COLOR": ""}  # whatever the test runner has set
        return torchlint(*SELECT, *args, cwd=cwd or project, plugins=PLUGINS,
                         env={**quiet_env, **(env or {})})
    return run


# -- text -----------------------------------------------------------------------


def test_text_full_is_the_default(lint):
    """Title on the location line ([*]: --fix fixes it), source with the range
    marked, the body as help, the fix's title; ``--format text`` is the same."""
    result = lint("broken.py", "train.py")
    assert result.stderr == ""
    assert result.exit_code == 1
    assert result.stdout == (
        "broken.py:2:23: TL001 The file does not parse: expected ':'\n"
        "  |\n"
        "2 | for epoch in range(10)\n"
        "  |                       ^\n"
        "  |\n"
        "  = help: Python cannot parse this file, so the script fails as soon as it is imported. Correct the\n"
        "          syntax here. The statement that does not parse (line 2) was skipped and the rest of the\n"
        "          file was checked; no fix is offered in this file until it parses.\n"
        "\n"
        "train.py:2:11: TL981 bad thing\n"
        "  |\n"
        '2 | x = "é🙂"; flag_error("bad thing")\n'
        # the emoji is two cells wide, so the carets start one cell further right
        "  |            ^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  |\n"
        "  = help: flag_error() marks a finding of the reporter tests.\n"
        "\n"
        # a title of several lines is printed on one
        "train.py:3:1: TL982 50% done, next: line\n"
        "  |\n"
        '3 | flag_warning("50% done,\\nnext: line", unsafe_replace="ok()")\n'
        "  | " + "^" * 60 + "\n"
        "  |\n"
        "  = help: flag_warning() marks a finding of the reporter tests.\n"
        "  = fix (--fix --unsafe-fixes): Replace with ok()\n"
        "\n"
        "train.py:5:2: TL981 [*] fixable\n"
        "  |\n"
        '5 | \tflag_error("fixable", replace="None")\n'
        # the tab is kept, so the carets line up however the terminal expands it
        "  | \t" + "^" * 37 + "\n"
        "  |\n"
        "  = help: flag_error() marks a finding of the reporter tests.\n"
        "  = fix (--fix): Replace with None\n"
        "\n"
        "Found 4 findings (3 errors, 1 warning) in 2 files. "
        "[*] 1 fixable with --fix. 1 more with --fix --unsafe-fixes.\n"
    )
    assert lint("--format", "text", "broken.py", "train.py").stdout == result.stdout
    assert lint("--show-source", "broken.py", "train.py").stdout == result.stdout


def test_text_concise_one_line_per_finding(lint):
    result = lint("--output-format", "concise", "broken.py", "train.py")
    assert result.exit_code == 1
    assert result.stdout == (
        "broken.py:2:23: TL001 The file does not parse: expected ':'\n"
        "train.py:2:11: TL981 bad thing\n"
        "train.py:3:1: TL982 50% done, next: line\n"
        "train.py:5:2: TL981 [*] fixable\n"
        "Found 4 findings (3 errors, 1 warning) in 2 files. "
        "[*] 1 fixable with --fix. 1 more with --fix --unsafe-fixes.\n"
    )


def test_statistics_prints_only_the_table(lint):
    """ruff's table: count, code, [*] all fixable / [-] some / [ ] none, name."""
    result = lint("--statistics", "broken.py", "train.py")
    assert result.exit_code == 1
    assert result.stdout == (
        "2\tTL981\t[-] flagged-error\n"
        "1\tTL001\t[ ] syntax-error\n"
        "1\tTL982\t[ ] flagged-warning\n"
    )
    as_json = json.loads(lint("--statistics", "--output-format", "json", "broken.py", "train.py").stdout)
    assert as_json[0] == {"code": "TL981", "name": "flagged-error", "count": 2, "fixable": True,
                          "fixable_count": 1}
    assert [row["code"] for row in as_json] == ["TL981", "TL001", "TL982"]


def test_text_sorted_by_path_then_line(lint):
    result = lint("--output-format", "concise", "train.py", "broken.py")
    assert [line.split(": ")[0] for line in result.stdout.splitlines()[:-1]] == ["broken.py:2:23", "train.py:2:11",
                                             "train.py:3:1", "train.py:5:2"]


def test_text_probe_verdicts(lint):
    result = lint("--output-format", "concise", "probes.py")
    assert result.exit_code == 1
    assert result.stdout == (
        "probes.py:2:1: TL983 probed confirmed (probe: confirmed)\n"
        "probes.py:3:1: TL983 probed inconclusive (probe: inconclusive)\n"
        "probes.py:6:1: TL983 probed refuted (refuted by the probe)\n"
        "Found 3 findings (3 errors, 0 warnings; 1 refuted by the probe) in 1 file.\n"
    )
    full = lint("--no-cache", "probes.py").stdout  # the cache keeps no verdicts
    assert (
        "  = help: probed inconclusive\n"
        "  = probe: inconclusive (construct_failed): TypeError: missing norm\n"
        "    assumed: len(vocab)=50\n"
        "    to help the probe, add to pyproject.toml:\n"
        "        [tool.torchlint.probe.classes.Net]\n"
        "        init = { norm = 3 }\n"
    ) in full
    assert "  = probe: refuted: max_abs_diff=0.0; layers_run=2\n" in full


def test_text_notebook_cell(lint):
    result = lint("nb.ipynb")
    assert result.exit_code == 1
    assert result.stdout == (
        "nb.ipynb:cell 3:5:9: TL981 in a cell\n"
        "  |\n"
        '5 |         flag_error("in a cell")\n'
        "  |         ^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  |\n"
        "  = help: flag_error() marks a finding of the reporter tests.\n"
        "\n"
        "Found 1 finding (1 error, 0 warnings) in 1 file.\n"
    )


def test_text_clean_and_unsafe_summary(lint):
    clean = lint("clean.py")
    assert (clean.exit_code, clean.stdout) == (0, "No findings in 1 file.\n")
    unsafe = lint("--unsafe-fixes", "train.py")
    assert unsafe.stdout.splitlines()[-1] == (
        "Found 3 findings (2 errors, 1 warning) in 1 file. 2 fixable with --fix --unsafe-fixes.")


def _on_terminal(args: list[str], cwd: Path, **extra_env: str) -> str:
    """Standard output of the command run on a pseudo-terminal."""
    env = dict(os.environ, TORCHLINT_PLUGINS=PLUGINS,
               PYTHONPATH=os.pathsep.join([str(TESTS / "plugins"), os.environ.get("PYTHONPATH", "")]))
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    env.update(extra_env)
    master, slave = pty.openpty()
    # The console script beside this interpreter, as the `torchlint` fixture runs it.
    executable = shutil.which("torchlint", path=str(Path(sys.executable).parent)) or "torchlint"
    process = subprocess.Popen([executable, *args], cwd=cwd, env=env,
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


COLORED_BROKEN = (
    "\x1b[1mbroken.py:2:23:\x1b[0m \x1b[31m\x1b[1mTL001\x1b[0m The file does not parse: expected ':'\n"
    "\x1b[34m  |\x1b[0m\n"
    "\x1b[34m2 |\x1b[0m for epoch in range(10)\n"
    "\x1b[34m  |\x1b[0m                       \x1b[31m\x1b[1m^\x1b[0m\n"
    "\x1b[34m  |\x1b[0m\n"
)


def test_color_only_on_a_terminal(lint, project):
    piped = lint("broken.py")
    assert "\x1b" not in piped.stdout
    shown = _on_terminal([*SELECT, "broken.py"], project)
    assert shown.startswith(COLORED_BROKEN)
    assert "\x1b" not in _on_terminal([*SELECT, "--color", "never", "broken.py"], project)
    assert "\x1b" not in _on_terminal([*SELECT, "broken.py"], project, NO_COLOR="1")


def test_color_options_and_environment(lint, project):
    """--color always|never wins; auto reads NO_COLOR (off) and FORCE_COLOR (on)."""
    assert lint("--color", "always", "broken.py").stdout.startswith(COLORED_BROKEN)
    forced = lint("broken.py", env={"FORCE_COLOR": "1"})
    assert forced.stdout.startswith(COLORED_BROKEN)
    assert "\x1b" not in lint("broken.py", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert "\x1b" not in lint("--color", "never", "broken.py", env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b" not in lint("--color", "always", "--format", "json", "broken.py").stdout


# -- JSON -----------------------------------------------------------------------

FINDING_TYPES = {
    "code": str, "name": str, "severity": str, "message": str, "body": str, "path": str, "line": int,
    "column": int, "end_line": int, "end_column": int, "fix": (dict, type(None)),
    "probe": (dict, type(None)),
}


# broken.py's header without its colon is skipped and the rest of the file linted.
SYNTAX_BODY = ("Python cannot parse this file, so the script fails as soon as it is imported. Correct "
               "the syntax here. The statement that does not parse (line 2) was skipped and the rest "
               "of the file was checked; no fix is offered in this file until it parses.")


def body_of(code: str, title: str) -> str:
    """The body each test rule gives its findings (the title is the marker's message)."""
    return {"TL001": SYNTAX_BODY,
            "TL981": "flag_error() marks a finding of the reporter tests.",
            "TL982": "flag_warning() marks a finding of the reporter tests."}.get(code, title)


def _finding(code, name, message, path, line, column, end_line, end_column, *,
             severity="error", fix=None, probe=None, **extra):
    return {"code": code, "name": name, "severity": severity, "message": message,
            "body": body_of(code, message), "path": path,
            "line": line, "column": column, "end_line": end_line, "end_column": end_column,
            "fix": fix, "probe": probe, **extra}


def _edit(line, column, end_line, end_column, replacement):
    return {"line": line, "column": column, "end_line": end_line, "end_column": end_column,
            "replacement": replacement}


EXPECTED_JSON = [
    _finding("TL001", "syntax-error", "The file does not parse: expected ':'", "broken.py",
             2, 23, 2, 23),
    _finding("TL981", "flagged-error", "in a cell", "nb.ipynb", 5, 9, 5, 32, cell=3),
    _finding("TL983", "probed-finding", "probed confirmed", "probes.py", 2, 1, 2, 86, probe={
        "verdict": "confirmed",
        "evidence": {"summary": "train vs eval max |diff| 1.28 on outputs of scale 0.14"},
        "assumptions": {}}),
    _finding("TL983", "probed-finding", "probed inconclusive", "probes.py", 3, 1, 5, 39, probe={
        "verdict": "inconclusive", "evidence": {"summary": "TypeError: missing norm"},
        "assumptions": {"len(vocab)": 50}, "reason": "construct_failed",
        "hint": "[tool.torchlint.probe.classes.Net]\ninit = { norm = 3 }"}),
    _finding("TL983", "probed-finding", "probed refuted", "probes.py", 6, 1, 6, 67, probe={
        "verdict": "refuted", "evidence": {"max_abs_diff": 0.0, "layers_run": 2},
        "assumptions": {}}),
    _finding("TL981", "flagged-error", "bad thing", "train.py", 2, 11, 2, 34),
    _finding("TL982", "flagged-warning", "50% done,\nnext: line", "train.py", 3, 1, 3, 61,
             severity="warning", fix={"applicability": "unsafe", "title": "Replace with ok()",
                                      "edits": [_edit(3, 1, 3, 61, "ok()")]}),
    _finding("TL981", "flagged-error", "fixable", "train.py", 5, 2, 5, 39,
             fix={"applicability": "safe", "title": "Replace with None",
                  "edits": [_edit(5, 2, 5, 39, "None")]}),
]
ALL_FILES = ("train.py", "probes.py", "nb.ipynb", "broken.py", "clean.py")


def test_json_exact(lint):
    result = lint("--format", "json", *ALL_FILES)
    assert result.exit_code == 1
    assert result.stderr == ""
    assert json.loads(result.stdout) == EXPECTED_JSON


def test_json_schema_every_key_and_type(lint):
    findings = json.loads(lint("--format", "json", *ALL_FILES).stdout)
    schema = json.loads((DATA / "findings.schema.json").read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    assert list(Draft7Validator(schema).iter_errors(findings)) == []
    for finding in findings:
        keys = list(FINDING_TYPES) + (["cell"] if finding["path"].endswith(".ipynb") else [])
        assert sorted(finding) == sorted(keys)
        for key, kind in FINDING_TYPES.items():
            assert isinstance(finding[key], kind), (key, finding[key])
            assert not isinstance(finding[key], bool)
        if finding["fix"] is not None:
            assert set(finding["fix"]) == {"applicability", "title", "edits"}
            for edit in finding["fix"]["edits"]:
                assert {k: type(v) for k, v in edit.items()} == {
                    "line": int, "column": int, "end_line": int, "end_column": int,
                    "replacement": str}
        if finding["probe"] is not None:
            assert {"verdict", "evidence", "assumptions"} <= set(finding["probe"])
            assert isinstance(finding["probe"]["evidence"], dict)
            assert isinstance(finding["probe"]["assumptions"], dict)


def test_json_schema_rejects_what_design_forbids():
    """The schema is not vacuous: wrong types and unknown keys fail it."""
    schema = json.loads((DATA / "findings.schema.json").read_text(encoding="utf-8"))
    validator = Draft7Validator(schema)
    good = EXPECTED_JSON[6]
    assert validator.is_valid([good])
    for bad in ({**good, "line": "3"}, {**good, "extra": 1}, {**good, "column": 0},
                {**good, "fix": {"applicability": "maybe", "edits": []}},
                {k: v for k, v in good.items() if k != "probe"}):
        assert not validator.is_valid([bad]), bad


# -- SARIF ----------------------------------------------------------------------


def _rules(torchlint) -> list[dict]:
    result = torchlint("rule", "--all", "--format", "json", plugins=PLUGINS)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _what_it_does(docs: str) -> str:
    match = re.search(r"^## What it does\n(.*?)(?=^## |\Z)", docs, re.S | re.M)
    assert match, docs
    return match.group(1).strip()


def _region(start_line, start_column, end_line, end_column):
    return {"startLine": start_line, "startColumn": start_column, "endLine": end_line,
            "endColumn": end_column}


def _location(uri, region=None):
    physical = {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}}
    if region is not None:
        physical["region"] = region
    return {"physicalLocation": physical}


def _result(rule_index, code, message, location, level="error", properties=None, **extra):
    body = body_of(code, message)
    return {"ruleId": code, "ruleIndex": rule_index, "level": level,
            "message": {"text": message, "markdown": f"**{message}**\n\n{body}"},
            "locations": [location], **extra, "properties": {"body": body, **(properties or {})}}


def _probe_properties(index):
    return {"probe": EXPECTED_JSON[index]["probe"]}


def _sarif(lint, *paths):
    result = lint("--format", "sarif", *paths)
    assert result.stderr == ""
    return result, json.loads(result.stdout)


def test_sarif_validates_against_the_official_schema(lint):
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    Draft4Validator.check_schema(schema)
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    _, log = _sarif(lint, *ALL_FILES)
    assert list(validator.iter_errors(log)) == []
    # The schema checks SARIF, not just JSON: a wrong level or a 0 line fails it.
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    broken["runs"][0]["results"][2]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert len(list(validator.iter_errors(broken))) == 2


def test_sarif_run_and_rule_descriptors(lint, torchlint, project):
    result, log = _sarif(lint, "clean.py")
    assert result.exit_code == 0
    assert log["$schema"] == (
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    version = torchlint("--version").stdout.split()[-1]
    driver = run["tool"]["driver"]
    rules = driver.pop("rules")
    assert driver == {"name": "torchlint", "version": version, "semanticVersion": version,
                      "informationUri": "https://github.com/torchlint/torchlint"}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": project.as_uri() + "/"}}
    assert run["columnKind"] == "utf16CodeUnits"
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["results"] == []
    # One descriptor per known rule, in the order `torchlint rule --all` lists them.
    expected = [
        {"id": r["code"], "name": r["name"], "shortDescription": {"text": r["summary"]},
         "fullDescription": {"text": _what_it_does(r["docs"])},
         "help": {"text": r["docs"], "markdown": r["docs"]},
         "helpUri": DOCS.format(r["code"].lower(), r["name"]),
         "defaultConfiguration": {"level": r["severity"], "enabled": r["default_enabled"]}}
        for r in _rules(torchlint)
    ]
    assert rules == expected
    flagged = next(rule for rule in rules if rule["id"] == "TL982")
    assert flagged["fullDescription"] == {
        "text": "Reports each call of `flag_warning(message)`, with that message, as a warning."}
    assert flagged["defaultConfiguration"] == {"level": "warning", "enabled": True}
    assert flagged["help"]["markdown"].startswith("## What it does\nReports each call")
    assert "## Fix safety\n`flag_warning(\"m\", unsafe_replace=\"x\")`" in flagged["help"]["text"]


def test_sarif_results_exact(lint, torchlint):
    result, log = _sarif(lint, *ALL_FILES)
    assert result.exit_code == 1
    [run] = log["runs"]
    index = {rule["id"]: i for i, rule in enumerate(run["tool"]["driver"]["rules"])}
    tl001, error, warning, probed = index["TL001"], index["TL981"], index["TL982"], index["TL983"]
    notebook_location = {
        "physicalLocation": {"artifactLocation": {"uri": "nb.ipynb", "uriBaseId": "%SRCROOT%"}},
        "message": {"text": "cell 3, line 5, column 9"},
        "properties": {"cell": 3, **_region(5, 9, 5, 32)},
    }

    def fix(title, applicability, region, text):
        return [{"description": {"text": title},
                 "artifactChanges": [{"artifactLocation": {"uri": "train.py", "uriBaseId": "%SRCROOT%"},
                                      "replacements": [{"deletedRegion": region,
                                                        "insertedContent": {"text": text}}]}],
                 "properties": {"applicability": applicability}}]

    assert run["results"] == [
        _result(tl001, "TL001", "The file does not parse: expected ':'",
                _location("broken.py", _region(2, 23, 2, 23))),
        _result(error, "TL981", "in a cell", notebook_location),
        _result(probed, "TL983", "probed confirmed", _location("probes.py", _region(2, 1, 2, 86)),
                properties=_probe_properties(2)),
        _result(probed, "TL983", "probed inconclusive",
                _location("probes.py", _region(3, 1, 5, 39)), properties=_probe_properties(3)),
        _result(probed, "TL983", "probed refuted", _location("probes.py", _region(6, 1, 6, 67)),
                properties=_probe_properties(4)),
        # UTF-16 columns: "é" is one unit, the emoji two (code-point column 11 is unit 12).
        _result(error, "TL981", "bad thing", _location("train.py", _region(2, 12, 2, 35))),
        _result(warning, "TL982", "50% done,\nnext: line",
                _location("train.py", _region(3, 1, 3, 61)), level="warning",
                fixes=fix("Replace with ok()", "unsafe", _region(3, 1, 3, 61), "ok()")),
        _result(error, "TL981", "fixable", _location("train.py", _region(5, 2, 5, 39)),
                fixes=fix("Replace with None", "safe", _region(5, 2, 5, 39), "None")),
    ]


def test_sarif_uris_are_relative_posix_and_encoded(torchlint, project, tmp_path_factory):
    (project / "sub dir").mkdir()
    (project / "sub dir" / "a b.py").write_text('import torch\nflag_error("x")\n', encoding="utf-8")
    (project / "é.py").write_text('import torch\nflag_error("x")\n', encoding="utf-8")
    outside = tmp_path_factory.mktemp("elsewhere").resolve() / "far.py"
    outside.write_text('import torch\nflag_error("x")\n', encoding="utf-8")
    result = torchlint(*SELECT, "--format", "sarif", "./sub dir/a b.py", "é.py",
                       str(project / "train.py"), str(outside), cwd=project, plugins=PLUGINS)
    log = json.loads(result.stdout)
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"]
                 for r in log["runs"][0]["results"]]
    assert sorted(locations, key=lambda location: location["uri"]) == [
        {"uri": "%C3%A9.py", "uriBaseId": "%SRCROOT%"},
        {"uri": outside.as_uri()},  # outside the folder torchlint ran in: absolute
        {"uri": "sub%20dir/a%20b.py", "uriBaseId": "%SRCROOT%"},
        {"uri": "train.py", "uriBaseId": "%SRCROOT%"},  # given as an absolute path
        {"uri": "train.py", "uriBaseId": "%SRCROOT%"},
        {"uri": "train.py", "uriBaseId": "%SRCROOT%"},
    ]
    for location in locations:
        uri = location["uri"]
        assert "\\" not in uri and not re.match(r"^/?[A-Za-z]:", uri), uri
        if "uriBaseId" in location:
            parts = urlsplit(uri)
            assert (parts.scheme, parts.netloc, uri.startswith("/")) == ("", "", False), uri


def test_sarif_fix_columns_are_utf16(torchlint, project):
    (project / "wide.py").write_text(
        'import torch\ns = "🙂🙂"; flag_error("x", replace="None")\n', encoding="utf-8")
    result = torchlint(*SELECT, "--format", "sarif", "wide.py", cwd=project, plugins=PLUGINS)
    [found] = json.loads(result.stdout)["runs"][0]["results"]
    expected = _region(2, 13, 2, 44)  # code points 10..41, plus one unit per emoji
    assert found["locations"][0]["physicalLocation"]["region"] == expected
    replacement = found["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement == {"deletedRegion": expected, "insertedContent": {"text": "None"}}


# -- GitHub ---------------------------------------------------------------------


def test_github_annotations_exact(lint):
    """The title heads the annotation (``title=CODE title``); the body is its message."""
    result = lint("--format", "github", *ALL_FILES)
    assert result.exit_code == 1
    error_body = "flag_error() marks a finding of the reporter tests."
    assert result.stdout == (
        "::error file=broken.py,line=2,col=23,endLine=2,endColumn=23,"
        "title=TL001 The file does not parse%3A expected '%3A'"
        f"::{SYNTAX_BODY}\n"
        f"::error file=nb.ipynb,title=TL981 in a cell::cell 3, line 5, column 9: {error_body}\n"
        "::error file=probes.py,line=2,col=1,endLine=2,endColumn=86,title=TL983 probed confirmed"
        "::probed confirmed%0Aprobe: confirmed: train vs eval max |diff| 1.28 on outputs of scale 0.14\n"
        # a span over several lines: GitHub takes no columns then
        "::error file=probes.py,line=3,endLine=5,title=TL983 probed inconclusive"
        "::probed inconclusive%0Aprobe: inconclusive (construct_failed): TypeError: missing norm"
        "%0Aassumed: len(vocab)=50%0Ato help the probe, add to pyproject.toml:"
        "%0A    [tool.torchlint.probe.classes.Net]%0A    init = { norm = 3 }\n"
        "::error file=probes.py,line=6,col=1,endLine=6,endColumn=67,title=TL983 probed refuted"
        "::probed refuted%0Aprobe: refuted: max_abs_diff=0.0; layers_run=2\n"
        "::error file=train.py,line=2,col=11,endLine=2,endColumn=34,title=TL981 bad thing"
        f"::{error_body}\n"
        "::warning file=train.py,line=3,col=1,endLine=3,endColumn=61,title=TL982 50%25 done%2C next%3A line"
        "::flag_warning() marks a finding of the reporter tests.\n"
        "::error file=train.py,line=5,col=2,endLine=5,endColumn=39,title=TL981 fixable"
        f"::{error_body}\n"
    )


def test_github_escapes_properties_and_data(torchlint, project):
    name = "odd,name:100%.py"
    (project / name).write_text('import torch\nflag_error("a%b\\rc\\nd: e, f")\n', encoding="utf-8")
    (project / "body.py").write_text('import torch\nflag_error("t", body="a%b\\rc\\nd: e, f")\n',
                                     encoding="utf-8")
    result = torchlint(*SELECT, "--format", "github", name, "body.py", cwd=project, plugins=PLUGINS)
    assert result.stdout == (
        "::error file=body.py,line=2,col=1,endLine=2,endColumn=40,"
        "title=TL981 t::a%25b%0Dc%0Ad: e, f\n"
        "::error file=odd%2Cname%3A100%25.py,line=2,col=1,endLine=2,endColumn=30,"
        "title=TL981 a%25b c d%3A e%2C f::flag_error() marks a finding of the reporter tests.\n"
    )


# -- LSP ------------------------------------------------------------------------


def _range(line, character, end_line, end_character):
    return {"start": {"line": line, "character": character},
            "end": {"line": end_line, "character": end_character}}


def _diagnostic(code, name, message, range_, severity=1, fix=None, probe=None, **data):
    return {"range": range_, "severity": severity, "code": code,
            "codeDescription": {"href": DOCS.format(code.lower(), name)}, "source": "torchlint",
            "message": message, "data": {"name": name, "body": body_of(code, message), "fix": fix,
                                         "probe": probe, **data}}


def test_lsp_diagnostics_exact(lint, project):
    result = lint("--format", "lsp", *ALL_FILES)
    assert result.exit_code == 1
    assert result.stderr == ""
    uri = project.as_uri()
    assert json.loads(result.stdout) == {
        f"{uri}/broken.py": [_diagnostic("TL001", "syntax-error",
                                         "The file does not parse: expected ':'",
                                         _range(1, 22, 1, 22))],
        f"{uri}/clean.py": [],  # a clean file is listed, so an editor clears it
        f"{uri}/nb.ipynb": [_diagnostic("TL981", "flagged-error", "in a cell",
                                        _range(4, 8, 4, 31), cell=3)],
        f"{uri}/probes.py": [
            _diagnostic("TL983", "probed-finding", "probed confirmed", _range(1, 0, 1, 85),
                        probe=EXPECTED_JSON[2]["probe"]),
            _diagnostic("TL983", "probed-finding", "probed inconclusive", _range(2, 0, 4, 38),
                        probe=EXPECTED_JSON[3]["probe"]),
            _diagnostic("TL983", "probed-finding", "probed refuted", _range(5, 0, 5, 66),
                        probe=EXPECTED_JSON[4]["probe"]),
        ],
        f"{uri}/train.py": [
            # 0-based UTF-16: code point 10 is unit 11 after "é🙂"
            _diagnostic("TL981", "flagged-error", "bad thing", _range(1, 11, 1, 34)),
            _diagnostic("TL982", "flagged-warning", "50% done,\nnext: line", _range(2, 0, 2, 60),
                        severity=2, fix={"title": "Replace with ok()", "applicability": "unsafe",
                                         "edits": [{"range": _range(2, 0, 2, 60),
                                                    "newText": "ok()"}]}),
            _diagnostic("TL981", "flagged-error", "fixable", _range(4, 1, 4, 38),
                        fix={"title": "Replace with None", "applicability": "safe",
                             "edits": [{"range": _range(4, 1, 4, 38), "newText": "None"}]}),
        ],
    }


def test_lsp_uris_are_absolute_file_uris(torchlint, project):
    (project / "sub dir").mkdir()
    (project / "sub dir" / "é 1.py").write_text('import torch\nflag_error("x")\n',
                                                 encoding="utf-8")
    result = torchlint(*SELECT, "--format", "lsp", ".", cwd=project / "sub dir", plugins=PLUGINS)
    assert list(json.loads(result.stdout)) == [f"{project.as_uri()}/sub%20dir/%C3%A9%201.py"]


# -- notebooks with wide characters, crashed rules, the API's own checks ------


def _wide_notebook(folder: Path) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# é\n"]},
             {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": ["import torch\n", 'y = "🙂"; flag_error("x")\n']}]
    (folder / "wide.ipynb").write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
        encoding="utf-8")


def test_notebook_cell_source_line(lint, project):
    _wide_notebook(project)
    result = lint("wide.ipynb")
    assert result.stdout.startswith(
        "wide.ipynb:cell 2:2:10: TL981 x\n"
        "  |\n"
        '2 | y = "🙂"; flag_error("x")\n'
        "  | " + " " * 10 + "^" * 15 + "\n"  # 8 narrow cells and the emoji's 2
    )


def test_notebook_cell_utf16_columns(lint, project):
    _wide_notebook(project)
    diagnostics = json.loads(lint("--format", "lsp", "wide.ipynb").stdout)
    [diagnostic] = diagnostics[f"{project.as_uri()}/wide.ipynb"]
    assert diagnostic["range"] == _range(1, 10, 1, 25)  # the emoji before the span counts twice
    assert diagnostic["data"]["cell"] == 2


def test_a_crashed_rule_is_a_sarif_tool_notification(torchlint, project):
    (project / "crash.py").write_text('import torch\ncrash_here()\nflag_error("kept")\n',
                                      encoding="utf-8")
    result = torchlint("--select", "TL98", "--format", "sarif", "crash.py", cwd=project,
                       plugins=PLUGINS)
    assert result.exit_code == 2
    log = json.loads(result.stdout)
    [run] = log["runs"]
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is False
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert notification["message"]["text"].startswith(
        "crash.py: rule TL984 (crashing-rule) crashed: RuntimeError: the test rule crashed on purpose")
    assert [r["message"]["text"] for r in run["results"]] == ["kept"]
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert list(Draft4Validator(schema).iter_errors(log)) == []


def test_unknown_format_is_refused():
    """The reporters' API, called in-process (the command's --format is a fixed choice)."""
    from torchlint.registry import RuleSet
    from torchlint.reporters import Report, render

    with pytest.raises(ValueError, match="unknown output format 'xml'; choose one of full, concise, text, json"):
        render("xml", Report(findings=[], rules=RuleSet(())))
