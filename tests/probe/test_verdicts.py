"""The probe on real torch models: confirmed, refuted and not_exercised, and the
two seed reconstructions (seed 002's LSTM, seed 000's CommonsenseGRUModel with a hint)."""

from __future__ import annotations

import importlib.util
import shutil
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import pytest

from probe_support import PROBE_FIXTURES, probe, without_sandbox


def _numbers(evidence: dict, **expected: float) -> None:
    for key, value in expected.items():
        assert evidence[key] == pytest.approx(value, rel=1e-3, abs=1e-6), key


def test_mode_dependent_layers_confirmed_refuted_not_exercised(modes_run):
    assert modes_run.exit_code == 1, modes_run.stderr
    assert modes_run.stderr == ""
    found = modes_run.by_path()
    assert sorted(found) == ["fixtures/probe/modes/dropout_model.py",
                             "fixtures/probe/modes/dropout_never_runs.py",
                             "fixtures/probe/modes/no_mode_layers.py"]

    confirmed = without_sandbox(found["fixtures/probe/modes/dropout_model.py"]["probe"])
    assert confirmed["verdict"] == "confirmed"
    assert confirmed["evidence"]["summary"] == \
        "train vs eval max |diff| 0.802 on outputs of scale 0.174; eval vs eval 0"
    _numbers(confirmed["evidence"], train_vs_eval=0.801874, eval_vs_eval=0.0, output_scale=0.174474)
    assert confirmed["evidence"]["layers"] == ["bn", "drop"]
    assert confirmed["evidence"]["ran"] == ["bn", "drop"]
    assert confirmed["assumptions"] == {
        "constructor": "Classifier(in_features=32, hidden=64, num_classes=10, dropout=0.3)",
        "construction": "fixtures/probe/modes/dropout_model.py:36",
        "substitutions": {"hidden": "args.hidden_dim -> 64 (argparse default)",
                          "dropout": "args.dropout -> 0.3 (argparse default)",
                          "in_features": "dataset.num_features -> 32"},
        "inputs": {"x": "float32[4,32]"},
    }
    assert "reason" not in confirmed and "hint" not in confirmed

    refuted = without_sandbox(found["fixtures/probe/modes/no_mode_layers.py"]["probe"])
    assert refuted["verdict"] == "refuted"
    assert refuted["evidence"]["summary"] == (
        "train vs eval max |diff| 0 on outputs of scale 0.209; eval vs eval 0; "
        "no mode-dependent layer ran")
    assert (refuted["evidence"]["layers"], refuted["evidence"]["ran"]) == ([], [])
    assert refuted["assumptions"] == {"constructor": "Plain()",
                                      "construction": "fixtures/probe/modes/no_mode_layers.py:23",
                                      "inputs": {"x": "float32[4,20]"}}

    idle = without_sandbox(found["fixtures/probe/modes/dropout_never_runs.py"]["probe"])
    assert idle["verdict"] == "not_exercised"
    assert idle["evidence"]["summary"] == "1 mode-dependent layers exist but none ran (dropout)"
    assert (idle["evidence"]["layers"], idle["evidence"]["ran"]) == (["dropout"], [])
    assert idle["assumptions"] == {
        "constructor": "Encoder(vocab_size=50)",
        "construction": "fixtures/probe/modes/dropout_never_runs.py:23",
        "substitutions": {"vocab_size": "len(vocab) -> 50"},
        "inputs": {"tokens": "int64[4,6] in [0, 50)"},
    }


#: The probe runs in this interpreter: numpy is stubbed only where it is not installed, and
#: the seeds' numpy arrays are then tensors. Both environments are checked exactly.
NUMPY = importlib.util.find_spec("numpy") is not None


def _stubbed(*names: str) -> list[str]:
    """The imports the probe replaces by stubs here: `names` (in import order), with
    numpy among them only where numpy is not installed."""
    return [name for name in names if not (name == "numpy" and NUMPY)]


