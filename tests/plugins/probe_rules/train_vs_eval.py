from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Rule


class TrainVsEval(Rule):
    """## What it does
    Flags `NAME(...)` calls inside functions named like validation (valid,
    eval, test) when the function never calls `NAME.eval()`; the probe
    compares train-mode and eval-mode outputs.

    ## Why is this bad?
    A test rule of the probe suite.

    ## Example
    ```python
    def validate(model, x):
        return model(x)
    ```

    ## Use instead
    ```python
    def validate(model, x):
        model.eval()
        return model(x)
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL901"
    name = "probe-test-model-call-in-validation"
    severity = Severity.ERROR
    summary = "A model is called in a validation function that never calls .eval()."

    def check(self, ctx) -> None:
        facts = ctx.model.facts
        for function in facts.functions:
            lowered = function.name.lower()
            if not any(word in lowered for word in ("valid", "eval", "test")):
                continue
            evaluated = {c.receiver.value for c in function.calls
                         if c.method == "eval" and isinstance(c.receiver, cst.Name)}
            seen: set[str] = set()
            for call in function.calls:
                func = call.func
                if not isinstance(func, cst.Name) or func.value in evaluated or func.value in seen:
                    continue
                if not any(w in func.value.lower() for w in ("model", "net", "rnn")):
                    continue
                seen.add(func.value)
                ctx.report(call.node, f"`{func.value}` runs in `{function.name}` without .eval()", title=f"`{func.value}` runs in `{function.name}` without .eval()",
                           context={"model": func.value})

    @staticmethod
    def experiment(lab):
        torch = lab.torch
        model = lab.build_model()
        inputs = lab.inputs(model)
        layers = lab.mode_dependent_modules(model)
        model.train()
        with torch.no_grad():
            with lab.hooks_on(model, layers) as seen:
                train_out = lab.output_tensor(lab.forward(model, inputs))
            model.eval()
            first = lab.output_tensor(lab.forward(model, inputs))
            second = lab.output_tensor(lab.forward(model, inputs))
        train_vs_eval = lab.max_abs_diff(train_out, first)
        eval_vs_eval = lab.max_abs_diff(first, second)
        scale = float(first.detach().abs().mean())
        numbers = dict(train_vs_eval=train_vs_eval, eval_vs_eval=eval_vs_eval, output_scale=scale,
                       layers=[name for name, _ in layers], ran=seen.ran)
        if layers and not seen.any_ran:
            return lab.not_exercised(
                f"{len(layers)} mode-dependent layers exist but none ran "
                f"({', '.join(name for name, _ in layers[:3])})", **numbers)
        summary = (f"train vs eval max |diff| {lab.fmt(train_vs_eval)} on outputs of scale "
                   f"{lab.fmt(scale)}; eval vs eval {lab.fmt(eval_vs_eval)}")
        if train_vs_eval > 1e-6 and seen.any_ran:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary + "; no mode-dependent layer ran", **numbers)
