"""One dispatch per step kind: every interpreter of a plan maps every kind of ``STEP_KINDS``.

Each interpreter (the NumPy printers of ``plan.numpy_lines``, the array kernel, the unrolled
kernel, the symbolic proof, the documents' algorithm) dispatches through one dict keyed by kind.
A kind added to ``STEP_KINDS`` without a handler in each of them fails the coverage test, and no
module may dispatch on a step kind by comparing it with a kind's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from symbp.backprop import plan as plan_mod
from symbp.backprop.matrix import derive
from symbp.backprop.plan import STEP_KINDS, Plan, Step, build_plan
from symbp.codegen import kernel, unrolled
from symbp.core.spec import load_spec
from symbp.docs.matrix_section import STEP_MATH, MatrixTex
from symbp.verify.proof import SYMBOLIC_STEPS, run_plan_symbolic, symbolic_params

INTERPRETERS: dict[str, dict] = {
    "plan.numpy_lines": plan_mod.PRINTERS,
    "kernel": kernel.STEP_PRINTERS,
    "unrolled": unrolled.UNROLLED_STEPS,
    "proof": SYMBOLIC_STEPS,
    "documents": STEP_MATH,
}
# kinds an interpreter leaves out on purpose, with the reason; none does today
DECLARED_EXCEPTIONS: dict[str, frozenset[str]] = {name: frozenset() for name in INTERPRETERS}


def coverage_gaps(handlers: dict, skipped: frozenset[str]) -> tuple[set[str], set[str]]:
    """(kinds of ``plan.STEP_KINDS`` nobody handles, handled or skipped names that are no kind)."""
    kinds = set(plan_mod.STEP_KINDS)
    covered = set(handlers) | set(skipped)
    return kinds - covered, covered - kinds


@pytest.mark.parametrize("name", sorted(INTERPRETERS))
def test_interpreter_maps_every_step_kind(name):
    assert coverage_gaps(INTERPRETERS[name], DECLARED_EXCEPTIONS[name]) == (set(), set())


def test_a_planted_step_kind_fails_the_coverage_check_of_every_interpreter(monkeypatch):
    monkeypatch.setattr(plan_mod, "STEP_KINDS", STEP_KINDS + ("planted",))
    for name, handlers in INTERPRETERS.items():
        missing, extra = coverage_gaps(handlers, DECLARED_EXCEPTIONS[name])
        assert (missing, extra) == ({"planted"}, set()), name


def test_a_step_of_an_undeclared_kind_is_refused():
    with pytest.raises(ValueError, match="planted"):
        Step("Z1", "planted", 1, "z = ?")


NET = {"inputs": 2, "loss": "half_sse", "layers": [  # trained biases and a hidden layer: every kind
    {"size": 2, "activation": "sigmoid"}, {"size": 2, "activation": "sigmoid"}]}


def _plan() -> Plan:
    return build_plan(derive(load_spec(NET)))


def test_a_plan_holds_every_declared_step_kind():
    p = _plan()
    assert {step.kind for step in p.forward + p.loss + p.backward} == set(STEP_KINDS)


def _run_kernel(p: Plan) -> None:
    kernel.kernel_lines(p, p.forward + p.loss + p.backward, "train")


def _run_unrolled(p: Plan) -> None:
    unrolled.context(p)


def _run_proof(p: Plan) -> None:
    params, X, Y = symbolic_params(p.derivation.network, 1)
    run_plan_symbolic(p, params, X, Y)


def _run_documents(p: Plan) -> None:
    MatrixTex(p).algorithm()


def _run_printers(p: Plan) -> None:
    plan_mod.numpy_lines(p.forward + p.loss + p.backward, p.derivation)


RUNS: dict[str, Callable[[Plan], None]] = {
    "plan.numpy_lines": _run_printers, "kernel": _run_kernel, "unrolled": _run_unrolled,
    "proof": _run_proof, "documents": _run_documents,
}


@pytest.mark.parametrize("name", sorted(INTERPRETERS))
def test_interpreter_reaches_every_step_through_its_dict(name, monkeypatch):
    """Each handler of the dict is the one that runs: wrapped, every step kind is recorded."""
    seen: set[str] = set()
    handlers = INTERPRETERS[name]
    for kind, handler in list(handlers.items()):
        def recorded(*args, _kind=kind, _handler=handler):
            seen.add(_kind)
            return _handler(*args)
        monkeypatch.setitem(handlers, kind, recorded)
    RUNS[name](_plan())
    assert seen == set(STEP_KINDS) - DECLARED_EXCEPTIONS[name]


STEP_KIND_TEST = re.compile(r"step\.kind\s*(?:==|!=)|getattr\([^)]*step\.kind")


def test_no_module_dispatches_on_a_step_kind_by_comparison():
    package = Path(plan_mod.__file__).resolve().parents[1]
    offenders = [f"{path.relative_to(package)}:{n}"
                 for path in sorted(package.rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if STEP_KIND_TEST.search(line)]
    assert offenders == []
