from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.walker import dotted_name


class DiscardedFromPretrained(Rule):
    """## What it does
    Finds `nn.Embedding.from_pretrained(...)` and
    `nn.EmbeddingBag.from_pretrained(...)` whose result never reaches the
    model: not stored at all, stored in a local variable that is never used,
    or stored in an attribute that is then replaced by a fresh `nn.Embedding`.

    ## Why is this bad?
    `from_pretrained` is a class method that builds a *new* layer; it does not
    load weights into an existing one. When its result is dropped, the
    model's embedding keeps its random initialization, the pretrained vectors
    are never used, and the model trains from scratch while you believe it
    starts from GloVe or word2vec.

    ## Example
    ```python
    self.embed = nn.Embedding(vocab_size, dim)
    if pretrained is not None:
        nn.Embedding.from_pretrained(torch.from_numpy(pretrained))
    ```

    ## Use instead
    ```python
    self.embed = nn.Embedding(vocab_size, dim)
    if pretrained is not None:
        self.embed = nn.Embedding.from_pretrained(torch.from_numpy(pretrained), freeze=False)
    ```

    ## Fix safety
    When the result is not stored and the class holds exactly one embedding
    attribute, the fix assigns the result to it. It is unsafe:
    `from_pretrained` freezes the weights by default (`freeze=True`), which
    the old trainable layer was not.
    """

    code = "TL401"
    name = "discarded-from-pretrained"
    severity = Severity.ERROR
    fix_applicability = "unsafe"
    summary = "The pretrained embedding built by from_pretrained never reaches the model."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, vectors):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(vectors, freeze=False)
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, vocab_size, dim, vectors=None):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        if vectors is not None:
            nn.Embedding.from_pretrained(vectors)  # expect: TL401
""",
            fixed="""
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, vocab_size, dim, vectors=None):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        if vectors is not None:
            self.embed = nn.Embedding.from_pretrained(vectors)  # expect: TL401
