"""The ``lab`` an experiment receives: build the model, feed it, measure, conclude.

Runs inside the sandbox child (standard library and torch only). The full
API, with an example experiment, is documented in ``README.md`` beside this
file. An experiment is a self-contained function ``experiment(lab)`` that
returns one of ``lab.confirmed(...)``, ``lab.confirmed_redundant(...)``,
``lab.refuted(...)``, ``lab.not_exercised(...)`` or
``lab.inconclusive(reason, detail)``.

A failure is never turned into a confirmation or a refutation: an exception
escaping the experiment becomes ``inconclusive`` with the reason of its kind
(see :func:`classify`), and the error's last line as evidence.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import math
import os
import re
import sysconfig
import time
import traceback
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from . import sandbox_build as build
from . import sandbox_inputs as inputs_mod
from .sandbox_limits import SandboxDenied
from .sandbox_loader import MissingDependency, forget_stub_modules

VERDICTS = ("confirmed", "confirmed_redundant", "refuted", "mechanism_only", "not_exercised", "inconclusive")
#: Verdicts that speak about the user's code: an experiment that put a stand-in on the
#: flagged path gives ``mechanism_only`` instead (it showed how the bug works, not that it is here).
VERDICTS_ABOUT_THE_CODE = ("confirmed", "confirmed_redundant", "refuted")
REASONS = ("load_failed", "construct_failed", "no_inputs", "experiment_error", "timeout",
           "resource_limit", "sandbox_denied", "missing_dependency", "model_choice")

#: The input search of one model stops after this long, or when the process's peak memory
#: grew by this much since it started (a pathological model must not eat the script's budget).
INPUT_SEARCH_SECONDS = 5.0
INPUT_SEARCH_BYTES = 1 << 30
#: Reasons an experiment may answer with its stand-in model instead (said so), for rules
#: whose mechanism does not depend on the model (Lab.model_and_inputs).
_MODEL_DID_NOT_RUN = ("construct_failed", "no_inputs", "missing_dependency")
#: A trial input larger than this is not tried at all.
_REPAIR_TRIALS = 16  # dry runs the repairs of one input search may take
TRIAL_INPUT_BYTES = 256 << 20


class _SearchSpent(Exception):
    """The input search's time or memory budget is spent."""


def _peak_rss_bytes() -> int:
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux
    except (ImportError, OSError, ValueError):
        return 0


#: Attribute set on an exception as it leaves lab.forward / lab.inputs, so an
#: escaping error is classified by where it happened.
_PHASE = "_torchlint_probe_phase"


class ProbeTimeout(BaseException):
    """The experiment ran past its wall-clock budget (raised by SIGALRM).
    A BaseException so that user code's ``except Exception`` cannot swallow it."""


