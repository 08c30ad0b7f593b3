from __future__ import annotations

import libcst as cst

from torchlint import titles
from torchlint.findings import Severity
from torchlint.rule import Example, Rule
from torchlint.semantic.datasets import datasets_of
from torchlint.semantic.evaluated_elsewhere import evaluated_elsewhere, trained_elsewhere
from torchlint.semantic.transforms import transforms_of


class RandomAugmentationInEvaluation(Rule):
    """## What it does
    Finds a dataset read by a validation or test loop (or an inference
    function) whose `transform` holds random torchvision augmentations
    (`RandomCrop`, `RandomResizedCrop`, `RandomHorizontalFlip`,
    `RandomRotation`, `ColorJitter`, `RandomErasing`, `RandAugment`,
    `AutoAugment`, `TrivialAugmentWide`, `RandomAffine`, ... and their
    `torchvision.transforms.v2` equivalents), followed from the `DataLoader`
    to the dataset's construction (through an evaluation helper's parameter
    to what its callers pass, or a project factory given the transform of
    the datasets it builds) and through `Compose`, names and dicts of
    transforms (`data_transforms["val"]`) and the project's functions that
    build the pipeline, in any file (`image_pipeline(train=True)`: only the
    returns its literal arguments can reach, and only when every one of them
    is random). A probability switched off explicitly (`p=0`, or
    `p=0.5 if args.flip else 0`) is not random.

    ## Why is this bad?
    Evaluation should measure the model on the data as it is. Random crops,
    flips and colour changes make every evaluation pass see different inputs:
    the metric becomes noisy from epoch to epoch (early stopping and model
    selection follow the noise) and pessimistic, since augmented images are
    harder than the real ones. It often happens when one `transform` variable
    built for training is passed to the test dataset too.

    ## Example
    ```python
    tf = T.Compose([T.RandomResizedCrop(224), T.ToTensor()])
    val_set = ImageFolder("data/val", transform=tf)
    ```

    ## Use instead
    ```python
    val_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
    val_set = ImageFolder("data/val", transform=val_tf)
    ```

    ## Fix safety
    There is no automatic fix. Not reported for deterministic transforms
    (`Resize`, `CenterCrop`, `Normalize`, `ToTensor`), for the training set
    (also when an evaluation helper reads it whole, e.g. for training
    accuracy; a held-out part of it picked by a `sampler` is evaluation data
    and is reported), for test-time augmentation that averages several
    passes (an evaluation loop run inside another loop, a loop of passes
    inside it, a Dataset whose `__getitem__` stacks several transformed views),
    or when the transform comes from another package or a project
    class (what it does is unknown).
    """

    code = "TL302"
    name = "random-augmentation-in-evaluation"
    severity = Severity.WARNING
    summary = "A dataset read by evaluation code applies random augmentations."

    VALID = [
        Example(
            """
import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

model = torch.nn.Linear(4, 2)
val_set = ImageFolder("data/val", transform=T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()]))
model.eval()
with torch.no_grad():
    for x, y in DataLoader(val_set, batch_size=32):
        print(model(x).argmax(1).eq(y).sum())
"""
        ),
    ]
    INVALID = [
        Example(
            """
import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

model = torch.nn.Linear(4, 2)
tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor()])
val_set = ImageFolder("data/val", transform=tf)  # expect: TL302
model.eval()
with torch.no_grad():
    for x, y in DataLoader(val_set, batch_size=32):
        print(model(x).argmax(1).eq(y).sum())
"""
        ),
    ]

    def check(self, ctx) -> None:
        model = ctx.model
        training = _loaders_of_training(model)
        reported: set[int] = set()
        training_sets: set[int] | None = None
        for loop, phase in _evaluation_loops(model):
            if _several_passes(model, loop, phase):
                continue
            for loader in model.data.loaders_iterated(loop):
                if id(loader.call) in training:
                    continue
                for construct in _dataset_constructions(model, loader):
                    if id(construct.node) in reported:
                        continue
                    if training_sets is None:
                        training_sets = _datasets_of_training(model)
                    if id(construct.node) not in training_sets or _reads_held_out_part(loader):
                        self._check_construction(ctx, model, construct, _where(model, loop, phase), reported)
        for elsewhere in evaluated_elsewhere(model):
            if _several_passes(elsewhere.model, elsewhere.loop, elsewhere.phase):
                continue
            for loader in elsewhere.loaders:
                constructs = _alternative_constructions(model, loader)
                if any(id(construct.node) in reported for construct in constructs):
                    continue
                training_sets = _datasets_of_training(model) if training_sets is None else training_sets
                for construct in constructs:  # one dataset: reported once, at the first random arm
                    if (id(construct.node) not in training_sets or _reads_held_out_part(loader)) and \
                            self._check_construction(ctx, model, construct, _where(
                                elsewhere.model, elsewhere.loop, elsewhere.phase, model.facts), reported):
                        break

    @staticmethod
    def _check_construction(ctx, model, construct, where: str, reported: set[int]) -> bool:
        transforms = transforms_of(model)
        pipeline = transforms.transform_argument(construct)
        found = transforms.random_in(pipeline, construct.scope, construct.order)
        if not found or transforms.applied_several_times(construct):
            return False
        reported.add(id(construct.node))
        ctx.report(construct.node, _message(found, where),
                   title=f"random augmentation in evaluation data "
                         f"({titles.listed(sorted({f.name for f in found}), 2, limit=36)})",
                   context={"transform": model.code(pipeline),
                            "random_transforms": sorted({f.name for f in found}),
                            # the constructions themselves, for a pipeline bound at run time
                            # (`jitter = T.Compose([...])` in the main block: not in the probe's copy)
                            "random_sources": list(dict.fromkeys(model.code(f.node) for f in found))})
        return True

    @staticmethod
    def experiment(lab):
        """The dataset's transform (evaluated in the sandbox) applied twice to the same
        image: a random transform gives two different tensors."""
        torch = lab.torch
        try:
            import torchvision.transforms  # noqa: F401 - only to know whether it can run
        except ImportError:
            return lab.inconclusive("missing_dependency", "torchvision is not installed in the sandbox: the "
                                    "transform cannot be built and applied")
        source = lab.context.get("transform")
        try:
            transform = lab.evaluate(source)
        except Exception as err:  # noqa: BLE001 - names from the script's main block
            # The pipeline is bound where the probe does not run (the main block, a
            # function): its random transforms, built from their own constructions.
            steps, texts = [], []
            for text in lab.context.get("random_sources") or []:
                try:
                    steps.append(lab.evaluate(text))
                    texts.append(text)
                except Exception:  # noqa: BLE001 - a size from a local variable
                    continue
            if not steps:
                return lab.inconclusive("experiment_error", f"the transform {source[:60]} could not be built "
                                        f"in the sandbox ({type(err).__name__}: {err})")
            lab.assume("transform", f"its random transforms {', '.join(texts)}, in order ({source[:40]} "
                                    "is built at run time)")

            def transform(image):
                for step in steps:
                    image = step(image)
                return image
        def images():
            """The same random picture as the dataset would hand it over: a PIL image
            (what `ToTensor` and the classic transforms take; torchvision brings
            Pillow), then a tensor (what the v2 and tensor pipelines also take)."""
            pixels = (torch.rand(64, 64, 3) * 255).to(torch.uint8)
            try:
                from PIL import Image
                yield "a 64x64 RGB PIL image", lambda: Image.frombytes("RGB", (64, 64), bytes(pixels.flatten().tolist()))
            except ImportError:
                pass
            yield "a float tensor [3, 64, 64]", lambda: pixels.permute(2, 0, 1).float() / 255

        def as_tensor(out):
            if isinstance(out, torch.Tensor):
                return out
            if hasattr(out, "tobytes") and hasattr(out, "size") and hasattr(out, "mode"):  # a PIL image
                data = torch.tensor(list(out.tobytes()), dtype=torch.uint8)
                return torch.cat([data, torch.tensor([*out.size, len(out.mode)])])
            return torch.as_tensor(out)

        failures, passes = [], 8
        for described, make in images():
            try:
                outputs = []
                for seed in range(passes):  # a flip with p=0.5 is skipped twice in a row 1 time in 4
                    lab.seed(seed)
                    outputs.append(as_tensor(transform(make())))
            except (TypeError, ValueError, AttributeError, RuntimeError) as err:
                failures.append(f"{described}: {type(err).__name__}: {err}")
                continue
            lab.assume("image", described)
            differ = sum(1 for out in outputs[1:] if out.shape != outputs[0].shape or not torch.equal(out, outputs[0]))
            same = differ == 0
            summary = (f"{passes} passes over the same image give the same tensor" if same else
                       f"{differ} of {passes - 1} further passes over the same image give a different tensor")
            numbers = dict(same_tensor=same, passes=passes, differing_passes=differ)
            return lab.refuted(summary, **numbers) if same else lab.confirmed(summary, **numbers)
        return lab.inconclusive("experiment_error", "the transform accepted no image the experiment tried ("
                                + "; ".join(failures)[:300] + ")")


