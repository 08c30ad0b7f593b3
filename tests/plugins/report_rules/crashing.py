from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Example, Rule

from report_rules._markers import marker_calls


class CrashingRule(Rule):
    """## What it does
    Raises an exception at each call of `crash_here()`.

    ## Why is this bad?
    It is a marker for the reporter tests: a rule that crashes is reported as
    an error of the run (SARIF: a tool execution notification).

    ## Example
    ```python
    crash_here()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL984"
    name = "crashing-rule"
    severity = Severity.ERROR
    summary = "Crashes at crash_here()."

    VALID = [Example("import torch\nflag_error('x')\n")]

    def check(self, ctx) -> None:
        for _call in marker_calls(ctx, "crash_here"):
            raise RuntimeError("the test rule crashed on purpose")
