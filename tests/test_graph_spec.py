"""Graph specs (layer types, ids, image inputs, user ops): read into engine graphs, refused in one line."""

from __future__ import annotations

import pytest

from symbp.core.errors import SpecError
from symbp.core.graph_spec import GraphSpec, from_dict, is_graph_spec
from symbp.core.spec import Network, bundled_names, graph_names, load_spec

LENET_HEAD = {"inputs": [1, 8, 8], "loss": "half_sse"}


def test_bundled_graph_networks_load_as_graph_specs():
    assert graph_names() == ["char_rnn", "cnn_bn", "gru_seq", "lenet5", "lstm_lm", "resmlp", "tiny_attention"]
    for name in graph_names():
        spec = load_spec(name, graphs=True)
        assert isinstance(spec, GraphSpec) and spec.name == name
        assert spec.graph(3).output


def test_dense_specs_keep_their_path():
    for name in bundled_names():
        assert not is_graph_spec(load_spec(name).source)
        assert isinstance(load_spec(name, graphs=True), Network)


def test_lenet5_parameters_are_keyed_by_layer_position_as_pytorch_stores_them():
    params = load_spec("lenet5", graphs=True).graph(2).params
    assert params["W1"] == (6, 1, 5, 5) and params["W3"] == (16, 6, 5, 5)
    assert params["W6"] == (120, 400) and "W2" not in params and "b5" not in params


def test_same_padding_keeps_the_image_size():
    spec = from_dict({**LENET_HEAD, "layers": [
        {"type": "conv2d", "channels": 2, "kernel": 3, "padding": "same"}, {"type": "flatten"}]})
    assert spec.graph(2).params["W1"] == (2, 1, 3, 3)
    assert spec.layers[0]["padding"] == [1, 1]


def test_a_commands_without_graph_support_refuses_a_graph_spec_in_one_line():
    with pytest.raises(SpecError, match="is a graph spec") as error:
        load_spec("lenet5")
    assert "\n" not in str(error.value)


CONV = {"type": "conv2d", "channels": 2, "kernel": 3}
BAD = {
    "layers[0].padding": [{**CONV, "stride": 2, "padding": "same"}, {"type": "flatten"}],
    "layers[0].kernel": [{"type": "conv2d", "channels": 2, "kernel": [3, 3, 3]}, {"type": "flatten"}],
    "layers[0].type": [{"type": "conv3d"}],
    "layers[1].from": [{**CONV, "id": "a"}, {"type": "add", "from": ["a", "b"]}],
    "layers[1].size": [{"type": "flatten"}, {"type": "dense"}],
    "layers[1].rate": [{"type": "flatten"}, {"type": "dropout", "rate": 1.0}],
    "layers[0].channel": [{"type": "conv2d", "channel": 2, "kernel": 3}],
    "layers[1]": [{"type": "maxpool2d", "kernel": 4}, {"type": "conv2d", "channels": 1, "kernel": 3}],
    "loss": [CONV],
    "layers[1].id": [{**CONV, "id": "a"}, {"type": "flatten", "id": "a"}],
}


@pytest.mark.parametrize("field", sorted(BAD))
def test_a_bad_graph_spec_is_refused_in_one_line_naming_the_field(field):
    with pytest.raises(SpecError) as error:
        from_dict({**LENET_HEAD, "layers": BAD[field]})
    message = str(error.value)
    assert message.startswith(f"{field}:") and "\n" not in message, message


def test_same_padding_with_a_stride_says_why():
    with pytest.raises(SpecError, match="needs stride 1"):
        from_dict({**LENET_HEAD, "layers": BAD["layers[0].padding"]})


def test_a_user_op_by_index_formula_becomes_a_layer_type():
    formula = "y[n, c, i, j] = sum(p, q) K[c, p, q] * x[n, c, i + p, j + q]"
    spec = from_dict({"inputs": [2, 5, 5], "loss": "half_sse",
                      "ops": {"depthwise": {"formula": formula, "params": {"K": ["c", 3, 3]}}},
                      "layers": [{"type": "depthwise"}, {"type": "flatten"}]})
    assert spec.graph(2).params == {"K1": (2, 3, 3)}


def test_a_user_op_with_an_unreadable_formula_names_it():
    with pytest.raises(SpecError, match=r"^ops\.bad\.formula:"):
        from_dict({"inputs": 3, "ops": {"bad": {"formula": "y[n, k] = x[n, k] +* 2"}},
                   "layers": [{"type": "bad"}]})


def test_the_readme_graph_spec_is_valid_and_runs_a_user_op():
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    block = readme.split("## Graphs")[1].split("```toml")[1].split("```")[0]
    spec = from_dict(tomllib.loads(block))
    assert [d["type"] for d in spec.layers][:3] == ["conv2d", "maxpool2d", "flatten"]
    assert "depthwise" in spec.ops


def test_a_graph_too_large_to_hold_is_refused_naming_the_layers():
    huge = {"inputs": [64, 4096, 4096], "layers": [{"type": "flatten"}, {"size": 10}]}
    with pytest.raises(SpecError, match=r"^layers: .* at most"):
        from_dict(huge)
    wide = {"inputs": [1, 1000, 1000], "layers": [{"type": "flatten"}, {"size": 4096}]}
    with pytest.raises(SpecError, match=r"^layers: the network has .* parameters"):
        from_dict(wide)
