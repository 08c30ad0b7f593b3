from __future__ import annotations

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.probe_context import model_context
from torchlint.semantic.walker import dotted_name, iter_nodes


class SeedResetInLoop(Rule):
    """## What it does
    Finds `torch.manual_seed`, `torch.cuda.manual_seed(_all)`, `random.seed`,
    `np.random.seed` (and helpers such as `seed_everything`) called with the
    same value inside an epoch or step loop, directly or through a project
    function the loop calls.

    ## Why is this bad?
    Re-seeding with the same value restarts the random stream: every step then
    draws the same dropout masks, the same shuffles and augmentations, the
    same noise. Regularization stops regularizing and the model sees less
    variety than you think, without any error.

    ## Example
    ```python
    for epoch in range(epochs):
        torch.manual_seed(42)
        train_one_epoch(model, loader)
    ```

    ## Use instead
    ```python
    torch.manual_seed(42)
    for epoch in range(epochs):
        train_one_epoch(model, loader)
    ```

    ## Fix safety
    There is no automatic fix: move the call before the loop. Seeding with a
    value that changes every iteration (`torch.manual_seed(epoch)`, a loop
    over several seeds) is deliberate and is not reported.
    """

    code = "TL502"
    name = "seed-reset-in-loop"
    severity = Severity.WARNING
    summary = "A random seed is reset to the same value on every iteration of a training loop."

    VALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
torch.manual_seed(0)
for seed in [0, 1, 2]:
    torch.manual_seed(seed)
    model(torch.randn(2, 4)).sum().backward()
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
for step in range(100):
    torch.manual_seed(0)  # expect: TL502
    model(torch.randn(2, 4)).sum().backward()
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        for call in model.facts.calls:
            if call.loop is not None and call.loop.kind == "comprehension":
                continue
            seeded = _seed_call(model, call)
            if seeded is None:
                continue
            if call.loop is not None:
                loop, scope = call.loop, call.scope
                if not model.phases.trains(loop, scope) or _varies_with_loop(model, call, loop):
                    continue
                where = "on every iteration of this training loop"
            else:
                # Seeded at the top of a function that a training loop calls once per
                # iteration (`one_epoch()` in the epoch loop): the same reset, one call away.
                site = _per_iteration_site(model, call)
                if site is None:
                    continue
                loop, scope = site.loop, site.scope
                where = (f"each time `{model.code(site.func)}` runs, once per iteration of the loop "
                         f"at line {model.line_of(site.node)}")
            if _deliberate(model, loop, scope):
                continue
            name = model.code(call.func)
            via = "" if seeded is call else f" (it calls `{model.code(seeded.func)}`)"
            ctx.report(
                call.node,
                title=f"{titles.code(f'{name}(...)', 36)} resets the seed on every training step",
                message=f"`{name}(...)`{via} resets the random seed to the same value {where}, so each "
                f"step draws the same dropout masks, shuffles and augmentations. Seed once, before "
                f"the loop.",
                context={"seed_function": model.callee(seeded) or name, "call": model.code(call.node),
                         **model_context(model, [v for forward in model.phases.forwards_in(loop, scope)
                                                 for v in forward.models])},
            )

    @staticmethod
    def experiment(lab):
        """The script's own seeding call at the start of two steps, as the loop
        makes it: the second step's random draws (dropout masks, Python's random,
        numpy's) repeat the first's; two steps without it draw differently.

        Which objects decide: the script's own seeding call (evaluated in the script,
        its constants and argparse defaults included) is the object on the flagged
        path; whether it resets the generators is what repeats the draws. The draws are
        the model's dropout masks when the finding names a model with dropout, else
        ``torch.rand``, ``random.random`` and numpy's, which are what any code of the
        loop drawing from those generators gets: not a stand-in for the script's
        object. A seed that varies per step (``seed(epoch)``) is dropped statically;
        one that only names run-time state (``self.seed``) is evaluated as the seed
        function with 0, which says so in ``seeding``."""
        import importlib
        import random

        torch = lab.torch
        text = lab.context.get("call") or ""
        function = lab.context.get("seed_function") or ""

        def reseed():
            """The loop's seeding call, evaluated in the script; where it names what only
            exists at run time (``self.seed``), the seed function with 0."""
            try:
                lab.evaluate(text)
                return text
            except (NameError, AttributeError, TypeError, SyntaxError):
                module, _, name = function.rpartition(".")
                getattr(importlib.import_module(module), name)(0)
                return f"{function}(0)"

        def draws():
            found = {}
            if dropouts:
                masks = []
                handles = [module.register_forward_hook(lambda m, args, out: masks.append((out == 0).flatten()))
                           for _, module in dropouts]
                try:
                    with torch.no_grad():
                        lab.forward(model, inputs)
                finally:
                    for handle in handles:
                        handle.remove()
                found["dropout masks"] = torch.cat(masks).float() if masks else torch.zeros(0)
            else:
                found["torch.rand"] = torch.rand(16)
            found["random.random"] = torch.tensor([random.random() for _ in range(8)])
            try:
                import numpy
            except ImportError:
                pass
            else:
                found["numpy.random"] = torch.as_tensor(numpy.random.rand(8))
            return found

        if function.startswith("torch.cuda.") and not torch.cuda.is_available():
            return lab.inconclusive("experiment_error", f"{function} seeds only the CUDA generators, and the "
                                    "probe runs without a GPU")
        dropouts = []
        if lab.context.get("construct") or lab.context.get("class"):
            model = lab.build_from_context()
            inputs = lab.inputs(model)
            model.train()
            dropouts = [(n, m) for n, m in lab.mode_dependent_modules(model)
                        if isinstance(m, (lab.nn.Dropout, lab.nn.Dropout1d, lab.nn.Dropout2d, lab.nn.Dropout3d))]
        random.seed(0)  # Python's generator too starts from a known state: the same numbers every run
        made = reseed()
        lab.assume("seeding", made)
        first = draws()
        reseed()
        second = draws()
        third = draws()  # the next step without re-seeding
        repeated = [name for name in first if lab.max_abs_diff(first[name], second[name]) == 0
                    and lab.max_abs_diff(second[name], third[name]) > 0]
        numbers = dict(repeated=repeated, compared=sorted(first),
                       draws_compared=sum(int(first[n].numel()) for n in first),
                       step2_vs_step1={n: lab.max_abs_diff(first[n], second[n]) for n in first},
                       step3_vs_step2={n: lab.max_abs_diff(second[n], third[n]) for n in first})
        if "dropout masks" in first:
            numbers["mask_size"] = int(first["dropout masks"].numel())
        if repeated:
            return lab.confirmed(f"after {made}, step 2 drew the same {' and '.join(repeated)} as step 1; "
                                 f"without it the draws differ", **numbers)
        return lab.refuted(f"after {made}, step 2's draws ({', '.join(sorted(first))}) differ from step 1's",
                           **numbers)

