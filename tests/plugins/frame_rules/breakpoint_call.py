from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule

from frame_rules._calls import calls_to


class BreakpointCall(Rule):
    """## What it does
    Reports every call to ``breakpoint`` (a test rule that is off by default).

    ## Why is this bad?
    It is not: the rule exists to exercise ``--extend-select``.

    ## Example
    ```python
    breakpoint()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL904"
    name = "breakpoint-call"
    severity = Severity.WARNING
    summary = "A call to breakpoint."
    default_enabled = False

    def check(self, ctx) -> None:
        for call in calls_to(ctx, "breakpoint"):
            ctx.report(call.node, "breakpoint() called", title="breakpoint() called")
