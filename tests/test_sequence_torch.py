"""PyTorch's layout and equations: weights of nn.RNN, nn.LSTM, nn.GRU (batch_first) and
nn.Embedding carry over to the generated kernels and back, with the same losses and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.codegen.graph_emit import emit_graph
from symbp.codegen.load import load_module
from symbp.core.graph_spec import from_dict

torch = pytest.importorskip("torch")

STEPS, HIDDEN, FEATURES, VOCAB, BATCH = 4, 3, 2, 5, 3


def _torch_layer(cell: str):
    kinds = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    return kinds[cell](FEATURES, HIDDEN, batch_first=True).double()


def _to_kernel(cell: str, w: dict[str, np.ndarray], position: int) -> dict[str, np.ndarray]:
    """PyTorch → symbp: Wx = weight_ih_l0, Wh = weight_hh_l0; LSTM and RNN add their two biases
    (b = b_ih + b_hh), the GRU keeps both (bx, bh): its reset gate multiplies Wh_n·h + bh_n."""
    out = {f"Wx{position}": w["weight_ih_l0"], f"Wh{position}": w["weight_hh_l0"]}
    if cell == "gru":
        out |= {f"bx{position}": w["bias_ih_l0"], f"bh{position}": w["bias_hh_l0"]}
    else:
        out[f"b{position}"] = w["bias_ih_l0"] + w["bias_hh_l0"]
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_pytorch_weights_give_the_same_loss_and_gradients(cell):
    spec = from_dict({"inputs": [STEPS], "loss": "softmax_ce", "layers": [
        {"type": "embedding", "vocab": VOCAB, "size": FEATURES}, {"type": cell, "size": HIDDEN},
        {"size": VOCAB, "activation": "softmax"}]})
    module = load_module(emit_graph(spec), f"torch_{cell}")
    torch.manual_seed(0)
    embed, rec = torch.nn.Embedding(VOCAB, FEATURES).double(), _torch_layer(cell)
    out = torch.nn.Linear(HIDDEN, VOCAB).double()
    rng = np.random.default_rng(1)
    X, labels = rng.integers(0, VOCAB, (BATCH, STEPS)), rng.integers(0, VOCAB, (BATCH, STEPS))
    Y = np.eye(VOCAB)[labels]
    states, _ = rec(embed(torch.from_numpy(X)))
    logits = out(states)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(labels).reshape(-1))
    loss.backward()
    weights = {k: v.detach().numpy().copy() for k, v in rec.named_parameters()}
    params = {"E1": embed.weight.detach().numpy(), **_to_kernel(cell, weights, 2),
              "W3": out.weight.detach().numpy(), "b3": out.bias.detach().numpy()}
    J, grads = module.loss_and_grad(params, X, Y)
    assert J == pytest.approx(loss.item(), rel=1e-12)
    expected = {"E1": embed.weight.grad.numpy(), "W3": out.weight.grad.numpy(), "b3": out.bias.grad.numpy(),
                **_to_kernel(cell, {k: v.grad.numpy() for k, v in rec.named_parameters()}, 2)}
    for name, grad in expected.items():
        if name.startswith("b2"):  # ∂J/∂b_ih = ∂J/∂b_hh = ∂J/∂b: the sum doubles it
            grad = grad / 2
        np.testing.assert_allclose(grads[name], grad, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_kernel_weights_carry_over_to_pytorch_with_the_same_outputs(cell):
    """symbp → PyTorch: the kernel's parameters loaded into nn modules give the same outputs,
    also for return = "last" (the last state h_T)."""
    spec = from_dict({"inputs": [STEPS, FEATURES], "loss": "mse", "layers": [
        {"type": cell, "size": HIDDEN, "return": "last"}, {"size": 2}]})
    module = load_module(emit_graph(spec), f"torch_last_{cell}")
    params = module.init_params(seed=4)
    rec = _torch_layer(cell)
    with torch.no_grad():
        rec.weight_ih_l0.copy_(torch.from_numpy(params["Wx1"]))
        rec.weight_hh_l0.copy_(torch.from_numpy(params["Wh1"]))
        if cell == "gru":
            rec.bias_ih_l0.copy_(torch.from_numpy(params["bx1"]))
            rec.bias_hh_l0.copy_(torch.from_numpy(params["bh1"]))
        else:
            rec.bias_ih_l0.copy_(torch.from_numpy(params["b1"]))
            rec.bias_hh_l0.zero_()
    X = np.random.default_rng(5).standard_normal((BATCH, STEPS, FEATURES))
    states, _ = rec(torch.from_numpy(X))
    mine = module.forward(params, X)
    theirs = states[:, -1].detach().numpy() @ params["W2"].T + params["b2"]
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)
