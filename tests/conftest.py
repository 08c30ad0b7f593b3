"""Shared fixtures. Tests run the installed ``torchlint`` command, as users do;
helpers and paths live in support.py."""

from __future__ import annotations

import pytest
from support import FIXTURES, REPO, TESTS, Result, run_torchlint, torchlint_executable  # noqa: F401


@pytest.fixture
def torchlint():
    """Run the installed command: ``torchlint(*args, cwd=..., input=..., plugins=...)``."""
    return run_torchlint
