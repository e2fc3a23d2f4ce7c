"""Render plans through the Jinja templates in ``templates/``.

Python produces every code line (``kernel.kernel_lines``); templates only place them.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import jinja2
import sympy as sp

from .._version import __version__
from ..backprop.matrix import MatrixDerivation, derive
from ..backprop.plan import Plan, build_plan
from ..core import activations as act
from ..core import naming
from ..core.functions import NUMPY_HELPERS, helpers_used
from ..core.spec import Network
from ..core.textprint import definition
from . import kernel, unrolled, update_code


def template_dir() -> Path:
    """The templates shipped in the wheel, or the top-level folder of a source checkout."""
    packaged = resources.files("symbp") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(str(resources.files("symbp"))).parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """One environment per process, so each template is compiled once (Jinja caches them)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False,
    )


def header_info(net: Network, template: str, command: str) -> dict[str, str]:
    from ..core.spec import one_line

    return {"version": __version__, "template": template, "network": one_line(net.name),
            "spec_hash": net.spec_hash(), "description": one_line(net.description or net.name),
            "command": one_line(command)}


def _activation_helpers(d: MatrixDerivation) -> list[dict]:
    """One NumPy function per activation the network uses, from the registry or the formula."""
    helpers, seen = [], set()
    for m in d.layers:
        if m.activation in seen:
            continue
        seen.add(m.activation)
        entry = d.network.activation(m.index)
        if entry.vector:
            helpers += _softmax_helpers(kernel.softmax_log(d, m.index))
            continue
        helper = kernel.activation_helper(entry)
        params = "".join(f", {p}" for p in helper.params) + (", out=None" if helper.takes_out else "")
        helpers.append({"signature": f"{m.activation}(z{params})",
                        "doc": definition(m.activation, entry.expr, _x()),
                        "body": list(helper.body)})
    if kernel.uses_logistic(d) and "sigmoid" not in seen:
        entry = act.REGISTRY["sigmoid"]
        helpers.append({"signature": "sigmoid(z, out=None)",
                        "doc": f"sigmoid(z) = {sp.sstr(entry.expr.subs(_x(), sp.Symbol('z')))}",
                        "body": list(kernel.activation_helper(entry).body)})
    if any(kernel.forward_pair(d, m.index) for m in d.layers):
        helpers.append({"signature": "sigmoid_pair(z, out)",
                        "doc": "sigmoid(z) into out and sigmoid(-z) into z, from one exp.",
                        "body": act.SIGMOID_PAIR.splitlines()})
    if kernel.uses_softplus(d) and "softplus" not in seen:
        entry = act.REGISTRY["softplus"]
        helpers.append({"signature": "softplus(z, out=None)",
                        "doc": definition("softplus", entry.expr, _x()),
                        "body": list(kernel.activation_helper(entry).body)})
    for name in helpers_used(kernel.kernel_formulas(d)):  # erf: NumPy has none
        signature, doc, body = NUMPY_HELPERS[name]
        helpers.append({"signature": signature, "doc": doc, "body": list(body)})
    return helpers


def _x() -> sp.Symbol:
    from ..core.activations import x

    return x


def _softmax_helpers(log: bool) -> list[dict]:
    """Row maxima through argmax and row sums as products with a column of ones: NumPy's
    reductions along short rows (10 classes) cost more than the arithmetic."""
    if log:
        return [{"signature": "log_softmax(z, out=None)",
                 "doc": "log softmax(z) row by row: z - m - log1p(sum of exp(z - m) off the maximum m).",
                 "body": ["# exp(z - m) <= 1 cannot overflow; log1p keeps a confident row's tiny loss",
                          "rows, top = np.arange(len(z)), z.argmax(axis=1)",
                          "shifted = np.subtract(z, z[rows, top][:, None], out=out)",
                          "e = np.exp(shifted)",
                          "e[rows, top] = 0.0",
                          "rest = e @ np.ones((e.shape[1], 1), e.dtype)",
                          "return np.subtract(shifted, np.log1p(rest), out=shifted)"]}]
    return [{"signature": "softmax(z, out=None)",
             "doc": "softmax(z) row by row, shifted by the row maximum so exp cannot overflow.",
             "body": ["top = z[np.arange(len(z)), z.argmax(axis=1)][:, None]",
                      "e = np.exp(np.subtract(z, top, out=out), out=out)",
                      "return np.divide(e, e @ np.ones((e.shape[1], 1), e.dtype), out=e)"]}]


