"""The probe's verdict on a finding, in words (text and GitHub formats)."""

from __future__ import annotations

import json
from typing import Any

from torchlint.findings import ProbeResult

INCONCLUSIVE = "inconclusive"
# Assumptions too long for a line of text output; JSON and SARIF keep them whole.
_TEXT_HIDDEN_ASSUMPTIONS = frozenset({"sandbox", "inputs"})


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _pairs(data: dict[str, Any]) -> str:
    return "; ".join(f"{key}={_value(value)}" for key, value in data.items())


def evidence_summary(probe: ProbeResult) -> str:
    """The evidence in one line: its ``summary`` when the probe wrote one,
    else its measurements as ``key=value`` pairs."""
    evidence = probe.evidence if isinstance(probe.evidence, dict) else {}
    summary = evidence.get("summary")
    if isinstance(summary, str) and summary.strip():
        return " ".join(summary.split())
    return _pairs({k: v for k, v in evidence.items() if k != "summary"})


def headline(probe: ProbeResult) -> str:
    """``probe: inconclusive (construct_failed): TypeError ...``"""
    verdict = probe.verdict if probe.reason is None else f"{probe.verdict} ({probe.reason})"
    summary = evidence_summary(probe)
    return f"probe: {verdict}" + (f": {summary}" if summary else "")


def describe(probe: ProbeResult) -> list[str]:
    """Lines under a finding: the verdict, what was assumed, and for an
    inconclusive verdict the pyproject.toml snippet that lets the probe go on."""
    lines = [headline(probe)]
    shown = {k: v for k, v in probe.assumptions.items() if k not in _TEXT_HIDDEN_ASSUMPTIONS}
    if shown:
        lines.append(f"assumed: {_pairs(shown)}")
    if probe.verdict == INCONCLUSIVE and probe.hint:
        lines.append("to help the probe, add to pyproject.toml:")
        lines.extend(f"    {line}" for line in probe.hint.strip("\n").splitlines())
    return lines
