"""paper_figures: every figure from a small fixture results folder; the report links only existing files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from paper_figures import fig1, fig2, fig3, fig4, fig5, sim_figs, table1, theory_figs
from paper_figures.report import build_report
from theory.problem import InputError

LAMS = (0.0, 0.5, 1.0)


def _write(path: Path, frame: pd.DataFrame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


@pytest.fixture
def results(tmp_path):
    r = tmp_path / "results"
    rng = np.random.default_rng(0)
    # theory
    (r / "theory").mkdir(parents=True)
    (r / "theory" / "report.json").write_text(json.dumps({"meta": {}, "claims": [
        {"id": "a", "claim": "rare classes have higher loss", "verdict": "holds", "explanation": "exact minimiser"},
        {"id": "b", "claim": "d >= V in the paper's models", "verdict": "fails", "explanation": "d < V"}]}))
    # simulations and languages
    rows = [dict(model=m, optimizer=o, **{"lambda": lam}, seed=0, count=c, loss=1 / c + lam, theory_loss=1 / c + lam)
            for m in ("ufm-unconstrained", "mlp") for o in ("adam", "adamw") for lam in (1e-3, 1e-2) for c in (1, 3, 9)]
    _write(r / "simulations" / "per_class.csv.gz", pd.DataFrame(rows))
    summ = pd.DataFrame(rows).groupby(["model", "optimizer", "lambda"]).mean(numeric_only=True).reset_index()
    summ = summ.assign(average_loss=summ["loss"], balanced_loss=summ["loss"] * 1.5, low_freq_loss=summ["loss"] * 2,
                       high_freq_loss=summ["loss"] / 2)
    _write(r / "simulations" / "summary.csv", summ)
    _write(r / "languages" / "languages.csv", pd.DataFrame({"language": ["en", "de"], "vocab_size": [10, 20],
                                                           "share_below_p95_mass": [0.9, 0.8],
                                                           "share_below_p99_count": [0.99, 0.99]}))
    # LM sweep
    lm = r / "lm"
    s = pd.DataFrame([dict(**{"lambda": lam}, seed=seed, split=split, average_loss=1 + lam, balanced_loss=2 + 3 * lam,
                           accuracy=0.5, low_freq_loss=3 + 2 * lam, high_freq_loss=1 + 0.1 * lam, decay_mode="no-norm-bias")
                      for lam in LAMS for seed in (0, 1) for split in ("train", "heldout")])
    _write(lm / "summary.csv", s)
    g = s.groupby(["decay_mode", "split", "lambda"])[["average_loss", "balanced_loss", "accuracy", "low_freq_loss",
                                                      "high_freq_loss"]]
    t = g.mean().add_suffix("_mean").join(g.std().add_suffix("_std")).reset_index().assign(n_seeds=2)
    _write(lm / "table1.csv", t)
    counts = np.sort(rng.zipf(1.5, 200).astype(float))[::-1]
    _write(lm / "token_stats.csv", pd.DataFrame({"token_id": range(200), "count": counts}))
    (lm / "token_stats.json").write_text(json.dumps({"p99_count_threshold": 50.0, "tokens_for_50pct_mass": 3,
                                                     "tokens_for_80pct_mass": 30, "tokens_for_95pct_mass": 120,
                                                     "share_below_p95_mass": 0.4, "share_below_p99_count": 0.99}))
    pieces = ["The", " film", " was", " a", " quokka", ".", "\n", "End"]
    _write(lm / "text_sample.csv", pd.DataFrame({"position": range(8), "token_id": range(8), "piece": pieces,
                                                 "count": [900, 800, 700, 5000, 1, 4000, 10, 3],
                                                 "low_freq": [False, False, False, False, True, False, True, True],
                                                 "threshold": 850.0}))
    _write(lm / "learning_speed.csv", pd.DataFrame([dict(**{"lambda": lam}, seed=0, token_id=i, train_count=counts[i],
                                                         pow3_bin=int(np.log(counts[i]) / np.log(3)),
                                                         learning_speed=rng.random(), decay_mode="no-norm-bias")
                                                    for lam in LAMS for i in range(200)]))
    (lm / "config.json").write_text(json.dumps({"config": {"corpus": "rotten-tomatoes", "vocab_size": 200,
                                                           "seeds": [0, 1], "train": {"preset": "tiny", "steps": 10}}}))
    (lm / "data_manifest.json").write_text(json.dumps({"corpus": {"n_train_docs": 9, "n_heldout_docs": 1},
                                                       "n_train_tokens": 1000, "tokenizer_hash": "abc"}))
    return r


@pytest.mark.parametrize("module", [fig1, fig2, fig3, fig4, fig5, sim_figs])
def test_every_figure_writes_a_non_empty_png(results, tmp_path, module):
    paths = module.make(results, tmp_path / "out")
    pngs = [p for p in paths if p.suffix == ".png"]
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)


def test_table1_and_verdicts_are_markdown(results, tmp_path):
    md = [p for p in table1.make(results, tmp_path / "o") if p.suffix == ".md"][0].read_text()
    assert "| train | no-norm-bias | 0.5 | 1.5000 ± 0.0000 |" in md
    verdicts = theory_figs.make(results, tmp_path / "o")[0].read_text()
    assert "**fails**" in verdicts and "**holds**" in verdicts


def test_fig2_html_holds_every_piece_in_order(results, tmp_path):
    page = [p for p in fig2.make(results, tmp_path) if p.suffix == ".html"][0].read_text()
    spans = re.findall(r"<span[^>]*>(.*?)</span>", page, flags=re.S)
    assert spans == ["The", " film", " was", " a", " quokka", ".", "\n", "End"]
    assert "850" in page


def test_report_links_only_existing_files(results, tmp_path):
    (results / "simulations" / "summary.csv").unlink()  # one figure cannot be made
    out = tmp_path / "report"
    done = build_report(results, out)
    assert "simulations" in done["missing"] and "summary.csv" in done["missing"]["simulations"]
    md = (out / "report.md").read_text()
    for link in re.findall(r"\]\(([^)]+)\)", md):
        assert (out / link).is_file(), link
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert "**fails**" in md


def test_missing_or_malformed_input_names_the_file(results, tmp_path):
    bad = results / "lm" / "summary.csv"
    pd.read_csv(bad).drop(columns="split").to_csv(bad, index=False)
    with pytest.raises(InputError, match="summary.csv.*split"):
        fig1.make(results, tmp_path)
    (results / "lm" / "text_sample.csv").unlink()
    with pytest.raises(InputError, match="text_sample.csv"):
        fig2.make(results, tmp_path)


def test_cli_missing_results_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "paper_figures", "fig1", "--results", str(tmp_path / "none"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "none" in proc.stderr


def test_docs_writes_small_headline_pngs(results, tmp_path):
    from PIL import Image

    from paper_figures import docs

    paths = docs.make(results, tmp_path / "docs", width=400)
    assert len(paths) == 4
    assert all(max(Image.open(p).size) <= 400 for p in paths)


@pytest.mark.parametrize("package", ["theory", "simulations", "lm_experiments", "paper_figures"])
def test_every_package_prints_help(package):
    proc = subprocess.run([sys.executable, "-m", package, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage" in proc.stdout, proc.stderr
