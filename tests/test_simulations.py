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
from plumbing.schemas import SIM_ADAMW_VS_L2, SIM_COUNTS, SIM_CURVES, SIM_PER_CLASS, SIM_SUMMARY
from simulations.config import PRESETS, SimConfig, load_config
from simulations.run import CONVERGED_TOL, PLATEAU_TOL, config_counts, convergence, count_table, effective_lambda, \
    run_grid
from simulations.train import build, train
from theory.ufm import metrics
from theory.ufm.counts import zipf_counts
from theory.ufm.problem import Problem
from theory.ufm.relu import relu_closed_form
from theory.ufm.solve import solve
from theory.ufm.unconstrained import solve_unconstrained

COUNTS = np.array([8.0, 4.0, 2.0, 1.0, 1.0])


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one intra-op thread is faster

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


@pytest.mark.parametrize("optimizer,lr", [("adamw", 0.01), ("lbfgs", 1.0)])
def test_batched_runs_equal_separate_runs(optimizer, lr):
    """Vectorising over lambdas must not couple the runs (L-BFGS: one history and line search per run)."""
    lams = torch.tensor([0.0, 0.01, 0.1], dtype=torch.float64)
    together = train(build("mlp", COUNTS, [3, 3, 3], 5, 4, 8, 0.5), optimizer, lams, lr, 40, 4)[1]
    for r in range(3):
        alone = train(build("mlp", COUNTS, [3], 5, 4, 8, 0.5), optimizer, lams[r:r + 1], lr, 40, 4)[1]
        np.testing.assert_allclose(together[:, r], alone[:, 0], rtol=1e-10, atol=1e-12)


def test_lbfgs_reaches_the_optimum_next_to_a_lambda_zero_run():
    """A lambda = 0 run (no minimum: its loss falls forever) in the same batch must not hold the others back,
    as one line search over the summed objective did (it ended 2.8e-3 from the optimum here)."""
    n = zipf_counts(30, 1.0)
    lams = [0.0, 1e-3, 1e-2]
    theory = np.array([solve(Problem(n, lam, lam), "ufm-unconstrained", tol=1e-10).per_class_loss
                       for lam in lams[1:]])
    _, curves = train(build("ufm-unconstrained", n, [0] * 3, 30, 1, 1, 0.0), "lbfgs",
                      torch.tensor(lams, dtype=torch.float64), 1.0, 200, 5)
    assert np.abs(curves[-1, 1:] - theory).max() < 1e-4


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


def test_matched_strength_is_nearer_than_its_grid_neighbours_and_adamw_has_no_theory_distance(sim_grid_dir):
    """AdamW's matched_l2_lambda: its certified optimum is nearer the AdamW endpoint than the optima a quarter
    decade either side (the search grid's spacing); max_abs_diff_to_theory is kept for the L2 runs only."""
    sm = pd.read_csv(sim_grid_dir / SIM_SUMMARY.name)
    pc = pd.read_csv(sim_grid_dir / SIM_PER_CLASS.name)
    counts = pd.read_csv(sim_grid_dir / SIM_COUNTS.name)["count"].to_numpy(float)
    adamw = sm[sm["optimizer"] == "adamw"]
    assert adamw["max_abs_diff_to_theory"].isna().all() and adamw["mean_abs_diff_to_theory"].isna().all()
    l2 = sm[(sm["optimizer"] == "adam") & (sm["model"] == "ufm-unconstrained") & (sm["lambda"] > 0)]
    assert l2["max_abs_diff_to_theory"].notna().all() and l2["matched_l2_lambda"].isna().all()
    ufm = adamw[adamw["model"] == "ufm-unconstrained"]
    assert len(ufm) == 2 and ufm["matched_l2_lambda"].notna().all()
    assert (ufm["l2_strength"] == ufm["matched_l2_lambda"]).all()
    for run in ufm.to_dict("records"):
        loss = pc[(pc["model"] == run["model"]) & (pc["optimizer"] == "adamw") & (pc["lambda"] == run["lambda"])]
        loss = loss.sort_values("class")["loss"].to_numpy()

        def dist(lam):
            return np.abs(loss - solve(Problem(counts, lam, lam), "ufm-unconstrained", tol=1e-9).per_class_loss).max()

        lam = run["matched_l2_lambda"]
        assert dist(lam) == pytest.approx(run["matched_l2_max_abs_diff"], abs=1e-6)
        assert dist(lam) < min(dist(lam * 10 ** -0.25), dist(lam * 10 ** 0.25))
        assert abs(np.log10(lam) - np.log10(run["lambda"])) > 0.5  # not its own lambda: another scale
    # the MLP has no certified optimum: no matched strength
    mlp = adamw[adamw["model"] == "mlp"]
    assert mlp[["matched_l2_lambda", "matched_l2_max_abs_diff", "l2_strength"]].isna().all().all()


