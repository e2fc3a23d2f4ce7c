"""Graph specs: layers with ``type``, ``id``, ``from`` and image inputs, read into an engine graph.

A spec is a graph spec when its inputs are a shape ([C, H, W]), it defines ``[ops.<name>]``, or
a layer uses a field only graphs have (``type``, ``id``, ``from``, …); every other spec is a
dense chain and goes through ``symbp.core.spec`` unchanged. Every check raises ``SpecError`` with a
one-line message naming the field, as dense specs do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any

from . import activations, losses
from .build import build
from .errors import DerivationError, FormulaError, SpecError
from .formula_op import formula_op, parse_index_formula
from .ir import Graph
from .ops import OPS, OpDef
from .recurrent import CELLS as CELL_KINDS

TOP_KEYS = {"name", "description", "inputs", "layers", "loss", "reduction", "time_reduction", "ops"}
COMMON = {"type", "id", "from", "activation"}
# The fields each built-in op takes besides COMMON (the op's keyword arguments).
FIELDS: dict[str, set[str]] = {
    "dense": {"size", "bias"}, "conv2d": {"channels", "kernel", "stride", "padding", "bias"},
    "maxpool2d": {"kernel", "stride"}, "avgpool2d": {"kernel", "stride"},
    "batchnorm": {"eps"}, "layernorm": {"eps"}, "dropout": {"rate"},
    "add": set(), "concat": set(), "flatten": set(), "attention": {"causal"},
    "embedding": {"vocab", "size"}, "rnn": {"size", "return"}, "lstm": {"size", "return"},
    "gru": {"size", "return"},
}
SEQUENCE_OPS = {"embedding", "rnn", "lstm", "gru"}  # a layer of these makes a sequence spec
# what a sequence kernel runs
SEQUENCE_LAYERS = SEQUENCE_OPS | {"dense", "attention", "add", "concat", "layernorm"}
PER_STEP_INPUT = {"rnn", "lstm", "gru", "attention"}  # layers that read a whole sequence
NO_ACTIVATION = {"lstm", "gru"}  # their gates fix their functions
RETURNS = ("sequence", "last")
MAX_VOCAB = 1_000_000
MARKERS = {"type", "id", "from", "channels", "kernel", "stride", "padding", "rate", "eps", "vocab", "return"}
OP_KEYS = {"formula", "inputs", "params"}
MAX_EXTENT = 4096  # channels, features, image sides, kernel sides
MAX_LAYERS = 256
MAX_SAMPLE = 10_000_000  # values one sample occupies in any layer


def is_graph_spec(data: Any) -> bool:
    """True when the spec uses anything only graph specs have (see the module note)."""
    if not isinstance(data, dict):
        return False
    layers = data.get("layers")
    marked = isinstance(layers, list) and any(isinstance(d, dict) and MARKERS & set(d) for d in layers)
    return isinstance(data.get("inputs"), list) or "ops" in data or marked


def _graph_only_by_inputs(data: dict) -> bool:
    """Whether a shape as ``inputs`` is the only thing that makes ``data`` a graph spec."""
    return is_graph_spec(data) and not is_graph_spec({**data, "inputs": 1})


def _fail(where: str, message: str) -> SpecError:
    from .spec import one_line

    return SpecError(one_line(f"{where}: {message}"))


def _int(value: Any, where: str, low: int = 1, high: int = MAX_EXTENT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, f"must be an integer from {low} to {high}, got {value!r:.60}")
    return value


def _pair(value: Any, where: str, low: int) -> int | list[int]:
    """An integer or two of them ([rows, columns])."""
    if isinstance(value, list):
        if len(value) != 2:
            raise _fail(where, f"must be an integer or a list of two, got {len(value)} entries")
        return [_int(v, f"{where}[{k}]", low) for k, v in enumerate(value)]
    return _int(value, where, low)


def _pairs(value: int | list[int]) -> list[int]:
    return list(value) if isinstance(value, list) else [value, value]


def _number(value: Any, where: str, low: float, high: float, closed_high: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if not ok or not low <= value <= high or (value == high and not closed_high):
        end = "]" if closed_high else ")"
        raise _fail(where, f"must be a number in [{low}, {high}{end}, got {value!r:.60}")
    return float(value)


def _padding(value: Any, kernel: int | list[int], stride: int | list[int], where: str) -> int | list[int]:
    """"valid" is no padding; "same" keeps the size, which needs stride 1 and odd kernels
    (the engine pads both sides alike; PyTorch pads even kernels unevenly)."""
    if value == "valid":
        return 0
    if value == "same":
        if _pairs(stride) != [1, 1]:
            raise _fail(where, '"same" padding needs stride 1 (the output size would not equal the input\'s)')
        if any(k % 2 == 0 for k in _pairs(kernel)):
            raise _fail(where, '"same" padding needs odd kernel sizes (an even kernel pads one side more)')
        return [k // 2 for k in _pairs(kernel)]
    if isinstance(value, str):
        raise _fail(where, f'must be an integer, two integers, "same" or "valid", got {value!r:.60}')
    return _pair(value, where, 0)


def _op_fields(kind: str, data: dict, where: str) -> dict[str, Any]:
    """The op's keyword arguments, checked and with conventions applied."""
    out: dict[str, Any] = {}
    if kind in SEQUENCE_OPS:
        return _sequence_fields(kind, data, where)
    if kind == "dense":
        if "size" not in data:
            raise _fail(f"{where}.size", "is missing")
        out["size"] = _int(data["size"], f"{where}.size")
    if kind == "conv2d":
        if "channels" not in data or "kernel" not in data:
            raise _fail(f"{where}.{'channels' if 'channels' not in data else 'kernel'}", "is missing")
        out["channels"] = _int(data["channels"], f"{where}.channels")
    if kind in ("conv2d", "maxpool2d", "avgpool2d"):
        if "kernel" not in data:
            raise _fail(f"{where}.kernel", "is missing")
        out["kernel"] = _pair(data["kernel"], f"{where}.kernel", 1)
        default = 1 if kind == "conv2d" else out["kernel"]
        out["stride"] = _pair(data.get("stride", default), f"{where}.stride", 1)
    if kind == "conv2d":
        out["padding"] = _padding(data.get("padding", 0), out["kernel"], out["stride"], f"{where}.padding")
    for flag in ("bias", "causal"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise _fail(f"{where}.{flag}", f"must be true or false, got {data[flag]!r:.60}")
            out[flag] = data[flag]
    if "eps" in data:
        out["eps"] = _number(data["eps"], f"{where}.eps", 1e-12, 1.0, True)
    if kind == "dropout":
        out["rate"] = _number(data.get("rate", 0.5), f"{where}.rate", 0.0, 1.0)
    return out


def _sequence_fields(kind: str, data: dict, where: str) -> dict[str, Any]:
    """embedding: vocab and size; rnn, lstm, gru: size and return (as the op's ``returns``)."""
    from .spec import _choice

    if kind == "embedding" and "from" in data:
        raise _fail(f"{where}.from", "an embedding reads the token ids (the inputs), not a layer; "
                                     "remove from")
    for key in sorted(FIELDS[kind] - {"return"}):
        if key not in data:
            raise _fail(f"{where}.{key}", "is missing")
    out = {"size": _int(data["size"], f"{where}.size")}
    if kind == "embedding":
        out["vocab"] = _int(data["vocab"], f"{where}.vocab", high=MAX_VOCAB)
    else:
        out["returns"] = _choice(data.get("return", "sequence"), f"{where}.return", RETURNS)
    return out


def _cell_activation(kind: str, act: Any, where: str) -> str:
    """An rnn's own g (elementwise, from the registry); lstm and gru take none."""
    from .spec import _choice

    if kind in NO_ACTIVATION:
        raise _fail(where, f"{kind} has fixed gate functions (sigmoid, tanh); remove activation")
    return _choice(act, where, [k for k, e in activations.REGISTRY.items() if not e.vector])


def _sources(data: dict, where: str, ids: set[str], kind: str, op: OpDef,
             later: Mapping[str, int]) -> list[str] | None:
    sources = data.get("from")
    if sources is None:
        if op.inputs is None:
            raise _fail(f"{where}.from", f"{kind} joins two or more layers: name them by id")
        return None
    sources = [sources] if isinstance(sources, str) else sources
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources) or not sources:
        raise _fail(f"{where}.from", "must be an id or a list of ids of earlier layers")
    for s in sources:
        if s not in ids and s in later:
            raise _fail(f"{where}.from", f"{s!r:.40} is the id of a later layer (layers[{later[s]}]); "
                                         "a layer reads earlier ones only")
        if s not in ids:
            known = ", ".join(sorted(ids)) or "none yet"
            raise _fail(f"{where}.from", f"{s!r:.40} is not the id of an earlier layer (ids: {known})")
    wanted = op.inputs
    if wanted is not None and len(sources) != wanted:
        raise _fail(f"{where}.from", f"{kind} reads {wanted} input(s), got {len(sources)}")
    if wanted is None and len(sources) < 2:
        raise _fail(f"{where}.from", f"{kind} joins two or more layers, got {len(sources)}")
    return sources


