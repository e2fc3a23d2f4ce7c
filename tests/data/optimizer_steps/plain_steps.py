"""Optimiser steps in symbp's plain convention fn(p, g, state, t, lr, **hyper) (test data)."""

import numpy as np


def adamw(p, g, state, t, lr, beta1, beta2, eps, weight_decay):
    m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    p = p * (1 - lr * weight_decay)
    return p - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def adamw_coupled(p, g, state, t, lr, beta1, beta2, eps, weight_decay):
    g = g + weight_decay * p
    m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def nesterov(p, g, state, t, lr, momentum, weight_decay):
    g = g + weight_decay * p
    b = state["b"] = momentum * state.get("b", 0.0) + g
    return p - lr * (g + momentum * b)


def broken(p, g, state, t, lr, momentum, weight_decay):
    return p - lr * g * 1.5
