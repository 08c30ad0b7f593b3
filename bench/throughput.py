"""Lines per second of torchlint, TorchFix and the libcst floor, side by side.

    python bench/throughput.py [--corpus torch|nn|fixtures|realworld|both] [--rounds 3] [--limit N]
                               [--jobs 2] [--no-torchfix] [--profile]

Each round runs, interleaved, as separate processes:
- the floor: a script that parses every file with libcst and visits its tree
  once with a do-nothing CSTVisitor (no metadata), on one core;
- torchlint cold, one process: `torchlint --select ALL --format json
  --no-cache --jobs 1` (the flags that exist in this version are used);
- torchlint cold, the process pool: the same with `--jobs N` (default: the
  cores), when this version has --jobs;
- torchlint cached: `--jobs 1` with the cache on, right after an untimed run
  that filled it (a second run on an unchanged tree), when this version has a
  cache;
- TorchFix 0.7 (`torchfix -j 1 --select ALL`), installed into its own virtual
  environment under bench/.venv-torchfix (it pins libcst < 1.6), if it can be
  installed from the package index.
torchlint runs in a temporary folder, so its cache lands there. The script
prints lines/s (best round), the ratios torchlint/floor (time),
torchlint/TorchFix (speed), cold/cached and one process/pool, and each
command's peak resident memory (of its largest process: with the pool, each
worker's is about the same as one process's share of the files).

--profile then runs torchlint once more, cold on one process, under cProfile,
and prints the functions where the time goes.
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
FLOOR_NAME = "floor (libcst parse + visit)"
COLD, POOL, CACHED, TORCHFIX = "torchlint cold, 1 process", "torchlint cold, pool", \
    "torchlint cached, 1 process", "TorchFix 0.7, 1 process"

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


REALWORLD = REPO.parent / "shared" / "realworld" / "files"
CORPORA = ("torch", "nn", "fixtures", "realworld", "both")


def _torch_folder() -> Path:
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        sys.exit("torch is not installed: pip install 'torch==2.13.0' (or use --corpus fixtures)")
    return Path(spec.origin).parent


def corpus(kind: str, limit: int | None) -> list[Path]:
    """`torch`: the installed torch package; `nn`: its torch/nn subtree; `fixtures`: this
    repository's fixtures and examples; `realworld`: ../shared/realworld/files (real
    training scripts with their sibling modules); `both`: fixtures and torch."""
    files: list[Path] = []
    if kind in ("fixtures", "both"):
        files += sorted((REPO / "fixtures").rglob("*.py")) + sorted((REPO / "examples").rglob("*.py"))
    if kind in ("torch", "both"):
        files += sorted(_torch_folder().rglob("*.py"))
    if kind == "nn":
        files += sorted((_torch_folder() / "nn").rglob("*.py"))
    if kind == "realworld":
        if not REALWORLD.is_dir():
            sys.exit(f"{REALWORLD} is not there")
        files += sorted(REALWORLD.rglob("*.py"))
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


def torchlint_options() -> str:
    return subprocess.run([sys.executable, "-m", "torchlint", "check", "--help"],
                          capture_output=True, text=True).stdout


def torchlint_commands(jobs: int) -> dict[str, list[str]]:
    """The torchlint rows this version supports."""
    help_text = torchlint_options()
    base = [sys.executable, "-m", "torchlint", "--select", "ALL", "--format", "json", "--exit-zero"]
    has_cache, has_jobs = "--no-cache" in help_text, "--jobs" in help_text
    serial = ["--jobs", "1"] if has_jobs else []
    commands = {COLD: [*base, *(["--no-cache"] if has_cache else []), *serial]}
    if has_jobs and jobs > 1:
        commands[POOL] = [*base, *(["--no-cache"] if has_cache else []), "--jobs", str(jobs)]
    if has_cache:
        commands[CACHED] = [*base, *serial]
    return commands


def timed(command: list[str], files: list[Path], cwd: Path) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB, of the largest process) and CPU seconds (user
    and system, its workers included) of one run over `files`."""
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        process = subprocess.Popen([*command, *map(str, files)], stdout=sink, stderr=subprocess.DEVNULL,
                                   cwd=cwd)
        _, _, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def profile(command: list[str], files: list[Path], cwd: Path, top: int = 25) -> None:
    """Where a cold one-process run spends its time: own time and cumulative."""
    import pstats

    output = cwd / "torchlint.prof"
    arguments = command[command.index("torchlint") + 1:]
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), "-m", "torchlint",
                    *arguments, *map(str, files)], cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    stats = pstats.Stats(str(output))
    for order in ("tottime", "cumulative"):
        print(f"\nprofile of `{' '.join(['torchlint', *arguments])}`, top {top} by {order}:")
        stats.sort_stats(order).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=CORPORA, default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes of the pool row (default: the cores)")
    parser.add_argument("--no-torchfix", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile a cold one-process run")
    args = parser.parse_args()

    files = corpus(args.corpus, args.limit)
    lines = count_lines(files)
    with tempfile.TemporaryDirectory(prefix="torchlint-throughput-") as temp:
        workdir = Path(temp)
        floor_script = workdir / "floor.py"
        floor_script.write_text(FLOOR)
        tools = {FLOOR_NAME: [sys.executable, str(floor_script)], **torchlint_commands(args.jobs)}
        if not args.no_torchfix:
            command = torchfix_command()
            if command is not None:
                tools[TORCHFIX] = command
        print(f"{len(files)} files, {lines} lines, {args.rounds} rounds, {os.cpu_count()} cores")
        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}  # on a machine shared with other work, less noisy
        memory: dict[str, int] = {}
        for round_number in range(args.rounds):
            for name, command in tools.items():  # interleaved: load changes hit every tool alike
                if name == CACHED:  # a second run: fill the cache just before (an edit of
                    timed(command, files, workdir)  # torchlint's code since invalidates it)
                seconds, rss, cpu = timed(command, files, workdir)
                best[name] = min(best.get(name, float("inf")), seconds)
                best_cpu[name] = min(best_cpu.get(name, float("inf")), cpu)
                memory[name] = max(memory.get(name, 0), rss)
                print(f"  round {round_number + 1}: {name:<30} {seconds:8.2f} s  {cpu:8.2f} s CPU  "
                      f"{rss / 1024:7.0f} MiB", file=sys.stderr)
        label = {POOL: f"torchlint cold, pool of {args.jobs}"}
        print(f"{'command':<32} {'lines/s':>10} {'best s':>8} {'peak MiB':>9}")
        for name in tools:
            print(f"{label.get(name, name):<32} {lines / best[name]:>10.0f} {best[name]:>8.2f} "
                  f"{memory[name] / 1024:>9.0f}")
        floor = best[FLOOR_NAME]
        print(f"torchlint / floor time, 1 process: {best[COLD] / floor:.2f}x (budget: at most 1.5x); "
              f"in CPU time (user + system): {best_cpu[COLD] / best_cpu[FLOOR_NAME]:.2f}x")
        if TORCHFIX in best:
            print(f"torchlint / TorchFix speed, 1 process: {best[TORCHFIX] / best[COLD]:.2f}x "
                  "(aim: at least 4x; torchlint's time at most a quarter of TorchFix's)")
        if CACHED in best:
            print(f"cached / cold speed: {best[COLD] / best[CACHED]:.1f}x (aim: at least 10x)")
        if POOL in best:
            print(f"pool of {args.jobs} / 1 process speed: {best[COLD] / best[POOL]:.2f}x")
        print(f"peak memory of torchlint: {max(memory[n] for n in tools if n.startswith('torchlint')) / 1024:.0f} "
              "MiB per process (budget: under 1024 MiB)")
        if args.profile:
            profile(tools[COLD], files, workdir)


if __name__ == "__main__":
    main()
