"""Claims about a batch of samples: Ng's columns (A[l], Z[l], dZ[l]), and the batch mean's 1/m
named when it is missing or written where the loss is summed."""

from __future__ import annotations

import pytest

from symbp.check.claim import check_claim
from symbp.core.spec import Network

SPEC = {"name": "batch_net", "inputs": 2, "loss": "bce",
        "layers": [{"size": 3, "activation": "sigmoid"}, {"size": 2, "activation": "sigmoid"}]}
MISSING = "the batch mean's factor 1/{w} is missing: J averages over the {w} samples"


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_dict(SPEC)


@pytest.mark.parametrize("text", [
    "Z[l] = W[l] A[l-1] + b[l]",  # the bias added to every sample's column
    "dZ[L] = A[L] - Y",  # each sample's own error: no 1/m
    "dW[l] = 1/m * dZ[l] @ A[l-1]^T",
    "db[l] = 1/m * sum(dZ[l])",
])
def test_ngs_batch_formulas_hold_for_every_layer(net, text):
    report = check_claim(net, text)
    assert report.verdict == "holds", report.render()
    assert "a batch of 5 samples, one column per sample (J is the mean of their losses" in report.notes[0]


@pytest.mark.parametrize("text, word, correct", [
    ("dW[l] = dZ[l] @ A[l-1]^T", "m", "dW[l] = 1/m * (dZ[l] @ A[l-1]^T)"),
    ("db[l] = sum(dZ[l])", "B", "db[l] = 1/B * (sum(dZ[l]))"),
])
def test_a_missing_batch_mean_factor_is_named_with_the_correct_line(net, text, word, correct):
    report = check_claim(net, text, batch_word=word)
    assert report.verdict == "does not hold"
    assert report.diagnosis == MISSING.format(w=word)
    assert report.correct == correct
    assert check_claim(net, correct).verdict == "holds"


def test_the_correct_line_of_a_latex_claim_is_latex_in_its_own_notation(net):
    report = check_claim(net, r"\frac{\partial J}{\partial W^{l}} = dZ^{l} \left(A^{l-1}\right)^{T}")
    assert report.diagnosis == MISSING.format(w="m")
    assert report.correct_latex == (r"\frac{\partial J}{\partial W^{l}} = "
                                    r"\frac{1}{m} \left(dZ^{l} \left(A^{l-1}\right)^{T}\right)")


@pytest.mark.parametrize("reduction, text, diagnosis, correct", [
    ("mean", "dW[l] = 1/m * delta[l] a[l-1]^T",
     "an extra factor 1/m: this is the derivative of one sample's loss, which has no batch mean",
     "dW[l] = delta[l] a[l-1]^T"),
    ("sum", "dW[l] = 1/m * dZ[l] @ A[l-1]^T",
     'an extra factor 1/m: J sums over the m samples (the spec\'s reduction is "sum")',
     "dW[l] = dZ[l] @ A[l-1]^T"),
], ids=["one sample", "summed batch"])
def test_a_batch_mean_factor_where_the_loss_is_summed_is_named(reduction, text, diagnosis, correct):
    report = check_claim(Network.from_dict({**SPEC, "reduction": reduction}), text)
    assert report.verdict == "does not hold"
    assert report.diagnosis == diagnosis
    assert report.correct == correct


@pytest.mark.parametrize("text, message", [
    ("dW[l] = 1/m * delta[l] @ A[l-1]^T",
     "delta is one sample's; in a claim about a batch (one column per sample) write dZ"),
    ("db[l] = sum(A[l]^T A[l])", "sum(…) of one argument sums over the 5 samples of the batch"),
])
def test_a_claim_is_about_one_sample_or_a_batch_not_both(net, text, message):
    report = check_claim(net, text)
    assert report.verdict == "bad input" and message in report.error.reason
