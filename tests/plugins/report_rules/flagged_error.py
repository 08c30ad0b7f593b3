from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Example, Rule

from report_rules._markers import fix_of, literal, marker_calls


class FlaggedError(Rule):
    """## What it does
    Reports each call of `flag_error(message)`, with that message.

    ## Why is this bad?
    It is a marker for the reporter tests: the test file says what to report.

    ## Example
    ```python
    flag_error("found it")
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    `flag_error("m", replace="x")` carries a safe fix replacing the call with `x`.
    """

    code = "TL981"
    name = "flagged-error"
    severity = Severity.ERROR
    summary = "A call of flag_error()."

    VALID = [Example("import torch\nflag_warning('x')\n")]
    INVALID = [Example("import torch\nflag_error('x')  # expect: TL981\n")]

    def check(self, ctx) -> None:
        for call in marker_calls(ctx, "flag_error"):
            ctx.report(call.node, literal(ctx, call, 98, "body", "flag_error() marks a finding of the reporter tests."),
                       title=literal(ctx, call, 0, "message", "flag_error() called"),
                       fix=fix_of(ctx, call))
