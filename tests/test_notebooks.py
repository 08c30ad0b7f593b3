"""Jupyter notebooks: code cells joined into one module, IPython syntax blanked,
findings located in their cell. Test rules: TL901 print-call, TL907
local-class-call (a call to a class the same module defines)."""

from __future__ import annotations

import json
from pathlib import Path

PLUGINS = "frame_rules"


def notebook(path: Path, *cells: tuple[str, str], metadata: dict | None = None) -> None:
    """Cells as (cell_type, source); sources become lists of lines, as Jupyter saves them."""
    path.write_text(json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, source in cells],
        "metadata": metadata if metadata is not None else
        {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }, indent=1))


TRAINING = (
    ("markdown", "# Training\nSome words.\n"),                                   # cell 1
    ("code", "import torch\n%matplotlib inline\n!pip install tqdm\n\n"
             "class Net(torch.nn.Module):\n    pass\n"),                         # cell 2
    ("code", "files = !ls data\nfor name in files:\n    !echo {name}\n    print(name)\n"),  # 3
    ("code", "%%bash\necho this is not python (\n"),                             # cell 4
    ("code", "%%time\nmodel = Net()\n"),                                         # cell 5
    ("markdown", "More words.\n"),                                               # cell 6
    ("code", "torch.nn.Linear?\nlayer = Net()  # noqa: TL907\n\n"
             "    \nprint(model)\n"),                                           # cell 7
)


