"""Loop rules (TL501, TL503) whose loop gets its model from a caller: the probe runs the
user's model where it is known and builds, and falls back to its stand-in only when it is
not, said so (``mechanism_only`` with ``model_not_run``), never confirmed on the stand-in."""

from __future__ import annotations

import shutil

from probe_support import REPO, probe, without_sandbox

LOOP_CALLERS = REPO / "fixtures" / "probe" / "loop_callers"


def _tl501(run) -> dict:
    assert run.exit_code in (0, 1), run.stderr
    (finding,) = [f for f in run.findings if f["code"] == "TL501"]
    assert finding["path"].endswith("loop.py")
    return without_sandbox(finding["probe"])


def test_the_caller_s_model_runs_in_the_loop_experiment(tmp_path):
    run = probe("--select", "ALL", "--no-cache", ".", cwd=LOOP_CALLERS, tmpdir=tmp_path / "tmp",
                plugins=False)
    result = _tl501(run)
    assert result["verdict"] == "confirmed", result
    assert result["assumptions"]["constructor"] == "Stacker(width=12)"
    assert "stand_ins" not in result["evidence"]


def test_a_model_that_gets_no_input_gives_way_to_the_stand_in_said_so(tmp_path):
    # The forward needs a lookup table the probe cannot make: the experiment runs its stand-in
    # (the mechanism only), and says which model it could not run and why.
    project = tmp_path / "project"
    shutil.copytree(LOOP_CALLERS, project)
    model_file = project / "stacks.py"
    text = model_file.read_text()
    text = text.replace("def forward(self, rows):\n        return self.head(self.body(rows)).squeeze(-1)",
                        "def forward(self, rows, table):\n"
                        "        return self.head(self.body(rows)).squeeze(-1) * table[\"scale\"]")
    model_file.write_text(text)
    result = _tl501(probe("--select", "ALL", "--no-cache", ".", cwd=project, tmpdir=tmp_path / "tmp",
                          plugins=False))
    assert result["verdict"] == "mechanism_only", result
    assert result["evidence"]["stand_ins"] == {
        "model": "a stand-in nn.Linear(8, 4): the script's model did not run here"}
    assert result["assumptions"]["constructor"] == "Stacker(width=12)"
    assert result["assumptions"]["model_not_run"].startswith(
        "no_inputs: cannot tell what forward(rows, table)")
    assert result["assumptions"]["inputs"] == {"input": "float32[4,8]"}


def test_a_model_whose_constructor_fails_gives_way_to_the_stand_in_said_so(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(LOOP_CALLERS, project)
    model_file = project / "stacks.py"
    text = model_file.read_text()
    text = text.replace("        layers = []\n",
                        "        layers = []\n        assert width % 5 == 0, 'a multiple of 5'\n")
    model_file.write_text(text)
    result = _tl501(probe("--select", "ALL", "--no-cache", ".", cwd=project, tmpdir=tmp_path / "tmp",
                          plugins=False))
    assert result["verdict"] == "mechanism_only", result
    assert result["assumptions"]["model_not_run"].startswith("construct_failed: AssertionError")


def test_an_abstract_forward_gives_way_to_the_stand_in_said_so(tmp_path):
    # A base class whose forward its subclasses provide: built and fed, it raises on the
    # first pass; the loop experiment runs its stand-in instead and says why.
    project = tmp_path / "project"
    shutil.copytree(LOOP_CALLERS, project)
    model_file = project / "stacks.py"
    text = model_file.read_text()
    text = text.replace("def forward(self, rows):\n        return self.head(self.body(rows)).squeeze(-1)",
                        "def forward(self, *parts):\n        raise NotImplementedError")
    model_file.write_text(text)
    result = _tl501(probe("--select", "ALL", "--no-cache", ".", cwd=project, tmpdir=tmp_path / "tmp",
                          plugins=False))
    assert result["verdict"] == "mechanism_only", result
    assert "NotImplementedError" in result["assumptions"]["model_not_run"]
