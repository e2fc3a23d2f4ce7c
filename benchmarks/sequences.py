"""One training step of the sequence networks (char_rnn, lstm_lm): the generated kernel against
hand-written NumPy (CS231n rnn_layers style), PyTorch eager (nn.RNN / nn.LSTM) and JAX
jit(value_and_grad) with lax.scan, float64 and float32.

From the repository root, with the peers of benchmarks/requirements.txt installed:

    python benchmarks/sequences.py [--rounds 15] [--out benchmarks/RESULTS.md]

writes (or replaces) the "Sequence networks" section of RESULTS.md, before the graph networks.
The protocol of graphs.py (whose settings and helpers it imports): one process, the same arrays
for every candidate, gradients checked equal before anything is timed, interleaved rounds
(timing.py) with a pause before every timed block, every candidate on one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import graphs  # noqa: E402 - first: it puts every library on one thread before they start
import handwritten_rnn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import timing  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812 - the name everyone uses

from symbp.codegen.load import load_module  # noqa: E402
from symbp.core.spec import load_spec  # noqa: E402
from symbp.verify.kernel import rel_err  # noqa: E402

MARK = "<!-- sequence networks (benchmarks/sequences.py) -->"
NETS = {"char_rnn": "rnn", "lstm_lm": "lstm"}
BATCH = 32
PEERS = graphs.PEERS
TOLERANCE = graphs.TOLERANCE
# generated key -> the PyTorch parameter it is copied to (one bias per layer: bias_hh stays 0)
TORCH_NAMES = {"E1": "embed.weight", "Wx2": "cell.weight_ih_l0", "b2": "cell.bias_ih_l0",
               "Wh2": "cell.weight_hh_l0", "W3": "out.weight", "b3": "out.bias"}


class TorchNet(torch.nn.Module):
    """nn.Embedding → nn.RNN / nn.LSTM (batch_first) → nn.Linear, the generated kernel's weights."""

    def __init__(self, cell: str, params: dict, dtype: torch.dtype):
        super().__init__()
        (vocab, dim), hidden = params["E1"].shape, params["Wh2"].shape[1]
        self.embed = torch.nn.Embedding(vocab, dim, dtype=dtype)
        make = torch.nn.RNN if cell == "rnn" else torch.nn.LSTM
        self.cell = make(dim, hidden, batch_first=True, dtype=dtype)
        self.out = torch.nn.Linear(hidden, params["W3"].shape[0], dtype=dtype)
        state = self.state_dict()
        with torch.no_grad():
            for key, name in TORCH_NAMES.items():
                state[name].copy_(torch.from_numpy(params[key]))
            state["cell.bias_hh_l0"].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.cell(self.embed(ids))[0])


def make_torch(cell, params, X, Y):
    net = TorchNet(cell, params, torch.float64 if params["E1"].dtype == np.float64 else torch.float32)
    named = dict(net.named_parameters())
    weights = [named[TORCH_NAMES[k]] for k in TORCH_NAMES]
    ids, target = torch.from_numpy(X), torch.from_numpy(Y.argmax(axis=2))

    def step():
        z = net(ids)
        J = F.cross_entropy(z.reshape(-1, z.shape[-1]), target.reshape(-1))
        return J, torch.autograd.grad(J, weights)

    def grads():
        J, g = step()
        return float(J.detach()), {k: t.numpy() for k, t in zip(TORCH_NAMES, g)}

    return step, grads


