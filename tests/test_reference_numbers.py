"""Generated kernels reproduce published reference numbers to every printed digit.

Two sources:

* Andrew Ng's Coursera Machine Learning exercise 4 (neural network learning). The published
  values, conventions and the provenance of ``tests/data/ex4weights.mat`` are taken from the
  shared reference README for that exercise (``data/ng_ex4/README.md``; see also
  ``tests/data/README.md``).
* Seed 000, a blog post that works Matt Mazur's 2-2-2 example by hand (the ``mazur`` spec).
  Some of the digits it prints are wrong. Each such value is pinned here at the value recomputed
  from the definitions with 50-digit mpmath, and a comment gives what the seed printed.

A printed number such as ``"0.0088991196"`` passes when the computed float rounds to it at the
number of decimals printed.
"""

from __future__ import annotations

import copy
import hashlib
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.codegen.load import load_module

DATA = Path(__file__).parent / "data"


def rounds_to(value: float, printed: str) -> bool:
    """True when ``value`` rounded to the decimals shown in ``printed`` equals ``printed``."""
    shown = Decimal(printed)
    return Decimal(float(value)).quantize(shown, rounding=ROUND_HALF_EVEN) == shown


def assert_rounds_to(value: float, printed: str, what: str = "value") -> None:
    assert rounds_to(value, printed), f"{what}: computed {float(value)!r}, expected {printed}"


_KERNELS: dict[str, object] = {}


def kernel(net: symbp.Network):
    """The generated NumPy module for ``net``, imported once per network name."""
    if net.name not in _KERNELS:
        _KERNELS[net.name] = load_module(symbp.emit_numpy(net), name=net.name)
    return _KERNELS[net.name]


# ---------------------------------------------------------------------------------------------
# 1. Exercise 4, "Checking Backpropagation" (checkNNGradients.m, debugInitializeWeights.m)
# ---------------------------------------------------------------------------------------------

# The analytic gradient printed by a run of ex4.m (Hassan-Omar/HandWriting_Recogniton, README.md),
# reproduced in the exercise-4 reference README: [Theta1_grad(:); Theta2_grad(:)], column-major.
PUBLISHED_GRAD_LAMBDA_0 = """
-0.0092782524  0.0088991196 -0.0083601076  0.0076281355 -0.0067479837
-0.0000030498  0.0000142869 -0.0000259383  0.0000369883 -0.0000468760
-0.0001750601  0.0002331464 -0.0002874687  0.0003353203 -0.0003762156
-0.0000962661  0.0001179827 -0.0001371497  0.0001532471 -0.0001665603
 0.3145449701  0.1110565882  0.0974006970  0.1640908188  0.0575736493
 0.0504575855  0.1645679323  0.0577867378  0.0507530173  0.1583393339
 0.0559235296  0.0491620841  0.1511275275  0.0536967009  0.0471456249
 0.1495683347  0.0531542052  0.0465597186
""".split()

PUBLISHED_GRAD_LAMBDA_3 = """
-0.009278252  0.008899120 -0.008360108  0.007628136 -0.006747984
-0.016767980  0.039433483  0.059335556  0.024764097 -0.032688143
-0.060174472 -0.031961229  0.024922553  0.059771762  0.038641055
-0.017370465 -0.057565867 -0.045196385  0.009145880  0.054610155
 0.314544970  0.111056588  0.097400697  0.118682669  0.000038193
 0.033692656  0.203987128  0.117148233  0.075480126  0.125698067
-0.004075883  0.016967709  0.176337550  0.113133142  0.086162895
 0.132294136 -0.004529644  0.001500484
""".split()

# Not printed by the course; computed in the reference README (J of the small case).
README_COST = {0: 2.100950569902465, 3: 2.146359815024358}


def debug_initialize_weights(fan_out: int, fan_in: int) -> np.ndarray:
    """debugInitializeWeights.m: reshape(sin(1:numel(W)), size(W)) / 10, column-major."""
    n = fan_out * (1 + fan_in)
    return np.sin(np.arange(1, n + 1)).reshape((fan_out, 1 + fan_in), order="F") / 10


def check_nn_network(lam: int) -> symbp.Network:
    return symbp.Network.from_dict({
        "name": f"ex4_check_lambda{lam}",
        "inputs": 3,
        "layers": [{"size": 5, "activation": "sigmoid", "bias": "neuron", "train_bias": True},
                   {"size": 3, "activation": "sigmoid", "bias": "neuron", "train_bias": True}],
        "loss": "bce",
        "reduction": "mean",
        "regularization": {"convention": "lambda_over_2m", "strength": lam},
    })


