"""The simulation grid: every model x optimizer trained for all lambdas x seeds, compared with `theory`.

Layout of an output folder (all tidy, pandas-readable; the column lists are plumbing.schemas.SIM_*):
  config.json              the SimConfig that made it (a rerun with another config is refused)
  counts.csv               class, count, pow3_bin, equal_mass_bin, low_freq (P99 split), low_mass (mass split)
  theory.csv               model, lambda, class, theory_loss (UFM models, lambda > 0, d >= V)
  parts/<model>__<opt>/    one finished (model, optimizer) batch: summary.csv, per_class.csv.gz, curves.csv
  summary.csv              one row per (model, optimizer, lambda, seed) -- the contract other tools read:
                           average / balanced loss and their ratio (NaN at lambda = 0, where it divides losses
                           of ~1e-5); low / high loss under the P99 and the mass split with the class count of
                           each group; max_abs_diff_to_theory (only runs that minimise the L2 objective of
                           `theory`: gd, adam, lbfgs); for adamw the matched strength (matched_l2_lambda: the
                           L2 lambda whose certified optimum is nearest its endpoint, and that distance);
                           l2_strength, the common strength axis; converged and the criterion behind it
  per_class.csv.gz         final per-class loss, theory value (L2 runs; the matched optimum for adamw in its own
                           column) and learning speed of every run
  curves.csv               loss over training per frequency group (pow3 bins, low / high under both splits,
                           average, balanced) with the number of classes in the group
  adamw_vs_l2.csv          each adamw run against the certified L2 optimum at its matched strength
A part is written to a temp folder and renamed when complete, so an interrupted run restarts at the first
unfinished (model, optimizer) batch and never reads half a result.

Convergence (`converged`, `convergence_criterion`, `convergence_value`, `convergence_tol`), per run:
  "max_abs_diff_to_theory"  runs with a certified optimum (UFM + L2 optimizer, lambda > 0, d >= V): converged
                            when max_k |loss_k - optimum_k| <= 1e-3 (CONVERGED_TOL), i.e. at the global optimum;
  "rel_change_last_10pct"   every other run (adamw, lambda = 0, the MLP): converged when the average training
                            loss changed by at most 1e-4 (PLATEAU_TOL) relative to its final value between the
                            last checkpoint at or before 90% of the steps and the end -- a plateau, which says
                            nothing about which stationary point was reached.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.config import claim_result_folder
from plumbing.schemas import (SIM_ADAMW_VS_L2, SIM_COUNTS, SIM_CURVES, SIM_PART_FILES, SIM_PER_CLASS, SIM_SUMMARY,
                              SIM_THEORY, frame)
from theory.ufm import metrics
from theory.ufm.problem import Problem
from theory.ufm.solve import MODELS as THEORY_MODELS
from theory.ufm.solve import solve

from .config import SimConfig
from .frequencies import class_counts
from .train import build, train

# optimizers whose fixed points are the stationary points of the L2 objective that `theory` minimises
SAME_OBJECTIVE = ("gd", "adam", "lbfgs")
CONVERGED_TOL = 1e-3  # max_k |loss_k - certified optimum_k| of a converged run with theory
PLATEAU_TOL = 1e-4  # relative change of the average loss over the last PLATEAU_WINDOW of the steps (no theory)
PLATEAU_WINDOW = 0.1


def config_counts(cfg: SimConfig) -> np.ndarray:
    return class_counts(cfg.counts, cfg.V, cfg.alpha, cfg.total, cfg.step_frac, cfg.step_ratio)


def count_table(counts: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    return frame(SIM_COUNTS, {
        "class": np.arange(counts.size), "count": counts,
        "pow3_bin": metrics.power_of_3_bins(counts),
        "equal_mass_bin": metrics.equal_mass_bins(counts, cfg.equal_mass_bins),
        "low_freq": metrics.low_frequency_mask(counts, cfg.low_percentile),
        "low_mass": metrics.mass_tail_mask(counts, cfg.head_mass),
    })


def splits(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The low-frequency masks of both splits, keyed by their column infix: "freq" (P99: low_freq_loss,
    n_low), "mass" (cumulative mass: low_mass_loss, n_low_mass), the names lm_experiments uses."""
    return {"freq": table["low_freq"].to_numpy(bool), "mass": table["low_mass"].to_numpy(bool)}


def _size_suffix(key: str) -> str:
    return "" if key == "freq" else f"_{key}"


