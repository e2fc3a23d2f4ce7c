"""RESULTS.md from the measurements of run.py (plain data in, Markdown out)."""

from __future__ import annotations

from pathlib import Path

from breakdown import outside_gemm

PEERS = ("hand-written NumPy", "PyTorch eager", "JAX jit", "autograd")
GEN, GEN_NOWORK, FLOOR = "generated", "generated, no workspace", "GEMM floor"
ARRAYS, FLOATS = "generated, array kernel", "Python floats, neuron by neuron"
JAX_IO = "JAX jit, NumPy in and out"


def us(seconds: float) -> str:
    v = seconds * 1e6
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _step_table(w, run: dict, load_column: bool = True) -> None:
    cols = [GEN, GEN_NOWORK, *PEERS]
    extra = " load |" if load_column else ""
    w("| net | B | dtype | " + " | ".join(cols) + " | generated ÷ fastest peer |" + extra)
    w("|---" * (len(cols) + 4 + load_column) + "|")
    for r in run["results"]:
        cells = [us(r["median"][k]) for k in cols]
        load = f" {r['load'][0]:.1f}–{r['load'][1]:.1f} |" if load_column else ""
        w(f"| {r['net']} {r['label']} | {r['batch']} | {r['dtype']} | " + " | ".join(cells)
          + f" | **{r['vs_fastest']:.2f}** ({r['fastest_peer']}) |" + load)
    w("")


def _floor_table(w, run: dict) -> None:
    peaks = run["peaks"]
    w("| net | dtype | GFLOP 6BΣ / needed | GEMM floor µs | generated µs | floor ÷ generated "
      "| roofline µs | roofline ÷ generated |")
    w("|---|---|---|---|---|---|---|---|")
    for r in run["results"]:
        total, needed = r["flops"]
        best = max(peaks[r["dtype"]].values())
        roof = needed / best
        w(f"| {r['net']} | {r['dtype']} | {total / 1e9:.3f} / {needed / 1e9:.3f} "
          f"| {us(r['median'][FLOOR])} | {us(r['median'][GEN])} | **{r['floor_fraction']:.3f}** "
          f"| {us(roof)} | {roof / r['median'][GEN]:.2f} |")
    w("")


def _targets(w, run: dict, deriv: dict | None, mem: dict | None, title: str) -> None:
    w(f"{title}\n")

    def line(ok: bool, text: str) -> None:
        w(f"- [{'x' if ok else ' '}] {text}")

    for r in run["results"]:
        line(r["vs_fastest"] <= 1.0, f"{r['net']} {r['dtype']}: generated ÷ fastest peer "
             f"({r['fastest_peer']}) = {r['vs_fastest']:.2f} (target ≤ 1.00)")
    for r in run["results"]:
        if r["net"] in ("mnist_mlp", "wide"):
            line(r["floor_fraction"] >= 0.97, f"{r['net']} {r['dtype']}: GEMM floor ÷ generated = "
                 f"{r['floor_fraction']:.3f} (target ≥ 0.97)")
        if r["net"] == "mazur":
            line(r["vs"]["JAX jit"] <= 0.2, f"mazur {r['dtype']}: generated ÷ JAX jit = "
                 f"{r['vs']['JAX jit']:.2f} (target ≤ 0.20)")
    if deriv:
        mn = deriv["sweeps"]["mnist_mlp"]["first"]
        deep = dict(deriv["sweeps"]["depth"])[64]["first"]
        n = deriv["neuron"]
        line(mn <= 0.5, f"derive + emit mnist_mlp: {mn:.2f} s (target ≤ 0.5 s)")
        line(deep <= 5, f"derive + emit, 64 hidden layers: {deep:.2f} s (target ≤ 5 s)")
        line(max(n["mazur"]["first"], n["2-3-2"]["first"]) <= 1,
             f"neuron-level derivation, seed 000 and 2-3-2: {n['mazur']['first']:.2f} s and "
             f"{n['2-3-2']['first']:.2f} s (target ≤ 1 s)")
    if mem:
        acts, grads = mem["yardstick"]
        ratio = mem["generated"] / (acts + grads)
        line(ratio <= 1.25, f"peak extra memory of loss_and_grad, mnist_mlp, B = {mem['batch']}: "
             f"{ratio:.2f}× (activations + gradients) (target ≤ 1.25×)")
    w("")


def _avx512(core: str) -> str:
    """A note on the instruction set of OpenBLAS's AVX-512 kernel sets."""
    avx512 = ("SkylakeX", "Cooperlake", "SapphireRapids", "Zen5")
    return " (AVX-512 kernels)" if core in avx512 else ""


