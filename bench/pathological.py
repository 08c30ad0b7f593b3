"""Pathological input: time and peak memory of the installed ``torchlint`` on each.

    python bench/pathological.py [--scale bench|suite] [--only NAME ...] [--timeout 900]

Each case writes its input into a fresh folder and runs ``torchlint --select ALL
--no-probe`` on it once; the script prints, per case, the exit code, the wall
time, the peak resident memory of the torchlint process (from ``wait4``), and
the first line of its output (findings summary or error message). A case
passes when the run ends on its own with exit code 0, 1 or 2, prints no
traceback and says something (findings or a one-line message).

``--scale bench`` is the issue's sizes (a 200,000-line file, a 10 MB line,
1,000 nested parentheses, 5,000 chained operators, 5,000 notebook cells,
10,000 files); ``--scale suite`` the smaller, still pathological sizes that
``tests/test_pathological.py`` runs. The input builders live here so both use
the same ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# -- input builders ---------------------------------------------------------------

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

# 17 lines holding exactly one finding (TL201, line 15 of the block), with names
# of its own so a big file is not a file that redefines one function 10,000 times.
TRAINING_BLOCK = '''

class Net{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


def train_{i}(model, loader, optimizer):
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(F.softmax(model(x), dim=1), y)
        loss.backward()
        optimizer.step()
'''
BLOCK_LINES = TRAINING_BLOCK.count("\n")
BLOCK_FINDING_LINE = 15  # where the block's TL201 lies, counted from the block's first line


def many_lines(lines: int) -> str:
    """A training module of about `lines` lines: one TL201 per block."""
    blocks = max((lines - HEADER.count("\n")) // BLOCK_LINES, 1)
    return HEADER + "".join(TRAINING_BLOCK.format(i=i) for i in range(blocks))


def blocks_in(lines: int) -> int:
    return max((lines - HEADER.count("\n")) // BLOCK_LINES, 1)


def long_string_line(size: int) -> str:
    """One line of `size` characters: a string literal."""
    return "import torch\nx = '" + "a" * max(size - 7, 0) + "'\n"


def long_list_line(elements: int) -> str:
    """One line holding a list literal of `elements` numbers (a data file)."""
    return "import torch\nweights = [" + ", ".join(["0.5"] * elements) + "]\n"


def nested_parentheses(depth: int) -> str:
    return "import torch\nx = " + "(" * depth + "1" + ")" * depth + "\n"


def operator_chain(terms: int) -> str:
    """``a + a + ... + a``: a left-deep tree `terms` levels deep."""
    return "import torch\na = 1\nb = " + " + ".join(["a"] * terms) + "\n"


def nested_blocks(depth: int, header: str = "if x:") -> str:
    lines = ["import torch", "x = 1"]
    lines += [" " * level + header for level in range(depth)]
    lines.append(" " * depth + "pass")
    return "\n".join(lines) + "\n"


def elif_chain(branches: int) -> str:
    """5,000 elifs are 5,000 nested If nodes in the syntax tree."""
    parts = ["import torch\nx = 1\nif x == 0:\n    pass\n"]
    parts += [f"elif x == {i}:\n    pass\n" for i in range(1, branches)]
    return "".join(parts)


NOTEBOOK_CELL = ["out = model(torch.randn(2, 8))\n",
                 "loss = F.cross_entropy(F.softmax(out, dim=1), torch.tensor([0, 1]))\n"]


def notebook(cells: int) -> str:
    """A notebook of `cells` code cells; each but the first has one TL201."""
    first = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": [HEADER, "model = nn.Linear(8, 4)\n"]}
    rest = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": NOTEBOOK_CELL} for _ in range(cells - 1)]
    return json.dumps({"cells": [first, *rest], "metadata": {"language_info": {"name": "python"}},
                       "nbformat": 4, "nbformat_minor": 5})


TREE_FILE = '''import torch
import torch.nn as nn


class Net{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


def train_{i}(loader):
    model = Net{i}()
    for epoch in range(3):
        for x, y in loader:
            loss = F.cross_entropy(F.softmax(model(x), dim=1), y)
'''


def write_tree(root: Path, files: int, per_folder: int = 100) -> None:
    """`files` small scripts in folders of `per_folder`; every tenth has one TL201."""
    for i in range(files):
        folder = root / f"pkg{i // per_folder:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        text = TREE_FILE.format(i=i)
        if i % 10:
            text = text.replace("F.softmax(model(x), dim=1)", "model(x)")
        (folder / f"mod{i:05d}.py").write_text("import torch.nn.functional as F\n" + text)


def imported_nesting(root: Path, depth: int) -> None:
    """train.py calls a function of a local module whose body nests `depth` parentheses."""
    (root / "train.py").write_text("import torch\nfrom helpers import make\n\nmodel = make()\n")
    (root / "helpers.py").write_text("def make():\n    return " + "(" * depth + "1" + ")" * depth + "\n")


# -- the cases -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    build: Callable[[Path], list[str]]  # writes the input, returns the paths to lint


def _file(name: str, text: str) -> Callable[[Path], list[str]]:
    def build(root: Path) -> list[str]:
        (root / name).write_text(text)
        return [name]
    return build


def _tree(files: int) -> Callable[[Path], list[str]]:
    def build(root: Path) -> list[str]:
        write_tree(root / "tree", files)
        return ["tree"]
    return build


def _imported(depth: int) -> Callable[[Path], list[str]]:
    def build(root: Path) -> list[str]:
        imported_nesting(root, depth)
        return ["train.py"]
    return build


#: name -> (bench size, suite size)
SIZES = {
    "lines": (200_000, 5_000),
    "line-bytes": (10_000_000, 10_000_000),
    "string-line": (7_000_000, 2_000_000),
    "list-line": (1_000_000, 20_000),
    "parentheses": (1_000, 1_000),
    "imported-parentheses": (5_000, 1_000),
    "chain": (5_000, 5_000),
    "chain-accepted": (2_500, 1_000),
    "blocks": (150, 150),
    "blocks-accepted": (99, 99),
    "elif": (5_000, 5_000),
    "cells": (5_000, 2_000),
    "files": (10_000, 500),
}


def cases(scale: str = "bench") -> list[Case]:
    index = 0 if scale == "bench" else 1
    size = {name: sizes[index] for name, sizes in SIZES.items()}
    return [
        Case("lines", f"a {size['lines']:,}-line training module (one TL201 per 17 lines)",
             _file("big.py", many_lines(size["lines"]))),
        Case("line-bytes", f"a single line of {size['line-bytes'] / 1e6:.0f} MB (over the 8 MiB limit)",
             _file("line.py", long_string_line(size["line-bytes"]))),
        Case("string-line", f"a single line of {size['string-line'] / 1e6:.0f} MB: a string literal",
             _file("line.py", long_string_line(size["string-line"]))),
        Case("list-line", f"a single line holding a list of {size['list-line']:,} numbers",
             _file("data.py", long_list_line(size["list-line"]))),
        Case("parentheses", f"{size['parentheses']:,} nested parentheses",
             _file("nested.py", nested_parentheses(size["parentheses"]))),
        Case("imported-parentheses",
             f"{size['imported-parentheses']:,} nested parentheses in a module the linted file imports",
             _imported(size["imported-parentheses"])),
        Case("chain", f"{size['chain']:,} chained `a + a + ...` (CPython refuses it too)",
             _file("chain.py", operator_chain(size["chain"]))),
        Case("chain-accepted", f"{size['chain-accepted']:,} chained `a + a + ...` (CPython accepts it)",
             _file("chain.py", operator_chain(size["chain-accepted"]))),
        Case("blocks", f"{size['blocks']} nested `if` blocks (over CPython's 100)",
             _file("blocks.py", nested_blocks(size["blocks"]))),
        Case("blocks-accepted", f"{size['blocks-accepted']} nested `for` blocks",
             _file("blocks.py", nested_blocks(size["blocks-accepted"], "for i in x:"))),
        Case("elif", f"an if with {size['elif']:,} elif branches", _file("elif.py", elif_chain(size["elif"]))),
        Case("cells", f"a notebook of {size['cells']:,} cells", _file("notebook.ipynb", notebook(size["cells"]))),
        Case("files", f"a tree of {size['files']:,} files", _tree(size["files"])),
    ]


# -- measuring -----------------------------------------------------------------


def torchlint_command() -> str:
    candidate = Path(sys.executable).parent / "torchlint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("torchlint")
    if found is None:
        raise SystemExit("the torchlint command is not installed: pip install -e '.[dev]'")
    return found


@dataclass(frozen=True)
class Measured:
    exit_code: int | None  # None: killed at the timeout; negative: killed by a signal
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float  # peak resident memory of the torchlint process


def measure(paths: list[str], cwd: Path, timeout: float,
            options: tuple[str, ...] = ("--select", "ALL", "--no-probe")) -> Measured:
    """Run torchlint once; its own peak memory comes from wait4 (not the
    whole process tree's high-water mark that RUSAGE_CHILDREN keeps)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([torchlint_command(), *options, *paths], cwd=cwd,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   env={**os.environ, "TORCHLINT_PLUGINS": ""})
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        killed = process.returncode == -9 and seconds >= timeout
        out.seek(0)
        err.seek(0)
        # Linux reports ru_maxrss in KiB, macOS in bytes.
        peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
        return Measured(None if killed else process.returncode,
                        out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                        seconds, peak)


def verdict(result: Measured) -> str:
    if result.exit_code is None:
        return "TIMEOUT"
    if result.exit_code < 0:
        return f"CRASH (signal {-result.exit_code})"
    if result.exit_code not in (0, 1, 2) or "Traceback" in result.stderr:
        return "FAIL"
    if not (result.stdout.strip() or result.stderr.strip()):
        return "FAIL (says nothing)"
    return "ok"


def summary_line(result: Measured) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    if not lines:
        return ""
    errors = [line for line in lines if line.startswith("torchlint:")]
    return (errors[0] if errors else lines[-1])[:160]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("bench", "suite"), default="bench")
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)

    failed = 0
    print(f"{'case':22} {'exit':>5} {'time s':>8} {'peak MiB':>9}  verdict / output")
    for case in cases(args.scale):
        if args.only and case.name not in args.only:
            continue
        with tempfile.TemporaryDirectory(prefix="torchlint-patho-") as scratch:
            root = Path(scratch)
            (root / "pyproject.toml").write_text("[tool.torchlint]\n")
            paths = case.build(root)
            result = measure(paths, root, args.timeout)
        state = verdict(result)
        failed += state != "ok"
        print(f"{case.name:22} {result.exit_code!s:>5} {result.seconds:8.1f} {result.peak_mib:9.0f}  "
              f"{state}: {case.what}\n{'':48}{summary_line(result)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
