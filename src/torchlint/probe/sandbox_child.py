"""One sandbox child: confine itself, load one script's stripped code, run its experiments.

Runs in a process forked from the probe server (or spawned where fork is not
available). It imports only the standard library and torch. Every event is
appended to the job's results file as one JSON line and flushed at once, so
whatever happens next (a timeout, the kernel's OOM killer, the user pressing
Ctrl-C) the experiments that finished keep their verdicts.

Events: ``{"event": "sandbox", ...}``, ``{"event": "loaded", ...}``,
``{"event": "start", "id": k}`` and ``{"event": "result", "id": k, ...}``.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any, Iterator, TextIO

import torch

from . import sandbox_build as build
from . import sandbox_lab as lab_mod
from . import sandbox_loader as loader
from .sandbox_limits import Budget, Protections, audit_native_file_access, confine

SANDBOX_MODULES = ("sandbox_limits", "sandbox_loader", "sandbox_inputs", "sandbox_build",
                   "sandbox_lab", "sandbox_child")


class ResultWriter:
    """Appends one flushed JSON line per event to a file opened before confinement."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle

    def event(self, data: dict[str, Any]) -> None:
        self.handle.write(json.dumps(data, default=str) + "\n")
        self.handle.flush()


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise ProbeTimeout inside the running Python code after `seconds`
    (the server kills the process if C code does not return)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(_signum: int, _frame: Any) -> None:
        raise lab_mod.ProbeTimeout(f"{what} ran past its {seconds:g} s limit and was stopped")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ChildRuntime:
    """The loaded user code of one job, and what the lab looks up in it."""

    def __init__(self, job: dict[str, Any], registry: loader.StubRegistry) -> None:
        self.job = job
        self.registry = registry
        self.script: Any = None
        self.numpy_available = False
        self._factories: dict[str, Any] = {}
        self.filled_globals: dict[str, str] = {}  # module globals given a value, and how

    def load(self) -> None:
        modules = [loader.SourceModule(m["name"], m["path"], m["source"], m.get("package", False))
                   for m in self.job["modules"]]
        loader.install(modules, self.registry)
        loader.cpu_only_cuda_calls(self.registry)
        loader.offline_pretrained_weights(self.registry)
        namespace = {name: _namespace(values) for name, values in self.job.get("namespaces", {}).items()}
        self.script = loader.load(self.job["script_module"], namespace)
        for module in self.job.get("module_namespaces", {}):
            self.namespace(module)  # scripts whose construction calls are borrowed
        for class_name, factory in self.job.get("factories", {}).items():
            module = loader.load(factory["module"])
            function = getattr(module, factory["function"], None)
            if not callable(function):
                raise lab_mod.Inconclusive(
                    "load_failed", f"the hint's factory {factory['text']} is not a function "
                    f"of {factory['module']}")
            self._factories[class_name] = function
        self._fill_blanked_globals()
        self.numpy_available = loader.numpy_available()
        if not self.numpy_available:
            loader.tensors_for_numpy(self.registry)
        self.registry.strict = True
        loader.forget_stub_modules()

    def _fill_blanked_globals(self) -> None:
        """Globals the stripped copy does not compute (``n_class = len(word_dict)`` in the
        blanked top level) that the module's code reads: the literal the script assigns,
        else a value guessed from the name. Said in the verdicts' assumptions."""
        for module_name, found in self.job.get("globals", {}).items():
            module = sys.modules.get(module_name)
            if module is None:
                continue
            for name, raw in found.items():
                if name in module.__dict__:
                    continue
                value = build.resolve_argument(raw, module.__dict__)
                if isinstance(value, build.Unknown):
                    text = value.text
                    value = build.guess(name, text)
                    shown = f"{text} -> {value!r} (guessed from the name)"
                else:
                    shown = f"{build.describe_value(value)} (as the script assigns it)"
                module.__dict__[name] = value
                self.filled_globals[name] = shown

    def spec(self, class_name: str | None, index: int | None) -> dict[str, Any]:
        models = self.job.get("models", [])
        if class_name is None:
            if index is None:
                raise LookupError(f"no model construction of {self.job['display']} is known to reach "
                                  "this finding (the model may be built in another file's top level, "
                                  "passed in by a caller the probe does not see, or made by a factory): "
                                  "building another model would be a guess")
            return models[index]
        for spec in models:
            if spec.get("class") == class_name:
                return spec
        raise LookupError(f"no nn.Module class {class_name!r} in {self.job['display']} or its "
                          "local imports")

    def model_index(self, class_name: str) -> int | None:
        """The index of the first construction (or signature) of `class_name` among the job's models."""
        return next((i for i, spec in enumerate(self.job.get("models", []))
                     if spec.get("class") == class_name), None)

    def namespace(self, module: str) -> dict[str, Any]:
        """The globals of `module`, loading it (another script of the run whose
        construction call is used) with its parsed-arguments namespace."""
        loaded = sys.modules.get(module)
        if loaded is None:
            values = self.job.get("module_namespaces", {}).get(module, {})
            loaded = loader.load(module, {name: _namespace(v) for name, v in values.items()})
        return vars(loaded)

    def hint(self, class_name: str) -> dict[str, Any]:
        return self.job.get("hints", {}).get(class_name, {})

    def hint_source(self, class_name: str) -> str:
        return self.job.get("hint_sources", {}).get(
            class_name, f"[tool.torchlint.probe.classes.{class_name}]")

    def factory(self, class_name: str, kind: str) -> Any:
        """The hint's factory for `class_name` if it makes `kind` ("model": no
        required parameters; "inputs": takes the model)."""
        function = self._factories.get(class_name)
        if function is None:
            return None
        import inspect

        try:
            parameters = [p for p in inspect.signature(function).parameters.values()
                          if p.default is inspect.Parameter.empty
                          and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        except (TypeError, ValueError):
            return None
        makes_model = not parameters
        return function if makes_model == (kind == "model") else None


def _namespace(values: dict[str, Any]) -> Any:
    import argparse

    return argparse.Namespace(**values)


def _compile_experiment(experiment: dict[str, Any]) -> Any:
    namespace: dict[str, Any] = {"__name__": "torchlint_probe_experiment", "__builtins__": builtins}
    exec(compile(experiment["source"], f"<experiment {experiment['code']}>", "exec"), namespace)  # noqa: S102
    function = namespace.get(experiment["function"])
    if not callable(function):
        raise lab_mod.Inconclusive("experiment_error",
                                   f"the experiment source defines no function {experiment['function']}")
    return function


def _load_failure(err: BaseException) -> tuple[str, str]:
    reason, detail, _ = lab_mod.classify(err)
    if reason in ("experiment_error", "no_inputs", "construct_failed"):
        return "load_failed", f"loading the script's definitions failed: {lab_mod.last_line(err)}"
    return reason, detail


def _run_experiment(runtime: ChildRuntime, experiment: dict[str, Any]) -> dict[str, Any]:
    """One experiment's result: its verdict, or the failure that ended it."""
    settings = runtime.job["settings"]
    lab = None
    try:
        function = _compile_experiment(experiment)
        lab = lab_mod.Lab(runtime, experiment)
        torch.manual_seed(0)
        with time_limit(float(settings["timeout"]), "the experiment"):
            outcome = function(lab)
        return lab_mod.finish(lab, outcome)
    except BaseException as err:  # noqa: BLE001 - SystemExit from user code included
        result = lab_mod.failure(lab, err)
        if result.get("reason") == "resource_limit" and "allocate" in result["evidence"]["summary"]:
            result["evidence"]["summary"] += (f"; the sandbox lets the script map "
                                              f"{int(settings['memory_mb'])} MB beyond Python and torch")
        return result


#: Verdicts that say something about the model they ran on (a stand-in's or a failure's do not).
_ABOUT_THE_MODEL = ("confirmed", "confirmed_redundant", "refuted", "not_exercised")


def _on_every_model(runtime: ChildRuntime, experiment: dict[str, Any], first: dict[str, Any]
                    ) -> dict[str, Any]:
    """The verdict when the script chooses its model at run time (``net = Wide() if
    args.wide else Narrow()``: the context's ``alternatives``). `first` is the
    verdict on the class the context names; the experiment then runs on each other
    class the script may build. The verdict stands when every class that ran agrees;
    when they disagree it depends on the script's configuration, which the probe
    does not know: ``inconclusive`` (``model_choice``) with each class's result."""
    context = experiment.get("context", {})
    others = context.get("alternatives") or []
    chosen = context.get("class")
    if not others or not chosen or first.get("verdict") not in _ABOUT_THE_MODEL:
        return first
    results = {chosen: first}
    # the context without what names the first class's construction
    shared = {k: v for k, v in context.items() if k not in ("alternatives", "construct_line", "construct_path")}
    for name in others:
        index = runtime.model_index(name)
        if index is not None:
            results[name] = _run_experiment(runtime, {**experiment, "context": {**shared, "class": name},
                                                      "model": index})
    ran = {name: r for name, r in results.items() if r.get("verdict") in _ABOUT_THE_MODEL}
    not_run = [name for name in others if name not in ran]
    assumptions = dict(first.get("assumptions", {}))
    if len({r["verdict"] for r in ran.values()}) == 1:
        agreed = [name for name in ran if name != chosen]
        assumptions["alternatives"] = (
            f"the script may build {' or '.join(others)} instead: "
            + (f"the same verdict on {' and '.join(agreed)}" if agreed else f"this verdict is about {chosen}")
            + (f"; {' and '.join(not_run)} could not be run here" if not_run and agreed else ""))
        return {**first, "assumptions": assumptions}
    each = "; ".join(f"{name}: {r['verdict']} ({r.get('evidence', {}).get('summary', '')})"
                     for name, r in ran.items())
    assumptions["alternatives"] = f"the script may build {' or '.join([chosen, *others])}"
    return {"verdict": "inconclusive", "reason": "model_choice",
            "evidence": {"summary": f"the script chooses its model at run time and the verdict "
                                    f"depends on which: {each}",
                         "per_model": {name: {"verdict": r["verdict"], **r.get("evidence", {})}
                                       for name, r in ran.items()}},
            "assumptions": assumptions}


def run(job: dict[str, Any], handle: TextIO, rundir: str, start: str, skip: set[int]) -> None:
    """Everything a child does after its process exists; the caller exits."""
    writer = ResultWriter(handle)
    settings = job["settings"]
    budget = Budget(memory_mb=int(settings["memory_mb"]),
                    cpu_seconds=int(settings["script_timeout"]) + 5)
    protections: Protections = confine(rundir, budget, start)
    audit_native_file_access(torch)
    sys.dont_write_bytecode = True
    torch.set_num_threads(1)
    writer.event({"event": "sandbox", "protections": protections.to_json()})
    registry = loader.StubRegistry(optional=frozenset(job.get("optional_imports", [])))
    runtime = ChildRuntime(job, registry)
    experiments = [e for e in job["experiments"] if e["id"] not in skip]
    base = {"sandbox": protections.to_json(), **job.get("assumptions", {})}
    try:
        with time_limit(float(settings["timeout"]), "loading the script"):
            runtime.load()
    except BaseException as err:  # noqa: BLE001 - any failure to load is a verdict, not a crash
        reason, detail = _load_failure(err)
        for experiment in experiments:
            result = {"verdict": "inconclusive", "reason": reason, "evidence": {"summary": detail},
                      "assumptions": dict(base)}
            writer.event({"event": "result", "id": experiment["id"], **result})
        return
    writer.event({"event": "loaded", "stubbed": list(registry.stubbed)})
    for experiment in experiments:
        writer.event({"event": "start", "id": experiment["id"], "time": time.time()})
        downloads_before = len(registry.pretrained_urls)
        result = _on_every_model(runtime, experiment, _run_experiment(runtime, experiment))
        assumptions = dict(base)
        if registry.stubbed:
            assumptions["stubbed_imports"] = list(registry.stubbed)
        if registry.cuda_calls:
            assumptions["cuda_calls_ignored"] = registry.cuda_calls
        if runtime.filled_globals:
            assumptions["globals"] = dict(runtime.filled_globals)
        if len(registry.pretrained_urls) > downloads_before:  # this experiment's models
            urls = list(dict.fromkeys(registry.pretrained_urls[downloads_before:]))
            assumptions["pretrained_weights"] = (
                f"not downloaded (the sandbox has no network): the model keeps its random "
                f"initialization instead of {', '.join(urls[:3])}{' and more' if len(urls) > 3 else ''}")
        assumptions.update(result.get("assumptions", {}))
        result["assumptions"] = assumptions
        writer.event({"event": "result", "id": experiment["id"], **result})


def enter(job_path: str, results_path: str, rundir: str, start: str, skip: set[int]) -> None:
    """The child's first steps: own process group, no inherited streams, a
    fresh environment, its own folder; then :func:`run`. Never returns."""
    code = 0
    try:
        if hasattr(os, "setpgid"):
            with contextlib.suppress(OSError):
                os.setpgid(0, 0)
        for name in ("SIGTERM", "SIGINT"):  # not the server's handlers, inherited by fork
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        from .sandbox_limits import die_with_parent, replace_environment, scrubbed_environment

        die_with_parent()
        with open(job_path, encoding="utf-8") as handle:
            job = json.load(handle)
        os.makedirs(rundir, exist_ok=True)
        log = os.open(os.path.join(rundir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(rundir)
        replace_environment(scrubbed_environment(rundir, dict(os.environ)))
        with open(results_path, "a", encoding="utf-8") as results:
            run(job, results, rundir, start, skip)
    except BaseException:  # noqa: BLE001 - reported by the server from the exit code
        import traceback

        traceback.print_exc()
        code = 70
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
