"""Model code that attacks the probe's sandbox, and what stops it.

Every script in fixtures/probe/attacks/ is an ordinary training script with a
real bug (TL101: evaluation in train mode, on a model with Dropout), probed
with ``--probe`` as a user would. Its model code -- the constructor, forward,
the class body, a local module it imports or an installed package -- does one
thing the sandbox must stop. ATTACKS below is the whole list, with the
verdict each one must get; the few attacks that fixtures/probe/failures/
already acts out are reused from there (their expected verdicts live in
test_failures.FAILURES).

One probe run covers all the scripts (the attacks' pyproject.toml keeps the
limits small: a 2 s timeout, 1536 MB of address space). It runs with a fake
HOME and with secrets in torchlint's environment; the other tests check what
the run must leave behind: nothing.
"""

from __future__ import annotations

import os
import pwd
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from probe_support import PROBE_FIXTURES, ProbeRun, probe, run_torchlint, tree_digest
from test_failures import FAILURES
from test_sandbox import processes_mentioning

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the attacks (fork, /proc, pwd, posix_spawn) and protections are Linux's")

ATTACKS_FOLDER = PROBE_FIXTURES / "attacks"
SECRETS = {"AWS_SECRET_ACCESS_KEY": "aws-secret-3a7f9c1e-torchlint-test",
           "GITHUB_TOKEN": "ghp_torchlintTestToken7c2d55e0"}
#: What the issue asks the sandbox to withstand; every one has rows below.
ISSUE_ATTACKS = ("opens a socket", "writes into the project folder", "writes into the home folder",
                 "reads environment secrets", "forks repeatedly", "allocates far beyond the limit",
                 "sleeps forever", "calls os._exit or sys.exit", "spawns a subprocess",
                 "changes the working directory")


@dataclass(frozen=True)
class Attack:
    attack: str  # what it tries (ISSUE_ATTACKS, or more)
    how: str  # where in the model code, with what
    script: str  # under fixtures/probe/
    verdict: str
    reason: str | None
    summary: str  # exact; {attacks} is the attacks folder, {home} the user's real home, PID any pid
    needs_landlock: bool = False  # stopped only by the kernel (Landlock), past the audit hook


def reused(attack: str, how: str, name: str) -> Attack:
    """A model-code attack that fixtures/probe/failures/ already acts out."""
    verdict, reason, summary = FAILURES[name]
    return Attack(attack, how, f"failures/{name}", verdict, reason, summary)


DENIED_WRITE = ("SandboxDenied: the probe's sandbox refused to write {path}: only its temporary "
                "folder is writable (at {where})")
NO_PROCESSES = ("SandboxDenied: the probe's sandbox does not start or signal processes ({event}) "
                "(at {where})")
CONFIRMED = ("train vs eval max |diff| 0.509 on outputs of scale 0.265; eval vs eval 0; "
             "ran: drop (Dropout)")
KILLED = "the experiment ran past its 2 s limit and its process was killed"

