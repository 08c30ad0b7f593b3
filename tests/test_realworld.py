"""The real-world figure never slides back.

``../shared/realworld/score.py`` runs the installed command on 70 public
training files (labelled bugs and clean files chosen to fool a linter). This
test runs it and compares with the figures recorded in
``tests/data/realworld_ratchet.json``: for every code, at least as many labels
found as recorded, and no finding on a clean entry. Raise the recorded figures
whenever recall rises (``python tests/test_realworld.py --record`` writes them).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCORER = REPO.parent / "shared" / "realworld" / "score.py"
RATCHET = Path(__file__).resolve().parent / "data" / "realworld_ratchet.json"
ROW = re.compile(r"^(TL\d{3})\s+(\d+)/(\d+)\s*$")
SUMMARY = re.compile(r"findings on (\d+) clean entries (\d+)")


def score() -> tuple[dict[str, int], int, str]:
    torchlint = Path(sys.executable).with_name("torchlint")
    done = subprocess.run([sys.executable, str(SCORER), "--torchlint", str(torchlint), "--verbose"],
                          capture_output=True, text=True, timeout=900)
    found = {m.group(1): int(m.group(2)) for m in map(ROW.match, done.stdout.splitlines()) if m}
    summary = SUMMARY.search(done.stdout)
    assert summary, done.stdout + done.stderr
    return found, int(summary.group(2)), done.stdout


@pytest.mark.skipif(not SCORER.exists(), reason="../shared/realworld is not beside this clone")
def test_realworld_recall_does_not_slide_back():
    recorded = json.loads(RATCHET.read_text())
    found, clean_findings, report = score()
    fallen = {code: (found.get(code, 0), least) for code, least in recorded["found"].items()
              if found.get(code, 0) < least}
    assert not fallen, f"labels found fell below the record (now, recorded): {fallen}\n{report}"
    assert clean_findings <= recorded["clean_findings"], report


if __name__ == "__main__" and "--record" in sys.argv:
    found, clean_findings, report = score()
    RATCHET.write_text(json.dumps({"found": found, "clean_findings": clean_findings}, indent=1) + "\n")
    print(report)
