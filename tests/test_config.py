"""``[tool.torchlint]``: found per file, every key, and every way it can be wrong,
through the installed ``torchlint`` command with the frame_rules test rules
(TL901 print-call, TL902 eval-call, TL904 breakpoint-call off by default)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PLUGINS = "frame_rules"
SCRIPT = 'import torch\nprint(1)\neval("1")\nbreakpoint()\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def findings(stdout: str) -> list[str]:
    """``path:line CODE`` of each finding line."""
    return [f"{m.group(1)}:{m.group(2)} {m.group(3)}"
            for m in re.finditer(r"^(\S+?):(\d+):\d+: (TL\d{3}) ", stdout, re.M)]


def test_nearest_pyproject_above_each_file_applies(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL902"]\n')
    write(tmp_path / "a.py", SCRIPT)
    write(tmp_path / "inner" / "pyproject.toml", '[tool.torchlint]\nselect = ["TL902", "TL904"]\n')
    write(tmp_path / "inner" / "b.py", SCRIPT)
    # a pyproject.toml without [tool.torchlint] is passed over: the one above applies
    write(tmp_path / "other" / "pyproject.toml", '[project]\nname = "other"\n')
    write(tmp_path / "other" / "c.py", SCRIPT)
    result = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert findings(result.stdout) == [
        "a.py:2 TL901",
        "inner/b.py:3 TL902", "inner/b.py:4 TL904",
        "other/c.py:2 TL901",
    ]
    assert result.exit_code == 1


def test_config_option_overrides_discovery(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL902"]\n')
    write(tmp_path / "settings" / "lint.toml", 'select = ["TL904"]\n')  # top-level keys
    write(tmp_path / "strict.toml", '[tool.torchlint]\nselect = ["TL9"]\n')
    write(tmp_path / "a.py", SCRIPT)
    result = torchlint("--config", "settings/lint.toml", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert findings(result.stdout) == ["a.py:4 TL904"]
    strict = torchlint("--config", "strict.toml", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert findings(strict.stdout) == ["a.py:2 TL901", "a.py:3 TL902", "a.py:4 TL904"]


def test_config_missing_file(torchlint, tmp_path):
    write(tmp_path / "a.py", SCRIPT)
    result = torchlint("--config", "nope.toml", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "torchlint: error: nope.toml: cannot read (No such file or directory)\n"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('select = ["TL901"]', ["a.py:2 TL901"]),
        ('select = ["TL9"]', ["a.py:2 TL901", "a.py:3 TL902", "a.py:4 TL904"]),
        ('ignore = ["TL901"]', ["a.py:3 TL902"]),
        ('extend-select = ["breakpoint-call"]', ["a.py:2 TL901", "a.py:3 TL902", "a.py:4 TL904"]),
        ('select = ["TL901"]\nextend-select = ["TL904"]', ["a.py:2 TL901", "a.py:4 TL904"]),
        ('select = []', []),
    ],
)
def test_rule_selection_keys(torchlint, tmp_path, table, expected):
    write(tmp_path / "pyproject.toml", f"[tool.torchlint]\n{table}\n")
    write(tmp_path / "a.py", SCRIPT)
    result = torchlint("a.py", cwd=tmp_path, plugins=PLUGINS)
    assert findings(result.stdout) == expected
    assert result.exit_code == (1 if expected else 0)


def test_command_line_select_wins_and_ignores_add_up(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nselect = ["TL901"]\nignore = ["TL904"]\n')
    write(tmp_path / "a.py", SCRIPT)
    result = torchlint("--select", "TL9", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert findings(result.stdout) == ["a.py:2 TL901", "a.py:3 TL902"]
    ignored = torchlint("--ignore", "TL901", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert findings(ignored.stdout) == []


def test_per_file_ignores(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.torchlint.per-file-ignores]\n"
                                       '"tests/*" = ["TL901"]\n'
                                       '"**/legacy_*.py" = ["TL9"]\n'
                                       '"notebooks/" = ["TL902"]\n')
    for path in ("train.py", "tests/test_a.py", "src/pkg/legacy_x.py", "notebooks/deep/n.py"):
        write(tmp_path / path, SCRIPT)
    result = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert findings(result.stdout) == [
        "notebooks/deep/n.py:2 TL901",
        "tests/test_a.py:3 TL902",
        "train.py:2 TL901", "train.py:3 TL902",
    ]
    # the patterns are relative to the pyproject.toml, wherever torchlint runs from
    inside = torchlint("test_a.py", cwd=tmp_path / "tests", plugins=PLUGINS)
    assert findings(inside.stdout) == ["test_a.py:3 TL902"]


def test_exclude(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nexclude = ["generated/", "*_pb2.py", "/top.py"]\n')
    for path in ("train.py", "generated/model.py", "proto/model_pb2.py", "top.py", "sub/top.py"):
        write(tmp_path / path, "import torch\nprint(1)\n")
    listed = torchlint("--show-files", ".", cwd=tmp_path, plugins=PLUGINS)
    assert listed.stdout.splitlines() == ["sub/top.py", "train.py"]
    result = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert findings(result.stdout) == ["sub/top.py:2 TL901", "train.py:2 TL901"]
    # a file named on the command line is excluded too (pre-commit passes names)
    named = torchlint("generated/model.py", "train.py", cwd=tmp_path, plugins=PLUGINS)
    assert findings(named.stdout) == ["train.py:2 TL901"]


def test_probe_settings(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", """\
[tool.torchlint.probe]
enabled = false
timeout = 12
memory-mb = 2048
refuted = "hide"

