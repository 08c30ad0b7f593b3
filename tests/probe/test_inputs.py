"""Input synthesis from the first layer each forward argument reaches (run in
this process: these models are defined here, so their source is readable)."""

from __future__ import annotations

import types

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from torchlint.probe import sandbox_lab  # noqa: E402
from torchlint.probe.sandbox_inputs import hint_text, parse_spec, plan_inputs, search_spatial  # noqa: E402


class _Runtime:
    """The little of the child runtime that the Lab needs here."""

    def __init__(self, hints=None) -> None:
        self.hints = hints or {}
        self.script = types.SimpleNamespace(nn=nn, torch=torch)  # the stripped script's names

    def hint(self, name):
        return self.hints.get(name, {})

    def hint_source(self, name):
        return f"[tool.torchlint.probe.classes.{name}]"

    def factory(self, name, kind):
        return None

    def spec(self, class_name, index):  # as the child's runtime: no model construction is known
        raise LookupError("no model construction is known to reach this finding")


def _lab(hints=None, context=None) -> sandbox_lab.Lab:
    return sandbox_lab.Lab(_Runtime(hints), {"code": "TL999", "message": "", "line": 1, "column": 1,
                                             "context": context or {}})


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


def test_a_first_argument_the_trace_loses_gets_the_model_s_first_layer():
    # `self.backbone[:cut](frames)`: a slice of a held network (a library model's
    # `.features`, say) is not traced; its first registered layer decides the input,
    # and the trial forward checks the guess.
    class SlicedBackbone(nn.Module):
        def __init__(self, cut=2):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 1, 1))
            self.cut = cut

        def forward(self, frames, previous=None):
            early = self.backbone[:self.cut](frames)
            return self.backbone[self.cut:](early)

    plans, missing = plan_inputs(SlicedBackbone(), {})
    assert missing == []
    assert plans["frames"].dims == ("B", 3, "S", "S")
    assert "the model's first layer" in plans["frames"].reached
    made = _lab().inputs(SlicedBackbone())
    assert tuple(made.args[0].shape)[:2] == (4, 3)


def test_evidence_numbers_are_cleaned():
    assert sandbox_lab.clean({"a": torch.tensor(0.123456789), "b": float("nan"), "c": (1, 2.0)}) == \
        {"a": 0.123457, "b": "nan", "c": [1, 2.0]}
    assert sandbox_lab.fmt(0.000123456) == "0.000123"


class Bags(nn.Module):
    """EmbeddingBag called with offsets: 1-D ids of every bag, 1-D offsets."""

    def __init__(self, last=False):
        super().__init__()
        self.bag = nn.EmbeddingBag(40, 8, mode="sum", include_last_offset=last)
        self.out = nn.Linear(8, 3)

    def forward(self, text, offsets, weights):
        return self.out(self.bag(text, offsets, per_sample_weights=weights))


class RowBags(nn.Module):
    """EmbeddingBag without offsets: one bag per row of (B, T) ids."""

    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(40, 8)

    def forward(self, text):
        return self.bag(text)


class SmallImages(nn.Module):
    """Built for 14x14 images: no candidate size's flattened features fit fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc = nn.Linear(8 * 5 * 5, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 2)
        return self.fc(torch.flatten(x, 1))


class StridedImages(nn.Module):
    """Built for 48x48 RGB images through a strided stack (48 -> 24 -> 12 -> 6)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(6, 6, 3, stride=2, padding=1), nn.MaxPool2d(2))
        self.head = nn.Linear(6 * 6 * 6, 2)

    def forward(self, image):
        return self.head(self.features(image).flatten(1))