ATTACKS = [
    # -- opens a socket -------------------------------------------------------------------
    Attack("opens a socket", "constructor: torch.hub.download_url_to_file (urllib)",
           "attacks/download_weights.py", "inconclusive", "sandbox_denied",
           "SandboxDenied: the probe's sandbox has no network (urllib.Request) "
           "(at download_weights.py:16)"),
    Attack("opens a socket", "constructor: pretrained weights through torch.hub.load_state_dict_from_url "
           "(nothing is downloaded: the model keeps its initialization, said in the assumptions)",
           "attacks/hub_weights.py", "confirmed", None, CONFIRMED),
    Attack("opens a socket", "forward: a UDP telemetry packet (socket.sendto)",
           "attacks/telemetry_socket.py", "inconclusive", "sandbox_denied",
           "SandboxDenied: the probe's sandbox has no network (socket.sendto) "
           "(at telemetry_socket.py:22)"),
    # -- writes into the project folder ------------------------------------------------------
    reused("writes into the project folder", "constructor: open() beside the script",
           "writes_project.py"),
    Attack("writes into the project folder", "constructor: torch.save beside the script (C++ file I/O)",
           "attacks/saves_checkpoint.py", "inconclusive", "sandbox_denied",
           DENIED_WRITE.format(path="{attacks}/init_weights.pt", where="saves_checkpoint.py:18")),
    Attack("writes into the project folder", "forward: os.replace of the script itself",
           "attacks/renames_script.py", "inconclusive", "sandbox_denied",
           "SandboxDenied: the probe's sandbox refused os.rename on {attacks}/renames_script.py "
           "(at renames_script.py:21)"),
    Attack("writes into the project folder", "constructor: a symlink to the project in its own "
           "folder, then a write through it", "attacks/symlink_escape.py", "inconclusive",
           "sandbox_denied", DENIED_WRITE.format(path="{attacks}/cache.bin", where="symlink_escape.py:18")),
    Attack("writes into the project folder", "constructor: os.open of the project folder, then a "
           "write relative to it (dir_fd)", "attacks/dir_fd_write.py", "inconclusive", "sandbox_denied",
           "SandboxDenied: the probe's sandbox refused to open the folder {attacks}: writes relative "
           "to it (dir_fd) would escape the sandbox (at dir_fd_write.py:17)"),
    Attack("writes into the project folder", "a local module's class body, at import: appends to a "
           "log beside it", "attacks/registry_at_import.py", "inconclusive", "sandbox_denied",
           DENIED_WRITE.format(path="{attacks}/registry.log", where="lib_registry.py:8")),
    # -- changes the working directory ----------------------------------------------------------
    Attack("changes the working directory", "constructor: os.chdir to the project, then open() of "
           "a relative file", "attacks/chdir_then_write.py", "inconclusive", "sandbox_denied",
           DENIED_WRITE.format(path="{attacks}/predictions.csv", where="chdir_then_write.py:18")),
    Attack("changes the working directory", "constructor: os.chdir to the project, then torch.save "
           "of a relative file", "attacks/chdir_then_save.py", "inconclusive", "sandbox_denied",
           DENIED_WRITE.format(path="{attacks}/best.pt", where="chdir_then_save.py:18")),
    # -- writes into the home folder --------------------------------------------------------------
    Attack("writes into the home folder", "constructor: a cache under ~/.cache (HOME is the "
           "sandbox's own folder: harmless)", "attacks/caches_in_home.py", "confirmed", None, CONFIRMED),
    Attack("writes into the home folder", "constructor: the real home from pwd, then a write there",
           "attacks/writes_real_home.py", "inconclusive", "sandbox_denied",
           DENIED_WRITE.format(path="{home}/.torchlint_attack_marker", where="writes_real_home.py:19")),
    # -- reads environment secrets ---------------------------------------------------------------------
    Attack("reads environment secrets", "constructor: os.environ, raising what it finds into the "
           "evidence (it finds nothing: harmless)", "attacks/reads_secrets.py", "confirmed", None,
           CONFIRMED),
    Attack("reads environment secrets", "constructor: open() of its parent's /proc/PID/environ",
           "attacks/reads_parent_environ.py", "inconclusive", "sandbox_denied",
           "SandboxDenied: the probe's sandbox refused to read /proc/PID/environ: other processes' "
           "environment and memory are not readable (at reads_parent_environ.py:16)"),
    Attack("reads environment secrets", "constructor: every process's /proc/PID/environ through "
           "torch's C++ reader, past the audit hook (none readable: harmless)",
           "attacks/native_environ_read.py", "confirmed", None, CONFIRMED, needs_landlock=True),
    # -- forks repeatedly --------------------------------------------------------------------------------
    Attack("forks repeatedly", "constructor: os.fork in an endless loop", "attacks/fork_bomb.py",
           "inconclusive", "sandbox_denied", NO_PROCESSES.format(event="os.fork", where="fork_bomb.py:18")),
    Attack("forks repeatedly", "constructor: libc's fork through ctypes in an endless loop",
           "attacks/ctypes_fork_bomb.py", "inconclusive", "sandbox_denied",
           "SandboxDenied: the probe's sandbox refused ctypes access to fork: native calls that start "
           "or signal processes, connect, or change files are not allowed (at ctypes_fork_bomb.py:21)"),
    # -- allocates far beyond the limit -----------------------------------------------------------------
    reused("allocates far beyond the limit", "forward: torch.ones of 4 GiB", "greedy_forward.py"),
    Attack("allocates far beyond the limit", "constructor: a 200,000 x 200,000 Linear layer (160 GB)",
           "attacks/huge_layer.py", "inconclusive", "resource_limit",
           "RuntimeError: can't allocate memory: you tried to allocate 160000000000 bytes (at "
           "huge_layer.py:14); the sandbox lets the script map 1536 MB beyond Python and torch"),
    Attack("allocates far beyond the limit", "forward: 1 GiB buffers kept in a list that never shrinks",
           "attacks/leaks_memory.py", "inconclusive", "resource_limit",
           "RuntimeError: can't allocate memory: you tried to allocate 1073741824 bytes (at "
           "leaks_memory.py:22); the sandbox lets the script map 1536 MB beyond Python and torch"),
    Attack("allocates far beyond the limit", "class body, at import: bytearray of 16 GiB",
           "attacks/hoards_at_import.py", "inconclusive", "resource_limit",
           "MemoryError (at hoards_at_import.py:12)"),
    # -- sleeps forever ---------------------------------------------------------------------------------
    reused("sleeps forever", "forward: time.sleep(30)", "slow_forward.py"),
    Attack("sleeps forever", "constructor: waits for a file that never appears",
           "attacks/waits_in_constructor.py", "inconclusive", "timeout",
           "the experiment ran past its 2 s limit and was stopped"),
    Attack("sleeps forever", "class body, at import: waits for a lock that is never released",
           "attacks/waits_at_import.py", "inconclusive", "timeout",
           "loading the script ran past its 2 s limit and was stopped"),
    Attack("sleeps forever", "forward: SIGALRM, SIGINT and SIGTERM blocked, then a busy loop",
           "attacks/busy_loop_signals_blocked.py", "inconclusive", "timeout", KILLED),
    Attack("sleeps forever", "forward: a retry loop catching BaseException (the probe's alarm too)",
           "attacks/swallows_timeout.py", "inconclusive", "timeout", KILLED),
    # -- calls os._exit or sys.exit -----------------------------------------------------------------------
    Attack("calls os._exit or sys.exit", "class body, at import: os._exit(0) without a GPU",
           "attacks/exits_in_class_body.py", "inconclusive", "load_failed",
           "loading the script's definitions: the sandbox process ended unexpectedly (exit code 0)"),
    Attack("calls os._exit or sys.exit", "a local module's class body, at import: sys.exit without "
           "a GPU", "attacks/exits_in_local_module.py", "inconclusive", "load_failed",
           "loading the script's definitions failed: SystemExit: this model needs a GPU "
           "(at lib_gpu_check.py:10)"),
    Attack("calls os._exit or sys.exit", "an installed package on sys.path (attacks/installed/): "
           "os._exit(3) when imported", "attacks/exits_in_installed_package.py", "inconclusive",
           "load_failed",
           "loading the script's definitions: the sandbox process ended unexpectedly (exit code 3)"),
    Attack("calls os._exit or sys.exit", "forward: sys.exit", "attacks/exits_in_forward.py",
           "inconclusive", "experiment_error", "SystemExit: batch too small (at exits_in_forward.py:22)"),
    Attack("calls os._exit or sys.exit", "forward: os._exit(5)", "attacks/hard_exits_in_forward.py",
           "inconclusive", "experiment_error", "the sandbox process ended unexpectedly (exit code 5)"),
    # -- spawns a subprocess --------------------------------------------------------------------------
    Attack("spawns a subprocess", "constructor: subprocess.check_output(['git', ...])",
           "attacks/git_hash_subprocess.py", "inconclusive", "sandbox_denied",
           NO_PROCESSES.format(event="subprocess.Popen", where="git_hash_subprocess.py:16")),
    Attack("spawns a subprocess", "constructor: os.system", "attacks/os_system.py", "inconclusive",
           "sandbox_denied", NO_PROCESSES.format(event="os.system", where="os_system.py:16")),
    Attack("spawns a subprocess", "constructor: os.posix_spawn", "attacks/posix_spawn.py",
           "inconclusive", "sandbox_denied",
           NO_PROCESSES.format(event="os.posix_spawn", where="posix_spawn.py:16")),
    Attack("spawns a subprocess", "constructor: os.execv", "attacks/exec_replaces_process.py",
           "inconclusive", "sandbox_denied",
           NO_PROCESSES.format(event="os.exec", where="exec_replaces_process.py:17")),
    Attack("spawns a subprocess", "constructor: multiprocessing's spawn context "
           "(_posixsubprocess, no audit event)", "attacks/multiprocessing_spawn.py", "inconclusive",
           "sandbox_denied", NO_PROCESSES.format(event="_posixsubprocess.fork_exec",
                                                 where="multiprocessing_spawn.py:18")),
    # -- signals the probe ---------------------------------------------------------------------------------
    Attack("signals the probe", "constructor: os.kill(os.getppid(), SIGKILL)", "attacks/kills_parent.py",
           "inconclusive", "sandbox_denied", NO_PROCESSES.format(event="os.kill", where="kills_parent.py:17")),
    # -- no attack: probed last, so its verdict shows that the run went on ----------------------------------
    Attack("none (a bystander)", "an honest script", "attacks/z_honest_training.py", "confirmed", None,
           CONFIRMED),
]


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    (home / ".bashrc").write_text("export PATH=$HOME/bin:$PATH\n")
    return home


