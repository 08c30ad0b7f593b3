"""The cache in .torchlint_cache/: a second run reads only the cache and prints
the same; a change to the file, to a local module it imports (or one it
looked for and did not find), to the configuration or to a rule's code lints
it again; a corrupt entry is rewritten; concurrent runs do not corrupt it.

$TORCHLINT_DEBUG_STATS makes each run say, on standard error, how many files
came from the cache and how many local modules were parsed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from support import FIXTURES, REPO, torchlint_executable

STATS = {"TORCHLINT_DEBUG_STATS": "1"}

MODEL = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 3))

    def forward(self, x):
        return self.layers(x)
"""

TRAIN = """\
import torch
from torch.utils.data import DataLoader, TensorDataset

from model import Net


def main():
    data = TensorDataset(torch.randn(30, 6), torch.randint(0, 3, (30,)))
    train_loader = DataLoader(data, batch_size=10, shuffle=True)
    val_loader = DataLoader(data, batch_size=10)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(2):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            for x, y in val_loader:
                print(epoch, torch.nn.functional.cross_entropy(model(x), y).item())
"""

TL101 = ("train.py:21:64: TL101 `model` runs in train mode during evaluation (Dropout)\n"
         "   |\n"
         "21 |                 print(epoch, torch.nn.functional.cross_entropy(model(x), y).item())\n"
         "   |                                                                ^^^^^^^^\n"
         "   |\n"
         "   = help: `model` runs in train mode in this evaluation code (loop over val_loader):\n"
         "           `model.train()` at line 14 is still in force. Its Dropout(0.5) layer behaves differently\n"
         "           in training, so validation results are noisy. Call `model.eval()` before evaluating and\n"
         "           `model.train()` when training resumes.\n"
         "\n"
         "Found 1 finding (1 error, 0 warnings) in 1 file.\n")
CLEAN = "No findings in 1 file.\n"


def stats(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("torchlint: stats: ")]
    assert len(lines) == 1, stderr
    return lines[0][len("torchlint: stats: "):]


# The same script without its explicit `model.train()`: with the model's class unknown
# (model.py missing) nothing says the mode matters, so it is clean; with model.py the
# Dropout in Net makes the default train mode a finding.
TRAIN_IMPLICIT_MODE = TRAIN.replace("        model.train()\n", "")


def project(root: Path, *, model: bool = True, train: str = TRAIN) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(train)
    if model:
        (root / "model.py").write_text(MODEL)
    return root


def lint(torchlint, root: Path, *args: str, **kwargs):
    return torchlint(*args, "train.py", cwd=root, env={**STATS, **kwargs.pop("env", {})}, **kwargs)


def entries(root: Path) -> list[Path]:
    return sorted((root / ".torchlint_cache").glob("*/*/*.json"))  # not the rules catalog


def test_the_second_run_reads_only_the_cache(torchlint, tmp_path):
    root = project(tmp_path)
    first = lint(torchlint, root)
    assert (first.exit_code, first.stdout) == (1, TL101)
    assert stats(first.stderr) == "1 file: 0 from the cache, 1 linted in 1 process; 1 local modules parsed"
    second = lint(torchlint, root)
    assert (second.exit_code, second.stdout) == (1, TL101)
    assert stats(second.stderr) == "1 file: 1 from the cache, 0 linted in 1 process; 0 local modules parsed"
    cache = root / ".torchlint_cache"
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    assert len(entries(root)) == 1


def plugin_project(tmp_path: Path, package: str) -> tuple[Path, str, Path, dict[str, str]]:
    """A rule package of one rule (TL922, a print() call) made for the test, a
    project whose train.py calls print, and the environment that loads the rules:
    (package folder, the rule's source, project root, environment)."""
    plugins = tmp_path / "plugins" / package
    plugins.mkdir(parents=True)
    (plugins / "__init__.py").write_text("")
    rule = (REPO / "tests" / "plugins" / "scale_rules" / "print_call.py").read_text()
    (plugins / "print_call.py").write_text(rule)
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.py").write_text("import torch\nprint(1)\n")
    return plugins, rule, root, {"TORCHLINT_PLUGINS": package, "PYTHONPATH": str(tmp_path / "plugins")}


