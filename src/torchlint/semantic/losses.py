"""Loss calls: where a loss is computed, with what options, and how it is scaled.

``criterion(out, y)`` where ``criterion = nn.CrossEntropyLoss(reduction="sum")``
and ``F.nll_loss(logp, y)`` are both :class:`LossCall` objects; their options
come from the constructor or the call. :meth:`Losses.normalization` says
whether the summed loss is divided, and by what.

How a loss is normalized is followed further for TL203: :meth:`Losses.scale`
says whether a per-batch value (``loss``, ``loss.item() * x.size(0)``, a
helper's return) is a mean or a sum over the batch; :meth:`Losses.divisor`
says what a divisor counts (samples, batches, the batch size); and
:attr:`Losses.accumulations` are the running totals and lists that collect
per-batch losses, with every place they are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.names import lookup, lookup_reaching
from torchlint.semantic.phases import words
from torchlint.semantic.shapes import Shapes
from torchlint.semantic.values import NOT_KEEPING_PROBABILITIES, PASSTHROUGH_METHODS, REARRANGING_FUNCTIONS
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel
    from torchlint.semantic.modules import ModuleClass


@dataclass(eq=False)
class LossCall:
    call: F.Call
    kind: str  # cross_entropy, nll, bce, ...
    qualname: str
    constructor: F.Call | None  # nn.CrossEntropyLoss(...) for class-based losses
    constructor_facts: F.FileFacts | None
    # Kinds the same criterion may also be (chosen at run time): only in
    # :attr:`Losses.ambiguous_calls`.
    alternatives: tuple[str, ...] = ()

    @property
    def input(self) -> cst.BaseExpression | None:
        return self.call.argument(0, "input")

    @property
    def target(self) -> cst.BaseExpression | None:
        return self.call.argument(1, "target")

    @property
    def is_class(self) -> bool:
        return self.constructor is not None

    def option(self, name: str) -> cst.BaseExpression | None:
        """An option given to the constructor or, for functional losses, the call."""
        source = self.constructor if self.constructor is not None else self.call
        return source.keyword(name)

    @property
    def reduction(self) -> str | None:
        """"sum", "mean", "none", or None when it is not static."""
        return reduction_of(self.option)

    @property
    def per_element(self) -> bool:
        """Whether its mean runs over every element (MSELoss), not over samples."""
        return self.kind in ELEMENTWISE_KINDS

    @property
    def reduction_node(self) -> cst.CSTNode | None:
        return self.option("reduction") or self.option("size_average")


def reduction_of(option, resolve=None) -> str | None:
    """The reduction given by `option(name)` (a constructor's or a call's keywords):
    "sum", "mean", "none", or None when it is not static. `resolve(node)`, when
    given, is the constant an option written as a name holds (`size_average=
    self.size_average` set from a parameter's default), or None."""
    def value_of(node):
        if node is None:
            return None
        if isinstance(node, cst.SimpleString):
            return node.evaluated_value
        number = literal_number(node)
        if number is not None:
            return number
        return resolve(node) if resolve is not None else None

    reduction = option("reduction")
    if reduction is not None:
        value = value_of(reduction)
        return value if isinstance(value, str) else None
    size_average, reduce = option("size_average"), option("reduce")
    reduce_value, average_value = value_of(reduce), value_of(size_average)
    if reduce is not None and reduce_value is not None and not isinstance(reduce_value, str) \
            and not reduce_value:
        return "none"
    if size_average is not None and (average_value is None or isinstance(average_value, str)):
        return None  # `size_average=size_average`: chosen by the caller
    if size_average is not None and not average_value:
        return "sum"
    return "mean"


# Losses whose mean runs over every element of the output, not over samples.
ELEMENTWISE_KINDS = frozenset({"mse", "l1", "smooth_l1", "huber", "bce", "bce_logits", "kl_div"})


@dataclass(frozen=True)
class Scale:
    """How one batch's loss value relates to its batch."""

    reduction: str  # "mean" (per sample or element) | "sum" (over the batch)
    name: str  # CrossEntropyLoss, mse_loss, torch.sum
    per_element: bool  # its mean runs over every element (MSELoss), not over samples
    origin: cst.CSTNode = field(repr=False)  # the loss call (or the full sum) it comes from
    facts: F.FileFacts = field(repr=False)
    weighted: bool = False  # a mean multiplied by the batch size: a sum again
    # the division by the batch size that made a sum a mean
    per_sample: cst.CSTNode | None = field(default=None, repr=False)
    per_sample_facts: F.FileFacts | None = field(default=None, repr=False)  # the file it is in
    is_loss: bool = True  # False for a plain full sum (`torch.sum(kl_terms)`)


@dataclass(frozen=True)
class Divisor:
    """What a divisor counts."""

    # "samples" | "batches" | "batch_size" | None (something else); "batch_count": a count
    # measured on one batch other than its size (`data.num_graphs`, `y.numel()`,
    # `mask.sum()`), which may count elements as well as samples; "weights": the sum of the
    # weights a running total multiplies each batch's mean by (a weighted mean)
    kind: str | None
    loader: str | None = None  # the loader it counts, as written (`val_loader`)
    # `len(loader.dataset)` of a loader whose sampler draws a subset of its dataset
    # (`sampler=SubsetRandomSampler(train_idx)`): more samples than the loader yields
    whole_dataset_of_subset: bool = False


@dataclass(frozen=True)
class Averaging:
    """A place a running total (or list) of per-batch losses is divided."""

    node: cst.CSTNode = field(repr=False)  # the division, `total /= n`, or `np.mean(losses)`
    divisor: cst.BaseExpression | None = field(repr=False)  # None for a mean over the list
    counts: Divisor


@dataclass(eq=False)
class Accumulation:
    """A running total (`total += loss.item()`) or list (`losses.append(loss.item())`)
    of per-batch losses, or a `sum(... for batch in loader)`."""

    total: str | None  # the total or list as written; None for a sum over a generator
    scale: Scale
    node: cst.CSTNode = field(repr=False)  # where a batch's loss is added
    scope: F.Scope = field(repr=False)
    loader: str | None = None  # the loader the loop runs over, as written
    averagings: list[Averaging] = field(default_factory=list)
    # what a batch's mean is multiplied by before it is added (`float(loss) * w`), when that
    # is no count known here: a divisor adding up the same `w` makes a weighted mean
    weight: cst.BaseExpression | None = field(default=None, repr=False)


class Division(NamedTuple):
    """`a / b` or `a /= b` of the file, with the fact whose expression holds it."""

    fact: F.Located
    node: cst.CSTNode  # the BinaryOperation or the AugAssign
    value: cst.BaseExpression  # a
    divisor: cst.BaseExpression  # b


@dataclass(frozen=True)
class Normalization:
    divisor: cst.BaseExpression | None  # None: not divided
    node: cst.CSTNode | None  # where the division is written


@dataclass(frozen=True)
class WrappedLoss:
    """A project loss module (``class CrossEntropy2d(nn.Module)``, a focal loss) whose
    forward hands its input, rearranged or not, to a torch loss that wants logits
    (or log-probabilities)."""

    kind: str  # the inner loss's kind: cross_entropy, nll, bce_logits
    qualname: str  # the inner loss: torch.nn.functional.cross_entropy
    module: ModuleClass = field(repr=False)
    inner: F.Call = field(repr=False)  # the inner loss call, in forward
    facts: F.FileFacts = field(repr=False)  # the file of forward
    param: F.Param = field(repr=False)  # forward's input parameter


@dataclass(frozen=True)
class WrapperCall:
    """A call of a project loss module: ``criterion(pred, label)``."""

    call: F.Call
    wrapped: WrappedLoss

    @property
    def input(self) -> cst.BaseExpression | None:
        param = self.wrapped.param
        return self.call.argument(param.index - 1, param.name)  # `self` is bound


class Losses:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._wrapped: dict[int, WrappedLoss | None] = {}
        self._ambiguous: list[LossCall] = []  # filled with `calls`

    @cached_property
    def shapes(self) -> Shapes:
        """Ranks and batch dims of the tensors that reach losses and softmaxes (one
        analysis per file, shared by the loss and softmax rules)."""
        return Shapes(self.model)

    @cached_property
    def calls(self) -> list[LossCall]:
        found = []
        model = self.model
        constructs_loss = False
        for call in model.facts.calls:
            info = model.symbols.loss(model.callee(call))
            if info is not None and info["class"]:
                constructs_loss = True
            elif info is not None:
                found.append(LossCall(call, info["kind"], model.callee(call), None, None))
        if not constructs_loss and not self.model.imports_local_modules and not self._aliases_functional_loss():
            # A loss object used here is built here (criteria passed in from other
            # files are not followed), so a file that builds none has no class-based call.
            return found
        direct = {id(loss.call) for loss in found}
        for call in model.facts.calls:
            if id(call) in direct or (not _may_call_loss_object(call) and not self._may_call_member_loss(call)):
                continue
            candidates = sorted(
                ((model.symbols.loss(v.qualname)["kind"], v) for v in model.values.at(call.func, call)
                 if self._names_loss(v)),
                key=lambda pair: (pair[0] != "cross_entropy", pair[1].qualname or ""))
            if not candidates:
                continue
            kind, value = candidates[0]
            others = tuple(sorted({k for k, _ in candidates} - {kind}))
            loss = LossCall(call, kind, value.qualname, value.call, value.facts, others)
            # `criterion(out, y)` where the criterion may be a CTC loss or a cross entropy
            # (chosen by a flag, or passed in by callers that differ), or `net.loss_fn(...)`
            # for models with different criteria: set apart, for the rules that hold
            # whichever kind it is.
            (self._ambiguous if others else found).append(loss)
        return found

    def _names_loss(self, value) -> bool:
        """A loss object, or a functional loss held under another name
        (`self.loss_func = F.binary_cross_entropy_with_logits`)."""
        if value.qualname is None or value.kind not in ("loss_fn", "external"):
            return False
        info = self.model.symbols.loss(value.qualname)
        return info is not None and (value.kind == "loss_fn" or not info["class"])

    def _aliases_functional_loss(self) -> bool:
        """Whether the file binds a functional loss to a name without calling it."""
        names = self.model.names_for(self.model.facts)
        for assign in self.model.facts.assigns:
            value = assign.value
            if assign.kind in ("assign", "annassign") and isinstance(value, (cst.Attribute, cst.Name)):
                info = self.model.symbols.loss(names.qualified(value, assign.scope, assign.order))
                if info is not None and not info["class"]:
                    return True
        return False

    @property
    def ambiguous_calls(self) -> list[LossCall]:
        """Loss calls whose criterion may be of several kinds (each with its
        alternatives): a finding about them must hold for every kind."""
        self.calls  # noqa: B018 - fills the list
        return self._ambiguous

    @cached_property
    def wrapper_calls(self) -> list[WrapperCall]:
        """Calls of project loss modules (`criterion(pred, y)` where criterion is
        a project nn.Module whose forward gives its input to a torch loss): what
        is passed here reaches that loss. Only TL201/TL202/TL205 read them; the options
        of the inner loss (its reduction) are the wrapper's business."""
        found = []
        model = self.model
        for call in model.facts.calls:
            if not call.args or not (_may_call_loss_object(call) or self._may_call_member_loss(call)):
                continue
            for value in model.values.at(call.func, call):
                if value.kind == "module" and value.module is not None:
                    wrapped = self.wrapped(value.module)
                    if wrapped is not None:
                        found.append(WrapperCall(call, wrapped))
                        break
        return found

    def wrapped(self, module: ModuleClass) -> WrappedLoss | None:
        """The torch loss `module`'s forward passes its input to, if it is a loss module."""
        key = id(module)
        if key not in self._wrapped:
            self._wrapped[key] = None  # recursion guard
            self._wrapped[key] = self._find_wrapped(module)
        return self._wrapped[key]

    def _find_wrapped(self, module: ModuleClass) -> WrappedLoss | None:
        found = module.method("forward")
        if found is None:
            return None
        forward, owner = found
        params = [p for p in forward.params if p.index > 0 and p.default is None]
        if not params or _is_static_function(forward):
            return None
        names = self.model.names_for(owner.facts)
        for call in forward.calls:
            qualname, info = self._loss_called(call, module, names)
            if info is None or qualname is None or info["kind"] not in ("cross_entropy", "nll", "bce_logits"):
                continue
            given = call.argument(0, "input")
            if given is not None and _derives_from(given, params[0], call.scope, call.order):
                return WrappedLoss(info["kind"], qualname, module, call, owner.facts, params[0])
        return None

    def is_loss_module(self, module: ModuleClass) -> bool:
        """A project module whose forward computes a torch loss of any kind and that
        holds no layer but losses (a criterion object: running it is no model's
        forward pass; a model returning an auxiliary loss has layers of its own)."""
        found = module.method("forward")
        if found is None or any(self.model.symbols.loss(layer.qualname) is None for layer in module.all_layers()):
            return False
        names = self.model.names_for(found[1].facts)
        return any(self._loss_called(call, module, names)[1] is not None for call in found[0].calls)

    def _loss_called(self, call: F.Call, module: ModuleClass, names) -> tuple[str | None, dict | None]:
        """The torch loss a call in a module's method calls: ``F.cross_entropy(...)``,
        or ``self.xent(...)`` where ``self.xent = nn.CrossEntropyLoss(...)``."""
        symbols = self.model.symbols
        qualname = names.callee(call)
        info = symbols.loss(qualname)
        if info is not None:
            return (qualname, info) if not info["class"] else (None, None)
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
            return None, None
        for owner in _module_chain(module):
            for assign in owner.cls.self_assigns.get(func.attr.value, []):
                if isinstance(assign.value, cst.Call):
                    built = self.model.names_for(owner.facts).qualified(assign.value.func, assign.scope,
                                                                       assign.order)
                    info = symbols.loss(built)
                    if info is not None and info["class"]:
                        return built, info
        return None, None

    def _may_call_member_loss(self, call: F.Call) -> bool:
        """`model.loss(out, y)`, `self.model.loss(out, y)`: a loss object kept as an
        attribute of another object (a model that builds its own criterion). Only a
        call with an input and a target, on a local or parameter (not a module such
        as `np`), by a name that is no tensor, list or optimizer method, is worth
        inferring."""
        func = call.func
        if not isinstance(func, cst.Attribute) or call.method in _NOT_LOSS_METHODS \
                or len([a for a in call.args if a.keyword is None]) < 2:
            return False
        holder = func.value  # `model`, or `self.model` (a trainer's model)
        if isinstance(holder, cst.Attribute) and isinstance(holder.value, cst.Name) and holder.value.value == "self":
            holder = holder.value
        if not isinstance(holder, cst.Name):
            return False
        found = lookup(call.scope, holder.value, call.order)
        return found is not None and isinstance(found[1].fact, (F.Assign, F.Param))

    def normalization(self, loss: LossCall) -> Normalization:
        """How the value of `loss` is divided: in its own statement, by a later
        ``loss /= n`` or ``loss = loss / n``, or through a running total that is
        divided after the loop."""
        call = loss.call
        statement = self.model.facts.statement_of.get(id(call.node))
        if statement is None:
            return Normalization(None, None)
        division = _division_of(statement, call.node)
        if division is not None:
            return Normalization(division.right, division)
        total = self._total_holding(call.node)
        if total is not None:  # `total += crit(out, y).item()` ... `total / n`
            return total
        name = _assigned_name(statement, call.node)
        if name is None:
            return Normalization(None, None)
        scope = call.scope
        for aug in scope.aug_assigns:
            if aug.order <= call.order or dotted_name(aug.target) != name:
                continue
            if isinstance(aug.node.operator, cst.DivideAssign):  # type: ignore[attr-defined]
                return Normalization(aug.value, aug.node)
            if isinstance(aug.node.operator, cst.AddAssign):  # type: ignore[attr-defined]
                continue
        for assign in [*scope.assigns, *scope.returns]:  # `loss = loss / n`, `return loss / n`
            if assign.order <= call.order or assign.value is None:
                continue
            for node in iter_nodes(assign.value):
                if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide) \
                        and dotted_name(node.left) == name:
                    return Normalization(node.right, node)
        for other in scope.calls:
            if other.order > call.order and other.method == "backward" and other.receiver is not None:
                for node in iter_nodes(other.receiver):
                    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide) \
                            and dotted_name(node.left) == name:
                        return Normalization(node.right, node)
        # A running total divided after the loop: `total += loss.item()` ... `total / n`.
        for aug in scope.aug_assigns:
            if aug.order <= call.order or not isinstance(aug.node.operator, cst.AddAssign):  # type: ignore[attr-defined]
                continue
            if name not in {dotted_name(n) for n in iter_nodes(aug.value)}:
                continue
            total = dotted_name(aug.target)
            for later in [*scope.assigns, *scope.returns]:
                value = later.value
                if later.order <= aug.order or value is None:
                    continue
                for node in iter_nodes(value):
                    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide) \
                            and total is not None and total in {dotted_name(n) for n in iter_nodes(node.left)}:
                        return Normalization(node.right, node)
        return Normalization(None, None)

    def _total_holding(self, node: cst.CSTNode) -> Normalization | None:
        """How the running total or list that `node` is added to is averaged."""
        for accumulation in self.accumulations:
            if accumulation.total is not None and any(inner is node for inner in iter_nodes(accumulation.node)):
                for averaging in accumulation.averagings:
                    return Normalization(averaging.divisor if averaging.divisor is not None else averaging.node,
                                         averaging.node)
                return Normalization(None, None)
        return None

    # -- scales: is a per-batch value a mean or a sum? -----------------------------

    def scale(self, expr: cst.BaseExpression | None, scope: F.Scope, order: int | None,
              facts: F.FileFacts | None = None, path: Path | None = None, depth: int = 0) -> Scale | None:
        """Whether `expr` is a loss averaged over its batch or summed over it, followed
        through locals, `/ batch_size` and `* batch_size`, sums of terms, and the returns
        of helpers, loss modules and model methods. None when it is not a loss, or
        its terms disagree (see :meth:`mixed_terms`)."""
        facts = facts or self.model.facts
        if facts is self.model.facts and path is None:
            path = self.model.path
        expr = strip_scalar(expr)
        if expr is None or depth > 8:
            return None
        if isinstance(expr, cst.Name):
            return self._name_scale(expr, scope, order, facts, path, depth)
        if isinstance(expr, cst.BinaryOperation):
            return self._binary_scale(expr, scope, order, facts, path, depth)
        if isinstance(expr, cst.UnaryOperation):
            return self.scale(expr.expression, scope, order, facts, path, depth + 1)
        if isinstance(expr, cst.Call):
            return self._call_scale(expr, scope, order, facts, path, depth)
        return None

    def _name_scale(self, expr: cst.Name, scope, order, facts, path, depth) -> Scale | None:
        found = lookup(scope, expr.value, order)
        if found is None:
            return None
        owner, binding = found
        fact = binding.fact
        scale = None
        if isinstance(fact, F.Assign) and fact.kind in ("assign", "annassign") and not binding.path \
                and fact.value is not None:
            scale = self.scale(fact.value, fact.scope, fact.order, facts, path, depth + 1)
        if scale is None:  # tuple unpacking, parameters: what the value analysis knows
            scale = self._value_scale(expr, scope, order, facts, path)
        if scale is None:
            return None
        # `loss /= x.size(0)` between the binding and this use
        for aug in owner.aug_assigns:
            if scale is not None and binding.order < aug.order < (order if order is not None else aug.order + 1) \
                    and dotted_name(aug.target) == expr.value \
                    and isinstance(aug.node.operator, cst.DivideAssign):  # type: ignore[attr-defined]
                scale = self._divided(scale, aug.value, aug.node, aug.scope, aug.order)
        return scale

    def _value_scale(self, expr, scope, order, facts, path) -> Scale | None:
        """The scale of the loss `expr` holds; None when it may hold losses of
        different kinds or reductions (a CTC loss or a cross entropy, by a flag)
        or an object of a library not known here."""
        values = self.model.values.infer(expr, scope, order, facts, path)
        scales = [self._scale_of_value(v) for v in values if v.kind == "loss"]
        known = [found for found in scales if found is not None]
        if not known or any(v.kind == "external" for v in values) or \
                len({(found.name, found.reduction) for found in known}) > 1:
            return None
        return known[0]

    def _scale_of_value(self, value) -> Scale | None:
        info = self.model.symbols.loss(value.qualname)
        if info is None or value.origin is None or value.facts is None:
            return None
        options = value.call if value.call is not None else None
        if options is not None:
            reduction = reduction_of(options.keyword, lambda node: self._option_constant(node, options))
        elif isinstance(value.origin, cst.Call):
            reduction = reduction_of(lambda name: _keyword(value.origin, name))
        else:
            return None
        if reduction not in ("mean", "sum"):
            return None
        return Scale(reduction, (value.qualname or "").rsplit(".", 1)[-1], info["kind"] in ELEMENTWISE_KINDS,
                     value.origin, value.facts)

    def _option_constant(self, node: cst.BaseExpression, call: F.Call):
        """The constant a loss option written as a name holds where the loss is made."""
        known = self.model.data.constant(node, call.scope, call.order)
        return known.value if known is not None else None

    def _binary_scale(self, expr: cst.BinaryOperation, scope, order, facts, path, depth) -> Scale | None:
        operator = expr.operator
        if isinstance(operator, cst.Divide):
            left = self.scale(expr.left, scope, order, facts, path, depth + 1)
            return self._divided(left, expr.right, expr, scope, order) if left is not None else None
        if isinstance(operator, cst.Multiply):
            for side, other in ((expr.left, expr.right), (expr.right, expr.left)):
                found = self.scale(side, scope, order, facts, path, depth + 1)
                if found is not None:
                    if found.reduction == "mean" and \
                            self.divisor(other, scope, order).kind in ("batch_size", "batch_count"):
                        return replace(found, reduction="sum", weighted=True)
                    return found
            return None
        if isinstance(operator, (cst.Add, cst.Subtract)):
            left = self.scale(expr.left, scope, order, facts, path, depth + 1)
            right = self.scale(expr.right, scope, order, facts, path, depth + 1)
            if left is not None and right is not None and left.reduction != right.reduction:
                return None  # mixed: see mixed_terms
            return left or right
        return None

    def _divided(self, scale: Scale, divisor, node, scope, order) -> Scale | None:
        """A sum divided by the batch size (or by a count measured on the batch: unmasked
        tokens, a weight sum) is a mean; divided by a constant (accumulation steps,
        a temperature) it stays a sum; divided by a parameter nothing is known."""
        if scale.reduction != "sum":
            return scale
        counts = self.divisor(divisor, scope, order).kind
        if counts == "batch_size":
            return replace(scale, reduction="mean", per_sample=node, weighted=False,
                           per_sample_facts=self.model.home_of_scope(scope)[0])
        constant = _is_constant(divisor, scope, order) if counts != "batch_count" else False
        if constant is None:
            return None
        if constant:
            return scale
        return replace(scale, reduction="mean", per_sample=None, weighted=False, per_element=True)

    def _call_scale(self, expr: cst.Call, scope, order, facts, path, depth) -> Scale | None:
        func = expr.func
        reduced, how = None, None
        if isinstance(func, cst.Attribute) and func.attr.value in ("sum", "mean") and not expr.args:
            reduced, how = func.value, func.attr.value  # `crit_none(out, y).sum()`
        elif len(expr.args) == 1 and expr.args[0].keyword is None and not expr.args[0].star:
            qualified = self.model.names_for(facts).qualified(func, scope, order)
            if qualified in ("torch.sum", "torch.mean"):
                reduced, how = expr.args[0].value, qualified[6:]  # `torch.sum(crit_none(out, y))`
            elif qualified is None and isinstance(func, cst.Name) and func.value == "sum" \
                    and isinstance(expr.args[0].value, (cst.ListComp, cst.GeneratorExp)):
                # `sum([crit(p, y) for p in outputs])`: the terms' own scale (a sum of heads)
                return self.scale(expr.args[0].value.elt, scope, order, facts, path, depth + 1)
        if reduced is not None:
            inner = self.model.values.infer(reduced, scope, order, facts, path)
            # by name, so that a criterion that may be one of several losses reads the same every run
            for value in sorted(inner, key=lambda v: (v.kind, v.qualname or "")):  # `crit_none(out, y).sum()`
                info = self.model.symbols.loss(value.qualname) if value.kind == "loss" else None
                options = value.call.keyword if value.call is not None else (lambda name: None)
                if info is not None and reduction_of(options) == "none":
                    return Scale(how, (value.qualname or "").rsplit(".", 1)[-1], info["kind"] in ELEMENTWISE_KINDS,
                                 value.origin or expr, value.facts or facts)
        # A project helper's own return says more than the loss value inferred
        # through it: `return F.bce(x, y, reduction="sum") / x.size(0)` is a mean.
        for returned, function, owner_facts, owner_path in self._returns_of(expr, scope, order, facts, path):
            found = self.scale(returned.value, function, returned.order, owner_facts, owner_path, depth + 1)
            if found is not None:
                return found
        return self._value_scale(expr, scope, order, facts, path)

    def _returns_of(self, expr: cst.Call, scope, order, facts, path) -> list:
        """(return, function, facts, path) of the project function, loss module or
        model method `expr` calls (`loss_function(...)`, `model.loss(...)`, `crit(...)`)."""
        found = []
        callees = self.model.values.infer(expr.func, scope, order, facts, path)
        if not callees and isinstance(expr.func, cst.Attribute):
            # `model.loss_function(...)`: a method of a model class
            for value in self.model.values.infer(expr.func.value, scope, order, facts, path):
                if value.kind == "module" and value.module is not None:
                    method = value.module.method(expr.func.attr.value)
                    if method is not None:
                        found.extend((r, method[0], method[1].facts, method[1].path) for r in method[0].returns)
            return found
        for callee in callees:
            if callee.kind == "function" and callee.definition is not None:
                function = callee.definition.fact
                found.extend((r, function, callee.definition.facts, callee.definition.path)
                             for r in function.returns)
            elif callee.kind == "module" and callee.module is not None:
                method = callee.module.method("forward")
                if method is not None:
                    found.extend((r, method[0], method[1].facts, method[1].path) for r in method[0].returns)
        return [item for item in found if item[0].value is not None]

    def full_sum(self, expr: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                 depth: int = 0) -> Scale | None:
        """`-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())`: a sum over every
        element of tensors computed from the batch (not of the model's weights)."""
        expr = strip_scalar(expr)
        if depth > 8:  # `eta = eta * 0.5` under `global eta` finds itself
            return None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
            # `-0.5 * torch.sum(...)`, `beta * kl`: a weight times the sum
            return self.full_sum(expr.right, scope, order, depth + 1) or \
                self.full_sum(expr.left, scope, order, depth + 1)
        if isinstance(expr, cst.UnaryOperation):
            return self.full_sum(expr.expression, scope, order, depth + 1)
        if isinstance(expr, cst.Name):
            found = lookup(scope, expr.value, order)
            if found is not None and isinstance(found[1].fact, F.Assign) and not found[1].path \
                    and found[1].fact.kind == "assign" and found[1].fact.value is not None:
                fact = found[1].fact
                return self.full_sum(fact.value, fact.scope, fact.order, depth + 1)
            return None
        if not isinstance(expr, cst.Call):
            return None
        summed = None
        qualified = self.model.names.qualified(expr.func, scope, order)
        if qualified == "torch.sum" and len(expr.args) == 1:
            summed = expr.args[0].value
        elif isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "sum" and not expr.args \
                and qualified is None:
            summed = expr.func.value
        if summed is None or not _from_batch(summed, scope, order) \
                or self._shares_of_batch(summed, scope, order, self.model.facts, self.model.path):
            return None
        return Scale("sum", "a sum over every element", True, expr, self.model.facts, is_loss=False)

    def _shares_of_batch(self, expr: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                         facts: F.FileFacts, path: Path | None, depth: int = 0) -> bool:
        """Whether every value `expr` may hold was divided by a count over the whole
        batch (`torch.sum(sq, [1, 2]) / torch.sum(mask)`, `per_sample / x.size(0)`):
        its sum is a mean over the batch, not a sum. Followed through locals and the
        tuple a project model or function returns (`out, l_dur = net(x)`)."""
        expr = strip_scalar(expr)
        if expr is None or depth > 6:
            return False
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Divide):
            return _whole_batch_count(expr.right) or \
                self._shares_of_batch(expr.left, scope, order, facts, path, depth + 1)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
            return self._shares_of_batch(expr.left, scope, order, facts, path, depth + 1) or \
                self._shares_of_batch(expr.right, scope, order, facts, path, depth + 1)
        if not isinstance(expr, cst.Name):
            return False
        found = lookup_reaching(scope, expr.value, order)
        if found is None:
            return False
        bindings = found[1]
        for binding in bindings:
            fact = binding.fact
            if not isinstance(fact, F.Assign) or fact.kind != "assign" or fact.value is None:
                return False
            if not binding.path:
                where = [(fact.value, fact.scope, fact.order, facts, path)]
            elif len(binding.path) == 1 and isinstance(fact.value, cst.Call):
                where = self._returned_items(fact.value, binding.path[0], fact.scope, fact.order, facts, path)
            else:
                return False
            if not where or not all(self._shares_of_batch(value, inner_scope, inner_order, inner_facts,
                                                          inner_path, depth + 1)
                                    for value, inner_scope, inner_order, inner_facts, inner_path in where):
                return False
        return bool(bindings)

    def _returned_items(self, call: cst.Call, index: int, scope, order, facts, path) -> list:
        """(item, scope, order, facts, path) of item `index` of each tuple the project
        function or model `call` calls returns; empty when a return is no such tuple."""
        found = []
        for returned, function, owner_facts, owner_path in self._returns_of(call, scope, order, facts, path):
            items = returned.value
            if not isinstance(items, cst.Tuple) or index >= len(items.elements) or \
                    any(isinstance(e, cst.StarredElement) for e in items.elements):
                return []
            found.append((items.elements[index].value, function, returned.order, owner_facts, owner_path))
        return found

    # -- divisors ----------------------------------------------------------------------

    def divisor(self, divisor: cst.BaseExpression | None, scope: F.Scope, order: int | None,
                depth: int = 0) -> Divisor:
        """What `divisor` counts: the samples of a dataset (`len(loader.dataset)`, a
        counter of `x.size(0)`), the batches of a loader (`len(loader)`, a counter of
        1, `i + 1`), or the size of one batch (`x.size(0)`, `len(y)`, `batch_size`)."""
        divisor = _strip_number(divisor)
        if divisor is None or depth > 3:
            return Divisor(None)
        if _is_size_zero(divisor):
            return Divisor("batch_size")
        if _batch_count(divisor, scope, order):
            return Divisor("batch_count")
        if isinstance(divisor, cst.Call) and dotted_name(divisor.func) == "len" and divisor.args:
            return self._length(divisor.args[0].value, scope, order)
        if isinstance(divisor, cst.BinaryOperation) and isinstance(divisor.operator, cst.Add) \
                and literal_number(divisor.right) == 1 and isinstance(divisor.left, cst.Name) \
                and _is_enumerate_index(divisor.left, scope, order):
            return Divisor("batches")  # `i + 1` where `for i, batch in enumerate(loader)`
        if isinstance(divisor, (cst.Name, cst.Attribute)):
            text = dotted_name(divisor) or ""
            found = words(text)
            if {"batch", "size"} <= found or found & {"bs", "bsz"}:
                return Divisor("batch_size")
            if any(group <= found for group in _BATCH_COUNT_WORDS):
                return Divisor("batches")
            if found & {"samples", "examples"} or {"dataset", "size"} <= found:
                return Divisor("samples")
            if isinstance(divisor, cst.Name):
                return self._named_count(divisor, scope, order, depth)
        return Divisor(None)

    def _length(self, inner: cst.BaseExpression, scope, order) -> Divisor:
        if isinstance(inner, cst.Attribute) and inner.attr.value in ("dataset", "sampler"):
            subset = inner.attr.value == "dataset" and self._samples_subset(inner.value, scope, order)
            return Divisor("samples", dotted_name(inner.value), whole_dataset_of_subset=subset)
        values = self.model.values.infer(inner, scope, order)
        if any(v.kind == "loader" for v in values):
            return Divisor("batches", dotted_name(inner))
        if any(v.kind == "batch" for v in values):
            return Divisor("batch_size")
        found = words(self.model.code(inner))
        if found & {"loader", "dl", "iterator", "batches", "dataloader"}:
            return Divisor("batches", dotted_name(inner))
        if found & {"dataset", "ds", "samples", "examples"}:
            return Divisor("samples")
        return Divisor(None)

    def _samples_subset(self, loader: cst.BaseExpression, scope, order) -> bool:
        """The loader is built with a sampler that draws a subset of its dataset's indices
        (`SubsetRandomSampler(idx)`, a train/validation split of one dataset)."""
        for value in self.model.values.infer(loader, scope, order):
            if value.kind != "loader" or value.call is None:
                continue
            sampler = value.call.keyword("sampler")
            where, at = value.call.scope, value.call.order
            if isinstance(sampler, cst.Name):  # `sampler=train_sampler`: what it was made by
                found = lookup(where, sampler.value, at)
                fact = found[1].fact if found is not None else None
                if isinstance(fact, F.Assign) and fact.kind == "assign" and not found[1].path:
                    sampler, where, at = fact.value, fact.scope, fact.order
            if isinstance(sampler, cst.Call):
                made = self.model.names_for(self.model.home_of_scope(where)[0]).qualified(sampler.func, where, at) \
                    or dotted_name(sampler.func) or ""
                if "Subset" in made.rsplit(".", 1)[-1]:
                    return True
        return False

    def _named_count(self, name: cst.Name, scope, order, depth) -> Divisor:
        """A local that holds a count: `b = x.size(0)`, or a counter `n += 1` (batches)
        or `n += x.size(0)` (samples)."""
        found = lookup(scope, name.value, order)
        if found is None:
            return Divisor(None)
        owner, binding = found
        fact = binding.fact
        counted = {self._increment(aug.value, aug.scope, aug.order)
                   for aug in owner.aug_assigns
                   if dotted_name(aug.target) == name.value
                   and isinstance(aug.node.operator, cst.AddAssign)}  # type: ignore[attr-defined]
        if len(counted) == 1 and None not in counted:
            return Divisor(counted.pop())
        if isinstance(fact, F.Assign) and fact.kind == "assign" and not binding.path and fact.value is not None \
                and not counted:
            return self.divisor(fact.value, fact.scope, fact.order, depth + 1)
        if isinstance(fact, F.Assign) and fact.kind == "assign" and binding.path == (0,) and not counted \
                and _whole_size(fact.value):
            return Divisor("batch_size")  # `n, c, h, w = logits.size()`: dim 0, as `logits.size(0)`
        return Divisor(None)

    def _increment(self, value, scope, order) -> str | None:
        if literal_number(value) == 1:
            return "batches"
        if self.divisor(value, scope, order, depth=3).kind in ("batch_size", "batch_count"):
            return "samples"
        return None

    @cached_property
    def divisions(self) -> list[Division]:
        """Every `a / b` and `a /= b` of the file in assignments, returns and calls,
        each once, with the first of those facts that holds it (a walk of the whole
        file's expressions, asked by several of TL203's questions)."""
        facts = self.model.facts
        found: list[Division] = []
        seen: set[int] = set()
        walked: set[int] = set()  # nodes already inside a walked expression: each subtree once
        located = [*facts.assigns, *facts.aug_assigns, *(r for f in facts.functions for r in f.returns),
                   *facts.scope.returns, *facts.calls]
        for fact in located:
            if isinstance(fact, F.AugAssign):
                if isinstance(fact.node.operator, cst.DivideAssign) and id(fact.node) not in seen:
                    seen.add(id(fact.node))
                    found.append(Division(fact, fact.node, fact.target, fact.value))
                root = fact.value
            else:
                root = fact.node if isinstance(fact, F.Call) else fact.value
            if root is None or id(root) in walked:
                continue
            for node in iter_nodes(root):
                walked.add(id(node))
                if type(node) is cst.BinaryOperation and type(node.operator) is cst.Divide \
                        and id(node) not in seen:
                    seen.add(id(node))
                    found.append(Division(fact, node, node.left, node.right))
        return found

    # -- running totals ----------------------------------------------------------------------

    @cached_property
    def accumulations(self) -> list[Accumulation]:
        """Running totals and lists of per-batch losses in this file, with the places
        they are averaged."""
        found: list[Accumulation] = []
        for aug in self.model.facts.aug_assigns:
            if isinstance(aug.node.operator, cst.AddAssign):  # type: ignore[attr-defined]
                scale = self.scale(aug.value, aug.scope, aug.order)
                total = dotted_name(aug.target)
                if scale is not None and total is not None:
                    weight = self._weight(aug.value, aug.scope, aug.order) \
                        if scale.reduction == "mean" and scale.is_loss else None
                    found.append(Accumulation(total, scale, aug.node, aug.scope, _loader_of(aug.loop),
                                              weight=weight))
        for call in self.model.facts.calls:
            if call.method == "append" and call.receiver is not None and len(call.node.args) == 1:
                scale = self.scale(call.node.args[0].value, call.scope, call.order)
                total = dotted_name(call.receiver)
                if scale is not None and total is not None:
                    found.append(Accumulation(total, scale, call.node, call.scope, _loader_of(call.loop)))
            elif dotted_name(call.func) == "sum" and call.node.args and \
                    isinstance(call.node.args[0].value, cst.GeneratorExp):
                generator = call.node.args[0].value
                scale = self.scale(generator.elt, call.scope, call.order)
                if scale is not None:
                    loader = dotted_name(_unwrap_iterable(generator.for_in.iter))
                    found.append(Accumulation(None, scale, call.node, call.scope, loader))
        for accumulation in found:
            accumulation.averagings = self._averagings(accumulation)
        return found

    def _weight(self, value, scope, order) -> cst.BaseExpression | None:
        """`w` of `float(loss) * w` (or `w * loss.item()`): the factor beside the loss."""
        value = strip_scalar(value)
        if not (isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Multiply)):
            return None
        for side, other in ((value.left, value.right), (value.right, value.left)):
            if self.scale(side, scope, order) is not None:
                return other
        return None

    def _averagings(self, accumulation: Accumulation) -> list[Averaging]:
        scope = accumulation.scope
        function = scope.function or scope
        start = self.model.line_of(accumulation.node)
        total = accumulation.total
        found: list[Averaging] = []
        for node in iter_nodes(function.node):
            node_type = type(node)
            if total is None:
                if node_type is cst.BinaryOperation and type(node.operator) is cst.Divide \
                        and node.left is accumulation.node:
                    found.append(Averaging(node, node.right, self.divisor(node.right, scope, None)))
                continue
            # The line is asked only of the places that average `total`: locating a
            # node generates its statement's code.
            if node_type is cst.BinaryOperation:
                if type(node.operator) is not cst.Divide:
                    continue
                left = strip_scalar(node.left)
                if not (dotted_name(left) == total or isinstance(left, cst.Call) and dotted_name(left.func) == "sum"
                        and left.args and dotted_name(left.args[0].value) == total):
                    continue
                if self.model.line_of(node) >= start:
                    found.append(Averaging(node, node.right, self._total_divisor(node.right, accumulation)))
            elif node_type is cst.AugAssign:
                if isinstance(node.operator, cst.DivideAssign) and dotted_name(node.target) == total \
                        and self.model.line_of(node) >= start:
                    found.append(Averaging(node, node.value, self._total_divisor(node.value, accumulation)))
            elif node_type is cst.Call:
                if _means_list(node, total) and self.model.line_of(node) >= start:
                    found.append(Averaging(node, None, Divisor("batches")))
        return found

    def _total_divisor(self, divisor, accumulation: Accumulation) -> Divisor:
        """`len(losses)` of the list of per-batch losses counts batches; a counter
        that adds up the weight each batch's mean is multiplied by sums the weights."""
        inner = _strip_number(divisor)
        scope = accumulation.scope
        if isinstance(inner, cst.Call) and dotted_name(inner.func) == "len" and inner.args \
                and dotted_name(inner.args[0].value) == accumulation.total:
            return Divisor("batches")
        if accumulation.weight is not None and isinstance(inner, cst.Name) \
                and self._sums_weight(inner, accumulation.weight, scope):
            return Divisor("weights")
        return self.divisor(divisor, scope, None)

    def _sums_weight(self, counter: cst.Name, weight: cst.BaseExpression, scope: F.Scope) -> bool:
        """Whether every `counter += ...` adds `weight` as written (`n += w` beside
        `total += float(loss) * w`)."""
        found = lookup(scope, counter.value, None)
        if found is None:
            return False
        code = self.model.code(_strip_number(weight))
        added = [aug.value for aug in found[0].aug_assigns
                 if dotted_name(aug.target) == counter.value
                 and isinstance(aug.node.operator, cst.AddAssign)]  # type: ignore[attr-defined]
        return bool(added) and all(self.model.code(_strip_number(value)) == code for value in added)