def test_findings_point_at_their_cell(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", *TRAINING)
    result = torchlint("--output-format", "concise", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:-1] == [  # the last line is the summary
        "nb.ipynb:cell 3:4:5: TL901 [*] print() called",
        "nb.ipynb:cell 5:2:9: TL907 constructs Net, a class of this module",
        "nb.ipynb:cell 7:5:1: TL901 [*] print() called",
    ]
    assert result.stderr == ""


def test_json_gives_the_cell_and_the_line_within_it(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", *TRAINING)
    result = torchlint("--format", "json", "--select", "TL907", "nb.ipynb", cwd=tmp_path,
                       plugins=PLUGINS)
    assert json.loads(result.stdout) == [{
        "code": "TL907", "name": "local-class-call", "severity": "warning",
        "message": "constructs Net, a class of this module",
        "body": "constructs Net, a class of this module", "path": "nb.ipynb",
        "line": 2, "column": 9, "end_line": 2, "end_column": 14, "cell": 5,
        "fix": None, "probe": None,
    }]


def test_a_cell_that_does_not_parse_is_tl001_and_the_rest_is_linted(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb",
             ("code", "import torch\nclass Net(torch.nn.Module):\n    pass\n"),
             ("code", "for epoch in range(3)\n    train()\n"),
             ("code", "model = Net()\nprint(model)\n"))
    result = torchlint("--format", "json", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert [(f["code"], f["cell"], f["line"], f["column"], f["message"])
            for f in json.loads(result.stdout)] == [
        ("TL001", 2, 1, 22, "The file does not parse: expected ':'"),
        ("TL907", 3, 1, 9, "constructs Net, a class of this module"),  # Net of cell 1 is known
        ("TL901", 3, 2, 1, "print() called"),
    ]


def test_wildcard_help_searches_are_ipython_not_a_syntax_error(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb",
             ("code", "import torch\ntorch.*Tensor?\n"),
             ("code", "torch.nn.*Norm*??\nclass Net(torch.nn.Module):\n    pass\nmodel = Net()\n"))
    result = torchlint("--format", "json", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert [(f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)] == [("TL907", 2, 4)]


def test_a_line_continuing_an_expression_with_percent_is_not_a_magic(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb",
             ("code", "import torch\nclass Net(torch.nn.Module):\n    pass\n"),
             ("code", "for epoch in range(2):\n    print('epoch %d, loss %.3f'\n          % (epoch, 0.5))\n"
                      "    note = '''\n%s\n''' % epoch\n%time model = Net()\n"))
    result = torchlint("--format", "json", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    # no TL001: the `%` lines continue an expression or a string; `%time model = Net()` is a magic
    assert [(f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)] == [("TL901", 2, 2)]


def test_pip_automagic_without_percent_is_not_python(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb",
             ("code", "pip install -r requirements.txt\nconda install -y numpy\n"),
             ("code", "import torch\npip = 3\nprint(pip - 1)\n"))
    result = torchlint("--format", "json", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    # no TL001: IPython runs `pip install ...` as a magic; `pip = 3` and `pip - 1` stay Python
    assert [(f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)] == [("TL901", 2, 3)]


def test_a_magic_continued_by_backslashes_is_ipython_to_its_last_line(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb",
             ("code", "!python prepare.py --split train \\\n    --out data \\\n    --lower\n"
                      "lines = !wc -l \\\n  data/train.txt\n"),
             ("code", "import torch\nfor k in range(2):\n    !echo {k} \\\n        > log.txt\n    print(k)\n"
                      "total = 1 + \\\n    2\n"))
    result = torchlint("--format", "json", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    # no TL001: IPython joins a magic's backslash-ended lines into one command;
    # a backslash in Python code still continues Python
    assert [(f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)] == [("TL901", 2, 5)]


def test_notebook_in_a_folder_walk_and_on_stdin(torchlint, tmp_path):
    (tmp_path / "exp").mkdir()
    notebook(tmp_path / "exp" / "nb.ipynb", ("code", "import torch\nprint(1)\n"))
    walk = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert walk.stdout.splitlines()[0] == "exp/nb.ipynb:cell 1:2:1: TL901 [*] print() called"
    data = (tmp_path / "exp" / "nb.ipynb").read_text()
    stdin = torchlint("-", "--stdin-filename", "in.ipynb", input=data, cwd=tmp_path, plugins=PLUGINS)
    assert stdin.stdout.splitlines()[0] == "in.ipynb:cell 1:2:1: TL901 [*] print() called"


def test_file_noqa_in_a_cell_covers_the_notebook(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", ("code", "import torch\nprint(1)\n"),
             ("code", "# torchlint: noqa\n"), ("code", "print(2)\n"))
    result = torchlint("nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert (result.exit_code, result.stdout) == (0, "No findings in 1 file.\n")


def test_notebook_of_another_language_is_skipped(torchlint, tmp_path):
    notebook(tmp_path / "r.ipynb", ("code", "library(torch)\nprint(x <- 1)\n"),
             metadata={"kernelspec": {"name": "ir", "language": "R"},
                       "language_info": {"name": "R"}})
    result = torchlint("r.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert (result.exit_code, result.stdout) == (0, "No findings in 1 file.\n")


def test_fix_applies_per_cell_and_keeps_every_other_byte(torchlint, tmp_path):
    """Outputs, metadata, key order, indentation, escapes and the other cells
    stay byte for byte; a cell saved as one string stays one string."""
    nb = tmp_path / "nb.ipynb"
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# print(0) in words\n"]},
        {"cell_type": "code", "execution_count": 1, "metadata": {"tags": ["setup"]},
         "outputs": [{"name": "stdout", "output_type": "stream", "text": ["print(1)\n"]}],
         "source": ["import torch\n", "%matplotlib inline\n", "print(1)\n", "x = 2"]},
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "outputs": [],
         "source": "y = 3\nprint(y)  # \u00e9\n"},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["z = 1\n"]},
    ]
    before = json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3"}},
                         "nbformat": 4, "nbformat_minor": 5}, indent=2) + "\n"
    nb.write_text(before)
    result = torchlint("--fix", "--show-fixes", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 0, result.stdout + result.stderr
    after = nb.read_text()
    assert after == (before.replace('"print(1)\\n",\n        "x = 2"', '"log(1)\\n",\n        "x = 2"')
                     .replace("print(y)", "log(y)"))
    assert json.loads(after)["cells"][1]["outputs"][0]["text"] == ["print(1)\n"]  # untouched
    assert "No findings in 1 file (2 fixed).\nFixed 2 findings:\n- nb.ipynb:\n    2 \u00d7 TL901" in result.stdout


def test_diff_of_a_notebook_is_per_cell(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", ("code", "import torch\nx = 1\n"), ("markdown", "text\n"),
             ("code", "y = 2\nprint(y)\n"))
    before = (tmp_path / "nb.ipynb").read_bytes()
    result = torchlint("--diff", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert result.stdout == (
        "--- a/nb.ipynb:cell 3\n"
        "+++ b/nb.ipynb:cell 3\n"
        "@@ -1,2 +1,2 @@\n"
        " y = 2\n"
        "-print(y)\n"
        "+log(y)\n"
    )
    assert result.exit_code == 1
    assert (tmp_path / "nb.ipynb").read_bytes() == before


def test_add_noqa_in_a_notebook_and_the_next_run_is_clean(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", ("code", "import torch\nprint(1)\n"), ("code", "print(2)  # note\n"))
    added = torchlint("--add-noqa", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert (added.exit_code, added.stderr) == (0, "Added 2 noqa directives.\n")
    sources = [cell["source"] for cell in json.loads((tmp_path / "nb.ipynb").read_text())["cells"]]
    assert sources == [["import torch\n", "print(1)  # noqa: TL901\n"], ["print(2)  # note  # noqa: TL901\n"]]
    assert torchlint("nb.ipynb", cwd=tmp_path, plugins=PLUGINS).stdout == "No findings in 1 file.\n"


def test_messages_speak_in_cell_lines(torchlint, tmp_path):
    """A message that points at another line says which cell and which line in
    it (TL201 names the line of the softmax), in every format."""
    notebook(tmp_path / "nb.ipynb",
             ("code", "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"),
             ("code", "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.fc = nn.Linear(4, 3)\n\n    def forward(self, x):\n"
                      "        return F.softmax(self.fc(x), dim=1)\n"),
             ("code", "model = Net()\ncriterion = nn.CrossEntropyLoss()\n"
                      "x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))\nloss = criterion(model(x), y)\n"))
    result = torchlint("--format", "json", "--select", "TL201", "nb.ipynb", cwd=tmp_path)
    [finding] = json.loads(result.stdout)
    assert (finding["cell"], finding["line"]) == (3, 4)
    assert "(cell 2, line 7)" in finding["body"], finding["body"]
    assert "line 10" not in finding["body"]  # the joined module's line
    text = torchlint("--select", "TL201", "nb.ipynb", cwd=tmp_path).stdout
    assert text.startswith("nb.ipynb:cell 3:4:18: TL201 ") and "(cell 2, line 7)" in text
    github = torchlint("--format", "github", "--select", "TL201", "nb.ipynb", cwd=tmp_path).stdout
    assert "::cell 3, line 4, column 18: " in github and "(cell 2, line 7)" in github


def test_fix_on_stdin_gives_the_fixed_notebook_back(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", ("code", "import torch\nprint(1)\n"))
    data = (tmp_path / "nb.ipynb").read_text()
    result = torchlint("--fix", "-", "--stdin-filename", "nb.ipynb", input=data, cwd=tmp_path,
                       plugins=PLUGINS)
    assert result.stdout == data.replace('"print(1)\\n"', '"log(1)\\n"')  # the JSON, not the joined cells
    assert result.exit_code == 0


def test_a_line_separator_in_a_string_stays_inside_its_line(torchlint, tmp_path):
    """U+2028 inside a string literal is not a line break to Python: the cell keeps
    its lines (str.splitlines would cut the string in two and shift every line)."""
    path = tmp_path / "nb.ipynb"
    notebook(path, ("code", 'import torch\nnote = "a\u2028b"\nprint(note)\n'), ("code", "print(1)\nprint((\n"))
    result = torchlint("--format", "json", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert [(f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)] == [
        ("TL901", 1, 3),  # print(note): line 3 of its cell, the string kept whole
        ("TL001", 2, 2),  # the cell that does not parse, blanked; the others linted
    ]