@pytest.fixture(scope="module")
def attacks_before() -> dict[str, str]:
    return tree_digest(ATTACKS_FOLDER)


@pytest.fixture(scope="module")
def attacks_run(attacks_before, fake_home, tmp_path_factory) -> ProbeRun:
    """The attack scripts probed in one run, as a user with secrets in the
    environment would, with `fake_home` as HOME and the attacks' installed/
    folder on PYTHONPATH (an installed package that exits at import; given
    relative to the folder torchlint runs in, as users write it)."""
    return probe("--select", "TL101", "fixtures/probe/attacks", tmpdir=tmp_path_factory.mktemp("attacks"),
                 plugins=False, env={"HOME": str(fake_home), **SECRETS,
                                     "PYTHONPATH": "fixtures/probe/attacks/installed"})


def _summary(attack: Attack) -> str:
    return attack.summary.format(attacks=ATTACKS_FOLDER, home=pwd.getpwuid(os.getuid()).pw_dir)


def _protections(run: ProbeRun) -> dict:
    honest = run.by_path()["fixtures/probe/attacks/z_honest_training.py"]
    return honest["probe"]["assumptions"]["sandbox"]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.script.rpartition("/")[2].removesuffix(".py"))
def test_attack_is_stopped(attack, request):
    run = request.getfixturevalue("attacks_run" if attack.script.startswith("attacks/") else "failures_run")
    if attack.needs_landlock and _protections(run)["filesystem"] != "landlock":
        pytest.skip("only Landlock stops this attack, and this kernel has none")
    finding = run.by_path()[f"fixtures/probe/{attack.script}"]
    result = finding["probe"]
    summary = re.sub(r"/proc/\d+/", "/proc/PID/", result["evidence"]["summary"])
    assert (result["verdict"], result.get("reason"), summary) == \
        (attack.verdict, attack.reason, _summary(attack))


