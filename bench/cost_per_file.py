"""Cost of linting one 1,000-line training script, step by step, beside libcst's floor.

    python bench/cost_per_file.py [--rounds 7]

The script is built from the project's own training fixtures (seed
reconstructions and the bundled example) repeated to about 1,000 lines. Each
step is timed in the same process, interleaved, and the best of N rounds is
reported (the minimum is the least disturbed by other load on the machine):

- libcst parse, and one visit with a do-nothing CSTVisitor: the floor;
- PositionProvider and QualifiedNameProvider: what whole-tree metadata costs;
- torchlint: parse + its one traversal + every rule (the engine's lint_source).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from torchlint.engine import lint_source
from torchlint.registry import RuleSet
from torchlint.semantic.project import Project
from torchlint.semantic.walker import collect
from torchlint.source import SourceFile

REPO = Path(__file__).resolve().parents[1]
SOURCES = [
    REPO / "examples" / "train.py",
    REPO / "fixtures" / "seeds" / "lstm_tv_script" / "train_rnn.py",
    REPO / "fixtures" / "seeds" / "cosmic_bimodal" / "model.py",
    REPO / "fixtures" / "seeds" / "cosmic_bimodal" / "train_meld.py",
]


def training_script(lines: int = 1000) -> str:
    parts: list[str] = []
    count = 0
    while count < lines:
        for source in SOURCES:
            text = "\n".join(line for line in source.read_text().splitlines()
                             if not line.startswith("from __future__"))
            parts.append(text)
            count += text.count("\n") + 1
            if count >= lines:
                break
    return "\n".join(parts) + "\n"


class _Nothing(cst.CSTVisitor):
    pass


def best(step, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    text = training_script()
    module = cst.parse_module(text)
    rules = RuleSet.all()
    source = SourceFile(display="train_1000.py", text=text, path=None)

    steps = {
        "libcst parse": lambda: cst.parse_module(text),
        "libcst visit (CSTVisitor)": lambda: module.visit(_Nothing()),
        "torchlint walk (collect)": lambda: collect(module),
        "torchlint lint_source (parse + walk + all rules)": lambda: lint_source(source, rules, Project()),
        "PositionProvider": lambda: MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider),
        "QualifiedNameProvider": lambda: MetadataWrapper(module, unsafe_skip_copy=True).resolve(QualifiedNameProvider),
    }
    results = {name: best(step, args.rounds) for name, step in steps.items()}
    lines = text.count("\n")
    floor = results["libcst parse"] + results["libcst visit (CSTVisitor)"]
    findings = len(lint_source(source, rules, Project()).findings)
    print(f"{lines} lines, {findings} findings, best of {args.rounds} rounds")
    for name, ms in results.items():
        print(f"  {name:<50} {ms:8.1f} ms")
    total = results["torchlint lint_source (parse + walk + all rules)"]
    print(f"  {'floor (parse + one visit)':<50} {floor:8.1f} ms")
    print(f"torchlint / floor = {total / floor:.2f}x (budget: at most 1.5x)")


if __name__ == "__main__":
    main()
