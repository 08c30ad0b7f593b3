from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Rule


class DiscardedPretrained(Rule):
    """## What it does
    Flags `nn.Embedding.from_pretrained(...)` whose result is thrown away
    inside a class; the probe compares the built embedding with the matrix.

    ## Why is this bad?
    A test rule of the probe suite.

    ## Example
    ```python
    nn.Embedding.from_pretrained(weights)
    ```

    ## Use instead
    ```python
    self.embedding = nn.Embedding.from_pretrained(weights)
    ```

    ## Fix safety
    There is no fix.
    """

    code = "TL903"
    name = "probe-test-discarded-from-pretrained"
    severity = Severity.ERROR
    summary = "The pretrained embedding never reaches the model."

    def check(self, ctx) -> None:
        model = ctx.model
        for cls in model.facts.classes:
            for call in model.facts.calls:
                if not cls.contains(call) or call.method != "from_pretrained":
                    continue
                statement = model.facts.statement_of.get(id(call.node))
                if not isinstance(statement, cst.Expr) or statement.value is not call.node:
                    continue
                function = call.scope.function
                params = {p.name for p in function.params} if function else set()
                used = [n.value for n in _names(call.node) if n.value in params]
                ctx.report(call.node, "the result of from_pretrained is discarded", title="the result of from_pretrained is discarded",
                           context={"class": cls.name, "param": used[0] if used else None})

    @staticmethod
    def experiment(lab):
        param = lab.context.get("param")
        plain = lab.build_model(lab.context.get("class"))
        embeddings = lab.modules_of_type(plain, "Embedding")
        if not embeddings or not param:
            return lab.inconclusive("experiment_error", "no embedding or parameter to compare")
        name, layer = embeddings[0]
        matrix = lab.pretrained_matrix(layer.num_embeddings, layer.embedding_dim)
        model = lab.build_model(lab.context.get("class"), overrides={param: matrix})
        weight = dict(model.named_modules())[name].weight
        gap = lab.max_abs_diff(weight, lab.torch.as_tensor(matrix))
        if gap > 1e-6:
            return lab.confirmed(f"embedding weight differs from the pretrained matrix by up to "
                                 f"{lab.fmt(gap)}", max_abs_diff=gap, layer=name)
        return lab.refuted("the embedding holds the pretrained matrix", max_abs_diff=gap)


def _names(node: cst.CSTNode) -> list[cst.Name]:
    found = []

    def visit(current: cst.CSTNode) -> None:
        if isinstance(current, cst.Name):
            found.append(current)
        for child in current.children:
            visit(child)

    visit(node)
    return found
