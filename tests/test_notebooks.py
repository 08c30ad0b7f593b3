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
    result = torchlint("nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:-1] == [  # the last line is the summary
        "nb.ipynb:cell 3:4:5: TL901 [print-call] print() called",
        "nb.ipynb:cell 5:2:9: TL907 [local-class-call] constructs Net, a class of this module",
        "nb.ipynb:cell 7:5:1: TL901 [print-call] print() called",
    ]
    assert result.stderr == ""


def test_json_gives_the_cell_and_the_line_within_it(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", *TRAINING)
    result = torchlint("--format", "json", "--select", "TL907", "nb.ipynb", cwd=tmp_path,
                       plugins=PLUGINS)
    assert json.loads(result.stdout) == [{
        "code": "TL907", "name": "local-class-call", "severity": "warning",
        "message": "constructs Net, a class of this module", "path": "nb.ipynb",
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
        ("TL001", 2, 1, 22, "the file does not parse: expected ':'"),
        ("TL907", 3, 1, 9, "constructs Net, a class of this module"),  # Net of cell 1 is known
        ("TL901", 3, 2, 1, "print() called"),
    ]


def test_notebook_in_a_folder_walk_and_on_stdin(torchlint, tmp_path):
    (tmp_path / "exp").mkdir()
    notebook(tmp_path / "exp" / "nb.ipynb", ("code", "import torch\nprint(1)\n"))
    walk = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert walk.stdout.splitlines()[0] == "exp/nb.ipynb:cell 1:2:1: TL901 [print-call] print() called"
    data = (tmp_path / "exp" / "nb.ipynb").read_text()
    stdin = torchlint("-", "--stdin-filename", "in.ipynb", input=data, cwd=tmp_path, plugins=PLUGINS)
    assert stdin.stdout.splitlines()[0] == "in.ipynb:cell 1:2:1: TL901 [print-call] print() called"


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


def test_fix_leaves_a_notebook_alone(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", ("code", "import torch\nprint(1)\n"))
    before = (tmp_path / "nb.ipynb").read_bytes()
    result = torchlint("--fix", "nb.ipynb", cwd=tmp_path, plugins=PLUGINS)
    assert (tmp_path / "nb.ipynb").read_bytes() == before
    assert result.stdout.splitlines()[0] == "nb.ipynb:cell 1:2:1: TL901 [print-call] print() called"


def test_fix_on_stdin_gives_a_notebook_back_unchanged(torchlint, tmp_path):
    notebook(tmp_path / "nb.ipynb", ("code", "import torch\nprint(1)\n"))
    data = (tmp_path / "nb.ipynb").read_text()
    result = torchlint("--fix", "-", "--stdin-filename", "nb.ipynb", input=data, cwd=tmp_path,
                       plugins=PLUGINS)
    assert result.stdout == data  # the JSON, not the joined cells
    assert result.stderr.splitlines()[0] == "nb.ipynb:cell 1:2:1: TL901 [print-call] print() called"
    assert result.exit_code == 1
