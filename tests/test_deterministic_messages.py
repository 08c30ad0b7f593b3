"""A finding's text does not depend on memory addresses: where the analysis
holds a set of possible values (ordered by id), the value a message names is
the first in the source, so every run says the same."""

from __future__ import annotations

from torchlint.config import ConfigFinder
from torchlint.runner import Run, Selection
from torchlint.source import SourceFile

CLASS = '''
class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.out = nn.Softmax(dim=1)

    def forward(self, x):
        return self.out(self.fc(x))
'''

SCRIPT = '''import torch
import torch.nn as nn
import torch.nn.functional as F
{classes}

def train(small, loader, optimizer):
    net = Tiny() if small else Wide()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
'''


def _bodies(first: str, second: str) -> list[str]:
    text = SCRIPT.format(classes=CLASS.format(name=first) + CLASS.format(name=second))
    result = Run(configs=ConfigFinder(), selection=Selection(select=("TL201",))).lint(
        SourceFile(display="train.py", text=text))
    return [finding.body for finding in result.findings]


def test_the_model_named_is_the_first_in_the_source():
    for first, second in (("Tiny", "Wide"), ("Wide", "Tiny")):
        bodies = _bodies(first, second)
        assert len(bodies) == 1
        assert bodies[0].startswith(f"`{first}.forward` returns probabilities"), bodies[0]
