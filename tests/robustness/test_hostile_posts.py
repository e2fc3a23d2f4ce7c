"""Hostile posts for check-post: each is read and checked in bounded time, without an exception
other than PostError, and every span it yields gets a verdict with a reason."""

from __future__ import annotations

import time

import pytest

from symbp.check.post import parse_post
from symbp.check.post_check import check_post
from symbp.check.post_infer import InferenceError, infer_network
from symbp.core.spec import load_spec

from .tally import count

NESTED = "{" * 5_000 + "x" + "}" * 5_000
HOSTILE_POSTS = {
    "unclosed display": "$$ a = 1\n" + "text\n" * 10_000,
    "unpaired dollars": "$ " * 50_000,
    "def in math": "$$\n\\def\\x{\\x\\x} \\x = 1\n$$\n",
    "input in math": "\\[ \\input{/etc/passwd} = 1 \\]",
    "include and catcode": "$\\include{x} = 1$ and $\\catcode`\\$=11 a = 1$",
    "newcommand in preamble": "\\newcommand{\\w}{w_5}\n$$\\w = 0.4$$",
    "deep braces": "$$" + NESTED + " = 1$$",
    "deep left right": "$$" + "\\left(" * 400 + "x" + "\\right)" * 400 + " = 1$$",
    "long span": "$$" + "+".join(["w_1"] * 2_000) + " = 1$$",
    "long chain": "$$a_{h1} " + "= 0.5 " * 200 + "$$",
    "many spans": "$w_1 = 0.15$ " * 5_000,
    "python in math": "$__import__('os').system('echo hi') = 1$",
    "control characters": "$a_{h1}\x00 = \x1b[31m 1$ and $\u202ea_{h1} = 1$",
    "unclosed environment": "\\begin{align} a = 1 " + "x" * 100_000,
    "exponent tower": "$$a_{h1} = " + "2^{" * 30 + "9" + "}" * 30 + "$$",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_POSTS))
@pytest.mark.parametrize("kind", ["markdown", "latex"])
def test_hostile_post_is_bounded_and_every_span_gets_a_verdict(name, kind):
    net = load_spec("mazur")
    start = time.perf_counter()
    post = parse_post(HOSTILE_POSTS[name], kind)
    report = check_post(post, net, lr="0.5")
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"{name}: {elapsed:.1f} s"
    assert all(r.items and all(i.verdict.reason for i in r.items) for r in report.spans)
    assert report.counts()["read"] == len(post.spans) <= 1_000
    count("hostile_strings")


def test_a_post_with_too_many_distinct_claims_stops_proving_at_the_limit():
    from symbp.check.post_claims import MAX_CLAIMS

    text = "".join(f"$z_{{h1}} = w_1 i_1 + w_2 i_2 + {k}$\n" for k in range(MAX_CLAIMS + 5))
    report = check_post(parse_post(text, "markdown"), load_spec("mazur"))
    reasons = [r.items[0].verdict.reason for r in report.spans]
    assert sum("distinct claims" in reason for reason in reasons) == 5
    count("hostile_strings")


# Forward equations that feed themselves, form a cycle, or are many: the network inferred from a
# post (check-post without --spec) is read in bounded time, or refused with what is missing.
HOSTILE_EQUATIONS = {
    "self-fed sum": "$$H_1 = V_{11} H_1 + b_1$$ $$P_1 = \\frac{1}{1+e^{-H_1}}$$",
    "cycle of two layers": "$$H_1 = V_{11} O_1$$ $$P_1 = \\sigma(H_1)$$ $$Q_1 = W_{11} P_1$$ "
                           "$$O_1 = \\sigma(Q_1)$$ $$E = \\frac{1}{2}(Y_1 - O_1)^2$$",
    "many sums": "".join(f"$$H_{{{k}}} = V_{{1{k}}} X_1 + b_{{{k}}}$$\n" for k in range(3_000)),
    "deep chain": "$$H_0 = V_{10} X_1$$ " + "".join(
        f"$$P_{{{k}}} = \\sigma(H_{{{k}}})$$ $$H_{{{k + 1}}} = V_{{1{k + 1}}} P_{{{k}}}$$ "
        for k in range(300)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_POSTS) + sorted(HOSTILE_EQUATIONS))
def test_inferring_the_network_of_a_hostile_post_is_bounded_or_refused(name):
    text = HOSTILE_POSTS.get(name) or HOSTILE_EQUATIONS[name]
    start = time.perf_counter()
    try:
        infer_network(parse_post(text, "markdown"))
    except InferenceError as exc:
        assert str(exc).startswith("cannot infer the network") and "\n" not in str(exc)
    assert time.perf_counter() - start < 60, name
    count("hostile_strings")
