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

from lm_experiments.sweep import SweepConfig, load_sweep_config, run_sweep, table1
from plumbing.errors import InputError
from plumbing.schemas import LM_SUMMARY, frame

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
                           "low_freq_loss": 1.0, "high_freq_loss": 1.0, "step": 6, "corpus": "c",
                           "run": ["r0", "r1", "r2", "r3"]})
    t = table1(s).set_index("lambda")
    assert t.loc[0.0, "average_loss_mean"] == 2.0
    assert t.loc[0.0, "average_loss_std"] == pytest.approx(np.sqrt(2.0))
    assert t.loc[1.0, "average_loss_std"] == 0.0
    assert (t["n_seeds"] == 2).all()


@pytest.mark.parametrize("bad,message", [
    ({"lambdas": (-1.0,)}, "lambdas"), ({"vocab_size": 10}, "vocab_size"), ({"seeds": ()}, "seeds"),
    ({"train": {"learning_rate": 1}}, "learning_rate"), ({"decay_modes": ("everything",)}, "everything"),
])
def test_bad_sweep_config_is_rejected_naming_the_value(bad, message):
    with pytest.raises(InputError, match=message):
        SweepConfig(**bad)


def test_presets_and_shipped_config_files_load():
    for name in ("tiny", "gpu-270m", "gpu-0.5b"):
        assert load_sweep_config(name).lambdas
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