def test_embedding_bag_with_offsets_gets_packed_ids_and_1d_int64_offsets():
    lab = _lab()
    model = Bags()
    inputs = lab.inputs(model, batch=4)
    assert inputs.specs == {"text": "int64[24] in [0, 40): 4 bags of 6",
                            "offsets": "offsets[4] = 0, 6, 12, ...",
                            "weights": "float32[24]: 4 bags of 6"}
    text, offsets, weights = inputs.args
    assert offsets.dtype == torch.int64 and offsets.tolist() == [0, 6, 12, 18]
    model.eval()
    with torch.no_grad():
        whole = model(*inputs.args)
        # every batch operation keeps each bag's ids together and the offsets right
        assert torch.allclose(model(*inputs.slice(1, 3).args), whole[1:3])
        assert inputs.slice(1, 3).args[1].tolist() == [0, 6]
        assert torch.allclose(model(*inputs.repeat(2).args), torch.cat([whole, whole]))
        changed = inputs.with_sample_changed(1)
        assert torch.equal(changed.args[0][:6], text[:6]) and torch.equal(changed.args[0][12:], text[12:])
        assert not torch.equal(changed.args[0][6:12], text[6:12])
        moved = (model(*changed.args) - whole).abs().amax(dim=1)
        assert moved[1] > 0 and moved[0] == moved[2] == moved[3] == 0


def test_embedding_bag_with_the_last_offset_included_gets_one_offset_more():
    inputs = _lab().inputs(Bags(last=True), batch=3)
    assert inputs.args[1].tolist() == [0, 6, 12, 18]
    assert inputs.slice(0, 2).args[1].tolist() == [0, 6, 12]


def test_embedding_bag_without_offsets_gets_one_bag_per_row():
    assert _specs(RowBags()) == {"text": "int64[4,6] in [0, 40)"}


def test_a_spatial_size_no_candidate_fits_is_searched_from_the_first_linear():
    lab = _lab()
    assert lab.inputs(SmallImages()).specs == {"x": "float32[4,1,14,14]"}
    assert lab.assumptions()["spatial_size"] == (
        "14: none of 32, 28, 64, 224, 16, 96, 128, 8, 256, 299 ran; the smallest size whose features "
        "match fc (in_features 200)")
    assert _specs(StridedImages()) == {"image": "float32[4,3,45,45]"}  # 45 -> 23 -> 12 -> 6: the smallest


def test_spatial_search_brackets_then_bisects():
    def measure(size):  # features grow with the size; 36 and 37 fit
        width = size // 2
        return "ok" if width == 18 else "small" if width < 18 else "large"

    assert search_spatial(measure) == 36
    assert search_spatial(lambda size: "small" if size < 10 else "large") is None  # skips the width
    assert search_spatial(lambda size: "small") is None  # past the limit
    assert search_spatial(lambda size: "small" if size < 20 else "other") is None  # another error


def test_a_torch_layer_is_fed_as_its_sequential_would_be():
    assert _specs(nn.Linear(10, 3)) == {"input": "float32[4,10]"}
    assert _specs(nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())) == {"input": "float32[4,64]"}
    assert _specs(nn.LSTM(5, 7, batch_first=True)) == {"input": "float32[4,6,5]"}


def test_hint_specs_for_bags():
    bags = parse_spec("long[B*T] < vocab", {"vocab": 40})
    assert (bags.kind, bags.dims, bags.packed, bags.bound) == ("ids", ("B", "T"), True, 40)
    assert parse_spec("offsets[B]", {}).kind == "offsets"
    with pytest.raises(ValueError, match="offsets are offsets\\[B\\]"):
        parse_spec("offsets[B,T]", {})


def test_build_from_context_evaluates_the_layer_the_rule_recorded():
    lab = _lab(context={"construct": "nn.Sequential(nn.Linear(6, 2), nn.Dropout(0.5))"})
    model = lab.build_from_context()
    assert isinstance(model, nn.Sequential) and model.training
    assert torch.equal(model[0].weight, lab.build_from_context()[0].weight)  # seeded
    assert lab.inputs(model).specs == {"input": "float32[4,6]"}
    assert lab.assumptions()["constructor"] == "nn.Sequential(nn.Linear(6, 2), nn.Dropout(0.5))"


