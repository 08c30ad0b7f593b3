"""A model chosen at run time (``if args.wide: Wide(...) else: Narrow(...)``): the probe
builds the same one first on every run (the first construction in source order), then
runs the experiment on each other class the script may build; the verdict stands when
they agree and is inconclusive (``model_choice``) when they do not."""

from __future__ import annotations

from probe_support import REPO, probe, without_sandbox

BRANCHES = REPO / "fixtures" / "probe" / "branch_models"
DISAGREE = REPO / "fixtures" / "probe" / "branch_models_disagree"


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
            "the script may build Narrow instead: the same verdict on Narrow"
    assert seen == ["Wide(width=6)"] * 3


def test_classes_that_disagree_make_the_verdict_depend_on_the_configuration(tmp_path):
    # Dropping has Dropout (eval() matters), Plain has no mode-dependent layer: the missing
    # eval() is a bug on one and harmless on the other, and the environment decides.
    run = probe("--select", "TL101", "--no-cache", ".", cwd=DISAGREE, tmpdir=tmp_path, plugins=False)
    assert run.exit_code in (0, 1), run.stderr
    (finding,) = run.findings
    result = without_sandbox(finding["probe"])
    assert (result["verdict"], result.get("reason")) == ("inconclusive", "model_choice"), result
    per_model = result["evidence"]["per_model"]
    assert {name: each["verdict"] for name, each in per_model.items()} == \
        {"Dropping": "confirmed", "Plain": "refuted"}
    assert per_model["Dropping"]["train_vs_eval"] > 0 and per_model["Plain"]["train_vs_eval"] == 0
    assert "Dropping: confirmed" in result["evidence"]["summary"]
