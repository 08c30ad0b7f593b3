from __future__ import annotations

import multiprocessing
import os
import signal

from torchlint.findings import Severity
from torchlint.rule import Rule


class CrashProcess(Rule):
    """## What it does
    On a call to ``crash_process()``, kills the worker process linting the file
    (a test rule: a crash in native code, or the out-of-memory killer). In the
    main process it only reports the call.

    ## Why is this bad?
    It is not: the rule lets a test check that one dead worker costs one file.

    ## Example
    ```python
    crash_process()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL921"
    name = "crash-process"
    severity = Severity.WARNING
    summary = "Kills the worker process that lints it."

    def check(self, ctx) -> None:
        for call in ctx.model.facts.calls:
            if call.dotted == "crash_process":
                if multiprocessing.parent_process() is not None:  # a worker of the pool
                    os.kill(os.getpid(), signal.SIGKILL)
                ctx.report(call.node, "crash_process() called", title="crash_process() called")
