"""Each way a probe can fail yields its own reason code, never a conclusion."""

from __future__ import annotations

from probe_support import PROBE_FIXTURES as FIXTURES, without_sandbox

FAILURES_FOLDER = "fixtures/probe/failures/"


#: file -> (verdict, reason, evidence summary). tests/probe/test_attacks.py reuses
#: the model-code attacks among them (a timeout, an allocation, a project write).
FAILURES = {
    "slow_forward.py": ("inconclusive", "timeout",
                        "the experiment ran past its 2 s limit and was stopped"),
    "greedy_forward.py": ("inconclusive", "resource_limit",
                          "RuntimeError: can't allocate memory: you tried to allocate 4294967296 "
                          "bytes (at greedy_forward.py:14); the sandbox lets the script map "
                          "1536 MB beyond Python and torch"),
    "missing_package.py": ("inconclusive", "missing_dependency",
                           "quantum_flux_kernels is not installed in the probe's interpreter; the "
                           "code called quantum_flux_kernels.fused_gelu (replaced by a stub)"),
    "raising_constructor.py": ("inconclusive", "construct_failed",
                               "FileNotFoundError: no checkpoint at weights/best.pt (at "
                               "raising_constructor.py:13) (built as FromCheckpoint())"),
    "opaque_argument.py": ("inconclusive", "no_inputs",
                           "cannot tell what forward(x, temperature) needs for `temperature`: it "
                           "reaches no layer the probe knows"),
    "dict_batch.py": ("inconclusive", "no_inputs",
                      "forward(batch) failed on every synthesized input tried (batch: "
                      "float32[4,8]): IndexError: too many indices for tensor of dimension 2 (at "
                      "dict_batch.py:13)"),
    "undefined_base.py": ("inconclusive", "load_failed",
                          "loading the script's definitions failed: NameError: name "
                          "'ParentDefinedInANotebook' is not defined (at undefined_base.py:7)"),
    "writes_project.py": ("inconclusive", "sandbox_denied",
                          "SandboxDenied: the probe's sandbox refused to write "
                          f"{FIXTURES / 'failures' / 'cache.txt'}: only its temporary folder is "
                          "writable (at writes_project.py:12)"),
}


def test_every_failure_mode_has_its_reason(failures_run):
    assert failures_run.exit_code == 1, failures_run.stderr
    assert failures_run.stderr == ""
    found = {path[len(FAILURES_FOLDER):]: without_sandbox(f["probe"])
             for path, f in failures_run.by_path().items()}
    verdicts = {name: (p["verdict"], p.get("reason"), p["evidence"]["summary"]) for name, p in found.items()}
    assert verdicts == FAILURES


def test_inconclusive_verdicts_carry_ready_to_paste_hints(failures_run):
    found = {path[len(FAILURES_FOLDER):]: f["probe"] for path, f in failures_run.by_path().items()}
    hints = {name: p.get("hint") for name, p in found.items()}
    assert hints == {
        "slow_forward.py": None,
        "greedy_forward.py": None,
        "missing_package.py": None,
        "raising_constructor.py": ("[tool.torchlint.probe.classes.FromCheckpoint]\n"
                                   'factory = "probe_model.py:make_model"  # a function returning the '
                                   "built model"),
        "opaque_argument.py": ("[tool.torchlint.probe.classes.Scaled]\n"
                               "# B and T are chosen by the probe; other names are constructor arguments\n"
                               'inputs = { x = "float[B,8]", temperature = "float[B,T]" }'),
        "dict_batch.py": ("[tool.torchlint.probe.classes.DictModel]\n"
                          "# B and T are chosen by the probe; other names are constructor arguments\n"
                          'inputs = { batch = "float[B,8]" }'),
        "undefined_base.py": None,
        "writes_project.py": None,
    }


def test_failures_still_record_what_was_assumed(failures_run):
    found = {path[len(FAILURES_FOLDER):]: without_sandbox(f["probe"])["assumptions"]
             for path, f in failures_run.by_path().items()}
    assert found["missing_package.py"] == {"stubbed_imports": ["quantum_flux_kernels"],
                                           "constructor": "Fused()", "inputs": {"x": "float32[4,8]"}}
    assert found["slow_forward.py"] == {"constructor": "Slow()", "inputs": {"x": "float32[4,8]"}}
    assert found["undefined_base.py"] == {}
    assert found["raising_constructor.py"] == {"constructor": "FromCheckpoint()"}
