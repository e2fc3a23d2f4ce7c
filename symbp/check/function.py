"""Checking a hand-written gradient function against the derivation and finite differences.

``check_function(net, fn, convention=...)`` calls the user's function on random parameters and
data, and compares, parameter by parameter and in the user's own layout:

* its gradient with the gradient of the kernel symbp generates for the spec (``emit_numpy``),
  which is derived symbolically and verified against autograd;
* its gradient with central differences of *its own* loss along a random direction, which tells
  a gradient that does not match its loss from a loss that does not match the spec;
* its loss with the kernel's loss.

Importing the user's file runs the user's code: that is the point of verifying it. Nothing is
ever evaluated from text.

Conventions (``ADAPTERS``), each the calling style of one of the seeds:

``symbp``           ``fn(params, X, Y) -> (loss, grads)``: dicts ``W1, b1, …`` shaped like the
                    generated kernel's (``PARAM_SHAPES``); X, Y rows of a batch.
``in_out``          seed 003: ``fn(params, X, Y) -> (loss, grads)`` with ``W{l}`` of shape
                    (in, out) and ``b{l}`` of shape (1, out); Z = X @ W + b.
``theta``           seed 004: ``fn(thetas, X, y, lam) -> (J, grads)``; ``thetas`` a list of
                    Θ^(l) of shape (out, in + 1), bias first; y labels (see ``labels``).
``theta_unrolled``  seed 004: ``fn(theta_vec, X, y, lam) -> (J, grad_vec)``; Θ's unrolled one
                    after the other, column-major as Octave's ``Theta(:)`` (``order="F"``) or
                    row-major (``order="C"``).
``nncost``          exercise 4's ``nnCostFunction(nn_params, input_layer_size,
                    hidden_layer_size, num_labels, X, y, lam) -> (J, grad)``: two layers,
                    unrolled as in ``theta_unrolled``.

``labels`` for the Θ conventions: ``"1"`` (1…K, Octave), ``"0"`` (0…K−1) or ``"onehot"`` (an
m × K matrix). ``lam`` is the spec's regularisation strength.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..codegen.emit import emit_numpy
from ..codegen.load import load_module
from ..core.errors import SymbpError
from ..core.spec import Network, load_spec
from ..verify.kernel import random_params, sample_data

LABELS = ("1", "0", "onehot")
ORDERS = ("F", "C")
_counter = itertools.count()


class FunctionError(SymbpError):
    """The function cannot be loaded or called as the convention says (exit code 2)."""


@dataclass
class Adapter:
    """How one convention's function is called and how its gradients are laid out."""

    name: str
    signature: str
    theta: bool  # parameters as Θ matrices with the bias as first column
    call: Callable[..., tuple[Any, dict[str, np.ndarray]]]


@dataclass
class ParamResult:
    name: str
    max_rel_err: float
    index: tuple[int, ...] | None
    claimed: float | None
    true: float | None
    fd_rel_err: float | None
    problem: str = ""  # a shape or a missing entry

    def ok(self, tol: float) -> bool:
        return not self.problem and self.max_rel_err <= tol  # False for NaN too

    @property
    def loss_not_finite(self) -> bool:
        """Central differences of the user's loss gave NaN or inf: the loss is not finite nearby."""
        return self.fd_rel_err is not None and not math.isfinite(self.fd_rel_err)


