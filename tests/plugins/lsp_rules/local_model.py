from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Rule


class LocalModel(Rule):
    """## What it does
    Reports constructing a class imported from a local module, naming its methods.

    ## Why is this bad?
    It is a test double whose findings depend on another file of the project.

    ## Example
    ```python
    from model import Net
    net = Net()
    ```

    ## Use instead
    ```python
    net = None
    ```

    ## Fix safety
    No fix.
    """

    code = "TL904"
    name = "local-model"
    severity = Severity.WARNING
    summary = "Constructs a class defined in another file of the project."

    def check(self, ctx) -> None:
        model = ctx.model
        imported = {fact.local: fact for fact in model.facts.imports if fact.name not in (None, "*")}
        for call in model.facts.calls:
            if not isinstance(call.func, cst.Name) or call.func.value not in imported:
                continue
            target = model.project.import_target(model.path, imported[call.func.value])
            if target is None:
                continue
            module, name = target
            model.note_dependency(module.path)
            if module.facts is None:
                continue
            for cls in module.facts.classes:
                if cls.name == name:
                    methods = ", ".join(cls.methods) or "none"
                    ctx.report(call.node, f"{name} from {module.path.name} has methods: {methods}", title=f"{name} from {module.path.name} has methods: {methods}")
