"""Generated kernels of graph specs: gradients equal autograd's, at any batch size, in the dtype
of the inputs; batchnorm statistics, dropout masks and the CLI for graph networks."""

from __future__ import annotations

import re

import autograd
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbp.cli.app import main
from symbp.codegen.graph_code import KernelPrinter
from symbp.codegen.graph_emit import emit_graph
from symbp.codegen.load import load_module
from symbp.core.graph_spec import from_dict
from symbp.core.printing import numpy_code
from symbp.core.spec import load_spec
from tests import engine_oracle as oracle
from tests.test_engine_formula_op import depthwise_oracle
from tests.test_engine_numeric import OP_CASES, image_graphs, relative_error

ZS = np.array([-1.5, 0.0, 0.5, 2.0], dtype=np.float32)
DEPTHWISE = {"formula": "z[n,c,i,j] = sum(p,q) W[c,p,q] * x[n,c,i+p,j+q] + b[c]",
             "params": {"W": ["c", 2, 3], "b": ["c"]}}


def _with_parameters(shape, layers, loss):
    """A case whose ops have no parameters gets a first layer that has some (a 1x1 convolution
    or a dense layer), so that the kernel's gradients pass back through those ops."""
    if any(d.get("type", "dense") in ("dense", "conv2d", "batchnorm", "layernorm") for d in layers):
        return shape, layers, loss
    first = dict(type="conv2d", channels=2, kernel=1) if len(shape) == 4 else dict(size=shape[1])
    return shape, [first, *layers], loss


CASES = {**{k: _with_parameters(*v) for k, v in OP_CASES.items()},
         "user_depthwise": ((2, 3, 5, 6), [dict(type="depthwise"), dict(type="flatten"), dict(size=2)],
                            "half_sse"),
         # windows whose gradient is summed back onto a computed tensor: strides, padding, overlap
         "inner_windows": ((2, 2, 7, 6), [dict(type="conv2d", channels=2, kernel=1),
                                          dict(type="conv2d", channels=3, kernel=[3, 2], stride=[2, 1],
                                               padding=[1, 2], activation="tanh"),
                                          dict(type="avgpool2d", kernel=2, stride=1),
                                          dict(type="conv2d", channels=2, kernel=1),
                                          dict(type="maxpool2d", kernel=[1, 2], stride=[1, 3]),
                                          dict(type="flatten")], "half_sse")}
_KERNELS: dict[str, tuple] = {}


def kernel(case: str):
    """(spec, module) for a case, emitted once per session."""
    if case not in _KERNELS:
        shape, layers, loss = CASES[case]
        data = {"inputs": list(shape[1:]), "layers": layers, "loss": loss}
        if case.startswith("user_"):
            data["ops"] = {"depthwise": DEPTHWISE}
        spec = from_dict(data, default_name=case)
        _KERNELS[case] = spec, load_module(emit_graph(spec), case)
    return _KERNELS[case]


def autograd_reference(spec, values, masks=None):
    layers = [dict(d) for d in spec.layers]
    ops = {"depthwise": depthwise_oracle}

    def J(P):
        given = {**values, **(masks or {}), **P}
        return oracle.forward(layers, spec.loss, given, values["X"], values["Y"], ops=ops)

    params = {k: values[k] for k in spec.graph(len(values["X"])).params}
    return J(params), autograd.grad(J)(params), params


