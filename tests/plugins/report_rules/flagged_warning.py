from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Example, Rule

from report_rules._markers import fix_of, literal, marker_calls


class FlaggedWarning(Rule):
    """## What it does
    Reports each call of `flag_warning(message)`, with that message, as a warning.

    ## Why is this bad?
    It is a marker for the reporter tests: the test file says what to report.

    ## Example
    ```python
    flag_warning("look")
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    `flag_warning("m", unsafe_replace="x")` carries an unsafe fix.
    """

    code = "TL982"
    name = "flagged-warning"
    severity = Severity.WARNING
    summary = "A call of flag_warning()."

    VALID = [Example("import torch\nflag_error('x')\n")]
    INVALID = [Example("import torch\nflag_warning('x')  # expect: TL982\n")]

    def check(self, ctx) -> None:
        for call in marker_calls(ctx, "flag_warning"):
            ctx.report(call.node, literal(ctx, call, 98, "body", "flag_warning() marks a finding of the reporter tests."),
                       title=literal(ctx, call, 0, "message", "flag_warning() called"),
                       fix=fix_of(ctx, call))
