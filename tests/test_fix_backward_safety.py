"""A safe fix never takes a tensor off a path to ``backward()``.

Every safe fix of every rule, as the installed command announces it, on every
fixture folder and on the real-world training files beside the repository
(``../shared/realworld/files``, when present), is checked by a second,
independent reading of the original code with ``ast``: the statement an edit
lands in must not feed a value that reaches ``backward()``,
``torch.autograd.grad``, a scaler's ``scale`` or a ``return`` (the caller may
backpropagate it). A safe fix that detaches a term of a loss would make
training silently drop that term: the worst bug a linter can have.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from support import FIXTURES, REPO

REALWORLD = REPO.parent / "shared" / "realworld" / "files"
BACKWARD_METHODS = {"backward", "manual_backward"}
GRAD_FUNCTIONS = {"grad", "scale"}  # torch.autograd.grad(x), scaler.scale(x)
#: What takes a tensor out of autograd: an edit that adds one of these cuts a path to backward().
DETACHING = (".detach()", ".item()", ".data", ".tolist()", ".numpy()", "float(", "torch.no_grad")


def _folders() -> list[Path]:
    folders = [p for p in sorted(FIXTURES.iterdir()) if p.is_dir() and any(p.rglob("*.py"))]
    if REALWORLD.is_dir():
        folders += sorted(p for p in REALWORLD.iterdir() if p.is_dir())
    return folders


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _names(node: ast.AST | None) -> set[str]:
    """The variables an expression reads: names and attribute chains (`self.total`), outermost."""
    if node is None:
        return set()
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        dotted = _dotted(current) if isinstance(current, (ast.Name, ast.Attribute)) else None
        if dotted is not None:
            found.add(dotted)
            continue
        stack.extend(ast.iter_child_nodes(current))
    return found


def _target_names(target: ast.AST) -> set[str]:
    """The variable a statement writes: `x`, `self.x`, the container of `x[i]`."""
    while isinstance(target, ast.Subscript):
        target = target.value
    dotted = _dotted(target)
    return {dotted} if dotted else _names(target)


def _reaching_backward(function: ast.AST) -> set[str]:
    """Names whose value flows (within `function`) into a backward pass or out of it."""
    sinks: set[str] = set()
    flows: list[tuple[set[str], set[str]]] = []  # (written names, names read into them)
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in BACKWARD_METHODS:
                sinks |= _names(func.value) | {n for a in node.args for n in _names(a)}
            elif isinstance(func, (ast.Attribute, ast.Name)) and \
                    (func.attr if isinstance(func, ast.Attribute) else func.id) in GRAD_FUNCTIONS:
                sinks |= {n for a in node.args[:1] for n in _names(a)}
            if isinstance(func, ast.Attribute) and func.attr in ("append", "extend", "update"):
                flows.append((_target_names(func.value), {n for a in node.args for n in _names(a)}))
        elif isinstance(node, (ast.Return, ast.Yield)) and node.value is not None:
            sinks |= _names(node.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                flows.append((_target_names(target), _names(node.value)))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            flows.append((_target_names(node.target), _names(node.value) | _target_names(node.target)))
    changed = True
    while changed:
        changed = False
        for written, read in flows:
            if written & sinks and not read <= sinks:
                sinks |= read
                changed = True
    return sinks


def _statement_at(tree: ast.Module, line: int, column: int) -> tuple[ast.stmt, ast.AST] | None:
    """The innermost simple statement covering (line, column), and its function (or the module)."""
    best = None

    def visit(node: ast.AST, function: ast.AST) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            scope = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else function
            if isinstance(child, ast.stmt) and child.lineno <= line <= (child.end_lineno or child.lineno) \
                    and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For,
                                               ast.While, ast.If, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith)):
                best = (child, function)
            visit(child, scope)

    visit(tree, tree)
    return best


def _written_by(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.Assign):
        return set().union(*(_target_names(t) for t in statement.targets))
    if isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        return _target_names(statement.target)
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) \
            and isinstance(statement.value.func, ast.Attribute) and statement.value.func.attr in ("append", "extend"):
        return _target_names(statement.value.func.value)
    return set()


def _span(text: str, edit: dict) -> str:
    lines = text.splitlines(keepends=True)
    start = sum(len(l) for l in lines[:edit["line"] - 1]) + edit["column"] - 1
    end = sum(len(l) for l in lines[:edit["end_line"] - 1]) + edit["end_column"] - 1
    return text[start:end]


def _detaches(original: str, replacement: str) -> bool:
    return any(replacement.count(marker) > original.count(marker) for marker in DETACHING)


def test_the_checker_sees_a_loss_term(tmp_path):
    """The independent reading itself: a term added to a backpropagated loss reaches backward."""
    tree = ast.parse(
        "def step(crit, outs, y):\n"
        "    loss = crit(outs[0], y)\n"
        "    for aux in outs[1:]:\n"
        "        loss = loss + 0.25 * crit(aux, y)\n"
        "    loss.backward()\n"
        "    running = 0\n"
        "    running += loss.item()\n"
    )
    statement, function = _statement_at(tree, 4, 20)
    assert _written_by(statement) & _reaching_backward(function) == {"loss"}
    statement, function = _statement_at(tree, 7, 5)
    assert not _written_by(statement) & _reaching_backward(function)


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_safe_fixes_keep_every_term_of_a_backpropagated_loss(folder, tmp_path, torchlint):
    work = tmp_path / folder.name
    shutil.copytree(folder, work, ignore=shutil.ignore_patterns("pyproject.toml", ".torchlint_cache"))
    (work / "pyproject.toml").write_text("[tool.torchlint]\n")
    done = torchlint("--no-probe", "--no-cache", "--select", "ALL", "--exit-zero", "--format", "json", ".",
                     cwd=work)
    findings = json.loads(done.stdout or "[]")
    for finding in findings:
        fix = finding.get("fix")
        if not fix or fix["applicability"] != "safe":
            continue
        path = work / finding["path"]
        if path.suffix != ".py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError):
            continue
        for edit in fix["edits"]:
            if not _detaches(_span(text, edit), edit["replacement"]):
                continue
            found = _statement_at(tree, edit["line"], edit["column"])
            if found is None:
                continue
            statement, function = found
            reaching = _written_by(statement) & _reaching_backward(function)
            assert not reaching, (
                f"{finding['code']} safe fix at {finding['path']}:{edit['line']} edits a statement that "
                f"feeds {sorted(reaching)}, which reaches backward() or leaves the function")
