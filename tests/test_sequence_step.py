"""The loop over time of a sequence kernel: each derived compute of the cell printed in place in
few passes (a stable sigmoid, gate blocks as slices, gate gradients written block by block into
one array, transposed operands handed to BLAS as views) and a workspace for repeated calls."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from symbp.codegen.graph_emit import emit_graph
from symbp.codegen.load import load_module
from symbp.codegen.seq_step import StepPrinter
from symbp.core.graph_spec import from_dict
from symbp.core.ir import Compute, Tensor, Term, var

_MODULES: dict[str, tuple[str, object]] = {}


def kernel(cell: str, steps: int = 3, hidden: int = 2) -> tuple[str, object]:
    """(source, module) of embedding → cell → softmax at every step, emitted once per session."""
    key = f"{cell}{steps}.{hidden}"
    if key not in _MODULES:
        data = {"inputs": [steps], "layers": [{"type": "embedding", "vocab": 5, "size": 4},
                                              {"type": cell, "size": hidden},
                                              {"size": 5, "activation": "softmax"}],
                "loss": "softmax_ce"}
        source = emit_graph(from_dict(data, default_name="seq"))
        _MODULES[key] = source, load_module(source, "seq")
    return _MODULES[key]


def loop_bodies(source: str) -> str:
    """The lines inside the loops over time."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip().startswith("for t in range("):
            inside = True
        elif inside and not line.startswith("        "):
            inside = False
        if inside and not line.strip().startswith("#"):
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_sigmoid_is_within_a_few_ulp_of_one_and_finite_from_minus_to_plus_1e3(dtype):
    _, module = kernel("lstm")
    z = np.concatenate([np.linspace(-1e3, 1e3, 20_001), np.linspace(-40, 40, 20_001)]).astype(dtype)
    with np.errstate(all="raise"):
        got = module._sigmoid(z, np.empty_like(z))
    wide = z.astype(np.longdouble)
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-wide))
    assert got.dtype == dtype and np.all((got >= 0) & (got <= 1))
    assert np.max(np.abs(got - exact)) <= 2 * np.finfo(dtype).eps
    assert got[0] == 0 and got[20_000] == 1  # z = -1e3 and 1e3: the limits exactly


def test_the_lstm_step_reads_gate_blocks_as_slices_and_writes_every_compute_in_place():
    source, _ = kernel("lstm", hidden=2)
    body = loop_bodies(source)
    assert "_view(" not in body and "np.broadcast_to(" not in body
    for k, gate in enumerate("ifgo"):
        block = f"v['lstm2_s'][:, {2 * k}:{2 * k + 2}]"
        form = "np.tanh(" if gate == "g" else "_sigmoid("
        assert f"v['lstm2_{gate}'] = {form}{block}, out" in body
    assert "np.dot(v['hprev2'], v['Wh2'].T, out=out)" in body


def test_lstm_gate_gradients_are_written_block_by_block_into_one_array():
    """∂J/∂s is one (B, 4H) array whose four blocks are written by the four gates' derived
    formulas: no zero-padded (B, 4H) part per gate, no sum of four parts."""
    source, _ = kernel("lstm", hidden=2)
    body = loop_bodies(source)
    assert "grad_lstm2_s__" not in body.split("for t in range(2, -1, -1):")[0]  # no part's array
    for k in range(4):
        assert f"out=out[:, {2 * k}:{2 * k + 2}])" in body
    assert "v['grad_lstm2_s'] = out" in body
    assert "np.dot(v['grad_lstm2_s'].T, v['hprev2'], out=out)" in body  # a transposed view


