from __future__ import annotations

from torchlint.findings import Severity
from torchlint.rule import Rule


class BatchOfOne(Rule):
    """## What it does
    Flags every BatchNorm layer built inside a class; the probe runs a
    train-mode forward with a batch of one.

    ## Why is this bad?
    A test rule of the probe suite.

    ## Example
    ```python
    self.bn = nn.BatchNorm1d(16)
    ```

    ## Use instead
    ```python
    self.bn = nn.LayerNorm(16)
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL902"
    name = "probe-test-batchnorm-batch-of-one"
    severity = Severity.ERROR
    summary = "A BatchNorm layer may see a batch of one."

    def check(self, ctx) -> None:
        model = ctx.model
        for cls in model.facts.classes:
            for call in model.facts.calls:
                if not cls.contains(call):
                    continue
                callee = model.callee(call) or ""
                if callee in ("torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.BatchNorm3d"):
                    ctx.report(call.node, f"{callee.rsplit('.', 1)[1]} in {cls.name}", title=f"{callee.rsplit('.', 1)[1]} in {cls.name}",
                               context={"class": cls.name, "batch_size": 1})

    @staticmethod
    def experiment(lab):
        model = lab.build_model(lab.context.get("class"))
        norms = lab.modules_of_type(model, ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"))
        inputs = lab.inputs(model, batch=1)
        model.train()
        with lab.hooks_on(model, norms) as seen:
            try:
                lab.forward(model, inputs)
            except ValueError as err:
                if "Expected more than 1 value per channel" in str(err):
                    return lab.confirmed(f"ValueError: {err}", batch_size=1)
                raise
        if not seen.any_ran:
            return lab.not_exercised(f"none of {len(norms)} BatchNorm layers ran", batch_size=1)
        return lab.refuted("a batch of one ran through BatchNorm without error", batch_size=1,
                           ran=seen.ran)