def check_nn_problem():
    """Theta1 (5x4), Theta2 (3x6) with the bias in column 0, X (5x3) and one-hot Y (5x3)."""
    theta1 = debug_initialize_weights(5, 3)
    theta2 = debug_initialize_weights(3, 5)
    X = debug_initialize_weights(5, 2)  # 5x3; the bias column is added inside the cost
    y = 1 + np.arange(1, 6) % 3  # [2, 3, 1, 2, 3]
    Y = np.eye(3)[y - 1]  # label k -> column k-1
    params = {"W1": theta1[:, 1:], "b1": theta1[:, 0], "W2": theta2[:, 1:], "b2": theta2[:, 0]}
    return params, X, Y


def test_check_nn_problem_is_set_up_as_in_the_course_files():
    params, X, Y = check_nn_problem()
    assert params["W1"].shape == (5, 3) and params["W2"].shape == (3, 5)
    assert X.shape == (5, 3)
    assert np.array_equal(Y.argmax(axis=1) + 1, [2, 3, 1, 2, 3])
    # column-major: Theta1(2,1) = sin(2)/10 and Theta1(1,2) = sin(6)/10
    assert params["b1"][1] == np.sin(2) / 10 and params["W1"][0, 0] == np.sin(6) / 10


@pytest.mark.parametrize(("lam", "published"), [(0, PUBLISHED_GRAD_LAMBDA_0),
                                                (3, PUBLISHED_GRAD_LAMBDA_3)],
                         ids=["lambda0", "lambda3"])
def test_ex4_backprop_gradient_matches_published_unrolled_gradient_to_every_digit(lam, published):
    mod = kernel(check_nn_network(lam))
    params, X, Y = check_nn_problem()
    _, grads = mod.loss_and_grad(params, X, Y)
    theta1_grad = np.column_stack([grads["b1"], grads["W1"]])  # bias column first
    theta2_grad = np.column_stack([grads["b2"], grads["W2"]])
    unrolled = np.concatenate([theta1_grad.ravel(order="F"), theta2_grad.ravel(order="F")])
    assert len(published) == unrolled.size == 38
    wrong = [(k, float(v), p) for k, (v, p) in enumerate(zip(unrolled, published, strict=True))
             if not rounds_to(v, p)]
    assert not wrong, f"entries (index, computed, published) that differ: {wrong}"


@pytest.mark.parametrize("lam", [0, 3], ids=["lambda0", "lambda3"])
def test_ex4_backprop_cost_matches_reference_readme(lam):
    mod = kernel(check_nn_network(lam))
    params, X, Y = check_nn_problem()
    J, _ = mod.loss_and_grad(params, X, Y)
    assert abs(J - README_COST[lam]) <= 1e-12
    assert abs(mod.loss(params, X, Y) - README_COST[lam]) <= 1e-12


# ---------------------------------------------------------------------------------------------
# 2. Exercise 4 costs through the regularisation term of ex4weights.mat
# ---------------------------------------------------------------------------------------------

EX4WEIGHTS_SHA256 = "7eb93f42e50219a15de2378c7f8e4ecdd71005fc19e0e519cd52d5ce4d74e1f5"
M_EX4 = 5000  # rows of ex4data1.mat's X
# Published by ex4.m / ex4.pdf.
PUBLISHED_COST_LAMBDA_0 = 0.287629
PUBLISHED_COST_LAMBDA_1 = "0.383770"
PUBLISHED_COST_LAMBDA_3 = "0.576051"
PUBLISHED_SIGMOID_GRADIENT = ["0.196612", "0.235004", "0.250000", "0.235004", "0.196612"]


@pytest.fixture(scope="module")
def ex4_thetas():
    import scipy.io  # a test dependency; fail loudly rather than skip when it is missing

    mat = scipy.io.loadmat(DATA / "ex4weights.mat")
    return mat["Theta1"], mat["Theta2"]


def seed004_with_strength(strength: float) -> symbp.Network:
    data = copy.deepcopy(symbp.load_spec("seed004").source)
    data["name"] = f"seed004_lambda{int(strength)}"
    data["regularization"] = {"convention": "lambda_over_2m", "strength": strength}
    return symbp.Network.from_dict(data)


def test_ex4weights_file_is_the_published_exercise_file(ex4_thetas):
    digest = hashlib.sha256((DATA / "ex4weights.mat").read_bytes()).hexdigest()
    assert digest == EX4WEIGHTS_SHA256
    theta1, theta2 = ex4_thetas
    assert theta1.shape == (25, 401) and theta2.shape == (10, 26)
    assert theta1.dtype == theta2.dtype == np.float64
    # check values from the reference README
    assert theta1[0, 0] == -0.022562389859934213
    assert theta2[0, 0] == -0.7610035157900087