_BATCH_COUNT_WORDS = ({"num", "batches"}, {"n", "batches"}, {"batch", "count"}, {"steps"}, {"iters"},
                      {"nb", "batches"}, {"batches"})
# Wrappers around the value of one batch's loss that keep its scale.
_SCALAR_METHODS = frozenset({"item", "detach", "cpu", "numpy", "tolist", "clone", "float", "double"})


def strip_scalar(expr: cst.BaseExpression | None) -> cst.BaseExpression | None:
    """`loss.item()`, `loss.data[0]`, `float(loss)`, `loss.detach().cpu()` -> `loss`."""
    for _ in range(8):
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
                expr.func.attr.value in _SCALAR_METHODS and not expr.args:
            expr = expr.func.value
        elif isinstance(expr, cst.Call) and dotted_name(expr.func) in ("float",) and len(expr.args) == 1:
            expr = expr.args[0].value
        elif isinstance(expr, cst.Attribute) and expr.attr.value == "data":
            expr = expr.value
        elif isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Attribute) \
                and expr.value.attr.value == "data":
            expr = expr.value.value  # `loss.data[0]` (old PyTorch)
        else:
            return expr
    return expr


def _strip_number(expr: cst.BaseExpression | None) -> cst.BaseExpression | None:
    """`float(n)`, `max(n, 1)`, `(n)` -> `n`."""
    for _ in range(4):
        if isinstance(expr, cst.Call) and dotted_name(expr.func) in ("float", "int") and len(expr.args) == 1:
            expr = expr.args[0].value
        elif isinstance(expr, cst.Call) and dotted_name(expr.func) == "max" and len(expr.args) == 2:
            numbers = [literal_number(a.value) for a in expr.args]
            if numbers[0] is not None:
                expr = expr.args[1].value
            elif numbers[1] is not None:
                expr = expr.args[0].value
            else:
                return expr
        else:
            return expr
    return expr


