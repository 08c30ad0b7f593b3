"""The locator computes positions for reported nodes only; they must equal what
libcst's PositionProvider computes for the whole file."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider
from support import FIXTURES, REPO

from torchlint.locator import Locator
from torchlint.semantic.walker import collect

TRICKY = '''
import torch


@decorator
class A:  # comment
    def f(self, x):
        if x:
            return torch.softmax(
                x,
                dim=1)
        elif x is None:
            y = [torch.relu(v) for v in x]; z = f(y)
        else:
            try:
                pass
            except ValueError:
                g(1)
            else:
                g(2)
            finally:
                g(3)
        match x:
            case 1:
                h(x)
        with a() as b, c():
            k("é🙂", b(x))
'''


def _files() -> list[Path]:
    files = sorted(FIXTURES.rglob("*.py"))[:40] + [REPO / "examples" / "train.py"]
    try:
        import importlib.util

        spec = importlib.util.find_spec("torch")
        if spec is not None and spec.origin:
            root = Path(spec.origin).parent
            files += sorted((root / "nn" / "modules").glob("*.py"))[:15]
    except (ImportError, ValueError):
        pass
    return files


def _check(text: str) -> int:
    module = cst.parse_module(text)
    facts = collect(module)
    locator = Locator(text, facts)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    checked = 0
    for call in facts.calls:
        for node in (call.node, call.func):
            expected = positions[node]
            span = locator.span(node)
            assert (span.start_line, span.start_col, span.end_line, span.end_col) == (
                expected.start.line, expected.start.column, expected.end.line, expected.end.column
            ), module.code_for_node(node)
            checked += 1
    return checked


def test_tricky_layouts():
    assert _check(TRICKY) > 10


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_real_files(path):
    _check(path.read_text(encoding="utf-8"))



def test_a_line_separator_python_keeps_in_a_line_does_not_shift_positions(torchlint, tmp_path):
    # bench/fuzz.py found it: a comment holding \x1d and form feeds (str.splitlines() splits
    # there, Python does not) shifted the locator's lines after it, so the TL301 fix was cut
    # from the wrong line and the fixed code did not parse.
    source = Path(__file__).parent / "data" / "fuzz" / "separator_in_comment.py"
    (tmp_path / "train.py").write_bytes(source.read_bytes())
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    fixed = torchlint("--no-cache", "--select", "ALL", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert fixed.stderr == ""
    assert fixed.stdout.endswith("Found 1 finding (1 error, 0 warnings) in 1 file (2 fixed).\n")
    text = (tmp_path / "train.py").read_bytes().decode()
    assert "return DataLoader(data, shuffle=True, batch_size=batch_size, drop_last=True)  # expect: TL301" in text
