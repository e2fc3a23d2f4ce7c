"""The update rule of an optimiser as a document section (``symbp derive --optimizer NAME``):
its hyper-parameters, each assignment in LaTeX next to the NumPy statements the generated
``train_step`` runs for it, all printed from the registry's sympy rules."""

from __future__ import annotations

from ..codegen.update_code import UpdateCode, step_function
from ..core.optimizers import LATEX, G, Optimizer, P, optimizer, rule_latex, rule_text


def _value(v) -> str:
    return ", ".join(f"{x:g}" for x in v) if isinstance(v, tuple) else f"{v:g}"


def update_context(name: str | None) -> dict | None:
    """What ``_update_rule.j2`` shows for the optimiser ``name`` (None: no section)."""
    if name is None:
        return None
    opt: Optimizer = optimizer(name)
    code = UpdateCode(frozenset({P, G, *opt.state}))
    expanded = dict(zip(opt.rules, opt.expanded()))
    items = [{"math": rule_latex(t, e, "=" if d else r"\leftarrow"),
              "text": rule_text(t, e, "=" if d else "←"),
              "code": [] if d else code.rules([expanded[(t, e)]])} for t, e, d in opt.shown()]
    hyper = [{"keyword": h.keyword, "math": ", ".join(LATEX[s] for s in h.symbols),
              "value": _value(h.default)} for h in opt.hyper]
    return {"name": opt.name, "title": opt.title, "rules": items, "hyper": hyper,
            "scalars": step_function(opt)["scalars"], "lr": f"{opt.lr:g}",
            "state": ", ".join(LATEX[s] for s in opt.state)}