def test_adamw_vs_l2_table_holds_the_certified_optimum_at_the_matched_lambda(sim_grid_dir):
    sm = pd.read_csv(sim_grid_dir / SIM_SUMMARY.name)
    table = pd.read_csv(sim_grid_dir / SIM_ADAMW_VS_L2.name)
    counts = pd.read_csv(sim_grid_dir / SIM_COUNTS.name)
    n, low = counts["count"].to_numpy(float), counts["low_mass"].to_numpy(bool)
    assert list(table.columns) == list(SIM_ADAMW_VS_L2.columns)
    assert len(table) == (sm["optimizer"] == "adamw").sum()
    for row in table.to_dict("records"):
        run = sm[(sm["model"] == row["model"]) & (sm["optimizer"] == "adamw") & (sm["lambda"] == row["adamw_lambda"])]
        assert row["adamw_balanced_over_average"] == pytest.approx(
            run["balanced_loss"].item() / run["average_loss"].item())
        if row["model"] == "mlp":
            assert row["matched_by"] == "none" and np.isnan(row["l2_balanced_over_average"])
            continue
        assert row["matched_by"] == "nearest_certified_optimum"
        opt = solve(Problem(n, row["matched_l2_lambda"], row["matched_l2_lambda"]), "ufm-unconstrained",
                    tol=1e-9).per_class_loss
        assert row["l2_balanced_over_average"] == pytest.approx(
            metrics.balanced_loss(opt, n) / metrics.average_loss(opt, n), rel=1e-6)
        assert row["l2_low_mass_loss"] == pytest.approx(metrics.group_loss(opt, n, low), rel=1e-6)
        assert row["l2_high_mass_loss"] == pytest.approx(metrics.group_loss(opt, n, ~low), rel=1e-6)
    # lambda = 0: the ratio would divide losses of ~1e-5; it is left out (NaN), never reported
    assert sm[sm["lambda"] == 0]["balanced_over_average"].isna().all()
    assert sm[sm["lambda"] > 0]["balanced_over_average"].notna().all()


def test_mass_split_keeps_both_groups_populated_at_v100_where_p99_leaves_one_class():
    cfg = SimConfig(V=100)
    table = count_table(config_counts(cfg), cfg)
    assert (~table["low_freq"]).sum() == 1  # P99: "high frequency" is one class
    low = table["low_mass"].to_numpy()
    assert 1 < (~low).sum() < 50 and low.sum() > 50
    n = table["count"].to_numpy()
    assert n[~low].min() >= n[low].max()  # the head: the most frequent classes
    assert n[~low].sum() >= 0.5 * n.sum() > n[~low].sum() - n[~low].min()  # the fewest that hold half the mass


def test_group_sizes_are_the_mask_sums(sim_grid_dir):
    counts = pd.read_csv(sim_grid_dir / SIM_COUNTS.name)
    sizes = {"n_low": counts["low_freq"].sum(), "n_high": (~counts["low_freq"]).sum(),
             "n_low_mass": counts["low_mass"].sum(), "n_high_mass": (~counts["low_mass"]).sum()}
    assert sizes["n_high_mass"] > sizes["n_high"]  # the two splits differ on this grid
    sm = pd.read_csv(sim_grid_dir / SIM_SUMMARY.name)
    for col, value in sizes.items():
        assert (sm[col] == value).all(), col
    for table in (pd.read_csv(sim_grid_dir / SIM_ADAMW_VS_L2.name),):
        assert (table["n_low_mass"] == sizes["n_low_mass"]).all()
    curves = pd.read_csv(sim_grid_dir / SIM_CURVES.name)
    named = {"low": "n_low", "high": "n_high", "low_mass": "n_low_mass", "high_mass": "n_high_mass"}
    for group, col in named.items():
        assert (curves[curves["group"] == group]["n_classes"] == sizes[col]).all(), group
    # and the group losses are those of the masks
    pc = pd.read_csv(sim_grid_dir / SIM_PER_CLASS.name)
    run = sm.iloc[1]
    loss = pc[(pc["model"] == run["model"]) & (pc["optimizer"] == run["optimizer"]) & (pc["lambda"] == run["lambda"])]
    loss = loss.sort_values("class")["loss"].to_numpy()
    n, low = counts["count"].to_numpy(float), counts["low_mass"].to_numpy(bool)
    assert run["low_mass_loss"] == pytest.approx(metrics.group_loss(loss, n, low))
    assert run["high_mass_loss"] == pytest.approx(metrics.group_loss(loss, n, ~low))