def test_build_from_context_uses_the_stand_in_only_when_no_model_is_named():
    lab = _lab()
    assert isinstance(lab.build_from_context(stand_in="nn.Linear(8, 4)"), nn.Linear)
    assert lab.assumptions() == {
        "model": "a stand-in nn.Linear(8, 4): no model of the script reaches this loop"}
    with pytest.raises(sandbox_lab.Inconclusive) as caught:
        _lab(context={"construct": "nn.Linear(6)"}).build_from_context()
    assert caught.value.reason == "construct_failed"
    assert caught.value.detail.startswith("nn.Linear(6): TypeError: ")
    with pytest.raises(sandbox_lab.Inconclusive, match="built int, not an nn.Module"):
        _lab(context={"construct": "len('abc')"}).build_from_context()


def test_a_bag_models_suggested_hint_reads_back_as_the_same_inputs():
    model = Bags()
    plans, missing = plan_inputs(model, {})
    assert hint_text(model, plans, missing, {"vocab": 40})["text"] == "long[B*T] < vocab"
    suggested = hint_text(model, plans, missing)
    assert suggested == {"text": "long[B*T] < 40", "offsets": "offsets[B]", "weights": "float[B*T]"}
    hinted = _lab({"Bags": {"inputs": suggested}}).inputs(model)
    synthesized = _lab().inputs(model)
    assert [a.shape for a in hinted.args] == [a.shape for a in synthesized.args]
    assert hinted.args[1].tolist() == synthesized.args[1].tolist() == [0, 6, 12, 18]


class EverySizeFailsSlowly(nn.Module):
    """A pathological model: every forward takes 0.4 s and then fails on the width."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(7, 2)

    def forward(self, x):
        import time

        time.sleep(0.4)
        return self.fc(self.conv(x).flatten(1))


def test_the_input_search_stops_after_five_seconds():
    import time

    lab = _lab()
    started = time.monotonic()
    with pytest.raises(sandbox_lab.Inconclusive) as caught:
        lab.inputs(EverySizeFailsSlowly())
    elapsed = time.monotonic() - started
    assert caught.value.reason == "no_inputs"
    assert "the input search stopped" in caught.value.detail and "the limit is 5 s" in caught.value.detail
    assert elapsed < sandbox_lab.INPUT_SEARCH_SECONDS + 1.5


class PooledOverAllPoints(nn.Module):
    """A point-cloud net that max-pools over a fixed number of points (a kernel of 700):
    no candidate length runs, and "Invalid computed output size" means: longer."""

    def __init__(self, points=700):
        super().__init__()
        self.conv = nn.Conv1d(3, 16, 1)
        self.pool = nn.MaxPool1d(points)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).view(-1, 16))


def test_a_kernel_that_needs_a_longer_sequence_is_searched():
    specs = _specs(PooledOverAllPoints())
    (spec,) = specs.values()
    length = int(spec.rstrip("]").split(",")[-1])
    assert 700 <= length < 1400, specs


class TimeFirstMixer(nn.Module):
    """Recurrent code written time-first (``steps, batch, width = x.size()``) whose second
    input is concatenated with the first's projection before a Linear."""

    def __init__(self, width=20, extra=7):
        super().__init__()
        self.project = nn.Linear(width, 12)
        self.mix = nn.Linear(12 + extra, 5)

    def forward(self, x, side):
        steps, batch, width = x.size()
        mixed = self.mix(torch.cat([self.project(x), side], dim=-1))
        return mixed.view(steps * batch, -1)


def test_an_unpack_makes_inputs_time_first_and_a_concatenation_corrects_a_width():
    lab = _lab()
    inputs = lab.inputs(TimeFirstMixer())
    assert inputs.specs == {"x": "float32[6,4,20]", "side": "float32[6,4,7]"}
    assert lab.assumptions()["inputs_repaired"] == [
        "x, side made time-first sequences: the forward unpacks 3 dimensions (not enough values to "
        "unpack (expected 3, got 2))",
        "side has 7 features of its own: a Linear of 19 inputs got 31 (it is concatenated with others "
        "first)"]