def imported(stderr: str) -> set[str]:
    """The modules a run imported, from $PYTHONPROFILEIMPORTTIME's report."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_a_run_from_the_cache_imports_no_rule_and_no_parser(torchlint, tmp_path):
    """The rules are chosen from the cache's catalog: nothing of the analysis is
    imported (libcst and the semantic layer are most of a cached run's time)."""
    root = project(tmp_path)
    lint(torchlint, root)
    cached = lint(torchlint, root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert (cached.exit_code, cached.stdout) == (1, TL101)
    modules = imported(cached.stderr)
    assert "torchlint.cli" in modules and "torchlint.cache" in modules
    assert not {m for m in modules if m.startswith(("libcst", "torchlint.semantic.", "torchlint.rules"))
                and m != "torchlint.semantic.imports"}
    # A file changed: its lint imports what it needs, and the finding is the same.
    (root / "train.py").write_text(TRAIN + "\n")
    changed = lint(torchlint, root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert (changed.exit_code, changed.stdout) == (1, TL101)
    assert {"libcst", "torchlint.semantic.phases"} <= imported(changed.stderr)


def test_a_rule_added_after_a_cached_run_can_be_selected(torchlint, tmp_path):
    """The catalog belongs to the code that wrote it: a new rule file makes a new one."""
    plugins, rule, root, env = plugin_project(tmp_path, "growing_rules")
    assert lint(torchlint, root, "--select", "TL922", env=env).stdout.startswith("train.py:2:1: TL922")
    assert lint(torchlint, root, "--select", "TL922", env=env).stdout.startswith("train.py:2:1: TL922")
    (plugins / "print_call_again.py").write_text(
        rule.replace('"TL922"', '"TL923"').replace('"print-call-scale"', '"print-call-again"')
            .replace("class PrintCall(", "class PrintCallAgain("))
    both = lint(torchlint, root, "--select", "TL923", env=env)
    assert both.stdout.startswith("train.py:2:1: TL923"), both.stderr
    unknown = lint(torchlint, root, "--select", "TL924", env=env)
    assert unknown.exit_code == 2 and "TL924" in unknown.stderr


def test_every_format_is_the_same_from_the_cache(torchlint, tmp_path):
    """Whole fixture folders (fixes, notebooks, multi-file projects), every
    format: the cache gives back exactly what linting gave."""
    root = tmp_path / "project"
    for name in ("TL201", "TL401"):
        shutil.copytree(FIXTURES / name, root / name)
    filled = torchlint(".", cwd=root, env=STATS)
    files = len([p for p in root.rglob("*") if p.suffix in (".py", ".ipynb")])
    assert stats(filled.stderr).startswith(f"{files} files: 0 from the cache, {files} linted")
    for output_format in ("json", "sarif", "text"):
        extra = ("--show-source", "--statistics") if output_format == "text" else ()
        cold = torchlint("--format", output_format, *extra, "--no-cache", ".", cwd=root)
        cached = torchlint("--format", output_format, *extra, ".", cwd=root, env=STATS)
        assert cold.exit_code == cached.exit_code == 1
        assert cached.stdout == cold.stdout
        assert stats(cached.stderr) == (f"{files} files: {files} from the cache, 0 linted in 1 process; "
                                        "0 local modules parsed")


def test_changing_the_imported_module_lints_the_importer_again(torchlint, tmp_path):
    root = project(tmp_path)
    assert lint(torchlint, root).stdout == TL101
    (root / "model.py").write_text(MODEL.replace("nn.Dropout(0.5), ", ""))  # no mode-dependent layer
    changed = lint(torchlint, root)
    assert (changed.exit_code, changed.stdout) == (0, CLEAN)
    assert stats(changed.stderr) == "1 file: 0 from the cache, 1 linted in 1 process; 1 local modules parsed"
    again = lint(torchlint, root)
    assert (again.stdout, stats(again.stderr)) == (
        CLEAN, "1 file: 1 from the cache, 0 linted in 1 process; 0 local modules parsed")
    (root / "model.py").write_text(MODEL)
    assert lint(torchlint, root).stdout == TL101


def test_creating_the_imported_module_lints_the_importer_again(torchlint, tmp_path):
    """`from model import Net` before model.py exists: the lookup that found
    nothing is part of the entry, so creating model.py invalidates it."""
    root = project(tmp_path, model=False, train=TRAIN_IMPLICIT_MODE)
    missing = lint(torchlint, root)
    assert (missing.exit_code, missing.stdout) == (0, CLEAN)
    assert lint(torchlint, root).stdout == CLEAN
    (root / "model.py").write_text(MODEL)
    created = lint(torchlint, root)
    assert created.exit_code == 1 and "TL101" in created.stdout, created.stdout
    assert stats(created.stderr) == "1 file: 0 from the cache, 1 linted in 1 process; 1 local modules parsed"


def test_a_nearer_module_of_the_same_name_lints_the_importer_again(torchlint, tmp_path):
    """model.py in the project root is found from app/; a new app/model.py
    (without Dropout) shadows it."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "model.py").write_text(MODEL)
    app = project(tmp_path / "app", model=False)
    first = torchlint("app/train.py", cwd=tmp_path, env=STATS)
    assert first.stdout == TL101.replace("train.py:", "app/train.py:", 1)
    (app / "model.py").write_text(MODEL.replace("nn.Dropout(0.5), ", ""))
    shadowed = torchlint("app/train.py", cwd=tmp_path, env=STATS)
    assert (shadowed.exit_code, shadowed.stdout) == (0, CLEAN)


def test_deleting_the_imported_module_lints_the_importer_again(torchlint, tmp_path):
    root = project(tmp_path, train=TRAIN_IMPLICIT_MODE)
    assert "TL101" in lint(torchlint, root).stdout
    (root / "model.py").unlink()
    assert lint(torchlint, root).stdout == CLEAN


def test_changing_the_configuration_lints_again(torchlint, tmp_path):
    root = project(tmp_path)
    assert lint(torchlint, root).stdout == TL101
    (root / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL101"]\n')
    ignored = lint(torchlint, root)
    assert (ignored.exit_code, ignored.stdout) == (0, CLEAN)
    assert stats(ignored.stderr).startswith("1 file: 0 from the cache, 1 linted")
    (root / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL102"]\n')
    assert lint(torchlint, root).stdout == TL101
    selected = lint(torchlint, root, "--select", "TL2")  # the command line's choice counts too
    assert (selected.exit_code, selected.stdout) == (0, CLEAN)


def test_changing_a_rule_lints_again(torchlint, tmp_path):
    """In a development checkout the version does not change when a rule does:
    the rule packages' source files are part of the key."""
    plugins, rule, root, env = plugin_project(tmp_path, "edited_rules")
    first = lint(torchlint, root, "--select", "TL922", env=env)
    assert first.stdout.splitlines()[0] == "train.py:2:1: TL922 [*] print() called"
    (plugins / "print_call.py").write_text(rule.replace('"print() called"', '"print() was called"'))
    edited = lint(torchlint, root, "--select", "TL922", env=env)
    assert edited.stdout.splitlines()[0] == "train.py:2:1: TL922 [*] print() was called"
    assert stats(edited.stderr).startswith("1 file: 0 from the cache, 1 linted")


def test_a_corrupt_or_foreign_entry_is_ignored_and_rewritten(torchlint, tmp_path):
    root = project(tmp_path)
    (root / "other.py").write_text("import torch\nx = torch.softmax(torch.ones(2))\n")
    (root / "third.py").write_text("import torch\n")
    (root / "fourth.py").write_text("import torch\n")
    expected = torchlint("--no-cache", ".", cwd=root)
    assert torchlint(".", cwd=root).stdout == expected.stdout
    damaged = entries(root)
    assert len(damaged) == 5
    damaged[0].write_bytes(damaged[0].read_bytes()[:40])  # truncated
    damaged[1].write_bytes(b"\x00\xff garbage")
    damaged[2].write_text(json.dumps({"torchlint-cache": 1, "key": "x", "findings": "no"}))
    data = json.loads(damaged[3].read_text())
    data["findings"] = [{"code": 12}]  # the right key, a broken finding
    damaged[3].write_text(json.dumps(data))
    again = torchlint(".", cwd=root, env=STATS)
    assert (again.exit_code, again.stdout) == (expected.exit_code, expected.stdout)
    assert stats(again.stderr).startswith("5 files: 1 from the cache, 4 linted")
    assert "Traceback" not in again.stderr
    third = torchlint(".", cwd=root, env=STATS)
    assert third.stdout == expected.stdout
    assert stats(third.stderr).startswith("5 files: 5 from the cache, 0 linted")


def test_no_cache_writes_nothing(torchlint, tmp_path):
    root = project(tmp_path)
    assert lint(torchlint, root, "--no-cache").stdout == TL101
    assert lint(torchlint, root, env={"TORCHLINT_NO_CACHE": "1"}).stdout == TL101
    assert sorted(os.listdir(root)) == ["model.py", "train.py"]


def test_standard_input_and_fix_do_not_use_the_cache(torchlint, tmp_path):
    root = project(tmp_path)
    piped = torchlint("-", "--stdin-filename", "train.py", cwd=root, input=TRAIN)
    assert piped.stdout == TL101
    assert sorted(os.listdir(root)) == ["model.py", "train.py"]
    lint(torchlint, root)
    fixed = lint(torchlint, root, "--fix")
    assert fixed.stdout == TL101  # TL101 has no fix
    assert stats(fixed.stderr).startswith("1 file: 0 from the cache, 1 linted")


def test_an_unwritable_cache_folder_is_skipped_quietly(torchlint, tmp_path):
    root = project(tmp_path)
    (root / ".torchlint_cache").write_text("not a folder")
    for _ in range(2):
        result = lint(torchlint, root)
        assert (result.exit_code, result.stdout) == (1, TL101)
        assert stats(result.stderr).startswith("1 file: 0 from the cache, 1 linted")
        assert len(result.stderr.splitlines()) == 1  # only the stats line


def test_the_cache_sits_at_the_root_of_the_configuration_in_use(torchlint, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    project(tmp_path / "src")
    result = torchlint("train.py", cwd=tmp_path / "src", env=STATS)
    assert result.stdout == TL101
    assert (tmp_path / ".torchlint_cache" / "CACHEDIR.TAG").is_file()
    assert not (tmp_path / "src" / ".torchlint_cache").exists()


def test_two_runs_at_once_share_the_cache_safely(torchlint, tmp_path):
    root = tmp_path / "project"
    for name in ("TL101", "TL201", "TL501"):
        shutil.copytree(FIXTURES / name, root / name)
    env = dict(os.environ)
    env.pop("TORCHLINT_PLUGINS", None)
    runs = [subprocess.Popen([torchlint_executable(), "--format", "json", "--jobs", "1", "."],
                             cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    expected = torchlint("--format", "json", "--no-cache", ".", cwd=root)
    for stdout, stderr in outputs:
        assert stdout.decode() == expected.stdout
        assert stderr == b""
    third = torchlint("--format", "json", ".", cwd=root, env=STATS)
    assert third.stdout == expected.stdout
    files = len([p for p in root.rglob("*.py") if ".torchlint_cache" not in p.parts])
    assert stats(third.stderr) == f"{files} files: {files} from the cache, 0 linted in 1 process; " \
                                  "0 local modules parsed"
    assert not [p for p in (root / ".torchlint_cache").rglob("*") if p.name.endswith(".tmp")]
