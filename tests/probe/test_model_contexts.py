"""Which model the static context names for a finding, and what the probe then runs:
the user's model on the flagged path, or a stand-in said so (never confirmed)."""

from __future__ import annotations

import shutil

from probe_support import REPO, probe, without_sandbox

LOSS_METHOD = REPO / "fixtures" / "TL203" / "project_model_loss_method"


def _probe_of(run, path: str) -> dict:
    assert run.exit_code in (0, 1), run.stderr
    found = [f for f in run.findings if f["path"].endswith(path)]
    assert len(found) == 1, run.findings
    return without_sandbox(found[0]["probe"])


def test_tl203_runs_the_model_whose_own_loss_method_gets_its_outputs(tmp_path):
    # `net.reconstruction_cost(rebuilt, clean, code)` with `rebuilt, code = net(...)`: the loss of
    # another file is given the model's outputs, so the probe builds the script's model
    # (`DenoisingAutoencoder(width=24)`) and measures the summed loss on its output.
    run = probe("--select", "TL203", ".", cwd=LOSS_METHOD, tmpdir=tmp_path / "tmp")
    result = _probe_of(run, "fit.py")
    assert result["verdict"] == "confirmed", result
    assert result["evidence"]["ratio"] == 4.0
    assert result["assumptions"]["constructor"] == "DenoisingAutoencoder(width=24)"
    assert result["assumptions"]["construction"] == "fit.py:20"
    assert result["assumptions"]["loss"] == "F.smooth_l1_loss(..., reduction='sum')"


def test_tl203_loss_method_on_other_tensors_stays_a_stand_in(tmp_path):
    # The same method given tensors that are not the model's output: nothing says which model
    # feeds the loss, so the experiment's predictions are its own and the verdict says so.
    project = tmp_path / "project"
    shutil.copytree(LOSS_METHOD, project)
    script = project / "fit.py"
    text = script.read_text()
    text = text.replace("cost = net.reconstruction_cost(rebuilt, clean, code)",
                        "cost = net.reconstruction_cost(clean * 0.5, clean, clean[:, :6])")
    script.write_text(text)
    run = probe("--select", "TL203", ".", cwd=project, tmpdir=tmp_path / "tmp")
    result = _probe_of(run, "fit.py")
    assert result["verdict"] == "mechanism_only", result
    assert "constructor" not in result["assumptions"]
    assert result["evidence"]["summary"].startswith("on stand-ins (predictions), not the script's")


def test_tl203_model_that_cannot_run_falls_back_to_a_stand_in_said_so(tmp_path):
    # The model's forward needs a module that is not installed: the loss is measured on the
    # experiment's own predictions (mechanism_only), and the assumptions say why the model did not run.
    project = tmp_path / "project"
    shutil.copytree(LOSS_METHOD, project)
    model_file = project / "autoencoder.py"
    text = model_file.read_text()
    text = text.replace("import torch\n", "import torch\nimport signal_jitter\n", 1)
    text = text.replace("code = self.encode(noisy)", "code = self.encode(signal_jitter.shake(noisy))")
    model_file.write_text(text)
    run = probe("--select", "TL203", ".", cwd=project, tmpdir=tmp_path / "tmp")
    result = _probe_of(run, "fit.py")
    assert result["verdict"] == "mechanism_only", result
    assert result["assumptions"]["model_not_run"].startswith("missing_dependency: signal_jitter")
    assert result["evidence"]["stand_ins"] == {
        "predictions": "random float32[4,5] predictions: the model whose output reaches this loss did not "
                       "run here"}
