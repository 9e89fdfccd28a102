"""Collecting a sweep: summary.csv, learning_speed.csv and the paper's Table 1 from the finished runs' files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from plumbing.atomic import atomic_write_csv, atomic_write_text
from plumbing.errors import InputError
from plumbing.results import read_result_csv
from plumbing.schemas import (
    LM_GROUP_SIZES,
    LM_LEARNING_SPEED,
    LM_METRIC_NAMES,
    LM_RUN_METRICS,
    LM_RUN_PER_TOKEN,
    LM_SUMMARY,
    LM_TABLE1,
    frame,
)
from theory.ufm import metrics

from .config import SweepConfig
from .measure import group_sizes
from .plan import run_folder_name

METRICS = LM_METRIC_NAMES  # average_loss, balanced_loss, accuracy, low/high_freq_loss, low/high_mass_loss
SIZES = LM_GROUP_SIZES  # n_low, n_high, n_low_mass, n_high_mass
# learning_speed.csv's `measurable`: a token's loss curve averages over its eval_count occurrences in the training
# evaluation window. Evidence (tiny preset, 3 seeds, lambda 0 and 2): the spread over seeds of a token's speed
# falls from 0.055 at 1 occurrence to 0.020 at 20-25 (0.014 at 30-50), while the median speed rises from -0.16
# to 0.14; from 20 occurrences on the seed spread is below 1/6 of the speed and every seed agrees on its sign
# (at 8-11 occurrences the spread is 0.4 of the speed and 5-8% of the speeds are negative). So 20.
MIN_EVAL_COUNT = 20


def _check_trained_on(run: Path, counts: np.ndarray) -> None:
    """InputError if the run's manifest says it trained on another number of tokens than `counts` counts."""
    path = run / "manifest.json"
    used = json.loads(path.read_text()).get("n_train_tokens_used") if path.is_file() else None
    if used is not None and used != int(counts.sum()):
        raise InputError(f"{str(path)!r}: the run trained on {used} tokens, the sweep's token tables count "
                         f"{int(counts.sum())}: they would split low/high by other counts; use a new folder")


def collect(cfg: SweepConfig, out: Path, counts: np.ndarray) -> pd.DataFrame:
    """summary.csv, learning_speed.csv and Table 1 from the finished runs' files (runs without done.json are left
    out; none finished: nothing is written and the summary is empty); `counts` are the training counts
    of the runs (write_token_stats). InputError if a run trained on another number of tokens (its manifest) or
    its group sizes are not those of `counts`: it split its losses by other counts than the token tables say."""
    rows, speeds = [], []
    counts = np.asarray(counts, dtype=np.float64)
    bins = metrics.power_of_3_bins(counts)
    expected = group_sizes(counts)  # what measure.summarize reported for these counts
    planned = set(cfg.runs())
    for mode, lam, seed in [(m, lam, s) for m in cfg.decay_modes for lam in cfg.lambdas for s in cfg.seeds]:
        if lam != 0 and (mode, lam, seed) not in planned:
            continue  # lambda 0 is listed under every decay mode (one run serves them all)
        run = out / "runs" / run_folder_name(cfg, lam, seed, mode)
        if not (run / "done.json").is_file():  # not (yet) finished: a budget stopped the sweep
            continue
        _check_trained_on(run, counts)
        m = read_result_csv(run / LM_RUN_METRICS.name, LM_RUN_METRICS.columns)
        final = m[m["step"] == m["step"].max()]
        for _, r in final.iterrows():
            got = {k: int(r[k]) for k in SIZES}
            if got != expected:
                raise InputError(f"{str(run / LM_RUN_METRICS.name)!r}: group sizes {got} are not those of "
                                 f"the sweep's training counts {expected}: the run split low/high by other "
                                 "counts (another train_tokens or corpus?); use a new folder")
            rows.append({"lambda": lam, "seed": seed, "split": r["split"], **{k: r[k] for k in METRICS},
                         **got, "decay_mode": mode, "step": int(r["step"]), "corpus": cfg.corpus,
                         "run": run.name})
        pt = read_result_csv(run / LM_RUN_PER_TOKEN.name, LM_RUN_PER_TOKEN.columns)
        pt = pt[pt["split"] == "train"]
        curves = pt.pivot(index="step", columns="token_id", values="loss").sort_index()
        curves = curves.dropna(axis=1)
        speed = metrics.learning_speed(curves.to_numpy(), curves.index.to_numpy(float))
        ids = curves.columns.to_numpy()
        # the evaluation window is the same at every step: its count of an id is that of the first step
        first = pt[pt["step"] == pt["step"].min()].set_index("token_id")["count"]
        eval_count = first.reindex(ids).to_numpy()
        speeds.append(frame(LM_LEARNING_SPEED, {"decay_mode": mode, "lambda": lam, "seed": seed,
                                                "token_id": ids, "train_count": counts[ids],
                                                "pow3_bin": bins[ids], "eval_count": eval_count,
                                                "measurable": eval_count >= MIN_EVAL_COUNT,
                                                "learning_speed": speed}))
    summary = frame(LM_SUMMARY, rows)
    if summary.empty:
        return summary  # no run finished: no tables
    atomic_write_csv(summary, out / LM_SUMMARY.name)
    atomic_write_csv(frame(LM_LEARNING_SPEED, pd.concat(speeds, ignore_index=True)), out / LM_LEARNING_SPEED.name)
    table = table1(summary)
    atomic_write_csv(table, out / LM_TABLE1.name)
    atomic_write_text(out / "table1.md", table1_markdown(table))
    return summary


