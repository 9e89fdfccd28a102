"""The verification report: a verdict for every claim, files that exist, tables pandas can read, and
figures that are redrawn from those tables alone (by theory.figures and by paper_figures)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from plumbing.errors import InputError
from theory import figures
from theory.verify import VERDICTS

CLAIMS = {"proposition_as_stated", "relu_closed_form", "unconstrained_optimum", "balanced_closed_form",
          "loss_decreases_with_count", "loss_increases_with_lambda", "rare_classes_more_sensitive",
          "average_vs_balanced", "d_at_least_V_needed", "d_at_least_V_in_paper_models"}
LEGACY_TABLES = {"per_class_loss.csv", "lambda_sweep.csv", "sensitivity.csv"}


@pytest.fixture(scope="module")
def report(theory_verify_dir):
    return theory_verify_dir


def test_every_claim_has_a_verdict_and_its_figures_exist(report):
    data = json.loads((report / "report.json").read_text())
    claims = {c["id"]: c for c in data["claims"]}
    assert set(claims) == CLAIMS
    for c in claims.values():
        assert c["verdict"] in VERDICTS and c["evidence"]
        assert list(c) == ["id", "claim", "check", "verdict", "explanation", "evidence", "figures"]
        for fig in c["figures"]:
            assert (report / fig).stat().st_size > 10_000
    md = (report / "report.md").read_text()
    for c in claims.values():
        assert f"## {c['id']}" in md and f"**Verdict: {c['verdict']}.**" in md
    assert not list(report.glob(".*.tmp"))  # no temp file left behind


def test_the_verdicts_are_the_ones_the_evidence_supports(report):
    claims = {c["id"]: c for c in json.loads((report / "report.json").read_text())["claims"]}
    assert claims["proposition_as_stated"]["verdict"] == "not checkable as stated"
    for cid in ("relu_closed_form", "unconstrained_optimum", "balanced_closed_form",
                "loss_decreases_with_count", "loss_increases_with_lambda", "average_vs_balanced"):
        assert claims[cid]["verdict"] == "holds", cid
    assert claims["rare_classes_more_sensitive"]["verdict"] == "holds under stated conditions"
    assert claims["d_at_least_V_in_paper_models"]["verdict"] == "fails"


def test_tables_are_tidy(report):
    per_class = pd.read_csv(report / "per_class_loss.csv")
    sweep = pd.read_csv(report / "lambda_sweep.csv")
    assert {"model", "instance", "lambda", "class", "count", "loss"} <= set(per_class.columns)
    assert set(per_class["model"]) == set(sweep["model"]) == {"ufm-relu", "ufm-unconstrained"}  # theory.solve.MODELS
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


def test_figures_are_redrawn_identically_from_the_folder_alone(report, tmp_path):
    folder = tmp_path / "theory"
    folder.mkdir()
    for p in report.glob("*.csv"):
        shutil.copy(p, folder)
    paths = figures.redraw(folder)
    assert sorted(p.name for p in paths) == sorted(figures.FIGURES)
    for p in paths:  # the very bytes verify wrote: its figures come from the saved tables only
        assert p.read_bytes() == (report / p.name).read_bytes(), p.name


def test_paper_figures_redraws_the_theory_figures_from_the_tables(report, tmp_path):
    from paper_figures import theory_figs
    from paper_figures.report import build_report

    results = tmp_path / "results"
    shutil.copytree(report, results / "theory")
    for p in (results / "theory").glob("*.png"):
        p.unlink()  # nothing to copy: the figures must be drawn
    out = tmp_path / "out"
    made = theory_figs.make(results, out)
    pngs = {p.name: p for p in made if p.suffix == ".png"}
    assert set(pngs) == {f"theory_{n}.png" for n in theory_figs.FIGURES}
    for name, p in pngs.items():
        assert p.read_bytes() == (report / name.removeprefix("theory_")).read_bytes(), name
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
