"""Error-resilient linting, through the installed command: a file that does not
parse is reported (TL001) and, when blanking its unparsable statements makes it
parse, the rest of it is still checked, at its real lines. No fix is offered or
applied on such a file: the edits would be computed against other text."""

from __future__ import annotations

import json

# A Python 2 training script: print statements and an old `except` clause, with a
# real bug (log_softmax before CrossEntropyLoss, which has a safe fix) elsewhere.
PY2_SCRIPT = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


def train(model, loader, optimizer):
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.cross_entropy(F.log_softmax(model(x), dim=1), y)
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print "step", step, ("loss",
                                 loss.item())
    try:
        torch.save(model.state_dict(), "m.pt")
    except IOError, err:
        print err


if __name__ == "__main__":
    net = nn.Linear(4, 3)
    train(net, [(torch.randn(8, 4), torch.randint(0, 3, (8,)))], torch.optim.SGD(net.parameters(), lr=0.1))
"""


def _findings(torchlint, cwd, *args):
    result = torchlint("--format", "json", "--select", "ALL", "--no-cache", *args, cwd=cwd)
    assert result.exit_code == 1, result.stderr
    return json.loads(result.stdout)


def test_python2_script_reports_the_syntax_error_and_the_bug(torchlint, tmp_path):
    (tmp_path / "train.py").write_text(PY2_SCRIPT)
    found = _findings(torchlint, tmp_path, "train.py")
    assert [(f["code"], f["line"]) for f in found] == [("TL202", 9), ("TL001", 13)]
    syntax = found[1]
    assert syntax["message"].startswith("The file does not parse: Missing parentheses in call to 'print'")
    assert "(lines 13, 17, 18) were skipped" in syntax["body"]
    bug = found[0]
    assert (bug["column"], bug["end_column"]) == (32, 62)  # the real columns of the argument
    assert all(f["fix"] is None for f in found)


def test_fix_and_diff_leave_a_recovered_file_untouched(torchlint, tmp_path):
    path = tmp_path / "train.py"
    path.write_bytes(PY2_SCRIPT.encode())
    fixed = torchlint("--fix", "--unsafe-fixes", "--no-cache", "train.py", cwd=tmp_path)
    assert fixed.exit_code == 1, fixed.stderr
    assert path.read_bytes() == PY2_SCRIPT.encode()
    assert "fixable" not in fixed.stdout
    diff = torchlint("--diff", "--no-cache", "train.py", cwd=tmp_path)
    assert diff.stdout == ""
    assert path.read_bytes() == PY2_SCRIPT.encode()


def test_an_imported_python2_module_is_still_followed(torchlint, tmp_path):
    (tmp_path / "nets.py").write_text(
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super(Net, self).__init__()\n"
        "        self.fc = nn.Linear(4, 3)\n"
        "        print 'built'\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x).softmax(dim=1)\n")
    (tmp_path / "fit.py").write_text(
        "import torch\nimport torch.nn as nn\nfrom nets import Net\n\n"
        "net = Net()\ncriterion = nn.CrossEntropyLoss()\n"
        "loss = criterion(net(torch.randn(2, 4)), torch.tensor([0, 1]))\n")
    found = _findings(torchlint, tmp_path, "fit.py", "nets.py")
    assert sorted((f["path"], f["line"], f["code"]) for f in found) == [
        ("fit.py", 7, "TL201"), ("nets.py", 8, "TL001")]


def test_a_file_beyond_recovery_reports_the_syntax_error_alone(torchlint, tmp_path):
    # More unparsable statements than recovery blanks: given up, nothing else is checked.
    (tmp_path / "t.py").write_text(
        "import torch\nimport torch.nn.functional as F\n"
        "loss = F.cross_entropy(F.log_softmax(torch.randn(2, 3), dim=1), torch.tensor([0, 1]))\n"
        + "print loss\n" * 100)
    found = _findings(torchlint, tmp_path, "t.py")
    assert [(f["code"], f["line"]) for f in found] == [("TL001", 4)]
    assert "nothing else in it was checked" in found[0]["body"]


def test_an_unterminated_string_at_the_end_is_skipped(torchlint, tmp_path):
    (tmp_path / "t.py").write_text(
        "import torch\nimport torch.nn.functional as F\n"
        "loss = F.cross_entropy(F.log_softmax(torch.randn(2, 3), dim=1), torch.tensor([0, 1]))\n"
        'doc = """never closed\n')
    found = _findings(torchlint, tmp_path, "t.py")
    assert [(f["code"], f["line"]) for f in found] == [("TL202", 3), ("TL001", 4)]


# Indentation Python accepts and libcst's tokenizer refuses: a tab then four
# spaces inside a four-space block (Python counts the tab as 8 columns).
TAB_INDENTED = (
    "import torch\n"
    "import torch.nn as nn\n"
    "\n"
    "\n"
    "def train(model, loader, optimizer):\n"
    "    for x, y in loader:\n"
    "\t    optimizer.zero_grad()\n"
    "\t    loss = nn.functional.cross_entropy(nn.functional.log_softmax(model(x), dim=1), y)\n"
    "\t    loss.backward()\n"
    "\t    optimizer.step()\n"
)


def test_tab_indentation_python_accepts_is_linted_without_tl001(torchlint, tmp_path):
    (tmp_path / "train.py").write_text(TAB_INDENTED)
    found = _findings(torchlint, tmp_path, "train.py")
    assert [(f["code"], f["line"]) for f in found] == [("TL202", 8)]
    assert found[0]["fix"] is None  # the columns of that line moved: no edit is offered
