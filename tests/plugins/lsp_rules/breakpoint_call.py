from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule


class BreakpointCall(Rule):
    """## What it does
    Reports calls to `breakpoint()`.

    ## Why is this bad?
    A forgotten breakpoint stops an unattended training run.

    ## Example
    ```python
    breakpoint()
    ```

    ## Use instead
    ```python
    None
    ```

    ## Fix safety
    Unsafe: the author may still be debugging.
    """

    code = "TL902"
    name = "breakpoint-call"
    severity = Severity.ERROR
    summary = "A breakpoint left in training code."

    VALID = [Example("x = 1\n")]
    INVALID = [Example("breakpoint()  # expect: TL902\n", fixed="None\n")]

    def check(self, ctx) -> None:
        for call in ctx.model.facts.calls:
            if isinstance(call.func, cst.Name) and call.func.value == "breakpoint":
                fix = ctx.fix("Remove breakpoint()", ctx.replace(call.node, "None"), safe=False)
                ctx.report(call.node, "breakpoint() call left in the code", title="breakpoint() call left in the code", fix=fix)
