from __future__ import annotations

from torchlint.findings import ProbeResult, Severity
from torchlint.rule import Example, Rule

from report_rules._markers import literal, marker_calls


class ProbedFinding(Rule):
    """## What it does
    Reports each call of `probed(verdict, ...)` with that probe verdict attached,
    as the runtime probe would attach it.

    ## Why is this bad?
    It is a marker for the reporter tests: they print probe verdicts without
    running torch.

    ## Example
    ```python
    probed("inconclusive", reason="timeout", summary="no forward pass in 10 s")
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL983"
    name = "probed-finding"
    severity = Severity.ERROR
    summary = "A call of probed(), with its verdict."

    VALID = [Example("import torch\nflag_error('x')\n")]
    INVALID = [Example("import torch\nprobed('confirmed')  # expect: TL983\n")]

    def check(self, ctx) -> None:
        for call in marker_calls(ctx, "probed"):
            verdict = literal(ctx, call, 0, "verdict")
            evidence = dict(literal(ctx, call, 99, "evidence", {}))
            summary = literal(ctx, call, 99, "summary")
            if summary is not None:
                evidence["summary"] = summary
            probe = ProbeResult(
                verdict=verdict, evidence=evidence,
                assumptions=literal(ctx, call, 99, "assumptions", {}),
                reason=literal(ctx, call, 99, "reason"), hint=literal(ctx, call, 99, "hint"),
            )
            ctx.report(call.node, f"probed {verdict}", title=f"probed {verdict}")
            # The probe attaches verdicts after linting; this rule does it at once.
            finding, noqa_lines = ctx.reports[-1]
            ctx.reports[-1] = (finding.with_probe(probe), noqa_lines)