#: How seed 002's `np.load(...)` pretrained matrix is replaced: a numpy array when numpy
#: is installed, else a tensor (said so in the assumptions).
SEED002_PRETRAINED = {"overrides": {"pretrained_embedding": "array[50,200]"}} if NUMPY else \
    {"overrides": {"pretrained_embedding": "tensor[50,200]"},
     "pretrained_matrix": "a tensor (numpy is not installed)"}

SEED002_BUILD = {
    "stubbed_imports": _stubbed("numpy", "problem_unittests"),
    "constructor": "RNN(vocab_size=50, output_size=50, embedding_dim=200, hidden_dim=256, "
                   "n_layers=2, dropout=0.5)",
    "construction": "fixtures/probe/seed002_lstm/train.py:132",
    "substitutions": {
        "vocab_size": "len(vocab_to_int) -> 50",
        "output_size": "len(vocab_to_int) -> 50",
        "pretrained_embedding": 'np.load("glove_embeddings.npy") unknown; used the default None',
    },
}


def test_seed002_lstm_reconstruction(seed002_run):
    assert seed002_run.exit_code == 1, seed002_run.stderr
    found = {(f["line"], f["code"]): without_sandbox(f["probe"]) for f in seed002_run.findings}
    assert sorted(found) == [(44, "TL903"), (48, "TL902"), (96, "TL901")]

    discarded = found[(44, "TL903")]
    assert discarded["verdict"] == "confirmed"
    assert discarded["evidence"]["summary"] == \
        "embedding weight differs from the pretrained matrix by up to 13.2"
    assert discarded["evidence"]["layer"] == "embd"
    assert discarded["assumptions"] == {**SEED002_BUILD, **SEED002_PRETRAINED}

    batch_of_one = found[(48, "TL902")]
    assert batch_of_one == {
        "verdict": "confirmed",
        "evidence": {"summary": "ValueError: Expected more than 1 value per channel when training, "
                                "got input size torch.Size([1, 256])", "batch_size": 1},
        "assumptions": {**SEED002_BUILD,
                        "inputs": {"nn_input": "int64[1,6] in [0, 50)", "hidden": "model.init_hidden(1)"}},
    }

    validation = found[(96, "TL901")]
    assert validation["verdict"] == "confirmed"
    assert validation["evidence"]["summary"] == \
        "train vs eval max |diff| 1.76 on outputs of scale 0.0507; eval vs eval 0"
    assert validation["evidence"]["ran"] == ["lstm", "dropout", "bn"]
    assert validation["assumptions"] == {
        **SEED002_BUILD, "inputs": {"nn_input": "int64[4,6] in [0, 50)", "hidden": "model.init_hidden(4)"}}


SEED000_INPUTS = {name: "float32[6,4,1024]" for name in ("r1", "r2", "r3", "r4")} | \
    {name: "float32[6,4,768]" for name in ("x1", "x2", "x3", "o1", "o2")} | \
    {"qmask": "ones[6,4,2]", "umask": "ones[4,6]"}
SEED000_HINT = ("fixtures/probe/seed000_cosmic/pyproject.toml "
                "[tool.torchlint.probe.classes.CommonsenseGRUModel]")