def _layer(data: Any, index: int, ids: set[str], registry: Mapping[str, OpDef], last: bool,
           later: Mapping[str, int]) -> dict:
    from .spec import _identifier

    where = f"layers[{index}]"
    if not isinstance(data, dict):
        raise _fail(where, "must be a table such as {type = \"conv2d\", channels = 6, kernel = 5}")
    from .spec import _did_you_mean

    kind = data.get("type", "dense")
    if kind not in registry or kind in ("loss", "activation", "softmax"):
        known = [k for k in registry if k not in ("loss", "activation", "softmax")]
        raise _fail(f"{where}.type", f"unknown layer type {kind!r:.40}; known: {', '.join(known)}"
                                     f"{_did_you_mean(kind, known)}")
    allowed_keys = COMMON | FIELDS.get(kind, set())
    extra = sorted(str(k) for k in set(data) - allowed_keys)
    if kind in NO_ACTIVATION:  # refused with its own reason below, never suggested
        allowed_keys = allowed_keys - {"activation"}
    if extra:
        raise _fail(f"{where}.{extra[0]:.40}", f"unknown field for {kind}; expected one of "
                                               f"{', '.join(sorted(allowed_keys))}"
                                               f"{_did_you_mean(extra[0], sorted(allowed_keys))}")
    out = {"type": kind, **_op_fields(kind, data, where)}
    sources = _sources(data, where, ids, kind, registry[kind], later)
    if sources is not None:
        out["from"] = sources
    if "activation" in data and kind in CELL_KINDS:
        out["activation"] = _cell_activation(kind, data["activation"], f"{where}.activation")
    elif "activation" in data:
        act = data["activation"]
        if act not in activations.REGISTRY:
            raise _fail(f"{where}.activation", f"must be one of {', '.join(activations.REGISTRY)}; "
                                               f"got {act!r:.40}")
        if act == "softmax" and not last:
            raise _fail(f"{where}.activation", "softmax is only supported on the last layer")
        out["activation"] = act
    if "id" in data:
        name = _identifier(data["id"], f"{where}.id", "h1")
        if name in ids:
            raise _fail(f"{where}.id", f"{name!r} is the id of an earlier layer")
        out["id"] = name
    return out