def table1(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per (decay_mode, lambda, split) (std NaN for one seed), with the
    group sizes of the low/high splits (one value per row: InputError if the seeds of a row differ in them)."""
    keys = ["decay_mode", "split", "lambda"]
    g = summary.groupby(keys, sort=True)
    differ = g[list(SIZES)].nunique() > 1
    if differ.to_numpy().any():
        raise InputError(f"the seeds of {differ.any(axis=1).idxmax()} differ in their group sizes "
                         f"({', '.join(SIZES)}): they split low/high by different counts")
    mean, std = g[list(METRICS)].mean().add_suffix("_mean"), g[list(METRICS)].std(ddof=1).add_suffix("_std")
    out = mean.join(std).join(g[list(SIZES)].first()).reset_index()
    out["n_seeds"] = g.size().to_numpy()
    return frame(LM_TABLE1, out)


def table1_markdown(table: pd.DataFrame) -> str:
    lines = []
    for (mode, split), t in table.groupby(["decay_mode", "split"], sort=False):
        lines += [f"### {split} split, decay mode {mode}", "",
                  "low/high by the P99 training count (the paper's split) and by the head holding half of the "
                  "training tokens; ids: how many token ids each group holds (low / high)", "",
                  "| weight decay | average loss | balanced loss | accuracy (%) | low-freq loss | high-freq loss | "
                  "ids (P99) | low-mass loss | high-mass loss | ids (mass) | seeds |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in t.iterrows():
            def cell(k, scale=1.0, fmt=".4f"):
                m, s = r[f"{k}_mean"] * scale, r[f"{k}_std"] * scale
                return f"{m:{fmt}}" + ("" if np.isnan(s) else f" ± {s:{fmt}}")
            lines.append(f"| {r['lambda']:g} | {cell('average_loss')} | {cell('balanced_loss')} | "
                         f"{cell('accuracy', 100, '.2f')} | {cell('low_freq_loss')} | {cell('high_freq_loss')} | "
                         f"{int(r['n_low'])} / {int(r['n_high'])} | {cell('low_mass_loss')} | "
                         f"{cell('high_mass_loss')} | {int(r['n_low_mass'])} / {int(r['n_high_mass'])} | "
                         f"{int(r['n_seeds'])} |")
        lines.append("")
    return "\n".join(lines)
