"""Loss calls: where a loss is computed, with what options, and how it is scaled.

``criterion(out, y)`` where ``criterion = nn.CrossEntropyLoss(reduction="sum")``
and ``F.nll_loss(logp, y)`` are both :class:`LossCall` objects; their options
come from the constructor or the call. :meth:`Losses.normalization` says
whether the summed loss is divided, and by what.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.modules import literal_number
from torchlint.semantic.shapes import Shapes
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel


@dataclass(eq=False)
class LossCall:
    call: F.Call
    kind: str  # cross_entropy, nll, bce, ...
    qualname: str
    constructor: F.Call | None  # nn.CrossEntropyLoss(...) for class-based losses
    constructor_facts: F.FileFacts | None

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
        reduction = self.option("reduction")
        if isinstance(reduction, cst.SimpleString):
            value = reduction.evaluated_value
            return value if isinstance(value, str) else None
        if reduction is not None:
            return None
        size_average, reduce = self.option("size_average"), self.option("reduce")
        if reduce is not None and literal_number(reduce) == 0:
            return "none"
        if size_average is not None and literal_number(size_average) == 0:
            return "sum"
        return "mean"

    @property
    def reduction_node(self) -> cst.CSTNode | None:
        return self.option("reduction") or self.option("size_average")


@dataclass(frozen=True)
class Normalization:
    divisor: cst.BaseExpression | None  # None: not divided
    node: cst.CSTNode | None  # where the division is written


class Losses:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model

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
        if not constructs_loss and not self.model.imports_local_modules:
            # A loss object used here is built here (criteria passed in from other
            # files are not followed), so a file that builds none has no class-based call.
            return found
        for call in model.facts.calls:
            if not _may_call_loss_object(call):
                continue
            for value in model.values.at(call.func, call):
                if value.kind == "loss_fn" and value.qualname is not None:
                    info = model.symbols.loss(value.qualname)
                    if info is not None:
                        found.append(LossCall(call, info["kind"], value.qualname, value.call, value.facts))
                        break
        return found

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
        for assign in scope.assigns:
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


def _may_call_loss_object(call: F.Call) -> bool:
    """`criterion(out, y)`, `self.loss(out, y)`, `losses["ce"](out, y)`: not a method
    call such as `x.view(...)`, which cannot be a loss object."""
    func = call.func
    if isinstance(func, cst.Name):
        return True
    if isinstance(func, cst.Attribute):
        return isinstance(func.value, cst.Name) and func.value.value in ("self", "cls") \
            or call.method in ("forward",)
    return isinstance(func, cst.Subscript)


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