def _inputs(value: Any) -> tuple[int, ...]:
    if value is None:
        raise _fail("inputs", "is missing: a number of features, or [channels, height, width]")
    if isinstance(value, list):
        if not 1 <= len(value) <= 3:
            raise _fail("inputs", f"must be [channels, height, width] or a number, got {len(value)} entries")
        return tuple(_int(v, f"inputs[{k}]") for k, v in enumerate(value))
    return (_int(value, "inputs", high=100_000),)


def _user_ops(table: Any) -> dict[str, dict]:
    """``[ops.<name>]``: formula, inputs (default ["x"]) and params ({W = ["c", 3, 3]})."""
    from .spec import _identifier

    if not isinstance(table, dict):
        raise _fail("ops", "must be a table of name = {formula = \"…\", params = {…}}")
    out = {}
    for name, entry in table.items():
        where = f"ops.{name!s:.40}"
        _identifier(name, where, "depthwise")
        if name in OPS:
            raise _fail(where, f"{name!r} is a built-in op; choose another name")
        if not isinstance(entry, dict):
            raise _fail(where, "must be a table with formula (and inputs, params)")
        extra = sorted(set(entry) - OP_KEYS)
        if extra:
            expected = ", ".join(sorted(OP_KEYS))
            raise _fail(f"{where}.{extra[0]!s:.40}", f"unknown field; expected one of {expected}")
        formula, inputs, params = entry.get("formula"), entry.get("inputs", ["x"]), entry.get("params", {})
        if not isinstance(formula, str):
            raise _fail(f"{where}.formula", "must be a string such as \"y[n, c] = sum(k) W[c, k] * x[n, k]\"")
        if not isinstance(inputs, list) or not inputs:
            raise _fail(f"{where}.inputs", "must be a non-empty list of tensor names such as [\"x\"]")
        for k, v in enumerate(inputs):
            _identifier(v, f"{where}.inputs[{k}]", "x")
        if not isinstance(params, dict):
            raise _fail(f"{where}.params", "must be a table of name = [dimensions]")
        for p, dims in params.items():
            _identifier(p, f"{where}.params.{p!s:.40}", "W")
            ok = isinstance(dims, list) and all(isinstance(d, str) or (isinstance(d, int) and not
                                                isinstance(d, bool) and 1 <= d <= MAX_EXTENT) for d in dims)
            if not ok:
                raise _fail(f"{where}.params.{p}", 'must be a list of sizes or index names such as ["c", 3]')
        try:
            parse_index_formula(" ".join(formula.split()), {**{n: 4 for n in inputs},
                                                            **{p: len(d) for p, d in params.items()}})
        except FormulaError as exc:
            if "indices, not" not in str(exc):  # input ranks are only known when the graph is built
                raise _fail(f"{where}.formula", str(exc)) from None
        out[name] = {"formula": " ".join(formula.split()), "inputs": list(inputs), "params": dict(params)}
    return out