class Inconclusive(Exception):
    """Raise (or let the lab raise) to end an experiment without a conclusion."""

    def __init__(self, reason: str, detail: str, hint: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.hint = hint


# -- numbers in evidence --------------------------------------------------------------------


def clean(value: Any) -> Any:
    """Evidence values as JSON: floats to 6 significant digits, tensors to numbers."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return float(f"{value:.6g}")
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy scalars
        return clean(value.item())
    return str(value)


def fmt(number: Any) -> str:
    """A number for a summary line: three significant digits."""
    number = clean(number)
    if isinstance(number, float):
        return f"{number:.3g}"
    return str(number)


# -- which layers ran -----------------------------------------------------------------------


@dataclass
class Recorder:
    """What :meth:`Lab.hooks_on` saw: the watched submodules and how often each ran."""

    present: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def ran(self) -> list[str]:
        return [name for name in self.present if self.calls.get(name, 0) > 0]

    @property
    def any_ran(self) -> bool:
        return bool(self.ran)


def mode_dependent(module: nn.Module) -> bool:
    """Whether `module` behaves differently in train and eval mode."""
    if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                           nn.FeatureAlphaDropout)):
        return float(module.p) > 0
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)):
        return bool(module.track_running_stats)
    if isinstance(module, nn.RNNBase):
        return float(module.dropout) > 0 and module.num_layers > 1
    return isinstance(module, nn.RReLU)


# -- error classification -------------------------------------------------------------------

_MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "not enough memory",
                 "out of memory", "defaultcpuallocator")


#: Frames in these folders are library code, never "where" an error happened for the user.
_LIBRARY_PREFIXES = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib",
                                                                   "platlib")})
_HERE = os.path.dirname(os.path.abspath(__file__))
_ALLOCATION_RE = re.compile(r"(can't allocate memory: you tried to allocate \d+ bytes)")


def last_line(err: BaseException) -> str:
    """``Type: message (at file.py:42)`` of an exception, on one line."""
    message = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {message[0]}" if message and message[0] else type(err).__name__
    allocation = _ALLOCATION_RE.search(str(err))
    if allocation:  # torch's allocator message carries C++ noise around the useful part
        text = f"{type(err).__name__}: {allocation.group(1)}"
    frames = traceback.extract_tb(err.__traceback__)
    user = [f for f in frames if not f.filename.startswith(_LIBRARY_PREFIXES)
            and "site-packages" not in f.filename and not f.filename.startswith("<")
            and os.path.dirname(os.path.abspath(f.filename)) != _HERE]
    if user:
        where = user[-1]
        text += f" (at {os.path.basename(where.filename)}:{where.lineno})"
    return text


def is_memory_error(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    if isinstance(err, OSError) and err.errno in (errno.ENOMEM, errno.EFBIG):
        return True
    return isinstance(err, RuntimeError) and any(w in str(err).lower() for w in _MEMORY_WORDS)


def classify(err: BaseException) -> tuple[str, str, str | None]:
    """(reason, detail, hint) for an exception that ended an experiment."""
    if isinstance(err, Inconclusive):
        return err.reason, err.detail, err.hint
    if isinstance(err, ProbeTimeout):
        return "timeout", str(err), None
    if isinstance(err, SandboxDenied):
        return "sandbox_denied", last_line(err), None
    if isinstance(err, MissingDependency):
        return "missing_dependency", str(err), None
    if isinstance(err, ModuleNotFoundError):
        return "missing_dependency", last_line(err), None
    if is_memory_error(err):
        return "resource_limit", last_line(err), None
    phase = getattr(err, _PHASE, None)
    if phase == "forward-synthesized":
        return "no_inputs", f"the forward pass failed on the synthesized inputs: {last_line(err)}", \
            getattr(err, "_torchlint_probe_hint", None)
    return "experiment_error", last_line(err), None


def _special(err: BaseException) -> bool:
    """Errors that keep their own reason wherever they happen."""
    return isinstance(err, (Inconclusive, ProbeTimeout, SandboxDenied, MissingDependency,
                            ModuleNotFoundError)) or is_memory_error(err)


# -- hints -----------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def hint_snippet(class_name: str, init: dict[str, Any] | None = None,
                 inputs: dict[str, str] | None = None, comment: str | None = None) -> str:
    """A ready-to-paste pyproject.toml section."""
    lines = [f"[tool.torchlint.probe.classes.{_toml_key(class_name)}]"]
    if comment:
        lines.append(f"# {comment}")
    if init:
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in init.items())
        lines.append(f"init = {{ {items} }}")
    if inputs:
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in inputs.items())
        lines.append(f"inputs = {{ {items} }}")
    if not init and not inputs:
        lines.append('factory = "probe_model.py:make_model"  # a function returning the built model')
    return "\n".join(lines)


# -- the lab -----------------------------------------------------------------------------------


@dataclass
class _Made:
    prepared: build.Prepared
    class_name: str


class Lab:
    """What an experiment can use. See README.md for the full API."""

    Inconclusive = Inconclusive
    DEFAULT_BATCH = inputs_mod.DEFAULT_BATCH
    DEFAULT_SEQ = inputs_mod.DEFAULT_SEQ

    def __init__(self, runtime: Any, experiment: dict[str, Any]) -> None:
        self._runtime = runtime
        self.torch = torch
        self.nn = nn
        self.F = torch.nn.functional
        self.finding: dict[str, Any] = {
            "code": experiment["code"], "message": experiment["message"],
            "line": experiment["line"], "column": experiment["column"],
            "context": experiment.get("context", {}),
        }
        self.context: dict[str, Any] = self.finding["context"]
        self.batch_size = inputs_mod.DEFAULT_BATCH
        self.seq_len = inputs_mod.DEFAULT_SEQ
        self._spec_index: int | None = experiment.get("model")
        self._unbuilt: str | None = experiment.get("unbuilt")  # why no model can be built, if known
        self._assumptions: dict[str, Any] = {}
        self._stand_ins: dict[str, str] = {}
        self._made: weakref.WeakKeyDictionary[nn.Module, _Made] = weakref.WeakKeyDictionary()
        # The chosen input layout of each built model (its sizes are its own).
        self._layouts: weakref.WeakKeyDictionary[nn.Module, tuple[dict[str, inputs_mod.Plan], int]] = \
            weakref.WeakKeyDictionary()
        self._input_hints: dict[str, str] = {}  # per class: the inputs hint to suggest
        self._search_started: tuple[float, int, int] | None = None  # (time, peak memory, trials)
        self._last_repaired: dict[str, inputs_mod.Plan] | None = None  # plans the errors changed
        self._dimension_names: dict[str, Any] = {}
        # The arguments the script's constructions passed, by parameter (kept: the
        # models built may be gone by the time an experiment asks).
        self._passed: list[dict[str, Any]] = []

    # -- the user's code ------------------------------------------------------------------

    @property
    def script(self) -> Any:
        """The stripped script module (its functions, classes and constants)."""
        return self._runtime.script

    def deep_copy_of(self, model: Any, attribute: str | None = None) -> Any:
        """What a script's `copy.deepcopy(...)` of the model (or of its submodule at the
        dotted `attribute`) holds: the same values in new tensors."""
        import copy

        target = model
        for part in attribute.split(".") if attribute else ():
            target = getattr(target, part)
        return copy.deepcopy(target)

    def evaluate(self, source: str, names: dict[str, Any] | None = None) -> Any:
        """Evaluate an expression in the script's namespace (e.g. a loss construction
        that a rule put in the finding's context); `names` binds local names first
        (``{"model": model}`` for ``optim.SGD(model.parameters(), lr=args.lr)``)."""
        return eval(compile(source, "<probe expression>", "eval"), vars(self.script),  # noqa: S307
                    dict(names or {}))

    def seed(self, value: int = 0) -> None:
        torch.manual_seed(value)

    def assume(self, key: str, value: Any) -> None:
        """Record an assumption the verdict depends on."""
        self._assumptions[key] = clean(value)

    def stand_in(self, what: str, description: str) -> None:
        """Record that the experiment put a stand-in of its own (a model, loss, loop or
        predictions) on the flagged path instead of the script's object. Its verdict
        then says only that the mechanism works (``mechanism_only``), never that this
        code has the bug or not."""
        self._stand_ins[what] = description
        self._assumptions[what] = clean(description)

    @property
    def used_stand_ins(self) -> bool:
        return bool(self._stand_ins)

    @staticmethod
    def user_code_failure(err: BaseException) -> str | None:
        """Why the script's code failed (``"missing_dependency: ..."``) when `err` is a
        failure of the user's model an experiment may work around with a stand-in (said
        so); None for what must end the experiment as it is (a timeout, the sandbox's
        denial, memory)."""
        reason, detail, _ = classify(err)
        if reason in ("timeout", "sandbox_denied", "resource_limit"):
            return None
        return f"{reason}: {detail}"

    # -- building ---------------------------------------------------------------------------

    def model_class(self, class_name: str | None = None) -> type:
        spec = self._runtime.spec(class_name, self._spec_index)
        # (a model made by a factory function: the class it returns, not the function)
        return eval(compile(spec.get("class_callee", spec["callee"]), "<probe callee>", "eval"),  # noqa: S307
                    self._runtime.namespace(spec.get("class_module", spec["module"])))

    def build_model(self, class_name: str | None = None, *, overrides: dict[str, Any] | None = None
                    ) -> nn.Module:
        """The model as the script builds it (or class `class_name`), in train mode,
        with seeded weights (two builds have identical parameters)."""
        try:
            spec = self._runtime.spec(class_name, self._spec_index)
        except LookupError as err:
            # No model of the script is known here (a function that receives its model):
            # a factory hint named after the model the finding names builds it.
            name = class_name or self._named_model() or "YourModel"
            if self._runtime.factory(name, "model") is not None:
                return self._from_factory(name)
            if self._unbuilt is not None and class_name is None:
                raise Inconclusive("missing_dependency", self._unbuilt) from None
            raise Inconclusive("construct_failed", str(err), hint_snippet(
                name, comment=None if class_name else
                f"the finding's model `{name}` is not built in this file: a function returning it")) \
                from None
        name = spec.get("class") or spec["callee"]
        hint = self._runtime.hint(name)
        if self._runtime.factory(name, "model") is not None:
            return self._from_factory(name)
        try:
            prepared = build.prepare(spec, self._runtime.namespace(spec["module"]),
                                     self._runtime.namespace(spec.get("args_module", spec["module"])),
                                     hint.get("init", {}), overrides or {}, self._nested_model)
        except build.ConstructionError as err:
            raise Inconclusive("construct_failed", str(err), hint_snippet(name)) from None
        if "constructor" not in self._assumptions:  # recorded before running it: failures show it
            self._assumptions["constructor"] = prepared.call
            if spec.get("origin"):
                self._assumptions["construction"] = spec["origin"]
            if prepared.substitutions:
                self._assumptions.setdefault("substitutions", {}).update(prepared.substitutions)
            if hint:
                self._assumptions["hint"] = self._runtime.hint_source(name)
            others = self.context.get("alternatives")
            if others and spec.get("class") == self.context.get("class"):
                # the script chooses its model at run time (a branch on its configuration)
                self._assumptions["alternatives"] = (
                    f"the script may build {' or '.join(others)} instead: this verdict is about {name}")
        if overrides:
            self._assumptions.setdefault("overrides", {}).update(
                {k: build.describe_value(v) for k, v in overrides.items()})
        try:
            model = build.construct(prepared)
        except Exception as err:  # noqa: BLE001 - any constructor failure
            if _special(err):
                raise
            where = f" (built as {prepared.call})"
            raise Inconclusive("construct_failed", last_line(err) + where,
                               self._construction_hint(name, prepared, err)) from None
        model.train()
        if any(isinstance(v, build.GuessedConfig) for v in prepared.arguments.values()):
            self._assumptions["constructor"] = prepared.call  # now with the attributes it read
        self._made[model] = _Made(prepared, name)
        if prepared.passed and not overrides:
            self._passed.append(prepared.passed)
        return model

    def _nested_model(self, spec: dict[str, Any]) -> nn.Module:
        """A model the script builds and passes to the model's constructor (the encoder
        of ``Seq2Seq(encoder, decoder)``), built from its own construction spec (hints
        for its class apply); a failure fails the outer construction."""
        name = spec.get("class") or spec["callee"]
        prepared = build.prepare(spec, self._runtime.namespace(spec["module"]),
                                 self._runtime.namespace(spec.get("args_module", spec["module"])),
                                 self._runtime.hint(name).get("init", {}), {}, self._nested_model)
        for key, value in prepared.substitutions.items():
            self._assumptions.setdefault("substitutions", {})[f"{name}.{key}"] = value
        try:
            return build.construct(prepared)
        except Exception as err:  # noqa: BLE001 - reported as the outer construction's failure
            if _special(err):
                raise
            raise build.ConstructionError(f"{prepared.call} (passed to the model) failed: "
                                          f"{last_line(err)}") from None

    def _construction_hint(self, name: str, prepared: build.Prepared, err: BaseException) -> str:
        """The hint for a construction that raised. Re-pasting the guessed numbers changes
        nothing, so where the constructor used a guessed value as something else (an int
        subscripted, measured, iterated; a guessed config) the hint asks for a factory;
        where a hint is already in use it is printed whole, to be corrected."""
        used = self._runtime.hint(name)
        if used:
            source = self._runtime.hint_source(name)
            return f"# in use, and the construction still fails: {source}\n" + \
                hint_snippet(name, used.get("init"), used.get("inputs"))
        guessed = prepared.guessed
        text = str(err)
        misused = isinstance(err, (TypeError, AttributeError, AssertionError, IndexError, KeyError)) \
            and (isinstance(err, AssertionError) or "int" in text or "NoneType" in text)
        config = any(isinstance(v, build.GuessedConfig) for v in prepared.arguments.values())
        if misused or config or not guessed:
            if not guessed:
                return hint_snippet(name)  # the script's own arguments failed: only a factory helps
            shown = ", ".join(f"{k}={v!r}" for k, v in guessed.items())
            return hint_snippet(name, comment=f"{name} failed on the probe's guesses ({shown}): a function "
                                f"in probe_model.py that builds it as the script does")
        return hint_snippet(name, guessed)

    def _named_model(self) -> str | None:
        """The name of the model the finding names (``net`` of ``val(net, loader)``)."""
        named = self.context.get("model_var") or self.context.get("model")
        if isinstance(named, str) and named:
            return named.rsplit(".", 1)[-1]
        return None

    def _from_factory(self, name: str) -> nn.Module:
        factory = self._runtime.factory(name, "model")
        try:
            model = factory()
        except Exception as err:  # noqa: BLE001
            if _special(err):
                raise
            raise Inconclusive("construct_failed",
                               f"the hint's factory failed: {last_line(err)}") from None
        self._assumptions["constructor"] = f"{name} from the hint's factory"
        self._assumptions["hint"] = self._runtime.hint_source(name)
        if not isinstance(model, nn.Module):
            raise Inconclusive("construct_failed", "the hint's factory returned "
                               f"{type(model).__name__}, not an nn.Module")
        model.train()
        return model

    def build_from_context(self, stand_in: str | None = None) -> nn.Module:
        """The model the finding is about, in train mode, from the finding's context:

        - ``construct`` (a torch layer the script builds outside any class, e.g.
          ``nn.Sequential(...)``): that source evaluated in the script's namespace
          (seeded); :meth:`inputs` feeds it as ``nn.Sequential(layer)`` would be fed;
        - else, with `stand_in` (source of a torch layer, e.g. ``"nn.Linear(8, 4)"``)
          and no ``class`` in the context (no model of the script reaches the code
          the finding is about): the stand-in, recorded as an assumption;
        - else :meth:`build_model`: the script's construction of the model
          (``construct_line``, ``model_var``/``model``, ``class``).

        Raises ``Inconclusive("construct_failed", ...)`` when the source does not
        evaluate to a module."""
        text = self.context.get("construct")
        if not text and stand_in is not None and not self.context.get("class"):
            # The model may still be known: a caller passes it in, or the finding names the
            # variable it is bound to. The user's model first; the stand-in only without it.
            known = self._spec_index is not None or \
                self._runtime.factory(self._named_model() or "YourModel", "model") is not None
            try:
                return self.build_model()
            except Inconclusive as err:
                return self._stand_in_model(stand_in, f"{err.reason}: {err.detail}" if known else None)
            except Exception as err:  # noqa: BLE001 - the user's constructor failed
                failure = self.user_code_failure(err)
                if failure is None:
                    raise
                return self._stand_in_model(stand_in, failure)
        if not text:
            return self.build_model()
        self._assumptions["constructor"] = text  # recorded before running it: failures show it
        made = self._layer_from_source(text, vars(self.script))
        changes = self.context.get("construct_then")
        if changes and isinstance(self.context.get("construct_var"), str):
            made = self._apply_changes(made, self.context["construct_var"], changes, vars(self.script))
        return made

    def _apply_changes(self, made: nn.Module, name: str, changes: list[str], namespace: dict[str, Any]
                       ) -> nn.Module:
        """The script's changes to a library model it built (``net.fc = nn.Linear(...)``),
        run on the built model under the script's name for it. One that fails here (a
        name only the script's run defines) is skipped and said so: the verdict is about
        the network with the changes that could be made."""
        scope = {**namespace, name: made}
        applied, skipped = [], {}
        for change in changes:
            try:
                exec(compile(change, "<probe change>", "exec"), scope)  # noqa: S102
            except Exception as err:  # noqa: BLE001 - reported, the rest still applies
                if _special(err):
                    raise
                skipped[change] = last_line(err)
            else:
                applied.append(change)
        if applied:
            self._assumptions["changes_applied"] = applied
        if skipped:
            self._assumptions["changes_not_applied"] = skipped
        result = scope[name]
        return result.train() if isinstance(result, nn.Module) else made

    def _stand_in_model(self, source: str, not_run: str | None) -> nn.Module:
        """The experiment's own model `source` on the flagged path (the verdict is then
        ``mechanism_only``); `not_run` says why the script's model did not run, None
        when no model of the script is known to reach the finding."""
        if not_run is None:
            self.stand_in("model", f"a stand-in {source}: no model of the script reaches this loop")
        else:
            self.stand_in("model", f"a stand-in {source}: the script's model did not run here")
            self._assumptions["model_not_run"] = clean(not_run)
        return self._layer_from_source(source, {"torch": torch, "nn": nn, "F": self.F})

    def model_and_inputs(self, stand_in: str) -> tuple[nn.Module, inputs_mod.Inputs]:
        """:meth:`build_from_context` with `stand_in`, and the model's inputs; when the
        script's model does not build or run here (its constructor failing, no input
        found for it, a missing module, its forward raising), the stand-in and its
        inputs, said so: the verdict is ``mechanism_only``, the reason recorded as
        ``model_not_run``. For loop rules whose mechanism does not depend on which
        model runs."""
        try:
            model = self.build_from_context(stand_in=stand_in)
            inputs = self.inputs(model)
            if not self.used_stand_ins:
                self._trial_forward(model, inputs)
            return model, inputs
        except Inconclusive as err:
            if self.used_stand_ins or err.reason not in _MODEL_DID_NOT_RUN:
                raise
            not_run = f"{err.reason}: {err.detail}"
        except Exception as err:  # noqa: BLE001 - the user's forward failed on every input
            failure = self.user_code_failure(err)
            if self.used_stand_ins or failure is None:
                raise
            not_run = failure
        self._assumptions.pop("inputs", None)
        model = self._stand_in_model(stand_in, not_run)
        return model, self.inputs(model)

    def _trial_forward(self, model: nn.Module, inputs: inputs_mod.Inputs) -> None:
        """One forward pass in eval mode without grad (no running statistics, no dropout
        draw changes the model): raises what the model raises on these inputs (an
        abstract forward, a missing module reached only when it runs)."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                self.output_tensor(self.forward(model, inputs))
        finally:
            model.train(was_training)

    @staticmethod
    def _layer_from_source(text: str, namespace: dict[str, Any]) -> nn.Module:
        torch.manual_seed(0)  # seeded like build_model: two builds are identical
        try:
            made = eval(compile(text, "<probe construction>", "eval"), namespace)  # noqa: S307
        except Exception as err:  # noqa: BLE001 - any construction failure
            if _special(err):
                raise
            raise Inconclusive("construct_failed", f"{text}: {last_line(err)}") from None
        if not isinstance(made, nn.Module):
            raise Inconclusive("construct_failed", f"{text} built {type(made).__name__}, not an nn.Module")
        return made.train()

    def constructor_arguments(self, model: nn.Module) -> dict[str, Any]:
        made = self._made.get(model)
        return dict(made.prepared.arguments) if made else {}

    # -- inputs ---------------------------------------------------------------------------------

    def inputs(self, model: nn.Module, batch: int | None = None, seq_len: int | None = None,
               seed: int = 0) -> inputs_mod.Inputs:
        """Arguments for ``model.forward`` with batch size `batch` (default 4) and
        sequence length `seq_len` (default 6); the same seed gives the same samples."""
        batch = batch or self.batch_size
        seq = seq_len or self.seq_len
        made = self._made.get(model)
        name = made.class_name if made else type(model).__name__
        layout_key = model
        model = inputs_mod.feedable(model)  # a bare torch layer: fed as nn.Sequential(layer)
        factory = self._runtime.factory(name, "inputs")
        if factory is not None:
            return self._factory_inputs(model, factory, name, batch)
        hint = self._runtime.hint(name)
        names = made.prepared.dimension_names() if made else {}
        try:
            hinted = {k: inputs_mod.parse_spec(v, names) for k, v in hint.get("inputs", {}).items()}
        except ValueError as err:
            raise Inconclusive("no_inputs", f"the hint for {name}: {err}") from None
        try:
            plans, missing = inputs_mod.plan_inputs(model, hinted)
        except Exception as err:  # noqa: BLE001
            if _special(err):
                raise
            raise Inconclusive("no_inputs", f"cannot plan inputs: {last_line(err)}") from None
        params = ", ".join(p.name for p in inputs_mod.forward_parameters(model))
        suggestion = inputs_mod.hint_text(model, plans, missing, names)
        self._dimension_names = names
        self._input_hints[name] = hint_snippet(
            name, inputs=suggestion,
            comment="B and T are chosen by the probe; other names are constructor arguments")
        if missing:
            quoted = ", ".join(f"`{m}`" for m in missing)
            raise Inconclusive(
                "no_inputs",
                f"cannot tell what forward({params}) needs for {quoted}: "
                "it reaches no layer the probe knows",
                hint_snippet(name, inputs=suggestion,
                             comment="B and T are chosen by the probe; other names are "
                                     "constructor arguments"))
        layout = self._layouts.get(layout_key)
        if layout is None:
            try:
                layout = self._choose_layout(model, plans, batch, seq, seed, name, suggestion, params)
            except BaseException:
                with contextlib.suppress(Exception):  # record what was tried, then fail
                    self._assumptions.setdefault("inputs", inputs_mod.build_inputs(
                        model, plans, batch, seq, inputs_mod.SPATIAL_CANDIDATES[0], seed).specs)
                raise
            self._layouts[layout_key] = layout
        chosen, spatial = layout
        made_inputs = inputs_mod.build_inputs(model, chosen, batch, seq, spatial, seed)
        self._assumptions.setdefault("inputs", made_inputs.specs)
        if hinted:
            self._assumptions.setdefault("hint", self._runtime.hint_source(name))
        return made_inputs

    def _choose_layout(self, model: nn.Module, plans: dict[str, inputs_mod.Plan], batch: int,
                       seq: int, seed: int, name: str, suggestion: dict[str, str],
                       params: str) -> tuple[dict[str, inputs_mod.Plan], int]:
        if not any(p.source == "synthesized" for p in plans.values()):
            return plans, inputs_mod.SPATIAL_CANDIDATES[0]
        first_error: BaseException | None = None
        self._last_repaired: dict[str, inputs_mod.Plan] | None = None
        self._search_started = (time.monotonic(), _peak_rss_bytes(), 0)
        try:
            for candidate, spatial in inputs_mod.candidate_layouts(plans, model):
                try:
                    trial = inputs_mod.build_inputs(model, candidate, max(batch, 2), seq, spatial, seed)
                except Exception as err:  # noqa: BLE001
                    if _special(err):
                        raise
                    first_error = first_error or err
                    continue
                if _input_bytes(trial) > TRIAL_INPUT_BYTES:
                    continue
                error = self._dry_run(model, trial)
                if error is None:
                    if spatial in inputs_mod.pool_sizes(model):
                        self._assumptions["spatial_size"] = (
                            f"{spatial}: the kernel size of a pooling layer (an input built for it)")
                    return candidate, spatial
                first_error = first_error or error
            assert first_error is not None
            if inputs_mod.spatial_needed(plans):
                spatial = self._fit_spatial(model, plans, seq, seed)
                if spatial is not None:
                    return plans, spatial
            repaired = self._repair(model, plans, first_error, batch, seq, seed)
            if repaired is not None:
                return repaired
        except _SearchSpent as spent:
            raise Inconclusive(
                "no_inputs", f"forward({params}): the input search stopped: {spent}"
                + (f"; first failure: {last_line(first_error)}" if first_error else ""),
                hint_snippet(name, inputs=suggestion,
                             comment="B and T are chosen by the probe; other names are "
                                     "constructor arguments")) from None
        finally:
            self._search_started = None
        tried = inputs_mod.build_inputs(model, plans, batch, seq, inputs_mod.SPATIAL_CANDIDATES[0],
                                        seed).specs if first_error else {}
        if self._last_repaired is not None:  # the hint starts from what the errors taught
            suggestion = inputs_mod.hint_text(model, self._last_repaired, [], self._dimension_names)
        raise Inconclusive(
            "no_inputs",
            f"forward({params}) failed on every synthesized input tried "
            f"({', '.join(f'{k}: {v}' for k, v in tried.items())}): {last_line(first_error)}",
            hint_snippet(name, inputs=suggestion,
                         comment="B and T are chosen by the probe; other names are "
                                 "constructor arguments"))

    def _fit_spatial(self, model: nn.Module, plans: dict[str, inputs_mod.Plan], seq: int,
                     seed: int) -> int | None:
        """The spatial size whose conv/pool output, flattened, has the width of the
        first Linear it reaches (MNIST-like nets built for 14x14 or 100x100 inputs):
        searched, since no size of SPATIAL_CANDIDATES ran. Recorded as an assumption."""
        last: list[inputs_mod.WidthMismatch] = []

        def measure(spatial: int) -> str:
            trial = inputs_mod.build_inputs(model, plans, 2, seq, spatial, seed)
            if _input_bytes(trial) > TRIAL_INPUT_BYTES:
                return "other"  # (a 2-D size of thousands): the search ends here
            with inputs_mod.width_checks(model):
                error = self._dry_run(model, trial)
            if error is None:
                return "ok"
            if isinstance(error, inputs_mod.WidthMismatch):
                last.append(error)
                return "small" if error.got < error.want else "large"
            return "small" if inputs_mod.too_small(error) else "other"

        spatial = inputs_mod.search_spatial(measure)
        if spatial is not None:
            tried = ", ".join(str(s) for s in inputs_mod.SPATIAL_CANDIDATES)
            matched = f"whose features match {last[-1].layer} (in_features {last[-1].want})" if last \
                else "that runs"
            self._assumptions["spatial_size"] = f"{spatial}: none of {tried} ran; the smallest size {matched}"
        return spatial

    def _repair(self, model: nn.Module, plans: dict[str, inputs_mod.Plan], error: BaseException,
                batch: int, seq: int, seed: int) -> tuple[dict[str, inputs_mod.Plan], int] | None:
        """Plans changed by what the forward's own errors say, a few rounds: an unpack
        of more dimensions than given (``seq_len, batch, dim = x.size()``) makes 2-D float
        inputs sequences (time-first, then batch-first); a Linear given the wrong
        number of features (an input concatenated with others before it) corrects
        the width of the input planned for that Linear. Recorded as an assumption."""
        spatial = inputs_mod.SPATIAL_CANDIDATES[0]
        # Breadth first over the repairs whose error changed (an unpack repair offers two
        # layouts; only one of them may lead on), a few rounds and a bounded number of trials.
        frontier = [(plans, error, [])]
        trials = 0
        for _ in range(4):
            following = []
            for current, current_error, steps in frontier:
                for candidate, why in inputs_mod.repairs(current, current_error, model):
                    if trials >= _REPAIR_TRIALS:
                        return None
                    trials += 1
                    trial = inputs_mod.build_inputs(model, candidate, max(batch, 2), seq, spatial, seed)
                    found = self._dry_run(model, trial)
                    if found is None:
                        self._assumptions["inputs_repaired"] = [*steps, why]
                        return candidate, spatial
                    if str(found) != str(current_error):
                        following.append((candidate, found, [*steps, why]))
            if not following:
                return None
            frontier = following[:3]
            self._last_repaired = frontier[0][0]
        return None

    def _spend(self) -> None:
        """Count one trial of the input search; raise _SearchSpent past its budget."""
        started = self._search_started
        if started is None:
            return
        when, memory, trials = started
        self._search_started = (when, memory, trials + 1)
        elapsed = time.monotonic() - when
        if elapsed > INPUT_SEARCH_SECONDS:
            raise _SearchSpent(f"{trials} trial forward passes took {elapsed:.1f} s (the limit is "
                               f"{INPUT_SEARCH_SECONDS:.0f} s)")
        grown = _peak_rss_bytes() - memory
        if grown > INPUT_SEARCH_BYTES:
            raise _SearchSpent(f"{trials} trial forward passes grew the memory by "
                               f"{grown / (1 << 30):.1f} GiB (the limit is 1 GiB)")

    def _dry_run(self, model: nn.Module, trial: inputs_mod.Inputs) -> BaseException | None:
        self._spend()
        modes = [(m, m.training) for m in model.modules()]
        rng = torch.get_rng_state()
        model.eval()
        try:
            with torch.no_grad():
                model(*trial.args, **trial.kwargs)
            return None
        except Exception as err:  # noqa: BLE001
            if _special(err):
                raise
            return err
        finally:
            for module, training in modes:
                module.training = training
            torch.set_rng_state(rng)

    def _factory_inputs(self, model: nn.Module, factory: Any, name: str,
                        batch: int) -> inputs_mod.Inputs:
        try:
            made = factory(model, batch) if len(inspect.signature(factory).parameters) > 1 \
                else factory(model)
        except Exception as err:  # noqa: BLE001
            if _special(err):
                raise
            raise Inconclusive("no_inputs", f"the hint's input factory failed: {last_line(err)}") \
                from None
        if isinstance(made, dict):
            args, kwargs = [], made
        elif isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], dict) \
                and isinstance(made[0], (list, tuple)):
            args, kwargs = list(made[0]), made[1]
        elif isinstance(made, (list, tuple)):
            args, kwargs = list(made), {}
        else:
            args, kwargs = [made], {}
        arguments = [inputs_mod.InputArg(f"arg{i}", v, build.describe_value(v), None, True)
                     for i, v in enumerate(args)]
        arguments += [inputs_mod.InputArg(k, v, build.describe_value(v), None, False)
                      for k, v in kwargs.items()]
        self._assumptions.setdefault("inputs", {a.name: a.spec for a in arguments})
        self._assumptions.setdefault("hint", self._runtime.hint_source(name))
        return inputs_mod.Inputs(arguments, batch, False)

    # -- running -----------------------------------------------------------------------------

    def forward(self, model: nn.Module, inputs: inputs_mod.Inputs) -> Any:
        """``model(*inputs.args, **inputs.kwargs)``; grad mode and model mode as they are."""
        try:
            return model(*inputs.args, **inputs.kwargs)
        except Exception as err:
            if not _special(err) and getattr(err, _PHASE, None) is None:
                setattr(err, _PHASE, "forward-synthesized" if inputs.synthesized else "forward")
                made = self._made.get(model)
                hint = self._input_hints.get(made.class_name if made else type(model).__name__)
                if hint and inputs.synthesized:
                    setattr(err, "_torchlint_probe_hint", hint)
            raise

    def output_tensor(self, output: Any) -> torch.Tensor:
        """The main floating-point tensor of a forward's output (first of a tuple,
        ``logits`` of a dict or model output)."""
        found = _first_tensor(output)
        if found is None:
            raise Inconclusive("experiment_error",
                               f"the forward pass returned no tensor ({type(output).__name__})")
        return found

    def output_tensors(self, output: Any) -> list[torch.Tensor]:
        """Every floating-point tensor a forward returns, in order (a tuple's items, a
        dict's values): a model may return several heads, and only one of them may
        reach the loss the finding is about."""
        found: list[torch.Tensor] = []

        def collect(value: Any, depth: int = 0) -> None:
            if isinstance(value, torch.Tensor):
                if value.is_floating_point():
                    found.append(value)
            elif depth < 3 and isinstance(value, (list, tuple)):
                for item in value:
                    collect(item, depth + 1)
            elif depth < 3 and isinstance(value, dict):
                for item in value.values():
                    collect(item, depth + 1)

        collect(output)
        if not found:
            raise Inconclusive("experiment_error",
                               f"the forward pass returned no tensor ({type(output).__name__})")
        return found

    def modules_of_type(self, model: nn.Module, types: Any) -> list[tuple[str, nn.Module]]:
        wanted = _types(types)
        return [(n, m) for n, m in model.named_modules() if n and isinstance(m, wanted)]

    def mode_dependent_modules(self, model: nn.Module) -> list[tuple[str, nn.Module]]:
        """Submodules whose output depends on train/eval mode (dropout with p > 0,
        batch norm with running statistics, multi-layer RNNs with dropout, RReLU)."""
        return [(n, m) for n, m in model.named_modules() if n and mode_dependent(m)]

    @contextlib.contextmanager
    def hooks_on(self, model: nn.Module, layers: Any) -> Iterator[Recorder]:
        """Count the forward calls of the watched submodules while the block runs.
        `layers`: classes, class names ("BatchNorm1d"), or (name, module) pairs."""
        watched = _watched(model, layers)
        recorder = Recorder(present=[name for name, _ in watched])
        handles = []
        for name, module in watched:
            def hook(_module: nn.Module, _inputs: Any, _output: Any, name: str = name) -> None:
                recorder.calls[name] = recorder.calls.get(name, 0) + 1

            handles.append(module.register_forward_hook(hook))
        try:
            yield recorder
        finally:
            for handle in handles:
                handle.remove()

    def train_then_eval(self, model: nn.Module, inputs: Any, layers: Any, eval_passes: int = 1
                        ) -> tuple[torch.Tensor, list[torch.Tensor], Recorder]:
        """The model's output on `inputs` in train mode (hooks on `layers`), then
        `eval_passes` outputs in eval mode, without gradients; the model is left in eval
        mode. An all-zero output shows nothing (a network whose weights start at zero,
        waiting for trained ones): its all-zero weights get random values
        (:meth:`randomize_zero_weights`) and the passes run again."""
        for _attempt in range(2):
            model.train()
            with torch.no_grad():
                with self.hooks_on(model, layers) as seen:
                    train_out = self.output_tensor(self.forward(model, inputs))
                model.eval()
                eval_outs = [self.output_tensor(self.forward(model, inputs)) for _ in range(eval_passes)]
            if float(eval_outs[0].detach().abs().mean()) > 0 or not self.randomize_zero_weights(model):
                break
        return train_out, eval_outs, seen

    def randomize_zero_weights(self, model: nn.Module, seed: int = 0) -> int:
        """Give random values (seeded) to the model's weight matrices and kernels that are
        all zero: a model written to receive trained weights (FCN's layers start at zero
        and are copied from VGG16) computes nothing but zeros as built, so it shows no
        behaviour at all. Said in the assumptions; returns how many were changed."""
        generator = torch.Generator().manual_seed(seed)
        changed = 0
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.dim() >= 2 and not parameter.any():
                    fan_in = parameter[0].numel()  # He's scale keeps deep stacks' outputs moderate
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * (2 / fan_in) ** 0.5)
                    changed += 1
        if changed:
            self._assumptions["zero_weights"] = (
                f"{changed} weight tensors are all zero as built (the script loads trained weights into "
                f"them): given random values, so that the layers compute something")
        return changed

    def class_targets(self, logits: torch.Tensor, num_classes: int | None = None,
                      seed: int = 0) -> torch.Tensor:
        """Random class indices for `logits` (classes on the last dimension)."""
        classes = num_classes or int(logits.shape[-1])
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(0, classes, tuple(logits.shape[:-1]), generator=generator)

    def pretrained_matrix(self, rows: int, columns: int, seed: int = 1, param: str | None = None) -> Any:
        """A random "pretrained" matrix as the script would load it: of the type the
        script's construction passes for constructor parameter `param` (a tensor for
        `Net(vectors=torch.load(...))`), else a numpy array where numpy is
        installed, else a tensor."""
        generator = torch.Generator().manual_seed(seed)
        matrix = torch.randn(rows, columns, generator=generator) * 3 + 1
        passed = self._passed_by_script(param) if param else None
        if isinstance(passed, torch.Tensor):
            self._assumptions["pretrained_matrix"] = f"a tensor, as the script passes for {param}"
            return matrix
        if self._runtime.numpy_available:
            return matrix.numpy()
        self._assumptions["pretrained_matrix"] = "a tensor (numpy is not installed)"
        return matrix

    def _passed_by_script(self, param: str) -> Any:
        """What the script's construction of the models built so far passes for `param`."""
        for passed in self._passed:
            if param in passed:
                return passed[param]
        return None

    @staticmethod
    def max_abs_diff(a: Any, b: Any) -> float:
        a = torch.as_tensor(a).detach().double()
        b = torch.as_tensor(b).detach().double()
        if a.numel() == 0:
            return 0.0
        return float((a - b).abs().max())

    @staticmethod
    def fmt(number: Any) -> str:
        return fmt(number)

    @staticmethod
    def listing(items: list[str], most: int = 5) -> str:
        """``a, b, c, d, e and 48 more``: a summary line stays readable for a ResNet's
        fifty BatchNorm layers (the evidence's numbers keep the whole list)."""
        shown = ", ".join(items[:most])
        return shown + (f" and {len(items) - most} more" if len(items) > most else "")

    # -- verdicts --------------------------------------------------------------------------------

    def _verdict(self, verdict: str, summary: str, numbers: dict[str, Any]) -> dict[str, Any]:
        evidence = {"summary": str(summary)}
        evidence.update({k: clean(v) for k, v in numbers.items()})
        if verdict in VERDICTS_ABOUT_THE_CODE and self._stand_ins:
            # The effect was (or was not) seen on objects the experiment made up: that
            # is a demonstration of the mechanism, not a verdict on the user's code.
            evidence["effect"] = "absent" if verdict == "refuted" else "shown"
            evidence["stand_ins"] = dict(self._stand_ins)
            evidence["summary"] = f"on stand-ins ({', '.join(self._stand_ins)}), not the script's: {summary}"
            verdict = "mechanism_only"
        return {"verdict": verdict, "evidence": evidence}

    def confirmed(self, summary: str, **numbers: Any) -> dict[str, Any]:
        return self._verdict("confirmed", summary, numbers)

    def confirmed_redundant(self, summary: str, **numbers: Any) -> dict[str, Any]:
        return self._verdict("confirmed_redundant", summary, numbers)

    def refuted(self, summary: str, **numbers: Any) -> dict[str, Any]:
        return self._verdict("refuted", summary, numbers)

    def not_exercised(self, summary: str, **numbers: Any) -> dict[str, Any]:
        return self._verdict("not_exercised", summary, numbers)

    def inconclusive(self, reason: str, detail: str, hint: str | None = None) -> dict[str, Any]:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
        result = self._verdict("inconclusive", detail, {})
        result["reason"] = reason
        if hint:
            result["hint"] = hint
        return result

    def assumptions(self) -> dict[str, Any]:
        return dict(self._assumptions)


