"""Loading the user's code inside the sandbox: stripped modules and stubs.

The launcher sends each local module as a *stripped* copy (imports, classes,
functions and constant assignments; the training code of the top level is
blanked out, line numbers are kept). This module serves those copies to
``import`` under their real names, so ``from model import Net`` in the
script reaches the stripped ``model.py``, and tracebacks and
``inspect.getsource`` point at the user's own lines.

A third-party module that is not installed and that user code imports is
replaced by a :class:`StubModule` and recorded: loading goes on, and the
first real use of the stub during an experiment raises
:class:`MissingDependency`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import sys
import types
from dataclasses import dataclass, field
from typing import Any

#: Never stubbed: the probe needs torch itself. (torchvision and numpy are used
#: for real where installed, like every installed package, and stubbed where not.)
_REAL_ROOTS = frozenset({"torch"})


class MissingDependency(Exception):
    """User code needed a module that is not installed in this interpreter."""


@dataclass(frozen=True)
class SourceModule:
    name: str  # dotted import name
    path: str  # the user's file, for tracebacks
    source: str  # the stripped text, same line numbers as the file
    package: bool = False  # an __init__.py


@dataclass
class StubRegistry:
    """The stubs made so far, and whether using one is still allowed."""

    optional: frozenset[str] = frozenset()  # imported inside try/except ImportError
    stubbed: list[str] = field(default_factory=list)
    strict: bool = False  # loading is over: using a stub now raises
    cuda_calls: int = 0
    pretrained_urls: list[str] = field(default_factory=list)  # weights the sandbox did not download
    #: dotted prefix -> why it is a stub, where it is not a missing package (a module of
    #: the project that is not among the files, a name only the blanked top level defines)
    reasons: dict[str, str] = field(default_factory=dict)

    def why(self, path: str) -> str | None:
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            found = self.reasons.get(".".join(parts[:end]))
            if found:
                return found
        return None


class _Stub:
    """Stands in for anything reached through a missing module."""

    def __init__(self, path: str, registry: StubRegistry) -> None:
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_registry", registry)

    def _missing(self, what: str) -> MissingDependency:
        root = self._path.split(".")[0]
        why = self._registry.why(self._path)
        if why:
            return MissingDependency(f"the code {what} {self._path}: {why} (replaced by a stub)")
        return MissingDependency(
            f"{root} is not installed in the probe's interpreter; "
            f"the code {what} {self._path} (replaced by a stub)")

    def __getattr__(self, name: str) -> _Stub:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self._path}.{name}", self._registry)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._registry.strict:
            raise self._missing("called")
        # While the module loads: a decorator application returns the function.
        if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], _Stub):
            return args[0]
        return _Stub(f"{self._path}()", self._registry)

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        # `class Net(pl.LightningModule)` with lightning missing: a module base
        # becomes torch.nn.Module so the model can still be built.
        name = self._path.rsplit(".", 1)[-1]
        if name == "LightningModule":
            return (_lightning_stand_in(),)
        if name.endswith("Module"):
            import torch

            return (torch.nn.Module,)
        return (_stub_base(self),)

    def __iter__(self):
        if self._registry.strict:
            raise self._missing("iterated over")
        return iter(())

    def __len__(self) -> int:
        raise self._missing("took the length of")  # no number would be honest

    def __bool__(self) -> bool:
        return True

    def __getitem__(self, key: Any) -> _Stub:
        if self._registry.strict:
            raise self._missing("indexed")
        return _Stub(f"{self._path}[...]", self._registry)

    def __repr__(self) -> str:
        return f"<torchlint probe stub {self._path}>"


def _lightning_stand_in() -> type:
    """An nn.Module with what a LightningModule's own code calls while it is built and
    run: ``save_hyperparameters()`` (the constructor's arguments as ``self.hparams``,
    read from the caller's frame as Lightning does), ``log``/``log_dict`` (nothing)."""
    import inspect

    import torch

    class HyperParameters(dict):
        def __getattr__(self, name: str) -> Any:
            try:
                return self[name]
            except KeyError:
                raise AttributeError(name) from None

    class LightningModule(torch.nn.Module):
        def save_hyperparameters(self, *args: Any, **kwargs: Any) -> None:
            frame = inspect.currentframe()
            caller = frame.f_back if frame is not None else None
            found = {k: v for k, v in (caller.f_locals.items() if caller else ())
                     if k not in ("self", "__class__") and not k.startswith("_")}
            self._torchlint_hparams = HyperParameters(found)

        @property
        def hparams(self) -> HyperParameters:
            return self.__dict__.get("_torchlint_hparams", HyperParameters())

        def log(self, *args: Any, **kwargs: Any) -> None:
            pass

        def log_dict(self, *args: Any, **kwargs: Any) -> None:
            pass

    return LightningModule


def _stub_base(stub: _Stub) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if stub._registry.strict:
            raise stub._missing("instantiated a subclass of")

    return type(stub._path.rsplit(".", 1)[-1], (), {"__init__": __init__})


class StubModule(types.ModuleType):
    def __init__(self, name: str, registry: StubRegistry) -> None:
        super().__init__(name)
        self.__dict__["_registry"] = registry
        self.__path__ = []  # a package, so `import a.b` works too

    def __getattr__(self, name: str) -> _Stub:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self.__name__}.{name}", self.__dict__["_registry"])


