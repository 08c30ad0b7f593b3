from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule


class ForwardRuns(Rule):
    """## What it does
    Flags the assignment `PROBE_CLASS = "Name"`; the probe builds that class,
    synthesizes inputs and runs one forward pass.

    ## Why is this bad?
    A test rule of the probe suite.

    ## Example
    ```python
    PROBE_CLASS = "Net"
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL904"
    name = "probe-test-forward-runs"
    severity = Severity.WARNING
    summary = "Runs one forward pass of the named class."

    def check(self, ctx) -> None:
        for name, value, node in _marker_assignments(ctx, "PROBE_CLASS"):
            ctx.report(node, f"probe {value}", title=f"probe {value}", context={"class": value})

    @staticmethod
    def experiment(lab):
        model = lab.build_model(lab.context.get("class"))
        inputs = lab.inputs(model)
        output = lab.output_tensor(lab.forward(model, inputs))
        shape = list(output.shape)
        return lab.confirmed(f"forward ran: output {shape}", shape=shape,
                             inputs=inputs.specs)


def _marker_assignments(ctx, marker):
    import libcst as cst

    for assign in ctx.model.facts.assigns:
        if assign.scope is not ctx.model.facts.scope:
            continue
        for target in assign.targets:
            if isinstance(target, cst.Name) and target.value == marker \
                    and isinstance(assign.value, cst.SimpleString):
                yield marker, assign.value.evaluated_value, assign.node