def _deliberate(model, loop, scope) -> bool:
    """Re-seeding on purpose: before each of several runs in one iteration (a
    determinism check), or before building a fresh model each iteration (one
    run per configuration)."""
    calls = model.phases.calls_in(loop, scope)
    seeds = [c for c in calls if _seed_call(model, c) is not None]
    if len({model.code(c.func) for c in seeds}) < len(seeds):
        return True
    return any(_builds_model(model, call, 0) for call in calls)


def _builds_model(model, call, depth: int) -> bool:
    """The call builds a model or an optimizer (itself, or in a helper it calls): a
    fresh run per iteration (k-fold, one run per configuration)."""
    values = model.values.at(call.node, call)
    if any(v.kind in ("module", "optimizer") and v.origin is call.node for v in values):
        return True
    if depth < 2:
        definition = model.local_function(call)
        if definition is not None and definition.facts is model.facts:
            return any(_builds_model(model, inner, depth + 1) for inner in definition.fact.calls)
    return False


def _varies_with_loop(model, call, loop) -> bool:
    """The seed depends on a name the loop (re)binds: `manual_seed(epoch)`."""
    used = {dotted_name(n) for arg in call.args for n in iter_nodes(arg.value)}
    bound = set()
    current = loop
    while current is not None:
        if current.target is not None:
            bound |= {dotted_name(n) for n in iter_nodes(current.target)}
        for assign in call.scope.assigns:
            if current.contains(assign):
                bound |= {dotted_name(t) for t in assign.targets}
        for aug in call.scope.aug_assigns:
            if current.contains(aug):
                bound.add(dotted_name(aug.target))
        current = current.parent
    bound.discard(None)
    return bool(used & bound)


def _per_iteration_site(model, call):
    """A call of `call`'s function from inside a loop, when that loop or the function
    trains and the call passes nothing the loop changes (`run_epoch(model, seed=epoch)`
    reseeds differently each time)."""
    function = call.scope if call.scope.kind == "function" else None
    if function is None or function.name in ("__init__", "main") or not function.loops and \
            not model.phases.trains(function, function):
        return None
    for site in model.call_sites(function):
        loop = site.loop
        if loop is None or loop.kind == "comprehension" or site.scope.kind == "class":
            continue
        if (model.phases.trains(loop, site.scope) or model.phases.trains(function, function)) \
                and not _varies_with_loop(model, site, loop):
            return site
    return None


def _seed_call(model, call):
    """The seeding call `call` makes: itself, or the seed call inside a project helper
    (in this file or another). Whether the value varies is checked at `call`'s arguments."""
    if model.function_kind(call) == "seed":
        return call if call.args else None  # seed() without a value seeds from entropy
    definition = model.local_function(call)
    if definition is None:
        return None
    for inner in definition.fact.calls:
        if model.function_kind_in(inner, definition.facts) == "seed" and inner.args:
            return inner
    return None