def write(path: Path, info: dict, run: dict, second: dict | None, mem: dict | None,
          deriv: dict | None, load: tuple, elapsed: float) -> None:
    lines: list[str] = []
    w = lines.append
    w("# Benchmark results\n")
    w("Produced by `python benchmarks/run.py` (from the repository root; peers from "
      "`benchmarks/requirements.txt`). Do not edit by hand: rerun the command.\n")
    w(f"- Machine: {info['cpu']} (CPU family {info['family']}), {info['cores']} cores; load average "
      f"(1 min) {load[0]:.2f} before and {load[1]:.2f} after the run, which took {elapsed / 60:.1f} min.")
    pinned = f", pinned by OPENBLAS_CORETYPE={info['coretype_env']}" if info["coretype_env"] else ""
    w(f"- Python {info['python']}, NumPy {info['numpy']} ({info['blas']}, kernels: "
      f"{info['openblas_core']}{pinned}), "
      f"PyTorch {info['torch']} ({info['torch_threads']} threads), JAX {info['jax']} / jaxlib "
      f"{info['jaxlib']}, autograd {info['autograd']}, sympy {info['sympy']}, symbp {info['symbp']}.")
    w(f"- {run['rounds']} interleaved rounds per network and dtype; times are medians over rounds, "
      "ratios are medians of per-round ratios. *generated* is `loss_and_grad(params, X, Y, work)` "
      "with a workspace dict kept between steps (the intended training loop); *no workspace* is "
      "the plain call. Gradients of every candidate were checked against the generated kernel "
      "before timing (relative error ≤ 1e-9 in float64, ≤ 2e-3 in float32).\n")

    w("## One training step (forward + loss + all gradients), µs\n")
    _step_table(w, run)
    w("*load*: 1-minute load average before and after the network's rounds.\n")
    w("Generated ÷ each peer (median of per-round ratios; below 1 the generated step is faster):\n")
    w("| net | dtype | " + " | ".join(PEERS) + " |")
    w("|---" * (len(PEERS) + 2) + "|")
    for r in run["results"]:
        w(f"| {r['net']} | {r['dtype']} | " + " | ".join(f"{r['vs'][p]:.2f}" for p in PEERS) + " |")
    w("")
    for r in run["results"]:
        if ARRAYS in r["median"]:
            text = (f"- {r['net']} {r['dtype']}: the unrolled kernel {us(r['median'][GEN])} µs; the "
                    f"same module's array kernel {us(r['median'][ARRAYS])} µs; JAX jit "
                    f"{us(r['median']['JAX jit'])} µs on its own arrays, {us(r['median'][JAX_IO])} µs "
                    "called like a NumPy kernel (NumPy arrays in and out)")
            if FLOATS in r["median"]:
                text += (f"; hand-written Python floats with no arrays at all (floats in, floats "
                         f"out) {us(r['median'][FLOATS])} µs")
            w(text + ".")
    w("")

    w("## GEMM floor and roofline\n")
    peaks = run["peaks"]
    w("*GEMM floor*: only the step's own matrix products (same shapes and transpositions, "
      "preallocated outputs), timed in the same rounds. *Roofline*: the FLOPs the step needs "
      "(6·B·Σ n_in·n_out less the 2·B·n₀·n₁ of δ⁰, which is never formed) at the best 2048³ "
      "product measured on this machine: NumPy "
      f"{peaks['float64']['numpy'] / 1e9:.0f} / {peaks['float32']['numpy'] / 1e9:.0f} GFLOP/s, "
      f"JAX {peaks['float64']['jax'] / 1e9:.0f} / {peaks['float32']['jax'] / 1e9:.0f} GFLOP/s "
      "(float64 / float32).\n")
    _floor_table(w, run)

    if second:
        p2 = second["peaks"]
        w("## The same with OpenBLAS's own choice of kernels\n")
        w(f"The environment pins OpenBLAS to its {info['openblas_core']} kernels "
          f"(OPENBLAS_CORETYPE={info['coretype_env']}); on this CPU OpenBLAS itself picks "
          f"{second['openblas_core']}{_avx512(second['openblas_core'])}. The timing part "
          "again, in a child process without the pin (NumPy only is affected: the generated "
          "kernel, hand-written NumPy and the GEMM floor): NumPy's 2048³ product reaches "
          f"{p2['float64']['numpy'] / 1e9:.0f} / {p2['float32']['numpy'] / 1e9:.0f} GFLOP/s.\n")
        _step_table(w, second)
        _floor_table(w, second)

    _targets(w, run, deriv, mem, "## Targets\n\nAs the machine is configured:")
    if second:
        _targets(w, second, None, None, "With OpenBLAS's own choice of kernels:")
    _gaps(w, info, run, second)
    if run.get("breakdown"):
        _breakdown(w, run)
    if deriv:
        _derivation(w, deriv)
    if mem:
        _memory(w, mem)
    w("## How to read this\n")
    w("- The generated kernels are the modules `symbp emit` writes (`generated/*.py` for the "
      "bundled networks). mazur is small enough for the unrolled kernel (Python floats, neuron "
      "by neuron; picked by `symbp.codegen.unrolled.applies`); the others are array kernels.")
    w("- Hand-written NumPy (`benchmarks/handwritten.py`) is careful vectorized code: stored "
      "activations, fused output errors, stable log-sum-exp and softplus, in-place `*=`; it "
      "allocates its arrays on every call. PyTorch uses `F.linear` and fused losses with "
      "`torch.autograd.grad`; JAX is `jit(value_and_grad(loss))` on arrays already on its device, "
      "compiled before timing, each call ending in `block_until_ready`; autograd differentiates "
      "symbp's reference loss (`symbp.verify.kernel.reference_loss`, written from the definitions).")
    w("- On Linux a new large array costs a page fault per 4 KiB on first touch, which on this "
      "machine is more than the arithmetic on it; the workspace removes those from the "
      "generated step. Absolute times drift on a shared machine; ratios measured in one round hold.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _gaps(w, info: dict, run: dict, second: dict | None) -> None:
    """Each target the main run misses: the measured gap and what limits it."""
    w("## Open targets: the gap and what limits it\n")
    other = {(r["net"], r["dtype"]): r for r in second["results"]} if second else {}
    peaks, shares = run["peaks"], {(b["net"], b["dtype"]): b["kinds"] for b in run.get("breakdown", [])}
    found = False
    for r in run["results"]:
        m, key = r["median"], (r["net"], r["dtype"])
        if r["vs_fastest"] > 1.0:
            found = True
            pk = peaks[r["dtype"]]
            text = f"- {r['net']} {r['dtype']}: {r['vs_fastest']:.2f}× {r['fastest_peer']}. "
            if r["fastest_peer"] == "JAX jit":
                text += (f"JAX's whole step takes {us(m['JAX jit'])} µs, the generated step's "
                         f"matrix products alone (GEMM floor) {us(m[FLOOR])} µs: NumPy's GEMMs "
                         f"with OpenBLAS's {info['openblas_core']} kernels reach "
                         f"{pk['numpy'] / 1e9:.0f} GFLOP/s on a 2048³ product, XLA's "
                         f"{pk['jax'] / 1e9:.0f}.")
                if key in shares:
                    text += (f" Besides, {100 * outside_gemm(shares[key])[1]:.0f} % of the generated "
                             "step is outside the matrix products (table below): elementwise "
                             "passes that XLA fuses into its GEMMs and NumPy runs one by one.")
            else:
                text += (f"The same NumPy calls on the same GEMMs; the medians differ by "
                         f"{us(abs(m[GEN] - m[r['fastest_peer']]))} µs.")
            if key in other:
                text += (f" With OpenBLAS's own choice of kernels the ratio is "
                         f"{other[key]['vs_fastest']:.2f} ({other[key]['fastest_peer']}).")
            w(text)
        if r["net"] in ("mnist_mlp", "wide") and r["floor_fraction"] < 0.97:
            found = True
            text = (f"- {r['net']} {r['dtype']}: GEMM floor ÷ generated {r['floor_fraction']:.3f}. "
                    f"The step does {us(m[GEN] - m[FLOOR])} µs of work besides its matrix products")
            if key in shares:
                rest, share = outside_gemm(shares[key])
                text += (f"; timed statement by statement (table below) that is {us(rest)} µs, "
                         f"{100 * share:.1f} % of the step: bias adds, activations, "
                         "derivative factors, the softmax and the bias sums, each a pass over an "
                         "activation-sized array that NumPy cannot fuse into the GEMM before it")
            w(text + ".")
        if r["net"] == "mazur" and r["vs"]["JAX jit"] > 0.2:
            found = True
            gen, floats, jx = m[GEN], m.get(FLOATS), m["JAX jit"]
            text = (f"- mazur {r['dtype']}: {r['vs']['JAX jit']:.2f}× JAX jit; 0.2× its "
                    f"{us(jx)} µs is {us(0.2 * jx)} µs.")
            if floats:
                text += (f" The arithmetic alone, on Python floats with no arrays, takes "
                         f"{us(floats)} µs; reading the parameters and rows out of arrays and "
                         f"writing the gradients back into arrays of the input dtype costs the other "
                         f"{us(gen - floats)} µs.")
            w(text)
    if not found:
        w("None: every target is met.")
    w("")


def _breakdown(w, run: dict) -> None:
    rows = run["breakdown"]
    kinds = list(rows[0]["kinds"])
    w("### Where the generated step's time goes (µs per step)\n")
    w("Each statement of `loss_and_grad` timed on its own (`breakdown.py`: medians over rounds, "
      "less the cost of the timing itself), summed by kind.\n")
    w("| net | dtype | " + " | ".join(kinds) + " | outside the matrix products |")
    w("|---" * (len(kinds) + 3) + "|")
    for b in rows:
        k = b["kinds"]
        w(f"| {b['net']} | {b['dtype']} | " + " | ".join(us(k[n]) for n in kinds)
          + f" | {100 * outside_gemm(k)[1]:.1f} % |")
    w("")


def _derivation(w, deriv: dict) -> None:
    s = deriv["sweeps"]
    w("## Derivation speed\n")
    w("Each figure is the first derive + emit (`symbp.emit_numpy`, matrix level: derivation, "
      "plan, printing, template) in a fresh process; the import is not timed. *again*: the same "
      "call a second time in that process.\n")
    w(f"mnist_mlp: {s['mnist_mlp']['first']:.3f} s (again {s['mnist_mlp']['again']:.3f} s).\n")
    w("| hidden layers (width 64) | " + " | ".join(str(n) for n, _ in s["depth"]) + " |")
    w("|---" * (len(s["depth"]) + 1) + "|")
    w("| first, s | " + " | ".join(f"{r['first']:.2f}" for _, r in s["depth"]) + " |")
    w("| again, s | " + " | ".join(f"{r['again']:.3f}" for _, r in s["depth"]) + " |")
    w("")
    w("| width (3 layers) | " + " | ".join(str(n) for n, _ in s["width"]) + " |")
    w("|---" * (len(s["width"]) + 1) + "|")
    w("| first, s | " + " | ".join(f"{r['first']:.2f}" for _, r in s["width"]) + " |")
    w("| again, s | " + " | ".join(f"{r['again']:.3f}" for _, r in s["width"]) + " |")
    w("")
    w("The first call is mostly sympy deriving each activation's g' once (cached afterwards); "
      "*again* is the per-layer work of planning and printing, linear in depth and flat in width.\n")
    n = deriv["neuron"]
    w(f"Neuron level (`symbp.backprop.neuron.derive_neurons`, every ∂E/∂w as its chain-rule product): seed "
      f"000's network {n['mazur']['first']:.3f} s, a 2-3-2 sigmoid network {n['2-3-2']['first']:.3f} s.\n")
    w("symbp against plain `sympy.diff` of the fully expanded loss (sigmoid layers, ½Σ(y − a)², one "
      "sample; *plain diff*: build E from the definitions and call `sympy.diff` for every weight "
      "and bias; *+ simplify*: then `sympy.simplify` each result, as one must to read it; each "
      f"in a fresh process, killed after {deriv['timeout']:.0f} s). symbp's neuron level gives "
      "every ∂E/∂w as its simplified chain-rule product; its matrix level (the δ recurrence, "
      "which the kernels use) does not grow with width at all:\n")
    w("| net | symbp neuron level, s | symbp matrix level, s | plain diff, s | plain diff + simplify, s "
      "| plain diff ÷ neuron level |")
    w("|---|---|---|---|---|---|")
    limit = f"> {deriv['timeout']:.0f} (killed)"

    def cell(r) -> str:
        if r is None:
            return limit
        if r == "skipped":
            return "not tried (a smaller net timed out)"
        if "error" in r:
            return "refused: too many paths" if "too large" in r["error"] else r["error"]
        return f"{r['first']:.2f}"

    for row in n["compare"]:
        neuron, plain = row["neuron"], row["plain"]
        ratio = "–"
        if isinstance(neuron, dict) and isinstance(plain, dict) and "first" in neuron and "first" in plain:
            ratio = f"{plain['first'] / neuron['first']:.1f}×"
        elif plain is None and isinstance(neuron, dict) and "first" in neuron:
            ratio = f"> {deriv['timeout'] / neuron['first']:.0f}×"
        w(f"| {row['sizes']} | {cell(neuron)} | {cell(row['matrix'])} | {cell(plain)} | "
          f"{cell(row['plain_simplify'])} | {ratio} |")
    w("")


def _memory(w, mem: dict) -> None:
    acts, grads = mem["yardstick"]
    base = acts + grads

    def mb(b: int) -> str:
        return f"{b / 2**20:.2f} MiB"

    w("## Memory\n")
    w(f"mnist_mlp, B = {mem['batch']}, float64, tracemalloc (NumPy reports its arrays): peak memory "
      "during the call above the level before it, the returned gradients included. Yardstick: "
      f"activations a¹…a^L {mb(acts)} + gradients {mb(grads)} = {mb(base)}.\n")
    w("| call | peak extra | ÷ (activations + gradients) |")
    w("|---|---|---|")
    for label, key in (("generated, plain call", "generated"),
                       ("generated, first call with a workspace (allocates it)", "work_first"),
                       ("generated, later calls with the workspace", "work_again"),
                       ("hand-written NumPy", "hand")):
        w(f"| {label} | {mb(mem[key])} | {mem[key] / base:.2f} |")
    w("")
