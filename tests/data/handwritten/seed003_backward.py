"""Backward passes written the way seed 003 writes them: weights (in, out), rows of a batch.

``loss_and_grads`` is right; each ``broken_*`` variant has one deliberate mistake of the kind
seed 003 warns about. Used by tests/test_verify_function.py through the ``in_out`` convention.
"""

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward(params, X):
    a1 = X @ params["W1"] + params["b1"]  # input_data · W + b = a
    h1 = _sigmoid(a1)
    a2 = h1 @ params["W2"] + params["b2"]
    return a1, h1, a2, _softmax(a2)


def _backward(params, X, Y, *, hidden_derivative=True, transpose_w1=False):
    batch = X.shape[0]
    a1, h1, a2, p = _forward(params, X)
    loss = -np.sum(Y * np.log(p)) / batch
    a_grad2 = (p - Y) / batch  # softmax-with-loss: y - t, averaged over the batch
    W2_grad = h1.T @ a_grad2
    b2_grad = a_grad2.sum(axis=0, keepdims=True)
    h_grad = a_grad2 @ params["W2"].T
    a_grad1 = h_grad * (h1 * (1 - h1)) if hidden_derivative else h_grad
    W1_grad = X.T @ a_grad1
    if transpose_w1:
        W1_grad = W1_grad.T
    b1_grad = a_grad1.sum(axis=0, keepdims=True)
    return loss, {"W1": W1_grad, "b1": b1_grad, "W2": W2_grad, "b2": b2_grad}


def loss_and_grads(params, X, Y):
    return _backward(params, X, Y)


def broken_missing_derivative(params, X, Y):
    """Forgets activate'(a) in the hidden layer."""
    return _backward(params, X, Y, hidden_derivative=False)


def broken_transposed(params, X, Y):
    """Returns the hidden layer's weight gradient transposed."""
    return _backward(params, X, Y, transpose_w1=True)
