"""The same training step in PyTorch (CPU, eager), JAX (CPU, jit) and the autograd package.

Each ``make_*`` returns ``(step, grads)``: ``step()`` runs one forward + loss + backward on data
already converted to the framework's arrays (conversion is not timed), ``grads()`` runs it once
more and returns (J, gradients as NumPy arrays) for the equality check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from nets import Case


def _trained(case: Case, params: dict) -> list[str]:
    return [k for k in params if k in case.net.trained_shapes()]


def _reg(case: Case) -> float:
    reg = case.net.regularization
    return reg.strength if reg.convention == "lambda_over_2m" else 0.0


def make_torch(case: Case, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[Callable, Callable]:
    import torch
    import torch.nn.functional as F  # noqa: N812 - the name everyone uses

    net, L, lam = case.net, case.net.depth, _reg(case)
    trained = _trained(case, params)
    tp = {k: torch.from_numpy(np.array(v)).requires_grad_(k in trained) for k, v in params.items()}
    tX, tY = torch.from_numpy(X), torch.from_numpy(Y)
    acts = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}
    leaves = [tp[k] for k in trained]

    def loss():
        B = tX.shape[0]
        A = tX
        for l in range(1, L + 1):
            W, b = tp[f"W{l}"], tp[f"b{l}"]
            Z = F.linear(A, W, b) if b.dim() == 1 else F.linear(A, W) + b
            A = acts[net.layers[l - 1].activation](Z) if l < L else Z
        if net.loss == "softmax_ce":
            J = F.cross_entropy(Z, tY, reduction="sum") / B
        elif net.loss == "bce":
            J = F.binary_cross_entropy_with_logits(Z, tY, reduction="sum") / B
        else:
            J = 0.5 * ((torch.sigmoid(Z) - tY) ** 2).sum() / B
        if lam:
            J = J + lam / (2 * B) * sum((tp[f"W{l}"] ** 2).sum() for l in range(1, L + 1))
        return J

    def step():
        J = loss()
        return J, torch.autograd.grad(J, leaves)

    def grads():
        J, g = step()
        return J.item(), {k: v.numpy() for k, v in zip(trained, g)}

    return step, grads


def make_jax(case: Case, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[Callable, Callable]:
    import jax
    import jax.numpy as jnp

    net, L, lam = case.net, case.net.depth, _reg(case)
    trained = _trained(case, params)
    acts = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}
    frozen = {k: jnp.asarray(v) for k, v in params.items() if k not in trained}
    jp = {k: jnp.asarray(v) for k, v in params.items() if k in trained}
    jX, jY = jnp.asarray(X), jnp.asarray(Y)

    def loss(p, X, Y):
        p = {**p, **frozen}
        B = X.shape[0]
        A = X
        for l in range(1, L + 1):
            Z = A @ p[f"W{l}"].T + p[f"b{l}"]
            A = acts[net.layers[l - 1].activation](Z) if l < L else Z
        if net.loss == "softmax_ce":
            J = -jnp.sum(Y * jax.nn.log_softmax(Z, axis=1)) / B
        elif net.loss == "bce":
            J = jnp.sum(jax.nn.softplus(Z) - Y * Z) / B
        else:
            J = 0.5 * jnp.sum((jax.nn.sigmoid(Z) - Y) ** 2) / B
        if lam:
            J = J + lam / (2 * B) * sum(jnp.sum(p[f"W{l}"] ** 2) for l in range(1, L + 1))
        return J

    f = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(f(jp, jX, jY))  # compile outside the timing

    def step():
        return jax.block_until_ready(f(jp, jX, jY))

    def grads():
        J, g = step()
        return float(J), {k: np.asarray(v) for k, v in g.items()}

    np_params = {k: v for k, v in params.items() if k in trained}

    def step_numpy_io():
        """The same jitted function called as a NumPy kernel is: NumPy arrays in and out."""
        J, g = f(np_params, X, Y)
        return float(J), {k: np.asarray(v) for k, v in g.items()}

    step.numpy_io = step_numpy_io
    return step, grads


def make_autograd(case: Case, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[Callable, Callable]:
    """autograd differentiating symbp's reference loss, built from the registry definitions."""
    from autograd import value_and_grad

    from symbp.verify.kernel import reference_loss

    ref = reference_loss(case.net)
    trained = _trained(case, params)
    frozen = {k: v for k, v in params.items() if k not in trained}
    f = value_and_grad(lambda p: ref({**frozen, **p}, X, Y))
    p = {k: params[k] for k in trained}

    def step():
        return f(p)

    def grads():
        J, g = step()
        return float(J), {k: np.asarray(v) for k, v in g.items()}

    return step, grads