def test_a_sum_of_parts_that_leaves_a_block_uncovered_fills_it_with_zeros():
    (n, u), N = (var("n"), var("u")), 3
    x, y = Tensor("x", (N, 2)), Tensor("y", (N, 1))
    R = {n: N, u: 5}
    a = Compute("a", (N, 5), (n, u), (Term(2 * x[n, u]),), R)  # nonzero on u in [0, 2)
    b = Compute("b", (N, 5), (n, u), (Term(y[n, u - 4] * y[n, u - 4]),), R)  # on u = 4 only
    c = Compute("c", (N, 5), (n, u), (Term(a.read() + b.read()),), R)
    printer = StepPrinter([a, b, c], {"x": x.shape, "y": y.shape, "a": a.shape, "b": b.shape,
                                      "c": c.shape}, "K[{name}]", frozenset({"c"}))
    lines = printer.lines()
    assert [line["code"] for line in lines[:2]] == [[], []]  # the parts go into c's blocks
    rng = np.random.default_rng(0)
    v = {"x": rng.standard_normal((N, 2)), "y": rng.standard_normal((N, 1))}
    scope = {"np": np, "v": v, "K": {"c": np.full((N, 5), np.nan)}}
    exec("\n".join(lines[2]["code"]), scope)  # noqa: S102 - the printer's own code, in a test
    expected = np.zeros((N, 5))
    expected[:, :2], expected[:, 4:] = 2 * v["x"], v["y"] ** 2
    assert printer.buffers == {"c": (N, 5)}
    np.testing.assert_array_equal(v["c"], expected)


def test_the_dot_helper_hands_a_transposed_operand_to_blas_without_copying_it():
    _, module = kernel("rnn")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    ws = {}
    out = module._dot(a, b, ([1], [1]), ws, "k")  # a·bᵀ: b is read transposed
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-14)
    assert set(ws) == {"k.out"}  # no copy of either operand
    c = rng.standard_normal((4, 5))[:, 1:4]  # neither C- nor Fortran-ordered: copied
    np.testing.assert_allclose(module._dot(a, c, ([1], [0]), ws, "m"), a @ c, rtol=1e-14)
    assert "m.b" in ws


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_workspace_makes_repeated_calls_allocate_less_than_half_and_gives_the_same_gradients(cell):
    _, module = kernel(cell, steps=12, hidden=32)
    rng = np.random.default_rng(2)
    params = module.init_params(0)
    X, Y = rng.integers(0, 5, (16, 12)), np.eye(5)[rng.integers(0, 5, (16, 12))]

    def peak(**kwargs) -> tuple[int, tuple]:
        module.loss_and_grad(params, X, Y, **kwargs)  # a first call fills the workspace
        tracemalloc.start()
        result = module.loss_and_grad(params, X, Y, **kwargs)
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top, result

    work: dict = {}
    (fresh, (J, grads)), (reused, (J2, grads2)) = peak(), peak(work=work)
    assert reused < 0.4 * fresh, (reused, fresh)
    assert J2 == J and all(np.array_equal(grads[k], grads2[k]) for k in grads)
    again = module.loss_and_grad(params, X, Y, work=work)[1]  # returned arrays are the caller's
    assert all(again[k] is not grads2[k] and np.array_equal(again[k], grads2[k]) for k in grads)


def test_a_segment_folds_the_seed_of_its_pseudo_loss_and_renames_instead_of_copying():
    """∂J/∂P = 1·gP: the seed 1 is folded, so the gradient of the projection is the array the
    loop over time filled, not a product with 1 over all (B, T, H) entries."""
    source, _ = kernel("rnn")
    assert "v['grad_rnn2_P'] = v['gP2']" in source
    assert "v['grad_dense3_z__act3_log_0_2'] = v['grad_act3_log']" in source


def test_a_softplus_step_keeps_its_overflow_free_forms_and_stays_finite_at_large_weights():
    """log(1 + e^z) and 1 − e^{−a} are printed as logaddexp and expm1 (the general printer's
    forms), not as a chain of exp and log that overflows at z = 1000."""
    data = {"inputs": [3, 2], "layers": [{"type": "rnn", "size": 3, "activation": "softplus"},
                                         {"size": 2, "activation": "identity"}], "loss": "mse"}
    source = emit_graph(from_dict(data, default_name="seq"))
    module = load_module(source, "seq")
    assert "np.logaddexp(0, (v['rnn1_z']))" in source and "np.expm1(" in source
    params = {k: v * 1000 for k, v in module.init_params(0).items()}
    X = np.random.default_rng(0).standard_normal((3, 3, 2))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        J, grads = module.loss_and_grad(params, X, np.zeros((3, 3, 2)))
    assert np.isfinite(J) and all(np.all(np.isfinite(g)) for g in grads.values())
