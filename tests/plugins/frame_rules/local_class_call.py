from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule


class LocalClassCall(Rule):
    """## What it does
    Reports a call to a class defined at the top of the same module (a test rule).

    ## Why is this bad?
    It is not: the rule shows that the engine sees one module, so a notebook
    class defined in one cell is known where another cell calls it.

    ## Example
    ```python
    class Net: ...
    model = Net()
    ```

    ## Use instead
    ```python
    model = Net()
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL907"
    name = "local-class-call"
    severity = Severity.WARNING
    summary = "Constructs a class of this module."

    def check(self, ctx) -> None:
        facts = ctx.model.facts
        for call in facts.calls:
            if call.dotted and facts.class_named(call.dotted) is not None:
                ctx.report(call.node, f"constructs {call.dotted}, a class of this module", title=f"constructs {call.dotted}, a class of this module")
