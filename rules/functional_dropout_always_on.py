from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.edits import add_keyword_argument
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic import facts as F
from torchlint.semantic.conditions import consistent, evaluate, implied
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup
from torchlint.semantic.walker import iter_nodes


class FunctionalDropoutAlwaysOn(Rule):
    """## What it does
    Finds `F.dropout` and `F.dropout1d/2d/3d` called inside an `nn.Module`
    method without `training=self.training`, any functional dropout
    (`F.alpha_dropout` and `F.feature_alpha_dropout` included, which default to
    off) forced on with `training=True`, and dropout layers built inside a
    method and called at once (`nn.Dropout(0.5)(x)`): a fresh layer is always
    in train mode. A call eval mode never reaches is left alone: under
    `if self.training:`, in `F.dropout(x) if self.training else x`, or after
    `if not self.training: return ...`.

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
            built = _dropout_built_here(model, call)
            if built is not None:
                self._report_fresh_module(ctx, call, built)
                continue
            if model.function_kind(call) != "functional_dropout":
                continue
            module = model.enclosing_module(call.scope)
            function = call.scope.function
            if module is None or function is None or not function.params:
                continue
            if literal_number(call.argument(1, "p")) == 0 or _rate_turned_off(model, call, function):
                continue  # p=0 drops nothing
            training = call.argument(2, "training")
            if training is None and (model.callee(call) or "").endswith("alpha_dropout"):
                continue  # alpha_dropout and feature_alpha_dropout default to training=False
            if training is not None and literal_number(training) != 1:
                continue  # training=self.training, a flag, or False
            self_name = _self_of(function)
            if self_name is not None and _train_only(model, call, function, {f"{self_name}.training": False}):
                continue  # under `if self.training ...:`, or after `if not self.training: return`
            fix = None
            if training is None and self_name is not None:
                fix = ctx.fix(f"Add `training={self_name}.training`", _add_training(ctx, call, self_name))
            self_name = self_name or "self"
            name = model.code(call.func)
            why = ("`training=True` keeps it on" if training is not None
                   else "its `training` argument defaults to True")
            ctx.report(
                call.node,
                title=f"{titles.name(name, 16)} in {titles.code(f'{module.name}.{function.name}', 30)} "
                      f"stays on in eval mode",
                message=f"`{name}` inside `{module.name}.{function.name}` is always on: {why} and ignores "
                f"`{module.name}.eval()`, so evaluation drops activations at random. Pass "
                f"`training={self_name}.training` (or use an `nn.Dropout` layer).",
                fix=fix,
                context={"class": module.name, "method": function.name},
            )

    def _report_fresh_module(self, ctx, call, built: cst.Call) -> None:
        """`nn.Dropout(p)(x)` in a module method: a new layer on every call, never in eval mode."""
        model = ctx.model
        module = model.enclosing_module(call.scope)
        function = call.scope.function
        if module is None or function is None or function.name == "__init__" or not function.params:
            return
        if literal_number(built.args[0].value if built.args else None) == 0:
            return
        name = model.code(built)
        self_name = function.params[0].name
        ctx.report(
            call.node,
            title=f"dropout layer built in {titles.code(f'{module.name}.{function.name}', 30)} "
                  f"stays on in eval mode",
            message=f"`{name}` is built inside `{module.name}.{function.name}` on every call: a fresh layer "
            f"is always in train mode and ignores `{module.name}.eval()`, so evaluation drops "
            f"activations at random. Create it once in `__init__` (`{self_name}.drop = {name}`) and "
            f"call `{self_name}.drop(...)`.",
            context={"class": module.name, "method": function.name},
        )

    @staticmethod
    def experiment(lab):
        """Two eval-mode forward passes of the same input with the flagged dropout call
        as written; then the same two with that call given ``training=self.training``
        (False in eval mode). Only the call at the finding's line is examined: every
        other functional dropout of the model runs with training off in both, so a
        model with several calls (one of them harmless, p=0.0) gets a verdict per call.
        The call site is recognised by the first frame outside torch (the script's
        line that called ``F.dropout`` or the fresh ``nn.Dropout(p)``)."""
        import sys

        torch = lab.torch
        functional = lab.F
        # name -> the default of its `training` argument (the alpha dropouts default to False)
        names = {"dropout": True, "dropout1d": True, "dropout2d": True, "dropout3d": True,
                 "alpha_dropout": False, "feature_alpha_dropout": False}
        originals = {name: getattr(functional, name) for name in names}
        line = int(lab.finding["line"])
        script_file = getattr(lab.script, "__file__", None)
        torch_folder = torch.__file__.rsplit("/", 1)[0] + "/"
        calls = {"site": 0, "site_on": 0, "others": 0}
        state = {"site_training": "as written"}

        def at_the_site():
            frame = sys._getframe(2)  # the caller of the wrapper
            while frame is not None and frame.f_code.co_filename.startswith(torch_folder):
                frame = frame.f_back  # nn.Dropout(p)(x): through Module.__call__ and forward
            return frame is not None and frame.f_lineno == line and (
                script_file is None or frame.f_code.co_filename == script_file)

        def patched_function(function, default):
            def dropout_at_site_only(input, p=0.5, training=default, inplace=False):
                if at_the_site():
                    calls["site"] += 1
                    calls["site_on"] += bool(training) and float(p) > 0
                    if state["site_training"] == "as written":
                        return function(input, p, training, inplace)
                else:
                    calls["others"] += 1
                return function(input, p, False, inplace)  # training=self.training in eval mode
            return dropout_at_site_only

        def twice():
            with torch.no_grad():
                first = lab.output_tensor(lab.forward(model, inputs))
                second = lab.output_tensor(lab.forward(model, inputs))
            return first, second

        model = lab.build_from_context()
        inputs = lab.inputs(model)
        model.eval()
        # The functions as torch's own modules and `from ... import dropout` in the script see them.
        patched = []
        namespaces = [vars(functional)] + [vars(sys.modules[type(m).__module__]) for m in model.modules()
                                           if type(m).__module__ in sys.modules]
        if lab.script is not None:
            namespaces.append(vars(lab.script))
        for namespace in namespaces:
            for key, value in list(namespace.items()):
                for name, original in originals.items():
                    if value is original:
                        patched.append((namespace, key, value))
                        namespace[key] = patched_function(original, names[name])
        try:
            first, second = twice()
            site_calls, site_on = calls["site"], calls["site_on"]
            state["site_training"] = "off"
            fixed_first, fixed_second = twice()
        finally:
            for namespace, key, value in reversed(patched):
                namespace[key] = value
        eval_vs_eval = lab.max_abs_diff(first, second)
        fixed_diff = lab.max_abs_diff(fixed_first, fixed_second)
        scale = float(first.detach().abs().mean())
        numbers = dict(eval_vs_eval=eval_vs_eval, fixed_eval_vs_eval=fixed_diff, output_scale=scale,
                       line=line, calls_at_line=site_calls, calls_at_line_with_training_on=site_on,
                       other_dropout_calls=calls["others"] // 2)
        lab.assume("other_dropout_calls", "run with training off in both: only the call at the "
                   "finding's line is compared")
        summary = (f"two eval-mode passes differ by up to {lab.fmt(eval_vs_eval)} on outputs of scale "
                   f"{lab.fmt(scale)}; with training=self.training: {lab.fmt(fixed_diff)}")
        if site_calls == 0:
            return lab.not_exercised(f"the functional dropout at line {line} never ran in the forward pass "
                                     f"({calls['others'] // 2} other dropout calls did)", **numbers)
        if eval_vs_eval > 1e-6 and fixed_diff <= 1e-6:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(f"two eval-mode passes agree (max |diff| {lab.fmt(eval_vs_eval)}): "
                           f"{site_on} of {site_calls} calls at line {line} dropped with training on",
                           **numbers)


def _add_training(ctx, call, self_name: str):
    training = cst.Attribute(value=cst.Name(self_name), attr=cst.Name("training"))
    return ctx.replace(call.node, add_keyword_argument(call.node, "training", training))


DROPOUT_LAYERS = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                            "FeatureAlphaDropout"})


def _dropout_built_here(model, call) -> cst.Call | None:
    """The `nn.Dropout(...)` construction that `call` calls: `nn.Dropout(p)(x)`, or a local
    bound to one earlier in the same function (`drop = nn.Dropout(p)` ... `drop(x)`)."""
    func = call.func
    if isinstance(func, cst.Name):
        for binding in reversed(call.scope.bindings.get(func.value, [])):
            value = getattr(binding.fact, "value", None)
            if binding.order < call.order and isinstance(value, cst.Call):
                func = value
                break
    if not isinstance(func, cst.Call):
        return None
    qualified = model.names.qualified(func.func, call.scope, call.order) or ""
    head, _, layer = qualified.rpartition(".")
    return func if head in ("torch.nn", "torch.nn.modules.dropout") and layer in DROPOUT_LAYERS else None


def _train_only(model, call, function, in_eval: dict) -> bool:
    """Whether `call` cannot run in eval mode: an `if` arm around it, or a
    conditional expression holding it (`F.dropout(x) if self.training else x`),
    is skipped when `training` is False, or an earlier `if not self.training:
    return ...` of the function leaves before it."""
    if not consistent(call, in_eval):
        return True
    statement = model.facts.statement_of.get(id(call.node))
    if statement is not None:
        for node in iter_nodes(statement):
            if isinstance(node, cst.IfExp) and evaluate(node.test, in_eval) is False and \
                    any(inner is call.node for inner in iter_nodes(node.body)):
                return True
    for returned in function.returns:
        branch = returned.branch
        if returned.order < call.order and branch is not None and not branch.contains(call) \
                and branch.parent is None and returned.loop is None and implied(branch, in_eval) is True:
            return True
    return False


def _rate_turned_off(model, call, function) -> bool:
    """The dropout rate is a parameter of the method that some caller passes as 0
    (`forward(self, x, drop_prob)` called `model(x, 0.)` to evaluate): the
    rate, not `training`, is how this code switches dropout off."""
    rate = call.argument(1, "p")
    if not isinstance(rate, cst.Name):
        return False
    bound = lookup(call.scope, rate.value, call.order)
    if bound is None or not isinstance(bound[1].fact, F.Param) or bound[1].fact.function is not function:
        return False
    return 0 in model.passed_numbers(bound[1].fact, model.facts)


def _self_of(function) -> str | None:
    """The module instance's name where `function` runs: the first parameter of the
    method it is (or is nested in: a helper or lambda inside `forward`); None in a
    staticmethod, whose code has no instance to ask for `.training`."""
    while function is not None and function.class_ is None:
        parent = function.parent
        function = parent.function if parent is not None else None
    if function is None or not function.params or function.params[0].node.star or function.is_staticmethod:
        return None  # `def forward(*args)`: no instance name to write
    return function.params[0].name