def test_convergence_is_measured_not_assumed(tmp_path):
    """The same L-BFGS runs: stopped after 5 steps they are reported not converged, run to the optimum they
    are; the criterion is the distance from the certified optimum (lambda > 0) or a plateau (lambda = 0)."""
    base = dict(V=8, models=("ufm-unconstrained",), optimizers=("lbfgs",), lambdas=(0.0, 0.01, 0.03),
                checkpoints=5)
    short = run_grid(SimConfig(**base, steps={"lbfgs": 5}), tmp_path / "short", progress=False)
    full = run_grid(SimConfig(**base, steps={"lbfgs": 300}), tmp_path / "full", progress=False)
    for sm, expect in ((short, False), (full, True)):
        with_theory = sm[sm["lambda"] > 0]
        assert (with_theory["convergence_criterion"] == "max_abs_diff_to_theory").all()
        assert (with_theory["convergence_value"] == with_theory["max_abs_diff_to_theory"]).all()
        assert (with_theory["converged"] == (with_theory["convergence_value"] <= CONVERGED_TOL)).all()
        assert with_theory["converged"].tolist() == [expect, expect]
        zero = sm[sm["lambda"] == 0].iloc[0]
        assert zero["convergence_criterion"] == "rel_change_last_10pct" and zero["convergence_tol"] == PLATEAU_TOL
        assert not zero["converged"] or expect  # after 5 steps the loss is still falling
    assert short["convergence_value"].min() > 0.01
    assert full[full["lambda"] > 0]["convergence_value"].max() < 1e-5


def test_plateau_criterion_reads_the_last_tenth_of_the_steps():
    marks = np.arange(0, 101, 10)
    flat_end = np.r_[np.linspace(2.0, 1.0, 9), [1.0, 1.0]]  # flat from step 80 on: the last 10% is flat
    assert convergence(flat_end, marks, None) == {"converged": True, "convergence_criterion": "rel_change_last_10pct",
                                                  "convergence_value": 0.0, "convergence_tol": PLATEAU_TOL}
    falling = np.r_[np.ones(10), 0.999]  # changes by 1e-3 in the last 10%: not converged
    out = convergence(falling, marks, None)
    assert not out["converged"] and out["convergence_value"] == pytest.approx(1e-3 / 0.999)
    assert convergence(falling, marks, 5e-4)["converged"] and not convergence(falling, marks, 2e-3)["converged"]


TINY = dict(V=6, models=("ufm-unconstrained", "softmax-regression"), optimizers=("gd", "adamw"),
            lambdas=(0.0, 0.01), adamw_lambdas=(0.0, 0.5), seeds=(0,), steps={"gd": 40, "adamw": 40},
            checkpoints=4, input_dim=4, hidden=8)


def test_grid_writes_contract_files_and_resumes_only_missing_parts(tmp_path):
    cfg = SimConfig(**TINY)
    summary = run_grid(cfg, tmp_path, progress=False)
    on_disk = pd.read_csv(tmp_path / SIM_SUMMARY.name)
    assert list(on_disk.columns) == list(SIM_SUMMARY.columns)  # every file's header: tests/test_schemas.py
    assert len(on_disk) == 2 * 2 * 2  # models x optimizers x lambdas (1 seed)
    # theory applies to the UFM at lambda > 0 only: the L2 optimizer's distance, AdamW's matched strength
    ufm = on_disk[(on_disk["model"] == "ufm-unconstrained") & (on_disk["lambda"] > 0)]
    assert ufm[ufm["optimizer"] == "gd"]["max_abs_diff_to_theory"].notna().all()
    assert ufm[ufm["optimizer"] == "adamw"]["matched_l2_lambda"].notna().all()
    soft = on_disk[on_disk["model"] == "softmax-regression"]
    assert soft[["max_abs_diff_to_theory", "matched_l2_lambda"]].isna().all().all()
    assert len(pd.read_csv(tmp_path / SIM_ADAMW_VS_L2.name)) == 2 * 2  # models x adamw lambdas
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
    assert table["low_mass"].any() and not table["low_mass"].all()


