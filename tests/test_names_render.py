"""Names that print alike, or as the derivation's own symbols, are refused; symbp's own
suggested correct lines (plain and LaTeX), and the names as documents print them, check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import symbp
from symbp.check.claim import check_claim
from symbp.core.errors import SpecError
from symbp.core.naming import neuron_names
from symbp.core.texprint import tex_name

DATA = Path(__file__).parent / "data" / "handwritten"


def _net(weights: list[str], **names) -> dict:
    return {"name": "n", "inputs": 1, "loss": "half_sse", "layers": [{"size": 2, "activation": "sigmoid"}],
            "names": {"weights": weights, **names}}


@pytest.mark.parametrize("weights, names, words", [
    (["sigma", "w2"], {}, "names.weights: 'sigma' prints as the sigmoid σ"),
    (["w1", "delta"], {}, "names.weights: 'delta' prints as δ = ∂E/∂z"),
    (["pi", "w2"], {}, "names.weights: 'pi' prints as the constant π"),
    (["w1", "w2"], {"activations": ["delta_o1", "a2"]}, "names.activations: 'delta_o1' prints as δ"),
    (["w_1", "w1"], {}, "names.weights: 'w1' and names.weights 'w_1' both print as w_{1}"),
    (["w1", "w2"], {"inputs": ["w_2"]}, "'w2' and names.inputs 'w_2' both print as w_{2}"),
    (["exp", "w2"], {}, "names.weights: 'exp' is the function in claims"),
    (["w1", "logistic"], {}, "names.weights: 'logistic' is the activation function in claims"),
    (["e", "w2"], {}, "names.weights: 'e' is the constant in claims"),
    (["w1", "w2"], {"loss": "d"}, "names.loss: 'd' is the differential d"),
])
def test_names_that_print_alike_or_as_the_derivations_symbols_are_refused(tmp_path, run, weights, names,
                                                                         words):
    spec = _net(weights, **names)
    with pytest.raises(SpecError, match=re.escape(words)):
        symbp.Network.from_dict(spec)
    path = tmp_path / "n.json"
    path.write_text(json.dumps(spec))
    code, _, err = run("check", str(path), "--claim", "J = J")
    assert code == 2 and words in err and err.count("\n") == 1


def test_names_that_print_distinctly_are_accepted():
    net = symbp.Network.from_dict(_net(["theta_1", "Sigma1"], targets=["t_sigma", "t_delta"]))
    assert neuron_names(net).weights[0] == [["theta_1"], ["Sigma1"]]


NETS = {
    "mazur": lambda: symbp.load_spec("mazur"),
    "named_v": lambda: symbp.load_spec(DATA / "named_v.toml"),
    "relu_softmax": lambda: symbp.Network.from_dict(
        {"name": "r", "inputs": 2, "loss": "softmax_ce",
         "layers": [{"size": 2, "activation": "relu"}, {"size": 3, "activation": "softmax"}]}),
    "tanh_shared": lambda: symbp.Network.from_dict(
        {"name": "t", "inputs": 2, "loss": "half_sse",
         "layers": [{"size": 2, "activation": "tanh"},
                    {"size": 1, "activation": "sigmoid", "bias": "shared"}]}),
}


def _false_claims(net) -> list[str]:
    """A false claim about every weight's gradient and every named quantity, in the names as
    the documents print them (w_{2,11}, a_{o1}, \\mathit{target}_{o1})."""
    names = neuron_names(net)
    loss = tex_name(names.loss)
    out = [rf"{loss} = 0 \cdot 1"]
    for l in range(len(names.weights)):
        out += [rf"\frac{{\partial {loss}}}{{\partial {tex_name(w)}}} = 2"
                for row in names.weights[l] for w in row][:3]
        out += [rf"{tex_name(x)} = 0 \cdot 1" for x in names.activations[l]]
    return out


@pytest.mark.parametrize("key", sorted(NETS))
def test_the_suggested_correct_lines_hold_when_checked(key):
    net = NETS[key]()
    for claim in _false_claims(net):
        report = check_claim(net, claim)
        assert report.verdict == "does not hold", (claim, report.render())
        assert report.correct_latex and report.correct, claim
        for line in (report.correct_latex, report.correct):
            assert check_claim(net, line).verdict == "holds", (claim, line)
