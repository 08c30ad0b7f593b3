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
