"""Fig. 4 analogue: average (per-token) vs class-balanced (mean over token ids) loss against weight decay,
train and held-out columns, one row per LM sweep folder; mean ± std over seeds, symlog x.

Data: <lm folder>/summary.csv (lambda, seed, split, average_loss, balanced_loss, decay_mode) and
<lm folder>/config.json (the panel titles)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .common import lm_dirs, lm_label, lm_summary, save, symlog_lambda

NAME = "fig4_average_vs_balanced"
CAPTION = ("Fig. 4 analogue — average (per-token) vs class-balanced (mean over token ids) loss against weight "
           "decay, train and held-out; mean ± std over seeds.")
DIFFERS = ("the same two losses as the paper, from our own runs (named here) rather than 270M-3B models trained "
           "10k steps on IMDB; the paper reports the training set only, we add the held-out split")
METRICS = ("average_loss", "balanced_loss")


def inputs(results: Path) -> list[Path]:
    return [f / name for f in lm_dirs(results) for name in ("summary.csv", "config.json")]


def make(results: Path, out: Path) -> list[Path]:
    folders = lm_dirs(results)
    fig, axes = plt.subplots(len(folders), 2, figsize=(9, 3.3 * len(folders)), squeeze=False)
    for row, folder in zip(axes, folders):
        s = lm_summary(folder, METRICS, METRICS)
        label = lm_label(folder)
        for ax, split in zip(row, ("train", "heldout")):
            for i, (mode, sub) in enumerate(s[s["split"] == split].groupby("decay_mode", sort=False)):
                g = sub.groupby("lambda")[list(METRICS)]
                m, sd = g.mean(), g.std().fillna(0.0)
                ls = "-" if i == 0 else "--"
                ax.errorbar(m.index, m["average_loss"], sd["average_loss"], fmt="o" + ls, color="C0", ms=3,
                            capsize=2, label=f"average ({mode})")
                ax.errorbar(m.index, m["balanced_loss"], sd["balanced_loss"], fmt="s" + ls, color="C1", ms=3,
                            capsize=2, label=f"class-balanced ({mode})")
            if not (s["split"] == split).any():
                ax.text(0.5, 0.5, f"no {split} rows in summary.csv", ha="center", transform=ax.transAxes)
            symlog_lambda(ax, sorted(s["lambda"].unique()))
            ax.set_ylabel("loss")
            ax.set_title(f"{split} — {label}", fontsize=8)
        row[0].legend(fontsize=7)
    fig.suptitle("Average vs class-balanced loss against weight decay", fontsize=11)
    fig.tight_layout()
    return save(fig, out, NAME)
