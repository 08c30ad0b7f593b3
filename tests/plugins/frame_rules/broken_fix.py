from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule

from frame_rules._calls import calls_to


class BrokenFix(Rule):
    """## What it does
    Reports ``breakfix()`` with a safe fix whose result does not parse (a test rule).

    ## Why is this bad?
    It tests that torchlint never writes a fix that breaks the file.

    ## Example
    ```python
    breakfix()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    The fix is deliberately broken.
    """

    code = "TL905"
    name = "broken-fix"
    severity = Severity.ERROR
    summary = "A fix that does not parse."

    def check(self, ctx) -> None:
        for call in calls_to(ctx, "breakfix"):
            fix = ctx.fix("break the file", ctx.replace(call.node, "breakfix(("))
            ctx.report(call.node, "breakfix() called", title="breakfix() called", fix=fix)
