from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule


class CrashingRule(Rule):
    """## What it does
    Crashes, to test that a broken rule does not hide the others.

    ## Why is this bad?
    It is a test double.

    ## Example
    ```python
    x = 1
    ```

    ## Use instead
    ```python
    x = 1
    ```

    ## Fix safety
    No fix.
    """

    code = "TL903"
    name = "crashing-rule"
    severity = Severity.ERROR
    summary = "Always raises."
    default_enabled = False  # selected by the test that wants it

    def check(self, ctx) -> None:
        raise RuntimeError("boom from the test rule")
