"""The report's first screen: one row per claim, one column per level of evidence, each cell the verdicts of the
findings (from findings.json) that test the claim at that level, with effect and interval."""

from __future__ import annotations

import re

from paper_figures import scoreboard


def _finding(id, verdict, effect=0.1, low=0.05, high=0.15, n=3, **extra):
    return {"id": id, "verdict": verdict, "effect": effect, "low": low, "high": high, "n": n, **extra}


def _data():
    sims = [_finding(f"sim_m{i}_adam_low_rises_more", "resolved" if i < 4 else "not resolved") for i in range(6)]
    return {"findings": [
        _finding("lm_train_low_freq_loss_rises", "contradicts the paper", -0.2, -0.3, -0.1),
        _finding("rs_sw_big_train_low_freq_loss_rises", "resolved", 0.007, 0.003, 0.012, source="rs_sw_big"),
        {"id": "theory_loss_increases_with_lambda", "verdict": "resolved", "theory_verdict": "holds"},
        *sims], "not_computed": {}}


def test_each_cell_holds_the_verdict_effect_and_interval_of_its_finding():
    rows = dict(scoreboard.cells(_data()))
    first = rows[scoreboard.CLAIMS[0][0]]
    assert first["CPU LM"] == [("bad", "contradicts the paper: -0.200 [-0.300, -0.100], n 3")]
    assert first["real scale"] == [("ok", "resolved: +0.007 [+0.003, +0.012], n 3 — big")]
    assert first["theory"] == [("ok", "resolved: check holds")]
    assert first["simulations"] == [("none", "—")]  # that level does not test the claim


def test_a_cell_with_many_findings_counts_their_verdicts_and_a_missing_one_says_not_computed():
    rows = dict(scoreboard.cells(_data()))
    hurt = rows[scoreboard.CLAIMS[1][0]]
    assert hurt["simulations"][:2] == [("ok", "4 × resolved"), ("open", "2 × not resolved")]
    assert hurt["CPU LM"] == [("none", "not computed")]


def test_the_html_has_one_row_per_claim_inside_a_scroll_container():
    page = scoreboard.to_html(_data())
    assert page.startswith("<div class='scroll'><table class='score'>")
    assert len(re.findall(r"<tr><th class='claim'>", page)) == len(scoreboard.CLAIMS)
    assert "<div class='v bad'>contradicts the paper: -0.200 [-0.300, -0.100], n 3</div>" in page
    md = scoreboard.markdown(_data()).splitlines()
    assert len(md) == 2 + len(scoreboard.CLAIMS) and md[0].count("|") == len(scoreboard.LEVELS) + 2
