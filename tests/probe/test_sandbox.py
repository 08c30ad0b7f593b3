"""The sandbox: what it refuses, how it ends runaway experiments, that it leaves
nothing behind (no file in the project, no process), and its fallbacks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from probe_support import PROBE_FIXTURES, probe, tree_digest, without_sandbox

SCENARIOS = {
    "modules": ("confirmed", None, "loaded: []"),
    "network": ("inconclusive", "sandbox_denied",
                "SandboxDenied: the probe's sandbox has no network (socket.getaddrinfo)"),
    "write-project": ("inconclusive", "sandbox_denied",
                      f"SandboxDenied: the probe's sandbox refused to write "
                      f"{PROBE_FIXTURES / 'sandbox' / 'written_by_probe.txt'}: only its temporary "
                      "folder is writable"),
    "write-cwd": ("confirmed", None, "wrote into its own folder"),
    "subprocess": ("inconclusive", "sandbox_denied",
                   "SandboxDenied: the probe's sandbox does not start or signal processes "
                   "(subprocess.Popen)"),
    "raise": ("inconclusive", "experiment_error", "KeyError: 'no such thing'"),
    "no-verdict": ("inconclusive", "experiment_error",
                   "the experiment returned nothing, not a lab verdict"),
    "bad-reason": ("inconclusive", "experiment_error",
                   "ValueError: unknown reason 'because'; use one of load_failed, construct_failed, "
                   "no_inputs, experiment_error, timeout, resource_limit, sandbox_denied, "
                   "missing_dependency, model_choice"),
    # SIGALRM interrupts the sleep inside Python...
    "sleep": ("inconclusive", "timeout", "the experiment ran past its 2 s limit and was stopped"),
    # ...and when the alarm is blocked the server kills the child's process group,
    "block-alarm": ("inconclusive", "timeout",
                    "the experiment ran past its 2 s limit and its process was killed"),
    # then a fresh child runs the experiments still to run.
    "after-kill": ("confirmed", None, "scenario after-kill finished"),
    "exit": ("inconclusive", "experiment_error", "the sandbox process ended unexpectedly (exit code 3)"),
    "after-exit": ("confirmed", None, "scenario after-exit finished"),
}


def test_scenarios(scenarios_run):
    assert scenarios_run.exit_code == 1, scenarios_run.stderr
    assert scenarios_run.stderr == ""
    found = {f["message"].removeprefix("scenario "): f["probe"] for f in scenarios_run.findings}
    assert {name: (p["verdict"], p.get("reason"), p["evidence"]["summary"])
            for name, p in found.items()} == SCENARIOS


def test_the_child_imports_neither_torchlint_nor_libcst_and_has_a_scrubbed_environment(scenarios_run):
    [modules] = [f for f in scenarios_run.findings if f["message"] == "scenario modules"]
    assert modules["probe"]["evidence"] == {
        "summary": "loaded: []", "loaded": [], "cuda_visible": "", "home_is_cwd": True, "secret": None}


def test_writes_stay_in_the_childs_own_folder(scenarios_run):
    [cwd] = [f for f in scenarios_run.findings if f["message"] == "scenario write-cwd"]
    assert cwd["probe"]["evidence"] == {"summary": "wrote into its own folder", "cwd_is_project": False}
    assert not (PROBE_FIXTURES / "sandbox" / "written_by_probe.txt").exists()
    assert not (PROBE_FIXTURES / "sandbox" / "scratch.txt").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the protections named are Linux's")
def test_protections_in_force_are_recorded(modes_run):
    sandbox = modes_run.findings[0]["probe"]["assumptions"]["sandbox"]
    assert sandbox["start"] == "fork"
    assert sandbox["environment"] == "scrubbed"
    assert sandbox["limits"] == {"address_space_mb": 4096, "cpu_seconds": 125, "file_size_mb": 256,
                                 "processes_above_current": 64}
    # Which kernel features back them depends on the machine; each is named.
    assert sandbox["network"] in ("network namespace", "user and network namespace",
                                  "landlock: no TCP", "python audit hook only")
    assert sandbox["filesystem"] in ("landlock", "python audit hook only")


def test_every_probed_file_is_byte_identical_afterwards(fixtures_before, modes_run, failures_run,
                                                        scenarios_run, seed002_run, seed000_run):
    assert tree_digest(PROBE_FIXTURES) == fixtures_before


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or working folder contains `text`: a
    sandbox process forked from the server keeps the server's command line
    (which names its folder), one it started runs in its folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        try:
            folder = os.readlink(entry / "cwd")
        except OSError:
            folder = ""
        if command and (text in command or text in folder):  # an empty command line: a zombie
            found.append(f"{entry.name}: {command} (in {folder})")
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_no_process_outlives_the_probe(probe_tmp, modes_run, failures_run, scenarios_run,
                                       seed002_run, seed000_run):
    # Every run had TMPDIR under probe_tmp, so its server and children (forked,
    # same command line) name a folder under it.
    assert processes_mentioning(str(probe_tmp)) == []
    leftovers = [p for p in probe_tmp.rglob("*") if p.name.startswith("torchlint-probe-")]
    assert leftovers == []


def test_spawn_fallback_gives_the_same_verdict(tmp_path, fixtures_before, modes_run):
    run = probe("--select", "TL901", "fixtures/probe/modes/dropout_model.py", tmpdir=tmp_path,
                env={"TORCHLINT_PROBE_START": "spawn"})
    assert run.exit_code == 1, run.stderr
    [finding] = run.findings
    assert finding["probe"]["assumptions"]["sandbox"]["start"] == "spawn"
    forked = modes_run.by_path()["fixtures/probe/modes/dropout_model.py"]["probe"]
    assert without_sandbox(finding["probe"]) == without_sandbox(forked)


def test_missing_torch_is_inconclusive_not_a_crash(tmp_path, fixtures_before):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ImportError('torch is broken in this environment')\n")
    run = probe("--select", "TL901", "fixtures/probe/modes/dropout_model.py", tmpdir=tmp_path / "tmp",
                env={"PYTHONPATH": os.pathsep.join([str(fake), str(Path(__file__).parents[1] / "plugins")])})
    assert run.exit_code == 1, run.stderr
    [finding] = run.findings
    probe_result = finding["probe"]
    summary = probe_result["evidence"].pop("summary")
    assert probe_result == {"verdict": "inconclusive", "reason": "missing_dependency",
                            "assumptions": {}, "evidence": {}}
    # The interpreter is the one running the installed command (python or python3 of this venv).
    interpreter, _, error = summary.removeprefix("torch cannot be imported by ").partition(": ")
    assert Path(interpreter).parent == Path(sys.executable).parent, summary
    assert error == ("ImportError: torch is broken in this environment; install it in this "
                     "environment: pip install 'torchlint[probe]'")
