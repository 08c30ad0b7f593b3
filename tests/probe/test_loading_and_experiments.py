"""Loading names the stripped copy lacks, and experiments run in this process on the
script's own objects (TL503 builds the script's optimizer)."""

from __future__ import annotations

import importlib
import sys
import inspect
import textwrap
import types

import pytest

from probe_support import probe

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from torchlint.probe import sandbox_lab  # noqa: E402


def test_names_made_by_blanked_code_and_absent_package_modules_become_stubs(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/loading/names_from_blanked_code/evaluate.py",
                tmpdir=tmp_path, plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert result["verdict"] == "confirmed", result["evidence"]
    # pkg/blocks.py is served as itself (a package's missing names are its submodules).
    assert result["assumptions"]["stubbed_imports"] == ["data.loader", "pkg.heads"]


class SelfClearingSGD(torch.optim.SGD):
    """An optimizer whose step clears the gradients: nothing accumulates without zero_grad."""

    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for weight in group["params"]:
                weight.grad = None
        return loss


class _Runtime:
    def __init__(self) -> None:
        self.script = types.SimpleNamespace(nn=nn, torch=torch, SelfClearingSGD=SelfClearingSGD)

    def hint(self, name):
        return {}

    def hint_source(self, name):
        return f"[tool.torchlint.probe.classes.{name}]"

    def factory(self, name, kind):
        return None


def _tl503(context: dict) -> dict:
    rule = importlib.import_module("rules.missing_zero_grad")
    source = textwrap.dedent(inspect.getsource(rule.MissingZeroGrad.experiment))
    namespace: dict = {}
    exec(compile(source.replace("@staticmethod\n", "", 1), "<experiment>", "exec"), namespace)
    lab = sandbox_lab.Lab(_Runtime(), {"code": "TL503", "message": "", "line": 1, "column": 1,
                                       "context": context})
    torch.manual_seed(0)
    return sandbox_lab.finish(lab, namespace["experiment"](lab))


def test_tl503_runs_the_scripts_optimizer():
    base = {"construct": "nn.Linear(6, 1)", "optimizer_params": "net"}
    standard = _tl503({**base, "optimizer_call": "torch.optim.SGD(net.parameters(), lr=0.1)"})
    assert standard["verdict"] == "confirmed"
    assert "SGD.step()" in standard["evidence"]["summary"]
    assert standard["assumptions"]["optimizer"] == "torch.optim.SGD(net.parameters(), lr=0.1)"
    clearing = _tl503({**base, "optimizer_call": "SelfClearingSGD(net.parameters(), lr=0.1)"})
    assert clearing["verdict"] == "refuted", clearing["evidence"]
    # Without the script's optimizer no step runs: the verdict speaks of the mechanism only.
    unknown = _tl503({"construct": "nn.Linear(6, 1)"})
    assert unknown["verdict"] == "mechanism_only"
    assert "optimizer" in unknown["evidence"]["stand_ins"]


def test_a_module_of_a_folder_without_init_imports_its_siblings_relatively(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/loading/namespace_package",
                tmpdir=tmp_path, plugins=False)
    (finding,) = run.findings
    assert finding["code"] == "TL101"
    assert finding["probe"]["verdict"] == "confirmed", finding["probe"]["evidence"]
    assert finding["probe"]["assumptions"]["constructor"] == "Denoiser()"


def test_an_installed_module_needing_a_missing_package_becomes_a_stub_with_the_reason(tmp_path, monkeypatch):
    from torchlint.probe import sandbox_loader as loader

    (tmp_path / "summary_sink").mkdir()
    (tmp_path / "summary_sink" / "__init__.py").write_text("import sink_backend_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = loader.StubRegistry()
    user = loader.SourceModule("tally_user", "tally_user.py",
                               "from summary_sink import Writer\nimport torch\nWIDTH = 3\n")
    meta = list(sys.meta_path)
    try:
        loader.install([user], registry)
        module = loader.load("tally_user")
        assert module.WIDTH == 3
        registry.strict = True
        with pytest.raises(loader.MissingDependency, match="summary_sink needs sink_backend_not_installed"):
            module.Writer()
    finally:
        sys.meta_path[:] = meta
        for name in ("tally_user", "summary_sink"):
            sys.modules.pop(name, None)
    assert registry.stubbed == ["summary_sink"]
