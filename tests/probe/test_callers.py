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
