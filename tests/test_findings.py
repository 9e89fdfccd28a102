"""paper_figures.findings: every headline number computed from result files, with an interval and a verdict
whose rule can go either way; the README's findings list is generated from the committed docs/findings.json."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from paper_figures import findings
from paper_figures.findings import render
from paper_figures.findings import stats as fstats
from paper_figures.docs import FINDINGS_END, FINDINGS_START, readme_section
from plumbing.atomic import atomic_write_csv
from plumbing.errors import InputError
from plumbing.schemas import LM_SUMMARY, frame

ROOT = Path(__file__).resolve().parents[1]


@given(st.lists(st.floats(-100, 100), min_size=2, max_size=12))
def test_t_interval_is_the_textbook_interval_of_the_mean(values):
    d = np.array(values)
    m, lo, hi = fstats.t_interval(d)
    assert m == pytest.approx(d.mean())
    sem = d.std(ddof=1) / math.sqrt(d.size)
    if sem > 0:
        ref = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=sem)
        assert (lo, hi) == pytest.approx(ref, abs=1e-9)
    else:
        assert lo == pytest.approx(m) and hi == pytest.approx(m)


def test_one_value_has_no_interval_and_is_not_resolved():
    assert fstats.t_interval(np.array([0.3]))[1:] == (None, None)
    assert fstats.seed_verdict(None, None) == "not resolved"


@pytest.mark.parametrize("low, high, sign, verdict", [
    (0.1, 0.3, 1, "resolved"), (-0.3, -0.1, 1, "contradicts the paper"), (-0.1, 0.2, 1, "not resolved"),
    (-0.3, -0.1, -1, "resolved"), (0.1, 0.3, -1, "contradicts the paper")])
def test_seed_verdict_follows_the_side_of_zero_the_interval_lies_on(low, high, sign, verdict):
    assert fstats.seed_verdict(low, high, sign) == verdict


def test_exact_verdict_needs_every_row():
    assert fstats.exact_verdict([True, True]) == "resolved"
    assert fstats.exact_verdict([False, False]) == "contradicts the paper"
    assert fstats.exact_verdict([True, False]) == "not resolved"


def _lm_summary(folder: Path, low_change: list[float]):
    """A sweep summary written through its schema: lambda 0 and 2, one seed per entry of low_change."""
    rows = []
    for seed, change in enumerate(low_change):
        for lam in (0.0, 2.0):
            for split in ("train", "heldout"):
                row = {c: 0.0 for c in LM_SUMMARY.columns}
                row.update({"lambda": lam, "seed": seed, "split": split, "decay_mode": "no-norm-bias",
                            "corpus": "toy", "run": f"r{seed}", "step": 10, "average_loss": 5.0,
                            "balanced_loss": 8.0 + (change if lam else 0.0), "high_freq_loss": 3.0,
                            "low_freq_loss": 7.0 + (change if lam else 0.0)})
                rows.append(row)
    atomic_write_csv(frame(LM_SUMMARY, rows), folder / "lm" / "summary.csv")
    _config(folder / "lm", lambdas=[0.0, 2.0], seeds=list(range(len(low_change))), decay_modes=["no-norm-bias"])
    _speeds(folder, ("no-norm-bias",), tuple(range(len(low_change))), (0.0, 2.0))


def _config(folder: Path, **cfg) -> None:
    """folder/config.json as the experiments record it: {"config": {...}} (the rows the findings expect)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"config": cfg}))


@pytest.mark.parametrize("changes, verdict", [
    ([0.10, 0.12, 0.11], "resolved"), ([-0.10, -0.12, -0.11], "contradicts the paper"),
    ([0.3, -0.2, 0.05], "not resolved"), ([0.5], "not resolved")])
def test_the_lm_verdict_flips_with_the_measured_change(tmp_path, changes, verdict):
    _lm_summary(tmp_path, changes)
    got = {f["id"]: f for f in findings.lm_findings(tmp_path)}
    f = got["lm_train_low_freq_loss_rises"]
    assert f["verdict"] == verdict and f["n"] == len(changes)
    assert f["effect"] == pytest.approx(np.mean(changes))
    assert (f["low"] is None) == (len(changes) == 1)


