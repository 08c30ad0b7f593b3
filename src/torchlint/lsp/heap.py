"""The server's cycle collection: kept out of the time from an edit to its
diagnostics.

A lint leaves its file's tree and facts behind as cyclic garbage (facts point
at their scopes and scopes at their facts; the semantic model and its analyses
at each other), and the tree lives through the whole lint, so the collector
has promoted it to the oldest generation by the end. Left to CPython, the
oldest generation is collected during a later lint, scanning every object the
server holds: about every other edit of a 1,000-line file paid 90-150 ms for
it, more than half a lint. Instead the server

- freezes what it holds after its warm-up (the imported modules, the rules,
  pygls), so no collection scans those objects again: they live as long as
  the server anyway;
- collects the last lint's garbage right after its diagnostics are out, when
  no other job waits for the lint thread (in a burst of edits the next lint
  comes first, and CPython's own collections still bound memory).
"""

from __future__ import annotations

import gc


def freeze() -> None:
    """Keep every object alive now out of all later collections (the imports
    done so far: they make little cyclic garbage)."""
    gc.freeze()


def collect_and_freeze() -> None:
    """After the warm-up: collect its garbage (only what was made since the
    last freeze is scanned), then freeze what is left."""
    gc.collect()
    gc.freeze()


def collect_lint_garbage() -> int:
    """Collect every generation (the frozen objects are not scanned); the
    number of unreachable objects found."""
    return gc.collect()


def frozen() -> int:
    """Objects kept out of collections (for ``torchlint/status``)."""
    return gc.get_freeze_count()
