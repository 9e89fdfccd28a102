"""The verification report: a verdict for every claim, files that exist, tables pandas can read, and
figures that paper_figures draws from those tables alone (theory itself draws nothing)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumbing.errors import InputError
from paper_figures import theory_draw as figures
from theory.verification.verify import VERDICTS

CLAIMS = {"proposition_as_stated", "relu_closed_form", "unconstrained_optimum", "balanced_closed_form",
          "loss_decreases_with_count", "loss_increases_with_lambda", "rare_classes_more_sensitive",
          "average_vs_balanced", "d_at_least_V_needed", "d_at_least_V_in_paper_models",
          "perclass_relu_closed_form", "perclass_unconstrained_certified", "frequency_decay_levels_losses",
          "bounded_schedules_relu_closed_form", "bounded_schedule_never_raises_a_loss", "bounded_schedule_tradeoff"}
LEGACY_TABLES = {"per_class_loss.csv", "lambda_sweep.csv", "sensitivity.csv"}


@pytest.fixture(scope="module")
def report(theory_verify_dir):
    return theory_verify_dir


def test_every_claim_has_a_verdict_and_names_figures_paper_figures_draws(report):
    data = json.loads((report / "report.json").read_text())
    claims = {c["id"]: c for c in data["claims"]}
    assert set(claims) == CLAIMS
    md = (report / "report.md").read_text()
    for c in claims.values():
        assert c["verdict"] in VERDICTS and c["evidence"]
        assert list(c) == ["id", "claim", "check", "verdict", "rule", "explanation", "evidence", "figures"]
        assert c["rule"] and f"**Rule.** {c['rule']}." in md
        for fig in c["figures"]:  # drawn from the folder's tables, not by theory
            assert fig in figures.FIGURES and all((report / t).is_file() for t in figures.FIGURES[fig])
    for c in claims.values():
        assert f"## {c['id']}" in md and f"**Verdict: {c['verdict']}.**" in md
    assert not list(report.glob(".*.tmp"))  # no temp file left behind
    assert not list(report.glob("*.png"))  # verify writes tables and the report only


def test_the_verdicts_are_the_ones_the_evidence_supports(report):
    claims = {c["id"]: c for c in json.loads((report / "report.json").read_text())["claims"]}
    assert claims["proposition_as_stated"]["verdict"] == "not checkable as stated"
    for cid in ("relu_closed_form", "unconstrained_optimum", "balanced_closed_form",
                "loss_decreases_with_count", "loss_increases_with_lambda", "average_vs_balanced",
                "perclass_relu_closed_form", "perclass_unconstrained_certified", "frequency_decay_levels_losses",
                "bounded_schedules_relu_closed_form", "bounded_schedule_tradeoff"):
        assert claims[cid]["verdict"] == "holds", cid
    # less feature decay on rare classes raises some frequent class's loss in the unconstrained model (shared
    # nuclear norm); never in the ReLU model, and output-row decay never did on these instances
    assert claims["bounded_schedule_never_raises_a_loss"]["verdict"] == "holds under stated conditions"
    no_rise = claims["bounded_schedule_never_raises_a_loss"]["evidence"]["rows"]
    raised = {(r["model"], r["decayed group"]) for r in no_rise if r["max rise over uniform"] > 1e-5}
    assert raised == {("ufm-unconstrained", "features")}
    # count-1 classes of the unconstrained model that have not collapsed are far less sensitive than count-3
    assert claims["rare_classes_more_sensitive"]["verdict"] == "fails"
    assert claims["rare_classes_more_sensitive"]["evidence"]["verdict per model"] == {
        "ufm-relu": "holds under stated conditions", "ufm-unconstrained": "fails"}
    # the relu minimiser fits in d = number of classes not collapsed < V
    assert claims["d_at_least_V_needed"]["verdict"] == "fails"
    paper = claims["average_vs_balanced"]["evidence"]["comparison with the paper"][0]
    assert abs(paper["paper Table 1 ratio (0.163-0.066)/(0.068-0.051)"] - 5.706) < 1e-3
    assert claims["d_at_least_V_in_paper_models"]["verdict"] == "fails"


def test_tables_are_tidy(report):
    per_class = pd.read_csv(report / "per_class_loss.csv")
    sweep = pd.read_csv(report / "lambda_sweep.csv")
    assert {"model", "instance", "lambda", "class", "count", "loss"} <= set(per_class.columns)
    assert set(per_class["model"]) == set(sweep["model"]) == {"ufm-relu", "ufm-unconstrained"}  # theory.ufm.solve.MODELS
    assert per_class.groupby(["model", "instance", "c"]).size().nunique() <= 2  # V per instance
    assert (sweep["balanced_loss"] >= sweep["average_loss"] - 1e-12).all()
    assert (sweep.query("model == 'ufm-unconstrained'")["duality_gap"] <= 1e-8).all()
    assert (sweep.query("model == 'ufm-relu'")["duality_gap"] == 0).all()  # the closed form is exact
    assert np.allclose(sweep["lambda"] * sweep["N"], sweep["c"], rtol=1e-12)  # lambda = c / N


def test_every_claim_saves_its_numbers_as_tables(report):
    claims = {c["id"]: c for c in json.loads((report / "report.json").read_text())["claims"]}
    tables = {p.name for p in report.glob("*.csv")}
    assert LEGACY_TABLES <= tables
    for name in tables - LEGACY_TABLES:
        assert name.split("__")[0] in claims, name  # <claim id>__<table>.csv
        assert len(pd.read_csv(report / name)) > 0, name
    for cid in CLAIMS - {"rare_classes_more_sensitive"}:  # that one also writes sensitivity.csv
        assert any(t.startswith(cid + "__") for t in tables), cid
    # the tables hold the numbers of the report: the evidence rows, and more
    ev = pd.DataFrame(claims["relu_closed_form"]["evidence"]["random instances"])
    saved = pd.read_csv(report / "relu_closed_form__random_instances.csv")
    assert np.allclose(saved["closed form"], ev["closed form"], rtol=0, atol=0)
    restarts = pd.read_csv(report / "relu_closed_form__restarts.csv")
    lowest = restarts.groupby("instance")["objective - optimum"].min().to_numpy()
    assert np.allclose(lowest, saved["lowest restart - closed"], atol=1e-15)
    assert claims["relu_closed_form"]["evidence"]["max |numpy - sympy| loss"] == \
        pd.read_csv(report / "relu_closed_form__sympy_check.csv")["max |numpy - sympy| loss"].max()
    sv = pd.read_csv(report / "d_at_least_V_needed__unconstrained_singular_values.csv")
    assert int(sv["counted in the rank (> 1e-6 x largest)"].sum()) == \
        claims["d_at_least_V_needed"]["evidence"]["unconstrained rank"]
    # the L-BFGS runs that only the figures used to make are saved: every shown c, every class
    for name in ("relu_closed_form__lbfgs_per_class.csv", "unconstrained_optimum__lbfgs_per_class.csv"):
        lb = pd.read_csv(report / name)
        assert sorted(lb["c"].unique()) == sorted(figures.SHOW) and (lb.groupby("c").size() == 30).all()


def test_figures_are_drawn_identically_from_the_tables_alone(report, tmp_path):
    folder = tmp_path / "theory"
    folder.mkdir()
    for p in report.glob("*.csv"):
        shutil.copy(p, folder)
    paths = figures.redraw(folder, tmp_path / "one")
    assert sorted(p.name for p in paths) == sorted(figures.FIGURES)
    again = figures.redraw(folder, tmp_path / "two")
    for p, q in zip(paths, again):  # the same tables give the same bytes: the figures come from the tables only
        assert p.stat().st_size > 10_000 and p.read_bytes() == q.read_bytes(), p.name


def test_paper_figures_redraws_the_theory_figures_from_the_tables(report, tmp_path):
    from paper_figures import theory_figs
    from paper_figures.report import build_report

    results = tmp_path / "results"
    shutil.copytree(report, results / "theory")
    out = tmp_path / "out"
    made = theory_figs.make(results, out)
    pngs = {p.name: p for p in made if p.suffix == ".png"}
    assert set(pngs) == {f"theory_{n}.png" for n in theory_figs.FIGURES}
    drawn = {p.name: p for p in figures.redraw(results / "theory", tmp_path / "direct", prefix="theory_")}
    for name, p in pngs.items():
        assert p.read_bytes() == drawn[name].read_bytes(), name
    assert all(p.is_file() for p in theory_figs.inputs(results))
    assert {p.name for p in theory_figs.inputs(results)} >= {"report.json", "per_class_loss.csv", "sensitivity.csv"}
    # change a table: the figure drawn from it changes, the others do not
    pc = pd.read_csv(results / "theory" / "per_class_loss.csv")
    pc.loc[pc["model"] == "ufm-relu", "loss"] *= 0.5
    pc.to_csv(results / "theory" / "per_class_loss.csv", index=False)
    again = {p.name: p for p in theory_figs.make(results, tmp_path / "again") if p.suffix == ".png"}
    assert again["theory_relu_loss_vs_count.png"].read_bytes() != pngs["theory_relu_loss_vs_count.png"].read_bytes()
    assert again["theory_sensitivity.png"].read_bytes() == pngs["theory_sensitivity.png"].read_bytes()
    # the report's theory section names the tables and embeds the redrawn figures
    done = build_report(results, tmp_path / "report")
    assert sorted(p.rsplit("/", 1)[-1] for p in done["made"]["theory"] if p.endswith(".png")) == sorted(pngs)
    # a figure whose tables are only partly there is an error naming the missing file
    (results / "theory" / "relu_closed_form__lbfgs_per_class.csv").unlink()
    with pytest.raises(InputError, match="relu_closed_form__lbfgs_per_class.csv"):
        theory_figs.make(results, tmp_path / "partial")


# ---------------------------------------------------------------- every verdict rule flips on some input
# Each claim's verdict is verdict_<claim id>(evidence rows) -> (verdict, rule text); these tables are made
# by hand (or by hypothesis) so that one number crosses the stated threshold.

from hypothesis import given, settings
from hypothesis import strategies as st

from theory.verification import claims as C
from theory.verification import claims_bounded as BD
from theory.verification import claims_mitigation as M
from theory.verification import claims_trends as T


def _flip(fn, good, bad, expect_good, expect_bad):
    v_good, rule = fn(*good)
    v_bad, rule_bad = fn(*bad)
    assert (v_good, v_bad) == (expect_good, expect_bad)
    assert rule and rule == rule_bad


def test_verdict_proposition_flips_when_some_loss_vector_has_no_M():
    ok = [{"M solved": True, "max |loss -> M -> loss - loss|": 1e-15}]
    implied = [{"implied_M": 1.0}]
    _flip(C.verdict_proposition_as_stated, (ok, implied),
          ([{"M solved": False, "max |loss -> M -> loss - loss|": float("inf")}], implied),
          "not checkable as stated", "holds")
    bad_rt = [{"M solved": True, "max |loss -> M -> loss - loss|": 1e-6}]
    assert C.verdict_proposition_as_stated(bad_rt, [{"implied_M": float("nan")}])[0] == "fails"


def test_verdict_relu_flips_when_a_restart_goes_below_the_closed_form():
    sym = [{"max |numpy - sympy| loss": 1e-15}]
    good = [{"lowest restart - closed": 0.0, "d=3V: best - closed": 1e-12}]
    bad = [{"lowest restart - closed": -1e-6, "d=3V: best - closed": 1e-12}]
    _flip(C.verdict_relu_closed_form, (sym, good), (sym, bad), "holds", "fails")
    assert C.verdict_relu_closed_form([{"max |numpy - sympy| loss": 1e-8}], good)[0] == "fails"


def test_verdict_unconstrained_flips_on_a_large_gap():
    full = [{"reduced gap": 1e-11, "full V x V gap": 1e-11, "objective of recovered (W,H)": 1.0, "objective": 1.0}]
    cross = [{"L-BFGS best - certified": 0.0, "gap": 1e-11}]
    _flip(C.verdict_unconstrained_optimum, ([{"certified gap": 1e-10}], full, cross),
          ([{"certified gap": 1e-7}], full, cross), "holds", "fails")
    below = [{"L-BFGS best - certified": -1e-6, "gap": 1e-11}]
    assert C.verdict_unconstrained_optimum([{"certified gap": 1e-10}], full, below)[0] == "fails"


def test_verdict_balanced_flips_outside_the_gap():
    _flip(C.verdict_balanced_closed_form, ([{"certified objective - closed form": 1e-10, "gap": 1e-10}],),
          ([{"certified objective - closed form": 1e-6, "gap": 1e-10}],), "holds", "fails")


def test_verdict_count_order_flips_on_a_rise():
    _flip(T.verdict_loss_decreases_with_count, ([{"max rise of loss with count": -0.1}],),
          ([{"max rise of loss with count": 2e-6}],), "holds", "fails")


def test_verdict_lambda_monotone_flips_on_a_fall():
    key = "smallest change of loss_k between consecutive lambdas"
    _flip(T.verdict_loss_increases_with_lambda, ([{key: 0.0}],), ([{key: -1e-5}],), "holds", "fails")


def _sens(model, all_ok, act_ok):
    return {"model": model, "rarer => larger, all classes": all_ok, "rarer => larger, classes not collapsed": act_ok}


def test_verdict_sensitivity_is_the_weakest_model():
    relu_ok = _sens("ufm-relu", False, True)
    assert T.verdict_rare_classes_more_sensitive([_sens("ufm-relu", True, True)])[0] == "holds"
    _flip(T.verdict_rare_classes_more_sensitive, ([relu_ok, _sens("ufm-unconstrained", True, True)],),
          ([relu_ok, _sens("ufm-unconstrained", False, False)],), "holds under stated conditions", "fails")


def test_sensitivity_ordering_uses_the_tolerance_relative_to_the_largest_derivative():
    counts = np.array([1.0, 2.0, 3.0])
    mask = np.ones(3, bool)
    assert T._monotone(np.array([300.0, 200.0, 100.0]), counts, mask)[0]
    assert not T._monotone(np.array([2.0, 60.0, 420.0]), counts, mask)[0]  # the unconstrained case at c = 1.5
    assert T._monotone(np.array([2.0, 60.0, 420.0]), counts, np.array([False, False, True]))[0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 50, allow_nan=False), min_size=1, max_size=12))
def test_verdict_average_vs_balanced_is_ratio_above_one_everywhere(ratios):
    verdict, rule = T.verdict_average_vs_balanced([{"ratio": r} for r in ratios])
    assert verdict == ("holds" if min(ratios) > 1.0 else "fails")
    assert "5.71" in rule  # the paper's ratio is stated with the rule


def _d_rows(reach_at):
    nan = float("nan")
    return [{"d": d, "relu L-BFGS-B best - closed form": 0.0 if d == reach_at else 0.02,
             "its objective - closed form": nan} for d in range(1, 7)]


def test_verdict_d_needed_fails_iff_some_d_below_V_reaches_the_optimum():
    _flip(T.verdict_d_at_least_V_needed, (_d_rows(6), 6), (_d_rows(4), 6), "holds", "fails")
    rows = _d_rows(6)
    rows[3]["its objective - closed form"] = -1e-16  # the explicit construction at d = 4
    assert T.verdict_d_at_least_V_needed(rows, 6)[0] == "fails"


def test_verdict_d_in_paper_models():
    def rows(*ok):
        return [{"d >= V": x} for x in ok]
    _flip(T.verdict_d_at_least_V_in_paper_models, (rows(True, True),), (rows(False, False),), "holds", "fails")
    assert T.verdict_d_at_least_V_in_paper_models(rows(True, False))[0] == "holds under stated conditions"


def test_verify_has_no_wall_clock_limit():
    assert "time_limit" not in C.SOLVE and "time_limit" not in C.SOLVE_TIGHT
    src = Path(C.__file__).read_text() + Path(T.__file__).read_text()
    assert "time_limit" not in src


# ---- the mitigation claims (theory.verification.claims_mitigation, theory.ufm.perclass)

def test_verdict_perclass_relu_flips_when_a_restart_goes_below_the_closed_form():
    sym = [{"max relative |numpy - sympy| rho": 1e-16}]
    row = {"closed-form objective": 0.3, "explicit point - closed form": 0.0, "best restart - closed form": 1e-3}
    _flip(M.verdict_perclass_relu_closed_form, (sym, [row]),
          (sym, [{**row, "best restart - closed form": -1e-6}]), "holds", "fails")
    assert M.verdict_perclass_relu_closed_form(sym, [{**row, "explicit point - closed form": 1e-6}])[0] == "fails"


def test_verdict_perclass_unconstrained_flips_on_a_large_gap():
    row = {"schedule": "uniform", "gap": 1e-9, "certified objective - reduced solver": 0.0}
    _flip(M.verdict_perclass_unconstrained_certified, ([row],), ([{**row, "gap": 1e-4}],), "holds", "fails")
    assert M.verdict_perclass_unconstrained_certified(
        [{**row, "certified objective - reduced solver": 1e-6}])[0] == "fails"


def test_verdict_frequency_decay_flips_when_the_schedule_raises_the_balanced_loss():
    uni = {"instance": "a", "model": "m", "schedule": "uniform", "spread": 0.2, "balanced_loss": 0.15}
    good = {**uni, "schedule": "features by count", "spread": 0.01, "balanced_loss": 0.07}
    _flip(M.verdict_frequency_decay_levels_losses, ([uni, good],), ([uni, {**good, "balanced_loss": 0.16}],),
          "holds", "fails")
    assert M.verdict_frequency_decay_levels_losses([uni, {**good, "spread": 0.15}])[0] == "fails"


def test_the_output_row_schedule_carries_the_glossary_name_and_is_judged():
    from theory.glossary import MITIGATIONS

    names = set(M._schedules(np.array([5.0, 2.0, 1.0]), 0.1))
    assert "count-embed-out" in names and "count-embed-out" in MITIGATIONS and not any("rows" in n for n in names)
    uni = {"instance": "a", "model": "m", "schedule": "uniform", "spread": 0.2, "balanced_loss": 0.15}
    rows = {**uni, "schedule": "count-embed-out", "spread": 0.01, "balanced_loss": 0.07}
    _flip(M.verdict_frequency_decay_levels_losses, ([uni, rows],), ([uni, {**rows, "spread": 0.15}],),
          "holds", "fails")


def test_perclass_closed_form_is_the_uniform_one_and_its_point_attains_it():
    from theory.ufm.perclass import certify_perclass, equalising_schedule, objective_and_grad, relu_perclass
    from theory.ufm.problem import Problem
    from theory.ufm.relu import relu_closed_form
    from theory.ufm.unconstrained import solve_unconstrained

    counts = np.array([30.0, 9, 4, 1, 1])
    lam = 0.4 / counts.sum()
    r, ref = relu_perclass(counts, lam, lam), relu_closed_form(Problem(counts, lam, lam))
    assert r["objective"] == ref.objective and np.array_equal(r["per_class_loss"], ref.per_class_loss)
    eq = relu_perclass(counts, lam, equalising_schedule(counts, lam))
    assert np.ptp(eq["per_class_loss"]) < 1e-14  # the schedule levels every class
    assert objective_and_grad(counts, np.full(5, lam), equalising_schedule(counts, lam), eq["W"], eq["H"])[0] == \
        pytest.approx(eq["objective"], rel=1e-12)
    s = solve_unconstrained(Problem(counts, lam, lam), tol=1e-11)
    c = certify_perclass(counts, lam, lam, s.logits())  # uniform decay: the reduced solver's certificate again
    assert c["objective"] == pytest.approx(s.objective, abs=1e-12) and 0 <= c["duality_gap"] <= 1e-6  # no clipping step
    worse = certify_perclass(counts, lam, lam, s.logits() + np.diag([0.3, 0, 0, 0, 0]))
    assert worse["duality_gap"] > 1e-4  # a point off the optimum is not certified


# ---- the bounded schedules (theory.verification.claims_bounded, theory.ufm.perclass, symbolic.bounded_schedules)

def test_verdict_bounded_closed_form_flips_on_a_numpy_sympy_mismatch_or_a_strength_above_lambda():
    sym = [{"derivation holds": True}]
    row = {"max relative |numpy - sympy| loss": 1e-15, "min strength / lambda": 0.1, "max strength / lambda": 1.0,
           "closed-form objective": 0.3, "explicit point - closed form": 0.0}
    _flip(BD.verdict_bounded_schedules_relu_closed_form, (sym, [row]),
          (sym, [{**row, "max relative |numpy - sympy| loss": 1e-9}]), "holds", "fails")
    assert BD.verdict_bounded_schedules_relu_closed_form(sym, [{**row, "max strength / lambda": 1.01}])[0] == "fails"
    assert BD.verdict_bounded_schedules_relu_closed_form([{"derivation holds": False}], [row])[0] == "fails"


def test_verdict_bounded_never_raises_flips_with_the_model_that_raises_a_loss():
    relu = {"model": "ufm-relu", "max rise over uniform": 0.0, "duality gap": 0.0}
    unc = {"model": "ufm-unconstrained", "max rise over uniform": -1e-3, "duality gap": 1e-8}
    _flip(BD.verdict_bounded_schedule_never_raises_a_loss, ([relu, unc],),
          ([relu, {**unc, "max rise over uniform": 1e-3}],), "holds", "holds under stated conditions")
    assert BD.verdict_bounded_schedule_never_raises_a_loss(
        [{**relu, "max rise over uniform": 1e-9}, unc])[0] == "fails"
    assert BD.verdict_bounded_schedule_never_raises_a_loss([relu, {**unc, "duality gap": 1e-3}])[0] == \
        "not checkable as stated"


def test_verdict_bounded_tradeoff_flips_when_a_schedule_is_no_better_than_less_uniform_decay():
    row = {"balanced: uniform, smaller lambda": 0.15, "balanced: capped": 0.10, "balanced: occurrence": 0.11,
           "max duality gap": 1e-8}
    _flip(BD.verdict_bounded_schedule_tradeoff, ([row],), ([{**row, "balanced: occurrence": 0.15}],),
          "holds", "fails")
    assert BD.verdict_bounded_schedule_tradeoff([{**row, "balanced: capped": float("nan")}])[0] == "holds"
    both_nan = {**row, "balanced: capped": float("nan"), "balanced: occurrence": float("nan")}
    assert BD.verdict_bounded_schedule_tradeoff([both_nan])[0] == "fails"
    assert BD.verdict_bounded_schedule_tradeoff([{**row, "max duality gap": 1e-4}])[0] == "fails"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10_000), min_size=2, max_size=30), st.floats(1.0, 1e5), st.floats(1e-6, 1.0))
def test_the_occurrence_schedule_is_bounded_by_the_capped_one_and_by_uniform_decay(counts, tokens, lam):
    from theory.ufm.perclass import capped_schedule, occurrence_schedule

    n = np.array(counts, dtype=float)
    occ = occurrence_schedule(n, lam, tokens)
    cap = capped_schedule(n, lam, n.sum() / tokens)  # Markov/Bernoulli: P(k occurs) <= min(1, T p_k)
    assert np.all(occ > 0) and np.all(occ <= lam * (1 + 1e-15)) and np.all(cap <= lam)
    assert np.all(occ <= cap * (1 + 1e-12))
    order = np.argsort(n, kind="stable")
    assert np.all(np.diff(occ[order]) >= -1e-15 * lam)  # more frequent, more often decayed


def test_the_occurrence_strength_is_the_share_of_steps_whose_iid_batch_holds_the_token():
    """'Decay a row only at steps where its token occurs', simulated: T i.i.d. tokens a step over 20,000 steps;
    each row's share of decayed steps against 1 - (1 - p)^T (binomial standard errors, 5 sigma)."""
    from theory.ufm.perclass import occurrence_schedule

    counts, T, steps = np.array([500.0, 120, 30, 7, 2, 1]), 40, 20_000
    rng = np.random.default_rng(0)
    draws = rng.choice(counts.size, size=(steps, T), p=counts / counts.sum())
    share = np.array([(draws == k).any(axis=1).mean() for k in range(counts.size)])
    want = occurrence_schedule(counts, 1.0, T)
    assert np.all(np.abs(share - want) <= 5 * np.sqrt(want * (1 - want) / steps) + 1e-12)