class _SourceLoader(importlib.abc.Loader):
    def __init__(self, module: SourceModule, registry: StubRegistry | None = None) -> None:
        self.module = module
        self.registry = registry

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        source = self.module
        module.__file__ = source.path
        if source.package:
            module.__path__ = []  # submodules come from this finder only
        code = compile(source.source, source.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)
        if self.registry is not None and not source.package:
            # (a package's missing names are its submodules: `import` finds or stubs those)
            module.__dict__["__getattr__"] = _blanked_names(module.__name__, self.registry)


def _blanked_names(module_name: str, registry: StubRegistry) -> Any:
    """A module ``__getattr__`` for names the module's top-level code would define at run
    time but the stripped copy does not (``from main import train_loader``): a stub while
    the user's modules load (the import goes on), AttributeError once loading is over."""
    def __getattr__(name: str) -> Any:
        if registry.strict or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        path = f"{module_name}.{name}"
        registry.reasons[path] = (f"{name} is made by the top-level code of {module_name}, which "
                                  "the probe does not run")
        if path not in registry.stubbed:
            registry.stubbed.append(path)
        return _Stub(path, registry)
    return __getattr__


class _StubLoader(importlib.abc.Loader):
    def __init__(self, registry: StubRegistry) -> None:
        self.registry = registry

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return StubModule(spec.name, self.registry)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class UserCodeFinder(importlib.abc.MetaPathFinder):
    """Serves the stripped copies of the user's modules (first on sys.meta_path)
    and stubs for what user code imports but is not installed (last)."""

    def __init__(self, modules: list[SourceModule], registry: StubRegistry) -> None:
        self.modules = {m.name: m for m in modules}
        self.registry = registry
        for module in modules:  # tracebacks and inspect.getsource read these lines
            lines = module.source.splitlines(keepends=True)
            linecache.cache[module.path] = (len(module.source), None, lines, module.path)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        module = self.modules.get(fullname)
        if module is None:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, _SourceLoader(module, self.registry), origin=module.path,
                                              is_package=module.package)
        spec.has_location = True
        return spec

    def user_module_names(self) -> frozenset[str]:
        return frozenset(self.modules)


class StubFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: reached only when nothing else found the module."""

    def __init__(self, user_modules: frozenset[str], registry: StubRegistry) -> None:
        self.user_modules = user_modules
        self.registry = registry

    def _imported_by_user_code(self) -> bool:
        frame: Any = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            if frame.f_globals.get("__name__") != __name__ and "importlib" not in filename:
                return frame.f_globals.get("__name__") in self.user_modules
            frame = frame.f_back
        return False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        root = fullname.split(".")[0]
        if root in _REAL_ROOTS or root in sys.stdlib_module_names or root in self.registry.optional:
            return None
        if root in self.user_modules:
            # `from models import TernausNet` where models/TernausNet.py is not among the
            # files: a stub like a missing package (its use says which module is absent).
            if fullname in self.user_modules or not self._imported_by_user_code():
                return None
            self.registry.reasons[fullname] = (f"{fullname} is a module of the project that is "
                                               "not among the files probed")
            if fullname not in self.registry.stubbed:
                self.registry.stubbed.append(fullname)
            return importlib.machinery.ModuleSpec(fullname, _StubLoader(self.registry), is_package=True)
        parent = sys.modules.get(root)
        if parent is not None and not isinstance(parent, StubModule):
            return None  # a missing submodule of an installed package: a real error
        if not self._imported_by_user_code():
            return None
        if root not in self.registry.stubbed:
            self.registry.stubbed.append(root)
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(self.registry), is_package=True)


class _GuardedLoader(importlib.abc.Loader):
    """Runs an installed module's loader; when the module fails because a package it
    needs is not installed (``torch.utils.tensorboard`` without tensorboard), the module
    becomes a stub, recorded with that reason: the user's code that imports it loads,
    and only a use of it (never on the model's path, or the verdict says so) fails."""

    def __init__(self, inner: importlib.abc.Loader, registry: StubRegistry) -> None:
        self.inner = inner
        self.registry = registry

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...: the real loader's
        return getattr(self.inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self.inner.exec_module(module)
        except ModuleNotFoundError as err:
            missing = (err.name or "").split(".")[0]
            if not missing or missing == module.__name__.split(".")[0] or missing in _REAL_ROOTS:
                raise
            module.__class__ = StubModule
            module.__dict__["_registry"] = self.registry
            module.__path__ = []
            self.registry.reasons[module.__name__] = (f"{module.__name__} needs {missing}, which is not "
                                                      "installed in the probe's interpreter")
            if module.__name__ not in self.registry.stubbed:
                self.registry.stubbed.append(module.__name__)


class GuardFinder(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: for installed modules that user code imports, wraps
    their loader in :class:`_GuardedLoader`."""

    def __init__(self, stubs: StubFinder) -> None:
        self.stubs = stubs
        self.busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        root = fullname.split(".")[0]
        if self.busy or root in self.stubs.user_modules or root in sys.stdlib_module_names \
                or not self.stubs._imported_by_user_code():
            return None
        self.busy = True  # the other finders decide where the module is
        try:
            for finder in sys.meta_path:
                if finder is self or isinstance(finder, (UserCodeFinder, StubFinder)):
                    continue
                find = getattr(finder, "find_spec", None)
                spec = find(fullname, path, target) if find is not None else None
                if spec is not None:
                    break
            else:
                return None
        finally:
            self.busy = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _GuardedLoader(spec.loader, self.stubs.registry)
        return spec


def install(modules: list[SourceModule], registry: StubRegistry) -> UserCodeFinder:
    finder = UserCodeFinder(modules, registry)
    stubs = StubFinder(finder.user_module_names(), registry)
    sys.meta_path.insert(0, finder)
    sys.meta_path.insert(0, GuardFinder(stubs))
    sys.meta_path.append(stubs)
    return finder


def load(name: str, namespace: dict[str, Any] | None = None) -> types.ModuleType:
    """Import module `name`, with `namespace` set in it before its code runs
    (the argparse namespace the script would have parsed)."""
    if namespace:
        parent = name.rpartition(".")[0]
        if parent:  # a module of a package: its package first, as `import` would
            importlib.import_module(parent)
        finder = next(f for f in sys.meta_path if isinstance(f, UserCodeFinder))
        spec = finder.find_spec(name)
        if spec is None:
            raise ImportError(f"no module {name!r} in the probe job")
        module = importlib.util.module_from_spec(spec)
        module.__dict__.update(namespace)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    return importlib.import_module(name)


def cpu_only_cuda_calls(registry: StubRegistry) -> None:
    """``.cuda()`` on a CPU-only probe returns the tensor or module unchanged
    (and is counted in the assumptions) instead of failing."""
    import torch

    def tensor_cuda(self: Any, *args: Any, **kwargs: Any) -> Any:
        registry.cuda_calls += 1
        return self

    def module_cuda(self: Any, *args: Any, **kwargs: Any) -> Any:
        registry.cuda_calls += 1
        return self

    torch.Tensor.cuda = tensor_cuda  # type: ignore[method-assign]
    torch.nn.Module.cuda = module_cuda  # type: ignore[method-assign]


class NoWeights(dict):
    """What ``torch.hub.load_state_dict_from_url`` returns in the sandbox, which has
    no network: a state dict with no tensors. ``load_state_dict`` of it changes
    nothing, so the model keeps its (seeded) initialization; the script's own edits
    of a downloaded state dict (``del sd["fc.weight"]``, ``sd.pop(key)``) find
    nothing to remove and pass."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __delitem__(self, key: Any) -> None:
        pass

    def pop(self, key: Any, *default: Any) -> Any:
        return default[0] if default else None


def offline_pretrained_weights(registry: StubRegistry) -> None:
    """Pretrained weights fetched through torch.hub (what torchvision's
    ``weights=``/``pretrained=True``, ``model_zoo.load_url`` and timm use) are
    not downloaded: the model is built with its own initialization, and the URLs
    are recorded as an assumption. The experiments compare a model with itself
    (train vs eval mode, with and without a softmax), which holds for any weights;
    without this, every model that starts from pretrained weights stops at the
    sandbox's network denial. Other downloads still meet that denial."""
    import torch
    import torch.utils.model_zoo

    def load_state_dict_from_url(url: str, *args: Any, **kwargs: Any) -> NoWeights:
        registry.pretrained_urls.append(str(url))
        return NoWeights(str(url))

    original = torch.nn.Module.load_state_dict

    def load_state_dict(self: Any, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(state_dict, NoWeights):
            return torch.nn.modules.module._IncompatibleKeys([], [])
        return original(self, state_dict, *args, **kwargs)

    torch.hub.load_state_dict_from_url = load_state_dict_from_url  # type: ignore[assignment]
    torch.utils.model_zoo.load_url = load_state_dict_from_url  # type: ignore[attr-defined]
    torch.nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]


def numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return not isinstance(sys.modules.get("numpy"), StubModule)


def tensors_for_numpy(registry: StubRegistry) -> None:
    """Without numpy, ``torch.from_numpy`` accepts the probe's tensors (an
    experiment's pretrained matrix) so scripts that convert arrays still build."""
    import torch

    original = torch.from_numpy

    def from_numpy(array: Any) -> Any:
        if isinstance(array, torch.Tensor):
            return array
        return original(array)

    torch.from_numpy = from_numpy  # type: ignore[assignment]


def forget_stub_modules() -> None:
    """Take stubs out of sys.modules once user code holds them, so library code
    that later tries ``import numpy`` gets its usual ImportError, not a stub."""
    for name, module in list(sys.modules.items()):
        if isinstance(module, StubModule):
            del sys.modules[name]