class ClipClassifier(nn.Module):
    """Clips of frames: the forward unpacks five sizes and folds the frames into the batch
    for a per-frame Conv2d encoder, then an LSTM over the frames' features."""

    def __init__(self):
        super().__init__()
        self.frames = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1))
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, clips):
        batch, steps, channels, height, width = clips.shape
        features = self.frames(clips.view(batch * steps, channels, height, width)).view(batch, steps, -1)
        out, _ = self.rnn(features)
        return self.head(out[:, -1])


def test_an_unpack_of_one_more_size_than_the_first_layer_takes_folds_steps_into_the_batch():
    lab = _lab()
    assert lab.inputs(ClipClassifier()).specs == {"clips": "float32[4,6,3,32,32]"}
    assert lab.assumptions()["inputs_repaired"] == [
        "clips made [B, T, 3, S, S]: the forward unpacks 5 dimensions and the model's first layer "
        "takes 4 (steps merged into the batch)"]


class TwoCodesGenerator(nn.Module):
    """Two latent codes concatenated before the first Linear (a GAN's noise and class code):
    each is traced to that Linear and planned for all of its 40 inputs."""

    def __init__(self, noise=30, codes=10):
        super().__init__()
        self.fc = nn.Linear(noise + codes, 16)

    def forward(self, zn, zc):
        return self.fc(torch.cat([zn, zc], dim=1))


def test_inputs_concatenated_into_one_linear_share_its_width():
    lab = _lab()
    assert lab.inputs(TwoCodesGenerator()).specs == {"zn": "float32[4,20]", "zc": "float32[4,20]"}
    assert lab.assumptions()["inputs_repaired"] == [
        "zn, zc are concatenated into a Linear of 40 inputs: 20 features each (a guess: the split is "
        "not known)"]


class RowsAsSteps(nn.Module):
    """An LSTM over the rows of a 28x28 image, reshaped in forward: T must be 28."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(28, 16, batch_first=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        out, _ = self.rnn(x.view(-1, 28, 28))
        return self.fc(out[:, -1])


class ExplicitForwardCall(nn.Module):
    """``self.conv.forward(x)`` feeds the convolution like ``self.conv(x)``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8 * 30 * 30, 2)

    def forward(self, x):
        return self.fc(self.conv.forward(x).flatten(1))


def test_a_view_to_fixed_sizes_sets_the_sequence_length():
    lab = _lab()
    assert lab.inputs(RowsAsSteps()).specs == {"x": "float32[4,28,28]"}
    assert lab.assumptions()["inputs_repaired"] == ["x has 28 steps: the forward views it as [-1, 28, 28]"]


def test_an_explicit_forward_call_of_a_layer_decides_the_input():
    assert _specs(ExplicitForwardCall()) == {"x": "float32[4,3,32,32]"}


class FrameVoter(nn.Module):
    """A pool over a fixed number of frames (the clip length the data has), then a
    view to the channel count: only inputs of exactly that many frames run."""

    def __init__(self, frames=700):
        super().__init__()
        self.mix = nn.Conv1d(5, 24, 1)
        self.vote = nn.AvgPool1d(frames)
        self.score = nn.Linear(24, 3)

    def forward(self, clip):
        pooled = self.vote(torch.relu(self.mix(clip)))
        return self.score(pooled.view(-1, 24))


def test_a_pool_over_a_fixed_length_gets_inputs_of_that_length():
    lab = _lab()
    model = FrameVoter()
    inputs = lab.inputs(model)
    assert inputs.specs == {"clip": "float32[4,5,700]"}
    assert lab._assumptions["spatial_size"].startswith("700: the kernel size of a pooling layer")
    model.eval()
    with torch.no_grad():
        assert model(*inputs.args).shape == (4, 3)