def test_the_table_covers_the_issue_and_every_attack_script(attacks_run):
    assert set(ISSUE_ATTACKS) <= {a.attack for a in ATTACKS}
    scripts = {p.relative_to(PROBE_FIXTURES).as_posix() for p in ATTACKS_FOLDER.glob("*.py")
               if not p.name.startswith("lib_")}
    assert scripts == {a.script for a in ATTACKS if a.script.startswith("attacks/")}


def test_pretrained_weights_are_not_downloaded_and_the_verdict_says_so(attacks_run):
    assumptions = attacks_run.by_path()["fixtures/probe/attacks/hub_weights.py"]["probe"]["assumptions"]
    assert assumptions["pretrained_weights"] == (
        "not downloaded (the sandbox has no network): the model keeps its random initialization "
        "instead of https://example.com/weights/net-8-3.pt")
    honest = attacks_run.by_path()["fixtures/probe/attacks/z_honest_training.py"]["probe"]["assumptions"]
    assert "pretrained_weights" not in honest


def test_the_rest_of_the_run_completes(attacks_run):
    # Every script keeps its one finding, with a verdict, and nothing went to standard error.
    assert attacks_run.exit_code == 1, attacks_run.stderr
    assert attacks_run.stderr == ""
    found = {path: (f["code"], f["probe"] is not None) for path, f in attacks_run.by_path().items()}
    assert found == {f"fixtures/probe/{a.script}": ("TL101", True) for a in ATTACKS
                     if a.script.startswith("attacks/")}


