"""Branch conditions under assumptions about a few names.

A run of a shared function or loop body is described by the constant values
some names hold in it: ``run(loader, train=False)`` gives ``{"train": False}``,
the ``"val"`` pass of ``for phase in ("train", "val")`` gives
``{"phase": "val"}``. These helpers say which ``if`` arms such a run takes
(``if train:``, ``if phase == "train":``, ``if phase in ("val", "test"):``,
``if not is_training and phase != "train":``), so an analysis can follow only
the code that runs.
"""

from __future__ import annotations

from typing import Callable, Union

import libcst as cst

from torchlint.semantic import facts as F

Constant = Union[bool, int, float, str, None]
Assumptions = dict  # name -> Constant

_UNKNOWN = object()
UNKNOWN = _UNKNOWN  # what `literal` answers for an expression that is no literal


def flag_test(test: cst.CSTNode | None, receiver: str | None = None) -> tuple[str, bool] | None:
    """``if train:`` -> ("train", True); ``if not train:`` -> ("train", False). With
    `receiver`, a flag kept on it: ``if not self.training:`` -> ("training", False)."""
    needed = True
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, needed = test.expression, False
    if receiver is None:
        return (test.value, needed) if isinstance(test, cst.Name) else None
    if isinstance(test, cst.Attribute) and isinstance(test.value, cst.Name) and test.value.value == receiver:
        return test.attr.value, needed
    return None


def names_tested(test: cst.CSTNode | None) -> set[str]:
    """The plain names a condition reads (``phase == "val" and not train`` -> phase, train)."""
    found: set[str] = set()
    stack = [test] if test is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.add(node.value)
        elif isinstance(node, (cst.Attribute, cst.Call, cst.Subscript)):
            continue  # `args.phase`, `f(phase)`: not the name itself
        else:
            stack.extend(node.children)
    return found


def literal(node: cst.CSTNode | None) -> object:
    """The constant a literal expression writes, or _UNKNOWN."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else _UNKNOWN
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.Float):
        return float(node.evaluated_value)
    return _UNKNOWN


def literal_strings(node: cst.CSTNode | None) -> list[str] | None:
    """``("train", "val")`` / ``["train", "val"]`` -> the strings; None otherwise."""
    if not isinstance(node, (cst.Tuple, cst.List)):
        return None
    found = []
    for element in node.elements:
        if not isinstance(element, cst.Element):
            return None
        value = literal(element.value)
        if not isinstance(value, str):
            return None
        found.append(value)
    return found or None


def evaluate(test: cst.CSTNode | None, assumptions: Assumptions) -> bool | None:
    """Whether `test` holds under the assumptions: True, False, or None when unknown."""
    value = _value(test, assumptions)
    if value is _UNKNOWN:
        return None
    return bool(value)


def _value(node: cst.CSTNode | None, assumptions: Assumptions) -> object:
    if node is None:
        return _UNKNOWN
    if isinstance(node, cst.Name):
        if node.value in assumptions:
            return assumptions[node.value]
        return literal(node)
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
        return assumptions.get(f"{node.value.value}.{node.attr.value}", _UNKNOWN)  # `self.training`
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        inner = _value(node.expression, assumptions)
        return _UNKNOWN if inner is _UNKNOWN else not inner
    if isinstance(node, cst.BooleanOperation):
        left = _value(node.left, assumptions)
        right = _value(node.right, assumptions)
        if isinstance(node.operator, cst.And):
            if left is not _UNKNOWN and not left or right is not _UNKNOWN and not right:
                return False
            return _UNKNOWN if _UNKNOWN in (left, right) else True
        if left is not _UNKNOWN and left or right is not _UNKNOWN and right:
            return True
        return _UNKNOWN if _UNKNOWN in (left, right) else False
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        target = node.comparisons[0]
        left = _value(node.left, assumptions)
        operator = target.operator
        if isinstance(operator, (cst.In, cst.NotIn)):
            options = literal_strings(target.comparator)
            if left is _UNKNOWN or options is None:
                return _UNKNOWN
            inside = left in options
            return inside if isinstance(operator, cst.In) else not inside
        right = _value(target.comparator, assumptions)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        if isinstance(operator, (cst.Equal, cst.Is)):
            return left == right
        if isinstance(operator, (cst.NotEqual, cst.IsNot)):
            return left != right
        return _UNKNOWN
    if isinstance(node, (cst.SimpleString, cst.Integer, cst.Float)):
        return literal(node)
    return _UNKNOWN


def implied(branch: F.Branch, assumptions: Assumptions) -> bool | None:
    """Whether the assumptions make this arm run (True), skip (False), or neither."""
    if branch.arm not in ("body", "orelse") or not assumptions:
        return None
    holds = evaluate(branch.test, assumptions)
    if holds is None:
        return None
    return holds if branch.arm == "body" else not holds


def consistent(fact: F.Located, assumptions: Assumptions) -> bool:
    """Whether `fact` can run under the assumptions (no arm around it is skipped)."""
    branch = fact.branch
    while branch is not None:
        if implied(branch, assumptions) is False:
            return False
        branch = branch.parent
    return True


def dominates(event: F.Located, call: F.Located, assumptions: Assumptions | None = None) -> bool:
    """Whether `event` runs whenever `call` runs: every arm around the event
    also surrounds the call, or is taken under the assumptions."""
    branch = event.branch
    while branch is not None:
        if not branch.contains(call) and not implied(branch, assumptions or {}):
            return False
        branch = branch.parent
    return True


def ruled_out(arm: F.Branch | None, use: F.Branch | None, code: Callable[[cst.CSTNode], str],
              stable: Callable[[str], bool]) -> bool:
    """Whether the arms around a binding exclude the arms around a use: the same
    test written twice, taken one way at the binding and the other at the use
    (`if ctc: crit = CTCLoss() else: crit = CrossEntropyLoss()` ... `if ctc:
    crit(log_probs, ...)` sees only the CTC loss). Only tests whose names are
    `stable` (bound once, not the name being bound) count: their value cannot
    change between the two tests."""
    taken: dict[str, bool] = {}
    while use is not None:
        test = _arm_test(use, code)
        if test is not None and all(stable(name) for name in names_tested(use.test)):
            taken.setdefault(test[0], test[1])
        use = use.parent
    while arm is not None and taken:
        test = _arm_test(arm, code)
        if test is not None and taken.get(test[0], test[1]) != test[1]:
            return True
        arm = arm.parent
    return False


def _arm_test(branch: F.Branch, code: Callable[[cst.CSTNode], str]) -> tuple[str, bool] | None:
    """(the test's code, whether the arm runs when it holds), `not` folded in."""
    if branch.test is None or branch.arm not in ("body", "orelse"):
        return None
    test, holds = branch.test, branch.arm == "body"
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, holds = test.expression, not holds
    return " ".join(code(test).split()), holds
