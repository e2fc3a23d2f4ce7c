"""Generated kernels of sequence specs: a loop over time running the cell's derived statements;
gradients equal autograd's and central differences on random configurations, in the dtype of
the inputs."""

from __future__ import annotations

import autograd
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbp.backprop.scan import Scan
from symbp.codegen.graph_code import formula
from symbp.codegen.graph_emit import derive_graph, emit_graph
from symbp.codegen.load import load_module
from symbp.core.graph_spec import from_dict
from symbp.verify.graph import check_graph_kernel
from tests import seq_oracle as oracle

_KERNELS: dict[str, tuple] = {}


def kernel(data: dict):
    """(spec, module) for a spec, emitted once per session."""
    key = repr(sorted(data.items()))
    if key not in _KERNELS:
        spec = from_dict(data, default_name="seq")
        _KERNELS[key] = spec, load_module(emit_graph(spec), "seq")
    return _KERNELS[key]


def spec_data(cell: str, steps: int, hidden: int, features: int, vocab: int | None, returns: str,
              loss: str, time_reduction: str, join: str | None = None) -> dict:
    """A spec: [embedding] → cell → dense at every step (or after the last state) → loss; with
    ``join`` ("add" or "concat") the cell's output also skips a tanh dense layer to a join."""
    layers = [{"type": "embedding", "vocab": vocab, "size": features}] if vocab else []
    layers.append({"type": cell, "size": hidden, "return": returns})
    if join:
        layers[-1]["id"] = "h"
        layers += [{"size": hidden, "activation": "tanh", "id": "d"}, {"type": join, "from": ["h", "d"]}]
    out = 3 if loss != "softmax_ce" or not vocab else vocab
    layers.append({"size": out, "activation": "softmax" if loss == "softmax_ce" else "identity"})
    return {"inputs": [steps] if vocab else [steps, features], "layers": layers, "loss": loss,
            "time_reduction": time_reduction}


def values_for(spec, batch: int, seed: int, dtype=np.float64):
    graph = spec.graph(batch)
    vocab = spec.layers[0]["vocab"] if spec.layers[0]["type"] == "embedding" else None
    values = oracle.random_values(graph, seed, vocab)
    X = values["X"].astype(np.int64) if vocab else values["X"].astype(dtype)
    params = {k: values[k].astype(dtype) for k in graph.params}
    return params, X, values["Y"].astype(dtype), values


def autograd_grads(spec, values):
    layers = [dict(d) for d in spec.layers]
    P = {k: values[k] for k in spec.graph(1).params}
    return autograd.grad(lambda P: oracle.forward(layers, spec.loss, P, values["X"], values["Y"],
                                                  spec.reduction, spec.time_reduction))(P)


def relative(mine, theirs) -> float:
    return float(np.max(np.abs(mine - theirs)) / max(1.0, float(np.max(np.abs(theirs)))))


CONFIG = st.tuples(st.sampled_from(["rnn", "lstm", "gru"]), st.integers(1, 3), st.integers(1, 3),
                   st.integers(1, 3), st.sampled_from([None, 2, 4]), st.sampled_from(["sequence", "last"]),
                   st.sampled_from(["softmax_ce", "mse", "half_sse"]), st.sampled_from(["mean", "sum"]),
                   st.sampled_from([None, "add", "concat"]))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIG, st.integers(1, 4), st.integers(0, 10_000))
def test_random_sequence_kernels_agree_with_autograd(config, batch, seed):
    spec, module = kernel(spec_data(*config))
    params, X, Y, values = values_for(spec, batch, seed)
    J, grads = module.loss_and_grad(params, X, Y)
    reference = autograd_grads(spec, values)
    assert set(grads) == set(reference)
    for name in grads:
        assert relative(grads[name], reference[name]) <= 1e-10, name


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIG, st.integers(0, 10_000))
def test_random_sequence_kernels_agree_with_central_differences_and_the_unrolled_engine(config, seed):
    spec, module = kernel(spec_data(*config))
    report = check_graph_kernel(derive_graph(spec), module, batch=3, seed=seed)
    assert report.worst_evaluator <= 1e-10 and report.grad_vs_fd <= 1e-6 and report.sgd_step <= 1e-14


