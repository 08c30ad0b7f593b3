"""Fixes and noqa comments in Jupyter notebooks (not yet: see issue 16)."""

from __future__ import annotations


def fix(run, result, unsafe):
    return result, None


def add_noqa(source, findings):
    return 0, None
