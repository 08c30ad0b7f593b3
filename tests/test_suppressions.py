"""``# noqa`` and ``# torchlint: noqa``, with the frame_rules test rules
(TL901 print-call, TL902 eval-call), through the installed command."""

from __future__ import annotations

import re
from pathlib import Path

PLUGINS = "frame_rules"


def lint(torchlint, tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "s.py").write_text(text)
    result = torchlint("s.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.stderr == ""
    found = [f"{m.group(1)} {m.group(2)}" for m in re.finditer(r"^s\.py:(\d+):\d+: (TL\d{3}) ", result.stdout, re.M)]
    assert result.exit_code == (1 if found else 0)
    return found


def test_noqa_with_codes_and_prefixes(torchlint, tmp_path):
    text = (
        "import torch\n"
        "print(1)  # noqa: TL901\n"            # 2 silenced by its code
        "print(2)  # noqa: TL902\n"            # 3 another code: still reported
        "print(3)  # noqa: TL9\n"              # 4 a prefix
        "print(4), eval('5')  # noqa: TL901, TL902\n"  # 5 two codes
        "print(6), eval('7')  # noqa: TL901\n"  # 6 only one of the two
        "print(8)  # noqa:TL901\n"             # 7 no space
        "print(9)  # NOQA: tl901\n"            # 8 any case
        "print(10)  # noqa: E501, TL901\n"     # 9 another tool's code beside ours
        "print(11)  # noqa: E501\n"            # 10 only another tool's code
        "print(12)\n"                          # 11 nothing
    )
    assert lint(torchlint, tmp_path, text) == ["3 TL901", "6 TL902", "10 TL901", "11 TL901"]


def test_bare_noqa_silences_everything_on_the_line(torchlint, tmp_path):
    text = "import torch\nprint(1), eval('2')  # noqa\nprint(3)  # noqa because it is fine\nprint(4)\n"
    assert lint(torchlint, tmp_path, text) == ["4 TL901"]


def test_noqa_on_the_first_or_last_line_of_a_multiline_statement(torchlint, tmp_path):
    text = (
        "import torch\n"
        "result = combine(  # noqa: TL901\n"   # 2 first line
        "    print(1),\n"
        "    2,\n"
        ")\n"
        "result = combine(\n"                  # 6
        "    print(2),\n"
        "    3,\n"
        ")  # noqa: TL901\n"                   # 9 last line
        "result = combine(\n"                  # 10
        "    print(3),\n"
        "    4,  # noqa: TL901\n"              # 12 a middle line that is not the reported one
        ")\n"
        "result = combine(\n"                  # 14
        "    print(4),  # noqa: TL901\n"       # 15 the reported line itself
        ")\n"
        "result = combine(\n"                  # 17
        "    print(5),\n"                      # 18 not silenced
        ")\n"
    )
    assert lint(torchlint, tmp_path, text) == ["11 TL901", "18 TL901"]


def test_finding_spanning_lines_is_silenced_at_its_statement_end(torchlint, tmp_path):
    text = 'import torch\nprint(\n    "a",\n    "b",\n)  # noqa: TL901\nprint(\n    "c",\n)\n'
    assert lint(torchlint, tmp_path, text) == ["6 TL901"]


def test_noqa_inside_a_string_is_not_a_comment(torchlint, tmp_path):
    text = 'import torch\nprint("# noqa")\nprint("""\n# noqa\n""")\n'
    assert lint(torchlint, tmp_path, text) == ["2 TL901", "3 TL901"]


def test_file_level_noqa(torchlint, tmp_path):
    assert lint(torchlint, tmp_path, "import torch\n# torchlint: noqa\nprint(1)\neval('2')\n") == []
    assert lint(torchlint, tmp_path, "import torch\nprint(1)\neval('2')\n    # Torchlint:NOQA\n") == []


def test_file_level_noqa_for_one_rule(torchlint, tmp_path):
    text = "import torch\n# torchlint: noqa: TL901\nprint(1)\neval('2')\n"
    assert lint(torchlint, tmp_path, text) == ["4 TL902"]


def test_file_level_noqa_must_stand_alone(torchlint, tmp_path):
    # after code, "# torchlint: noqa" is neither a file nor a line suppression
    text = "import torch\nprint(1)  # torchlint: noqa\neval('2')\n"
    assert lint(torchlint, tmp_path, text) == ["2 TL901", "3 TL902"]


def test_noqa_with_windows_and_old_mac_line_endings(torchlint, tmp_path):
    (tmp_path / "s.py").write_bytes(b"import torch\r\nprint(1)  # noqa\rprint(2)\r\nprint(3)  # noqa: TL901\n")
    result = torchlint("s.py", cwd=tmp_path, plugins=PLUGINS)
    assert re.findall(r"^s\.py:(\d+):", result.stdout, re.M) == ["3"]


def test_syntax_error_is_reported_despite_file_noqa(torchlint, tmp_path):
    # a file that does not parse cannot be linted at all: that is never silenced
    (tmp_path / "s.py").write_text("import torch\n# torchlint: noqa\nx = (\n")
    result = torchlint("s.py", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "s.py:3:5: TL001 The file does not parse: '(' was never closed"
