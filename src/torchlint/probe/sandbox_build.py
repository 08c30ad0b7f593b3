"""Building the user's model inside the sandbox, the way the script builds it.

Runs inside the sandbox child (standard library and torch only).

The launcher sends a *construction spec* per model class: the callee and the
arguments of the script's own construction call, each already resolved
statically (``{"literal": "256"}``), left as a safe expression of the
script's names (``{"expr": "nn.ReLU()"}``) or unknown (``{"unknown":
"len(vocab)"}``). Here the arguments are bound to the real signature, hint
``init`` values override them, and whatever is still unknown or missing is
substituted by a size guessed from the parameter's name, recorded as an
assumption (``vocab_size: len(vocab) -> 50``); a parameter with a default
keeps its default.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


class ConstructionError(Exception):
    """The model could not be built; the message says why."""


@dataclass(frozen=True)
class Unknown:
    """An argument the launcher could not resolve; ``text`` is its source."""

    text: str


#: (pattern on the parameter name or argument text, value, what it stands for)
_GUESSES: tuple[tuple[str, Any], ...] = (
    (r"vocab|token|word|ntoken|num_embeddings|n_embed", 50),
    (r"class|label|n_out|num_out|output_size|out_size|target|categor", 5),
    (r"kernel", 3),
    (r"stride|dilation", 1),
    (r"padding|pad\b", 1),
    (r"layer|depth|n_block|num_block", 2),
    (r"head", 2),
    (r"drop|prob|^p$|rate|alpha|beta|gamma|momentum|ratio|lambda|lamb|tau|temperature|coef|factor", 0.5),
    (r"seq|len|window|block|max_length|context", 8),
    (r"dim|size|hidden|feature|channel|unit|width|emb|d_model|nhid|ninp|n_in|in_|out_", 32),
)
DEFAULT_GUESS = 16


#: Parameters that carry a configuration object (`Net(config)`, `Model(args)`): guessed as a
#: :class:`GuessedConfig`, not an int whose `.hidden_size` would fail.
_CONFIG_PARAMETER = re.compile(r"^(config|cfg|conf|configs|opt|opts|option|options|args|arguments|"
                               r"params|hparams|hp|hyperparams|settings|model_config|model_cfg|"
                               r"net_config|model_args|model_opt)$")
_FLAG_ATTRIBUTE = re.compile(r"^(use|is|has|with|enable|freeze|fix|train|pretrain|bidirectional|"
                             r"residual|share|tie|normalize|debug|verbose|cuda|gpu)|_(flag|on)$")
_TEXT_ATTRIBUTE = re.compile(r"name|type|mode|path|dir|file|act|activation|norm_layer|arch|model$|"
                             r"init|optim|device|dataset|task|method|pool")


class GuessedConfig:
    """A stand-in for a configuration object the probe cannot recover: each attribute
    (or item) the constructor reads gets a plausible value guessed from its name, and
    is remembered so the verdict can list what was assumed."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "read", {})

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        value = guess_attribute(attribute)
        self.read[attribute] = value
        object.__setattr__(self, attribute, value)
        return value

    def __getitem__(self, key: Any) -> Any:
        return getattr(self, str(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return default if default is not None else getattr(self, str(key))

    def __contains__(self, key: Any) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<guessed {self._name}>"


class GuessedNumber(int):
    """A guessed config number that also acts as a list of three of itself: configs
    often hold a per-layer list where one value was guessed (`cfg.kernel_size[0]`,
    `len(cfg.kernel_size)`)."""

    def __getitem__(self, index: Any) -> int:
        return int(self)

    def __len__(self) -> int:  # as a list it has three entries, like a guessed `*_sizes` list
        return 3

    def __iter__(self):
        return iter([int(self)] * 3)


class GuessedFraction(float):
    """A guessed float for a parameter named in the plural (`dropouts`): it also acts
    as a list of three of itself (`self.dropouts[0]`)."""

    def __getitem__(self, index: Any) -> float:
        return float(self)

    def __len__(self) -> int:
        return 3

    def __iter__(self):
        return iter([float(self)] * 3)


#: Plural names that usually hold one value per layer (not counts such as in_features).
_PLURAL_LIST = re.compile(r"(sizes|dims|dropouts|widths|rates|probs|units|kernels|filters|strides|"
                          r"paddings|dilations|hiddens)$")


def _plural(name: str, value: Any) -> Any:
    """A number guessed for a plural name (`dropouts`, `hidden_sizes`) that also acts as a
    list of three of itself: such parameters are usually per-layer lists."""
    if not _PLURAL_LIST.search(name) or re.match(r"(num|n|number|count|in|out)_|num", name) \
            or isinstance(value, bool):  # (not a count: num_classes, in_features)
        return value
    if isinstance(value, int):
        return GuessedNumber(value)
    if isinstance(value, float):
        return GuessedFraction(value)
    return value


def _shown_guess(value: Any) -> str:
    if isinstance(value, (GuessedNumber, GuessedFraction)):
        return f"{value!r} (also read as a list of three)"
    return repr(value)


def guess_attribute(name: str) -> Any:
    lowered = name.lower()
    if _FLAG_ATTRIBUTE.search(lowered):
        return False
    if _TEXT_ATTRIBUTE.search(lowered):
        return None
    if re.search(r"(sizes|dims|_list|widths|layers_sizes)$", lowered):
        return [guess(lowered[:-1], None)] * 3
    value = guess(lowered, None)
    return GuessedNumber(value) if isinstance(value, int) and not isinstance(value, bool) else value


def guess(name: str, text: str | None) -> Any:
    """A plausible small value for constructor parameter `name`."""
    if _CONFIG_PARAMETER.match(name.lower()):
        return GuessedConfig(name)
    if text is not None and re.match(r"^\s*len\(", text):
        return 50
    lowered = name.lower()
    for pattern, value in _GUESSES:
        if re.search(pattern, lowered):
            return _plural(lowered, value)
    return _plural(lowered, DEFAULT_GUESS)


def describe_value(value: Any) -> str:
    if isinstance(value, GuessedConfig):
        guessed = ", ".join(f"{k}={v!r}" for k, v in value.read.items())
        return f"a config with attributes guessed by name ({guessed or 'none read yet'})"
    if isinstance(value, torch.Tensor):
        return f"tensor[{','.join(str(s) for s in value.shape)}]"
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        return f"array[{','.join(str(s) for s in value.shape)}]"
    if isinstance(value, nn.Module):
        return f"{type(value).__name__}(...)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Prepared:
    """A construction with every argument decided, not yet run."""

    target: Any
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    arguments: dict[str, Any]  # by parameter name, defaults included
    substitutions: dict[str, str] = field(default_factory=dict)
    passed: dict[str, Any] | None = None  # by parameter name, as passed (None: no signature)

    @property
    def call(self) -> str:
        if self.passed is not None:
            shown = [f"{k}={describe_value(v)}" for k, v in self.passed.items()]
        else:
            shown = [describe_value(a) for a in self.args] + \
                [f"{k}={describe_value(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(shown)})"

    @property
    def guessed(self) -> dict[str, Any]:
        """Arguments the probe guessed or took from a hint: what a hint's init should set."""
        return {k: v for k, v in self.arguments.items() if k in self.substitutions
                and isinstance(v, (int, float, str, bool)) and "(set by the experiment)"
                not in self.substitutions[k]}

    def dimension_names(self) -> dict[str, Any]:
        """Constructor arguments usable as dimensions in hint input specs."""
        return {k: v for k, v in self.arguments.items()
                if isinstance(v, int) and not isinstance(v, bool)}


def resolve_argument(raw: dict[str, Any], namespace: dict[str, Any],
                     nested: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    if "dict" in raw:  # a config dict: its unknown entries stay Unknown until guessed by key
        return {key: resolve_argument(value, namespace) for key, value in raw["dict"].items()}
    if "model" in raw:  # another model the script builds and passes (`Seq2Seq(encoder, decoder)`)
        if nested is None:
            return Unknown(raw["model"].get("text", "a model"))
        return nested(raw["model"])
    if "literal" in raw:
        return ast.literal_eval(raw["literal"])
    if "expr" in raw:
        try:
            return eval(compile(raw["expr"], "<probe argument>", "eval"), namespace)  # noqa: S307
        except Exception:  # noqa: BLE001 - falls back to a guess, recorded
            return Unknown(raw["expr"])
    return Unknown(str(raw.get("unknown", "?")))


def _signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def prepare(spec: dict[str, Any], namespace: dict[str, Any], args_namespace: dict[str, Any],
            hint_init: dict[str, Any], overrides: dict[str, Any],
            nested: Callable[[dict[str, Any]], Any] | None = None) -> Prepared:
    """Decide every argument of the construction in `spec`: the callee is looked
    up in the class's module (`namespace`), the arguments in the module of the
    call (`args_namespace`)."""
    callee_text = spec["callee"]
    try:
        target = eval(compile(callee_text, "<probe callee>", "eval"), namespace)  # noqa: S307
    except Exception as err:  # noqa: BLE001
        raise ConstructionError(f"cannot find {callee_text}: {type(err).__name__}: {err}") from err
    args = [resolve_argument(a, args_namespace, nested) for a in spec.get("args", [])]
    kwargs = {k: resolve_argument(v, args_namespace, nested) for k, v in spec.get("kwargs", {}).items()}
    substitutions: dict[str, str] = dict(spec.get("notes", {}))
    # a factory function (`small_tower(n_out=6)`) is shown under its own name
    name = callee_text if spec.get("kind") == "factory" else spec.get("class") or callee_text
    signature = _signature(target)
    if signature is None:
        return Prepared(target, name, args, kwargs, dict(kwargs), substitutions)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as err:
        raise ConstructionError(f"{spec['text']} does not match {callee_text}{signature}: {err}") \
            from err
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for key, value in hint_init.items():
        if key not in signature.parameters and not takes_any:
            raise ConstructionError(f"the hint's init names {key!r}, which "
                                    f"{callee_text}{signature} does not take")
        bound.arguments[key] = value
        substitutions[key] = f"{describe_value(value)} (hint)"
    for key, value in overrides.items():
        bound.arguments[key] = value
        substitutions[key] = f"{describe_value(value)} (set by the experiment)"
    for key, parameter in signature.parameters.items():
        entries = bound.arguments.get(key)
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD and isinstance(entries, dict) \
                and any(isinstance(v, Unknown) for v in entries.values()):
            # a config dict with unknown entries: each guessed by its key (`op["emb_dim"]` -> 32)
            guessed = {k: guess(k, None) if isinstance(v, Unknown) else v for k, v in entries.items()}
            bound.arguments[key] = guessed
            shown = ", ".join(f"{k}={_shown_guess(guessed[k])}" for k, v in entries.items()
                              if isinstance(v, Unknown))
            substitutions[key] = f"a dict whose unknown entries were guessed by key ({shown})"
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and isinstance(bound.arguments.get(key), dict):
            # `vgg16_bn(num_classes=args.num_classes)` into `**kwargs`: guessed by their own names
            extra = bound.arguments[key]
            for extra_name, value in list(extra.items()):
                if isinstance(value, Unknown):
                    extra[extra_name] = guess(extra_name, value.text)
                    substitutions[extra_name] = f"{value.text} -> {_shown_guess(extra[extra_name])}"
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        value = bound.arguments.get(key, inspect.Parameter.empty)
        if isinstance(value, Unknown):
            if parameter.default is not inspect.Parameter.empty:
                del bound.arguments[key]
                substitutions[key] = (f"{value.text} unknown; used the default "
                                      f"{describe_value(parameter.default)}")
            else:
                bound.arguments[key] = guess(key, value.text)
                substitutions[key] = f"{value.text} -> {_shown_guess(bound.arguments[key])}"
        elif value is inspect.Parameter.empty and parameter.default is inspect.Parameter.empty:
            bound.arguments[key] = guess(key, None)
            substitutions[key] = f"not given -> {_shown_guess(bound.arguments[key])}"
    final_args, final_kwargs = list(bound.args), dict(bound.kwargs)
    passed = {}
    for key, value in bound.arguments.items():  # `**kwargs` shown as the keywords passed
        if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD and isinstance(value, dict):
            passed.update(value)
        else:
            passed[key] = value
    bound.apply_defaults()
    return Prepared(target, name, final_args, final_kwargs, dict(bound.arguments), substitutions,
                    passed)


def construct(prepared: Prepared) -> nn.Module:
    """Run the construction (seeded, so every build has the same weights)."""
    torch.manual_seed(0)
    model = prepared.target(*prepared.args, **prepared.kwargs)
    if not isinstance(model, nn.Module):
        raise ConstructionError(f"{prepared.call} returned {type(model).__name__}, not an nn.Module")
    return model
