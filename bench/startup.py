"""Startup: ``torchlint small.py`` against ``python -c "import libcst"``.

The two commands run side by side, interleaved (their order alternates each
round so neither always runs on a warmer cache), after warm-up runs; the
script prints each one's median and the ratio of the medians. DESIGN.md's
budget is a ratio of at most 1.3.

Both run with bytecode caching on (a private PYTHONPYCACHEPREFIX), because an
installed package has its .pyc files; an environment that sets
PYTHONDONTWRITEBYTECODE would otherwise charge torchlint for compiling its
own sources on every start.

    python bench/startup.py [--rounds 30] [--max-ratio 1.3] [--importtime]

``--importtime`` also lists the modules torchlint imports beyond libcst's,
by their own import time, to find what to make lazy. Exit status 1 when the
ratio exceeds ``--max-ratio``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL_SCRIPT = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, 2)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))


def train(model, loader, optimizer):
    model.train()
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()


def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        return sum(F.cross_entropy(model(x), y).item() for x, y in loader)
'''


def torchlint_command() -> str:
    beside = Path(sys.executable).parent / "torchlint"
    found = str(beside) if beside.exists() else shutil.which("torchlint")
    if found is None:
        sys.exit("the torchlint command is not installed (pip install -e .)")
    return found


def child_environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "TORCHLINT_PLUGINS", "PYTHONPROFILEIMPORTTIME")}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run. CPU time moves less than wall
    time when other work shares the machine."""
    cpu = _children_cpu()
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if completed.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed ({completed.returncode}): "
                 f"{completed.stderr.decode(errors='replace')}")
    return elapsed, cpu


def self_import_times(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, int]:
    """Module -> its own import time in microseconds, from -X importtime."""
    completed = subprocess.run([sys.executable, "-X", "importtime", *command], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    times: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = line[len("import time:"):].split("|")
        times[name.strip()] = int(own)
    return times


def report_imports(script: Path, cwd: Path, env: dict[str, str]) -> None:
    ours = self_import_times(["-m", "torchlint", script.name], cwd, env)
    floor = self_import_times(["-c", "import libcst"], cwd, env)
    extra = {name: us for name, us in ours.items() if name not in floor}
    print(f"\nimports beyond libcst's: {len(extra)} modules, "
          f"{sum(extra.values()) / 1000:.1f} ms of own import time (inflated by -X importtime)")
    for name, us in sorted(extra.items(), key=lambda item: -item[1])[:25]:
        print(f"  {us / 1000:7.2f} ms  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=1.3)
    parser.add_argument("--importtime", action="store_true",
                        help="list what torchlint imports beyond libcst")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="torchlint-startup-") as temp:
        folder = Path(temp)
        script = folder / "small.py"
        script.write_text(SMALL_SCRIPT)
        env = child_environment(folder / "pycache")
        commands = {
            "torchlint small.py": [torchlint_command(), script.name],
            'python -c "import libcst"': [sys.executable, "-c", "import libcst"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu_samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.warmup):  # also writes the .pyc files into the private cache
            for command in commands.values():
                timed(command, folder, env)
        for round_number in range(args.rounds):
            order = list(commands.items())
            if round_number % 2:
                order.reverse()
            for name, command in order:
                wall, cpu = timed(command, folder, env)
                samples[name].append(wall)
                cpu_samples[name].append(cpu)

        medians = {name: statistics.median(values) for name, values in samples.items()}
        width = max(map(len, commands))
        print(f"{args.rounds} interleaved rounds, {args.warmup} warm-up, Python "
              f"{sys.version.split()[0]}, {os.cpu_count()} cores")
        cpu_medians = {name: statistics.median(values) for name, values in cpu_samples.items()}
        for name, values in samples.items():
            print(f"  {name:<{width}}  median {medians[name] * 1000:6.1f} ms  "
                  f"min {min(values) * 1000:6.1f} ms  max {max(values) * 1000:6.1f} ms  "
                  f"(CPU median {cpu_medians[name] * 1000:6.1f} ms)")
        ours, floor = medians["torchlint small.py"], medians['python -c "import libcst"']
        ratio = ours / floor
        cpu_ratio = cpu_medians["torchlint small.py"] / cpu_medians['python -c "import libcst"']
        verdict = "within" if ratio <= args.max_ratio else "OVER"
        print(f"ratio of medians: {ratio:.2f}x ({verdict} the {args.max_ratio}x budget; "
              f"torchlint costs {(ours - floor) * 1000:+.1f} ms over importing libcst); "
              f"CPU time ratio {cpu_ratio:.2f}x")
        load = os.getloadavg()[0]
        if load > (os.cpu_count() or 1):
            print(f"note: load average {load:.1f} on {os.cpu_count()} cores; the machine is busy "
                  "and wall times are inflated")
        if args.importtime:
            report_imports(script, folder, env)
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
