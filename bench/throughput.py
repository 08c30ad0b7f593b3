"""Lines per second of torchlint, TorchFix and the libcst floor, side by side.

    python bench/throughput.py [--corpus torch|fixtures|both] [--rounds 3] [--limit N]

Each round runs, interleaved, as separate processes on one core:
- the floor: a script that parses every file with libcst and visits its tree
  once with a do-nothing CSTVisitor (no metadata);
- torchlint: `torchlint --select ALL --format json --no-cache --jobs 1` (the
  flags that exist in this version are used);
- TorchFix 0.7 (`torchfix -j 1 --select ALL`), installed into its own virtual
  environment under bench/.venv-torchfix (it pins libcst < 1.6), if it can be
  installed from the package index.
It prints lines/s (best round), the ratios torchlint/floor (time) and
torchlint/TorchFix (speed), and each tool's peak resident memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCHFIX_VENV = REPO / "bench" / ".venv-torchfix"

FLOOR = r"""
import sys
import libcst as cst

class Nothing(cst.CSTVisitor):
    pass

for path in sys.argv[1:]:
    try:
        text = open(path, encoding="utf-8").read()
        cst.parse_module(text).visit(Nothing())
    except Exception:
        pass
"""


def corpus(kind: str, limit: int | None) -> list[Path]:
    files: list[Path] = []
    if kind in ("fixtures", "both"):
        files += sorted((REPO / "fixtures").rglob("*.py")) + sorted((REPO / "examples").rglob("*.py"))
    if kind in ("torch", "both"):
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.origin is None:
            sys.exit("torch is not installed: pip install 'torch==2.13.0' (or use --corpus fixtures)")
        files += sorted(Path(spec.origin).parent.rglob("*.py"))
    return files[:limit] if limit else files


def count_lines(files: list[Path]) -> int:
    return sum(path.read_bytes().count(b"\n") for path in files)


def torchfix_command() -> list[str] | None:
    executable = TORCHFIX_VENV / "bin" / "torchfix"
    if not executable.exists():
        print("installing TorchFix 0.7.0 into bench/.venv-torchfix ...", file=sys.stderr)
        venv.create(TORCHFIX_VENV, with_pip=True)
        installed = subprocess.run(
            [str(TORCHFIX_VENV / "bin" / "pip"), "install", "-q", "torchfix==0.7.0"],
            capture_output=True, text=True,
        )
        if installed.returncode != 0 or not executable.exists():
            print(f"TorchFix could not be installed; skipped.\n{installed.stderr[-500:]}", file=sys.stderr)
            return None
    return [str(executable), "-j", "1", "--select", "ALL"]


def torchlint_command() -> list[str]:
    help_text = subprocess.run([sys.executable, "-m", "torchlint", "check", "--help"],
                               capture_output=True, text=True).stdout
    command = [sys.executable, "-m", "torchlint", "--select", "ALL", "--format", "json", "--exit-zero"]
    if "--no-cache" in help_text:
        command.append("--no-cache")
    if "--jobs" in help_text:
        command += ["--jobs", "1"]
    return command


def timed(command: list[str], files: list[Path]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run over `files`."""
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        process = subprocess.Popen([*command, *map(str, files)], stdout=sink, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("torch", "fixtures", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--no-torchfix", action="store_true")
    args = parser.parse_args()

    files = corpus(args.corpus, args.limit)
    lines = count_lines(files)
    with tempfile.NamedTemporaryFile("w", suffix="_floor.py", delete=False) as handle:
        handle.write(FLOOR)
    tools = {"floor (libcst parse + visit)": [sys.executable, handle.name],
             "torchlint": torchlint_command()}
    if not args.no_torchfix:
        command = torchfix_command()
        if command is not None:
            tools["TorchFix 0.7"] = command
    print(f"{len(files)} files, {lines} lines, {args.rounds} rounds, one process each")
    best: dict[str, float] = {}
    memory: dict[str, int] = {}
    for round_number in range(args.rounds):
        for name, command in tools.items():  # interleaved: load changes hit every tool alike
            seconds, rss = timed(command, files)
            best[name] = min(best.get(name, float("inf")), seconds)
            memory[name] = max(memory.get(name, 0), rss)
            print(f"  round {round_number + 1}: {name:<30} {seconds:8.2f} s  {rss / 1024:7.0f} MiB",
                  file=sys.stderr)
    print(f"{'tool':<30} {'lines/s':>10} {'best s':>8} {'peak MiB':>9}")
    for name in tools:
        print(f"{name:<30} {lines / best[name]:>10.0f} {best[name]:>8.2f} {memory[name] / 1024:>9.0f}")
    floor = best["floor (libcst parse + visit)"]
    print(f"torchlint / floor time: {best['torchlint'] / floor:.2f}x (budget: at most 1.5x)")
    if "TorchFix 0.7" in best:
        print(f"torchlint / TorchFix speed: {best['TorchFix 0.7'] / best['torchlint']:.2f}x (aim: at least 4x)")
    os.unlink(handle.name)


if __name__ == "__main__":
    main()