def test_seed000_commonsense_model_with_hint(seed000_run):
    assert seed000_run.exit_code == 1, seed000_run.stderr
    found = {(f["path"], f["line"], f["code"]): without_sandbox(f["probe"]) for f in seed000_run.findings}
    assert sorted(found) == [
        ("fixtures/probe/seed000_cosmic/commonsense_model.py", line, "TL902") for line in (85, 86, 87, 88)
    ] + [("fixtures/probe/seed000_cosmic/train_meld.py", 31, "TL901")]

    validation = found[("fixtures/probe/seed000_cosmic/train_meld.py", 31, "TL901")]
    assert validation["verdict"] == "confirmed"
    assert validation["evidence"]["summary"] == \
        "train vs eval max |diff| 0.334 on outputs of scale 1.95; eval vs eval 0"
    assert validation["evidence"]["ran"] == [
        "norm3a", "norm3b", "norm3c", "norm3d", "dropout", "dropout_rec",
        "cs_rnn_f.dialogue_cell.dropout1", "cs_rnn_f.dialogue_cell.dropout5",
        "cs_rnn_r.dialogue_cell.dropout1", "cs_rnn_r.dialogue_cell.dropout5"]
    assert validation["assumptions"] == {
        "namespaces": {"args": "argparse defaults (the script's arguments are not parsed)"},
        "stubbed_imports": _stubbed("numpy", "sklearn", "pandas"),
        "constructor": "CommonsenseGRUModel(D_m=1024, D_s=768, D_g=150, D_p=150, D_r=150, D_i=150, "
                       "D_e=450, D_h=100, D_a=100, n_classes=7, dropout_rec=0.5, dropout=0.5, "
                       "mode1=2, norm=3, residual=False)",
        "construction": "fixtures/probe/seed000_cosmic/train_meld.py:76",
        "substitutions": {
            "n_classes": "7, via args.classify -> 'emotion' (argparse default)",
            "dropout_rec": "args.rec_dropout -> 0.5 (argparse default)",
            "dropout": "args.dropout -> 0.5 (argparse default)",
            "mode1": "args.mode1 -> 2 (argparse default)",
            "norm": "3 (hint)",
            "residual": "args.residual -> False (argparse default)",
        },
        "hint": SEED000_HINT,
        "inputs": SEED000_INPUTS,
    }

    # The model file has no construction call: it is built the way train_meld.py,
    # linted in the same run, builds it. BatchNorm sees T x B rows there, so a
    # batch of one does not break it.
    for line in (85, 86, 87, 88):
        batch_of_one = found[("fixtures/probe/seed000_cosmic/commonsense_model.py", line, "TL902")]
        assert batch_of_one["verdict"] == "refuted"
        assert batch_of_one["evidence"] == {"summary": "a batch of one ran through BatchNorm without error",
                                            "batch_size": 1,
                                            "ran": ["norm3a", "norm3b", "norm3c", "norm3d"]}
        assumptions = dict(validation["assumptions"], inputs={
            name: spec.replace(",4,", ",1,").replace("[4,", "[1,") for name, spec in SEED000_INPUTS.items()})
        assert batch_of_one["assumptions"] == assumptions


def test_seed000_without_hint_is_inconclusive_with_a_ready_hint(tmp_path, fixtures_before):
    project = tmp_path / "cosmic"
    shutil.copytree(PROBE_FIXTURES / "seed000_cosmic", project)
    (project / "pyproject.toml").write_text("[tool.torchlint]\n")
    run = probe("--select", "TL901", "train_meld.py", cwd=project, tmpdir=tmp_path / "tmp")
    assert run.exit_code == 1, run.stderr
    [finding] = run.findings
    result = without_sandbox(finding["probe"])
    assert result["verdict"] == "inconclusive"
    assert result["reason"] == "no_inputs"
    assert result["evidence"] == {"summary": (
        "cannot tell what forward(r1, r2, r3, r4, x1, x2, x3, o1, o2, qmask, umask, att2) needs for "
        "`o1`, `o2`: it reaches no layer the probe knows")}
    # The hint is valid TOML that names constructor arguments where it can; its
    # sizes are the probe's best guesses, for the user to correct.
    assert result["hint"] == (
        "[tool.torchlint.probe.classes.CommonsenseGRUModel]\n"
        "# B and T are chosen by the probe; other names are constructor arguments\n"
        'inputs = { r1 = "float[B,D_m]", r2 = "float[B,D_m]", r3 = "float[B,D_m]", '
        'r4 = "float[B,D_m]", x1 = "float[B,400]", x2 = "float[B,400]", x3 = "float[B,400]", '
        'o1 = "float[B,T]", o2 = "float[B,T]", qmask = "ones[B,T]", umask = "ones[B,T]" }')
    assert tomllib.loads(result["hint"])["tool"]["torchlint"]["probe"]["classes"][
        "CommonsenseGRUModel"]["inputs"]["r1"] == "float[B,D_m]"
    assert result["assumptions"]["substitutions"]["norm"] == "args.norm -> 0 (argparse default)"