def _evaluation_loops(model):
    """The loops of evaluation phases (a phase's own loop or loops inside it): for
    loops and comprehensions (`sum(... for x, y in test_loader)`)."""
    found = []
    seen: set[int] = set()
    for phase in model.phases.eval_phases:
        for loop in model.facts.loops:
            if loop.kind not in ("for", "comprehension") or id(loop) in seen:
                continue
            if phase.block is loop or phase.block.contains(loop):
                seen.add(id(loop))
                found.append((loop, phase))
    return found


def _loaders_of_training(model) -> set[int]:
    """Loaders a training loop iterates: their dataset is the training set."""
    found: set[int] = set()
    for loop, _scope in model.phases.train_loops:
        if loop.kind == "for" and model.phases.eval_reason_of_loop(loop) is None:
            found.update(id(loader.call) for loader in model.data.loaders_iterated(loop))
    return found


def _several_passes(model, loop, phase) -> bool:
    """Test-time augmentation: the evaluation loop runs inside another loop (one pass
    over the data per round, averaged), or holds a loop of passes (`range(n)`)."""
    training = {id(train) for train, _scope in model.phases.train_loops}
    outer = loop.parent
    if outer is not None and outer.kind == "for" and id(outer) not in training:
        return True  # an epoch loop that also trains is not a round of passes
    for other in model.facts.loops:
        if other is not loop and loop.contains(other) and isinstance(other.iter, cst.Call) \
                and isinstance(other.iter.func, cst.Name) and other.iter.func.value == "range" \
                and any(other.contains(forward.call) for forward in phase.forwards):
            return True  # several forward passes per batch (a per-sample metric loop is not)
    return False


