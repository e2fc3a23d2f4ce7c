"""Numerical verification of a generated kernel: autograd and central finite differences.

The reference loss is built from the registry *definitions* only (g and ℓ, never a derivative),
so autograd differentiating it is an oracle independent of the symbolic derivation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import sympy as sp

from ..backprop.matrix import B, reg_coefficient
from ..core import activations as act
from ..core import losses
from ..core.functions import autograd_function
from ..core.spec import Network


def _anp():
    import autograd.numpy as anp

    return anp


def _elementwise(entry: act.Activation, expr: sp.Expr, alpha: float | None) -> Callable:
    anp = _anp()
    if entry.numpy is not None:  # the registry's NumPy form of the definition (piecewise ones)
        code = entry.numpy
        table = {"relu": lambda z: anp.maximum(z, 0.0),
                 "leaky_relu": lambda z: anp.where(z > 0, z, (alpha or 0.01) * z),
                 "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
                 "softplus": lambda z: anp.logaddexp(0.0, z)}
        if entry.name in table:
            return table[entry.name]
        raise ValueError(f"no reference for {entry.name}: {code}")
    return autograd_function(expr, act.x)


def reference_forward(net: Network) -> Callable:
    """(z^L, a^L, log a^L or None) for (params, X), written directly from the definitions."""
    anp = _anp()
    layer_fns = []
    for l in range(1, net.depth + 1):
        entry = net.activation(l)
        if entry.vector:
            layer_fns.append(None)
        else:
            layer_fns.append(_elementwise(entry, net.activation_expr(l), net.layers[l - 1].alpha))

    def forward(params, X):
        a, log_a = X, None
        for l, fn in enumerate(layer_fns, start=1):
            W = params[f"W{l}"]
            z = anp.dot(a, W.T) if net.weight_layout == "out_in" else anp.dot(a, W)
            if f"b{l}" in params:
                z = z + params[f"b{l}"]
            if fn is None:
                shifted = z - anp.max(z, axis=1, keepdims=True)
                log_a = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
                a = anp.exp(log_a)
            else:
                a, log_a = fn(z), None
        return z, a, log_a

    return forward


def reference_loss(net: Network) -> Callable:
    """J(params, X, Y) written directly from the definitions, differentiable by autograd."""
    anp = _anp()
    forward = reference_forward(net)
    loss = net.loss_entry()
    term = loss.term.subs(losses.N_OUT, net.layers[-1].size)
    term_fn = autograd_function(term, (losses.a, losses.y))
    logit = loss.logit_terms.get(net.layers[-1].activation)
    # The registry's logit form (proven equal to ℓ(g(x), y)), with softplus written stably.
    logit_fn = autograd_function(logit.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0] - 1, sp.exp),
        lambda e: sp.Function("softplus")((e.args[0] - 1).args[0])),
        (losses.x, losses.y), {"softplus": lambda v: anp.logaddexp(0.0, v)}) if logit is not None else None
    c = reg_coefficient(net)

    def J(params, X, Y):  # noqa: N802
        z, a, log_a = forward(params, X)
        if logit_fn is not None:
            per = logit_fn(z, Y)
        elif log_a is not None and term.has(sp.log(losses.a)):
            per = -Y * log_a if loss.name in ("ce", "softmax_ce") else term_fn(a, Y)
        else:
            per = term_fn(a, Y)
        total = anp.sum(per)
        if net.reduction == "mean":
            total = total / X.shape[0]
        if c != 0:
            coeff = float(c.subs(B, X.shape[0]))
            total = total + coeff * sum(anp.sum(params[f"W{l}"] ** 2)
                                        for l in range(1, net.depth + 1))
        return total

    return J


def sample_data(net: Network, batch: int, seed: int = 0, dtype=np.float64):
    """Inputs and targets suited to the loss: distributions for softmax, (0, 1) for logistic."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, net.inputs))
    n = net.layers[-1].size
    loss = net.loss_entry()
    if loss.targets_sum_to_one or (loss.name == "ce" and net.layers[-1].activation == "softmax"):
        Y = rng.dirichlet(np.ones(n), size=batch)
    elif loss.requires is not None:
        Y = rng.uniform(0.05, 0.95, size=(batch, n))
    else:
        Y = rng.standard_normal((batch, n))
    return X.astype(dtype), Y.astype(dtype)


def random_params(module: ModuleType, net: Network, seed: int = 0, dtype=np.float64) -> dict:
    """init_params, with random (not zero) biases so that bias gradients are exercised."""
    params = module.init_params(seed, dtype)
    rng = np.random.default_rng(seed + 1)
    for name, value in params.items():
        if name.startswith("b"):
            params[name] = np.asarray(rng.standard_normal(value.shape) * 0.5, dtype=dtype)
    return params


