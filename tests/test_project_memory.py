"""The project's module cache stays within its budget on huge trees, and
evicted modules are read again when needed."""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from torchlint import memory
from torchlint import runner as runner_module
from torchlint.config import ConfigFinder
from torchlint.files import Target
from torchlint.runner import Run
from torchlint.semantic import project as project_module
from torchlint.semantic import imports as imports_module
from torchlint.semantic.project import Project
from torchlint.semantic.walker import collect


def _write_modules(folder: Path, count: int, size: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / f"mod{index}.py"
        body = "X = 1\n" * (size // 6)
        path.write_text(f"import torch\n{body}")
        paths.append(path)
    return paths


def test_cache_is_bounded_by_total_text(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_CACHED_CHARS", 10_000)
    paths = _write_modules(tmp_path, 6, 3_000)
    project = Project()
    for path in paths:
        assert project.module(path).facts is not None
    kept = project.modules()
    # Three modules of ~3,000 characters fit in 10,000; the oldest were dropped.
    assert [m.path.name for m in kept] == ["mod3.py", "mod4.py", "mod5.py"]
    assert project._cached_chars == sum(len(m.text) for m in kept)
    assert project.files_read == 6
    project.module(paths[0])  # evicted: read again, and the least recent goes
    assert project.files_read == 7
    assert [m.path.name for m in project.modules()] == ["mod4.py", "mod5.py", "mod0.py"]


def test_cache_is_bounded_by_count(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_CACHED_MODULES", 4)
    paths = _write_modules(tmp_path, 10, 60)
    project = Project()
    for path in paths:
        project.module(path)
    assert [m.path.name for m in project.modules()] == ["mod6.py", "mod7.py", "mod8.py", "mod9.py"]
    project.forget(paths[9])
    assert project._cached_chars == sum(len(m.text) for m in project.modules())


def test_remembered_lookups_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(imports_module, "MAX_REMEMBERED_LOOKUPS", 50)
    project = Project()
    for index in range(500):  # names typed halfway in an editor, none of them a file
        assert project.resolve(tmp_path, f"half_typed_{index}", 0) is None
    assert len(project._finder._resolved) <= 50


def test_a_huge_local_module_is_not_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_MODULE_CHARS", 1_000)
    [small, huge] = _write_modules(tmp_path, 2, 0)
    huge.write_text("import torch\n" + "TABLE = 1\n" * 200)
    project = Project()
    assert project.module(small).facts is not None
    skipped = project.module(huge)
    assert skipped.facts is None and skipped.text.startswith("import torch")


def test_one_lint_takes_in_modules_up_to_its_budget_and_parses_each_once(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_LINT_CHARS", 10_000)
    monkeypatch.setattr(project_module, "MAX_CACHED_CHARS", 4_000)  # the cache keeps one
    paths = _write_modules(tmp_path, 6, 3_000)
    project = Project()
    project.begin_lint()
    taken = [project.module(path) for path in paths]
    # Three modules of ~3,000 characters fit in 10,000: the others are unknown to this lint.
    assert [m is not None for m in taken] == [True, True, True, False, False, False]
    assert project.module(paths[0]) is taken[0]  # evicted from the cache, kept for the lint
    assert project.files_read == 3
    project.end_lint()
    project.begin_lint()  # the next lint has a budget of its own
    assert project.module(paths[5]) is not None


def _write_chain(folder: Path, length: int) -> list[Path]:
    """stage0.py defines run0(x); stage<i>.py's run<i>(x) passes its x on to run<i-1>."""
    (folder / "stage0.py").write_text("import torch\n\n\ndef run0(x):\n    return x\n")
    for index in range(1, length):
        (folder / f"stage{index}.py").write_text(
            f"import torch\nfrom stage{index - 1} import run{index - 1}\n\n\n"
            f"def run{index}(x):\n    return run{index - 1}(x)\n")
    return [folder / f"stage{index}.py" for index in range(length)]


def test_callers_are_searched_a_bounded_number_of_importer_steps(tmp_path):
    from torchlint.semantic import model as model_module
    from torchlint.semantic.model import SemanticModel
    from torchlint.semantic.imports import RunFiles
    from torchlint.semantic.walker import collect
    import libcst as cst

    paths = _write_chain(tmp_path, model_module.MAX_CALLER_HOPS + 3)
    project = Project(run_files=RunFiles.of((p, p.read_text()) for p in paths))
    text = paths[0].read_text()
    project.begin_lint()
    model = SemanticModel(collect(cst.parse_module(text)), project, paths[0], text)
    run = model.facts.functions[0]
    returned = run.returns[0]
    model.values.infer(returned.value, run, returned.order)  # x, bound by the callers' x, ...
    project.end_lint()
    reached = sorted(path.name for path in model._importer_files)
    # stage1 calls run (1 step), stage2 calls stage1's (2 steps); no further.
    assert reached == [f"stage{i}.py" for i in range(1, model_module.MAX_CALLER_HOPS + 1)]


def test_a_large_file_to_lint_makes_room_in_the_cache(tmp_path, monkeypatch):
    """Parsing a large file peaks far above what a kept module costs: before it,
    the cache drops the least recently used modules (torch's 1.4 MB test tables)."""
    monkeypatch.setattr(project_module, "MAX_CACHED_CHARS", 10_000)
    monkeypatch.setattr(project_module, "LARGE_FILE_CHARS", 200)
    monkeypatch.setattr(project_module, "PARSE_PEAK_PER_KEPT", 20)
    paths = _write_modules(tmp_path, 3, 3_000)
    project = Project()
    for path in paths:
        project.module(path)
    project.make_room(tmp_path / "small.py", 100)  # a small file: nothing is dropped
    assert len(project.modules()) == 3
    project.make_room(tmp_path / "large.py", 250)  # its parse counts as 5,000 kept characters
    assert [m.path.name for m in project.modules()] == ["mod2.py"]
    project.module(paths[0])
    project.make_room(tmp_path / "large.py", 250)  # the same file again (an editor's keystrokes)
    assert [m.path.name for m in project.modules()] == ["mod2.py", "mod0.py"]
    project.make_room(tmp_path / "larger.py", 600)  # 12,000: more than the whole cache
    assert project.modules() == []


def test_a_linted_file_too_large_to_be_a_module_is_not_remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_MODULE_CHARS", 1_000)
    big = tmp_path / "tables.py"
    text = "import torch\n" + "ROW = 1\n" * 200
    big.write_text(text)
    project = Project()
    project.remember(big, text, collect(cst.parse_module(text)))
    assert project.modules() == []
    small = tmp_path / "small.py"
    project.remember(small, "import torch\n", collect(cst.parse_module("import torch\n")))
    assert [m.path.name for m in project.modules()] == ["small.py"]


def test_large_files_are_linted_first_and_reported_in_order(tmp_path, monkeypatch):
    """A run lints its large files before the rest (their parse fits best in an
    empty heap) and still reports every file in the order it was given."""
    monkeypatch.setattr(runner_module, "LARGE_FILE_CHARS", 500)
    names = ["a_small.py", "b_large.py", "c_small.py", "d_large.py"]
    for name in names:
        body = "X = 1\n" * (200 if "large" in name else 2)
        (tmp_path / name).write_text(f"import torch\n{body}")
    run = Run(ConfigFinder())
    linted: list[str] = []
    original = Run.lint

    def spy(self, source, **kwargs):
        linted.append(source.path.name)
        return original(self, source, **kwargs)

    monkeypatch.setattr(Run, "lint", spy)
    results, errors, _ = run.lint_targets([Target(tmp_path / n, n) for n in names])
    assert not errors
    assert linted == ["b_large.py", "d_large.py", "a_small.py", "c_small.py"]
    assert [r.display for r in results] == names


def test_memory_is_given_back_after_a_large_file(tmp_path, monkeypatch):
    """After linting a large file, a batch run frees what its parse left resident."""
    calls = []
    monkeypatch.setattr(runner_module, "LARGE_FILE_CHARS", 500)
    monkeypatch.setattr(runner_module, "release_to_os", lambda: calls.append("released"))
    (tmp_path / "small.py").write_text("import torch\nX = 1\n")
    (tmp_path / "large.py").write_text("import torch\n" + "X = 1\n" * 200)
    run = Run(ConfigFinder())
    run.lint_targets([Target(tmp_path / n, n) for n in ("small.py", "large.py")])
    assert calls == ["released"]
    memory.release_to_os()  # the real one runs wherever the C library has no malloc_trim too