def _is_constant(node: cst.BaseExpression | None, scope: F.Scope, order: int | None) -> bool | None:
    """Whether a divisor is a number fixed for the run (a literal, a CONSTANT,
    `args.steps`, a local bound to one) rather than a count measured on the batch
    (`mask.sum()`, `n_tokens`); None for a parameter, which may be either."""
    node = _strip_number(node)
    if literal_number(node) is not None or isinstance(node, cst.Attribute):
        return True
    if isinstance(node, cst.Name):
        if node.value.isupper():
            return True
        found = lookup(scope, node.value, order)
        if found is not None and isinstance(found[1].fact, F.Param):
            return None
        if found is not None and isinstance(found[1].fact, F.Assign) and found[1].fact.kind == "assign" \
                and not found[1].path:
            return literal_number(found[1].fact.value) is not None
    return False


def _is_size_zero(node: cst.BaseExpression) -> bool:
    """`x.size(0)`, `x.shape[0]`, `x.size()[0]`."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size":
        return len(node.args) == 1 and literal_number(node.args[0].value) == 0
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
            and literal_number(node.slice[0].slice.value) == 0:
        value = node.value
        return isinstance(value, cst.Attribute) and value.attr.value == "shape" or \
            isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and \
            value.func.attr.value == "size" and not value.args
    return False


# Words of an attribute that counts something: `num_graphs`, `n_nodes`, `count`.
_COUNT_WORDS = frozenset({"num", "n", "nb", "count", "numel"})
# Methods that keep a mask's values (`mask.float().sum()`).
_MASK_CASTS = frozenset({"float", "long", "int", "bool", "double", "detach", "cpu"})


def _batch_count(node: cst.BaseExpression, scope: F.Scope, order: int | None) -> bool:
    """A count measured on the batch of this iteration: `data.num_graphs`,
    `batch.num_nodes`, `y.numel()`, `mask.sum()` (`.item()` or not) on a value bound
    in a loop (`for data in loader`, or computed in its body). It is the number of
    things (samples, graphs, nodes, unmasked targets) the batch's mean averages over;
    the same words on a dataset, the config or `self` are not read as one."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "item" \
            and not node.args:
        node = node.func.value
    if isinstance(node, cst.Attribute):
        return bool(words(node.attr.value) & _COUNT_WORDS) and _per_iteration(node.value, scope, order)
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return False
    method, receiver = node.func.attr.value, node.func.value
    if method == "numel" and not node.args:
        return _per_iteration(receiver, scope, order)
    if method == "sum" and not node.args:
        pass  # `mask.sum()`
    elif method == "sum" and dotted_name(receiver) == "torch" and len(node.args) == 1:
        receiver = node.args[0].value  # `torch.sum(mask)`
    else:
        return False
    for _ in range(4):
        if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) \
                and receiver.func.attr.value in _MASK_CASTS and not receiver.args:
            receiver = receiver.func.value
        else:
            break
    text = dotted_name(receiver)
    return text is not None and "mask" in words(text) and _per_iteration(receiver, scope, order)


