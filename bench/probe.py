"""Probe cost: one script and ten scripts, beside ``python -c "import torch"``.

    python bench/probe.py [--rounds 3] [--scripts 10] [--max-further 0.5] [--rule-fixtures]

Each round runs, interleaved so that none always gets the warmer cache:

- ``python -c "import torch"``: the floor of anything that runs a model;
- ``torchlint --select TL901 one.py``: the lint alone, without the probe;
- ``torchlint --select TL901 --probe one.py``: one probed script;
- ``torchlint --select TL901 --probe ten/*.py``: ten probed scripts;
- the same ten with ``TORCHLINT_PROBE_PARALLEL=1`` (one child at a time);
- with ``--rule-fixtures``: the real rules over every rule's fixture folder,
  the seeds and ``fixtures/probe/rules`` (about a hundred findings in sixty
  scripts, real experiments), linted and probed.

The scripts are copies of ``fixtures/probe/modes/dropout_model.py`` (a
classifier with Dropout and BatchNorm, built from argparse defaults), each
with one finding of the test rule TL901 whose experiment builds the model,
synthesizes inputs and compares train- and eval-mode outputs; the rules come
from ``tests/plugins/probe_rules``. The script prints the medians and:

- the cost of the first script: ``probe one`` minus ``lint one``, beside
  ``import torch`` (DESIGN.md: about import torch plus its experiments);
- the cost of each further script: ``(probe ten - probe one) / 9``
  (DESIGN.md: under 0.5 s; a parent that imports torch once forks a child
  per script);
- with ``--rule-fixtures``, the cost of a probed finding of the real rules:
  ``(probe fixtures - lint fixtures) / findings``.

Exit status 1 when a further script costs more than ``--max-further`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "fixtures" / "probe" / "modes" / "dropout_model.py"
PLUGINS = REPO / "tests" / "plugins"
RULE_FIXTURES = [*sorted(str(p) for p in (REPO / "fixtures").glob("TL[1-9]*")),
                 str(REPO / "fixtures" / "seeds"), str(REPO / "fixtures" / "probe" / "rules")]


def _torchlint() -> str:
    candidate = Path(sys.executable).parent / "torchlint"
    return str(candidate) if candidate.exists() else "torchlint"


def _timed(command: list[str], env: dict[str, str], expect: int) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != expect:
        sys.exit(f"{' '.join(command)} exited {completed.returncode}:\n"
                 f"{completed.stderr.decode(errors='replace')}")
    if b'"verdict": "confirmed"' not in completed.stdout and "--probe" in command:
        sys.exit(f"{' '.join(command)} did not confirm its findings:\n{completed.stdout.decode()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scripts", type=int, default=10)
    parser.add_argument("--max-further", type=float, default=0.5)
    parser.add_argument("--rule-fixtures", action="store_true",
                        help="also time the real rules' experiments over the rule fixtures")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="torchlint-bench-probe-"))
    try:
        one = workdir / "one"
        ten = workdir / "ten"
        one.mkdir()
        ten.mkdir()
        shutil.copy(SCRIPT, one / "train.py")
        for index in range(options.scripts):
            shutil.copy(SCRIPT, ten / f"train_{index}.py")
        env = dict(os.environ, TORCHLINT_PLUGINS="probe_rules",
                   PYTHONPATH=os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH", "")) if p))
        sequential = dict(env, TORCHLINT_PROBE_PARALLEL="1")
        base = [_torchlint(), "--select", "TL901", "--format", "json"]
        many = sorted(str(p) for p in ten.iterdir())
        commands = {
            "import torch": ([sys.executable, "-c", "import torch"], env, 0),
            "lint one": ([*base, str(one / "train.py")], env, 1),
            "probe one": ([*base, "--probe", str(one / "train.py")], env, 1),
            f"probe {options.scripts}": ([*base, "--probe", *many], env, 1),
            f"probe {options.scripts}, one child at a time": ([*base, "--probe", *many], sequential, 1),
        }
        findings = 0
        if options.rule_fixtures:
            real = {k: v for k, v in os.environ.items() if k != "TORCHLINT_PLUGINS"}
            fixtures = [_torchlint(), "--format", "json", *RULE_FIXTURES]
            commands["lint rule fixtures"] = (fixtures, real, 1)
            commands["probe rule fixtures"] = ([*fixtures, "--probe"], real, 1)
            listed = subprocess.run([*fixtures, "--probe"], env=real, capture_output=True, cwd=REPO)
            findings = sum(1 for f in json.loads(listed.stdout) if f.get("probe") is not None)
        timings: dict[str, list[float]] = {name: [] for name in commands}
        for name, (command, environment, expect) in commands.items():  # warm-up
            _timed(command, environment, expect)
        for round_index in range(options.rounds):
            order = list(commands.items())
            if round_index % 2:
                order.reverse()
            for name, (command, environment, expect) in order:
                timings[name].append(_timed(command, environment, expect))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in timings.items()}
    width = max(len(name) for name in medians)
    print(f"median of {options.rounds} rounds, {os.cpu_count()} cores:")
    for name, value in medians.items():
        print(f"  {name:<{width}}  {value:6.2f} s")
    first = medians["probe one"] - medians["lint one"]
    further = (medians[f"probe {options.scripts}"] - medians["probe one"]) / (options.scripts - 1)
    sequential_further = (medians[f"probe {options.scripts}, one child at a time"]
                          - medians["probe one"]) / (options.scripts - 1)
    print(f"first script: {first:.2f} s (import torch alone: {medians['import torch']:.2f} s)")
    print(f"each further script: {further:.3f} s ({sequential_further:.3f} s one child at a time; "
          f"budget {options.max_further} s)")
    if findings:
        per_finding = (medians["probe rule fixtures"] - medians["lint rule fixtures"]) / findings
        print(f"each probed finding of the real rules: {per_finding:.3f} s "
              f"({findings} findings over the rule fixtures)")
    return 0 if further <= options.max_further else 1


if __name__ == "__main__":
    sys.exit(main())