class PairGate(nn.Module):
    """Scores every pair of a sample's items: the input is (B, items, width), which a
    2-D guess (B, width) does not show until the Linear gets the pairs."""

    def __init__(self, width=20):
        super().__init__()
        self.gate = nn.Linear(width, 1)

    def forward(self, items):
        n = items.shape[1]
        first, second = torch.triu_indices(n, n, 1)
        products = items[:, first] * items[:, second]
        return (torch.sigmoid(self.gate(products)) * products).sum(1)


def test_a_linear_fed_positions_of_the_second_dimension_makes_the_input_a_set_of_vectors():
    lab = _lab()
    inputs = lab.inputs(PairGate())
    assert inputs.specs == {"items": "float32[4,6,20]"}
    assert lab._assumptions["inputs_repaired"] == [
        "items made [B, T, 20]: a Linear of 20 inputs got 190 from positions taken along its second dimension"]


def test_a_plural_parameter_gets_a_number_that_also_reads_as_a_list():
    from torchlint.probe import sandbox_build as build

    dropouts, sizes, classes = build.guess("dropouts", None), build.guess("hidden_sizes", None), build.guess("n_class", None)
    assert dropouts == 0.5 and dropouts[1] == 0.5 and list(dropouts) == [0.5] * 3
    assert sizes == 32 and len(sizes) == 3
    assert classes == 5 and not hasattr(classes, "__len__")
    assert build.guess("bias", None) == 16 and not hasattr(build.guess("bias", None), "__len__")


class HandWrittenMix(nn.Module):
    """A layer written by hand: features times its own weight, then rows mixed by a
    square matrix of the same rows (neighbours in a graph)."""

    def __init__(self, width=9, out=4):
        super().__init__()
        self.proj = nn.Parameter(torch.randn(width, out))

    def forward(self, feats, neighbours):
        return neighbours @ (feats @ self.proj)


class TwoHops(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = HandWrittenMix(9, 6)
        self.second = HandWrittenMix(6, 3)

    def forward(self, nodes, links):
        return torch.log_softmax(self.second(torch.relu(self.first(nodes, links)), links), dim=1)


def test_a_product_with_a_layer_s_own_weight_and_a_matrix_mixing_rows_decide_the_inputs():
    assert _specs(TwoHops()) == {"nodes": "float32[4,9]", "links": "float32[4,4]"}
    assert _specs(HandWrittenMix()) == {"feats": "float32[4,9]", "neighbours": "float32[4,4]"}


STEP_MIXER = '''\
import torch
from torch import nn


class StepMixer(nn.Module):
    """Unpacks (batch, steps, width), mixes each step by its own weight, then flattens
    the steps into one Linear built for 50 of them."""

    def __init__(self, steps=50, width=3):
        super().__init__()
        self.mix = nn.Parameter(torch.randn(width, width))
        self.head = nn.Linear(steps * width, 2)

    def forward(self, series):
        n, steps, width = series.shape
        mixed = torch.matmul(series, self.mix)
        return self.head(mixed.reshape(n, steps * width))
'''


def test_a_crlf_file_s_forward_is_traced_and_a_flattened_sequence_gets_the_linear_s_length(tmp_path, monkeypatch):
    (tmp_path / "step_mixer_crlf.py").write_bytes(STEP_MIXER.replace("\n", "\r\n").encode())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("step_mixer_crlf")
    lab = _lab()
    inputs = lab.inputs(module.StepMixer())
    assert inputs.specs == {"series": "float32[4,50,3]"}
    assert lab._assumptions["inputs_repaired"] == [
        "series made batch-first sequences: the forward unpacks 3 dimensions "
        "(not enough values to unpack (expected 3, got 2))",
        "series has 50 steps: a Linear of 150 inputs got 18 from its flattened steps"]