def _input_bytes(trial: inputs_mod.Inputs) -> int:
    total = 0
    for value in [*trial.args, *trial.kwargs.values()]:
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
    return total


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() or value.is_complex() else None
    if isinstance(value, dict):
        if isinstance(value.get("logits"), torch.Tensor):
            return value["logits"]
        values: Iterable[Any] = value.values()
    elif isinstance(value, (list, tuple)):
        values = value
    elif isinstance(getattr(value, "logits", None), torch.Tensor):
        return value.logits
    else:
        return None
    for item in values:
        found = _first_tensor(item)
        if found is not None:
            return found
    return None


def _types(spec: Any) -> tuple[type, ...]:
    items = spec if isinstance(spec, (list, tuple, set, frozenset)) else [spec]
    found: list[type] = []
    for item in items:
        if isinstance(item, type):
            found.append(item)
        elif isinstance(item, str):
            layer = getattr(nn, item, None)
            if not isinstance(layer, type):
                raise ValueError(f"torch.nn has no layer {item!r}")
            found.append(layer)
        else:
            raise TypeError(f"expected a layer class or name, got {item!r}")
    return tuple(found)


def _watched(model: nn.Module, layers: Any) -> list[tuple[str, nn.Module]]:
    if isinstance(layers, (list, tuple)) and layers and all(
            isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], nn.Module)
            for item in layers):
        return list(layers)
    if isinstance(layers, (list, tuple)) and layers and all(isinstance(i, nn.Module) for i in layers):
        names = {id(m): n for n, m in model.named_modules()}
        return [(names.get(id(m), type(m).__name__), m) for m in layers]
    if isinstance(layers, (list, tuple)) and not layers:
        return []
    wanted = _types(layers)
    return [(n, m) for n, m in model.named_modules() if n and isinstance(m, wanted)]


def finish(lab: Lab, outcome: Any) -> dict[str, Any]:
    """Check what an experiment returned and add the lab's assumptions."""
    forget_stub_modules()
    if not isinstance(outcome, dict) or outcome.get("verdict") not in VERDICTS:
        got = "nothing" if outcome is None else type(outcome).__name__
        return {"verdict": "inconclusive", "reason": "experiment_error",
                "evidence": {"summary": f"the experiment returned {got}, not a lab verdict"},
                "assumptions": lab.assumptions()}
    result = dict(outcome)
    result["assumptions"] = lab.assumptions()
    return result


def failure(lab: Lab | None, err: BaseException) -> dict[str, Any]:
    forget_stub_modules()
    reason, detail, hint = classify(err)
    result: dict[str, Any] = {"verdict": "inconclusive", "reason": reason,
                              "evidence": {"summary": detail},
                              "assumptions": lab.assumptions() if lab else {}}
    if hint:
        result["hint"] = hint
    return result
