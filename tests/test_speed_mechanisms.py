"""The mechanisms that keep the static path near the libcst floor give the same
answers as the slower ways they replace (their cost is measured by
bench/throughput.py, never here)."""

from __future__ import annotations

import gc

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from torchlint.locator import Locator
from torchlint.parsing import parse_with_python_tree
from torchlint.runner import GC_YOUNG_THRESHOLD, fewer_collections
from torchlint.semantic.model import SemanticModel
from torchlint.semantic.project import Project
from torchlint.semantic.walker import collect, dotted_name, iter_nodes

CODE = '''
import torch.nn.functional as F


@register(
    "step")
def step(model, x, y, total, count):
    loss = F.cross_entropy(model(x), y) / x.size(0)
    total /= count
    print(F.mse_loss(model(x), y).item() / len(y))
    return log(total / count, (loss + total) / 2)
'''


def test_the_parse_hands_the_locator_pythons_tree_and_positions_are_unchanged():
    module, python_tree = parse_with_python_tree(CODE)
    assert python_tree is not None
    facts = collect(module)
    with_tree, without = Locator(CODE, facts, python_tree), Locator(CODE, facts)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    for call in facts.calls:
        expected = positions[call.node]
        for locator in (with_tree, without):
            span = locator.span(call.node)
            assert (span.start_line, span.start_col, span.end_line, span.end_col) == (
                expected.start.line, expected.start.column, expected.end.line, expected.end.column)


def test_syntax_newer_than_the_running_python_parses_without_pythons_tree():
    # A type alias statement (Python 3.12) on an older interpreter: libcst reads it,
    # Python's parser does not, and the locator parses for itself (and finds nothing).
    module, python_tree = parse_with_python_tree("type X = int\n")
    assert isinstance(module, cst.Module)
    try:
        compile("type X = int\n", "<test>", "exec")
    except SyntaxError:
        assert python_tree is None
    else:
        assert python_tree is not None


def test_divisions_are_found_once_each_with_the_first_fact_holding_them():
    facts = collect(cst.parse_module(CODE))
    model = SemanticModel(facts=facts, project=Project(), path=None, text=CODE)
    divisions = model.losses.divisions
    assert model.losses.divisions is divisions  # one walk per file, shared by the questions
    found = [(type(d.fact).__name__, model.code(d.node)) for d in divisions]
    assert found == [
        ("Assign", "F.cross_entropy(model(x), y) / x.size(0)"),
        ("AugAssign", "total /= count"),
        ("Return", "total / count"),
        ("Return", "(loss + total) / 2"),
        ("Call", "F.mse_loss(model(x), y).item() / len(y)"),
    ]


def test_walks_skip_whitespace_and_punctuation_in_the_nodes_field_order():
    module = cst.parse_module("a.b(c, d=[e, f])  # note\n")
    names = [dotted_name(node) for node in iter_nodes(module) if isinstance(node, (cst.Name, cst.Attribute))]
    assert names == ["a.b", "a", "b", "c", "e", "f", "d"]  # an argument's value comes before its keyword
    assert not any(isinstance(node, (cst.Comma, cst.SimpleWhitespace, cst.Comment)) for node in iter_nodes(module))


def test_fewer_collections_only_for_the_run():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
    assert gc.get_threshold() == before


def test_one_file_linted_alone_collects_as_a_run_does(monkeypatch):
    # The editor's lint and the API's go through Run.lint, not lint_targets: they
    # too run with the youngest generation's threshold raised, restored after.
    import torchlint.engine as engine
    import torchlint.runner as runner
    from torchlint.config import ConfigFinder
    from torchlint.engine import FileResult
    from torchlint.source import SourceFile

    seen = []

    def lint_source(source, rules, project, *, from_disk=False):
        seen.append(gc.get_threshold())
        return FileResult(display=source.display, source=source)

    monkeypatch.setattr(engine, "lint_source", lint_source)  # the runner imports it when it lints
    before = gc.get_threshold()
    runner.Run(configs=ConfigFinder()).lint(SourceFile(display="x.py", text="import torch\n"))
    assert seen and seen[0][0] == max(before[0], GC_YOUNG_THRESHOLD)
    assert gc.get_threshold() == before


LINES = '''
import torch.nn.functional as F
total = 0; count = F.relu(x)
for x in y: total += F.mse_loss(x, y)
loss = F.cross_entropy(
    model(x), y) / len(
    y)
if total: print(total / count)
elif count: print(count,
                  total)
s = """one
two"""; t = F.softmax(s)


@register
def step(a, b=F.relu(1)): return a / b
'''


def test_a_nodes_line_without_code_generated_is_its_position():
    # Locator.line answers nodes of one-line statements from Python's parse alone;
    # every node's answer is libcst's position, on one line or several.
    module, python_tree = parse_with_python_tree(LINES)
    facts = collect(module)
    locator = Locator(LINES, facts, python_tree)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = [node for node in iter_nodes(module) if id(node) in facts.statement_of]
    assert len(nodes) > 60
    for node in nodes:
        assert locator.line(node) == positions[node].start.line, module.code_for_node(node)
    assert locator._one_line and len(locator._one_line) < len(facts.statements)  # both kinds
