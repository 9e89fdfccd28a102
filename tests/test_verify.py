"""The verification report: a verdict for every claim, files that exist, tables pandas can read."""

import json

import pandas as pd
import pytest

from theory.verify import VERDICTS, write_report

CLAIMS = {"proposition_as_stated", "relu_closed_form", "unconstrained_optimum", "balanced_closed_form",
          "loss_decreases_with_count", "loss_increases_with_lambda", "rare_classes_more_sensitive",
          "average_vs_balanced", "d_at_least_V_needed", "d_at_least_V_in_paper_models"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("theory")
    write_report(out)
    return out


def test_every_claim_has_a_verdict_and_its_figures_exist(report):
    data = json.loads((report / "report.json").read_text())
    claims = {c["id"]: c for c in data["claims"]}
    assert set(claims) == CLAIMS
    for c in claims.values():
        assert c["verdict"] in VERDICTS and c["evidence"]
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
    assert per_class.groupby(["model", "instance", "c"]).size().nunique() <= 2  # V per instance
    assert (sweep["balanced_loss"] >= sweep["average_loss"] - 1e-12).all()
    assert (sweep.query("model == 'unconstrained'")["duality_gap"] <= 1e-8).all()
