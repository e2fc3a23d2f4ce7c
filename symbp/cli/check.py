"""The subcommands that check hand-written work: ``check``, ``verify`` and ``check-example``.

``symbp.cli.app`` registers them through ``COMMAND_MODULES``. Exit codes: 0 holds / passes, 1 does
not hold / fails, 2 bad input (unreadable claim, unknown name, bad file), 3 undecided (a claim
equal at every point tried that sympy could not prove).
"""

from __future__ import annotations

import argparse

from ..check.claim import check_claims, overall_exit_code, read_claims
from ..core.errors import SymbpError
from ..core.optimizers import NAMES
from ..core.options import BATCH, LEARNING_RATE_TEXT, SEED, TOLERANCE

SPEC_HELP = "a spec file (.toml/.json) or a bundled network name (default: mazur)"

CHECK_NOTATION = r"""
claims (one per --claim, or one per line of --claims FILE; # starts a comment line):
  neuron level, in the spec's names; a named intermediate stands for its definition:
    dE_total/dw5 = -(target_o1 - a_o1)*a_o1*(1 - a_o1)*a_h1
    d a_o1 / d z_o1 = a_o1*(1 - a_o1)          ∂E_total/∂w5 = delta_o1*a_h1
    E_total = 1/2*(target_o1 - a_o1)^2 + 1/2*(target_o2 - a_o2)^2
  LaTeX (w_5, a_{o_1}, E_{total} map to the spec's names; \frac, \partial, \cdot, \left( \right)):
    \frac{\partial E_{total}}{\partial w_5} = \delta_{o_1} \cdot a_{h_1}
  matrix level, one sample, column vectors, checked on small sizes for every layer l:
    delta[l] = W[l+1]^T delta[l+1] * a[l]*(1 - a[l])      dW[l] = delta[l] a[l-1]^T
    delta[L] = a[L] - y                                    \delta^l = ((W^{l+1})^T \delta^{l+1}) \odot g'(z^l)
    \delta_i^l = g'(z_i^l) \sum_j \delta_j^{l+1} w_{ji}^{l+1}   (entries from 1)
  a batch, one column per sample (A[l], Z[l], X, Y; dZ[l], dA[l] each sample's own; dW[l], db[l]
  of the batch mean J; m, N or B the batch size; sum(…) over the samples):
    dW[l] = 1/m * dZ[l] @ A[l-1]^T                         db[l] = 1/m * sum(dZ[l])
  products: ⊙ \odot .* elementwise; @ and juxtaposition matrix products; * \cdot elementwise
  between equal shapes, else a matrix product. Transpose: ^T ^\top ᵀ .T '
  sequence specs (steps t = 1 … T, zero outside; checked on T = 3 steps of 2 units):
    dWh = \sum_t dz_t h_{t-1}^T        delta_t = dy_t + Wh^T (delta_{t+1} * (1 - h_{t+1}^2))
    dc_{t-1} = dh_{t-1} * o_{t-1} * (1 - tanh(c_{t-1})^2) + dc_t * f_t      dWx = sum(t, dz_t x_t^T)
exit codes: 0 holds, 1 does not hold, 2 bad input, 3 undecided
"""

VERIFY_NOTE = """
Importing FILE.py runs the code in it: that is what verifying it means. Only run it on code you
trust. symbp itself never evaluates text.

conventions:
  symbp           fn(params, X, Y) -> (loss, grads); dicts W1, b1, ... shaped like the kernel
                  (sequence specs: E1, Wx2, Wh2, b2, ...; X (B, T) ids or (B, T, D), Y (B, T, K))
  in_out          fn(params, X, Y) -> (loss, grads); W{l} (in, out), b{l} (1, out) (seed 003)
  theta           fn(thetas, X, y, lam) -> (J, grads); Theta(l) (out, in+1), bias first (seed 004)
  theta_unrolled  fn(theta_vec, X, y, lam) -> (J, grad_vec); unrolled, --order F (Octave) or C
  nncost          nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels,
                  X, y, lam) -> (J, grad) (exercise 4, column-major)
exit codes: 0 pass, 1 a wrong gradient or loss (named), 2 the function cannot be loaded or called

optimiser steps (--optimizer adam, ...): cs231n  fn(w, dw, config) -> (next_w, config) (CS231n's
  optim.py); symbp  fn(p, g, state, t, lr, **hyper) -> new p. A wrong step is compared with
  known slips: bias correction missing, eps inside the square root, parameter updated before the
  moments, weight decay coupled where AdamW decouples it.

BPTT slips named for sequence specs: the sum over time left out (one step's term of dWh, dWx,
  db), the LSTM's forget-gate path through c_(t-1) missing, the GRU's reset gate on the wrong term.
"""

EXAMPLE_NOTE = """
Rows of --claimed: forward values and the loss (a_h1, E_total), delta_z_o1, gradients
(dE_total/dw5 or any dX/dY), updated parameters (w5+), any quantity after one step (E_total+)
or n steps (E_total@10000, run in float64), or an expression in the spec's names.
A claim agrees when it equals the computed value rounded to the decimals printed; a truncated
value is accepted and marked (rejected with --strict-rounding). Exit 1 if any row disagrees.
"""


def _spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default=None, help=SPEC_HELP)


