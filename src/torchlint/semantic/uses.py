"""Where a local value goes after it is computed: the uses of a name in one scope.

A fix that changes a value (``total += loss`` to ``total += loss.item()``) is
safe only if nothing downstream depends on the value being a tensor with a
graph: it must not reach ``backward()``, leave the function, or be handed to
code we cannot see. This module follows a name through the assignments of its
scope (``avg = total / n`` makes ``avg`` carry it too) and sorts every place
it is read into one of those outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.semantic import facts as F
from torchlint.semantic.walker import dotted_name, iter_nodes

if TYPE_CHECKING:
    from torchlint.semantic.model import SemanticModel

#: Calls whose argument is only looked at as a number (printed, logged, compared, stored as a metric).
NUMBER_SINKS = frozenset({
    "print", "str", "repr", "float", "int", "round", "abs", "format", "len", "bool",
    "log", "info", "debug", "warning", "warn", "error", "critical", "write", "add_scalar",
    "add_scalars", "set_postfix", "set_postfix_str", "set_description", "log_metrics",
    "log_dict", "item", "tolist", "numpy", "cpu", "update", "append", "extend", "isnan",
    "isfinite", "isinf", "math.isnan", "math.isfinite", "min", "max",
})

#: Calls that send a tensor into autograd's backward pass.
BACKWARD_CALLS = frozenset({"backward", "manual_backward", "scale", "grad"})


@dataclass
class Uses:
    """How the value of a name (and of the names computed from it) is used in a scope."""

    names: set[str] = field(default_factory=set)  # the name and every local name derived from it
    backpropagated: bool = False  # reaches backward(), autograd.grad or a scaler/accelerator backward
    returned: bool = False  # leaves the function by return or yield
    escapes: bool = False  # stored on an object, in a container, or passed to an unknown call

    @property
    def only_read_as_number(self) -> bool:
        return not (self.backpropagated or self.returned or self.escapes)


def uses_of(model: SemanticModel, scope: F.Scope, name: str, after: int = -1) -> Uses:
    """The uses of `name` in `scope` (the module or a function body) from order `after` on.

    Reads inside nested functions count as escapes: a closure may do anything with it.
    """
    uses = Uses(names={name})
    _derive_names(scope, uses)
    accounted: set[int] = set()
    for fact in (*scope.calls, *scope.assigns, *scope.aug_assigns, *scope.returns):
        if fact.order >= after:
            _classify(model, fact, uses, accounted)
    for read_name, nodes in model.name_reads(scope).items():
        if read_name not in uses.names:
            continue
        for node in nodes:
            if id(node) not in accounted and not _in_test(scope, node):
                uses.escapes = True
    return uses


def _derive_names(scope: F.Scope, uses: Uses) -> None:
    """Local names assigned from an expression of a tracked name carry it too."""
    changed = True
    while changed:
        changed = False
        for binding_name, bindings in scope.bindings.items():
            if binding_name in uses.names:
                continue
            for binding in bindings:
                fact = binding.fact
                if isinstance(fact, F.Assign) and fact.kind == "assign" and fact.value is not None \
                        and reads_any(fact.value, uses.names):
                    uses.names.add(binding_name)
                    changed = True
                    break


def _classify(model: SemanticModel, fact: F.Located, uses: Uses, accounted: set[int]) -> None:
    if isinstance(fact, F.Call):
        _classify_call(model, fact, uses, accounted)
    elif isinstance(fact, F.Return):
        if fact.value is not None and reads_any(fact.value, uses.names):
            uses.returned = True
            accounted.update(_read_ids(fact.value, uses.names))
    elif isinstance(fact, F.Assign):
        for target in fact.targets:
            if isinstance(target, cst.Name) and target.value in uses.names:
                accounted.add(id(target))  # a write, not a read
        if fact.value is None or not reads_any(fact.value, uses.names):
            return
        if fact.kind == "assign" and all(isinstance(t, cst.Name) for t in fact.targets):
            accounted.update(_read_ids(fact.value, uses.names))  # the targets are followed by _derive_names
        else:
            uses.escapes = True  # stored on an attribute or in a container, unpacked, iterated
    elif isinstance(fact, F.AugAssign):
        target = dotted_name(fact.target)
        for node in (fact.target, fact.value):
            accounted.update(_read_ids(node, uses.names))
        if reads_any(fact.value, uses.names) and (target is None or target not in uses.names):
            if isinstance(fact.target, cst.Name):
                uses.names.add(fact.target.value)
            else:
                uses.escapes = True


def _classify_call(model: SemanticModel, call: F.Call, uses: Uses, accounted: set[int]) -> None:
    node = call.node
    receiver_reads = call.receiver is not None and reads_any(call.receiver, uses.names)
    argument_reads = [arg for arg in call.args if reads_any(arg.value, uses.names)]
    if not receiver_reads and not argument_reads:
        return
    method = call.method or dotted_name(call.func) or ""
    if method in BACKWARD_CALLS or model.function_kind(call) == "autograd_grad":
        uses.backpropagated = True
    elif receiver_reads and not argument_reads and _is_tensor_method_read(call):
        pass  # total.item(), total.detach(), total.cpu(): a read, the result is a new value
    elif method in NUMBER_SINKS or (dotted_name(call.func) or "") in NUMBER_SINKS:
        pass
    elif receiver_reads and isinstance(call.receiver, (cst.SimpleString, cst.ConcatenatedString)):
        pass  # "{}".format(total)
    else:
        uses.escapes = True
    accounted.update(_read_ids(node, uses.names))


def _is_tensor_method_read(call: F.Call) -> bool:
    return call.method in {"item", "detach", "cpu", "numpy", "tolist", "mean", "sum", "float",
                           "double", "div", "mul", "__format__", "size", "dim", "numel"}


def _in_test(scope: F.Scope, node: cst.Name) -> bool:
    """A read in an ``if``/``while`` test or an f-string only looks at the value."""
    for test in _tests(scope):
        if any(child is node for child in iter_nodes(test)):
            return True
    return False


def _tests(scope: F.Scope) -> list[cst.CSTNode]:
    found = []
    for node in iter_nodes(scope.node):
        if isinstance(node, (cst.If, cst.While)):
            found.append(node.test)
        elif isinstance(node, (cst.FormattedString, cst.Comparison)):
            found.append(node)
    return found


def reads_any(node: cst.CSTNode | None, names: set[str]) -> bool:
    """Whether `node` reads one of `names` (a Name anywhere in it)."""
    return node is not None and any(isinstance(n, cst.Name) and n.value in names for n in iter_nodes(node))


def _read_ids(node: cst.CSTNode | None, names: set[str]) -> set[int]:
    if node is None:
        return set()
    return {id(n) for n in iter_nodes(node) if isinstance(n, cst.Name) and n.value in names}
