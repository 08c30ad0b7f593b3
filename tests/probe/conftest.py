"""Session fixtures of the probe tests: each probe run imports torch in a fresh
server (seconds), so the runs are shared by the tests that read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe_support import PROBE_FIXTURES, ProbeRun, probe, tree_digest


@pytest.fixture(scope="session")
def fixtures_before() -> dict[str, str]:
    """The fixture tree before any probe ran (every run fixture depends on it)."""
    return tree_digest(PROBE_FIXTURES)


@pytest.fixture(scope="session")
def probe_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("probe-runs")


def _session_run(name: str, probe_tmp: Path, *args: str, **kwargs) -> ProbeRun:
    return probe(*args, tmpdir=probe_tmp / name, **kwargs)


@pytest.fixture(scope="session")
def modes_run(fixtures_before, probe_tmp) -> ProbeRun:
    return _session_run("modes", probe_tmp, "--select", "TL901", "fixtures/probe/modes")


@pytest.fixture(scope="session")
def failures_run(fixtures_before, probe_tmp) -> ProbeRun:
    return _session_run("failures", probe_tmp, "--select", "TL904", "fixtures/probe/failures")


@pytest.fixture(scope="session")
def scenarios_run(fixtures_before, probe_tmp) -> ProbeRun:
    return _session_run("scenarios", probe_tmp, "--select", "TL905", "fixtures/probe/sandbox",
                        env={"TORCHLINT_TEST_SECRET": "hunter2", "AWS_SECRET_ACCESS_KEY": "x"})


@pytest.fixture(scope="session")
def seed002_run(fixtures_before, probe_tmp) -> ProbeRun:
    return _session_run("seed002", probe_tmp, "--select", "TL9", "fixtures/probe/seed002_lstm/train.py")


@pytest.fixture(scope="session")
def seed000_run(fixtures_before, probe_tmp) -> ProbeRun:
    return _session_run("seed000", probe_tmp, "--select", "TL901,TL902",
                        "fixtures/probe/seed000_cosmic/train_meld.py",
                        "fixtures/probe/seed000_cosmic/commonsense_model.py")
