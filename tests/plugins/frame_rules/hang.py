from __future__ import annotations

import os
import time
from pathlib import Path

from torchlint.findings import Severity
from torchlint.rule import Rule

from frame_rules._calls import calls_to

#: The file the rule creates when it starts waiting, so a test knows when to interrupt.
MARKER_ENV = "TORCHLINT_TEST_MARKER"


class Hang(Rule):
    """## What it does
    On a call to ``hang()``, signals through $TORCHLINT_TEST_MARKER and waits (a test rule).

    ## Why is this bad?
    It lets a test interrupt torchlint in the middle of a run, deterministically.

    ## Example
    ```python
    hang()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL906"
    name = "hang"
    severity = Severity.WARNING
    summary = "Waits to be interrupted."

    def check(self, ctx) -> None:
        for _call in calls_to(ctx, "hang"):
            Path(os.environ[MARKER_ENV]).write_text("waiting\n")
            time.sleep(60)