def _dataset_constructions(model, loader, kinds=None) -> list:
    """The calls (in this file) that build the loader's dataset: one, or for a dataset
    that is a parameter (`def evaluate(net, data): DataLoader(data)`), what each
    caller passes."""
    call = loader.call
    found = []
    if kinds is None:
        kinds = datasets_of(model).possible(loader.dataset, call.scope, call.order)
    for kind in kinds:
        construct = model.facts.call_of.get(id(kind.construct)) if kind.construct is not None else None
        if construct is not None:
            found.append(construct)
    return found


def _alternative_constructions(model, loader) -> list:
    """The calls that may build the loader's dataset, one per arm that binds it
    (`if name == "a": data = A(...) else: data = B(...)`): one dataset, whichever runs."""
    call = loader.call
    return _dataset_constructions(model, loader, datasets_of(model).reaching(loader.dataset, call.scope, call.order))


def _reads_held_out_part(loader) -> bool:
    """A loader given a sampler over the training set's object (`DataLoader(train_set,
    sampler=SubsetRandomSampler(held_out))`): a validation split that keeps the
    training transform, not the training set itself."""
    for name in ("sampler", "batch_sampler"):
        value = loader.call.keyword(name)
        if value is not None and not (isinstance(value, cst.Name) and value.value == "None"):
            return True
    return False


def _datasets_of_training(model) -> set[int]:
    """The constructions of datasets that training loops read (by id of the node), here
    or in another file: an evaluation helper also called on the training set is not
    evaluation data."""
    found: set[int] = set()
    trained = trained_elsewhere(model)
    for loader in {id(l.call): l for e in model.data.loops_elsewhere() for l in e.loaders}.values():
        if id(loader.call) in trained:
            found.update(id(construct.node) for construct in _alternative_constructions(model, loader))
    for loop, _scope in model.phases.train_loops:
        if loop.kind == "for" and model.phases.eval_reason_of_loop(loop) is None:
            for loader in model.data.loaders_iterated(loop):
                found.update(id(construct.node) for construct in _dataset_constructions(model, loader))
    return found


def _where(loop_model, loop, phase, reporting=None) -> str:
    """The evaluation loop and why it evaluates, for a message about a file (`reporting`,
    its facts) that may not be the loop's: `train.py:39, evaluate(...) at line 80 there`."""
    if reporting is None or reporting is loop_model.facts:
        return f"the loop at {loop_model.where(loop.node)}, {phase.reason}"
    path = loop_model.path
    return f"the loop at {loop_model.where(loop.node)} of {path.name if path is not None else '?'}, {phase.reason} there"


def _message(found, where: str) -> str:
    names = ", ".join(f"`{name}`" for name in dict.fromkeys(f.name for f in found))
    return (f"this dataset is read by evaluation code ({where}) "
            f"but its transform applies random augmentations ({names}): every evaluation pass sees "
            f"differently cropped, flipped or recoloured inputs, so the metric is noisy and pessimistic "
            f"and model selection follows the noise. Give the evaluation dataset a deterministic "
            f"transform (e.g. `Resize` + `CenterCrop` + `ToTensor` + `Normalize`).")
