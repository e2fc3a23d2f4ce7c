"""Specs: TOML, JSON and Python give the same network; bad specs name the offending field."""

from __future__ import annotations

import json

import pytest

import symbp
from symbp.core.errors import SpecError
from symbp.core.naming import neuron_names
from symbp.core.spec import bundled_names, load_spec

GOOD = {"inputs": 2, "loss": "half_sse",
        "layers": [{"size": 2, "activation": "sigmoid"}, {"size": 2, "activation": "sigmoid"}]}


def _with(**changes):
    data = json.loads(json.dumps(GOOD))
    data.update(changes)
    return data


def test_toml_json_and_python_specs_build_the_same_network(tmp_path):
    (tmp_path / "n.json").write_text(json.dumps(GOOD))
    (tmp_path / "n.toml").write_text(
        'inputs = 2\nloss = "half_sse"\n'
        '[[layers]]\nsize = 2\nactivation = "sigmoid"\n[[layers]]\nsize = 2\nactivation = "sigmoid"\n')
    nets = [load_spec(tmp_path / "n.json"), load_spec(tmp_path / "n.toml"), symbp.Network.from_dict(GOOD)]
    assert nets[0].layers == nets[1].layers == nets[2].layers
    assert nets[0].sizes == [2, 2, 2]


def test_python_api_builds_networks_from_layer_objects():
    net = symbp.Network(name="py", inputs=3, layers=(symbp.Layer(4, "tanh"), symbp.Layer(1, "sigmoid")),
                        loss="bce")
    assert net.param_shapes() == {"W1": (4, 3), "b1": (4,), "W2": (1, 4), "b2": (1,)}


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_network_loads_by_name(name):
    assert load_spec(name).name == name


@pytest.mark.parametrize("data, field", [
    ({"layers": GOOD["layers"]}, "inputs"),
    (_with(inputs=0), "inputs"),
    (_with(inputs=-3), "inputs"),
    (_with(inputs=10**9), "inputs"),
    (_with(inputs="2"), "inputs"),
    (_with(inputs=True), "inputs"),
    (_with(layers=[]), "layers"),
    (_with(layers="dense"), "layers"),
    (_with(layers=[{"activation": "tanh"}]), "layers[0].size"),
    (_with(layers=[{"size": 0, "activation": "tanh"}]), "layers[0].size"),
    (_with(layers=[{"size": 2.5, "activation": "tanh"}]), "layers[0].size"),
    (_with(layers=[{"size": 2, "activation": "swoosh"}]), "layers[0].activation"),
    (_with(layers=[{"size": 2, "activation": "tanh", "bias": "some"}]), "layers[0].bias"),
    (_with(layers=[{"size": 2, "activation": "tanh", "train_bias": "yes"}]), "layers[0].train_bias"),
    (_with(layers=[{"size": 2, "activation": "tanh", "alpha": 0.1}]), "layers[0].alpha"),
    (_with(layers=[{"size": 2, "activation": "leaky_relu", "alpha": 3}]), "layers[0].alpha"),
    (_with(layers=[{"size": 2, "activation": "tanh", "units": 3}]), "layers[0].units"),
    (_with(layers=[{"size": 2, "activation": "softmax"}, {"size": 2, "activation": "tanh"}]),
     "layers[0].activation"),
    (_with(loss="hinge"), "loss"),
    (_with(loss="bce", layers=[{"size": 2, "activation": "tanh"}]), "loss"),
    (_with(loss="softmax_ce"), "loss"),
    (_with(reduction="median"), "reduction"),
    (_with(weight_layout="rows"), "weight_layout"),
    (_with(regularization={"convention": "l1", "strength": 1}), "regularization.convention"),
    (_with(regularization={"convention": "half", "strength": -1}), "regularization.strength"),
    (_with(regularization={"convention": "half", "strength": "big"}), "regularization.strength"),
    (_with(optimizer="adam"), "optimizer"),
    (_with(name="my net"), "name"),
    (_with(activations={"swish": {"formula": "y/(1+exp(-y))"}}), "activations.swish.formula"),
    (_with(activations={"swish": {"formula": "2"}}), "activations.swish.formula"),
    (_with(activations={"swish": {"formula": "__import__('os')"}}), "activations.swish.formula"),
    (_with(activations={"tanh": {"formula": "x"}}), "activations.tanh"),
    (_with(names={"inputs": ["x1"]}), "names.inputs"),
    (_with(names={"inputs": ["x1", "x1"]}), "names"),
    (_with(names={"inputs": ["lambda", "x2"]}), "names"),
    (_with(names={"inputs": ["np", "x2"]}), "names"),
    (_with(names={"weights": "w{k}"}), "names.weights"),
    (_with(names={"loss": ["E"]}), "names.loss"),
    (_with(names={"colour": "red"}), "names.colour"),
])
def test_bad_spec_gives_one_line_naming_the_field(data, field):
    with pytest.raises(SpecError) as err:
        symbp.Network.from_dict(data)
    message = str(err.value)
    assert "\n" not in message
    assert field in message, message


def test_bad_toml_syntax_is_reported_with_the_file(tmp_path):
    (tmp_path / "bad.toml").write_text("inputs = = 2\n")
    with pytest.raises(SpecError, match="bad.toml: invalid TOML"):
        load_spec(tmp_path / "bad.toml")