def test_the_project_is_byte_identical_afterwards(attacks_before, attacks_run):
    assert tree_digest(ATTACKS_FOLDER) == attacks_before


def test_the_home_folders_are_untouched(fake_home, attacks_run):
    assert sorted(p.name for p in fake_home.rglob("*")) == [".bashrc"]
    assert (fake_home / ".bashrc").read_text() == "export PATH=$HOME/bin:$PATH\n"
    assert not Path(pwd.getpwuid(os.getuid()).pw_dir, ".torchlint_attack_marker").exists()


def test_secrets_reach_neither_the_output_nor_a_file(attacks_run):
    output = attacks_run.stdout + attacks_run.stderr
    assert [name for name, value in SECRETS.items() if value in output] == []
    # The probe's folder is gone, and so is anything written into it.
    assert [p for p in attacks_run.tmpdir.rglob("*") if p.name.startswith("torchlint-probe-")] == []


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_no_process_outlives_the_probe(attacks_run):
    assert processes_mentioning(str(attacks_run.tmpdir)) == []


def test_linting_without_the_probe_runs_none_of_it(tmp_path, fake_home):
    # Had the static path imported any of these files, the class bodies would have written
    # registry.log or ended the process (exit code 0 or 3, no output).
    before = tree_digest(ATTACKS_FOLDER)
    run = run_torchlint("--format", "json", "--select", "TL101", "fixtures/probe/attacks", tmpdir=tmp_path,
                        plugins=False, env={"HOME": str(fake_home), "PYTHONPATH": str(ATTACKS_FOLDER / "installed")})
    assert (run.exit_code, run.stderr) == (1, "")
    assert sorted((f["path"], f["code"], f["probe"]) for f in run.findings) == \
        sorted((f"fixtures/probe/{a.script}", "TL101", None) for a in ATTACKS if a.script.startswith("attacks/"))
    assert tree_digest(ATTACKS_FOLDER) == before


def _permitted_capabilities() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^CapPrm:\s*([0-9a-f]+)$", status, re.MULTILINE).group(1), 16)


def test_a_child_running_as_root_drops_its_capabilities(attacks_run):
    # torchlint inherits this process's capabilities; the child keeps only reading files
    # (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
    beyond_reading = _permitted_capabilities() & ~0b110
    held = "dropped all but reading files" if beyond_reading else "none held"
    assert _protections(attacks_run)["capabilities"] == held
