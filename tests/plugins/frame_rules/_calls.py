"""What the test rules share: the calls of a file to one plain name."""

from __future__ import annotations

from collections.abc import Iterator

from torchlint.semantic import facts as F


def calls_to(ctx, name: str) -> Iterator[F.Call]:
    for call in ctx.model.facts.calls:
        if call.dotted == name:
            yield call