def _inits(net: Network) -> list[tuple[str, str]]:
    out = []
    for name, shape in net.param_shapes().items():
        if name.startswith("W"):
            l = int(name[1:])
            fan_in = net.sizes[l - 1]
            scale = "np.sqrt(2.0 / {})" if net.layers[l - 1].activation in ("relu", "leaky_relu") \
                else "np.sqrt(1.0 / {})"
            out.append((name, f"(rng.standard_normal({shape}) * {scale.format(fan_in)}).astype(dtype)"))
        else:
            out.append((name, f"np.zeros({shape}, dtype=dtype)"))
    return out


def _updates(net: Network) -> list[tuple[str, str]]:
    out = []
    for name, shape in net.param_shapes().items():
        layer = net.layers[int(name[1:]) - 1]
        if name.startswith("b") and not layer.train_bias:
            out.append((name, f'params["{name}"]'))
        elif shape == ():
            out.append((name, f'np.asarray(params["{name}"] - lr * grads["{name}"])'))
        else:
            out.append((name, f'params["{name}"] - lr * grads["{name}"]'))
    return out


def numpy_context(plan: Plan, command: str) -> dict:
    d, net = plan.derivation, plan.derivation.network
    memory = kernel.memory_plan(plan)  # one buffer plan for every function of the module
    shapes = net.param_shapes()
    names = list(shapes)
    trained = list(net.trained_shapes())
    frozen = [n for n in names if n not in trained]
    layers: dict[str, list[str]] = {}
    for n in names:  # W1, b1, W2, … grouped by layer: one short line each
        layers.setdefault(n[1:], []).append(n)
    unpack = [", ".join(group) + " = " + ", ".join(f'params["{n}"]' for n in group)
              for group in layers.values()]
    return {
        "info": header_info(net, "numpy_module.py.j2", command),
        "sizes": net.sizes, "depth": net.depth, "shapes": list(shapes.items()),
        "param_names": names, "param_unpack": unpack,
        "layout_text": "(out, in): Z = A @ W.T + b" if net.weight_layout == "out_in"
        else "(in, out): Z = A @ W + b",
        "frozen": frozen, "frozen_tuple": repr(tuple(frozen)),
        "inits": _inits(net), "helpers": _activation_helpers(d),
        "workspace": kernel.workspace_entries(plan, memory),
        "forward": kernel.kernel_lines(plan, plan.forward, "forward", memory),
        "loss_forward": kernel.kernel_lines(plan, plan.forward, "loss", memory),
        "loss": kernel.kernel_lines(plan, plan.loss, "loss", memory),
        "train_forward": kernel.kernel_lines(plan, plan.forward + plan.loss, "train", memory),
        "backward": kernel.kernel_lines(plan, plan.backward, "train", memory),
        "output": naming.A(net.depth),
        "grads_dict": "{" + ", ".join(f'"{n}": d{n}' for n in trained) + "}",
        "updates": _updates(net),
        "fn": {"forward": "forward", "loss": "loss", "loss_and_grad": "loss_and_grad"},
        "trained_tuple": repr(tuple(trained)), **update_code.kernel_context(net),
    }


KERNELS = ("auto", "arrays", "unrolled")


def emit_numpy(net: Network, command: str | None = None, kernel: str = "auto", *,
               plan: Plan | None = None) -> str:
    """The NumPy module for ``net`` as text.

    ``kernel``: "arrays" (NumPy operations on whole batches), "unrolled" (Python floats neuron
    by neuron for small batches, with the array kernel for large ones) or "auto", which picks
    "unrolled" when ``unrolled.applies(net)`` (registry activations and loss, few weights).
    ``plan``: the network's plan when the caller has built it already (nothing is derived again).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, not {kernel!r}")
    command = command or f"symbp emit {net.name} -o {net.name}.py"
    plan = plan or build_plan(derive(net))
    if kernel == "unrolled" or (kernel == "auto" and unrolled.applies(net)):
        context = numpy_context(plan, command)
        context["info"] = header_info(net, "unrolled_module.py.j2", command)
        context["fn"] = {k: f"{k}_arrays" for k in context["fn"]}
        context.update(unrolled.context(plan))
        return environment().get_template("unrolled_module.py.j2").render(context)
    return environment().get_template("numpy_module.py.j2").render(numpy_context(plan, command))
