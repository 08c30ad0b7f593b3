from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule

from frame_rules._calls import calls_to


class CrashingRule(Rule):
    """## What it does
    Raises an exception when the file calls ``explode()`` (a test rule).

    ## Why is this bad?
    It tests that a crashing rule is reported with its code while the other
    rules' findings still print.

    ## Example
    ```python
    explode()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL903"
    name = "crashing-rule"
    severity = Severity.ERROR
    summary = "Crashes on explode()."

    def check(self, ctx) -> None:
        for _call in calls_to(ctx, "explode"):
            raise RuntimeError("boom")
