from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Example, Rule

from frame_rules._calls import calls_to


class PrintCall(Rule):
    """## What it does
    Reports every call to ``print`` (a test rule with a safe fix).

    ## Why is this bad?
    It is not: the rule exists to exercise fixes and suppressions.

    ## Example
    ```python
    print(loss)
    ```

    ## Use instead
    ```python
    log(loss)
    ```

    ## Fix safety
    Safe: the callee is renamed to ``log``.
    """

    code = "TL901"
    name = "print-call"
    severity = Severity.WARNING
    summary = "A call to print."

    VALID = [Example("log(1)\n")]
    INVALID = [Example("print(1)  # expect: TL901\n", fixed="log(1)\n")]

    def check(self, ctx) -> None:
        for call in calls_to(ctx, "print"):
            fix = ctx.fix("rename print to log", ctx.replace(call.func, "log"))
            ctx.report(call.node, "print() called", title="print() called", fix=fix)
