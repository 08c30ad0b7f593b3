"""Which files a run lints: the folder walk, what it skips, .gitignore, and
``exclude``; checked with ``torchlint --show-files`` and real lint runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

PLUGINS = "frame_rules"


def tree(root: Path, *paths: str, text: str = "import torch\nprint(1)\n") -> None:
    for path in paths:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def listed(torchlint, cwd: Path, *paths: str) -> list[str]:
    result = torchlint("--show-files", *paths, cwd=cwd)
    assert (result.exit_code, result.stderr) == (0, "")
    return result.stdout.splitlines()


def test_walk_finds_python_stubs_and_notebooks_recursively(torchlint, tmp_path):
    tree(tmp_path, "train.py", "pkg/__init__.py", "pkg/deep/er/model.py", "stubs/m.pyi",
         "notes/README.md", "data/x.csv", "setup.cfg")
    (tmp_path / "nb.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    assert listed(torchlint, tmp_path, ".") == [
        "nb.ipynb", "pkg/__init__.py", "pkg/deep/er/model.py", "stubs/m.pyi", "train.py"]
    assert listed(torchlint, tmp_path, "pkg") == ["pkg/__init__.py", "pkg/deep/er/model.py"]
    assert listed(torchlint, tmp_path / "pkg", "..") == [
        "../nb.ipynb", "../pkg/__init__.py", "../pkg/deep/er/model.py", "../stubs/m.pyi", "../train.py"]


def test_walk_skips_vcs_virtualenvs_build_output_and_caches(torchlint, tmp_path):
    tree(tmp_path, "keep.py", ".git/hooks/x.py", ".hg/x.py", "build/lib/x.py", "dist/x.py",
         "__pycache__/x.py", "node_modules/pkg/x.py", ".venv/lib/x.py", "venv/x.py",
         "torchlint.egg-info/x.py", ".tox/py311/x.py", ".ipynb_checkpoints/x.py",
         "env2/lib/python3.11/site-packages/torch/x.py",  # a venv of any name: has pyvenv.cfg
         "src/build_utils.py", "src/distances.py")  # names that only start like skipped ones
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert listed(torchlint, tmp_path, ".") == ["keep.py", "src/build_utils.py", "src/distances.py"]


def test_a_file_named_explicitly_is_linted_whatever_its_name(torchlint, tmp_path):
    tree(tmp_path, "build/gen.py", "script", "ignored.py")
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    assert listed(torchlint, tmp_path, "build/gen.py", "script", "ignored.py") == [
        "build/gen.py", "script", "ignored.py"]
    assert listed(torchlint, tmp_path, ".") == []


def test_the_same_file_twice_is_linted_once(torchlint, tmp_path):
    tree(tmp_path, "a.py")
    result = torchlint("a.py", "a.py", "./a.py", ".", cwd=tmp_path, plugins=PLUGINS)
    assert re.findall(r"^(\S+):\d+:\d+: TL901", result.stdout, re.M) == ["a.py"]


def test_gitignore(torchlint, tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text(
        "# comment\n"
        "\n"
        "*.gen.py\n"          # a glob at any depth
        "!keep.gen.py\n"      # negation
        "/anchored.py\n"      # only at the root
        "logs/\n"             # folders only
        "cache\n"             # file or folder, any depth
        "experiments/**/old_*.py\n"  # ** crosses folders
        "**/scratch.py\n"
        "data/*\n"
        "!data/loader.py\n"   # re-included: its folder itself is not ignored
        "vendor/\n"
        "!vendor/ours.py\n"   # cannot come back: its folder is ignored (as in git)
    )
    tree(tmp_path, "a.gen.py", "sub/b.gen.py", "keep.gen.py", "anchored.py", "sub/anchored.py",
         "logs/run.py", "sub/logs/run.py", "logs.py", "cache/c.py", "sub/cache", "sub/cache.py",
         "experiments/old_a.py", "experiments/x/y/old_b.py", "experiments/new.py",
         "scratch.py", "sub/deep/scratch.py", "data/raw.py", "data/loader.py", "data/sub/x.py",
         "vendor/ours.py", "train.py")
    assert listed(torchlint, tmp_path, ".") == [
        "data/loader.py", "experiments/new.py", "keep.gen.py", "logs.py", "sub/anchored.py",
        "sub/cache.py", "train.py"]


def test_nested_gitignore_and_one_above_the_walked_folder(torchlint, tmp_path):
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("secret.py\n")
    (tmp_path / ".gitignore").write_text("generated/\n*.tmp.py\n")
    (tmp_path / "src" / ".gitignore").parent.mkdir()
    (tmp_path / "src" / ".gitignore").write_text("!important.tmp.py\nlocal_*.py\n")
    tree(tmp_path, "src/a.py", "src/generated/g.py", "src/x.tmp.py", "src/important.tmp.py",
         "src/local_conf.py", "local_top.py", "src/secret.py", "src/pkg/local_y.py")
    # walking src/ still honours the repository's .gitignore above it
    assert listed(torchlint, tmp_path / "src", ".") == ["a.py", "important.tmp.py"]
    assert listed(torchlint, tmp_path, ".") == ["local_top.py", "src/a.py", "src/important.tmp.py"]


def test_gitignore_outside_a_repository_applies_from_the_walked_folder(torchlint, tmp_path):
    (tmp_path / ".gitignore").write_text("skip.py\n")  # no .git: not a repository above "inner"
    tree(tmp_path, "inner/skip.py", "inner/keep.py", "skip.py")
    assert listed(torchlint, tmp_path / "inner", ".") == ["keep.py", "skip.py"]
    assert listed(torchlint, tmp_path, ".") == ["inner/keep.py"]


def test_exclude_and_gitignore_together_in_a_lint_run(torchlint, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nexclude = ["legacy"]\n')
    (tmp_path / ".gitignore").write_text("out/\n")
    tree(tmp_path, "train.py", "legacy/old.py", "pkg/legacy/x.py", "out/y.py", "pkg/model.py")
    result = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert re.findall(r"^(\S+):\d+:\d+: TL901", result.stdout, re.M) == ["pkg/model.py", "train.py"]
    assert result.exit_code == 1


def test_symlinked_folders_are_not_followed(torchlint, tmp_path):
    tree(tmp_path, "real/a.py")
    (tmp_path / "real" / "loop").symlink_to("..", target_is_directory=True)
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    assert listed(torchlint, tmp_path, ".") == ["real/a.py"]
    # a symlinked folder named explicitly is walked
    assert listed(torchlint, tmp_path, "alias") == ["alias/a.py"]


def test_symlink_loop_and_broken_link_in_a_walk(torchlint, tmp_path):
    tree(tmp_path, "a.py")
    (tmp_path / "loop1.py").symlink_to("loop2.py")
    (tmp_path / "loop2.py").symlink_to("loop1.py")
    (tmp_path / "dangling.py").symlink_to("nowhere.py")
    (tmp_path / "alias.py").symlink_to("a.py")  # the same file: linted once
    result = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    assert result.exit_code == 2
    assert re.findall(r"^(\S+):\d+:\d+: TL901", result.stdout, re.M) == ["a.py"]
    assert result.stderr.splitlines() == [
        "torchlint: error: dangling.py: broken symbolic link (its target does not exist)",
        "torchlint: error: loop1.py: symbolic link loop; nothing to lint",
        "torchlint: error: loop2.py: symbolic link loop; nothing to lint",
    ]


def test_walk_of_an_unreadable_folder(torchlint, tmp_path):
    tree(tmp_path, "a.py", "locked/b.py")
    locked = tmp_path / "locked"
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            import pytest

            pytest.skip("running as a user that can read any folder (root)")
        result = torchlint(".", cwd=tmp_path, plugins=PLUGINS)
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr == "torchlint: error: locked: cannot read folder (Permission denied)\n"
