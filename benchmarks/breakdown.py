"""Where a generated training step spends its time, statement by statement.

The statements of the generated ``loss_and_grad`` are compiled one by one and run in order on
the benchmark's data, each timed on its own; the sums per kind (matrix products, bias adds,
activations, …) show what separates the step from its GEMM floor. The cost of the timing itself
(an empty statement timed alike) is taken off each statement.
"""

from __future__ import annotations

import ast
import gc
import inspect
import re
import statistics
import textwrap
import time
from types import ModuleType

GEMM = "matrix products (the GEMM floor's)"
# (kind, pattern on the statement's source), first match wins
KINDS = (
    ("bias sums (ones · δ)", re.compile(r"np\.matmul\(ws\['ones'\]")),
    (GEMM, re.compile(r"np\.matmul\(")),
    ("bias adds (z += b)", re.compile(r"^Z\d+ \+= b\d+$")),
    ("loss and output error", re.compile(r"^(J|delta\d+ /=|logA\d+|A\d+ = np\.exp|delta\d+ = np\.subtract)")),
    ("activations a = g(z)", re.compile(r"^A\d+ = ")),
    ("derivative factors (δ ⊙ g')", re.compile(r"^(H\d+ = |delta\d+ \*=)")),
)
OTHER = "the rest (workspace lookup, names, regularization)"


def _statements(module: ModuleType) -> list[tuple[str, object]]:
    source = textwrap.dedent(inspect.getsource(module.loss_and_grad))
    body = ast.parse(source).body[0].body
    out = []
    for node in body:
        if isinstance(node, ast.Return) or (isinstance(node, ast.Expr)
                                            and isinstance(node.value, ast.Constant)):
            continue
        out.append((ast.unparse(node), compile(ast.Module([node], []), "<kernel>", "exec")))
    return out


def kind(statement: str) -> str:
    for name, pattern in KINDS:
        if pattern.search(statement):
            return name
    return OTHER


def outside_gemm(kinds: dict[str, float]) -> tuple[float, float]:
    """(seconds, share of the step) spent outside the matrix products, from ``by_kind``."""
    rest = sum(t for name, t in kinds.items() if name != GEMM)
    return rest, rest / sum(kinds.values())


def _overhead(repeats: int = 2000) -> float:
    """Seconds the timing itself adds to one statement: an empty statement, timed alike."""
    code, env, best = compile("pass", "<kernel>", "exec"), {}, float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        exec(code, env)  # noqa: S102
        best = min(best, time.perf_counter() - start)
    return best


def by_kind(module: ModuleType, params: dict, X, Y, rounds: int = 200) -> dict[str, float]:
    """Seconds per step spent in each kind of statement (per-statement medians, less the
    timing's own cost, summed by kind)."""
    statements = _statements(module)
    times: list[list[float]] = [[] for _ in statements]
    work: dict = {}
    gc.disable()
    try:
        for r in range(rounds + 1):
            env = dict(vars(module), params=params, X=X, Y=Y, work=work)
            for i, (_, code) in enumerate(statements):
                start = time.perf_counter()
                exec(code, env)  # noqa: S102 - the generated module's own statements
                if r:  # round 0 warms the workspace up
                    times[i].append(time.perf_counter() - start)
    finally:
        gc.enable()
    cost = _overhead()
    totals = {name: 0.0 for name, _ in KINDS} | {OTHER: 0.0}
    for (text, _), ts in zip(statements, times):
        totals[kind(text)] += max(0.0, statistics.median(ts) - cost)
    return totals