def _whole_batch_count(node: cst.BaseExpression) -> bool:
    """A count over the whole batch: `torch.sum(mask)`, `mask.sum()` (no dim: every
    element), `x.numel()`, `x.size(0)`. Not `mask.sum(1)`, one count per sample."""
    node = _strip_number(node)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "item" \
            and not node.args:
        node = node.func.value
    if _is_size_zero(node):
        return True
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return False
    method = node.func.attr.value
    if method in ("sum", "numel") and not node.args:
        return True
    return method == "sum" and dotted_name(node.func.value) == "torch" and len(node.args) == 1 \
        and node.args[0].keyword is None


# Words of a name holding a whole dataset or loader: `train_set`, `valset`, `ds`, `dl`.
_WHOLE_DATA_SUFFIXES = ("set", "ds", "loader", "dl", "dataloader")


def _per_iteration(expr: cst.BaseExpression, scope: F.Scope, order: int | None) -> bool:
    """Whether `expr` (`data`, `data.y`, `batch["x"].mask`) is rooted at a name bound
    by a loop (its target, or an assignment in its body): it changes with each batch.
    A dataset or loader rebuilt each epoch (`train_set = ...` in the epoch loop) is not."""
    for _ in range(8):
        if isinstance(expr, (cst.Attribute, cst.Subscript)):
            expr = expr.value
        else:
            break
    if not isinstance(expr, cst.Name) or any(word.endswith(_WHOLE_DATA_SUFFIXES) for word in words(expr.value)):
        return False
    found = lookup(scope, expr.value, order)
    if found is None or not isinstance(found[1].fact, F.Assign):
        return False
    fact = found[1].fact
    return fact.kind == "for" or fact.loop is not None