[tool.torchlint.probe.classes.CommonsenseGRUModel]
init = { norm = 3 }
inputs = { r1 = "float[T,B,D_m]", umask = "ones[B,T]" }

[tool.torchlint.probe.classes.Other]
factory = "probe_inputs.py:make_inputs"
""")
    write(tmp_path / "a.py", "import torch\n")
    result = torchlint("--show-settings", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 0
    (settings,) = json.loads(result.stdout)
    assert settings["probe"] == {
        "enabled": False, "timeout": 12.0, "script-timeout": 120.0, "memory-mb": 2048,
        "refuted": "hide",
        "classes": {
            "CommonsenseGRUModel": {"init": {"norm": 3},
                                    "inputs": {"r1": "float[T,B,D_m]", "umask": "ones[B,T]"}},
            "Other": {"factory": "probe_inputs.py:make_inputs"},
        },
    }
    assert settings["config"] == str(tmp_path / "pyproject.toml")
    lint = torchlint("a.py", cwd=tmp_path, plugins=PLUGINS)
    assert (lint.exit_code, lint.stderr) == (0, "")


def test_probe_true_turns_it_on(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nprobe = true\n")
    write(tmp_path / "a.py", "import torch\n")
    result = torchlint("--show-settings", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert json.loads(result.stdout)[0]["probe"]["enabled"] is True


def test_show_settings_lists_the_rules_of_each_file(torchlint, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nselect = ["TL90"]\nignore = ["TL903"]\n'
                                       '[tool.torchlint.per-file-ignores]\n"b.py" = ["TL902"]\n')
    write(tmp_path / "a.py", "")
    write(tmp_path / "b.py", "")
    result = torchlint("--show-settings", ".", cwd=tmp_path, plugins=PLUGINS)
    assert [(entry["path"], entry["rules"]) for entry in json.loads(result.stdout)] == [
        ("a.py", ["TL901", "TL902", "TL904", "TL905", "TL906", "TL907"]),
        ("b.py", ["TL901", "TL904", "TL905", "TL906", "TL907"]),
    ]


ALLOWED = "exclude, extend-select, ignore, per-file-ignores, probe, select"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.torchlint]\nselct = ["TL901"]\n',
         f"[tool.torchlint] selct: unknown key; allowed: {ALLOWED}"),
        ('[tool.torchlint]\nselect = "TL901"\n',
         '[tool.torchlint] select: expected a list of rule codes, prefixes or names '
         '(e.g. ["TL101", "TL2"]), got "TL901"'),
        ('[tool.torchlint]\nignore = [101]\n',
         '[tool.torchlint] ignore: expected a list of rule codes, prefixes or names '
         '(e.g. ["TL101", "TL2"]), got [101]'),
        ('[tool.torchlint]\nextend-select = ["TL999"]\n',
         "[tool.torchlint] extend-select: 'TL999' matches no rule code or name "
         "(see `torchlint rule --all`)"),
        ('[tool.torchlint]\nexclude = "build"\n',
         '[tool.torchlint] exclude: expected a list of globs (e.g. ["legacy/", "*_pb2.py"]), '
         'got "build"'),
        ('[tool.torchlint]\nper-file-ignores = ["tests/*"]\n',
         '[tool.torchlint] per-file-ignores: expected a table of glob = [codes] '
         '(e.g. "tests/*" = ["TL101"]), got [\'tests/*\']'),
        ('[tool.torchlint.per-file-ignores]\n"tests/*" = ["TL9999"]\n',
         "[tool.torchlint] per-file-ignores.\"tests/*\": 'TL9999' matches no rule code or name "
         "(see `torchlint rule --all`)"),
        ('[tool.torchlint]\nprobe = "yes"\n',
         '[tool.torchlint] probe: expected true/false or a table, got "yes"'),
        ('[tool.torchlint.probe]\ntimeout = "10s"\n',
         '[tool.torchlint] probe.timeout: expected a positive number, got "10s"'),
        ('[tool.torchlint.probe]\nmemory-mb = 1.5\n',
         "[tool.torchlint] probe.memory-mb: expected a positive integer, got 1.5"),
        ('[tool.torchlint.probe]\nenabled = 1\n',
         "[tool.torchlint] probe.enabled: expected true or false, got 1"),
        ('[tool.torchlint.probe]\nrefuted = "drop"\n',
         '[tool.torchlint] probe.refuted: expected "hint", "hide" or "keep", got "drop"'),
        ('[tool.torchlint.probe]\ntimout = 3\n',
         "[tool.torchlint] probe.timout: unknown key; allowed: classes, enabled, memory-mb, "
         "refuted, script-timeout, timeout"),
        ('[tool.torchlint.probe.classes.Net]\ninit = { n = 3 }\nshape = "x"\n',
         "[tool.torchlint] probe.classes.Net.shape: unknown key; allowed: factory, init, inputs"),
        ('[tool.torchlint.probe.classes.Net]\ninputs = { x = 3 }\n',
         '[tool.torchlint] probe.classes.Net.inputs.x: expected a string such as "float[B,T,D]", got 3'),
        ('[tool.torchlint.probe.classes.Net]\nfactory = "make_inputs"\n',
         '[tool.torchlint] probe.classes.Net.factory: expected "file.py:function", got "make_inputs"'),
        ("[tool.torchlint\nselect = []\n",
         "invalid TOML (Expected ']' at the end of a table declaration (at line 1, column 16))"),
    ],
)
def test_bad_config_exits_2_naming_file_key_and_what_is_allowed(torchlint, tmp_path, toml, message):
    write(tmp_path / "pyproject.toml", toml)
    write(tmp_path / "a.py", SCRIPT)
    result = torchlint("a.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"torchlint: error: {tmp_path / 'pyproject.toml'}: {message}\n"
    assert "Traceback" not in result.stderr


def test_bad_config_given_with_config_option(torchlint, tmp_path):
    write(tmp_path / "lint.toml", "[tool.torchlint]\nbogus = true\n")
    write(tmp_path / "a.py", SCRIPT)
    result = torchlint("--config", "lint.toml", "a.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 2
    assert result.stderr == f"torchlint: error: lint.toml: [tool.torchlint] bogus: unknown key; allowed: {ALLOWED}\n"
