"""Input synthesis from the first layer each forward argument reaches (run in
this process: these models are defined here, so their source is readable)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from torchlint.probe import sandbox_lab  # noqa: E402
from torchlint.probe.sandbox_inputs import parse_spec  # noqa: E402


class _Runtime:
    """The little of the child runtime that Lab.inputs needs."""

    def __init__(self, hints=None) -> None:
        self.hints = hints or {}

    def hint(self, name):
        return self.hints.get(name, {})

    def hint_source(self, name):
        return f"[tool.torchlint.probe.classes.{name}]"

    def factory(self, name, kind):
        return None


def _lab(hints=None) -> sandbox_lab.Lab:
    return sandbox_lab.Lab(_Runtime(hints), {"code": "TL999", "message": "", "line": 1, "column": 1})


def _specs(model, **kwargs) -> dict[str, str]:
    lab = _lab()
    inputs = lab.inputs(model, **kwargs)
    model.eval()
    with torch.no_grad():
        model(*inputs.args, **inputs.kwargs)
    return inputs.specs


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.rnn = nn.GRU(8, 16)  # not batch_first: ids must be (T, B)
        self.out = nn.Linear(16, 5)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths, enforce_sorted=False)
        output, _ = self.rnn(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(output)
        return self.out(padded)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * 4 * 4, 10)  # 28x28 inputs only

    def forward(self, image):
        return self.classifier(self.features(image).flatten(1))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=12, nhead=2, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1)

    def forward(self, x, padding_mask):
        return self.encoder(x, src_key_padding_mask=padding_mask == 0)


class Wrapper(nn.Module):
    """Arguments reach a user submodule: the plan comes from inside it."""

    def __init__(self, use_norm=False):
        super().__init__()
        self.use_norm = use_norm
        self.norm = nn.LayerNorm(7)
        self.inner = Tagger()
        self.head = nn.Bilinear(3, 4, 2)

    def forward(self, tokens, lengths, left, right):
        if self.use_norm:
            tokens = self.norm(tokens)
        states = self.inner(tokens, lengths)
        return states.sum() + self.head(left, right).sum()


class WithState(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 9, num_layers=2, batch_first=True)

    def forward(self, x, state):
        return self.lstm(x, state)[0]


def test_embedding_into_a_time_major_rnn_gets_time_major_ids():
    assert _specs(Tagger()) == {"tokens": "int64[6,4] in [0, 30)", "lengths": "lengths[4] = 6"}


def test_convolutions_get_the_first_spatial_size_that_runs():
    assert _specs(LeNet()) == {"image": "float32[4,1,28,28]"}


def test_transformer_and_mask_names():
    assert _specs(Encoder()) == {"x": "float32[4,6,12]", "padding_mask": "ones[4,6]"}


def test_user_submodules_and_decided_branches():
    assert _specs(Wrapper()) == {"tokens": "int64[6,4] in [0, 30)", "lengths": "lengths[4] = 6",
                                 "left": "float32[4,3]", "right": "float32[4,4]"}


def test_recurrent_state_without_init_hidden_is_zeros():
    assert _specs(WithState(), batch=3) == {"x": "float32[3,6,5]", "state": "zeros[2,3,9] x2"}


def test_batch_operations_keep_samples():
    lab = _lab()
    model = Tagger()
    inputs = lab.inputs(model, batch=4)
    tokens = inputs.args[0]
    first_two = inputs.slice(0, 2)
    assert torch.equal(first_two.args[0], tokens[:, :2])
    assert torch.equal(inputs.repeat(2).args[0], torch.cat([tokens, tokens], dim=1))
    changed = inputs.with_sample_changed(1).args[0]
    assert torch.equal(changed[:, 0], tokens[:, 0]) and torch.equal(changed[:, 2:], tokens[:, 2:])
    assert not torch.equal(changed[:, 1], tokens[:, 1])
    again = _lab().inputs(Tagger(), batch=4)
    assert torch.equal(again.args[0], tokens)  # same seed, same samples


def test_hint_specs():
    names = {"D_m": 16, "vocab": 50}
    assert parse_spec("float[T,B,D_m]", names).dims == ("T", "B", 16)
    assert parse_spec("long[B,T] < vocab", names).bound == 50
    assert parse_spec("ones[B, D_m * 2]", names).dims == ("B", 32)
    assert parse_spec(False, names).value is False
    with pytest.raises(ValueError, match="'D_x' is neither B, T nor a constructor argument"):
        parse_spec("float[B,D_x]", names)
    with pytest.raises(ValueError, match="unknown type 'tensor'"):
        parse_spec("tensor[B]", names)


def test_an_argument_reaching_no_layer_is_no_inputs_with_a_hint():
    class Opaque(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1)

        def forward(self, x, graph):
            return self.fc(x) * graph.weight

    with pytest.raises(sandbox_lab.Inconclusive) as caught:
        _lab().inputs(Opaque())
    assert caught.value.reason == "no_inputs"
    assert caught.value.detail == ("cannot tell what forward(x, graph) needs for `graph`: it reaches "
                                   "no layer the probe knows")
    assert caught.value.hint == (
        "[tool.torchlint.probe.classes.Opaque]\n"
        "# B and T are chosen by the probe; other names are constructor arguments\n"
        'inputs = { x = "float[B,3]", graph = "float[B,T]" }')


def test_evidence_numbers_are_cleaned():
    assert sandbox_lab.clean({"a": torch.tensor(0.123456789), "b": float("nan"), "c": (1, 2.0)}) == \
        {"a": 0.123457, "b": "nan", "c": [1, 2.0]}
    assert sandbox_lab.fmt(0.000123456) == "0.000123"
