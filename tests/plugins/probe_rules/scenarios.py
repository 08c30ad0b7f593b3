from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule

from .forward_runs import _marker_assignments


class Scenario(Rule):
    """## What it does
    Flags the assignment `PROBE_SCENARIO = "name"`; the experiment acts out
    the scenario (sandbox escapes, broken experiments, what the child imported).

    ## Why is this bad?
    A test rule of the probe suite.

    ## Example
    ```python
    PROBE_SCENARIO = "network"
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL905"
    name = "probe-test-scenario"
    severity = Severity.WARNING
    summary = "Acts out a sandbox scenario."

    def check(self, ctx) -> None:
        path = str(ctx.source.path.resolve().parent) if ctx.source.path else ""
        for _, value, node in _marker_assignments(ctx, "PROBE_SCENARIO"):
            ctx.report(node, f"scenario {value}", title=f"scenario {value}", context={"scenario": value, "folder": path})

    @staticmethod
    def experiment(lab):
        import os
        import sys

        scenario = lab.context["scenario"]
        if scenario == "modules":
            loaded = sorted(n for n in ("torchlint", "libcst", "click") if n in sys.modules)
            return lab.confirmed(f"loaded: {loaded}", loaded=loaded,
                                 cuda_visible=os.environ.get("CUDA_VISIBLE_DEVICES"),
                                 home_is_cwd=os.environ.get("HOME") == os.getcwd(),
                                 secret=os.environ.get("TORCHLINT_TEST_SECRET"))
        if scenario == "network":
            import socket

            socket.create_connection(("127.0.0.1", 9), timeout=2)
            return lab.confirmed("connected")
        if scenario == "write-project":
            with open(os.path.join(lab.context["folder"], "written_by_probe.txt"), "w") as handle:
                handle.write("escaped")
            return lab.confirmed("wrote into the project")
        if scenario == "write-cwd":
            with open("scratch.txt", "w") as handle:
                handle.write("ok")
            return lab.confirmed("wrote into its own folder", cwd_is_project=os.getcwd() == lab.context["folder"])
        if scenario == "subprocess":
            import subprocess

            subprocess.run(["true"], check=False)
            return lab.confirmed("started a process")
        if scenario == "raise":
            raise KeyError("no such thing")
        if scenario == "no-verdict":
            return None
        if scenario == "bad-reason":
            return lab.inconclusive("because", "not a reason code")
        if scenario == "sleep":
            import time

            time.sleep(60)
        if scenario == "block-alarm":
            import signal
            import time

            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        if scenario == "exit":
            os._exit(3)
        return lab.confirmed(f"scenario {scenario} finished")
