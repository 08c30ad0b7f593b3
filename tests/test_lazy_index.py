"""Linting one file of a large repository reads that file and the local modules
it imports, transitively, and nothing else: no walk of the tree, no index
built up front. A generated repository of 5,000 modules (50 packages of
chained modules) is linted under an audit hook that logs every file opened
and every folder listed inside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_cache import TL101, TRAIN as CACHE_TRAIN

PACKAGES, MODULES = 50, 99  # + an __init__.py each: 5,000 files

# Run the command in this interpreter with an audit hook: "open" sees every
# file opened (io.open, os.open, pathlib), "os.scandir"/"os.listdir" every listing.
# (-P: the current folder is not put on sys.path, as for the installed command,
# so the import system does not list it.)
AUDITED = r"""
import os, sys
root, log = os.path.realpath(sys.argv[1]), open(sys.argv[2], "w")

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path, kind = args[0], "open"
    elif event in ("os.scandir", "os.listdir"):
        path, kind = args[0] if args[0] is not None else ".", "list"
    else:
        return
    path = os.path.realpath(os.fsdecode(path))
    if path == root or path.startswith(root + os.sep):
        log.write(f"{kind} {os.path.relpath(path, root)}\n")
        log.flush()

sys.addaudithook(hook)
sys.argv = ["torchlint", *sys.argv[3:]]
from torchlint.cli import main
main()
"""

# The training script of the cache tests, importing its model from deep in the tree.
TRAIN = CACHE_TRAIN.replace("from model import Net", "from pkg07.m95 import Block95").replace(
    "model = Net()", "model = Block95()")
FINDING = TL101
CHAIN = ["pkg07/m95.py", "pkg07/m96.py", "pkg07/m97.py", "pkg07/m98.py"]


def generate(root: Path) -> None:
    """pkgNN/mMM.py defines BlockMM holding a BlockMM+1 from the next module;
    the last module's block holds the Dropout that TL101 needs to see."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'big'\n")
    for package in range(PACKAGES):
        folder = root / f"pkg{package:02}"
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        for number in range(MODULES):
            last = number + 1 == MODULES
            imports = "" if last else f"from pkg{package:02}.m{number + 1:02} import Block{number + 1}\n"
            inner = "nn.Dropout(0.5)" if last else f"Block{number + 1}()"
            (folder / f"m{number:02}.py").write_text(
                f"import torch.nn as nn\n{imports}\n\nclass Block{number}(nn.Module):\n"
                f"    def __init__(self):\n        super().__init__()\n        self.inner = {inner}\n\n"
                f"    def forward(self, x):\n        return self.inner(x)\n")
    (root / "train.py").write_text(TRAIN)


def audited_run(root: Path, log: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-P", "-c", AUDITED, str(root), str(log), *args], cwd=root, capture_output=True,
        text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "TORCHLINT_DEBUG_STATS": "1"})
    return completed, log.read_text().splitlines()


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big") / "repo"
    generate(root)
    assert sum(1 for _ in root.rglob("*.py")) == 5001  # 5,000 modules and train.py
    return root


def test_one_file_reads_only_what_it_imports(repository, tmp_path):
    completed, events = audited_run(repository, tmp_path / "log", "--no-cache", "train.py")
    assert (completed.returncode, completed.stdout) == (1, FINDING), completed.stderr
    assert completed.stderr == ("torchlint: stats: 1 file: 0 from the cache, 1 linted in 1 process; "
                                "4 local modules parsed\n")
    # The configuration lookup, the file, and the chain of modules it imports.
    assert events == ["open pyproject.toml", "open train.py", *(f"open {path}" for path in CHAIN)]


def test_from_the_cache_it_reads_the_same_files_and_parses_none(repository, tmp_path):
    audited_run(repository, tmp_path / "first", "train.py")
    completed, events = audited_run(repository, tmp_path / "log", "train.py")
    assert (completed.returncode, completed.stdout) == (1, FINDING), completed.stderr
    assert completed.stderr == ("torchlint: stats: 1 file: 1 from the cache, 0 linted in 1 process; "
                                "0 local modules parsed\n")
    # The imported modules are read (and hashed) to check the entry still holds.
    assert [event for event in events if ".torchlint_cache" not in event] == [
        "open pyproject.toml", "open train.py", *(f"open {path}" for path in CHAIN)]
    # The rules' catalog, then the file's entry.
    cache_reads = [event for event in events if ".torchlint_cache" in event]
    assert [event.split()[0] for event in cache_reads] == ["open", "open"], cache_reads
    assert "/rules-" in cache_reads[0]
