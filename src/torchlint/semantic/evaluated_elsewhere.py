"""Loaders of this file that another project file trains on or evaluates.

A script often builds its loaders in a ``data.py`` helper and runs them in a
``train.py`` whose one loop function serves both training and evaluation:
``run_epoch(model, loader, optimizer)`` steps the optimizer only under ``if
optimizer:``, and ``run_epoch(model, valid_loader, None)`` evaluates. Which
loaders a call of such a shared loop evaluates is decided by its call site:
the loaders that site passes, at a site that turns the training flag off
(:meth:`Phases.flag_value`). A loop of an evaluation function elsewhere
(``def evaluate(model, loader)``) evaluates every loader of this file it reads.
Loaders also passed where the loop trains are training loaders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torchlint.semantic import facts as F

if TYPE_CHECKING:
    from torchlint.semantic.data import Loader
    from torchlint.semantic.model import SemanticModel
    from torchlint.semantic.phases import Phase

__all__ = ["EvaluatedElsewhere", "evaluated_elsewhere", "trained_elsewhere"]


@dataclass(frozen=True)
class EvaluatedElsewhere:
    """A loop of another file (`model`) that evaluates `loaders` of this file in `phase`."""

    loop: F.Loop
    model: SemanticModel
    loaders: list[Loader]
    phase: Phase


def trained_elsewhere(model: SemanticModel) -> set[int]:
    """The loader calls of this file (by id) that a training loop of another file
    iterates (for a shared loop, where it trains: :meth:`DataFacts.loops_elsewhere`)."""
    return {id(loader.call) for elsewhere in model.data.loops_elsewhere() for loader in elsewhere.loaders}


def evaluated_elsewhere(model: SemanticModel) -> list[EvaluatedElsewhere]:
    """Loops of other project files in an evaluation phase, with the loaders of this
    file they evaluate there (never one another file also trains on)."""
    trained = trained_elsewhere(model)
    found = []
    for elsewhere in model.data.loops_reading_here():
        other, loop = elsewhere.model, elsewhere.loop
        shared = other.phases.trains(loop, elsewhere.scope)
        for phase in other.phases.eval_phases:
            if not (phase.block is loop or phase.block.contains(loop)):
                continue
            if phase.site is not None:  # a shared loop's evaluation call: what that call passes
                passed = model.data.loaders_passed_at(phase.site, other)
                loaders = [loader for loader in elsewhere.loaders if id(loader.call) in passed]
            elif shared:
                continue  # an evaluation reason around a loop that trains: no call site says which loaders
            else:
                loaders = list(elsewhere.loaders)
            loaders = [loader for loader in loaders if id(loader.call) not in trained]
            if loaders:
                found.append(EvaluatedElsewhere(loop, other, loaders, phase))
    return found
