"""Mitigation figures: what each decay mode (LM) or decay scheme (simulations) does to the losses, against no
decay at all.

Bars: for each decay mode of the first LM sweep folder, the change of the low-frequency, class-balanced,
average and high-frequency loss from lambda 0 to the largest lambda (paired by seed), mean with its 95%
t-interval over seeds (findings.t_interval, findings.paired_by_seed); train and held-out panels. Lambda 0 is the same run for every
mode (nothing is decayed). Data: <lm folder>/summary.csv (lambda, seed, split, decay_mode and the four losses).
make_sims: the same bars for simulations/mitigation.py, one panel per model x optimizer, schemes against the
lambda = 0 scheme "none"; low/high by cumulative mass. Data: sim_mitigation/mitigation.csv.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from plumbing.errors import InputError

from plumbing.schemas import SIM_MITIGATION

from .common import lm_dirs, lm_summary, read_csv, save
from .findings.stats import paired_by_seed, t_interval

NAME = "fig_mitigation"
CAPTION = ("Mitigations — change of each loss from no weight decay to the largest lambda, per decay mode "
           "(uniform decay of all but norms and biases; no decay on the embedding and output layer; per-token "
           "decay of those layers scaled by the token's training count), mean and 95% t-interval over seeds.")
DIFFERS = "the paper proposes no mitigation; this figure is ours"
METRICS = (("low_freq_loss", "low-freq"), ("balanced_loss", "balanced"), ("average_loss", "average"),
           ("high_freq_loss", "high-freq"))


def inputs(results: Path) -> list[Path]:
    return [lm_dirs(results)[0] / "summary.csv"]


def changes(a, b, metrics: tuple) -> np.ndarray:
    """(len(metrics), 3): per metric, mean, low and high of the 95% t-interval of a - b paired by seed (a and b
    indexed by seed; one seed: low = high = mean)."""
    out = []
    for col, _ in metrics:
        m, lo, up = t_interval(paired_by_seed(a, b, col))
        out.append((m, m if lo is None else lo, m if up is None else up))
    return np.array(out)


def _bars(ax, series: dict, metrics: tuple) -> None:
    """One group of bars per metric, one bar per entry of series (label -> changes(...)), with error bars."""
    x = np.arange(len(metrics))
    width = 0.8 / max(len(series), 1)
    for i, (label, c) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, c[:, 0], width, label=label,
               yerr=[c[:, 0] - c[:, 1], c[:, 2] - c[:, 0]], capsize=3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [label for _, label in metrics])


def make(results: Path, out: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    s = lm_summary(folder, ("decay_mode",) + tuple(c for c, _ in METRICS), ("lambda",) + tuple(c for c, _ in METRICS))
    modes = list(dict.fromkeys(s["decay_mode"]))
    if len(modes) < 2:
        raise InputError(f"result file {str(folder / 'summary.csv')!r} holds one decay mode; the mitigation figure "
                         "compares several")
    lam0, lam_hi = float(s["lambda"].min()), float(s["lambda"].max())

    def rows(mode, lam, split):
        return s[(s["decay_mode"] == mode) & (s["lambda"] == lam) & (s["split"] == split)].set_index("seed")

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, split in zip(axes, ("train", "heldout")):
        _bars(ax, {mode: changes(rows(mode, lam_hi, split), rows(mode, lam0, split), METRICS) for mode in modes},
              METRICS)
        ax.set_title(f"{split}: change from lambda 0 to {lam_hi:g}")
    axes[0].set_ylabel("loss change (nats)")
    axes[1].legend(title="decay mode", fontsize=8)
    fig.suptitle(f"{folder.name}: what each decay mode costs the rare tokens")
    fig.tight_layout()
    return save(fig, out, NAME)


SIM_NAME = "fig_mitigation_simulations"
SIM_CAPTION = ("Mitigations in the simulations — change of each loss from lambda 0 to the same lambda under each "
               "decay scheme (uniform; output rows decayed by class count, unbounded, the reference; output rows "
               "decayed by count capped at uniform decay, and by the occurrence schedule, both bounded by uniform "
               "decay; MLP: classifier not decayed), mean and "
               "95% t-interval over 3 seeds; low/high split by cumulative mass.")
SIM_METRICS = (("low_mass_loss", "low"), ("balanced_loss", "balanced"), ("average_loss", "average"),
               ("high_mass_loss", "high"))


def sim_inputs(results: Path) -> list[Path]:
    return [results / "sim_mitigation" / SIM_MITIGATION.name]


def make_sims(results: Path, out: Path) -> list[Path]:
    (path,) = sim_inputs(results)
    cols = tuple(c for c, _ in SIM_METRICS)
    df = read_csv(path, SIM_MITIGATION.pick("model", "optimizer", "scheme", "seed", *cols), cols)
    combos = list(dict.fromkeys(zip(df["model"], df["optimizer"])))
    fig, axes = plt.subplots(1, len(combos), figsize=(3.3 * len(combos), 3.6), sharey=False, squeeze=False)
    for ax, (model, opt) in zip(axes[0], combos):
        g = df[(df["model"] == model) & (df["optimizer"] == opt)]
        by = {sc: t.set_index("seed") for sc, t in g.groupby("scheme", sort=False)}
        _bars(ax, {sc: changes(t, by["none"], SIM_METRICS) for sc, t in by.items() if sc != "none"}, SIM_METRICS)
        ax.set_title(f"{model}, {opt}", fontsize=9)
    axes[0][0].set_ylabel("loss change from lambda 0")
    axes[0][-1].legend(fontsize=7, title="scheme", title_fontsize=7)
    fig.suptitle("Simulations: what each decay scheme costs the rare classes")
    fig.tight_layout()
    return save(fig, out, SIM_NAME)
