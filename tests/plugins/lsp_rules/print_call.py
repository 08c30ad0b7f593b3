from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule


class PrintCall(Rule):
    """## What it does
    Reports calls to `print`.

    ## Why is this bad?
    Printing from a training loop floods the log; a logger can be silenced.

    ## Example
    ```python
    print(loss)
    ```

    ## Use instead
    ```python
    logger.info(loss)
    ```

    ## Fix safety
    Safe: only the callee changes.
    """

    code = "TL901"
    name = "print-call"
    severity = Severity.WARNING
    summary = "A print call in training code."

    VALID = [Example("logger.info(1)\n")]
    INVALID = [Example("print(1)  # expect: TL901\n", fixed="logger.info(1)\n")]

    def check(self, ctx) -> None:
        for call in ctx.model.facts.calls:
            if isinstance(call.func, cst.Name) and call.func.value == "print":
                fix = ctx.fix("Replace print with logger.info", ctx.replace(call.func, "logger.info"))
                ctx.report(call.node, "Use logger.info instead.", title="print() call; use logger.info", fix=fix)