def assert_float32_in_gives_float32_out(data: dict) -> None:
    """The kernel of ``data`` keeps float32 inputs float32 and stays within 1e-5 of autograd."""
    spec, module = kernel(data)
    params, X, Y, values = values_for(spec, 2, 3, np.float32)
    J, grads = module.loss_and_grad(params, X, Y)
    assert J.dtype == np.float32 and module.forward(params, X).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    reference = autograd_grads(spec, values)
    assert max(relative(grads[k], reference[k]) for k in grads) <= 1e-5


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_in_gives_float32_out(cell):
    assert_float32_in_gives_float32_out(spec_data(cell, 3, 2, 2, 4, "sequence", "softmax_ce", "mean"))


def test_the_kernel_loops_over_time_with_the_cells_derived_statements():
    """One loop over steps forward and one in reverse; never a loop over the batch; each of the
    cell's derived computes (forward and backward) is printed inside them."""
    spec, module = kernel(spec_data("lstm", 3, 2, 2, 4, "sequence", "softmax_ce", "mean"))
    source = emit_graph(spec)
    assert "for t in range(3):" in source and "for t in range(2, -1, -1):" in source
    assert "range(B" not in source and "range(len(X" not in source
    scan = next(s for s in derive_graph(spec).stages if isinstance(s, Scan))
    for c in [*scan.graph.computes[:-1], *scan.backward.computes]:
        assert f"# {formula(c)}" in source
    # the projection of all steps is one product before the loop
    line = next(x for x in source.splitlines() if x.strip().startswith("v['lstm2_P'] = "))
    assert "np.einsum(" in line or "_dot(" in line  # one einsum or one GEMM
    assert source.index(line) < source.index("for t in range(3):")


def test_token_ids_out_of_range_are_refused():
    spec, module = kernel(spec_data("rnn", 2, 2, 2, 4, "sequence", "softmax_ce", "mean"))
    params, X, Y, _ = values_for(spec, 2, 0)
    with pytest.raises(ValueError, match=r"token ids in \[0, 4\)"):
        module.loss(params, X + 4, Y)
    with pytest.raises(ValueError, match="integer array of token ids"):
        module.loss(params, X.astype(float), Y)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_saturated_gates_stay_finite_without_overflow(cell):
    """Stable sigmoid and tanh: recurrent weights 1000 times too large saturate every gate, and
    the kernel neither overflows nor produces a non-finite value."""
    spec, module = kernel(spec_data(cell, 3, 2, 2, 4, "sequence", "softmax_ce", "mean"))
    params, X, Y, _ = values_for(spec, 2, 7)
    recurrent = {f"{stem}2" for stem in ("Wx", "Wh", "b", "bx", "bh")}  # layer 2: the cell
    big = {k: v * 1000 if k in recurrent else v for k, v in params.items()}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        J, grads = module.loss_and_grad(big, X, Y)
    assert np.isfinite(J) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_the_embedding_and_its_gradient_are_one_product_each():
    """e = onehot·E and ∂J/∂E = Σ_{n,t} onehot·δe print as einsum (GEMM), not as a grid over
    (batch, steps, size, vocabulary)."""
    spec, _ = kernel(spec_data("rnn", 2, 2, 2, 4, "sequence", "softmax_ce", "mean"))
    lines = {x.split(" = ", 1)[0].strip(): x for x in emit_graph(spec).splitlines() if " = np." in x}
    assert all(("np.einsum(" in lines[k]) + ("_dot(" in lines[k]) == 1  # one einsum or one GEMM
               for k in ("v['embedding1_e']", "v['grad_E1']"))