def test_seed004_regulariser_on_ex4weights_gives_published_regularised_costs(ex4_thetas):
    theta1, theta2 = ex4_thetas
    net = symbp.load_spec("seed004")
    assert net.sizes == [400, 25, 10]
    assert (net.regularization.convention, net.regularization.strength) == ("lambda_over_2m", 1.0)
    params = {"W1": theta1[:, 1:], "b1": theta1[:, 0], "W2": theta2[:, 1:], "b2": theta2[:, 0]}
    # ex4data1.mat is not shipped. J(λ) − J(0) is the regulariser alone and does not depend on X or
    # Y, so any X with m = 5000 rows gives it; zeros will do.
    X = np.zeros((M_EX4, 400))
    Y = np.zeros((M_EX4, 10))
    J1 = kernel(net).loss(params, X, Y)
    J0 = kernel(seed004_with_strength(0.0)).loss(params, X, Y)
    J3 = kernel(seed004_with_strength(3.0)).loss(params, X, Y)
    term = J1 - J0
    assert_rounds_to(term, "0.0961406939", "regularisation term per unit lambda")
    assert abs((J3 - J0) - 3 * term) <= 1e-12
    assert_rounds_to(PUBLISHED_COST_LAMBDA_0 + 1 * term, PUBLISHED_COST_LAMBDA_1, "J(lambda=1)")
    assert_rounds_to(PUBLISHED_COST_LAMBDA_0 + 3 * term, PUBLISHED_COST_LAMBDA_3, "J(lambda=3)")


def test_kernel_sigmoid_gives_published_sigmoid_gradient():
    mod = kernel(symbp.load_spec("seed004"))
    s = mod.sigmoid(np.array([-1.0, -0.5, 0.0, 0.5, 1.0]))
    for value, printed in zip(s * (1 - s), PUBLISHED_SIGMOID_GRADIENT, strict=True):
        assert_rounds_to(value, printed, "sigmoidGradient")
    assert s[2] * (1 - s[2]) == 0.25  # ex4.pdf §2.1: exactly 0.25 at z = 0


# ---------------------------------------------------------------------------------------------
# 3. Seed 000: the 2-2-2 worked example (mazur spec)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mazur():
    net = symbp.load_spec("mazur")
    v = net.example["values"]
    params = {
        "W1": np.array([[v["w1"], v["w2"]], [v["w3"], v["w4"]]]),
        "b1": np.array(v["b1"]),
        "W2": np.array([[v["w5"], v["w6"]], [v["w7"], v["w8"]]]),
        "b2": np.array(v["b2"]),
    }
    X = np.array([[v["i1"], v["i2"]]])
    Y = np.array([[v["target_o1"], v["target_o2"]]])
    return kernel(net), params, X, Y, net.example["learning_rate"]


def test_mazur_hidden_layer_values_match_seed(mazur):
    mod, params, X, _, _ = mazur
    # The kernel does not return hidden values; recompute z = W x + b with numpy.
    z_h = params["W1"] @ X[0] + params["b1"]
    a_h = mod.sigmoid(z_h)
    z_o = params["W2"] @ a_h + params["b2"]
    assert_rounds_to(z_h[0], "0.3775", "z_h1")
    assert_rounds_to(a_h[0], "0.593269992", "a_h1")
    assert_rounds_to(a_h[1], "0.596884378", "a_h2")
    assert_rounds_to(z_o[0], "1.105905967", "z_o1")


def test_mazur_forward_outputs_match_seed(mazur):
    mod, params, X, _, _ = mazur
    a_o = mod.forward(params, X)
    assert a_o.shape == (1, 2)
    # The seed prints a_o1 = 0.751365069, which is truncated: a_o1 = 0.75136506955231...,
    # which rounds to 0.751365070 at 9 decimals.
    assert_rounds_to(a_o[0, 0], "0.751365070", "a_o1")
    assert np.floor(a_o[0, 0] * 1e9) / 1e9 == pytest.approx(0.751365069, abs=1e-15)
    assert_rounds_to(a_o[0, 1], "0.772928465", "a_o2")


def test_mazur_total_error_matches_seed(mazur):
    mod, params, X, Y, _ = mazur
    assert_rounds_to(mod.loss(params, X, Y), "0.298371109", "E_total")