def test_missing_spec_file_is_reported(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.toml")


def test_mazur_names_are_seed_000s():
    n = neuron_names(load_spec("mazur"))
    assert n.inputs == ["i1", "i2"]
    assert n.weights == [[["w1", "w2"], ["w3", "w4"]], [["w5", "w6"], ["w7", "w8"]]]
    assert n.biases == [["b1"], ["b2"]]
    assert n.pre_activations == [["z_h1", "z_h2"], ["z_o1", "z_o2"]]
    assert n.activations == [["a_h1", "a_h2"], ["a_o1", "a_o2"]]
    assert n.targets == ["target_o1", "target_o2"] and n.loss == "E_total"


def test_name_templates_express_from_to_weight_names_like_V11():
    """Seed-style notation: V_jk from input j to hidden k, hidden H, output O, targets Y."""
    net = symbp.Network.from_dict(_with(
        inputs=2, layers=[{"size": 3, "activation": "sigmoid"}, {"size": 2, "activation": "softmax"}],
        loss="softmax_ce",
        names={"weights": ["V{j}{i}", "W{j}{i}"], "pre_activations": ["P{i}", "Q{i}"],
               "activations": ["H{i}", "O{i}"], "targets": "Y{i}", "inputs": "X{i}",
               "biases": ["b{i}", "c{i}"], "loss": "E"}))
    n = neuron_names(net)
    assert n.weights[0][0] == ["V11", "V21"]  # into hidden neuron 1, from inputs 1 and 2
    assert n.weights[1][1] == ["W12", "W22", "W32"]
    assert n.activations == [["H1", "H2", "H3"], ["O1", "O2"]]
    assert n.pre_activations[1] == ["Q1", "Q2"] and n.targets == ["Y1", "Y2"]


def test_name_template_rejects_format_tricks():
    with pytest.raises(SpecError, match="placeholder"):
        symbp.Network.from_dict(_with(names={"weights": "w{i.__class__}"}))


def test_default_example_values_of_mazur_are_the_seeds():
    ex = load_spec("mazur").example
    assert ex["learning_rate"] == 0.5 and ex["values"]["w5"] == 0.40 and ex["values"]["b2"] == 0.60


LAYER = {"size": 2, "activation": "sigmoid"}


@pytest.mark.parametrize("data, field, suggestion", [
    ({"inputs": 2, "layer": [LAYER]}, "layer", "layers"),
    ({"Inputs": 2, "layers": [LAYER]}, "Inputs", "inputs"),
    (_with(regularisation={"strength": 0.1}), "regularisation", "regularization"),
    (_with(layers=[{"size": 2, "activation": "Sigmoid"}]), "layers[0].activation", "sigmoid"),
    (_with(layers=[{"size": 2, "activation": "leaky-relu"}]), "layers[0].activation", "leaky_relu"),
    (_with(layers=[{"sise": 2}]), "layers[0].sise", "size"),
    (_with(layers=[{"size": 2, "bias": "neurons"}]), "layers[0].bias", "neuron"),
    (_with(loss="MSE"), "loss", "mse"),
    (_with(reduction="Sum"), "reduction", "sum"),
    (_with(weight_layout="in-out"), "weight_layout", "in_out"),
    (_with(regularization={"convention": "Half"}), "regularization.convention", "half"),
    (_with(names={"weight": "w{i}{j}"}), "names.weight", "weights"),
    (_with(example={"learningrate": 0.5}), "example.learningrate", "learning_rate"),
])
def test_misspelt_or_miscased_fields_and_values_suggest_the_one_meant(data, field, suggestion):
    with pytest.raises(SpecError) as exc:
        symbp.Network.from_dict(data)
    message = str(exc.value)
    assert message.startswith(field + ":") and message.endswith(f"did you mean {suggestion}?"), message


def test_a_suggestion_is_made_only_for_a_close_match():
    with pytest.raises(SpecError) as exc:
        symbp.Network.from_dict(_with(optimizer="adam"))
    assert "did you mean" not in str(exc.value)


@pytest.mark.parametrize("example, field", [
    ({"i1": 0.05, "i2": 0.1}, "example.i1"),  # values straight in [example]: not ignored
    ({"values": [0.05, 0.1]}, "example.values"),
    ({"values": {"i1": "0.05"}}, "example.values.i1"),
    ({"values": {"i1": 0.05}, "learning_rate": 0}, "example.learning_rate"),
    ({"values": {"i1": 0.05}, "steps": 2.5}, "example.steps"),
])
def test_an_example_not_in_the_shape_symbp_reads_is_refused(example, field):
    with pytest.raises(SpecError) as exc:
        symbp.Network.from_dict(_with(example=example))
    assert str(exc.value).startswith(field + ":"), str(exc.value)


def test_a_flat_example_table_says_where_the_values_belong():
    with pytest.raises(SpecError, match=r"named values go in \[example\.values\]"):
        symbp.Network.from_dict(_with(example={"i1": 0.05}))


def test_an_example_with_values_learning_rate_and_steps_is_accepted():
    example = {"values": {"i1": 0.05}, "learning_rate": 0.1, "steps": 3}
    assert symbp.Network.from_dict(_with(example=example)).example == example