def group_stats(loss: np.ndarray, counts: np.ndarray, table: pd.DataFrame, lam: float) -> dict:
    """Average / balanced loss, their ratio (NaN at lambda = 0: both are ~1e-5 there and the ratio means
    nothing) and the low / high loss of both splits, of one per-class loss vector (all NaN if it is empty)."""
    if loss.size == 0:
        loss = np.full(counts.size, np.nan)
    avg, bal = metrics.average_loss(loss, counts), metrics.balanced_loss(loss, counts)
    out = {"average_loss": avg, "balanced_loss": bal, "balanced_over_average": bal / avg if lam > 0 else np.nan}
    for key, low in splits(table).items():
        out[f"low_{key}_loss"] = metrics.group_loss(loss, counts, low)
        out[f"high_{key}_loss"] = metrics.group_loss(loss, counts, ~low)
    return out


def group_sizes(table: pd.DataFrame) -> dict:
    """n_low, n_high (P99) and n_low_mass, n_high_mass: the number of classes in each group."""
    out = {}
    for key, low in splits(table).items():
        out[f"n_low{_size_suffix(key)}"], out[f"n_high{_size_suffix(key)}"] = int(low.sum()), int((~low).sum())
    return out


def convergence(average_curve: np.ndarray, marks: np.ndarray, theory_diff: float | None) -> dict:
    """The convergence criterion of one run (see the module docstring): with a certified optimum, its distance
    from it; otherwise the relative change of the average loss over the last PLATEAU_WINDOW of the steps."""
    if theory_diff is not None:
        return {"converged": bool(theory_diff <= CONVERGED_TOL), "convergence_criterion": "max_abs_diff_to_theory",
                "convergence_value": float(theory_diff), "convergence_tol": CONVERGED_TOL}
    start = int(np.searchsorted(marks, (1.0 - PLATEAU_WINDOW) * marks[-1], side="right")) - 1
    start = min(max(start, 0), len(marks) - 2)
    last = float(average_curve[-1])
    change = abs(last - float(average_curve[start])) / max(abs(last), np.finfo(float).tiny)
    return {"converged": bool(change <= PLATEAU_TOL), "convergence_criterion": "rel_change_last_10pct",
            "convergence_value": change, "convergence_tol": PLATEAU_TOL}