@pytest.mark.parametrize("bad,message", [
    ({"lambdas": (-0.1,)}, "lambdas"), ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"V": 1}, "V"),
    ({"optimizers": ("sgd",)}, "sgd"), ({"models": ("transformer",)}, "transformer"),
    ({"lr": {"rmsprop": 0.1}}, "rmsprop"), ({"steps": {"gd": 0}}, "steps"), ({"seeds": ()}, "seeds"),
    ({"head_mass": 1.0}, "head_mass"), ({"head_mass": 0.0}, "head_mass"),
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


def test_every_preset_runs_enough_seeds_for_a_seed_interval():
    """The findings pair runs by seed and need >= 3 seeds for a t interval (issue 26 item 9); the
    splits default to the one home of their definitions."""
    for cfg in PRESETS.values():
        assert len(set(cfg.seeds)) >= 3, cfg.name
        assert (cfg.low_percentile, cfg.head_mass) == (metrics.PERCENTILE, metrics.MASS)


def test_cli_bad_config_exits_2_with_one_line_and_no_output(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"lambdas": [-1]}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "simulations", "run", "--config", str(f), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "lambdas" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("threads", ["0", "two", "-1"])
def test_cli_bad_threads_exit_2_before_any_output(tmp_path, capsys, threads):
    from simulations.cli import main

    before = torch.get_num_threads()
    assert main(["run", "--threads", threads, "--out", str(tmp_path / "out")]) == 2
    assert "--threads" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert torch.get_num_threads() == before


def test_cli_run_writes_the_tables_and_paper_figures_draws_them(tmp_path):
    f = tmp_path / "tiny.json"
    f.write_text(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "simulations", "run", "--config", str(f), "--out", str(out),
                           "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.csv").stat().st_size > 0 and (out / "adamw_vs_l2.csv").stat().st_size > 0
    assert not list(out.glob("*.png"))  # simulations write tables; paper_figures draws
    from paper_figures import sim_run_figs

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "simulations").symlink_to(out)
    made = sim_run_figs.make(tmp_path / "results", tmp_path / "report")
    for name in ("low_high_vs_strength", "average_vs_balanced", "theory_gap", "per_class_vs_frequency_l2",
                 "per_class_vs_frequency_adamw", "learning_speed_adamw"):
        assert (tmp_path / "report" / f"sim_{name}.png").stat().st_size > 0, name
    assert all(p.is_file() for p in made)


def test_lbfgs_preconditioned_features_are_the_same_model_and_the_lambda_path_reaches_every_optimum():
    """L-BFGS trains G = H diag(sqrt n) (ufm-relu: H = G*G / sqrt n): the features, the data loss and the penalty
    are those of H itself; and the bench's lambda path reaches all 8 certified optima at small V."""
    import torch

    from simulations.bench import LAMBDAS, bench_path
    from simulations.train import Batch, build
    from simulations.ufm_path import certified_optima

    counts = np.array([20.0, 8, 3, 1, 1])
    lam = torch.tensor([0.01], dtype=torch.float64)
    for model in ("ufm-unconstrained", "ufm-relu"):
        plain = build(model, counts, [0], 5, 1, 1, 0.0)
        W, H = plain.params
        scale = plain.counts.sqrt().view(1, 1, -1)
        G = (H * scale).sqrt() if model == "ufm-relu" else H * scale
        pre = Batch(model, [W, G], plain.decay_scale, plain.grad_scale, plain.counts, squared=model == "ufm-relu",
                    feature_scale=scale)
        torch.testing.assert_close(pre.features(), H, rtol=1e-12, atol=1e-14)
        assert float(pre.penalty(lam)) == pytest.approx(float(plain.penalty(lam)), rel=1e-12)
        assert float(pre.data_loss()) == pytest.approx(float(plain.data_loss()), rel=1e-12)
    path_counts = zipf_counts(20, 1.0)
    r = bench_path(path_counts, certified_optima(path_counts, LAMBDAS), max_seconds=60)
    assert r["reached"] and r["lambdas_reached"] == len(LAMBDAS) and r["max_abs_diff"] <= 1e-3