def rel_err(a: np.ndarray, b: np.ndarray, floor: float = 1e-30) -> float:
    """max|a − b| / max(|a|, |b|, floor): relative, with an absolute floor for true zeros."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a)) if a.size else 0.0, np.max(np.abs(b)) if b.size else 0.0, floor)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


@dataclass
class Report:
    """Worst relative errors of a kernel against each oracle."""

    loss_vs_autograd: float  # J of loss_and_grad and of loss
    grad_vs_autograd: dict[str, float]
    grad_vs_fd: float  # directional: ⟨v, ∇J⟩ against a central difference, per parameter
    sgd_step: float
    frozen_ok: bool
    forward_vs_reference: float = 0.0  # forward (and forward_arrays) against the definitions

    @property
    def worst_autograd(self) -> float:
        return max([self.loss_vs_autograd, self.forward_vs_reference, *self.grad_vs_autograd.values()])

    def passed(self, tol_autograd: float = 1e-10, tol_fd: float = 1e-6) -> bool:
        return (self.worst_autograd <= tol_autograd and self.grad_vs_fd <= tol_fd
                and self.sgd_step <= 1e-14 and self.frozen_ok)


def _forward_error(net: Network, module: ModuleType, params: dict, X: np.ndarray) -> float:
    """The worst error of every forward function the module has against the definitions."""
    _, expected, _ = reference_forward(net)(params, X)
    names = ("forward", "forward_arrays")
    return max(rel_err(getattr(module, f)(params, X), expected) for f in names if hasattr(module, f))


def check_kernel(net: Network, module: ModuleType, *, batch: int = 4, seed: int = 0) -> Report:
    """Compare forward, loss and loss_and_grad with the definitions (autograd for the gradients),
    the gradients with central differences, and sgd_step with its update."""
    from autograd import grad

    X, Y = sample_data(net, batch, seed)
    params = random_params(module, net, seed)
    J, grads = module.loss_and_grad(params, X, Y)
    ref = reference_loss(net)
    trained = [k for k in params if k in grads]
    ref_grads = grad(lambda p: ref({**params, **p}, X, Y))({k: params[k] for k in trained})
    # A gradient that is exactly zero (a shared bias under softmax) is judged against 1e-4 of
    # the largest gradient entry or of J, so rounding noise around zero is not relative error.
    floor = 1e-4 * max([float(np.max(np.abs(ref_grads[k]))) for k in trained] + [abs(float(J)), 1e-300])
    by_param = {k: rel_err(grads[k], ref_grads[k], floor) for k in trained}
    fd = _directional_fd(module, params, grads, X, Y, seed, floor)
    lr = 0.1
    new = module.sgd_step(params, X, Y, lr)
    step_err = max(rel_err(new[k], params[k] - lr * grads[k]) for k in trained)
    frozen_ok = all(new[k] is params[k] or np.array_equal(new[k], params[k])
                    for k in params if k not in grads) and set(grads) == set(trained)
    J_ref = ref(params, X, Y)
    loss_err = max(rel_err(J, J_ref), rel_err(module.loss(params, X, Y), J_ref))
    return Report(loss_err, by_param, fd, step_err, frozen_ok, _forward_error(net, module, params, X))


def _directional_fd(module, params, grads, X, Y, seed: int, floor: float) -> float:
    """max over parameters of the smallest |⟨v, g⟩ − (J(p+hv) − J(p−hv))/2h| / (‖g‖·‖v‖ + noise).

    v is a random unit direction. noise = 1000·ε·|J|/h bounds the rounding error of the
    difference quotient, so that a gradient that is tiny next to J (vanishing through many
    layers) is not judged by rounding; ``floor`` does the same for gradients that are exactly 0.
    The best of three step sizes is taken: a kink (relu at 0) within h of p spoils the larger
    steps only, while a wrong gradient is off at every step.
    """
    rng = np.random.default_rng(seed + 7)
    worst = 0.0
    for k, g in grads.items():
        v = rng.standard_normal(np.shape(g))
        v = v / max(float(np.linalg.norm(v)), 1e-300)
        base = 1e-5 * max(1.0, float(np.max(np.abs(params[k]))))
        worst = max(worst, min(_fd_error(module, params, k, g, v, base * f, X, Y, floor)
                               for f in FD_STEPS))
    return worst


FD_STEPS = (1.0, 0.1, 0.01)  # multiples of the base step 1e-5·max(1, |p|)


def _fd_error(module, params, k: str, g, v, h: float, X, Y, floor: float) -> float:
    """|⟨v, g⟩ − (J(p+hv) − J(p−hv))/2h| relative to ‖g‖ plus the quotient's rounding noise."""
    j_up = module.loss({**params, k: params[k] + h * v}, X, Y)
    j_down = module.loss({**params, k: params[k] - h * v}, X, Y)
    numeric = (j_up - j_down) / (2 * h)
    noise = 1000 * np.finfo(np.float64).eps * max(abs(j_up), abs(j_down)) / h
    scale = float(np.linalg.norm(g)) + noise + floor
    return abs(numeric - float(np.sum(v * g))) / scale
