"""Network specs: TOML / JSON / Python dicts → a validated, immutable ``Network``.

Every check raises ``SpecError`` with a one-line message that names the offending field, so the
CLI can print it as is.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sympy as sp

from . import activations, losses
from .errors import FormulaError, SpecError, SymbpError

BIAS_MODES = ("neuron", "shared", "none")
REDUCTIONS = ("mean", "sum")
LAYOUTS = ("out_in", "in_out")
# λ/(2m)·ΣW² (seed 004), reg/2·ΣW² (seed 002), reg·ΣW²: the factor c in c·ΣW², m the batch size.
REG_CONVENTIONS = {"lambda_over_2m": "λ/(2m)", "half": "1/2", "plain": "1"}
MAX_SIZE = 100_000
MAX_LAYERS = 256
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Names the generated module uses itself; a neuron name may not shadow them.
RESERVED = frozenset({"np", "numpy", "params", "grads", "X", "Y", "lr", "seed", "dtype", "B",
                      "forward", "loss", "loss_and_grad", "sgd_step", "init_params",
                      "PARAM_SHAPES", "sigmoid", "softmax", "self", "cls", "None", "True",
                      "False"})
NAME_KINDS = ("inputs", "weights", "biases", "pre_activations", "activations", "targets",
              "loss")
TOP_KEYS = {"name", "description", "inputs", "layers", "loss", "reduction", "regularization",
            "weight_layout", "names", "activations", "losses", "example"}
LAYER_KEYS = {"size", "activation", "alpha", "bias", "train_bias"}


@dataclass(frozen=True)
class Layer:
    """A dense layer: z = W a_prev + b, a = g(z)."""

    size: int
    activation: str = "sigmoid"
    alpha: float | None = None  # leaky_relu's slope
    bias: str = "neuron"
    train_bias: bool = True

    @property
    def trains_bias(self) -> bool:
        return self.bias != "none" and self.train_bias


@dataclass(frozen=True)
class Regularization:
    convention: str = "half"
    strength: float = 0.0


@dataclass(frozen=True)
class Network:
    """A validated architecture; build it with ``Network.from_dict`` or ``load_spec``."""

    name: str
    inputs: int
    layers: tuple[Layer, ...]
    loss: str = "half_sse"
    reduction: str = "mean"
    regularization: Regularization = Regularization()
    weight_layout: str = "out_in"
    names: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    formulas: dict[str, dict[str, str]] = field(default_factory=dict, hash=False, compare=False)
    example: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @staticmethod
    def from_dict(data: dict[str, Any], *, default_name: str = "network") -> Network:
        """Validate a spec given as plain data (what TOML or JSON parse to)."""
        return _build(data, default_name)

    @property
    def sizes(self) -> list[int]:
        return [self.inputs] + [layer.size for layer in self.layers]

    @property
    def depth(self) -> int:
        return len(self.layers)

    def activation(self, index: int) -> activations.Activation:
        """The registry (or formula) entry for layer ``index`` (1-based)."""
        name = self.layers[index - 1].activation
        if name in self.formulas.get("activations", {}):
            return activations.formula_activation(name, self.formulas["activations"][name])
        return activations.REGISTRY[name]

    def activation_expr(self, index: int) -> sp.Expr | None:
        """g_l(x) with parameters filled in; None for softmax."""
        entry = self.activation(index)
        if entry.vector:
            return None
        alpha = self.layers[index - 1].alpha
        return entry.instantiate(**({"alpha": alpha} if alpha is not None else {}))

    def loss_entry(self) -> losses.Loss:
        if self.loss in self.formulas.get("losses", {}):
            return losses.formula_loss(self.loss, self.formulas["losses"][self.loss])
        return losses.REGISTRY[self.loss]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters the kernel takes, in order W1, b1, W2, …"""
        shapes: dict[str, tuple[int, ...]] = {}
        for l, layer in enumerate(self.layers, start=1):
            n_in, n_out = self.sizes[l - 1], layer.size
            shapes[f"W{l}"] = (n_out, n_in) if self.weight_layout == "out_in" else (n_in, n_out)
            if layer.bias != "none":
                shapes[f"b{l}"] = (n_out,) if layer.bias == "neuron" else ()
        return shapes

    def spec_hash(self) -> str:
        """A short hash of the normalised spec, printed in generated headers."""
        blob = json.dumps(self.source, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def n_params(self) -> int:
        return sum(int(max(1, _prod(s))) for s in self.param_shapes().values())


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def _int(value: Any, where: str, low: int = 1, high: int = MAX_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise _fail(where, f"must be between {low} and {high}, got {value}")
    return value


def _choice(value: Any, where: str, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise _fail(where, f"must be one of {', '.join(options)}; got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise _fail(where, f"must be a number, got {value!r}")
    if abs(value) > 1e12:
        raise _fail(where, f"is out of range: {value!r}")
    return float(value)


def _unknown_keys(data: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise _fail(f"{where}{extra[0]}", f"unknown field; expected one of {', '.join(sorted(allowed))}")


def _formulas(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"activations": {}, "losses": {}}
    for kind in ("activations", "losses"):
        table = data.get(kind, {})
        if not isinstance(table, dict):
            raise _fail(kind, "must be a table of name = {formula = \"...\"}")
        for name, entry in table.items():
            where = f"{kind}.{name}"
            if not isinstance(name, str) or not NAME_RE.match(name) or keyword.iskeyword(name):
                raise _fail(where, "name must be an identifier (letters, digits, _)")
            registry = activations.REGISTRY if kind == "activations" else losses.REGISTRY
            if name in registry:
                raise _fail(where, f"'{name}' is built in; choose another name")
            text = entry.get("formula") if isinstance(entry, dict) else entry
            if not isinstance(text, str):
                raise _fail(f"{where}.formula", "must be a string such as \"x/(1+exp(-x))\"")
            try:
                if kind == "activations":
                    _check_activation_formula(name, text)
                else:
                    losses.formula_loss(name, text)
            except FormulaError as exc:
                raise _fail(f"{where}.formula", str(exc)) from None
            except SymbpError as exc:
                raise _fail(f"{where}.formula", str(exc).split(": ", 1)[-1]) from None
            out[kind][name] = text
    return out


def _check_activation_formula(name: str, text: str) -> None:
    entry = activations.formula_activation(name, text)
    probe = sp.diff(entry.expr, activations.x)
    if probe.has(sp.Derivative, sp.Subs):
        raise SpecError(f"'{text}' has no derivative sympy can write down")


def _layer(data: Any, index: int, formulas: dict[str, dict[str, str]], last: bool) -> Layer:
    where = f"layers[{index}]"
    if not isinstance(data, dict):
        raise _fail(where, "must be a table with size and activation")
    _unknown_keys(data, LAYER_KEYS, f"{where}.")
    if "size" not in data:
        raise _fail(f"{where}.size", "is missing")
    size = _int(data["size"], f"{where}.size")
    act_name = data.get("activation", "sigmoid")
    known = list(activations.REGISTRY) + list(formulas["activations"])
    _choice(act_name, f"{where}.activation", known)
    if act_name == "softmax" and not last:
        raise _fail(f"{where}.activation", "softmax is only supported on the output layer")
    alpha = data.get("alpha")
    if alpha is not None:
        if act_name != "leaky_relu":
            raise _fail(f"{where}.alpha", "only leaky_relu takes alpha")
        alpha = _number(alpha, f"{where}.alpha")
        if not 0 < alpha < 1:
            raise _fail(f"{where}.alpha", f"must lie in (0, 1), got {alpha}")
    elif act_name in activations.REGISTRY and "alpha" in activations.REGISTRY[act_name].params:
        alpha = activations.REGISTRY[act_name].params["alpha"]
    bias = _choice(data.get("bias", "neuron"), f"{where}.bias", BIAS_MODES)
    train = data.get("train_bias", True)
    if not isinstance(train, bool):
        raise _fail(f"{where}.train_bias", f"must be true or false, got {train!r}")
    return Layer(size, act_name, alpha, bias, train)


def _check_pairing(layers: tuple[Layer, ...], loss_name: str, entry: losses.Loss) -> None:
    out = layers[-1].activation
    if entry.requires is not None and out not in entry.requires:
        need = " or ".join(sorted(entry.requires))
        raise _fail("loss", f"'{loss_name}' needs a {need} output layer, not {out}")


def _regularization(data: Any) -> Regularization:
    if data is None:
        return Regularization()
    if not isinstance(data, dict):
        raise _fail("regularization", "must be a table with convention and strength")
    _unknown_keys(data, {"convention", "strength"}, "regularization.")
    conv = _choice(data.get("convention", "half"), "regularization.convention",
                   tuple(REG_CONVENTIONS))
    strength = _number(data.get("strength", 0.0), "regularization.strength")
    if strength < 0:
        raise _fail("regularization.strength", f"must be ≥ 0, got {strength}")
    return Regularization(conv, strength)


def _build(data: Any, default_name: str) -> Network:
    if not isinstance(data, dict):
        raise SpecError("spec: must be a table (TOML) or an object (JSON)")
    _unknown_keys(data, TOP_KEYS, "")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _fail("name", f"must be an identifier such as my_net, got {name!r}")
    if "inputs" not in data:
        raise _fail("inputs", "is missing (the number of input features)")
    inputs = _int(data["inputs"], "inputs")
    layers_data = data.get("layers")
    if not isinstance(layers_data, list) or not layers_data:
        raise _fail("layers", "must be a non-empty list of layers")
    if len(layers_data) > MAX_LAYERS:
        raise _fail("layers", f"at most {MAX_LAYERS} layers are supported")
    formulas = _formulas(data)
    layers = tuple(_layer(d, i, formulas, i == len(layers_data) - 1)
                   for i, d in enumerate(layers_data))
    loss_name = _choice(data.get("loss", "half_sse"), "loss",
                        list(losses.REGISTRY) + list(formulas["losses"]))
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail("description", "must be a string")
    net = Network(
        name=name, inputs=inputs, layers=layers, loss=loss_name,
        reduction=_choice(data.get("reduction", "mean"), "reduction", REDUCTIONS),
        regularization=_regularization(data.get("regularization")),
        weight_layout=_choice(data.get("weight_layout", "out_in"), "weight_layout", LAYOUTS),
        names={}, formulas=formulas, example={}, description=description, source=data,
    )
    _check_pairing(layers, loss_name, net.loss_entry())
    names = data.get("names", {})
    if not isinstance(names, dict):
        raise _fail("names", "must be a table")
    _unknown_keys(names, set(NAME_KINDS), "names.")
    object.__setattr__(net, "names", names)
    example = data.get("example", {})
    if not isinstance(example, dict):
        raise _fail("example", "must be a table of named values")
    object.__setattr__(net, "example", example)
    if names and _small(net):
        from .naming import neuron_names

        neuron_names(net)  # validates names; raises SpecError naming the field
    return net


def _small(net: Network) -> bool:
    return net.n_params() <= 10_000


def _read_text(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: is not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None


def bundled_names() -> list[str]:
    """Names of the networks shipped with symbp (``symbp/networks/*.toml``)."""
    folder = resources.files("symbp") / "networks"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_spec(spec: str | Path | dict | Network | None = None) -> Network:
    """A spec file, a bundled network's name, plain data, or None for the default (mazur)."""
    if isinstance(spec, Network):
        return spec
    if isinstance(spec, dict):
        return Network.from_dict(spec)
    if spec is None:
        spec = "mazur"
    path = Path(spec)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        if not path.is_file():
            raise SpecError(f"{spec}: no such spec file")
        return Network.from_dict(_read_text(path), default_name=_stem_name(path))
    if str(spec) in bundled_names():
        text = (resources.files("symbp") / "networks" / f"{spec}.toml").read_text("utf-8")
        return Network.from_dict(tomllib.loads(text), default_name=str(spec))
    raise SpecError(f"{spec}: neither a spec file nor a bundled network "
                    f"(bundled: {', '.join(bundled_names())})")


def _stem_name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    return stem if NAME_RE.match(stem) else f"net_{stem}"