@pytest.mark.parametrize("batch", [2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_kernel_gradients_equal_autograd_at_any_batch_size(case, batch):
    check_kernel_against_autograd(*kernel(case), batch, seed=batch)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_graphs(), st.integers(0, 2**16))
def test_kernels_of_random_graphs_agree_with_autograd(case, seed):
    """Random CNN chains and DAGs (any kernel, stride, padding; pooling, norms, dropout, add or
    concat; every activation/loss pairing the spec accepts), emitted and run at their batch size."""
    shape, layers, loss = case
    spec = from_dict({"inputs": list(shape[1:]), "layers": layers, "loss": loss})
    check_kernel_against_autograd(spec, load_module(emit_graph(spec), "random_graph"), shape[0], seed)


def check_kernel_against_autograd(spec, module, batch, seed):
    """The kernel's loss and gradients at ``batch`` samples against autograd on the oracle,
    each gradient within 1e-10 of its own scale, or of the whole gradient's where it is a
    cancellation 10⁴ times smaller (a conv bias before a norm: 0 up to round-off)."""
    values = oracle.random_values(spec.graph(batch), seed=seed)
    masks = {k: v for k, v in values.items() if k.startswith("mask")}
    rate = next((d["rate"] for d in spec.layers if d["type"] == "dropout"), 0.0)
    drawn = {k: (np.random.default_rng(5).random(v.shape) < 1 - rate).astype(float) for k, v in masks.items()}
    J_ref, ref, params = autograd_reference(spec, values, drawn)
    J, grads = module.loss_and_grad(params, values["X"], values["Y"], rng=np.random.default_rng(5))
    assert relative_error(np.asarray(J), np.asarray(J_ref)) <= 1e-12
    assert set(grads) == set(ref)
    overall = max(float(np.max(np.abs(g))) for g in ref.values())
    for name in ref:
        assert grads[name].shape == ref[name].shape, name
        scale = max(float(np.max(np.abs(ref[name]))), 1e-4 * overall, 1e-300)
        assert float(np.max(np.abs(grads[name] - ref[name]))) <= 1e-10 * scale, name


@pytest.mark.parametrize("case", ["conv2d_strided_padded", "batchnorm_image", "softmax", "user_depthwise"])
def test_float32_in_gives_float32_out(case):
    spec, module = kernel(case)
    values = oracle.random_values(spec.graph(2), seed=1, dtype=np.float32)
    params = {k: values[k] for k in module.PARAM_SHAPES}
    J, grads = module.loss_and_grad(params, values["X"], values["Y"])
    assert np.asarray(J).dtype == np.float32 and module.forward(params, values["X"]).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_dropout_without_rng_is_the_identity():
    spec, module = kernel("dropout")
    values = oracle.random_values(spec.graph(3), seed=0)
    params = {k: values[k] for k in module.PARAM_SHAPES}
    plain = values["X"] @ params["W2"].T + params["b2"]
    assert np.allclose(module.forward(params, values["X"]), plain, rtol=1e-14, atol=0)
    drawn = module.forward(params, values["X"], rng=np.random.default_rng(0))
    assert not np.allclose(drawn, plain)


def test_batchnorm_statistics_advance_in_training_and_serve_inference():
    spec, module = kernel("batchnorm_image")
    values = oracle.random_values(spec.graph(4), seed=2)
    params = {k: values[k] for k in module.PARAM_SHAPES}
    X = values["X"] * 3 + 1
    stats = module.init_stats()
    assert np.all(stats["mean1"] == 0) and np.all(stats["var1"] == 1)
    module.loss(params, X, values["Y"], stats=stats)
    count = X.size // X.shape[1]
    assert np.allclose(stats["mean1"], 0.1 * X.mean(axis=(0, 2, 3)), rtol=1e-13)
    assert np.allclose(stats["var1"], 0.9 + 0.1 * X.var(axis=(0, 2, 3)) * count / (count - 1), rtol=1e-13)
    out = module.forward(params, X[:1], training=False, stats=stats)
    mean, var = (stats[k][None, :, None, None] for k in ("mean1", "var1"))
    expected = (params["gamma1"][None, :, None, None] * (X[:1] - mean) / np.sqrt(var + 1e-5)
                + params["beta1"][None, :, None, None]).reshape(1, -1)
    assert np.allclose(out, expected, rtol=1e-12)
    before = {k: v.copy() for k, v in stats.items()}
    module.forward(params, X, training=False, stats=stats)
    assert all(np.array_equal(before[k], stats[k]) for k in stats)


def test_window_gradients_are_scattered_slice_by_slice_and_contractions_are_gemms():
    """The fast forms, printed from the computes: a conv's forward pass and weight gradient are
    one GEMM on the im2col view (``_dot``, tensordot's layout), the gradient through a conv or
    pooling window is summed back one window offset at a time (col2im), and pooling windows are
    reduced slice by slice, so lenet5's kernel has no einsum and no NumPy reduction over window
    axes."""
    text = emit_graph(load_spec("lenet5", graphs=True))
    lines = {m.group(1): m.group(0) for m in re.finditer(r"v\['(\w+)'\] = .*", text)}
    assert "_dot(" in lines["conv2d1_z"] and "_dot(" in lines["grad_W3"]
    for name in ("grad_act1_a", "grad_maxpool2d2_pool", "grad_act3_a"):
        assert lines[name].startswith(f"v['{name}'] = _scatter("), name
    assert "_reduce(" in lines["maxpool2d2_pool"]
    assert "np.einsum" not in text and ".max(axis=" not in text
    inner = emit_graph(kernel("inner_windows")[0])
    assert inner.count("= _scatter(") == 4  # into the input of each window op but the first


def _statements(text: str) -> dict[str, str]:
    """A kernel module's statements ``v['name'] = …`` by name."""
    return {m.group(1): m.group(0) for m in re.finditer(r"v\['(\w+)'\] = .*", text)}


def test_a_convolutions_im2col_copy_is_made_once_for_its_forward_pass_and_weight_gradient():
    """The forward GEMM copies the window view of the conv's input once and keeps it; the weight
    gradient's GEMM reads that copy (transposed, which BLAS takes as it is) instead of its own."""
    text = emit_graph(load_spec("lenet5", graphs=True))
    lines = _statements(text)
    for x, z, grad in (("X", "conv2d1_z", "grad_W1"), ("maxpool2d2_pool", "conv2d3_z", "grad_W3")):
        assert text.count(f"_view(v[{x!r}]") == 1, x
        assert f"_keep(v, '{x}:cols" in lines[z]
        assert f"v['{x}:cols" in lines[grad] and "_view(" not in lines[grad]


def test_factors_free_of_the_summed_variables_are_taken_out_of_the_sum():
    """∂J/∂σ² of batchnorm, Σ_{n,i,j} −½·(x − μ)·∂J/∂x̂·(σ² + ε)^(−3/2), is one contraction of the
    two stored arrays times (σ² + ε)^(−3/2) per channel, not a product over the whole batch then
    summed; softmax's Σ_k −∂J/∂log p[n, k]/total[n] is one row sum divided once per sample."""
    lines = _statements(emit_graph(load_spec("cnn_bn", graphs=True)))
    var = lines["grad_batchnorm2_var"]
    assert "np.einsum('bacd,bacd->a', v['batchnorm2_centered'], v['grad_batchnorm2_xhat']" in var
    assert "np.broadcast_to(" not in var and "_view(" not in var
    assert "np.einsum('bacd,bacd->a', v['batchnorm2_xhat'], v['grad_batchnorm2_y']" in lines["grad_gamma2"]
    total = _statements(emit_graph(load_spec("lenet5", graphs=True)))["grad_act8_total"]
    assert "v['grad_act8_log'].sum(axis=(1,))" in total and "_reduce(" not in total


def test_pooling_gradients_store_each_window_where_windows_do_not_overlap():
    """A window gradient's slices are stored, not added, where no two windows share an entry
    (stride ≥ kernel), with no zeros written first where they tile the input; overlapping
    windows (stride 1) are added."""
    lines = _statements(emit_graph(load_spec("lenet5", graphs=True)))
    assert lines["grad_act1_a"].endswith("cover='tile')") and lines["grad_act3_a"].endswith("cover='tile')")
    assert "cover=" not in lines["grad_maxpool2d2_pool"]  # a 5×5 kernel at stride 1 overlaps
    inner = _statements(emit_graph(kernel("inner_windows")[0]))
    assert inner["grad_conv2d4_z"].endswith("cover='set')")  # kernel [1, 2], stride [1, 3]: gaps
    assert "cover=" not in inner["grad_act2_a"]  # avgpool 2 at stride 1


def test_stored_pooling_gradients_share_ties_as_autograd():
    """Where windows do not overlap and entries tie, each tied entry gets its share of δ."""
    spec, module = kernel("maxpool2d")
    values = oracle.random_values(spec.graph(2), seed=3)
    values["X"] = np.round(values["X"])  # many ties
    values["X"][0, 0, :2, :2] = 1.0
    out, channels = values["W1"].shape[:2]  # the 1×1 convolution copies channels: ties stay
    values["W1"] = np.eye(out, channels)[:, :, None, None]
    values["b1"] = np.zeros_like(values["b1"])
    J_ref, ref, params = autograd_reference(spec, values)
    J, grads = module.loss_and_grad(params, values["X"], values["Y"])
    assert relative_error(np.asarray(J), np.asarray(J_ref)) <= 1e-12
    assert all(relative_error(grads[k], ref[k]) <= 1e-12 for k in ref)


def test_window_reductions_make_no_array_over_the_whole_window_grid():
    """A 4×4 max-pool's forward pass, tie count and gradient go one window offset at a time:
    the step's peak memory stays below 3 inputs' worth (it keeps the conv output and its
    gradient); a body over the whole window grid is one input more."""
    import tracemalloc

    spec = from_dict({"inputs": [1, 64, 64], "loss": "half_sse",
                      "layers": [dict(type="conv2d", channels=1, kernel=1), dict(type="maxpool2d", kernel=4),
                                 dict(type="flatten")]})
    module = load_module(emit_graph(spec), "pool4")
    X = np.random.default_rng(0).standard_normal((16, 1, 64, 64))
    Y, params = np.zeros((16, 256)), module.init_params(0)
    module.loss_and_grad(params, X, Y)
    tracemalloc.start()
    try:
        module.loss_and_grad(params, X, Y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * X.nbytes


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_workspace_reuses_its_arrays_and_changes_no_number(dtype):
    """loss_and_grad(…, work=W): the same J and gradients as without, at any batch size; the
    arrays are made once per batch size and dtype and reused, and returned gradients are the
    caller's own (a later step does not overwrite them)."""
    spec, module = kernel("inner_windows")
    values = oracle.random_values(spec.graph(3), seed=4, dtype=dtype)
    params = {k: values[k] for k in module.PARAM_SHAPES}
    X, Y = values["X"], values["Y"]
    work: dict = {}
    for batch in (3, 2, 3):
        J, grads = module.loss_and_grad(params, X[:batch], Y[:batch], work=work)
        J_plain, plain = module.loss_and_grad(params, X[:batch], Y[:batch])
        assert J == J_plain and all(np.array_equal(grads[k], plain[k]) for k in plain)
        assert all(g.dtype == dtype for g in grads.values())
    assert len(work) == 2
    arrays = {key: id(a) for key, a in work[3, np.dtype(dtype).str].items()}
    kept = {k: g.copy() for k, g in grads.items()}
    module.loss_and_grad(params, 2 * X, Y, work=work)
    assert {key: id(a) for key, a in work[3, np.dtype(dtype).str].items()} == arrays
    assert all(np.array_equal(grads[k], kept[k]) for k in kept)


def test_kernel_printer_writes_clamps_steps_and_indicators_as_one_pass_in_the_input_dtype():
    """relu as np.maximum, a step and an arg-max test as a comparison cast to the kernel's dtype:
    no np.where or np.heaviside (several times slower), and float32 stays float32."""
    z, m = sp.Symbol("z", real=True), sp.Symbol("m", real=True)
    printer = KernelPrinter({"standard": "python3"})
    cases = {sp.Piecewise((0, z <= 0), (z, True)): ("np.maximum(z, 0)", np.maximum(ZS, 0)),
             sp.Piecewise((z, z <= 1), (1, True)): ("np.minimum(z, 1)", np.minimum(ZS, 1)),
             sp.Heaviside(z, 0): ("(z > 0).astype(dtype)", ZS > 0),
             sp.Piecewise((1, sp.Eq(z, m)), (0, True)): ("((m == z)).astype(dtype)", ZS == 0.5)}
    for expr, (code, expected) in cases.items():
        got = printer.doprint(expr)
        assert got == code
        value = eval(got, {"np": np}, {"z": ZS, "m": np.float32(0.5), "dtype": ZS.dtype})  # noqa: S307
        assert value.dtype == np.float32 and np.array_equal(value, expected)
    text = emit_graph(load_spec("lenet5", graphs=True))
    assert "np.where" not in text and "np.heaviside" not in text


def test_softmax_cross_entropy_is_finite_where_probabilities_underflow():
    """Logits ±1e3: exp(−2000) underflows to 0, yet J and every gradient come out finite and
    equal to the log-sum-exp reference, as the loss reads the log-softmax, not log(softmax)."""
    spec, module = kernel("softmax")
    params = {"W1": np.eye(3, 4), "b1": np.zeros(3)}
    X = 1e3 * np.array([[1, -1, -1, 0], [-1, 1, 1, 0], [1, 1, -1, 0]], dtype=float)
    Y = np.eye(3)[[1, 0, 2]]  # each sample's true class has a logit of -1e3
    J, grads = module.loss_and_grad(params, X, Y)
    z = X[:, :3]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    delta = (np.exp(log_p) - Y) / len(X)
    assert np.isfinite(J) and np.isclose(J, -(Y * log_p).sum() / len(X), rtol=1e-13, atol=0)
    assert np.allclose(grads["W1"], delta.T @ X, rtol=1e-13, atol=0)
    assert np.allclose(grads["b1"], delta.sum(axis=0), rtol=1e-13, atol=0)


def test_a_square_in_a_denominator_is_printed_with_its_parentheses():
    a, b = sp.symbols("a b", real=True)
    assert eval(numpy_code(a / b**2), {"np": np}, {"a": 3.0, "b": 2.0}) == 0.75  # noqa: S307 our own code


def test_bundled_graph_kernels_say_how_to_regenerate_and_take_images():
    module = load_module(emit_graph(load_spec("lenet5", graphs=True)), "lenet5")
    params = module.init_params(0)
    assert params["W1"].shape == (6, 1, 5, 5) and params["W6"].shape == (120, 400)
    X = np.random.default_rng(0).standard_normal((5, 1, 28, 28))
    out = module.forward(params, X)
    assert out.shape == (5, 10) and np.allclose(out.sum(axis=1), 1)
    text = emit_graph(load_spec("resmlp", graphs=True))
    assert "# Regenerate with: symbp emit resmlp -o resmlp.py" in text


def test_symbp_run_verifies_lenet5(tmp_path, capsys):
    assert main(["run", "lenet5", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and (tmp_path / "out" / "lenet5.py").is_file()


def test_symbp_emit_writes_a_graph_kernel(tmp_path, capsys):
    assert main(["emit", "cnn_bn", "-o", str(tmp_path / "cnn_bn.py")]) == 0
    module = load_module((tmp_path / "cnn_bn.py").read_text(), "cnn_bn")
    assert set(module.init_stats()) == {"mean2", "var2", "mean5", "var5"}


def test_a_spec_file_with_a_user_op_runs_end_to_end(tmp_path, capsys):
    spec = tmp_path / "dw.toml"
    spec.write_text('inputs = [2, 6, 6]\nloss = "half_sse"\n[ops.depthwise]\n'
                    'formula = "z[n,c,i,j] = sum(p,q) K[c,p,q] * x[n,c,i+p,j+q]"\n'
                    'params = {K = ["c", 3, 3]}\n[[layers]]\ntype = "depthwise"\nactivation = "tanh"\n'
                    '[[layers]]\ntype = "flatten"\n[[layers]]\nsize = 3\n')
    assert main(["run", str(spec), "-o", str(tmp_path / "out")]) == 0
    assert "verdict: PASS" in capsys.readouterr().out


def test_commands_without_graph_support_refuse_a_graph_network_in_one_line(capsys):
    assert main(["example", "lenet5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "graph spec" in err
