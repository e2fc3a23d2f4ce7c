"""Fuzzed correctness: 500 hypothesis-generated architectures per run (tests/test_kernels.py's
``architectures()``: depth 1–5, widths 1–7, every allowed activation/loss pairing, bias modes,
reductions, layouts, L2) each checked against autograd and central finite differences.

autograd differentiates the loss as *defined* (−y·log a − (1 − y)·log(1 − a) for bce), which
loses digits where a saturating output makes 1 − a tiny; the kernel uses the stable logit form.
When the two disagree, the 600-digit reference of reference.py decides: the kernel must agree
with it to 1e-12 (relative to the magnitudes summed), or it is counted as a mismatch.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbp
from symbp.codegen.load import load_module
from symbp.verify.kernel import check_kernel, random_params, sample_data

from ..test_kernels import architectures
from .reference import reference, relative_error
from .tally import count

EXAMPLES = 500


def _agrees_with_the_exact_reference(net, module, batch: int, seed: int) -> bool:
    X, Y = sample_data(net, batch, seed)
    params = random_params(module, net, seed)
    J, grads = module.loss_and_grad(params, X, Y)
    _, ref_J, ref_grads, scale = reference(net, params, X, Y)
    errors = [relative_error(J, ref_J, X.dtype, scale=scale["J"])]
    errors += [relative_error(grads[k], ref_grads[k], X.dtype, scale=scale[k]) for k in ref_grads]
    return set(grads) == set(ref_grads) and max(errors) <= 1e-12


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(net=architectures(), batch=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_fuzzed_architectures_match_autograd_and_finite_differences(net, batch, seed):
    count("architectures")
    module = load_module(symbp.emit_numpy(net), "fuzz")
    report = check_kernel(net, module, batch=batch, seed=seed)
    ok = report.grad_vs_fd <= 1e-6 and report.sgd_step <= 1e-14 and report.frozen_ok
    if ok and report.worst_autograd > 1e-10:
        ok = _agrees_with_the_exact_reference(net, module, batch, seed)
        count("oracle_disagreements" if ok else "mismatches", 1)
    elif not ok:
        count("mismatches")
    assert ok, (net, report)


def test_the_exact_reference_catches_a_gradient_off_by_one_part_in_a_billion():
    net = symbp.Network.from_dict({"inputs": 3, "loss": "bce", "weight_layout": "in_out",
                                   "regularization": {"convention": "half", "strength": 0.5},
                                   "layers": [{"size": 4, "activation": "swish"},
                                              {"size": 2, "activation": "sigmoid"}],
                                   "activations": {"swish": {"formula": "x/(1+exp(-x))"}}})
    module = load_module(symbp.emit_numpy(net), "fuzz")
    assert _agrees_with_the_exact_reference(net, module, 4, 0)
    exact = module.loss_and_grad

    def off(params, X, Y, *args):
        J, grads = exact(params, X, Y)
        return J, {**grads, "W1": grads["W1"] * (1 + 1e-9)}

    module.loss_and_grad = off
    assert not _agrees_with_the_exact_reference(net, module, 4, 0)