def theory_table(counts: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    """Per-class loss at the global minimum for each UFM model (theory.ufm.solve.MODELS) and lambda > 0 (none
    exists at lambda = 0: the infimum 0 is not attained). Unconstrained: certified to a duality gap of 1e-9."""
    d = cfg.d or counts.size
    rows = []
    for model in cfg.models:
        if model not in THEORY_MODELS or d < counts.size:
            continue
        for lam in cfg.lambdas:
            if lam == 0:
                continue
            loss = _theory_loss(model, counts, lam, d)
            rows.append(pd.DataFrame({"model": model, "lambda": lam, "class": np.arange(counts.size),
                                      "theory_loss": loss}))
    cols = ["model", "lambda", "class", "theory_loss"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def _theory_loss(model: str, counts: np.ndarray, lam: float, d: int, tol: float = 1e-9) -> np.ndarray:
    """Per-class loss at the global minimum of `model` (theory.ufm.solve.solve; exact for ufm-relu, certified to
    a duality gap <= tol for ufm-unconstrained) with lambda_W = lambda_H = lam."""
    return solve(Problem(counts, lam, lam, d), model, tol=tol).per_class_loss


# log10 lambda grid of effective_lambda (4 points per decade over 1e-7..10)
MATCH_GRID = np.arange(-7.0, 1.01, 0.25)


def effective_lambda(model: str, counts: np.ndarray, loss: np.ndarray, d: int) -> tuple[float, float]:
    """The matched strength of a trained per-class loss: the L2 lambda whose certified global minimum is
    closest (max-abs over classes) to it.

    Searched on the log grid MATCH_GRID, refined by a bounded scalar search between the best grid point's
    neighbours. Returns (lambda_eff, max_k |loss_k - theory_k(lambda_eff)|). Used for AdamW, whose decoupled decay
    has no exact L2 counterpart. The optima on the grid do not depend on the run, so they are solved once per
    (model, counts, d) (_grid_optima) and shared by every run and seed.
    """
    from scipy.optimize import minimize_scalar

    def dist(log_lam):
        return float(np.abs(loss - _theory_loss(model, counts, 10.0 ** log_lam, d, tol=1e-7)).max())

    grid = MATCH_GRID
    key = np.ascontiguousarray(counts, dtype=np.float64)
    vals = [float(np.abs(loss - th).max()) for th in _grid_optima(model, key.tobytes(), key.size, d)]
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(dist, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    best = (res.x, res.fun) if res.fun < vals[i] else (grid[i], vals[i])
    return float(10.0 ** best[0]), float(best[1])


@functools.lru_cache(maxsize=8)
def _grid_optima(model: str, counts: bytes, V: int, d: int) -> np.ndarray:
    """(len(MATCH_GRID), V) read-only: the per-class loss of the certified optimum (tol 1e-7) at each grid lambda,
    for the float64 counts given as bytes (hashable, so the solves are cached)."""
    n = np.frombuffer(counts, dtype=np.float64, count=V).copy()
    table = np.stack([_theory_loss(model, n, 10.0 ** x, d, tol=1e-7) for x in MATCH_GRID])
    table.setflags(write=False)
    return table


def _group_curves(curves: np.ndarray, table: pd.DataFrame) -> dict:
    """Loss over training of each frequency group: name -> (number of classes, (T, R) array)."""
    n = table["count"].to_numpy(float)
    groups = {f"pow3_{b}": table["pow3_bin"].to_numpy() == b for b in sorted(table["pow3_bin"].unique())}
    for key, low in splits(table).items():
        groups[f"low{_size_suffix(key)}"], groups[f"high{_size_suffix(key)}"] = low, ~low
    out = {name: (int(mask.sum()), np.array([[metrics.group_loss(c, n, mask) for c in step] for step in curves]))
           for name, mask in groups.items()}
    out["average"] = (n.size, np.array([[metrics.average_loss(c, n) for c in step] for step in curves]))
    out["balanced"] = (n.size, np.array([[metrics.balanced_loss(c, n) for c in step] for step in curves]))
    return out


def run_part(cfg: SimConfig, model: str, optimizer: str, counts: np.ndarray, table: pd.DataFrame,
             theory: pd.DataFrame, device: str = "cpu", progress=None) -> dict[str, pd.DataFrame]:
    """Train one (model, optimizer) batch over all lambdas x seeds and tabulate it."""
    lambdas = cfg.adamw_lambdas if optimizer == "adamw" else cfg.lambdas
    lam_list = [lam for lam in lambdas for _ in cfg.seeds]
    seed_list = [s for _ in lambdas for s in cfg.seeds]
    d = cfg.d or counts.size
    torch.manual_seed(0)
    batch = build(model, counts, seed_list, d, cfg.input_dim, cfg.hidden, cfg.noise, device)
    t0 = time.perf_counter()
    marks, curves = train(batch, optimizer, torch.tensor(lam_list, dtype=torch.float64, device=device),
                          cfg.lr[optimizer], cfg.steps[optimizer], cfg.checkpoints, progress)
    wall = time.perf_counter() - t0
    n = table["count"].to_numpy(float)
    has_theory = model in THEORY_MODELS and d >= counts.size
    groups = _group_curves(curves, table)
    summary, per_class = [], []
    for r, (lam, seed) in enumerate(zip(lam_list, seed_list)):
        final = curves[-1, r]
        th, matched = np.array([]), np.array([])
        matched_lam = matched_diff = np.nan
        if optimizer in SAME_OBJECTIVE:
            th = theory[(theory["model"] == model) & (theory["lambda"] == lam)]["theory_loss"].to_numpy()
        elif has_theory and lam > 0:  # adamw: the certified L2 optimum nearest its endpoint
            matched_lam, matched_diff = effective_lambda(model, counts, final, d)
            matched = _theory_loss(model, counts, matched_lam, d)
        diff = np.abs(final - th) if th.size else None
        summary.append({
            "model": model, "optimizer": optimizer, "lambda": lam, "seed": seed,
            **group_stats(final, n, table, lam), **group_sizes(table),
            "same_objective_as_theory": optimizer in SAME_OBJECTIVE,
            "max_abs_diff_to_theory": float(diff.max()) if diff is not None else np.nan,
            "mean_abs_diff_to_theory": float(diff.mean()) if diff is not None else np.nan,
            "theory_average_loss": metrics.average_loss(th, n) if th.size else np.nan,
            "theory_balanced_loss": metrics.balanced_loss(th, n) if th.size else np.nan,
            "matched_l2_lambda": matched_lam, "matched_l2_max_abs_diff": matched_diff,
            "l2_strength": lam if optimizer in SAME_OBJECTIVE else matched_lam,
            **convergence(groups["average"][1][:, r], marks, float(diff.max()) if diff is not None else None),
            "steps": int(marks[-1]), "lr": cfg.lr[optimizer], "wall_s_batch": wall,
        })
        per_class.append(frame(SIM_PER_CLASS, {
            "model": model, "optimizer": optimizer, "lambda": lam, "seed": seed, "class": table["class"],
            "count": n, "pow3_bin": table["pow3_bin"], "low_freq": table["low_freq"],
            "low_mass": table["low_mass"], "loss": final, "theory_loss": th if th.size else np.nan,
            "matched_l2_theory_loss": matched if matched.size else np.nan,
            "learning_speed": metrics.learning_speed(curves[:, r, :], marks),
        }))
    curve_rows = [frame(SIM_CURVES, {"model": model, "optimizer": optimizer, "lambda": lam, "seed": seed,
                                     "step": marks, "group": name, "n_classes": size, "loss": values[:, r]})
                  for name, (size, values) in groups.items()
                  for r, (lam, seed) in enumerate(zip(lam_list, seed_list))]
    return {SIM_SUMMARY.name: frame(SIM_SUMMARY, summary),
            SIM_PER_CLASS.name: frame(SIM_PER_CLASS, pd.concat(per_class, ignore_index=True)),
            SIM_CURVES.name: frame(SIM_CURVES, pd.concat(curve_rows, ignore_index=True))}


def run_grid(cfg: SimConfig, out: str | Path, device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    """Run (or resume) the grid into `out`; returns the summary table."""
    out = Path(out)
    record = claim_result_folder(out, cfg.to_dict())
    counts = config_counts(cfg)
    table = count_table(counts, cfg)
    parts = out / "parts"
    todo = [(m, o) for m in cfg.models for o in cfg.optimizers if not (parts / f"{m}__{o}").is_dir()]
    theory_file = out / SIM_THEORY.name
    if theory_file.exists():
        theory = pd.read_csv(theory_file)
    else:
        theory = theory_table(counts, cfg)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", record)
    atomic_write_csv(frame(SIM_COUNTS, table), out / SIM_COUNTS.name)
    atomic_write_csv(frame(SIM_THEORY, theory), theory_file)
    total = sum(cfg.steps[o] for _, o in todo)
    with tqdm(total=total, desc="simulations", unit="step", disable=not progress) as bar:
        for model, optimizer in todo:
            bar.set_postfix_str(f"{model} {optimizer}")
            tables = run_part(cfg, model, optimizer, counts, table, theory, device, bar)
            parts.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=parts, prefix=f".{model}__{optimizer}."))
            try:
                for name, part in tables.items():
                    atomic_write_csv(part, tmp / name)
                tmp.rename(parts / f"{model}__{optimizer}")
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return collect(cfg, out)


def collect(cfg: SimConfig, out: Path) -> pd.DataFrame:
    """Concatenate the finished parts, in config order, into the top-level tables; derive adamw_vs_l2.csv."""
    merged = {}
    for schema in SIM_PART_FILES:
        frames = [pd.read_csv(out / "parts" / f"{m}__{o}" / schema.name) for m in cfg.models for o in cfg.optimizers]
        merged[schema.name] = frame(schema, pd.concat(frames, ignore_index=True))
        atomic_write_csv(merged[schema.name], out / schema.name)
    table = pd.read_csv(out / SIM_COUNTS.name)
    atomic_write_csv(adamw_vs_l2(merged[SIM_SUMMARY.name], merged[SIM_PER_CLASS.name], table),
                     out / SIM_ADAMW_VS_L2.name)
    return merged[SIM_SUMMARY.name]


def adamw_vs_l2(summary: pd.DataFrame, per_class: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """AdamW at matched strength: one row per AdamW run with its balanced / average ratio and low / high
    losses (both splits) next to the same quantities of the certified L2 optimum at its matched_l2_lambda.
    matched_by is "nearest_certified_optimum" or "none" (no certified optimum: the MLP, d < V; or no decay:
    lambda = 0), in which case every matched and l2_ column is NaN: without an optimum there is no strength the
    two decays share, and a match on a trained quantity (e.g. equal average loss) would compare unconverged
    runs on a rule of our choosing, so none is made."""
    n = table["count"].to_numpy(float)
    rows = []
    for run in summary[summary["optimizer"] == "adamw"].to_dict("records"):
        lam, matched_lam = run["lambda"], run["matched_l2_lambda"]
        pc = per_class[(per_class["model"] == run["model"]) & (per_class["optimizer"] == "adamw")
                       & (per_class["lambda"] == lam) & (per_class["seed"] == run["seed"])].sort_values("class")
        has_match = bool(np.isfinite(matched_lam))
        trained = group_stats(pc["loss"].to_numpy(float), n, table, lam)
        optimum = pc["matched_l2_theory_loss"].to_numpy(float) if has_match else np.array([])
        l2 = group_stats(optimum, n, table, matched_lam if has_match else 0.0)
        rows.append({"model": run["model"], "adamw_lambda": lam, "seed": run["seed"],
                     "matched_by": "nearest_certified_optimum" if has_match else "none",
                     "matched_l2_lambda": matched_lam, "matched_l2_max_abs_diff": run["matched_l2_max_abs_diff"],
                     **{f"adamw_{k}": v for k, v in trained.items()}, **{f"l2_{k}": v for k, v in l2.items()},
                     **group_sizes(table)})
    return frame(SIM_ADAMW_VS_L2, rows)
