"""The simulation grid: every model x optimizer trained for all lambdas x seeds, compared with `theory`.

Layout of an output folder (all tidy, pandas-readable; the column lists are plumbing.schemas.SIM_*):
  config.json              the SimConfig that made it (a rerun with another config is refused)
  counts.csv               class, count, pow3_bin, equal_mass_bin, low_freq
  theory.csv               model, lambda, class, theory_loss (UFM models, lambda > 0, d >= V)
  parts/<model>__<opt>/    one finished (model, optimizer) batch: summary.csv, per_class.csv.gz, curves.csv
  summary.csv              one row per (model, optimizer, lambda, seed) -- the contract other tools read;
                           max_abs_diff_to_theory compares with the L2 global minimum at theory_lambda:
                           the run's own lambda for gd / adam / lbfgs, the best-matching one for adamw
  per_class.csv.gz         final per-class loss, theory value and learning speed of every run
  curves.csv               loss over training per frequency group (pow3 bins, low, high, average, balanced)
A part is written to a temp folder and renamed when complete, so an interrupted run restarts at the first
unfinished (model, optimizer) batch and never reads half a result.
"""

from __future__ import annotations

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
from plumbing.schemas import SIM_COUNTS, SIM_CURVES, SIM_PART_FILES, SIM_PER_CLASS, SIM_SUMMARY, SIM_THEORY, frame
from theory import metrics
from theory.problem import Problem
from theory.solve import MODELS as THEORY_MODELS
from theory.solve import solve

from .config import SimConfig
from .frequencies import class_counts
from .train import build, train

# optimizers whose fixed points are the stationary points of the L2 objective that `theory` minimises
SAME_OBJECTIVE = ("gd", "adam", "lbfgs")


def config_counts(cfg: SimConfig) -> np.ndarray:
    return class_counts(cfg.counts, cfg.V, cfg.alpha, cfg.total, cfg.step_frac, cfg.step_ratio)


def count_table(counts: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    return frame(SIM_COUNTS, {
        "class": np.arange(counts.size), "count": counts,
        "pow3_bin": metrics.power_of_3_bins(counts),
        "equal_mass_bin": metrics.equal_mass_bins(counts, cfg.equal_mass_bins),
        "low_freq": metrics.low_frequency_mask(counts, cfg.low_percentile),
    })


def theory_table(counts: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    """Per-class loss at the global minimum for each UFM model (theory.solve.MODELS) and lambda > 0 (none
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
    """Per-class loss at the global minimum of `model` (theory.solve.solve; exact for ufm-relu, certified to
    a duality gap <= tol for ufm-unconstrained) with lambda_W = lambda_H = lam."""
    return solve(Problem(counts, lam, lam, d), model, tol=tol).per_class_loss


def effective_lambda(model: str, counts: np.ndarray, loss: np.ndarray, d: int) -> tuple[float, float]:
    """The L2 lambda whose global minimum is closest (max-abs over classes) to a trained per-class loss.

    Searched on a log grid 1e-7..10 (4 points per decade), refined by a bounded scalar search around the
    best grid point. Returns (lambda_eff, max_k |loss_k - theory_k(lambda_eff)|). Used for AdamW, whose
    decoupled decay has no exact L2 counterpart.
    """
    from scipy.optimize import minimize_scalar

    def dist(log_lam):
        return float(np.abs(loss - _theory_loss(model, counts, 10.0 ** log_lam, d, tol=1e-7)).max())

    grid = np.arange(-7.0, 1.01, 0.25)
    vals = [dist(x) for x in grid]
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(dist, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    best = (res.x, res.fun) if res.fun < vals[i] else (grid[i], vals[i])
    return float(10.0 ** best[0]), float(best[1])


def _group_curves(curves: np.ndarray, marks: np.ndarray, table: pd.DataFrame) -> dict:
    """Loss over training of each frequency group: (T, R) arrays keyed by group name."""
    n = table["count"].to_numpy(float)
    groups = {f"pow3_{b}": table["pow3_bin"].to_numpy() == b for b in sorted(table["pow3_bin"].unique())}
    groups["low"] = table["low_freq"].to_numpy()
    groups["high"] = ~groups["low"]
    out = {name: np.array([[metrics.group_loss(c, n, mask) for c in step] for step in curves])
           for name, mask in groups.items()}
    out["average"] = np.array([[metrics.average_loss(c, n) for c in step] for step in curves])
    out["balanced"] = np.array([[metrics.balanced_loss(c, n) for c in step] for step in curves])
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
    low = table["low_freq"].to_numpy()
    summary, per_class = [], []
    for r, (lam, seed) in enumerate(zip(lam_list, seed_list)):
        final = curves[-1, r]
        theory_lam = lam
        if optimizer in SAME_OBJECTIVE:
            th = theory[(theory["model"] == model) & (theory["lambda"] == lam)]["theory_loss"].to_numpy()
        elif model in THEORY_MODELS and d >= counts.size and lam > 0:
            theory_lam, _ = effective_lambda(model, counts, final, d)
            th = _theory_loss(model, counts, theory_lam, d)
        else:
            th = np.array([])
        diff = np.abs(final - th) if th.size else None
        speed = metrics.learning_speed(curves[:, r, :], marks)
        summary.append({
            "model": model, "optimizer": optimizer, "lambda": lam, "seed": seed,
            "average_loss": metrics.average_loss(final, n), "balanced_loss": metrics.balanced_loss(final, n),
            "low_freq_loss": metrics.group_loss(final, n, low), "high_freq_loss": metrics.group_loss(final, n, ~low),
            "max_abs_diff_to_theory": float(diff.max()) if diff is not None else np.nan,
            "mean_abs_diff_to_theory": float(diff.mean()) if diff is not None else np.nan,
            "theory_average_loss": metrics.average_loss(th, n) if th.size else np.nan,
            "theory_balanced_loss": metrics.balanced_loss(th, n) if th.size else np.nan,
            "same_objective_as_theory": optimizer in SAME_OBJECTIVE,
            "theory_lambda": theory_lam if th.size else np.nan,
            "steps": int(marks[-1]), "lr": cfg.lr[optimizer], "wall_s_batch": wall,
        })
        per_class.append(frame(SIM_PER_CLASS, {
            "model": model, "optimizer": optimizer, "lambda": lam, "seed": seed, "class": table["class"],
            "count": n, "pow3_bin": table["pow3_bin"], "low_freq": low, "loss": final,
            "theory_loss": th if th.size else np.nan, "learning_speed": speed,
        }))
    groups = _group_curves(curves, marks, table)
    curve_rows = [frame(SIM_CURVES, {"model": model, "optimizer": optimizer, "lambda": lam, "seed": seed,
                                     "step": marks, "group": name, "loss": values[:, r]})
                  for name, values in groups.items() for r, (lam, seed) in enumerate(zip(lam_list, seed_list))]
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
    """Concatenate the finished parts, in config order, into the top-level tables."""
    merged = {}
    for schema in SIM_PART_FILES:
        frames = [pd.read_csv(out / "parts" / f"{m}__{o}" / schema.name) for m in cfg.models for o in cfg.optimizers]
        merged[schema.name] = frame(schema, pd.concat(frames, ignore_index=True))
        atomic_write_csv(merged[schema.name], out / schema.name)
    return merged[SIM_SUMMARY.name]
