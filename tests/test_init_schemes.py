"""init_params(scheme=...): He, Xavier/Glorot (normal and uniform) and PyTorch's nn.Linear."""

from __future__ import annotations

import numpy as np
import pytest

EXPECTED_STD = {  # W1 of mnist_mlp: fan-in 784, fan-out 256
    "he_normal": np.sqrt(2 / 784), "he_uniform": np.sqrt(2 / 784),
    "xavier_normal": np.sqrt(2 / (784 + 256)), "xavier_uniform": np.sqrt(2 / (784 + 256)),
    "pytorch": np.sqrt(1 / (3 * 784)),
}


@pytest.mark.parametrize("scheme", sorted(EXPECTED_STD))
def test_scheme_draws_weights_with_the_published_spread(bundled_kernel, scheme):
    _, mod = bundled_kernel("mnist_mlp")
    params = mod.init_params(seed=1, dtype=np.float32, scheme=scheme)
    W1 = params["W1"]
    assert W1.shape == (256, 784) and W1.dtype == np.float32
    assert abs(W1.std() / EXPECTED_STD[scheme] - 1) < 0.01  # 200 704 draws: ~0.2 % noise
    if "uniform" in scheme or scheme == "pytorch":
        bound = np.sqrt(3) * EXPECTED_STD[scheme]
        assert np.abs(W1).max() <= bound and np.abs(W1).max() > 0.999 * bound
    else:
        assert np.abs(W1).max() > 4 * EXPECTED_STD[scheme]  # a normal's tail, not a uniform's
    if scheme == "pytorch":
        assert 0 < np.abs(params["b1"]).max() <= 1 / np.sqrt(784)
    else:
        assert not params["b1"].any()


def test_default_scheme_is_unchanged(bundled_kernel):
    _, mod = bundled_kernel("mnist_mlp")
    params = mod.init_params(0)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(params["W1"], rng.standard_normal((256, 784)) * np.sqrt(2.0 / 784))
    for name, value in mod.init_params(0, scheme="default").items():
        np.testing.assert_array_equal(value, params[name])


def test_schemes_are_reproducible_and_unknown_ones_refused(bundled_kernel):
    _, mod = bundled_kernel("tanh_mse")
    a, b = mod.init_params(5, scheme="xavier_uniform"), mod.init_params(5, scheme="xavier_uniform")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="unknown scheme 'glorot'"):
        mod.init_params(0, scheme="glorot")
