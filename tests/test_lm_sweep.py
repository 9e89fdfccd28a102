"""The LM sweep: contract files, resume without redoing finished runs, Table 1, bad configs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lm_experiments.data import prepare
from lm_experiments.collect import MIN_EVAL_COUNT, collect, table1
from lm_experiments.config import SweepConfig, load_sweep_config
from lm_experiments.plan import run_name
from lm_experiments.sweep import run_sweep
from plumbing.errors import InputError
from plumbing.schemas import LM_GROUP_SIZES, LM_SUMMARY, frame
from theory.ufm import metrics

# the sweep folders come from tests/conftest.py: sweep_config(**fields) and lm_sweep_dir (a finished
# sweep_config() sweep, shared read-only: a test that changes it works on a copy)


def _copy(lm_sweep_dir, tmp_path):
    return Path(shutil.copytree(lm_sweep_dir[0], tmp_path / "lm"))


def test_sweep_writes_contract_summary_and_table1(lm_sweep_dir):
    out, summary = lm_sweep_dir
    on_disk = pd.read_csv(out / "summary.csv")
    assert list(on_disk.columns) == list(LM_SUMMARY.columns)
    assert sorted(on_disk["split"].unique()) == ["heldout", "train"]
    assert len(on_disk) == 2 * 2  # lambdas x splits (1 seed)
    assert np.isfinite(on_disk[["average_loss", "balanced_loss", "accuracy"]].to_numpy()).all()
    assert len(summary) == len(on_disk)
    t1 = (out / "table1.md").read_text()
    assert "| 0 |" in t1 and "| 1 |" in t1
    for name in ("token_stats.csv", "token_stats.json", "text_sample.csv", "learning_speed.csv"):
        assert (out / name).stat().st_size > 0, name


def test_every_table_of_the_sweep_counts_the_tokens_the_runs_trained_on(lm_sweep_dir, sweep_config):
    """token_stats, text_sample, learning_speed and the low/high split of metrics/summary all use the counts of the
    first train_tokens training ids, the ids train_run trains on (not the whole training split)."""
    out, _ = lm_sweep_dir
    cfg = sweep_config()
    n = cfg.train["train_tokens"]
    prepared = prepare(cfg.corpus, cfg.vocab_size, out / "data")  # the sweep's cached data
    assert prepared.train.size > 2 * n  # the whole split would give other counts
    expected = np.bincount(prepared.train[:n].astype(np.int64), minlength=prepared.vocab_size)
    ts = pd.read_csv(out / "token_stats.csv")
    np.testing.assert_array_equal(ts["count"], expected)
    assert ts["count"].sum() == n
    info = json.loads((out / "token_stats.json").read_text())
    assert info["n_tokens_counted"] == n == info["train_tokens"]
    threshold = metrics.count_threshold(expected)
    assert info["p99_count_threshold"] == threshold
    for run in (out / "runs").iterdir():
        assert json.loads((run / "manifest.json").read_text())["n_train_tokens_used"] == n
    # the text sample's threshold and counts
    sample = pd.read_csv(out / "text_sample.csv", keep_default_na=False)
    assert (sample["threshold"] == threshold).all()
    np.testing.assert_array_equal(sample["count"], expected[sample["token_id"]])
    np.testing.assert_array_equal(sample["low_freq"], sample["count"] < threshold)
    # group sizes: summary (from each run's metrics.csv) == the token table's flags, ids with a count > 0
    seen = ts["count"] > 0
    want = {"n_low": (ts["low_freq"] & seen).sum(), "n_high": (~ts["low_freq"] & seen).sum(),
            "n_low_mass": (ts["low_mass"] & seen).sum(), "n_high_mass": (~ts["low_mass"] & seen).sum()}
    assert want["n_low"] + want["n_high"] == seen.sum() and min(want.values()) > 0
    summary = pd.read_csv(out / "summary.csv")
    for k, v in want.items():
        assert (summary[k] == v).all(), k
    # the summary's group losses are the per-token losses of the final step split by the token table's flags
    for _, r in summary.iterrows():
        pt = pd.read_csv(out / "runs" / r["run"] / "per_token.csv.gz")
        pt = pt[(pt["step"] == r["step"]) & (pt["split"] == r["split"])]
        for flag, low_col, high_col in (("low_freq", "low_freq_loss", "high_freq_loss"),
                                        ("low_mass", "low_mass_loss", "high_mass_loss")):
            low = ts[flag].to_numpy()[pt["token_id"]]
            for mask, col in ((low, low_col), (~low, high_col)):
                assert np.average(pt["loss"][mask], weights=pt["count"][mask]) == pytest.approx(r[col], rel=1e-9)
    # learning speed: training counts and bins of the token table; eval counts of the training window
    speed = pd.read_csv(out / "learning_speed.csv")
    np.testing.assert_array_equal(speed["train_count"], expected[speed["token_id"]])
    np.testing.assert_array_equal(speed["pow3_bin"], ts["pow3_bin"].to_numpy()[speed["token_id"]])
    for (lam, seed), g in speed.groupby(["lambda", "seed"]):
        run = out / "runs" / run_name(lam, seed, "no-norm-bias")
        pt = pd.read_csv(run / "per_token.csv.gz")
        first = pt[(pt["step"] == 0) & (pt["split"] == "train")].set_index("token_id")["count"]
        np.testing.assert_array_equal(g["eval_count"], first[g["token_id"]].to_numpy())
    assert (speed["eval_count"] <= speed["train_count"]).all()  # the window lies inside the trained-on ids
    np.testing.assert_array_equal(speed["measurable"], speed["eval_count"] >= MIN_EVAL_COUNT)
    assert speed["measurable"].any() and not speed["measurable"].all()
    # Table 1 carries the same group sizes
    t1 = pd.read_csv(out / "table1.csv")
    for k, v in want.items():
        assert (t1[k] == v).all(), k
    md = (out / "table1.md").read_text()
    assert f"| {want['n_low']} / {want['n_high']} |" in md and f"| {want['n_low_mass']} / {want['n_high_mass']} |" in md


def test_collect_refuses_runs_split_by_other_counts(tmp_path, sweep_config, lm_sweep_dir):
    """Counts of other tokens than the runs trained on are refused: the whole training split (another number of
    tokens, from the runs' manifests), or as many tokens with another group size."""
    out = _copy(lm_sweep_dir, tmp_path)
    cfg = sweep_config()
    prepared = prepare(cfg.corpus, cfg.vocab_size, out / "data")
    whole = np.bincount(prepared.train.astype(np.int64), minlength=prepared.vocab_size).astype(float)
    with pytest.raises(InputError, match="trained on 4000 tokens"):
        collect(cfg, out, whole)
    counts = pd.read_csv(out / "token_stats.csv")["count"].to_numpy(float).copy()
    collect(cfg, out, counts)  # the sweep's own counts pass
    top, unseen = int(np.argmax(counts)), int(np.flatnonzero(counts == 0)[0])
    counts[top], counts[unseen] = counts[top] - 1, 1  # same total, one more id seen
    with pytest.raises(InputError, match="group sizes"):
        collect(cfg, out, counts)


def test_rerun_skips_finished_runs(tmp_path, sweep_config, lm_sweep_dir):
    out = _copy(lm_sweep_dir, tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.csv")}
    run_sweep(sweep_config(), out, progress=False)
    assert stamps and all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_sweep_refuses_a_folder_of_another_config(tmp_path, sweep_config, lm_sweep_dir):
    out = _copy(lm_sweep_dir, tmp_path)
    with pytest.raises(InputError, match="another config"):
        run_sweep(sweep_config(lambdas=(0.0, 0.5)), out, progress=False)


def test_table1_reports_mean_and_std_over_seeds():
    s = frame(LM_SUMMARY, {"decay_mode": "m", "split": "train", "lambda": [0.0, 0.0, 1.0, 1.0], "seed": [0, 1, 0, 1],
                           "average_loss": [1.0, 3.0, 2.0, 2.0], "balanced_loss": 1.0, "accuracy": 0.5,
                           "low_freq_loss": 1.0, "high_freq_loss": 1.0, "low_mass_loss": [4.0, 6.0, 1.0, 1.0],
                           "high_mass_loss": 1.0, "n_low": 290, "n_high": 3, "n_low_mass": 280, "n_high_mass": 13,
                           "step": 6, "corpus": "c", "run": ["r0", "r1", "r2", "r3"]})
    t = table1(s).set_index("lambda")
    assert t.loc[0.0, "average_loss_mean"] == 2.0 and t.loc[0.0, "low_mass_loss_mean"] == 5.0
    assert t.loc[0.0, "average_loss_std"] == pytest.approx(np.sqrt(2.0))
    assert t.loc[1.0, "average_loss_std"] == 0.0
    assert (t["n_seeds"] == 2).all()
    assert (t[list(LM_GROUP_SIZES)].to_numpy() == [290, 3, 280, 13]).all()
    s.loc[1, "n_low"] = 289  # seeds split by different counts: no single group size to report
    with pytest.raises(InputError, match="group sizes"):
        table1(s)


@pytest.mark.parametrize("bad,message", [
    ({"lambdas": (-1.0,)}, "lambdas"), ({"vocab_size": 10}, "vocab_size"), ({"seeds": ()}, "seeds"),
    ({"train": {"learning_rate": 1}}, "learning_rate"), ({"decay_modes": ("everything",)}, "everything"),
    ({"compare_at": (3.0,)}, "compare_at holds 3.0"), ({"regimes": {"a": {"lambda": 1}}}, "'lambda'"),
    ({"seeds": (0, 0)}, "seeds repeats"), ({"lambdas": (0.0, 1.0, 1.0)}, "lambdas repeats"),
    ({"seeds": (0.5,)}, "seeds"), ({"train": {"bf16": "no"}}, "bf16 must be true or false, got 'no'"),
])
def test_bad_sweep_config_is_rejected_naming_the_value(bad, message):
    with pytest.raises(InputError, match=message):
        SweepConfig(**bad)


def test_presets_and_shipped_config_files_load():
    for name in ("tiny", "gpu-270m"):
        assert load_sweep_config(name).lambdas
    tiny = load_sweep_config("tiny")  # make reproduce: an interval over >= 3 seeds at the lambdas the claims compare
    assert len(tiny.seeds) >= 3 and {0.0, 2.0} <= set(tiny.lambdas)
    files = sorted((Path(__file__).parents[1] / "lm_experiments" / "configs").glob("*.toml"))
    assert files
    for f in files:
        cfg = load_sweep_config(str(f))
        assert cfg.name == f.stem and 0.0 in cfg.lambdas


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"lambdas": [0, -2]}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lm_experiments", "sweep", "--config", str(f), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "lambdas" in proc.stderr
    assert not out.exists()


def test_unknown_config_key_is_refused_with_the_allowed_keys(tmp_path):
    f = tmp_path / "typo.toml"
    f.write_text('base = "tiny"\nlambdsa = [0.0]\n')
    with pytest.raises(InputError, match=r"unknown config key 'lambdsa'; allowed: .*lambdas"):
        load_sweep_config(str(f))
