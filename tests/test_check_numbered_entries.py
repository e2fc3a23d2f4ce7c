"""A claim that names entries by number (δ_1 = Θ_11 δ_1 + Θ_21 δ_2, written out for two
outputs) states the spec's own widths, so it is checked at those widths, not on the small
stand-in sizes a general matrix claim is checked on."""

from __future__ import annotations

from pathlib import Path

import symbp
from symbp.check.claim import check_claim
from symbp.check.post import read_post
from symbp.check.post_check import check_post

WRITTEN_OUT = "delta[1][1] = (W[2][1,1]*delta[2][1] + W[2][2,1]*delta[2][2]) * a[1][1]*(1 - a[1][1])"
NG_POST = r"""# Backprop in Ng's notation

$$\delta^{(2)}_1 = \left(\Theta^{(2)}_{11}\delta^{(3)}_1 + \Theta^{(2)}_{21}\delta^{(3)}_2\right)
a^{(2)}_1\left(1-a^{(2)}_1\right)$$
"""


def test_a_sum_written_out_for_the_specs_two_outputs_holds():
    report = check_claim(symbp.load_spec("mazur"), WRITTEN_OUT)
    assert report.verdict == "holds", report


def test_the_same_sum_with_swapped_indices_is_named_at_the_specs_widths():
    wrong = WRITTEN_OUT.replace("W[2][2,1]", "W[2][1,2]")
    report = check_claim(symbp.load_spec("mazur"), wrong)
    assert report.verdict == "does not hold"
    assert "indices are swapped" in report.diagnosis


def test_an_ng_post_writing_the_sum_out_raises_no_false_alarm(tmp_path: Path):
    post = tmp_path / "ng.md"
    post.write_text(NG_POST, encoding="utf-8")
    report = check_post(read_post(post), symbp.load_spec("mazur"), notation="ng")
    assert report.counts()["held"] == 1 and report.counts()["wrong"] == 0