def _jax_cell(cell: str, Wh, H: int):
    """One step of the cell for lax.scan: (carry, input projection) → (carry, h)."""
    if cell == "rnn":
        def rnn(h, p):
            h = jnp.tanh(p + h @ Wh.T)
            return h, h
        return rnn, lambda B, dtype: jnp.zeros((B, H), dtype)

    def lstm(carry, p):
        h, c = carry
        a = p + h @ Wh.T
        i, f, o = (jax.nn.sigmoid(a[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
        c = f * c + i * jnp.tanh(a[:, 2 * H:3 * H])
        h = o * jnp.tanh(c)
        return (h, c), h
    return lstm, lambda B, dtype: (jnp.zeros((B, H), dtype), jnp.zeros((B, H), dtype))


def make_jax(cell, params, X, Y):
    P = {k: jnp.asarray(v) for k, v in params.items()}
    JX, JY = jnp.asarray(X), jnp.asarray(Y)
    H = params["Wh2"].shape[1]

    def loss(p, x, y):
        step, init = _jax_cell(cell, p["Wh2"], H)
        proj = p["E1"][x.T] @ p["Wx2"].T + p["b2"]  # (T, B, gates): time-major for the scan
        _, hs = jax.lax.scan(step, init(x.shape[0], proj.dtype), proj)
        z = hs @ p["W3"].T + p["b3"]
        return -(y.transpose(1, 0, 2) * jax.nn.log_softmax(z, axis=-1)).sum() / (x.shape[0] * x.shape[1])

    fn = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(fn(P, JX, JY))

    def step():
        return jax.block_until_ready(fn(P, JX, JY))

    def grads():
        J, g = step()
        return float(J), {k: np.asarray(v) for k, v in g.items()}

    return step, grads


def make_handwritten(cell, params, X, Y):
    f = handwritten_rnn.make_step(cell)
    return (lambda: f(params, X, Y)), (lambda: f(params, X, Y))


def case(name: str, dtype: type):
    """The bundled kernel generated/<name>.py and arrays: its parameters perturbed, token ids X,
    one-hot targets Y, shaped as the spec's graph at B = BATCH."""
    module = load_module((HERE.parent / "generated" / f"{name}.py").read_text("utf-8"), name)
    shapes = load_spec(name, graphs=True).graph(BATCH).inputs
    rng = np.random.default_rng(0)
    params = {k: v + dtype(0.1) * rng.standard_normal(v.shape).astype(dtype)
              for k, v in module.init_params(1, dtype).items()}
    vocab = shapes["Y"][-1]
    X = rng.integers(0, vocab, shapes["X"])
    Y = np.eye(vocab, dtype=dtype)[rng.integers(0, vocab, shapes["X"])]
    return module, params, X, Y


def measure(name: str, dtype: type, rounds: int) -> dict:
    module, params, X, Y = case(name, dtype)
    J, ref = module.loss_and_grad(params, X, Y)
    work: dict = {}
    J_work, g_work = module.loss_and_grad(params, X, Y, work=work)
    if J_work != J or any(not np.array_equal(g_work[k], ref[k]) for k in ref):
        raise SystemExit(f"{name} {dtype.__name__}: the workspace changes the result")
    makers = {"hand-written NumPy": make_handwritten, "PyTorch eager": make_torch, "JAX jit": make_jax}
    candidates = {"generated": lambda: module.loss_and_grad(params, X, Y, work=work),
                  "generated, no workspace": lambda: module.loss_and_grad(params, X, Y)}
    worst = {}
    for peer, make in makers.items():
        step, grads = make(NETS[name], params, X, Y)
        J_peer, g = grads()
        err = max([rel_err(np.asarray(J_peer), np.asarray(J))] + [rel_err(g[k], ref[k]) for k in ref])
        if err > TOLERANCE[dtype] or set(g) != set(ref):
            raise SystemExit(f"{name} {dtype.__name__}: {peer} differs from the generated kernel ({err:.1e})")
        worst[peer] = err
        candidates[peer] = step
    faults = {k: graphs.page_faults(candidates[k]) for k in ("generated", "generated, no workspace")}
    return {"times": timing.interleaved(candidates, rounds), "worst": worst, "faults": faults}


def report(results: dict, rounds: int, load: tuple[float, float]) -> str:
    ms = lambda s: f"{1000 * s:.2f}"  # noqa: E731
    lines = [*graphs.machine_lines(MARK, "Sequence networks: one training step", load),
             f"- {rounds} interleaved rounds, medians; ratios are medians of per-round ratios. Every timed "
             f"block starts after a pause of {graphs.PAUSE} s (with one untimed call and the garbage "
             "collector off), as for the graph networks.",
             f"- B = {BATCH}, T = 25. *generated* is `loss_and_grad(params, X, Y, work=work)` of "
             "`generated/<net>.py` with a workspace kept between calls (*no workspace*: without `work`). "
             "Gradients of every peer were checked against it first (relative error ≤ 1e-9 in float64, "
             "≤ 2e-3 in float32). Hand-written NumPy is `benchmarks/handwritten_rnn.py` (row lookup, one "
             "GEMM for all input projections, a forward loop storing the states and a backward loop in "
             "reverse time); PyTorch is `nn.Embedding`, `nn.RNN` / `nn.LSTM` (`batch_first`), `nn.Linear` "
             "and `F.cross_entropy` with `torch.autograd.grad`, the kernel's weights copied in (its one "
             "bias as `bias_ih`, `bias_hh` = 0); JAX `jit(value_and_grad)` with `lax.scan` over time.", "",
             "| net | dtype | generated ms | no workspace | hand-written NumPy | PyTorch eager | JAX jit | "
             "generated ÷ fastest peer | no workspace ÷ fastest peer | page faults per call, generated / "
             "no workspace |", "|---|---|---|---|---|---|---|---|---|---|"]
    bare = "generated, no workspace"
    for (name, dtype), r in results.items():
        t = r["times"]
        med = {k: timing.median(v) for k, v in t.items()}
        fastest = min(PEERS, key=lambda p: med[p])
        lines.append(f"| {name} | {dtype} | {ms(med['generated'])} | {ms(med[bare])} | "
                     + " | ".join(ms(med[p]) for p in PEERS)
                     + f" | **{timing.median_ratio(t['generated'], t[fastest]):.2f}** ({fastest}) | "
                     f"{timing.median_ratio(t[bare], t[fastest]):.2f} | "
                     f"{r['faults']['generated']:.0f} / {r['faults'][bare]:.0f} |")
    lines += [*graphs.per_peer_lines(results), "", "### Targets", "", *graphs.target_lines(results)]
    return "\n".join(lines + ["", LIMITS, ""])


LIMITS = """What limits the generated step (lstm_lm's float64 step with a workspace, profiled once
statement by statement with a line tracer, which inflates the per-statement overhead; shares of
the traced time): each compute of the derived cell writes in place into its own step array, the
gates are basic slices of the stacked pre-activation, σ is (1 + tanh(u/2))/2 in four in-place
passes, the four gates' gradients are written block by block into one (B, 4H) array and the
recurrent products read transposed operands as views, so a step is about as many NumPy calls as
the hand-written loop's (char_rnn: 3 forward and 8 backward; lstm_lm: 20 and 27). What remains is
the work every NumPy step does: the three recurrent GEMMs of each step on 32-row operands, far
from BLAS's peak (h·W_hᵀ, the carried δh = δs·W_h and ∂J/∂W_h, 44 % of the traced time), the
input projection and its two gradient products (15 %), and one pass over memory per elementwise
operation (σ's four passes for each of i, f, o), where PyTorch's nn.LSTM runs each step's gate
arithmetic as fused kernels (in float32 faster than NumPy) and XLA fuses it into its neighbours.
Without a workspace the step makes its arrays anew on each call; where NumPy's allocator reuses
freed memory (page faults per call 0, as here) that costs little, and on a loaded machine the two
timings differ by its noise."""


def write(section: str, path: Path) -> None:
    """The section in place of its previous text, else just before the graph networks' (which
    graphs.py and train_compare.py keep when they rewrite their own sections)."""
    text = path.read_text("utf-8")
    if MARK in text:
        before, _, rest = text.partition(MARK)
        after = rest[rest.index("<!-- "):] if "<!-- " in rest else ""
    else:
        before, _, after = text.partition(graphs.MARK)
        after = graphs.MARK + after if after else ""
    path.write_text(before.rstrip("\n") + "\n\n" + section + ("\n" + after if after else ""), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args()
    timing.PAUSE = graphs.PAUSE
    load0 = os.getloadavg()[0]
    results = {}
    for name in NETS:
        for dtype in (np.float64, np.float32):
            results[name, dtype.__name__] = r = measure(name, dtype, args.rounds)
            times = {k: f"{1000 * timing.median(v):.2f} ms" for k, v in r["times"].items()}
            print(name, dtype.__name__, times,
                  {k: f"{e:.1e}" for k, e in r["worst"].items()}, flush=True)
    section = report(results, args.rounds, (load0, os.getloadavg()[0]))
    print(section)
    if not args.no_write:
        write(section, Path(args.out))


if __name__ == "__main__":
    main()