@dataclass(frozen=True)
class GraphSpec:
    """A validated graph spec: build its engine graph for a batch size with ``graph``."""

    name: str
    inputs: tuple[int, ...]
    layers: tuple[dict, ...]
    loss: str
    reduction: str = "mean"
    ops: dict[str, dict] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    time_reduction: str = "mean"

    @property
    def sequence(self) -> bool:
        """Whether the spec has sequence layers (its inputs are (steps,) ids or (steps, features))."""
        return any(d["type"] in SEQUENCE_OPS for d in self.layers)

    def registry(self) -> dict[str, OpDef]:
        """The user ops as registry entries."""
        return {n: formula_op(o["formula"], o["inputs"], o["params"]) for n, o in self.ops.items()}

    def graph(self, batch: int) -> Graph:
        """The engine graph for ``batch`` samples (X is (batch, *inputs))."""
        return build((batch, *self.inputs), [dict(d) for d in self.layers], self.loss, self.reduction,
                     ops=self.registry(), time_reduction=self.time_reduction)

    def spec_hash(self) -> str:
        blob = json.dumps(self.source, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def summary(self) -> str:
        """One line: the input shape and the layer types."""
        kinds = ", ".join(" ".join([d["type"]] + ([d["activation"]] if "activation" in d else []))
                          for d in self.layers)
        return f"{'x'.join(map(str, self.inputs))}: {kinds}; loss {self.loss}"


def _check_sizes(graph: Graph, steps: float = 1) -> None:
    """Parameters and per-sample tensors within limits (a typo, not a network, beyond them);
    ``steps`` scales sequence tensors (rank 3) of a graph built for fewer steps."""
    from .spec import MAX_PARAMS

    n_params = sum(prod(s) for s in graph.params.values())
    if n_params > MAX_PARAMS:
        raise _fail("layers", f"the network has {n_params:,} parameters; at most {MAX_PARAMS:,} "
                              "are supported")
    largest = int(max(prod(c.shape[1:]) * (steps if len(c.shape) == 3 else 1)
                      for c in graph.computes if c.shape))
    if largest > MAX_SAMPLE:
        raise _fail("layers", f"a layer holds {largest:,} values per sample; at most {MAX_SAMPLE:,} "
                              "are supported")


def _check_builds(spec: GraphSpec) -> None:
    """Build the graph for a batch of 2; an error names the first layer that cannot be built.

    A sequence spec is built for at most 2 steps (its unrolled graph grows with the steps; shapes
    and parameters do not depend on them)."""
    steps = spec.inputs[0] / min(spec.inputs[0], 2) if spec.sequence else 1
    if spec.sequence and spec.inputs[0] > 2:
        spec = replace(spec, inputs=(2, *spec.inputs[1:]))
    try:
        _check_sizes(spec.graph(2), steps)
        return
    except (DerivationError, FormulaError) as error:
        failure = error
    for k in range(1, len(spec.layers) + 1):
        partial = GraphSpec(spec.name, spec.inputs, spec.layers[:k], spec.loss, spec.reduction, spec.ops)
        try:
            build((2, *spec.inputs), [dict(d) for d in partial.layers], ops=spec.registry())
        except (DerivationError, FormulaError) as error:
            raise _fail(f"layers[{k - 1}]", str(error)) from None
    raise _fail("loss", str(failure)) from None


def _check_sequence(spec: GraphSpec) -> None:
    """A sequence spec: [steps] token ids read by an embedding first, or [steps, features]
    floats; layers read the previous one or earlier ones by id, a sequence (one vector per step)
    or one vector per sample alike, and every layer is read (the last by the loss)."""
    ids = spec.layers[0]["type"] == "embedding"
    if len(spec.inputs) == 3 or (len(spec.inputs) == 1) != ids:
        shape = "[steps] token ids need an embedding as the first layer" if len(spec.inputs) == 1 else \
            "an embedding reads [steps] token ids" if ids and len(spec.inputs) == 2 else \
            "a sequence spec has inputs [steps] (token ids) or [steps, features]"
        raise _fail("inputs", f"{shape}; got {list(spec.inputs)}")
    for k, d in enumerate(spec.layers):
        if d["type"] not in SEQUENCE_LAYERS:
            known = ", ".join(sorted(t for t in SEQUENCE_LAYERS if t in OPS))
            raise _fail(f"layers[{k}].type", f"a sequence spec takes the layer types {known}, "
                                             f"not {d['type']}")
        if k and d["type"] == "embedding":
            raise _fail(f"layers[{k}].type", "an embedding reads the token ids: it must be the first layer")
    _check_reads(spec.layers)


def _check_reads(layers: tuple[dict, ...]) -> None:
    """Follow ``from``: what each layer gives (a sequence or one vector per sample) suits its
    readers, and no layer goes unread."""
    where = {d["id"]: k for k, d in enumerate(layers) if "id" in d}
    gives: list[bool] = []  # per layer: a sequence (True) or one vector per sample
    read: set[int] = set()
    for k, d in enumerate(layers):
        sources = [where[s] for s in d["from"]] if "from" in d else [k - 1] if k else []
        read.update(sources)
        names = [f"{d['from'][i]!r}" if "from" in d else f"layers[{s}]" for i, s in enumerate(sources)]
        at = f"layers[{k}].from" if "from" in d else f"layers[{k}].type"
        kinds = [gives[s] for s in sources] or [True]
        if len(set(kinds)) > 1:
            seq = ", ".join(n for n, s in zip(names, kinds) if s)
            one = ", ".join(n for n, s in zip(names, kinds) if not s)
            raise _fail(at, f"{d['type']} joins {seq} (a sequence: one vector per step) with {one} "
                            "(one vector per sample, return = \"last\"); it needs them alike")
        if d["type"] in PER_STEP_INPUT and not kinds[0]:
            raise _fail(at, f"{d['type']} reads a sequence, but {names[0]} is one vector per sample "
                            "(return = \"last\")")
        gives.append(d.get("returns", "sequence") == "sequence" if d["type"] in CELL_KINDS else kinds[0])
    unread = sorted(set(range(len(layers) - 1)) - read)
    if unread:
        raise _fail(f"layers[{unread[0]}]", "no later layer reads its output (a from skips it): "
                                            "remove it or name its id in a from")


def from_dict(data: dict, default_name: str = "network") -> GraphSpec:
    """Validate a graph spec given as plain data (what TOML or JSON parse to)."""
    from .spec import _description, _network_name

    extra = sorted(str(k) for k in set(data) - TOP_KEYS)
    if extra:
        expected = ", ".join(sorted(TOP_KEYS))
        if _graph_only_by_inputs(data):  # most likely a dense spec whose inputs became a list
            raise _fail("inputs", f"a shape makes this a graph spec, which has no field "
                                  f"{extra[0]:.40}; an integer keeps it a dense spec")
        raise _fail(f"{extra[0]:.40}", f"unknown field for a graph spec; expected one of {expected}")
    ops = _user_ops(data.get("ops", {}))
    registry = {**OPS, **{n: formula_op(o["formula"], o["inputs"], o["params"]) for n, o in ops.items()}}
    layers_data = data.get("layers")
    if not isinstance(layers_data, list) or not layers_data or len(layers_data) > MAX_LAYERS:
        raise _fail("layers", f"must be a list of 1 to {MAX_LAYERS} layers")
    ids: set[str] = set()
    later = {d["id"]: k for k, d in enumerate(layers_data)
             if isinstance(d, dict) and isinstance(d.get("id"), str)}
    layers = []
    for k, d in enumerate(layers_data):
        layers.append(_layer(d, k, ids, registry, k == len(layers_data) - 1, later))
        ids.update([layers[-1]["id"]] if "id" in layers[-1] else [])
    loss = data.get("loss", "half_sse")
    if loss not in losses.REGISTRY:
        raise _fail("loss", f"must be one of {', '.join(losses.REGISTRY)}; got {loss!r:.40}")
    entry, out = losses.REGISTRY[loss], layers[-1].get("activation", "identity")
    if entry.requires is not None and out not in entry.requires:
        raise _fail("loss", f"{loss!r} needs a {' or '.join(sorted(entry.requires))} last layer, not {out}")
    reduction = data.get("reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise _fail("reduction", f"must be one of mean, sum; got {reduction!r:.40}")
    time_reduction = data.get("time_reduction", "mean")
    if time_reduction not in ("mean", "sum"):
        from .spec import _did_you_mean

        raise _fail("time_reduction", f"must be one of mean, sum; got {time_reduction!r:.40}"
                                      f"{_did_you_mean(time_reduction, ['mean', 'sum'])}")
    spec = GraphSpec(_network_name(data.get("name", default_name)), _inputs(data.get("inputs")),
                     tuple(layers), loss, reduction, ops, _description(data.get("description", "")), data,
                     time_reduction)
    if spec.sequence:
        _check_sequence(spec)
    _check_builds(spec)
    return spec