def _is_enumerate_index(name: cst.Name, scope: F.Scope, order: int | None) -> bool:
    found = lookup(scope, name.value, order)
    if found is None or not isinstance(found[1].fact, F.Assign) or found[1].fact.kind != "for":
        return False
    iterated = found[1].fact.value
    return isinstance(iterated, cst.Call) and dotted_name(iterated.func) == "enumerate" and \
        found[1].path[:1] == (0,)


def _unwrap_iterable(node: cst.BaseExpression | None) -> cst.BaseExpression | None:
    """`enumerate(tqdm(loader))` -> `loader`."""
    for _ in range(4):
        if isinstance(node, cst.Call) and node.args and dotted_name(node.func) in (
                "enumerate", "tqdm", "tqdm.tqdm", "iter", "list", "tqdm.auto.tqdm", "trange"):
            node = node.args[0].value
        else:
            return node
    return node


def _loader_of(loop: F.Loop | None) -> str | None:
    """The loader (as written) of the innermost `for` loop around a statement."""
    while loop is not None:
        if loop.kind == "for" and loop.iter is not None:
            name = dotted_name(_unwrap_iterable(loop.iter))
            if name is not None:
                return name
        loop = loop.parent
    return None


def _means_list(node: cst.Call, total: str) -> bool:
    """`np.mean(losses)`, `statistics.mean(losses)`, `torch.tensor(losses).mean()`."""
    func = dotted_name(node.func) or ""
    if func.rsplit(".", 1)[-1] in ("mean", "average", "fmean") and node.args and \
            dotted_name(node.args[0].value) == total:
        return True
    if isinstance(node.func, cst.Attribute) and node.func.attr.value == "mean" and not node.args:
        inner = node.func.value
        return isinstance(inner, cst.Call) and inner.args and dotted_name(inner.args[0].value) == total and \
            (dotted_name(inner.func) or "").rsplit(".", 1)[-1] in ("tensor", "stack", "cat", "array", "Tensor")
    return False


