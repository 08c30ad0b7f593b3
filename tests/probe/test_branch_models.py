"""A model chosen at run time (``if args.wide: Wide(...) else: Narrow(...)``): the probe
builds the same one on every run (the first construction in source order) and its
assumptions say which others the script may build instead."""

from __future__ import annotations

from probe_support import REPO, probe, without_sandbox

BRANCHES = REPO / "fixtures" / "probe" / "branch_models"


def test_a_model_chosen_by_a_branch_is_the_same_on_every_run_and_says_so(tmp_path):
    seen = []
    for attempt in range(3):
        run = probe("--select", "TL102", "--no-cache", ".", cwd=BRANCHES, tmpdir=tmp_path / f"tmp{attempt}",
                    plugins=False)
        assert run.exit_code in (0, 1), run.stderr
        (finding,) = run.findings
        result = without_sandbox(finding["probe"])
        seen.append(result["assumptions"]["constructor"])
        assert result["verdict"] == "confirmed", result
        assert result["assumptions"]["alternatives"] == \
            "the script may build Narrow instead: this verdict is about Wide"
    assert seen == ["Wide(width=6)"] * 3
