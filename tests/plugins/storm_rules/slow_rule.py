from __future__ import annotations

import re
import time

from torchlint.findings import Severity
from torchlint.rule import Rule

_SLEEP_RE = re.compile(r"#\s*lint-sleep:\s*([\d.]+)")


class SlowRule(Rule):
    """## What it does
    Sleeps for the seconds a `# lint-sleep: N` comment names, then reports nothing.

    ## Why is this bad?
    It is a test double: it keeps the language server's lint thread busy.

    ## Example
    ```python
    # lint-sleep: 3
    ```

    ## Use instead
    ```python
    x = 1
    ```

    ## Fix safety
    No fix.
    """

    code = "TL991"
    name = "slow-rule"
    severity = Severity.WARNING
    summary = "Takes as long as it is told."
    default_enabled = False  # selected by the test that wants it

    def check(self, ctx) -> None:
        match = _SLEEP_RE.search(ctx.source.text)
        if match:
            time.sleep(float(match.group(1)))