def test_missing_parts_are_listed_not_invented(tmp_path):
    _lm_summary(tmp_path, [0.1, 0.2, 0.15])
    (tmp_path / "lm" / "learning_speed.csv").rename(tmp_path / "speeds")
    with pytest.raises(InputError, match="learning_speed.csv"):  # a file missing from a sweep folder: an error
        findings.compute(tmp_path)
    (tmp_path / "speeds").rename(tmp_path / "lm" / "learning_speed.csv")
    data = findings.compute(tmp_path)
    assert {"theory", "simulations", "sim_vocab", "real_scale"} <= set(data["not_computed"])
    assert all(f["verdict"] in fstats.VERDICTS for f in data["findings"])
    assert "mitigation" in data["not_computed"]  # one decay mode: nothing to compare
    assert all((tmp_path / p).is_file() for f in data["findings"] for p in f["files"])


def test_cli_writes_both_files_or_nothing(tmp_path):
    _lm_summary(tmp_path, [0.1, 0.2, 0.15])
    run = [sys.executable, "-m", "paper_figures", "findings", "--results"]
    ok = subprocess.run(run + [str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    data = json.loads((tmp_path / "findings.json").read_text())
    assert any(f["id"] == "lm_train_low_freq_loss_rises" for f in data["findings"])
    assert "| lm_train_low_freq_loss_rises |" in (tmp_path / "findings.md").read_text()
    bad = subprocess.run(run + [str(tmp_path / "none")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "none" in bad.stderr
    assert not (tmp_path / "none").exists()


def test_a_readme_without_markers_is_refused():
    with pytest.raises(InputError, match="markers"):
        readme_section("# no findings here")


def test_the_readme_findings_are_the_committed_findings():
    """The README quotes only numbers of docs/findings.json (written by `make docs` from `make reproduce`)."""
    text = (ROOT / "README.md").read_text()
    assert FINDINGS_START in text and FINDINGS_END in text
    data = json.loads((ROOT / "docs" / "findings.json").read_text())
    assert readme_section(text) == findings.readme_block(data)
    assert data["findings"] and all(f["verdict"] in fstats.VERDICTS + fstats.MITIGATION_VERDICTS
                                    for f in data["findings"])


def _mitigation_summary(folder: Path, penalty: float, heldout_change: float, uniform: float = 1.0):
    """Uniform decay raises the training low-frequency loss by `uniform` from lambda 0 to 2; decay mode "mit" by
    `penalty`, and changes the held-out average loss against uniform decay by `heldout_change` (3 seeds)."""
    rows = []
    for seed, noise in enumerate((0.01, -0.02, 0.015)):
        for mode, lam in (("uniform", 0.0), ("uniform", 2.0), ("mit", 0.0), ("mit", 2.0)):
            for split in ("train", "heldout"):
                rise = 0.0 if lam == 0 else (uniform if mode == "uniform" else penalty) + noise
                held = heldout_change + noise if (mode, lam, split) == ("mit", 2.0, "heldout") else 0.0
                row = {c: 0.0 for c in LM_SUMMARY.columns}
                row.update({"lambda": lam, "seed": seed, "split": split, "decay_mode": mode, "corpus": "toy",
                            "run": f"{mode}{lam}{seed}", "step": 10, "average_loss": 5.0 + held,
                            "balanced_loss": 8.0 + rise, "high_freq_loss": 3.0, "low_freq_loss": 7.0 + rise})
                rows.append(row)
    atomic_write_csv(frame(LM_SUMMARY, rows), folder / "lm" / "summary.csv")
    _config(folder / "lm", lambdas=[0.0, 2.0], seeds=[0, 1, 2], decay_modes=["uniform", "mit"])


@pytest.mark.parametrize("uniform, penalty, heldout_change, verdict", [
    (1.0, 0.1, -0.05, "removes the penalty and keeps the held-out effect"), (1.0, 0.1, 0.3, "removes the penalty"),
    (1.0, 0.9, -0.05, "keeps the held-out effect"), (1.0, 0.9, 0.3, "neither"),
    (-0.5, 0.1, -0.05, "no penalty to remove; keeps the held-out effect"), (-0.5, 0.1, 0.3, "no penalty to remove")])
def test_the_mitigation_verdict_flips_with_the_penalty_and_the_heldout_change(tmp_path, uniform, penalty,
                                                                              heldout_change, verdict):
    _mitigation_summary(tmp_path, penalty, heldout_change, uniform)
    (f,) = findings.mitigation_findings(tmp_path)
    assert f["id"] == "lm_mitigation_mit" and f["verdict"] == verdict
    assert f["uniform_penalty"] == pytest.approx(uniform + np.mean([0.01, -0.02, 0.015]))
    assert f["effect"] == pytest.approx(penalty - uniform)  # mitigated minus uniform, training low-frequency loss


@pytest.mark.parametrize("converged, change, verdict", [
    (True, 0.5, "resolved"), (True, -0.5, "contradicts the paper"), (True, 0.002, "not resolved"),
    (False, 0.5, "not resolved")])
def test_one_seed_of_the_simulations_counts_only_where_the_runs_reached_the_certified_optimum(
        tmp_path, converged, change, verdict):
    from plumbing.schemas import SIM_SUMMARY

    rows = []
    for lam, extra in ((1e-4, 0.0), (2e-3, change)):
        row = {c: 0.0 for c in SIM_SUMMARY.columns}
        row.update({"model": "ufm-unconstrained", "optimizer": "adam", "lambda": lam, "seed": 0,
                    "low_mass_loss": 1.0 + extra, "high_mass_loss": 0.5, "converged": converged,
                    "convergence_criterion": "max_abs_diff_to_theory", "convergence_tol": 1e-3})
        rows.append(row)
    atomic_write_csv(frame(SIM_SUMMARY, rows), tmp_path / "simulations" / "summary.csv")
    _config(tmp_path / "simulations", models=["ufm-unconstrained"], optimizers=["adam"], lambdas=[1e-4, 2e-3],
            adamw_lambdas=[], seeds=[0])
    (f,) = findings.simulation_findings(tmp_path)
    assert f["verdict"] == verdict and f["effect"] == pytest.approx(change)


@pytest.mark.parametrize("model, scheme_rise, held, verdict", [
    ("mlp", 0.2, 0.0, "removes the penalty and keeps the held-out effect"),
    ("mlp", 0.8, 0.0, "keeps the held-out effect"),
    ("mlp", 0.2, 0.05, "removes the penalty"),
    ("mlp", 0.8, 0.05, "neither"),
    ("ufm-relu", 0.2, float("nan"), "removes the penalty; held-out effect not computable"),
    ("ufm-relu", 0.8, float("nan"), "does not remove the penalty; held-out effect not computable")])
def test_the_simulation_mitigation_verdict_flips_with_the_penalty_and_the_heldout_change(tmp_path, model, scheme_rise,
                                                                                       held, verdict):
    """uniform decay raises the low-frequency (mass split) loss by 1.0 over lambda 0; the scheme by scheme_rise,
    and changes the held-out average loss against uniform decay by held (NaN: no held-out data, as in the UFM)."""
    f = _sim_mitigation_finding(tmp_path, model, scheme_rise, held)
    assert f["id"] == f"sim_mitigation_{model}_lbfgs_capped-embed-out" and f["verdict"] == verdict
    assert f["effect"] == pytest.approx(scheme_rise - 1.0, abs=1e-9)
    assert "no held-out benefit to keep" not in f["measure"]  # uniform decay's held-out loss is lambda 0's here


def test_the_simulation_mitigation_finding_says_when_decay_has_no_heldout_benefit_to_keep(tmp_path):
    f = _sim_mitigation_finding(tmp_path, "mlp", 0.2, 0.0, none_held=1.2)  # uniform decay: +0.3 held-out
    assert f["verdict"] == "removes the penalty and keeps the held-out effect"
    assert "no held-out benefit to keep" in f["measure"] and f["heldout_uniform_vs_none"] == pytest.approx(0.3)


def _sim_mitigation_finding(folder: Path, model: str, scheme_rise: float, held: float, none_held: float = 1.5):
    """The one finding of a mitigation.csv with schemes none, uniform and capped-embed-out over 3 seeds."""
    from plumbing.schemas import SIM_MITIGATION

    rows = []
    for seed, noise in enumerate((0.01, -0.02, 0.015)):
        for scheme, rise in (("none", 0.0), ("uniform", 1.0), ("capped-embed-out", scheme_rise)):
            heldout = none_held if scheme == "none" else 1.5 + (held + noise / 10 if scheme == "capped-embed-out" else 0.0)
            heldout = heldout if math.isfinite(held) else float("nan")  # the UFM: no held-out data at all
            rows.append({"model": model, "optimizer": "lbfgs", "scheme": scheme, "lambda": 0.0 if rise == 0 else
                         1e-3, "seed": seed, "average_loss": 1.0 + rise / 2, "balanced_loss": 2.0 + rise,
                         "low_freq_loss": 3.0 + rise, "high_freq_loss": 1.0,
                         "low_mass_loss": 3.0 + rise + noise * (rise > 0), "high_mass_loss": 1.0, "spread": rise,
                         "duality_gap": float("nan"), "heldout_average_loss": heldout})
    atomic_write_csv(frame(SIM_MITIGATION, rows), folder / "sim_mitigation" / SIM_MITIGATION.name)
    _config(folder / "sim_mitigation", models=[model], mitigation_seeds=[0, 1, 2],
            mitigation_schemes=["none", "uniform", "capped-embed-out"])
    (f,) = findings.sim_mitigation_findings(folder)
    return f


def test_the_heldout_rule_accepts_an_interval_at_or_below_the_margin_or_one_that_holds_zero():
    def v(pen_hi, uniform, held_lo, held_hi, held=0.0, uniform_lo=0.5):
        return fstats.mitigation_verdict(uniform, uniform_lo, pen_hi, held, held_lo, held_hi)

    assert v(0.1, 1.0, 0.005, 0.01) == "removes the penalty and keeps the held-out effect"  # at the margin
    assert v(0.1, 1.0, 0.005, 0.0101) == "removes the penalty"  # just above it, 0 outside
    assert v(0.1, 1.0, -0.5, 0.5) == "removes the penalty and keeps the held-out effect"  # wide, holds 0
    assert v(0.1, 1.0, None, None) == "removes the penalty"  # one seed: no interval, nothing kept
    assert v(0.1, 1.0, None, None, held=float("nan")) == "removes the penalty; held-out effect not computable"
    assert v(0.5, 1.0, -0.1, 0.0) == "keeps the held-out effect"  # penalty 0.5 is not below half of 1.0
    assert v(0.1, 1.0, -0.1, 0.0, uniform_lo=-0.1) == "no penalty to remove; keeps the held-out effect"


def _speeds(folder: Path, modes: tuple, seeds: tuple, lambdas: tuple) -> None:
    """lm/learning_speed.csv: 30 tokens per run (speed rising with count, 3 negative)."""
    from plumbing.schemas import LM_LEARNING_SPEED

    rows = []
    for mode in modes:  # the sweep lists the shared lambda-0 run under every mode
        for lam in lambdas:
            for seed in seeds:
                for tok in range(30):
                    rows.append({"decay_mode": mode, "lambda": lam, "seed": seed, "token_id": tok,
                                 "train_count": tok + 1, "pow3_bin": 0, "eval_count": 25, "measurable": True,
                                 "learning_speed": 0.01 * tok - (0.1 if tok < 3 else 0.0)})
    atomic_write_csv(frame(LM_LEARNING_SPEED, rows), folder / "lm" / LM_LEARNING_SPEED.name)


def test_learning_speed_counts_each_token_once_when_several_decay_modes_share_lambda_zero(tmp_path):
    _speeds(tmp_path, ("no-norm-bias", "lazy-embed-out"), (0, 1), (0.0,))
    _config(tmp_path / "lm", lambdas=[0.0], seeds=[0, 1], decay_modes=["no-norm-bias", "lazy-embed-out"])
    (f,) = findings.learning_speed_finding(tmp_path)
    assert f["tokens_per_seed"] == 30 and f["measurable_tokens_per_seed"] == 30 and f["n"] == 2
    assert f["share_negative_speed"] == pytest.approx(3 / 30)


def test_keeping_the_heldout_effect_allows_0_01_nats_above_uniform_and_no_more(tmp_path):
    for change, keeps in ((0.005, True), (0.05, False)):
        _mitigation_summary(tmp_path, 0.1, change)
        (f,) = findings.mitigation_findings(tmp_path)
        assert f["verdict"] == ("removes the penalty and keeps the held-out effect" if keeps
                                else "removes the penalty"), change


def _real_scale(results: Path, balanced_rise: float, average_rise: float, modes=("uniform",)):
    """results/real_scale/sw/reg/summary.csv: 3 seeds, lambda 0 and 2; every mode raises balanced and
    low-frequency training loss by balanced_rise (+ seed noise) and the average loss by average_rise."""
    rows = []
    for seed, noise in enumerate((0.001, -0.002, 0.0015)):
        for mode in modes:
            for lam in (0.0, 2.0):
                for split in ("train", "heldout"):
                    on = lam > 0
                    row = {c: 0.0 for c in LM_SUMMARY.columns}
                    row.update({"lambda": lam, "seed": seed, "split": split, "decay_mode": mode, "corpus": "toy",
                                "run": f"{mode}{lam}{seed}", "step": 10,
                                "average_loss": 0.05 + on * (average_rise + noise),
                                "balanced_loss": 0.08 + on * (balanced_rise + noise), "high_freq_loss": 0.04,
                                "low_freq_loss": 0.08 + on * (balanced_rise + noise)})
                    rows.append(row)
    atomic_write_csv(frame(LM_SUMMARY, rows), results / "real_scale" / "sw" / "reg" / "summary.csv")
    _config(results / "real_scale" / "sw" / "reg", lambdas=[0.0, 2.0], seeds=[0, 1, 2], decay_modes=list(modes))


@pytest.mark.parametrize("balanced, average, verdict", [(0.1, 0.01, "resolved"), (0.01, 0.1, "contradicts the paper"),
                                                        (0.05, 0.05, "not resolved")])
def test_real_scale_regimes_get_their_own_findings_and_the_table1_ratio(tmp_path, balanced, average, verdict):
    _real_scale(tmp_path, balanced, average)
    got = {f["id"]: f for f in findings.real_scale_findings(tmp_path)}
    f = got["rs_sw_reg_train_balanced_rises_more_than_average"]
    assert f["verdict"] == verdict and f["n"] == 3
    assert f["ratio_of_mean_changes"] == pytest.approx((balanced + np.mean([0.001, -0.002, 0.0015]))
                                                       / (average + np.mean([0.001, -0.002, 0.0015])))
    assert "rs_sw_reg_train_low_freq_loss_rises" in got and not any(k.startswith("rs_sw_reg_mitigation") for k in got)


def test_the_changes_table_pairs_by_seed_and_compares_each_mode_with_uniform_decay(tmp_path):
    _real_scale(tmp_path, 0.1, 0.01, modes=("uniform", "mit"))
    rows = findings.changes(tmp_path)
    pick = {(r["split"], r["decay_mode"], r["against"], r["metric"]): r for r in rows}
    r = pick[("train", "uniform", "lambda 0", "balanced_loss")]
    assert r["change"] == pytest.approx(0.1 + np.mean([0.001, -0.002, 0.0015])) and r["n_seeds"] == 3
    assert r["low"] < r["change"] < r["high"]
    same = pick[("train", "mit", "uniform at the same lambda", "balanced_loss")]
    assert same["change"] == pytest.approx(0.0, abs=1e-12) and same["n_seeds"] == 3
    assert ("train", "uniform", "uniform at the same lambda", "balanced_loss") not in pick
    assert {r["source"] for r in rows} == {"rs_sw_reg"}
    text = "\n".join(render.changes_markdown(rows))
    assert "| train | mit | 2 |" in text and "uniform at the same lambda" not in text


def test_a_nan_in_one_seed_is_refused_not_dropped(tmp_path):
    """One NaN among the seeds would drop that seed and widen the interval without a word: it is an error naming
    the file and the line; an interval over no values at all is NaN without an interval."""
    _lm_summary(tmp_path, [0.10, 0.12, 0.11])
    path = tmp_path / "lm" / "summary.csv"
    df = pd.read_csv(path)
    df.loc[(df["seed"] == 1) & (df["lambda"] == 2.0), "low_freq_loss"] = float("nan")
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"summary.csv' line \d+: low_freq_loss is nan"):
        findings.compute(tmp_path)
    with pytest.raises(InputError, match="NaN or infinite"):
        fstats.t_interval(np.array([0.1, np.nan]))
    m, lo, hi = fstats.t_interval(np.array([]))
    assert math.isnan(m) and lo is None and hi is None
