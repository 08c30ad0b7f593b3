from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule

from frame_rules._calls import calls_to


class EvalCall(Rule):
    """## What it does
    Reports every call to ``eval`` (a test rule with an unsafe fix).

    ## Why is this bad?
    It is not: the rule exists to exercise ``--unsafe-fixes``.

    ## Example
    ```python
    eval(text)
    ```

    ## Use instead
    ```python
    literal_eval(text)
    ```

    ## Fix safety
    Unsafe: ``literal_eval`` accepts less than ``eval``.
    """

    code = "TL902"
    name = "eval-call"
    severity = Severity.ERROR
    summary = "A call to eval."

    def check(self, ctx) -> None:
        for call in calls_to(ctx, "eval"):
            fix = ctx.fix("use literal_eval", ctx.replace(call.func, "literal_eval"), safe=False)
            ctx.report(call.node, "eval() called", title="eval() called", fix=fix)
