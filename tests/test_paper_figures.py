"""paper_figures: every figure from a small fixture results folder generated here (no real results needed);
the report links only existing files; missing or malformed inputs name the file."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lm_experiments import stats
from lm_experiments.collect import collect
from lm_experiments.config import SweepConfig
from lm_experiments.plan import run_name
from lm_experiments.token_report import write_stats
from paper_figures import fig1, fig2, fig3, fig5, sim_figs, table1, theory_figs
from paper_figures.cli import main
from paper_figures.common import lm_dirs
from paper_figures.report import FIGURES, build_report
from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.config import claim_result_folder
from plumbing.errors import InputError
from plumbing.schemas import LM_RUN_METRICS, LM_RUN_PER_TOKEN, LM_TEXT_SAMPLE, LM_TOKEN_STATS, frame
from simulations.languages import write_languages
from theory.verification.corpus import write_corpus

# Every result file of the fixture folder is made by the writer that makes it in a real run (or, for the
# synthetic LM run files and the text sample, through their schemas), so a writer that renames a column
# breaks these tests. theory/ is a real `theory verify` folder (tests/conftest.py) without its PNGs, which
# paper_figures must redraw from the tables.
LAMS = (0.0, 0.5, 1.0)
STEPS = (0, 5, 10)  # evaluation steps of the synthetic LM runs
RISING_BELOW = 3  # synthetic tokens with a count below this get a rising loss curve
PIECES = ["The", " film", " was", " a", " quokka", ".", "\n", "NA", " <b>&", " $x$", " un", "believ", "able"]


def _metrics(lam: float, seed: int, step: int, counts) -> dict:
    """The metrics of one evaluation; the values at the last step (STEPS[-1]) are the ones the tests check. The
    group sizes are those of the training counts (collect.collect refuses others)."""
    from theory.ufm import metrics

    late = (STEPS[-1] - step) / STEPS[-1]
    seen, low, low_mass = counts > 0, metrics.low_frequency_mask(counts), metrics.mass_tail_mask(counts, 0.5)
    return {"average_loss": 1 + lam + 0.01 * seed + late, "balanced_loss": 2 + 3 * lam + late, "accuracy": 0.5,
            "low_freq_loss": 3 + 2 * lam + late, "high_freq_loss": 1 + 0.1 * lam + late,
            "low_mass_loss": 2.5 + lam + late, "high_mass_loss": 1 + late, "n_low": int((low & seen).sum()),
            "n_high": int((~low & seen).sum()), "n_low_mass": int((low_mass & seen).sum()),
            "n_high_mass": int((~low_mass & seen).sum())}


def _lm_folder(lm: Path, rng, seeds=(0, 1), vocab=300):
    """An LM sweep folder made by the sweep's own writers from synthetic run files: each run's metrics.csv and
    per_token.csv.gz (through the run schemas), then token_stats (lm_experiments.stats), config.json (the
    sweep's record) and summary.csv, learning_speed.csv, table1.csv/.md (lm_experiments.collect.collect)."""
    cfg = SweepConfig(name="tiny", corpus="toy", vocab_size=vocab, lambdas=LAMS, seeds=seeds,
                      decay_modes=("no-norm-bias", "lazy-embed-out"), train={"preset": "tiny", "steps": STEPS[-1]})
    counts = np.sort(rng.zipf(1.5, vocab).astype(float))[::-1]
    ids = np.arange(vocab)
    for mode, lam, seed in ((m, lam, s) for m in cfg.decay_modes for lam in LAMS for s in seeds):
        if lam == 0 and mode != cfg.decay_modes[0]:
            continue  # lambda 0: one run serves every decay mode
        run = lm / "runs" / run_name(lam, seed, mode)
        mitigated = 0.5 if mode == "lazy-embed-out" else 1.0  # the mitigation halves the effect of lambda
        rows = [{"step": step, "split": split, **_metrics(lam * mitigated, seed, step, counts), "n_tokens": 1000}
                for step in STEPS for split in ("train", "heldout")]
        atomic_write_csv(frame(LM_RUN_METRICS, rows), run / LM_RUN_METRICS.name)
        rate = rng.uniform(0.05, 0.5, vocab) / (1 + lam)
        rate[counts < RISING_BELOW] = -0.05  # the rarest tokens' loss rises: a negative learning speed
        tokens = [{"step": step, "split": split, "token_id": ids, "count": counts,
                   "loss": (1 + 5 / counts ** 0.3) * (0.2 + 0.8 * np.exp(-rate * step))}
                  for step in STEPS for split in ("train", "heldout")]
        atomic_write_csv(frame(LM_RUN_PER_TOKEN, pd.concat([pd.DataFrame(t) for t in tokens])),
                         run / LM_RUN_PER_TOKEN.name)
        atomic_write_json(run / "done.json", {"steps": STEPS[-1]})  # finished (collect reads finished runs)
    atomic_write_json(lm / "config.json", claim_result_folder(lm, cfg.to_dict()))
    atomic_write_csv(stats.token_table(counts), lm / LM_TOKEN_STATS.name)
    atomic_write_json(lm / "token_stats.json", stats.mass_cuts(counts))
    n = len(PIECES)
    atomic_write_csv(frame(LM_TEXT_SAMPLE, {
        "position": range(n), "token_id": range(n), "piece": PIECES, "count": [900, 800, 700, 5000, 1, 4000, 10, 3,
                                                                               2, 1, 900, 4, 5],
        "low_freq": [False, False, False, False, True, False, True, True, True, True, False, True, True],
        "threshold": 850.0}), lm / LM_TEXT_SAMPLE.name)
    (lm / "data_manifest.json").write_text(json.dumps({"corpus": {"spec": "toy", "n_train_docs": 9,
                                                                  "n_heldout_docs": 1},
                                                       "n_train_tokens": 1000, "tokenizer_hash": "abc"}))
    collect(cfg, lm, counts)


def _make_results(r: Path, sim_grid_dir: Path, theory_verify_dir: Path) -> Path:
    rng = np.random.default_rng(0)
    shutil.copytree(theory_verify_dir, r / "theory", ignore=shutil.ignore_patterns("*.png", "*.pdf"))
    # simulations: a tiny real grid (tests/conftest.py); languages: the real writer on two small word lists
    shutil.copytree(sim_grid_dir, r / "simulations")
    write_languages(r / "languages", ["lv", "ms"], progress=False)
    from simulations.config import SimConfig
    from simulations.mitigation import run_mitigation  # the real writer on a tiny grid

    run_mitigation(SimConfig(V=6, steps={"lbfgs": 40, "adamw": 100}, checkpoints=2), r / "sim_mitigation",
                   progress=False)
    _lm_folder(r / "lm", rng)
    write_corpus(str(r / "lm" / "token_stats.csv"), str(r / "theory_corpus"))  # `python -m theory corpus`
    return r


@pytest.fixture(scope="module")
def template(tmp_path_factory, sim_grid_dir, theory_verify_dir):
    """The fixture results folder, made once per module by the writers; tests get copies."""
    return _make_results(tmp_path_factory.mktemp("template") / "results", sim_grid_dir, theory_verify_dir)


@pytest.fixture
def results(tmp_path, template):
    """A fresh copy of the fixture results folder per test (tests may break its files)."""
    return Path(shutil.copytree(template, tmp_path / "results"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, template):
    """One report over an intact fixture, shared by the read-only tests: (results, out, build_report's answer)."""
    root = tmp_path_factory.mktemp("built")
    results, out = Path(shutil.copytree(template, root / "results")), root / "report"
    return results, out, build_report(results, out)


def _pngs(paths):
    return [Path(p) for p in paths if Path(p).suffix == ".png"]


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_writes_its_files(built, name):
    results, _, done = built
    assert not done["missing"], done["missing"]
    paths = [Path(p) for p in done["made"][name]]
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    if name == "table1":
        assert {p.suffix for p in paths} == {".md", ".csv"}
    else:
        pngs = _pngs(paths)
        assert pngs and all(p.stat().st_size > (50 if name == "theory" else 1000) for p in pngs)
        assert {p.stem for p in paths if p.suffix == ".pdf"} <= {p.stem for p in pngs}
    assert all(p.is_file() for p in FIGURES[name].inputs(results))


def test_fig1_has_one_row_per_lm_sweep_of_the_findings(built, results, tmp_path):
    one = Image.open(_pngs(built[2]["made"]["fig1"])[0]).size
    shutil.copytree(results / "lm", results / "real_scale" / "sw" / "reg")  # a real-scale regime: a second row
    (results / "lm_stats").mkdir()  # not a sweep: ignored
    two = Image.open(_pngs(fig1.make(results, tmp_path / "two"))[0]).size
    assert two[1] > 1.7 * one[1]


def test_fig1_draws_the_checked_changes_and_refuses_a_damaged_summary(results, tmp_path):
    path = results / "lm" / "summary.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + [lines[1]]))  # a duplicated run would pass for another seed
    with pytest.raises(InputError, match="summary.csv' line .* repeats line 2"):
        fig1.make(results, tmp_path / "fig")
    assert not (tmp_path / "fig").exists()


def test_fig5_states_negative_speed_shares_among_all_and_measurable_tokens(results, tmp_path):
    speed = pd.read_csv(results / "lm" / "learning_speed.csv")
    np.testing.assert_array_equal(speed["measurable"], speed["eval_count"] >= 20)
    first = speed[(speed["seed"] == 0) & (speed["lambda"] == 0.0) & (speed["decay_mode"] == "no-norm-bias")]
    f = fig5.negative_shares(first)
    # the fixture's rising curves are the rarest tokens: negative speeds exist, none of them measurable
    assert f["all"] == pytest.approx((first["train_count"] < RISING_BELOW).mean()) and f["all"] > 0
    assert f["measurable"] == 0.0 and f["n_measurable"] == first["measurable"].sum() < f["n_all"] == len(first)
    assert f["min_eval_count"] >= 20
    text = fig5.facts(results)
    assert (f"λ = 0: {100 * f['all']:.1f}% of {f['n_all']} tokens and 0.0% of the {f['n_measurable']} "
            "measurable") in text
    assert _pngs(fig5.make(results, tmp_path))


def test_fig3_uses_vocab_share_when_present(results, tmp_path, lm_corpus_file):
    write_stats(f"files:{lm_corpus_file}", [300, 400], results / "lm_stats")  # `python -m lm_experiments stats`
    assert results / "lm_stats" / "vocab_share.csv" in fig3.inputs(results)
    assert _pngs(fig3.make(results, tmp_path))[0].stat().st_size > 1000


def test_committed_real_scale_regimes_join_the_lm_folders_and_the_report(results, tmp_path):
    """results/real_scale/<sweep>/<regime>/ (lm_experiments pack) is read like any LM sweep folder, named
    sweep/regime in the report's tables."""
    sweep = results / "real_scale" / "gpu-270m"
    for i, regime in enumerate(("memorised", "corpus")):
        _lm_folder(sweep / regime, np.random.default_rng(10 + i), vocab=400)
    atomic_write_json(sweep / "config.json", {"config": {"name": "gpu-270m"}})
    assert [p.relative_to(results).as_posix() for p in lm_dirs(results)] == [
        "lm", "real_scale/gpu-270m/corpus", "real_scale/gpu-270m/memorised"]
    done = build_report(results, tmp_path / "report")
    assert not done["missing"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "gpu-270m/memorised: tiny on toy" in md and "gpu-270m/corpus: tiny on toy" in md


def test_table1_and_verdicts_are_markdown(results, tmp_path):
    md = [p for p in table1.make(results, tmp_path / "o") if p.suffix == ".md"][0].read_text()
    t1 = pd.read_csv(results / "lm" / "table1.csv")
    sizes = f"{int(t1['n_low'].iloc[0])} / {int(t1['n_high'].iloc[0])}"
    assert t1["n_high"].iloc[0] > 0 and t1["n_low"].iloc[0] > t1["n_high"].iloc[0]
    assert f"| train | no-norm-bias | 0.5 | 1.5050 ± 0.0071 | 3.5000 ± 0.0000 | 50.00 ± 0.00 | {sizes} | 2 |" in md
    assert md.index("| train |") < md.index("| heldout |")
    verdicts = theory_figs.make(results, tmp_path / "o")[0].read_text()
    claims = json.loads((results / "theory" / "report.json").read_text())["claims"]
    for c in claims:  # one row per claim, its verdict in bold
        assert f"**{c['verdict']}**" in verdicts and f"| {c['id']} |" in verdicts
    assert theory_figs._cell("d >= V | in\n the paper") == "d >= V \\| in the paper"  # table-safe cells


def test_fig2_html_holds_every_piece_in_order(results, tmp_path):
    page = [p for p in fig2.make(results, tmp_path) if p.suffix == ".html"][0].read_text()
    spans = re.findall(r'<span class="tok (low|high)"[^>]*>(.*?)</span>', page, flags=re.S)
    import html

    assert [html.unescape(t) for _, t in spans] == PIECES
    assert [c for c, _ in spans][:5] == ["high", "high", "high", "high", "low"]
    assert "850" in page and "Legend" in page


def _check_links(out: Path) -> list[str]:
    md = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert all((out / link).is_file() for link in links)
    page = (out / "report.html").read_text()
    srcs = re.findall(r"src='([^']+)'", page)
    assert len(srcs) == len([x for x in links if x.endswith(".png")])
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all((out / h).is_file() for h in re.findall(r"href='([^']+)'", page))
    return links


def test_report_links_only_existing_files(built):
    results, out, done = built
    links = _check_links(out)
    made_pngs = {Path(p).name for v in done["made"].values() for p in v if p.endswith(".png")}
    assert {Path(x).name for x in links if x.endswith(".png")} == made_pngs
    md = (out / "report.md").read_text()
    assert "## Not made" not in md
    # the first screen: scoreboard, then the headline figures, then the findings table and every other figure
    assert md.index("## Scoreboard") < md.index("## fig1") < md.index("## mitigation\n") < md.index("## fig2")
    assert md.index("## theory\n") < md.index("| relu_closed_form |") and "**fails**" in md
    assert "Made from `lm/summary.csv`, `lm/config.json`" in md and "tiny on toy" in md
    page = (out / "report.html").read_text()
    assert "<table>" in page and "<b>fails</b>" in page
    # readable on a phone: the page scales to the screen, every table scrolls sideways in its own container
    assert "name='viewport' content='width=device-width" in page and "img{max-width:100%" in page
    assert page.count("<table") == page.count("<div class='scroll'><table")


def test_report_lists_what_it_could_not_make(results, tmp_path, monkeypatch):
    (results / "simulations" / "summary.csv").unlink()
    (results / "languages" / "languages.csv").write_text("language,vocab_size\nen,3\n")

    def skipped(results, out):
        raise InputError("skipped in this test")

    for name in ("fig1", "fig2", "fig3", "fig4", "fig5", "table1", "mitigation", "mitigation_simulations",
                 "theory_corpus", "simulation_grid"):  # keep it quick
        monkeypatch.setitem(FIGURES, name, FIGURES[name]._replace(make=skipped))
    done = build_report(results, tmp_path / "r")
    assert set(done["made"]) == {"theory"}
    assert "summary.csv" in done["missing"]["simulations"]
    assert "languages.csv" in done["missing"]["languages"] and "share_below_p95_mass" in done["missing"]["languages"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Not made" in md and "simulations/summary.csv" in md and "## theory\n" in md
    _check_links(tmp_path / "r")


def test_report_without_lm_lists_the_lm_figures_as_not_made(results, tmp_path):
    import shutil

    shutil.rmtree(results / "lm")
    done = build_report(results, tmp_path / "r")
    assert {"fig1", "fig2", "fig3", "fig4", "fig5", "table1", "mitigation"} <= set(done["missing"])
    assert all("lm/summary.csv" in v for k, v in done["missing"].items() if k.startswith("fig"))
    assert {"theory", "simulations", "languages"} <= set(done["made"])


def _break(path: Path, how: str):
    if how == "drop_split":
        pd.read_csv(path).drop(columns="split").to_csv(path, index=False)
    elif how == "drop_converged":
        pd.read_csv(path).drop(columns="converged").to_csv(path, index=False)
    elif how == "bad_split":
        pd.read_csv(path).assign(split="validation").to_csv(path, index=False)
    elif how == "text":
        pd.read_csv(path).assign(high_freq_loss="oops").to_csv(path, index=False)
    elif how == "empty":
        path.write_text("")
    elif how == "truncated_gz":
        path.write_bytes(gzip.compress(b"model,optimizer\n" * 100)[:40])
    elif how == "not_json":
        path.write_text("{not json")
    elif how == "missing":
        path.unlink()


@pytest.mark.parametrize("module, rel, how, match", [
    (fig1, "lm/summary.csv", "drop_split", "summary.csv.*split"),
    (fig1, "lm/summary.csv", "bad_split", "summary.csv.*validation"),
    (fig1, "lm/summary.csv", "text", "summary.csv.*high_freq_loss"),
    (fig1, "lm/config.json", "not_json", "config.json"),
    (fig2, "lm/text_sample.csv", "missing", "missing result file.*text_sample.csv"),
    (fig2, "lm/text_sample.csv", "empty", "text_sample.csv"),
    (fig3, "lm/token_stats.json", "missing", "token_stats.json"),
    (fig5, "lm/learning_speed.csv", "drop_split", None),  # no split column needed: must still work
    (sim_figs, "simulations/per_class.csv.gz", "truncated_gz", "per_class.csv.gz"),
    (sim_figs, "simulations/adamw_vs_l2.csv", "missing", "missing result file.*adamw_vs_l2.csv"),
    (sim_figs, "simulations/summary.csv", "drop_converged", "summary.csv.*converged"),
    (theory_figs, "theory/report.json", "not_json", "report.json"),
])
def test_missing_or_malformed_input_names_the_file(results, tmp_path, module, rel, how, match):
    if how == "drop_split" and rel.endswith("learning_speed.csv"):
        assert _pngs(module.make(results, tmp_path))
        return
    _break(results / rel, how)
    with pytest.raises(InputError, match=match) as err:
        module.make(results, tmp_path)
    assert str(results / rel) in str(err.value)


def test_cli_figure_and_report_and_errors(results, tmp_path, capsys):
    assert main(["fig4", "--results", str(results), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "fig4_average_vs_balanced.png").is_file()
    _break(results / "lm" / "summary.csv", "drop_split")
    capsys.readouterr()
    assert main(["fig4", "--results", str(results), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.csv" in err
    import shutil

    for sub in ("simulations", "languages"):  # keep the report quick: theory only
        shutil.rmtree(results / sub)
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"; made: .*theory", printed) and "not made: fig1" in printed and "not made: languages" in printed


def test_cli_missing_results_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "paper_figures", "fig1", "--results", str(tmp_path / "none"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "none" in proc.stderr


def test_docs_writes_small_headline_pngs_the_findings_and_the_readme_list(built, tmp_path):
    from paper_figures import docs, findings

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{docs.FINDINGS_START}\n- old line\n{docs.FINDINGS_END}\n\nkept\n")
    paths = docs.make(built[0], tmp_path / "docs", width=400)
    pngs = [p for p in paths if p.suffix == ".png"]
    assert len(pngs) == len(docs.HEADLINE) == 5 and all(max(Image.open(p).size) <= 400 for p in pngs)
    data = json.loads((tmp_path / "docs" / "findings.json").read_text())
    text = readme.read_text()
    assert docs.readme_section(text) == findings.readme_block(data) and "old line" not in text
    assert text.startswith("# x\n") and text.endswith("\n\nkept\n") and readme in paths


@pytest.mark.parametrize("package", ["theory", "simulations", "lm_experiments", "paper_figures"])
def test_every_package_prints_help(package):
    proc = subprocess.run([sys.executable, "-m", package, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage" in proc.stdout, proc.stderr
