"""A stand-in for torchlint.probe.launcher in the language server's tests.

``probe_results`` gives each finding the verdict written on its line as
``# verdict: refuted`` (default: confirmed). A line ``# probe-sleep: N`` makes
it write its process id to ``probe.pid`` beside the file and sleep N seconds
first, so a test can see that a later save kills it.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace

from torchlint.findings import ProbeResult

_VERDICT_RE = re.compile(r"#\s*verdict:\s*(\w+)")
_SLEEP_RE = re.compile(r"#\s*probe-sleep:\s*([\d.]+)")


def probe_results(results, configs, progress=False):
    probed = []
    for result in results:
        text = result.source.text
        sleep = _SLEEP_RE.search(text)
        if sleep:
            (result.source.path.parent / "probe.pid").write_text(str(os.getpid()))
            time.sleep(float(sleep.group(1)))
        lines = text.splitlines()
        findings = []
        for finding in result.findings:
            match = _VERDICT_RE.search(lines[finding.line - 1])
            verdict = match.group(1) if match else "confirmed"
            evidence = {"summary": f"{verdict} on line {finding.line}"}
            findings.append(finding.with_probe(ProbeResult(verdict=verdict, evidence=evidence)))
        probed.append(replace(result, findings=findings))
    return probed
