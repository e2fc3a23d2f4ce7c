"""Exercise 4's nnCostFunction written in NumPy the way seed 004 writes it in Octave.

Θ^(l) has the bias weights in its first column; y holds labels 1…K; the parameters are unrolled
column-major (Octave's ``Theta(:)``). ``nnCostFunction`` and ``cost_and_grads`` are right; the
``broken_*`` variants each carry one deliberate mistake. Used by tests/test_verify_function.py.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoidGradient(z):  # noqa: N802 - the exercise's name
    g = sigmoid(z)
    return g * (1 - g)


def _cost(Theta1, Theta2, X, y, lambda_, *, hidden_derivative=True, regularise_bias=False):
    m = X.shape[0]
    num_labels = Theta2.shape[0]
    # step 1: forward
    a_1 = np.hstack([np.ones((m, 1)), X])
    z_2 = a_1 @ Theta1.T
    a_2 = np.hstack([np.ones((m, 1)), sigmoid(z_2)])
    z_3 = a_2 @ Theta2.T
    a_3 = sigmoid(z_3)
    # step 2: cost over the K outputs, labels 1..K
    Y = (np.asarray(y).reshape(-1, 1) == np.arange(1, num_labels + 1)).astype(float)
    J = np.sum(-Y * np.log(a_3) - (1 - Y) * np.log(1 - a_3)) / m
    # step 3: regulariser without the bias columns
    J += lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    # step 4: backpropagation
    delta_3 = a_3 - Y
    delta_2 = delta_3 @ Theta2
    if hidden_derivative:
        delta_2 = delta_2 * sigmoidGradient(np.hstack([np.ones((m, 1)), z_2]))
    delta_2 = delta_2[:, 1:]
    Theta2_grad = (delta_3.T @ a_2) / m
    Theta1_grad = (delta_2.T @ a_1) / m
    first = 0 if regularise_bias else 1
    Theta1_grad[:, first:] += lambda_ / m * Theta1[:, first:]
    Theta2_grad[:, first:] += lambda_ / m * Theta2[:, first:]
    return J, Theta1_grad, Theta2_grad


def _unrolled(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_, **bug):
    n1 = hidden_layer_size * (input_layer_size + 1)
    Theta1 = nn_params[:n1].reshape((hidden_layer_size, input_layer_size + 1), order="F")
    Theta2 = nn_params[n1:].reshape((num_labels, hidden_layer_size + 1), order="F")
    J, g1, g2 = _cost(Theta1, Theta2, X, y, lambda_, **bug)
    return J, np.concatenate([g1.ravel(order="F"), g2.ravel(order="F")])


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):  # noqa: N802
    return _unrolled(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_)


def broken_no_sigmoid_gradient(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    """Forgets sigmoidGradient when propagating delta_3 back to delta_2."""
    return _unrolled(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_,
                     hidden_derivative=False)


def broken_regularised_bias(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    """Adds lambda/m * Theta to the bias column of the gradients too."""
    return _unrolled(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_,
                     regularise_bias=True)


def cost_and_grads(thetas, X, y, lam):
    """The same with a list of Θ matrices in and a list of gradients out."""
    J, g1, g2 = _cost(thetas[0], thetas[1], X, y, lam)
    return J, [g1, g2]


def broken_transposed(thetas, X, y, lam):
    """Theta2_grad written as a_2' * delta_3: the transpose of the right matrix."""
    J, g1, g2 = _cost(thetas[0], thetas[1], X, y, lam)
    return J, [g1, g2.T]
