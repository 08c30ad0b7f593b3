from __future__ import annotations

import libcst as cst

from torchlint.edits import add_keyword_argument
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.modules import literal_number


class FunctionalDropoutAlwaysOn(Rule):
    """## What it does
    Finds `F.dropout`, `F.dropout1d/2d/3d`, `F.alpha_dropout` and
    `F.feature_alpha_dropout` called inside an `nn.Module` method without
    `training=self.training`.

    ## Why is this bad?
    Unlike `nn.Dropout`, the functional form does not know the module's mode:
    its `training` argument defaults to `True`. `model.eval()` does not turn it
    off, so evaluation and inference drop activations at random and every
    prediction is noisy.

    ## Example
    ```python
    def forward(self, x):
        return self.fc(F.dropout(x, p=0.5))
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return self.fc(F.dropout(x, p=0.5, training=self.training))
    ```

    ## Fix safety
    The fix adds `training=self.training` and is safe: in train mode nothing
    changes, and in eval mode dropout is switched off as `nn.Dropout` would be.
    """

    code = "TL103"
    name = "functional-dropout-always-on"
    severity = Severity.ERROR
    fix_applicability = "safe"
    summary = "Functional dropout in a module ignores eval mode."

    VALID = [
        Example(
            """
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def forward(self, x):
        x = F.dropout(x, p=0.5, training=self.training)
        return F.dropout(x, 0.1, False)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5)  # expect: TL103
""",
            fixed="""
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5, training=self.training)  # expect: TL103
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        for call in model.facts.calls:
            if model.function_kind(call) != "functional_dropout":
                continue
            module = model.enclosing_module(call.scope)
            function = call.scope.function
            if module is None or function is None or not function.params:
                continue
            if literal_number(call.argument(1, "p")) == 0:
                continue  # p=0 drops nothing
            training = call.argument(2, "training")
            if training is not None and literal_number(training) != 1:
                continue  # training=self.training, a flag, or False
            self_name = function.params[0].name
            fix = None
            if training is None:
                fix = ctx.fix(f"Add `training={self_name}.training`", _add_training(ctx, call, self_name))
            name = model.code(call.func)
            ctx.report(
                call.node,
                f"`{name}` inside `{module.name}.{function.name}` is always on: its `training` "
                f"argument defaults to True and ignores `{module.name}.eval()`, so evaluation "
                f"drops activations at random. Pass `training={self_name}.training` (or use an "
                f"`nn.Dropout` layer).",
                fix=fix,
                context={"class": module.name, "method": function.name},
            )


def _add_training(ctx, call, self_name: str):
    training = cst.Attribute(value=cst.Name(self_name), attr=cst.Name("training"))
    return ctx.replace(call.node, add_keyword_argument(call.node, "training", training))