@dataclass
class FunctionReport:
    convention: str
    loss_claimed: float
    loss_true: float
    params: list[ParamResult]
    tol: float
    notes: list[str] = field(default_factory=list)
    diagnosis: str = ""  # the slip that reproduces a wrong result, where one is known

    @property
    def loss_rel_err(self) -> float:
        return abs(self.loss_claimed - self.loss_true) / max(abs(self.loss_true), 1e-300)

    @property
    def wrong(self) -> list[str]:
        return [p.name for p in self.params if not p.ok(self.tol)]

    @property
    def unstable(self) -> list[str]:
        return [p.name for p in self.params if p.loss_not_finite and p.ok(self.tol)]

    @property
    def ok(self) -> bool:
        return not self.wrong and not self.unstable and self.loss_rel_err <= self.tol

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def render(self) -> str:
        lines = [f"convention {self.convention}; tolerance {self.tol:g} "
                 "(relative to each array's largest entry)"]
        mark = "ok" if self.loss_rel_err <= self.tol else "WRONG"
        lines.append(f"  loss: claimed {self.loss_claimed:.12g}, true {self.loss_true:.12g} "
                     f"(relative error {self.loss_rel_err:.1e}) {mark}")
        for p in self.params:
            if p.problem:
                lines.append(f"  {p.name}: WRONG: {p.problem}")
                continue
            fd = "" if p.fd_rel_err is None else f"; vs central differences of your loss {p.fd_rel_err:.1e}"
            head = f"  {p.name}: max relative error {p.max_rel_err:.1e}{fd}"
            if p.ok(self.tol) and p.loss_not_finite:
                lines.append(f"{head} WRONG: your loss is not finite next to these parameters")
            elif p.ok(self.tol):
                lines.append(f"{head} ok")
            else:
                where = ",".join(map(str, p.index))
                lines.append(f"{head} WRONG: worst entry [{where}]: claimed {p.claimed:.12g}, "
                             f"true {p.true:.12g}")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  diagnosis: {self.diagnosis}"] if self.diagnosis else []
        wrong = self.wrong
        if wrong:
            lines.append(f"verdict: WRONG gradient for {', '.join(wrong)}")
        elif self.unstable:
            lines.append("verdict: WRONG loss (not finite next to the test parameters, along "
                         f"{', '.join(self.unstable)})")
        elif not self.ok:
            lines.append("verdict: WRONG loss (the gradients agree)")
        else:
            lines.append("verdict: PASS")
        return "\n".join(lines)


# --------------------------------------------------------------------------- layouts