""",
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        for call in model.facts.calls:
            if not _is_from_pretrained(model, call):
                continue
            statement = model.facts.statement_of.get(id(call.node))
            layer = (dotted_name(call.func) or "nn.Embedding.from_pretrained").rsplit(".", 1)[0]
            source = model.code(call.args[0].value) if call.args else "the vectors"
            if isinstance(statement, cst.Expr) and statement.value is call.node:
                ctx.report(call.node, _discarded(model, call, layer, source),
                           title=f"{titles.call(f'{layer}.from_pretrained(vectors)', 40)} is discarded: "
                                 f"its weights never load",
                           fix=_assign_fix(ctx, model, call), context=_context(call, model))
                continue
            unused = _unused_local(model, call, statement)
            if unused is not None:
                ctx.report(call.node,
                           title=f"pretrained layer {titles.code(unused, 30)} is never used",
                           message=f"`{unused}` receives the pretrained {layer} but is never used afterwards, "
                           f"so {source} never reaches the model, whose embedding keeps its random "
                           f"initialization. Assign the layer to the module attribute the model uses "
                           f"(e.g. `self.embedding = {layer}.from_pretrained(...)`).",
                           context=_context(call, model))
                continue
            replaced = _replaced_later(model, call, statement)
            if replaced is not None:
                attr, where = replaced
                ctx.report(call.node,
                           title=f"pretrained {titles.code(f'self.{attr}', 30)} is replaced by a fresh layer",
                           message=f"`self.{attr}` receives the pretrained {layer} here but is replaced by a "
                           f"fresh randomly initialized layer at {where}, so {source} never reaches "
                           f"the model. Build the plain layer only when no pretrained vectors are "
                           f"given.",
                           context=_context(call, model))
        for module in model.module_classes():
            for param in _unused_vectors(model, module):
                ctx.report(param.node.name,
                           title=f"pretrained vectors {titles.code(param.name, 24)} are never used by "
                                 f"{titles.code(module.name, 24)}",
                           message=f"`{param.name}` is passed to `{module.name}.__init__` but never used, so the "
                           f"pretrained vectors never reach the model: its embedding keeps its random "
                           f"initialization. Build the layer from them, e.g. "
                           f"`nn.Embedding.from_pretrained({param.name}, freeze=False)`.",
                           context={"class": module.name, "param": param.name})

    @staticmethod
    def experiment(lab):
        """A recognizable "pretrained" matrix passed the way the script passes its
        vectors (the constructor argument, or the method, the context names); then
        the built model's embedding weight compared with it."""
        torch = lab.torch
        param, method = lab.context.get("param"), lab.context.get("method")

        def embeddings(model):
            return lab.modules_of_type(model, ("Embedding", "EmbeddingBag"))

        def first_embedding(model):
            found = embeddings(model)
            if not found:
                raise lab.Inconclusive("experiment_error", f"{type(model).__name__} has no embedding layer")
            return found[0][1]

        if not lab.context.get("class"):
            # Discarded at script level: the script's model next to what from_pretrained built.
            model = lab.build_from_context()
            layer = first_embedding(model)
            matrix = lab.pretrained_matrix(layer.num_embeddings, layer.embedding_dim)
            receiver = lab.context.get("receiver") or "torch.nn.Embedding"
            try:
                made = lab.evaluate(receiver).from_pretrained(torch.as_tensor(matrix))
            except (NameError, AttributeError, TypeError, SyntaxError):
                made = lab.nn.Embedding.from_pretrained(torch.as_tensor(matrix))
            held = lab.max_abs_diff(made.weight, matrix)
        else:
            if not param:
                return lab.inconclusive("experiment_error", "no parameter of the class carries the vectors")
            layer = first_embedding(lab.build_model())
            matrix = lab.pretrained_matrix(layer.num_embeddings, layer.embedding_dim, param=param)

            def given(vectors):
                if method:
                    built = lab.build_model()
                    getattr(built, method)(**{param: vectors})
                    lab.assume("called", f"model.{method}({param}=the matrix)")
                    return built
                return lab.build_model(overrides={param: vectors})

            try:
                model = given(matrix)
            except Exception as err:  # noqa: BLE001 - the code may want a tensor (from_pretrained does)
                if isinstance(matrix, torch.Tensor) or "ndarray" not in str(err) and "numpy" not in str(err):
                    raise
                matrix = torch.as_tensor(matrix)
                lab.assume("pretrained_matrix", f"a tensor (a numpy array failed: {type(err).__name__})")
                model = given(matrix)
            held = None
        gaps = {name: lab.max_abs_diff(module.weight, matrix) for name, module in embeddings(model)
                if tuple(module.weight.shape) == tuple(torch.as_tensor(matrix).shape)}
        numbers = dict(matrix_shape=list(torch.as_tensor(matrix).shape), per_layer=gaps,
                       max_abs_diff=min(gaps.values()) if gaps else None)
        if held is not None:
            numbers["from_pretrained_layer_diff"] = held
        if gaps and min(gaps.values()) <= 1e-6:
            name = min(gaps, key=gaps.get)
            return lab.refuted(f"embedding {name} holds the pretrained matrix", **numbers)
        if not gaps:
            return lab.confirmed(f"no embedding of the built model has the matrix's shape "
                                 f"{numbers['matrix_shape']}: the vectors never reach it", **numbers)
        name = min(gaps, key=gaps.get)
        discarded = "" if held is None else \
            f"; the layer from_pretrained returned (and the script drops) holds it (max |diff| {lab.fmt(held)})"
        return lab.confirmed(f"embedding weight differs from the pretrained matrix by up to "
                             f"{lab.fmt(gaps[name])} ({name}){discarded}", layer=name, **numbers)


_VECTOR_WORDS = ("pretrain", "vector", "glove", "word2vec", "w2v", "fasttext", "embedding_matrix",
                 "emb_matrix", "weights_matrix", "embeddings")


def _unused_vectors(model, module) -> list:
    """`__init__` parameters named like pretrained vectors that are never read, in a
    module that has an embedding layer."""
    init = module.cls.methods.get("__init__")
    if init is None or not any(layer.kind == "embedding" for layer in module.layers):
        return []
    reads = model.name_reads(init)
    unused = []
    for param in init.params[1:]:
        if not any(word in param.name.lower() for word in _VECTOR_WORDS):
            continue
        if not [node for node in reads.get(param.name, []) if node is not param.node.name]:
            unused.append(param)
    return unused


def _is_from_pretrained(model, call) -> bool:
    """`nn.Embedding.from_pretrained(w)`, or the classmethod called through an instance:
    `self.embedding.from_pretrained(w)` also builds a new layer."""
    if model.function_kind(call) == "from_pretrained":
        return True
    if call.method != "from_pretrained" or call.receiver is None:
        return False
    return any(v.kind == "module" and v.layer is not None and v.layer.kind == "embedding"
               for v in model.values.at(call.receiver, call))


