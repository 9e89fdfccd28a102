"""The lambda path at the optimum's width (simulations.ufm_path), its rank from theory, and `simulations scale`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plumbing.errors import InputError
from plumbing.schemas import SIM_SCALE_OPTIMA, SIM_SCALE_PATH, SIM_SCALE_PER_CLASS
from simulations.cli import main
from simulations.ufm_path import certified_optima, train_path, truncate, width_for
from theory.ufm.counts import zipf_counts
from theory.ufm.problem import Problem
from theory.ufm.unconstrained import solve_unconstrained

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("lam", [1e-3, 5e-3, 2e-2, 0.3])
def test_reduced_singular_values_equal_the_full_svd(lam):
    counts = zipf_counts(60, 1.0)
    sol = solve_unconstrained(Problem(counts, lam, lam), tol=1e-9)
    full = np.linalg.svd(sol.logits() * np.sqrt(counts)[None, :], compute_uv=False)
    assert np.allclose(sol.singular_values(), full, rtol=0, atol=1e-10 * max(full[0], 1.0))
    assert sol.rank() == int((full > 1e-6 * max(full[0], 1.0)).sum())


def test_factors_of_the_optimums_rank_attain_the_certified_objective_and_one_less_cannot():
    counts = zipf_counts(60, 1.0)
    p = Problem(counts, 5e-3, 5e-3)
    sol = solve_unconstrained(p, tol=1e-10)
    r = sol.rank()
    assert 1 < r < counts.size - 1
    D = np.sqrt(counts)
    U, s, Vt = np.linalg.svd(sol.logits() * D[None, :])

    def objective(k):  # balanced rank-k factors W = U S^1/2, G = S^1/2 V^T: penalty = sum of kept singular values
        Z = (U[:, :k] * s[:k]) @ Vt[:k] / D[None, :]
        ce = np.log(np.exp(Z - Z.max(0)).sum(0)) + Z.max(0) - np.diag(Z)
        return p.weights @ ce + p.mu * s[:k].sum()

    assert objective(r) - sol.objective <= 1e-8
    assert objective(r - 1) - sol.objective > 1e-6


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 12), st.integers(1, 12), st.integers(0, 10**6))
def test_truncate_gives_balanced_factors_of_the_best_rank_d_approximation(d0, d, seed):
    d = min(d, d0)
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(15, d0, generator=g, dtype=torch.float64)
    G = torch.randn(d0, 15, generator=g, dtype=torch.float64)
    W2, G2 = truncate(W, G, d)
    U, S, Vh = torch.linalg.svd(W @ G)
    best = (U[:, :d] * S[:d]) @ Vh[:d]
    assert W2.shape == (15, d) and G2.shape == (d, 15)
    assert torch.allclose(W2 @ G2, best, atol=1e-9 * float(S[0]))
    assert torch.allclose(W2.T @ W2, G2 @ G2.T, atol=1e-9 * float(S[0]))


def test_width_is_the_rank_plus_a_margin_capped_at_v():
    assert width_for(0, 100) == 8 and width_for(73, 1000) == 83 and width_for(999, 1000) == 1000


def test_path_at_the_optimums_width_reaches_the_certified_losses():
    counts = zipf_counts(40, 1.0)
    lams = (1e-3, 1e-2, 5e-2)
    sols = certified_optima(counts, lams)
    widths = {lam: width_for(s.rank(), 40) for lam, s in sols.items()}
    assert widths[5e-2] < widths[1e-3]  # the path shrinks the width
    steps = train_path(counts, {lam: s.per_class_loss for lam, s in sols.items()}, widths, tol=1e-4)
    assert [s.lam for s in steps] == sorted(lams)
    assert all(s.reached for s in steps)
    for s in steps:
        assert np.abs(s.loss - sols[s.lam].per_class_loss).max() <= 1e-4 and s.width == widths[s.lam]


def test_path_below_the_optimums_rank_does_not_reach_it():
    counts = zipf_counts(30, 1.0)
    sol = certified_optima(counts, [1e-3])[1e-3]
    assert sol.rank() > 10
    steps = train_path(counts, {1e-3: sol.per_class_loss}, {1e-3: sol.rank() // 3}, tol=1e-4, max_seconds=10)
    assert not steps[-1].reached and steps[-1].max_abs_diff > 1e-3


def test_path_refuses_a_width_outside_1_to_v():
    counts = zipf_counts(10, 1.0)
    with pytest.raises(InputError, match="width for lambda 0.01 must be in 1..V = 10, got 11"):
        train_path(counts, {0.01: np.zeros(10)}, {0.01: 11})
    with pytest.raises(InputError, match="path lambdas must be finite and > 0, got 0.0"):
        certified_optima(counts, [0.0])


def test_scale_command_writes_both_stages_and_resumes_from_the_theory(tmp_path, capsys):
    counts = tmp_path / "counts.npy"
    np.save(counts, zipf_counts(30, 1.0))
    out = tmp_path / "scale"
    args = ["scale", "--counts", str(counts), "--lambdas", "2e-2,1e-3", "--out", str(out)]
    assert main(args + ["--theory-only"]) == 0
    assert not (out / SIM_SCALE_PATH.name).exists()
    optima = pd.read_csv(out / SIM_SCALE_OPTIMA.name)
    assert list(optima["lambda"]) == [1e-3, 2e-2] and (optima["duality_gap"] <= 1e-8).all()
    theory_bytes = (out / "theory.csv.gz").read_bytes()
    assert main(args) == 0
    assert (out / "theory.csv.gz").read_bytes() == theory_bytes  # resumed, not recomputed
    path = pd.read_csv(out / SIM_SCALE_PATH.name)
    assert path["reached"].all() and (path["max_abs_diff"] <= 1e-3).all() and (path["V"] == 30).all()
    assert list(path["width"]) == list(optima["width"]) and (path["device"] == "cpu").all()
    pc = pd.read_csv(out / SIM_SCALE_PER_CLASS.name)
    assert len(pc) == 60 and (pc["loss"] - pc["theory_loss"]).abs().max() <= 1e-3
    assert json.loads((out / "config.json").read_text())["config"]["lambdas"] == [1e-3, 2e-2]
    assert main(["scale", "--counts", str(counts), "--lambdas", "5e-2", "--out", str(out)]) == 2
    assert "holds results of another config" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0,1e-3", "x", "", "-1"])
def test_scale_refuses_bad_lambdas_and_writes_nothing(tmp_path, capsys, bad):
    counts = tmp_path / "counts.npy"
    np.save(counts, zipf_counts(10, 1.0))
    assert main(["scale", "--counts", str(counts), "--lambdas", bad, "--out", str(tmp_path / "o")]) == 2
    assert f"--lambdas must be comma-separated numbers > 0, got {bad!r}" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bench_writes_every_row_it_prints_and_doubles_v_until_the_path_fails(tmp_path, capsys):
    out = tmp_path / "bench" / "sim.csv"
    assert main(["bench", "--sizes", "12", "--max-seconds", "0.5", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    printed = capsys.readouterr().out
    assert list(table["optimizer"][:5]) == ["adam", "lbfgs", "gd", "lbfgs-path-d=V", "lbfgs-path"]
    path = table[table["optimizer"] == "lbfgs-path"]
    assert list(path["V"]) == [12 * 2**i for i in range(len(path))]  # doubling from the largest size
    assert not path["reached"].iloc[-1] and path["reached"].iloc[:-1].all()  # ... until the first miss
    largest = path[path["reached"]]["V"].max() if path["reached"].any() else "none"
    assert f"(lbfgs-path): {largest}" in printed
    assert (table["max_abs_diff"][table["reached"]] <= 1e-3).all()


def test_vocab_finding_follows_the_trained_path_and_flips_when_the_low_group_falls(tmp_path):
    from paper_figures.findings import sim_vocab_findings

    out = tmp_path / "sim_vocab"
    assert main(["scale", "--counts", "zipf", "--V", "40", "--lambdas", "1e-3,1e-2,0.3", "--out", str(out)]) == 0
    optima = pd.read_csv(out / SIM_SCALE_OPTIMA.name)
    assert int(optima.loc[optima["lambda"] == 0.3, "rank"].iloc[0]) == 0  # Z = 0: excluded as the upper end
    found = {f["id"].rsplit("_", 1)[1]: f for f in sim_vocab_findings(tmp_path)}
    assert set(found) == {"P99", "mass"}
    for f in found.values():
        assert f["lambda_lo"] == 1e-3 and f["lambda_hi"] == 1e-2 and f["n_low"] + f["n_high"] == 40
        assert abs(f["effect"] - f["theory_effect"]) <= 2e-3 and f["verdict"] == "resolved"
    # the same files with the low-frequency classes' loss at the upper lambda lowered far below: contradicts
    pc = pd.read_csv(out / SIM_SCALE_PER_CLASS.name)
    low = pc["count"] < pc["count"].max()
    pc.loc[(pc["lambda"] == 1e-2) & low, "loss"] -= 50.0
    pc.to_csv(out / SIM_SCALE_PER_CLASS.name, index=False)
    assert all(f["verdict"] == "contradicts the paper" for f in sim_vocab_findings(tmp_path))
