"""A run over a whole tree parses each file once: a linted file's parse is
reused by the files that import it, and findings do not change for it. And a
script's imports are found the same from any working folder."""

from __future__ import annotations

from test_cache import MODEL, TL101, TRAIN, stats

STATS = {"TORCHLINT_DEBUG_STATS": "1"}


def test_a_linted_module_is_not_parsed_again_for_its_importer(torchlint, tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "train.py").write_text(TRAIN)
    together = torchlint("--no-cache", "--jobs", "1", "model.py", "train.py", cwd=tmp_path, env=STATS)
    assert together.exit_code == 1
    # model.py was linted first; train.py's `from model import Net` reused its parse.
    assert stats(together.stderr) == "2 files: 0 from the cache, 2 linted in 1 process; 0 local modules parsed"
    alone = torchlint("--no-cache", "train.py", cwd=tmp_path, env=STATS)
    assert stats(alone.stderr) == "1 file: 0 from the cache, 1 linted in 1 process; 1 local modules parsed"
    assert together.stdout == TL101.replace("in 1 file", "in 2 files")
    assert alone.stdout == TL101


def test_imports_are_found_from_a_subfolder_run(torchlint, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "model.py").write_text(MODEL)
    app = tmp_path / "app"
    app.mkdir()
    (app / "train.py").write_text(TRAIN)
    from_root = torchlint("--no-cache", "app/train.py", cwd=tmp_path)
    from_app = torchlint("--no-cache", "train.py", cwd=app)
    assert from_root.stdout == "app/" + TL101
    assert from_app.stdout == TL101
