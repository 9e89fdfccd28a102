"""Mitigation figures: what each decay mode (LM) or decay scheme (simulations) does to the losses, against no
decay at all.

Bars: for each decay mode of the first LM sweep folder, the change of the low-frequency, class-balanced,
average and high-frequency loss from lambda 0 to the largest lambda (paired by seed), mean with its 95%
t-interval over seeds (findings.t_interval); train and held-out panels. Lambda 0 is the same run for every
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
from .findings import t_interval

NAME = "fig_mitigation"
CAPTION = ("Mitigations — change of each loss from no weight decay to the largest lambda, per decay mode "
           "(uniform decay of all but norms and biases; no decay on the embedding and output layer; per-token "
           "decay of those layers scaled by the token's training count), mean and 95% t-interval over seeds.")
DIFFERS = "the paper proposes no mitigation; this figure is ours"
METRICS = (("low_freq_loss", "low-freq"), ("balanced_loss", "balanced"), ("average_loss", "average"),
           ("high_freq_loss", "high-freq"))


def inputs(results: Path) -> list[Path]:
    return [lm_dirs(results)[0] / "summary.csv"]


def changes(s, mode: str, split: str, lam_hi: float) -> list[tuple[float, float, float]]:
    """[(mean, low, high)] per METRICS entry: metric(mode, lam_hi) - metric(lambda 0), paired by seed."""
    lam0 = s["lambda"].min()
    zero = s[(s["lambda"] == lam0) & (s["split"] == split) & (s["decay_mode"] == mode)].set_index("seed")
    hi = s[(s["lambda"] == lam_hi) & (s["split"] == split) & (s["decay_mode"] == mode)].set_index("seed")
    seeds = zero.index.intersection(hi.index)
    out = []
    for col, _ in METRICS:
        m, lo, up = t_interval((hi.loc[seeds, col] - zero.loc[seeds, col]).to_numpy(float))
        out.append((m, m if lo is None else lo, m if up is None else up))
    return out


def make(results: Path, out: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    s = lm_summary(folder, ("decay_mode",) + tuple(c for c, _ in METRICS), ("lambda",) + tuple(c for c, _ in METRICS))
    modes = list(dict.fromkeys(s["decay_mode"]))
    if len(modes) < 2:
        raise InputError(f"result file {str(folder / 'summary.csv')!r} holds one decay mode; the mitigation figure "
                         "compares several")
    lam_hi = float(s["lambda"].max())
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    x = np.arange(len(METRICS))
    width = 0.8 / len(modes)
    for ax, split in zip(axes, ("train", "heldout")):
        for i, mode in enumerate(modes):
            c = np.array(changes(s, mode, split, lam_hi))
            ax.bar(x + (i - (len(modes) - 1) / 2) * width, c[:, 0], width, label=mode,
                   yerr=[c[:, 0] - c[:, 1], c[:, 2] - c[:, 0]], capsize=3)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, [label for _, label in METRICS])
        ax.set_title(f"{split}: change from lambda 0 to {lam_hi:g}")
    axes[0].set_ylabel("loss change (nats)")
    axes[1].legend(title="decay mode", fontsize=8)
    fig.suptitle(f"{folder.name}: what each decay mode costs the rare tokens")
    fig.tight_layout()
    return save(fig, out, NAME)


SIM_NAME = "fig_mitigation_simulations"
SIM_CAPTION = ("Mitigations in the simulations — change of each loss from lambda 0 to the same lambda under each "
               "decay scheme (uniform; output rows decayed by class count; MLP: classifier not decayed), mean and "
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
    x = np.arange(len(SIM_METRICS))
    for ax, (model, opt) in zip(axes[0], combos):
        g = df[(df["model"] == model) & (df["optimizer"] == opt)]
        none = g[g["scheme"] == "none"].set_index("seed")
        schemes = [sc for sc in dict.fromkeys(g["scheme"]) if sc != "none"]
        width = 0.8 / max(len(schemes), 1)
        for i, sc in enumerate(schemes):
            t = g[g["scheme"] == sc].set_index("seed")
            seeds = none.index.intersection(t.index)
            c = np.array([[v if v is not None else m for v in (m, lo, hi)]
                          for m, lo, hi in (t_interval((t.loc[seeds, col] - none.loc[seeds, col]).to_numpy(float))
                                            for col in cols)])
            ax.bar(x + (i - (len(schemes) - 1) / 2) * width, c[:, 0], width, label=sc,
                   yerr=[c[:, 0] - c[:, 1], c[:, 2] - c[:, 0]], capsize=2)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, [label for _, label in SIM_METRICS], fontsize=8)
        ax.set_title(f"{model}, {opt}", fontsize=9)
    axes[0][0].set_ylabel("loss change from lambda 0")
    axes[0][-1].legend(fontsize=7, title="scheme", title_fontsize=7)
    fig.suptitle("Simulations: what each decay scheme costs the rare classes")
    fig.tight_layout()
    return save(fig, out, SIM_NAME)