def _canonical(net: Network, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """W (out, in) and b as a vector (or a scalar for a shared bias), whatever the spec's layout."""
    out = {}
    for k, v in params.items():
        out[k] = v.T if k.startswith("W") and net.weight_layout == "in_out" else v
    return out


def _to_spec(net: Network, canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return _canonical(net, canonical)  # the transpose is its own inverse


def _thetas(net: Network, canonical: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.hstack([canonical[f"b{l}"].reshape(-1, 1), canonical[f"W{l}"]])
            for l in range(1, net.depth + 1)]


def _from_thetas(net: Network, thetas: list[np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for l, theta in enumerate(thetas, start=1):
        out[f"W{l}"], out[f"b{l}"] = theta[:, 1:], theta[:, 0]
    return out


def _unroll(thetas: list[np.ndarray], order: str) -> np.ndarray:
    return np.concatenate([t.ravel(order=order) for t in thetas])


def _roll(vec: np.ndarray, shapes: list[tuple[int, int]], order: str) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        n = shape[0] * shape[1]
        out.append(np.asarray(vec[start:start + n]).reshape(shape, order=order))
        start += n
    return out


def _labels(Y: np.ndarray, labels: str) -> np.ndarray:
    if labels == "onehot":
        return Y
    k = np.argmax(Y, axis=1)
    return k + 1 if labels == "1" else k


# --------------------------------------------------------------------------- adapters


def _call_symbp(fn, net, params, X, Y, options):
    loss, grads = _pair(fn(_to_spec(net, params), X, Y))
    return loss, _dict(grads)


def _call_in_out(fn, net, params, X, Y, options):
    user = {}
    for k, v in params.items():
        user[k] = v.T.copy() if k.startswith("W") else np.asarray(v).reshape(1, -1).copy()
    loss, grads = _pair(fn(user, X, Y))
    return loss, _dict(grads)


def _call_theta(fn, net, params, X, Y, options):
    loss, grads = _pair(fn([t.copy() for t in _thetas(net, params)], X, _labels(Y, options["labels"]),
                           options["lam"]))
    return loss, _named_thetas(grads)


def _call_theta_unrolled(fn, net, params, X, Y, options):
    thetas = _thetas(net, params)
    vec = _unroll(thetas, options["order"])
    loss, grad = _pair(fn(vec.copy(), X, _labels(Y, options["labels"]), options["lam"]))
    return loss, _rolled(grad, thetas, options["order"])


def _call_nncost(fn, net, params, X, Y, options):
    if net.depth != 2:
        raise FunctionError("the nncost convention is for networks with one hidden layer")
    thetas = _thetas(net, params)
    vec = _unroll(thetas, "F")
    sizes = net.sizes
    loss, grad = _pair(fn(vec.copy(), sizes[0], sizes[1], sizes[2], X, _labels(Y, options["labels"]),
                          options["lam"]))
    return loss, _rolled(grad, thetas, "F")


def _rolled(grad: Any, thetas: list[np.ndarray], order: str) -> dict[str, np.ndarray]:
    vec = np.asarray(grad).ravel()  # complex entries are judged by _compare, not dropped
    total = sum(t.size for t in thetas)
    if vec.size != total:
        raise FunctionError(f"the returned gradient has {vec.size} entries; expected {total}")
    return _named_thetas(_roll(vec, [t.shape for t in thetas], order))


def _named_thetas(grads: Any) -> dict[str, np.ndarray]:
    if isinstance(grads, dict):
        return {str(k): v for k, v in grads.items()}
    if not isinstance(grads, (list, tuple)):
        raise FunctionError(f"expected a list of Θ gradients, got {type(grads).__name__}")
    return {f"Theta{l}": np.asarray(g) for l, g in enumerate(grads, start=1)}


def _pair(result: Any) -> tuple[float, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise FunctionError(f"the function returned {type(result).__name__}; expected (loss, grads)")
    loss = _real(result[0])
    if loss is None:
        raise FunctionError("the loss has an imaginary part; expected a real number")
    if loss.size != 1:
        raise FunctionError(f"the loss has shape {loss.shape}; expected a number")
    return float(loss.ravel()[0]), result[1]


def _real(value: Any) -> np.ndarray | None:
    """value as a float array; None when it has a nonzero imaginary part (never dropped)."""
    array = np.asarray(value)
    if np.iscomplexobj(array):
        if np.any(array.imag != 0):
            return None
        array = array.real
    return np.asarray(array, dtype=float)


def _dict(grads: Any) -> dict[str, np.ndarray]:
    if not isinstance(grads, dict):
        raise FunctionError(f"the gradients are a {type(grads).__name__}; expected a dict W1, b1, …")
    return {str(k): v for k, v in grads.items()}


ADAPTERS: dict[str, Adapter] = {a.name: a for a in [
    Adapter("symbp", "fn(params, X, Y) -> (loss, grads); dicts W1, b1, … shaped as PARAM_SHAPES",
            False, _call_symbp),
    Adapter("in_out", "fn(params, X, Y) -> (loss, grads); W{l} (in, out), b{l} (1, out) (seed 003)",
            False, _call_in_out),
    Adapter("theta", "fn(thetas, X, y, lam) -> (J, grads); Θ^(l) (out, in+1), bias first (seed 004)",
            True, _call_theta),
    Adapter("theta_unrolled", "fn(theta_vec, X, y, lam) -> (J, grad_vec); Θ's unrolled (seed 004)",
            True, _call_theta_unrolled),
    Adapter("nncost", "nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, "
            "X, y, lam) -> (J, grad) (exercise 4)", True, _call_nncost),
]}


# --------------------------------------------------------------------------- checking


@cache
def _kernel(key: str, net: Network):  # noqa: ARG001 - key: the spec hash and name
    return load_module(emit_numpy(net), f"reference_{net.name}")


def reference_kernel(net: Network):
    """The NumPy kernel symbp generates for ``net``, imported once per spec."""
    return _kernel(net.spec_hash() + net.name, net)


def _reference(net: Network, adapter: Adapter, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The kernel's gradients in the convention's names and layout."""
    if adapter.name == "symbp":
        return grads
    canonical = _canonical(net, grads)
    if adapter.theta:
        return {f"Theta{l}": t for l, t in enumerate(_thetas(net, canonical), start=1)}
    if adapter.name == "in_out":
        return {k: (v.T if k.startswith("W") else np.asarray(v).reshape(1, -1)) for k, v in canonical.items()}
    return canonical


def _compare(name: str, claimed: Any, true: np.ndarray) -> ParamResult:
    try:
        c = _real(claimed)
    except (TypeError, ValueError):
        return ParamResult(name, float("inf"), None, None, None, None, "not an array of numbers")
    if c is None:
        largest = float(np.max(np.abs(np.asarray(claimed).imag)))
        return ParamResult(name, float("inf"), None, None, None, None,
                           f"has imaginary parts (largest {largest:.3g}); a gradient is real")
    t = np.asarray(true, dtype=float)
    if c.shape != t.shape:
        if c.size == t.size and c.squeeze().shape == t.squeeze().shape:
            c = c.reshape(t.shape)
        else:
            hint = " (transposed?)" if c.shape == t.shape[::-1] else ""
            return ParamResult(name, float("inf"), None, None, None, None,
                               f"shape {c.shape}, expected {t.shape}{hint}")
    diff = np.abs(c - t)
    scale = max(float(np.max(np.abs(t))) if t.size else 0.0, 1e-300)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    index = tuple(int(i) for i in worst)
    return ParamResult(name, float(np.max(diff)) / scale if diff.size else 0.0, index,
                       float(c[worst]) if diff.size else None, float(t[worst]) if diff.size else None, None)


def check_function(net: Network | str | None, fn: Callable, convention: str = "symbp", *,
                   labels: str = "1", order: str = "F", batch: int = 5, seed: int = 0,
                   tol: float = 1e-6) -> FunctionReport:
    """Compare ``fn``'s loss and gradients with the derived kernel and with central differences.

    ``convention`` is one of ``ADAPTERS`` (see the module docstring for each signature);
    raises FunctionError when the function cannot be called that way.
    """
    net = load_spec(net) if not isinstance(net, Network) else net
    if convention not in ADAPTERS:
        raise FunctionError(f"unknown convention {convention!r}; one of {', '.join(ADAPTERS)}")
    if labels not in LABELS or order not in ORDERS:
        raise FunctionError(f"labels must be one of {', '.join(LABELS)} and order one of F, C")
    adapter = ADAPTERS[convention]
    if adapter.theta and any(layer.bias != "neuron" or not layer.train_bias for layer in net.layers):
        raise FunctionError("the Θ conventions need one trained bias per neuron in every layer")
    kernel = reference_kernel(net)
    params = random_params(kernel, net, seed)
    X, Y = _data(net, adapter, batch, seed)
    options = {"labels": labels, "order": order, "lam": net.regularization.strength}
    true_loss, true_grads = kernel.loss_and_grad(params, X, Y)
    canonical = _canonical(net, params)
    loss, grads = _invoke(adapter, fn, net, canonical, X, Y, options)
    reference = _reference(net, adapter, true_grads)
    results = []
    for name, true in reference.items():
        if name not in grads:
            got = ", ".join(grads) or "none"
            results.append(ParamResult(name, float("inf"), None, None, None, None,
                                       f"missing from the returned gradients (got {got})"))
            continue
        results.append(_compare(name, grads[name], true))
    _finite_differences(adapter, fn, net, canonical, X, Y, options, grads, results, seed)
    notes = []
    if adapter.theta:
        unrolled = f", unrolled order {order}" if convention == "theta_unrolled" else ""
        notes.append(f"lam = {options['lam']:g}, labels {labels}{unrolled}")
    return FunctionReport(convention, loss, float(true_loss), results, tol, notes)


def _data(net: Network, adapter: Adapter, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, Y = sample_data(net, batch, seed)
    if adapter.theta:  # labels: every target row is one-hot
        rng = np.random.default_rng(seed + 3)
        k = rng.integers(0, net.layers[-1].size, size=batch)
        Y = np.eye(net.layers[-1].size)[k]
    return X, Y


def _invoke(adapter, fn, net, canonical, X, Y, options, when: str = ""):
    """One call of the user's function; whatever it raises, SystemExit, GeneratorExit and
    KeyboardInterrupt included, is reported as a FunctionError (exit code 2), never let through."""
    try:
        return adapter.call(fn, net, canonical, X, Y, options)
    except FunctionError:
        raise
    except BaseException as exc:  # the user's code failed: most often a convention mismatch
        raise FunctionError(f"calling the function ({adapter.signature}){when} raised "
                            f"{type(exc).__name__}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _finite_differences(adapter, fn, net, canonical, X, Y, options, grads, results, seed) -> None:
    """⟨v, g⟩ against (J(p + hv) − J(p − hv)) / 2h for the user's own J, per parameter."""
    rng = np.random.default_rng(seed + 11)
    names = _parameter_names(net, adapter)
    for result in results:
        if result.problem or result.name not in names:
            continue
        g = _real(grads[result.name])  # real: a complex gradient has a problem already
        v = rng.standard_normal(g.shape)
        v /= max(float(np.linalg.norm(v)), 1e-300)
        h = 1e-5
        when = f" at parameters shifted along {result.name} (central differences)"
        up, down = (_invoke(adapter, fn, net, _shifted(net, adapter, canonical, result.name, step * v),
                            X, Y, options, when)[0] for step in (h, -h))
        numeric = (up - down) / (2 * h)
        exact = float(np.sum(v * g))
        noise = 1e3 * np.finfo(float).eps * max(abs(up), abs(down)) / h
        result.fd_rel_err = abs(numeric - exact) / (float(np.linalg.norm(g)) + noise + 1e-300)


def _parameter_names(net: Network, adapter: Adapter) -> set[str]:
    if adapter.theta:
        return {f"Theta{l}" for l in range(1, net.depth + 1)}
    return {k for k in net.param_shapes()}


def _shifted(net, adapter, canonical, name, step):
    """Canonical parameters with ``step`` (in the convention's layout) added to one of them."""
    out = {k: np.array(v, dtype=float) for k, v in canonical.items()}
    if adapter.theta:
        thetas = _thetas(net, out)
        l = int(name[len("Theta"):])
        thetas[l - 1] = thetas[l - 1] + step
        return {**out, **_from_thetas(net, thetas)}
    user_in_out = adapter.name == "in_out" or net.weight_layout == "in_out"
    if name.startswith("W") and user_in_out:
        out[name] = out[name] + step.T
    else:
        out[name] = out[name] + step.reshape(out[name].shape)
    return out


# --------------------------------------------------------------------------- loading


def load_function(target: str) -> Callable:
    """``FILE.py:NAME`` → the function NAME defined in FILE.py (importing it runs the file)."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not name.isidentifier():
        raise FunctionError(f"{target}: expected FILE.py:NAME, e.g. backprop.py:loss_and_grads")
    path = Path(path_text)
    if path.suffix != ".py" or not path.is_file():
        raise FunctionError(f"{path_text}: no such Python file")
    module_name = f"symbp_user_{next(_counter)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt in the file: reported, not obeyed
        sys.modules.pop(module_name, None)
        raise FunctionError(f"{path_text}: importing it raised {type(exc).__name__}: "
                            f"{_one_line(exc)}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise FunctionError(f"{path_text} defines no function {name}")
    return fn
