"""A finding in a function that receives its model: the probe builds the model a caller in
another file of the run builds (its construction there), never a guess."""

from __future__ import annotations

import libcst as cst

from probe_support import probe
from torchlint.probe import jobs, recover


def test_the_model_a_caller_builds_in_another_file_is_probed(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/callers", tmpdir=tmp_path, plugins=False)
    (finding,) = [f for f in run.findings if f["path"].endswith("loops.py")]
    result = finding["probe"]
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["assumptions"]["constructor"] == "Scorer(width=10)"
    assert result["assumptions"]["construction"] == \
        "fixtures/probe/callers/run_experiment.py:10 (a Scorer built there)"


SOURCE = '''
def score(loader, net, *, limit=3):
    for x in loader:
        net(x)

class Runner:
    def go(self, net):
        net(1)
'''


def test_the_parameter_that_holds_the_model_and_the_argument_a_call_passes_for_it():
    info = jobs._parse(None, "scoring", SOURCE)
    found = jobs._model_parameter(info, {"model": "net"}, 4)
    assert found == jobs._ModelParameter("score", 1, "net")
    assert jobs._model_parameter(info, {"model": "net"}, 8) is None  # a method: its model is self's
    assert jobs._model_parameter(info, {"model": "self.net"}, 4) is None
    calls = jobs._parse(None, "caller", "score(data, model)\nscore(data, net=other)\nscore(*both)\n").facts.calls
    shown = [jobs._argument_for(call, found) for call in calls]
    assert [a.value if isinstance(a, cst.Name) else a for a in shown] == ["model", "other", None]
    assert recover  # (the job's helpers live beside recover)


def test_a_model_passed_through_methods_and_made_by_a_factory_in_the_caller_s_file(tmp_path):
    run = probe("--select", "ALL", "--no-cache", "fixtures/probe/callers_factory", tmpdir=tmp_path, plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert (finding["path"], finding["code"]) == ("fixtures/probe/callers_factory/routine.py", "TL101")
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["assumptions"]["constructor"] == "blender_small(n_out=3)"  # **opts shown as passed
    assert result["assumptions"]["construction"] == \
        "fixtures/probe/callers_factory/launch.py:13 (a Blender made by blender_small())"
    assert result["assumptions"]["substitutions"] == {"n_out": "args.labels -> 3 (argparse default)"}


def test_files_where_the_static_side_saw_the_model_built_are_read_first(tmp_path):
    builder = tmp_path / "builder.py"
    builder.write_text("net = Net()\n")
    other = (tmp_path / "other.py", "other.py", "x = 1\n")
    located = (tmp_path / "located.py", "located.py", "y = 2\n")
    sites = [(builder, 1), (located[0], 3)]
    found = jobs._with_sites([other, located], sites, tmp_path / "script.py")
    assert [path.name for path, _, _ in found] == ["builder.py", "located.py", "other.py"]
    assert found[0][2] == "net = Net()\n"


def test_a_caller_that_imports_the_script_under_its_package_name_passes_its_model(tmp_path):
    """run.py imports `training.loops`; the probed script is loaded as `loops`: the caller's
    construction still counts (the check is by file, not by the module name)."""
    run = probe("--select", "TL101", "--no-cache", "fixtures/probe/callers_package", tmpdir=tmp_path,
                plugins=False)
    (finding,) = run.findings
    result = finding["probe"]
    assert result["verdict"] == "confirmed", result["evidence"]
    assert result["assumptions"]["construction"] == \
        "fixtures/probe/callers_package/run.py:8 (a Tagger built there)"