def cmd_check(args: argparse.Namespace) -> int:
    texts = list(args.claim)
    if args.claims:
        texts += read_claims(args.claims)
    if not texts:
        raise SymbpError("nothing to check: give --claim TEXT or --claims FILE")
    reports = check_claims(args.spec, texts, numbering=args.layer_numbering, seed=args.seed)
    for k, report in enumerate(reports):
        if k:
            print()
        print(report.render())
    if len(reports) > 1:
        counts = {}
        for r in reports:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        print("\n" + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return overall_exit_code(reports)


def cmd_verify(args: argparse.Namespace) -> int:
    from ..check.function import check_function, load_function
    from ..codegen.memory import require
    from ..core.spec import Network, load_spec

    if args.optimizer:
        from ..verify.optimizer import check_step

        fn = load_function(args.function)
        report = check_step(fn, args.optimizer, args.convention, seed=args.seed)
        print(f"symbp verify: {args.function} as a step of {args.optimizer} ({args.convention})")
        print(report.render())
        return report.exit_code
    net = load_spec(args.spec, graphs=True)
    if not isinstance(net, Network):
        return _verify_graph(args, net)
    need = require(net, args.batch)  # before the user's file is imported
    fn = load_function(args.function)
    report = check_function(net, fn, args.convention, labels=args.labels, order=args.order,
                            batch=args.batch, seed=args.seed, tol=args.tol)
    print(f"symbp verify: {args.function}; {need}")
    print(report.render())
    return report.exit_code


def _verify_graph(args: argparse.Namespace, spec) -> int:
    """verify for a graph spec: the symbp convention, checked against the derived backward pass."""
    from ..check.function import FunctionError, load_function
    from ..check.slips import check_graph_function

    if args.convention != "symbp":
        raise FunctionError("graph specs take --convention symbp: fn(params, X, Y) -> (loss, grads) "
                            "with the kernel's parameter names")
    fn = load_function(args.function)
    report = check_graph_function(spec, fn, batch=args.batch, seed=args.seed, tol=args.tol)
    print(f"symbp verify: {args.function} (graph spec {spec.name})")
    print(report.render())
    return report.exit_code


def cmd_check_example(args: argparse.Namespace) -> int:
    from ..check.example import check_example, read_table
    from ..core.spec import Network, load_spec

    values = read_table(args.values) if args.values else None
    net = load_spec(args.spec, graphs=True)
    if not isinstance(net, Network):  # a graph spec: its element level
        from ..check.graph_example import check_graph_example

        if args.lr is not None:
            raise SymbpError("--lr applies to dense specs; a graph spec's example takes no step")
        report = check_graph_example(net, read_table(args.claimed), values, strict=args.strict_rounding)
        print(report.render())
        return report.exit_code
    report = check_example(net, read_table(args.claimed), values, lr=args.lr,
                           strict=args.strict_rounding)
    print(report.render())
    return report.exit_code


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register check, verify and check-example on the ``symbp`` parser."""
    from ..check.function import ADAPTERS, LABELS, ORDERS

    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("check", help="check a claimed formula (derivative, equation, matrix form)",
                       description="Check hand-written formulas against the derivation.",
                       epilog=CHECK_NOTATION, formatter_class=raw)
    _spec(p)
    p.add_argument("--claim", action="append", default=[], metavar="TEXT", help="a claim 'left = right'")
    p.add_argument("--claims", metavar="FILE", help="a file with one claim per line")
    p.add_argument("--layer-numbering", choices=["from0", "from1"], default="from0",
                   help="from0: a^0 = x (seed 000, default); from1: the input is layer 1 (seed 004)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the random test points")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("verify", help="check a hand-written gradient function (runs the file's code)",
                       description="Check a hand-written loss-and-gradient function against the "
                                   "derived kernel and central differences.",
                       epilog=VERIFY_NOTE, formatter_class=raw)
    _spec(p)
    p.add_argument("--function", required=True, metavar="FILE.py:NAME", help="the function to check")
    p.add_argument("--convention", choices=[*ADAPTERS, "cs231n"], default="symbp",
                   help="its calling convention")
    p.add_argument("--optimizer", choices=NAMES,
                   help="check an optimiser step instead (conventions symbp and cs231n)")
    p.add_argument("--labels", choices=list(LABELS), default="1",
                   help="labels for the theta conventions: 1..K (default), 0..K-1 or onehot")
    p.add_argument("--order", choices=list(ORDERS), default="F",
                   help="unrolling order for theta_unrolled: F column-major (Octave), C row-major")
    p.add_argument("--batch", type=BATCH, default=5, help="rows of the test batch")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the random parameters and data")
    p.add_argument("--tol", type=TOLERANCE, default=1e-6, help="largest relative error accepted")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("check-example", help="check the numbers of a worked example",
                       description="Check a table of claimed numbers against 30-digit arithmetic.",
                       epilog=EXAMPLE_NOTE, formatter_class=raw)
    _spec(p)
    p.add_argument("--claimed", required=True, metavar="TABLE",
                   help="claimed values, name -> value (TOML, JSON or CSV)")
    p.add_argument("--values", metavar="VALUES",
                   help="inputs, weights, biases, targets (and learning_rate); default: the spec's example")
    p.add_argument("--lr", type=LEARNING_RATE_TEXT, help="learning rate for updated values (w5+, E_total+)")
    p.add_argument("--strict-rounding", action="store_true",
                   help="count truncated values (0.751365069 for 0.7513650695) as disagreeing")
    p.set_defaults(func=cmd_check_example)