def _discarded(model, call, layer: str, source: str) -> str:
    attributes = _embedding_attributes(model, call)
    function = call.scope.function
    owner = function.params[0].name if function is not None and function.params and attributes else None
    target = f"{owner}.{attributes[0]}" if owner and len(attributes) == 1 else "the embedding attribute"
    return (f"The result of `{layer}.from_pretrained(...)` is thrown away: from_pretrained builds a "
            f"new layer and does not load weights into an existing one, so {source} never reaches "
            f"the model and its embedding keeps its random initialization. Assign it to "
            f"{target if target.startswith('the') else f'`{target}`'} "
            f"(`{layer}.from_pretrained(..., freeze=False)` to keep training it).")


def _context(call, model) -> dict:
    """The class, and what carries the vectors into it: the parameter of the
    function that builds the layer (``__init__``'s, or a ``method``'s), for the
    probe to pass a recognizable matrix through."""
    module = model.enclosing_module(call.scope)
    found = {"class": module.name if module else None,
             "receiver": model.code(call.func).rsplit(".", 1)[0]}
    function = call.scope.function
    if function is not None and call.args:
        params = [p.name for p in function.params]
        used = _names_feeding(function, call.args[0].value, call.order)
        carried = [name for name in params[1:] if name in used]
        if carried:
            found["param"] = carried[0]
            if function.name != "__init__":
                found["method"] = function.name
    return found


def _names_feeding(function, node: cst.CSTNode, order: int) -> set[str]:
    """The names `node` reads, and the names those locals were computed from earlier in
    `function` (`t = torch.from_numpy(vectors)` ... `from_pretrained(t)` reads `vectors`)."""
    found = {n.value for n in _names(node)}
    frontier = set(found)
    while frontier:
        name = frontier.pop()
        for binding in function.bindings.get(name, []):
            value = getattr(binding.fact, "value", None)
            if binding.order < order and value is not None and getattr(binding.fact, "kind", "") == "assign":
                new = {n.value for n in _names(value)} - found
                found |= new
                frontier |= new
    return found


def _names(node: cst.CSTNode) -> list[cst.Name]:
    found = [node] if isinstance(node, cst.Name) else []
    for child in node.children:
        found.extend(_names(child))
    return found


def _embedding_attributes(model, call) -> list[str]:
    module = model.enclosing_module(call.scope)
    if module is None:
        return []
    return [layer.attr for layer in module.layers if layer.kind == "embedding" and layer.attr]


def _assign_fix(ctx, model, call):
    attributes = _embedding_attributes(model, call)
    function = call.scope.function
    if len(attributes) != 1 or function is None or not function.params:
        return None
    target = f"{function.params[0].name}.{attributes[0]}"
    return ctx.fix(f"Assign it to `{target}`", ctx.replace(call.node, f"{target} = {model.code(call.node)}"),
                   safe=False)


def _unused_local(model, call, statement) -> str | None:
    if not isinstance(statement, cst.Assign) or statement.value is not call.node:
        return None
    if len(statement.targets) != 1 or not isinstance(statement.targets[0].target, cst.Name):
        return None
    name = statement.targets[0].target.value
    reads = model.name_reads(call.scope).get(name, [])
    others = [node for node in reads if node is not statement.targets[0].target]
    return name if not others else None


def _replaced_later(model, call, statement) -> tuple[str, str] | None:
    if not isinstance(statement, cst.Assign) or statement.value is not call.node:
        return None
    target = statement.targets[0].target if len(statement.targets) == 1 else None
    function = call.scope.function
    if not isinstance(target, cst.Attribute) or function is None or function.class_ is None:
        return None
    attr = target.attr.value
    for assign in function.class_.self_assigns.get(attr, []):
        if assign.order <= call.order or assign.scope is not call.scope or assign.value is None:
            continue
        if not isinstance(assign.value, cst.Call):
            continue
        if assign.branch is not None and not assign.branch.contains(call) and call.branch is not None:
            continue  # `if pretrained: ... else: self.embed = nn.Embedding(...)`
        later = model.facts.call_of.get(id(assign.value))
        if later is not None and model.symbols.layer_kind(model.callee(later)) == "embedding":
            return attr, model.where(assign.node)
    return None
