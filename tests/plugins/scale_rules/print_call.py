from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule


class PrintCall(Rule):
    """## What it does
    Reports every call to ``print`` (a test rule with a safe fix).

    ## Why is this bad?
    It is not: the rule gives the pool and cache tests findings with fixes.

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

    code = "TL922"
    name = "print-call-scale"
    severity = Severity.WARNING
    summary = "A call to print."

    def check(self, ctx) -> None:
        for call in ctx.model.facts.calls:
            if call.dotted == "print":
                fix = ctx.fix("rename print to log", ctx.replace(call.func, "log"))
                ctx.report(call.node, "print() called", title="print() called", fix=fix)