def _from_batch(expr: cst.BaseExpression, scope: F.Scope, order: int | None) -> bool:
    """An expression over the batch's tensors (parameters, locals), not over the
    model's weights (`self.fc.weight`, `model.parameters()`)."""
    names = False
    for node in iter_nodes(expr):
        if isinstance(node, cst.Attribute) and node.attr.value in ("weight", "bias", "parameters",
                                                                   "named_parameters"):
            return False
        if isinstance(node, cst.Name) and node.value in ("self",):
            return False
        if isinstance(node, cst.Name):
            names = True
    return names


def _keyword(node: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


# Methods of tensors, lists, optimizers and writers called with two arguments or more.
_NOT_LOSS_METHODS = PASSTHROUGH_METHODS | NOT_KEEPING_PROBABILITIES | frozenset(
    {"add", "sub", "mul", "div", "add_", "mul_", "sub_", "div_", "addcmul", "addcmul_", "addcdiv_",
     "index_add_", "scatter", "scatter_", "scatter_add_", "gather", "index_select", "narrow", "repeat",
     "split", "chunk", "masked_fill_", "clamp", "clamp_", "where", "append", "extend", "insert",
     "update", "setdefault", "get", "pop", "format", "join", "replace", "write", "add_scalar",
     "add_scalars", "add_image", "add_histogram", "log", "log_metrics", "register_buffer",
     "register_parameter", "add_module", "load_state_dict", "save", "step", "matmul", "bmm", "mm"})


def _may_call_loss_object(call: F.Call) -> bool:
    """`criterion(out, y)`, `self.loss(out, y)`, `losses["ce"](out, y)`,
    `nn.CrossEntropyLoss()(out, y)` (built and called at once): not a method call
    such as `x.view(...)`, which cannot be a loss object."""
    func = call.func
    if isinstance(func, (cst.Name, cst.Call)):
        return True
    if isinstance(func, cst.Attribute):
        return isinstance(func.value, cst.Name) and func.value.value in ("self", "cls") \
            or call.method in ("forward",)
    return isinstance(func, cst.Subscript)


def _module_chain(module: ModuleClass) -> list[ModuleClass]:
    chain = [module]
    for base in module.bases:
        chain.extend(_module_chain(base))
    return chain


def _is_static_function(function: F.Function) -> bool:
    return any(dotted_name(d) in ("staticmethod", "classmethod") for d in function.decorators)


def _derives_from(expr: cst.BaseExpression | None, param: F.Param, scope: F.Scope, order: int | None,
                  depth: int = 0) -> bool:
    """Whether `expr` is parameter `param` rearranged: methods called on it
    (``x.transpose(1, 2).contiguous()``), indexing (``x[mask]``), a torch
    function of it as first argument, through the locals that hold those."""
    for _ in range(16):
        if isinstance(expr, cst.Subscript):
            expr = expr.value  # `x[mask]`
        elif isinstance(expr, cst.Call) and expr.args and _rearranging_function(expr.func):
            expr = expr.args[0].value  # `torch.flatten(x, 1)`
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in _REARRANGING_METHODS:
            expr = expr.func.value  # `x.view(-1, c)`
        else:
            break  # `torch.log(x)`, `x.log()`: other numbers than the input's
    if not isinstance(expr, cst.Name) or depth > 8:
        return False
    found = lookup(scope, expr.value, order)
    if found is None:
        return False
    fact = found[1].fact
    if fact is param:
        return True
    if isinstance(fact, F.Assign) and fact.kind == "assign" and not found[1].path and fact.value is not None:
        return _derives_from(fact.value, param, fact.scope, fact.order, depth + 1)
    return False


# Tensor methods that move, select or retype the numbers of their receiver.
_REARRANGING_METHODS = (PASSTHROUGH_METHODS | frozenset(
    {"narrow", "index_select", "masked_select", "movedim", "moveaxis", "gather", "select", "repeat",
     "swapaxes", "swapdims", "roll", "flip", "unfold", "take_along_dim"})) - NOT_KEEPING_PROBABILITIES


def _rearranging_function(func: cst.BaseExpression) -> bool:
    """`torch.flatten`, `torch.transpose`...: functions whose first argument is the
    tensor they return rearranged."""
    dotted = dotted_name(func) or ""
    head, _, rest = dotted.partition(".")
    return head == "torch" and f"torch.{rest}" in REARRANGING_FUNCTIONS


def _division_of(statement: cst.CSTNode, target: cst.CSTNode) -> cst.BinaryOperation | None:
    for node in iter_nodes(statement):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            if any(inner is target for inner in iter_nodes(node.left)):
                return node
    return None


def _assigned_name(statement: cst.CSTNode, value: cst.CSTNode) -> str | None:
    if isinstance(statement, cst.Assign) and statement.value is value and len(statement.targets) == 1:
        return dotted_name(statement.targets[0].target)
    if isinstance(statement, cst.AnnAssign) and statement.value is value:
        return dotted_name(statement.target)
    return None


def _whole_size(node: cst.BaseExpression | None) -> bool:
    """`x.size()` or `x.shape`: every dim of a tensor, to be unpacked."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return node.func.attr.value == "size" and not node.args
    return isinstance(node, cst.Attribute) and node.attr.value == "shape"
