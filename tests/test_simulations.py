"""Simulations: trained endpoints vs theory, the grid's files and resume, configs, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from plumbing.errors import InputError
from plumbing.schemas import SIM_PER_CLASS, SIM_SUMMARY
from simulations.config import PRESETS, SimConfig, load_config
from simulations.run import count_table, effective_lambda, run_grid
from simulations.train import build, train
from theory.problem import Problem
from theory.relu import relu_closed_form
from theory.unconstrained import solve_unconstrained

COUNTS = np.array([8.0, 4.0, 2.0, 1.0, 1.0])
LAMS = [0.01, 0.03]


def _train(model, optimizer, lr, steps, d):
    batch = build(model, COUNTS, [0] * len(LAMS), d, 4, 8, 0.5)
    return train(batch, optimizer, torch.tensor(LAMS, dtype=torch.float64), lr, steps, 5)


@pytest.mark.parametrize("optimizer,lr,steps", [("gd", 0.5, 5000), ("lbfgs", 1.0, 300), ("adam", 0.01, 3000)])
def test_l2_endpoint_matches_certified_unconstrained_minimum(optimizer, lr, steps):
    theory = np.array([solve_unconstrained(Problem(COUNTS, lam, lam), tol=1e-10).per_class_loss for lam in LAMS])
    _, curves = _train("ufm-unconstrained", optimizer, lr, steps, d=5)
    assert np.abs(curves[-1] - theory).max() < 1e-6


@pytest.mark.parametrize("optimizer,lr,steps", [("gd", 0.5, 5000), ("lbfgs", 1.0, 300)])
def test_l2_endpoint_matches_relu_closed_form(optimizer, lr, steps):
    theory = np.array([relu_closed_form(Problem(COUNTS, lam, lam, 15)).per_class_loss for lam in LAMS])
    _, curves = _train("ufm-relu", optimizer, lr, steps, d=15)
    assert np.abs(curves[-1] - theory).max() < 1e-5


def test_relu_features_stay_nonnegative_under_every_optimizer():
    for optimizer, lr in (("gd", 0.5), ("adam", 0.01), ("adamw", 0.01), ("lbfgs", 1.0)):
        batch = build("ufm-relu", COUNTS, [0, 1], 5, 1, 1, 0.0)
        train(batch, optimizer, torch.tensor([0.01, 0.1], dtype=torch.float64), lr, 50, 5)
        assert (batch.features() >= 0).all(), optimizer


def test_batched_runs_equal_separate_runs():
    """Vectorising over lambdas must not couple the runs (first-order optimisers)."""
    lams = torch.tensor([0.0, 0.01, 0.1], dtype=torch.float64)
    together = train(build("mlp", COUNTS, [3, 3, 3], 5, 4, 8, 0.5), "adamw", lams, 0.01, 40, 4)[1]
    for r in range(3):
        alone = train(build("mlp", COUNTS, [3], 5, 4, 8, 0.5), "adamw", lams[r:r + 1], 0.01, 40, 4)[1]
        np.testing.assert_allclose(together[:, r], alone[:, 0], rtol=1e-10, atol=1e-12)


def test_same_seed_reproduces_and_other_seed_differs():
    def final(seed):
        return train(build("softmax-regression", COUNTS, [seed], 5, 4, 8, 0.5), "adam",
                     torch.tensor([0.01], dtype=torch.float64), 0.01, 30, 3)[1][-1]

    np.testing.assert_array_equal(final(1), final(1))
    assert not np.allclose(final(1), final(2))


def test_divergence_is_reported_not_clipped():
    batch = build("ufm-unconstrained", COUNTS, [0], 5, 1, 1, 0.0)
    with pytest.raises(InputError, match="diverged"):
        train(batch, "gd", torch.tensor([0.01], dtype=torch.float64), 1e6, 50, 5)


def test_effective_lambda_recovers_the_lambda_of_a_theory_point():
    lam = 3e-3
    loss = solve_unconstrained(Problem(COUNTS, lam, lam), tol=1e-10).per_class_loss
    lam_eff, dist = effective_lambda("ufm-unconstrained", COUNTS, loss, 5)
    assert dist < 1e-4
    assert abs(np.log10(lam_eff) - np.log10(lam)) < 0.01


TINY = dict(V=6, models=("ufm-unconstrained", "softmax-regression"), optimizers=("gd", "adamw"),
            lambdas=(0.0, 0.01), adamw_lambdas=(0.0, 0.5), seeds=(0,), steps={"gd": 40, "adamw": 40},
            checkpoints=4, input_dim=4, hidden=8)


def test_grid_writes_contract_files_and_resumes_only_missing_parts(tmp_path):
    cfg = SimConfig(**TINY)
    summary = run_grid(cfg, tmp_path, progress=False)
    on_disk = pd.read_csv(tmp_path / SIM_SUMMARY.name)
    assert list(on_disk.columns) == list(SIM_SUMMARY.columns)  # every file's header: tests/test_schemas.py
    assert len(on_disk) == 2 * 2 * 2  # models x optimizers x lambdas (1 seed)
    # theory applies to the UFM at lambda > 0 only
    ufm = on_disk[on_disk["model"] == "ufm-unconstrained"]
    assert ufm[ufm["lambda"] > 0]["max_abs_diff_to_theory"].notna().all()
    assert on_disk[on_disk["model"] == "softmax-regression"]["max_abs_diff_to_theory"].isna().all()
    per_class = pd.read_csv(tmp_path / SIM_PER_CLASS.name)
    assert len(per_class) == len(on_disk) * 6
    # resume: remove one part; the other part's files must be left untouched
    keep = tmp_path / "parts" / "ufm-unconstrained__gd" / "summary.csv"
    stamp = keep.stat().st_mtime_ns
    import shutil
    shutil.rmtree(tmp_path / "parts" / "softmax-regression__adamw")
    again = run_grid(cfg, tmp_path, progress=False)
    assert keep.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again.drop(columns="wall_s_batch"), summary.drop(columns="wall_s_batch"))
    assert not list((tmp_path / "parts").glob(".*"))  # no temp folder left behind


def test_grid_refuses_a_folder_made_by_another_config(tmp_path):
    run_grid(SimConfig(**TINY), tmp_path, progress=False)
    with pytest.raises(InputError, match="another config"):
        run_grid(SimConfig(**{**TINY, "lambdas": (0.0, 0.02)}), tmp_path, progress=False)


def test_frequency_tables_cover_every_class_once():
    cfg = SimConfig(V=50)
    from simulations.run import config_counts
    table = count_table(config_counts(cfg), cfg)
    assert table["class"].tolist() == list(range(50))
    assert (table["pow3_bin"] >= 0).all() and (table["equal_mass_bin"] >= 0).all()
    assert table["low_freq"].any() and not table["low_freq"].all()


@pytest.mark.parametrize("bad,message", [
    ({"lambdas": (-0.1,)}, "lambdas"), ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"V": 1}, "V"),
    ({"optimizers": ("sgd",)}, "sgd"), ({"models": ("transformer",)}, "transformer"),
    ({"lr": {"rmsprop": 0.1}}, "rmsprop"), ({"steps": {"gd": 0}}, "steps"), ({"seeds": ()}, "seeds"),
])
def test_bad_config_is_rejected_naming_the_value(bad, message):
    with pytest.raises(InputError, match=message):
        SimConfig(**bad)


def test_config_file_unknown_key_and_preset_are_rejected(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('V = 20\nlearning_rate = 3\n')
    with pytest.raises(InputError, match="learning_rate"):
        load_config(str(f))
    f.write_text('V = 20\nlambdas = [0.0, 0.1]\n')
    assert load_config(str(f)).lambdas == (0.0, 0.1)
    with pytest.raises(InputError, match="nosuch"):
        load_config("nosuch")


def test_presets_are_valid_configs():
    for cfg in PRESETS.values():
        assert isinstance(cfg, SimConfig)


def test_cli_bad_config_exits_2_with_one_line_and_no_output(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"lambdas": [-1]}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "simulations", "run", "--config", str(f), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "lambdas" in proc.stderr
    assert not out.exists()


def test_cli_run_writes_summary_and_figures(tmp_path):
    f = tmp_path / "tiny.json"
    f.write_text(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "simulations", "run", "--config", str(f), "--out", str(out),
                           "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ("summary.csv", "average_vs_balanced.png", "theory_gap.png", "per_class_vs_frequency_gd.png",
                 "learning_speed_adamw.png"):
        assert (out / name).stat().st_size > 0, name
