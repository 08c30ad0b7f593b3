from __future__ import annotations

import libcst as cst

from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.datasets import carries_state_across_batches, datasets_of
from torchlint.semantic.evidence import in_unit_test
from torchlint.semantic.phases import words
from torchlint.semantic.walker import dotted_name


class UnshuffledTrainingLoader(Rule):
    """## What it does
    Finds a `DataLoader` that a training loop iterates with `shuffle` left
    `False`, no `sampler` and no `batch_sampler`, over a map-style dataset
    (`TensorDataset`, a `Subset`, a torchvision dataset, a `Dataset` class
    with `__getitem__`, a list), including a loader a factory of this file
    returns to a training loop of another project file (when the run includes it).
    Not reported: a dataset that fits in one batch (its order changes nothing),
    a dataset named for evaluation (its name, its class, `split="test"`,
    `train=False`: test-time fine-tuning per episode) and loaders trained inside
    unit tests (a fixed order on purpose).

    ## Why is this bad?
    Without shuffling every epoch presents the same batches in the same
    order. Datasets are often stored sorted (by class, by date, by length),
    so each batch holds one class and the gradients swing from class to class;
    even when they are not, the fixed order correlates successive updates and
    generalizes worse than a fresh permutation per epoch.

    ## Example
    ```python
    train_loader = DataLoader(train_set, batch_size=64)
    ```

    ## Use instead
    ```python
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    ```

    ## Fix safety
    There is no automatic fix. Not reported for an `IterableDataset` (it
    streams in its own order), with any sampler (`DistributedSampler`,
    `WeightedRandomSampler`, a sorted sampler on purpose), for loaders only
    evaluation loops read, when `shuffle` is not a static value, or when the
    loop carries a hidden state from batch to batch (truncated
    backpropagation through time needs the order).
    """

    code = "TL303"
    name = "unshuffled-training-loader"
    severity = Severity.WARNING
    summary = "A training DataLoader over a map-style dataset is not shuffled."

    VALID = [
        Example(
            """
import torch
from torch.utils.data import DataLoader, TensorDataset

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
train_set = TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
for x, y in DataLoader(train_set, batch_size=8, shuffle=True):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
from torch.utils.data import DataLoader, TensorDataset

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
train_set = TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
for x, y in DataLoader(train_set, batch_size=8):  # expect: TL303
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        reported: set[int] = set()
        datasets = None
        for loop, scope in model.phases.train_loops:
            if loop.kind != "for" or model.phases.eval_reason_of_loop(loop) is not None:
                continue
            for loader in model.data.loaders_iterated(loop):
                call = loader.call
                if id(call) in reported or not _unshuffled(model, call) or loader.one_batch:
                    continue
                if _named_for_evaluation(model, call) or _over_evaluation_split(model, loader) \
                        or in_unit_test(scope, model.facts, model.path) \
                        or in_unit_test(call.scope, model.facts, model.path):
                    continue
                datasets = datasets or datasets_of(model)
                kind = _map_style(datasets, loader)
                if kind is None or carries_state_across_batches(model, loop, scope):
                    continue
                reported.add(id(call))
                ctx.report(call.node, _message(model, call, kind, loop),
                           title="training DataLoader is not shuffled: every epoch has the same order",
                           context=_context(model, loader, kind))
        self._loaders_trained_elsewhere(ctx, reported)

    def _loaders_trained_elsewhere(self, ctx, reported: set[int]) -> None:
        """Loaders made here (a `get_loaders()` helper) that another project file's
        training loop iterates: reported here, where `shuffle` belongs."""
        model = ctx.model
        datasets = None
        for elsewhere in model.data.loops_elsewhere():
            other = elsewhere.model
            if elsewhere.loop.kind != "for" or other.phases.eval_reason_of_loop(elsewhere.loop) is not None \
                    or carries_state_across_batches(other, elsewhere.loop, elsewhere.scope):
                continue
            for loader in elsewhere.loaders:
                call = loader.call
                if id(call) in reported or not _unshuffled(model, call) or _named_for_evaluation(model, call) \
                        or _over_evaluation_split(model, loader) or loader.one_batch \
                        or in_unit_test(elsewhere.scope, other.facts, other.path) \
                        or in_unit_test(call.scope, model.facts, model.path):
                    continue
                datasets = datasets or datasets_of(model)
                kind = _map_style(datasets, loader)
                if kind is None:
                    continue
                reported.add(id(call))
                ctx.report(call.node, _message(model, call, kind, elsewhere.loop, other.facts),
                           title="training DataLoader is not shuffled: every epoch has the same order",
                           context=_context(model, loader, kind))

    @staticmethod
    def experiment(lab):
        """The script's dataset (its construction evaluated in the script) read by a
        DataLoader as the script configures it, for two epochs: the sample order of
        both epochs, and of a shuffled loader for comparison."""
        torch = lab.torch
        source = lab.context.get("dataset")
        if not source:
            return lab.inconclusive("experiment_error", "the dataset is not built by an expression of "
                                    "this file that the sandbox can evaluate")
        try:
            dataset = lab.evaluate(source)
        except Exception as err:  # noqa: BLE001 - names from the script's main block
            return lab.inconclusive("experiment_error", f"the dataset {source[:60]} could not be built in "
                                    f"the sandbox ({type(err).__name__}: {err})")
        length = len(dataset)
        batch = int(lab.context.get("batch_size") or 1)

        class Indices(torch.utils.data.Dataset):  # the dataset's positions, as the loader visits them
            def __len__(self):
                return length

            def __getitem__(self, index):
                return index

        def epochs(shuffle):
            lab.seed(0)
            loader = torch.utils.data.DataLoader(Indices(), batch_size=batch, shuffle=shuffle)
            return [[int(i) for b in loader for i in b] for _ in range(2)]

        first, second = epochs(False)
        shuffled = epochs(True)
        in_storage_order = first == list(range(length))
        moved = sum(a != b for a, b in zip(*shuffled))
        numbers = dict(samples=length, batch_size=batch, same_order_both_epochs=first == second,
                       storage_order=in_storage_order, positions_changed_when_shuffled=moved)
        summary = (f"both epochs read the {length} samples in the same order"
                   f"{' (the order they are stored in)' if in_storage_order else ''}, batches of {batch}; "
                   f"with shuffle=True {moved} of {length} positions change between epochs")
        if first == second:
            return lab.confirmed(summary, **numbers)
        return lab.refuted(summary, **numbers)


def _map_style(datasets, loader):
    """The loader's dataset when it is map-style: the dataset itself, or for a parameter
    of a training helper (`def fit(net, rows): DataLoader(rows)`), what every caller in
    the file passes, all map-style; None when any is iterable or unknown."""
    call = loader.call
    kinds = datasets.possible(loader.dataset, call.scope, call.order)
    if not kinds or any(kind.style != "map" for kind in kinds):
        return None
    return kinds[0]


def _named_for_evaluation(model, call) -> bool:
    """`val_loader = DataLoader(...)`, `{"val": DataLoader(...)}`: a loader named for
    validation or test."""
    for assign in call.scope.assigns:
        if assign.value is call.node:
            names = " ".join(model.code(target) for target in assign.targets)
            return bool(words(names) & model.symbols.eval_loader_words)
        if isinstance(assign.value, cst.Dict):
            for element in assign.value.elements:
                if isinstance(element, cst.DictElement) and element.value is call.node:
                    return bool(words(model.code(element.key)) & model.symbols.eval_loader_words)
    return False


def _over_evaluation_split(model, loader) -> bool:
    """`DataLoader(TestEpisodes(root, mode="test"))`, `DataLoader(val_set)`: the dataset
    (written at the call, or the one binding of the name given there) is named for
    validation or test, by its variable, its class, or a literal split argument
    (`split="val"`, `mode="test"`). A loop that trains over it (per-episode fine-tuning
    at test time) is no training loader's epoch."""
    call = loader.call
    node = loader.dataset
    eval_words = model.symbols.eval_loader_words
    if isinstance(node, cst.Name):
        if words(node.value) & eval_words:
            return True
        bindings = [a for a in call.scope.assigns if a.order < call.order and a.kind == "assign"
                    and len(a.targets) == 1 and isinstance(a.targets[0], cst.Name)
                    and a.targets[0].value == node.value]
        if len(bindings) != 1:
            return False
        node = bindings[0].value
    if not isinstance(node, cst.Call):
        return False
    if words((dotted_name(node.func) or "").rsplit(".", 1)[-1]) & eval_words:
        return True
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value in _SPLIT_KEYWORDS \
                and isinstance(arg.value, cst.SimpleString) and words(str(arg.value.evaluated_value)) & eval_words:
            return True
        if arg.keyword is not None and arg.keyword.value == "train" and isinstance(arg.value, cst.Name) \
                and arg.value.value == "False":
            return True  # torchvision's `MNIST(root, train=False)`
    return False


# Keywords of dataset constructors that choose the split by a string.
_SPLIT_KEYWORDS = frozenset({"split", "mode", "subset", "phase", "stage", "partition"})


def _unshuffled(model, call) -> bool:
    """shuffle left False (or written False), no sampler, no batch_sampler (or None), no **kwargs."""
    if any(arg.star for arg in call.args):
        return False
    for index, keyword in ((3, "sampler"), (4, "batch_sampler")):
        given = call.argument(index, keyword)
        if given is not None and not model.data.always_none(given, call.scope, call.order):
            return False  # a sampler orders the batches (`sampler=None` orders nothing)
    shuffle = call.argument(2, "shuffle")
    if shuffle is None:
        return True
    if isinstance(shuffle, cst.Name) and shuffle.value in ("True", "False"):
        return shuffle.value == "False"
    known = model.data.constant(shuffle, call.scope, call.order)
    return known is not None and known.value is False


def _message(model, call, kind, loop, loop_facts=None) -> str:
    left = "is False" if call.argument(2, "shuffle") is not None else "is left at its default False"
    where = model.where(loop.node, loop_facts) if loop_facts is not None else model.where(loop.node)
    return (f"this DataLoader feeds the training loop at {where} over {kind.what}, a "
            f"map-style dataset, but `shuffle` {left} and no sampler is given: every epoch sees the same "
            f"batches in the same order (often sorted by class or time), which correlates the updates "
            f"and hurts generalization. Pass `shuffle=True` (or a sampler).")


def _context(model, loader, kind) -> dict:
    context: dict = {}
    if kind.construct is not None:
        context["dataset"] = model.code(kind.construct)
    if loader.batch_size is not None and isinstance(loader.batch_size.value, int):
        context["batch_size"] = loader.batch_size.value
    return context