def test_the_capped_schedule_gives_every_class_below_n_ref_the_uniform_loss_of_count_n_ref():
    from theory.ufm.perclass import capped_schedule, relu_perclass

    counts, n_ref = np.array([60.0, 25, 9, 4, 2, 1]), 9.0
    lam = 0.3 / counts.sum()
    capped = relu_perclass(counts, lam, capped_schedule(counts, lam, n_ref))["per_class_loss"]
    uniform = relu_perclass(counts, lam, lam)["per_class_loss"]
    tail = counts <= n_ref
    assert np.ptp(capped[tail]) < 1e-14 and np.array_equal(capped[~tail], uniform[~tail])
    assert np.all(capped <= uniform)
    N, V = counts.sum(), counts.size
    assert capped[-1] == pytest.approx(-np.log(1 - N * np.sqrt(lam * lam * (V - 1) / (V * n_ref))), rel=1e-13)


def test_the_preconditioned_perclass_solver_is_certified_and_agrees_with_the_reduced_solver():
    from theory.ufm.perclass import solve_perclass_unconstrained
    from theory.ufm.problem import Problem
    from theory.ufm.unconstrained import solve_unconstrained

    counts = np.array([30.0, 9, 4, 1, 1])
    lam = 0.4 / counts.sum()
    r = solve_perclass_unconstrained(counts, lam, lam)
    ref = solve_unconstrained(Problem(counts, lam, lam), tol=1e-11)
    assert 0 <= r["duality_gap"] <= 1e-6 and r["objective"] == pytest.approx(ref.objective, abs=1e-8)
    warm = solve_perclass_unconstrained(counts, lam, lam * np.array([1, 1, 0.5, 0.2, 0.2]), x0=r["x"])
    assert 0 <= warm["duality_gap"] <= 1e-6 and warm["objective"] < r["objective"]  # less decay, lower minimum
    with pytest.raises(InputError, match="x0"):
        solve_perclass_unconstrained(counts, lam, lam, x0=np.zeros(3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 1000), st.floats(0.01, 3.0)), min_size=2, max_size=12),
       st.floats(0.0, 1.0))
def test_the_linear_programme_floor_is_below_every_feasible_loss_vector_of_that_average(classes, t):
    """lp_best_balanced: no loss vector l with 0 <= l <= u and the same count-weighted average has a lower mean;
    checked against l = s u (s in [0, 1]) and against the reversed greedy fill (tail first)."""
    counts = np.array([c for c, _ in classes], dtype=float)
    u = np.array([x for _, x in classes])
    w = counts / counts.sum()
    target = t * (w @ u)
    floor = BD.lp_best_balanced(counts, u, target)
    assert floor <= (t * u).mean() + 1e-12
    tail_first, acc = np.zeros_like(u), 0.0
    for k in np.argsort(counts, kind="stable"):
        tail_first[k] = min(u[k], (target - acc) / w[k])
        acc += w[k] * tail_first[k]
    assert floor <= tail_first.mean() + 1e-12