def test_mazur_gradients_match_seed(mazur):
    mod, params, X, Y, _ = mazur
    J, grads = mod.loss_and_grad(params, X, Y)
    assert_rounds_to(J, "0.298371109", "E_total")
    assert set(grads) == {"W1", "W2"}  # shared biases are frozen: no gradient
    assert_rounds_to(grads["W2"][0, 0], "0.082167041", "dE_total/dw5")
    assert_rounds_to(grads["W1"][0, 0], "0.000438568", "dE_total/dw1")


def test_mazur_one_sgd_step_gives_seed_updated_weights_and_leaves_biases(mazur):
    mod, params, X, Y, lr = mazur
    assert lr == 0.5
    new = mod.sgd_step(params, X, Y, lr)
    w1, w2, w3, w4 = new["W1"].ravel()
    w5, w6, w7, w8 = new["W2"].ravel()
    for name, value, printed in [("w1+", w1, "0.149780716"), ("w2+", w2, "0.19956143"),
                                 ("w3+", w3, "0.24975114"), ("w4+", w4, "0.29950229"),
                                 ("w5+", w5, "0.35891648"), ("w6+", w6, "0.408666186"),
                                 ("w7+", w7, "0.511301270"), ("w8+", w8, "0.561370121")]:
        assert_rounds_to(value, printed, name)
    assert new["b1"] == params["b1"] == 0.35
    assert new["b2"] == params["b2"] == 0.60


def train(mod, params, X, Y, lr, steps):
    for _ in range(steps):
        params = mod.sgd_step(params, X, Y, lr)
    return params


def test_mazur_error_after_one_step_is_recomputed_value_not_seeds(mazur):
    mod, params, X, Y, lr = mazur
    after = train(mod, params, X, Y, lr, 1)
    # The seed prints 0.291027924. Gradient descent from the definitions gives
    # 0.29102777369359935... (mpmath, 50 digits) = 0.291027774 at 9 decimals. The seed's number
    # is what one gets by updating w1..w4 with the *already updated* w5..w8 (see the last test).
    assert_rounds_to(mod.loss(after, X, Y), "0.291027774", "E_total after 1 step")


def test_mazur_after_10000_steps_error_and_outputs_are_recomputed_values_not_seeds(mazur):
    mod, params, X, Y, lr = mazur
    after = train(mod, params, X, Y, lr, 10_000)
    # The seed prints E_total = 0.000035085 and outputs [0.015912196, 0.984065734].
    # Gradient descent from the definitions (mpmath, 30 digits) gives
    # E_total = 0.0000351018778297..., outputs [0.0159136204435..., 0.9840642735146...].
    assert_rounds_to(mod.loss(after, X, Y), "0.000035102", "E_total after 10000 steps")
    a_o = mod.forward(after, X)
    assert_rounds_to(a_o[0, 0], "0.015913620", "a_o1 after 10000 steps")
    assert_rounds_to(a_o[0, 1], "0.984064274", "a_o2 after 10000 steps")


def test_seed_training_numbers_come_from_hidden_update_using_updated_output_weights(mazur):
    """Explains the seed's post-training numbers: a different (non-gradient) update rule.

    If δ_h is back-propagated through the output weights *after* they have been updated
    (instead of through the old ones, as the seed's own w1+..w4+ are), the seed's
    0.291027924, 0.000035085 and [0.015912196, 0.984065734] all come out. Written in plain numpy.
    """
    mod, params, X, Y, lr = mazur
    W1, W2 = params["W1"].copy(), params["W2"].copy()
    b1, b2 = params["b1"], params["b2"]
    x, t = X[0], Y[0]

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def step(W1, W2):
        a_h = sigmoid(W1 @ x + b1)
        a_o = sigmoid(W2 @ a_h + b2)
        delta_o = (a_o - t) * a_o * (1 - a_o)
        W2 = W2 - lr * np.outer(delta_o, a_h)
        delta_h = (W2.T @ delta_o) * a_h * (1 - a_h)  # the updated W2: not the gradient
        return W1 - lr * np.outer(delta_h, x), W2

    def error(W1, W2):
        a_o = sigmoid(W2 @ sigmoid(W1 @ x + b1) + b2)
        return 0.5 * np.sum((t - a_o) ** 2), a_o

    W1, W2 = step(W1, W2)
    assert_rounds_to(error(W1, W2)[0], "0.291027924", "seed's E_total after 1 step")
    for _ in range(9_999):
        W1, W2 = step(W1, W2)
    E, a_o = error(W1, W2)
    assert_rounds_to(E, "0.000035085", "seed's E_total after 10000 steps")
    assert_rounds_to(a_o[0], "0.015912196", "seed's a_o1 after 10000 steps")
    assert_rounds_to(a_o[1], "0.984065734", "seed's a_o2 after 10000 steps")
