"""Matrix-level derivation: the forward pass, the loss and the δ recurrence as plain data.

For a batch of B rows (arrays (B, S)) and layers l = 1..L:
    z^l = W^l a^{l−1} + b^l,  a^l = g_l(z^l)                        (forward)
    J = r · Σ_n Σ_k ℓ(a^L_nk, y_nk) + c · Σ_l ΣW^l²,   r = 1/B or 1  (loss)
    δ^L = r · ∂ℓ/∂a^L ⊙ g_L'(z^L)                                     (output error)
    δ^l = (W^{l+1})ᵀ δ^{l+1} ⊙ g_l'(z^l)                             (recurrence)
    ∂J/∂W^l = δ^l (a^{l−1})ᵀ + 2c W^l,  ∂J/∂b^l = Σ_n δ^l_n          (gradients)
Each elementwise formula (ℓ, g', δ^L) is derived by sympy once per layer kind, so the cost of a
derivation does not depend on the layer widths; the chain structure above is what the proof
tests check against brute-force differentiation of the fully expanded loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..core import activations as act
from ..core import losses
from ..core.spec import Network

B = sp.Symbol("B", positive=True, integer=True)  # batch size (m in seed 004)


@dataclass(frozen=True)
class LayerMath:
    """What one layer contributes: its activation and g' in the output or input variable."""

    index: int
    activation: str
    expr: sp.Expr | None  # g(x); None for softmax
    derivative: act.DerivativeForm | None  # None for softmax (handled in δ^L)
    bias: str
    train_bias: bool
    alpha: float | None


@dataclass(frozen=True)
class MatrixDerivation:
    """The symbolic result for a whole network; emitters and the proof read only this."""

    network: Network
    layers: tuple[LayerMath, ...]
    output: losses.OutputDelta  # δ^L per sample, before the batch factor
    loss: losses.Loss
    loss_term: sp.Expr  # the per-output term the kernel evaluates (stable form)
    loss_term_reads: str  # "x", "a" or "log_a"
    batch_factor: sp.Expr  # r: 1/B for mean, 1 for sum
    reg_coeff: sp.Expr  # c in c·ΣW²
    reg_grad_coeff: sp.Expr  # ∂(c·w²)/∂w = 2c, derived by sympy


def reg_coefficient(net: Network) -> sp.Expr:
    """c in c·ΣW² for the spec's convention: λ/(2m), reg/2 or reg."""
    strength = sp.nsimplify(net.regularization.strength, rational=True)
    factor = {"lambda_over_2m": 1 / (2 * B), "half": sp.Rational(1, 2), "plain": sp.Integer(1)}
    return strength * factor[net.regularization.convention]


def derive(net: Network) -> MatrixDerivation:
    """Derive the forward pass, loss, δ^L, the recurrence and gradients for ``net``."""
    layers = []
    for l, layer in enumerate(net.layers, start=1):
        g = net.activation_expr(l)
        layers.append(LayerMath(l, layer.activation, g,
                                act.derivative(g) if g is not None else None,
                                layer.bias, layer.train_bias, layer.alpha))
    loss = net.loss_entry()
    g_out = layers[-1].expr
    output = losses.output_delta(loss, g_out, net.layers[-1].size)
    term, reads = losses.loss_term_in_logits(loss, net.layers[-1].activation, g_out)
    c = reg_coefficient(net)
    w = sp.Symbol("w", real=True)
    return MatrixDerivation(
        network=net, layers=tuple(layers), output=output, loss=loss,
        loss_term=term.subs(losses.N_OUT, net.layers[-1].size), loss_term_reads=reads,
        batch_factor=1 / B if net.reduction == "mean" else sp.Integer(1),
        reg_coeff=c, reg_grad_coeff=sp.diff(c * w**2, w) / w,
    )
