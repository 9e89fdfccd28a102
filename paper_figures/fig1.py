"""Fig. 1 analogue: per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training
counts) against weight decay; one row per LM sweep folder (lm, lm_gpu, ...), train and held-out columns;
mean ± std over seeds as error bars, symlog x.

Data: <lm folder>/summary.csv (lambda, seed, split, low_freq_loss, high_freq_loss, decay_mode) and
<lm folder>/config.json (the panel titles)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .common import lm_dirs, lm_label, lm_summary, save, symlog_lambda

NAME = "fig1_low_high_vs_weight_decay"
CAPTION = ("Fig. 1 analogue — per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training "
           "counts) against weight decay, train and held-out; mean ± std over seeds.")
DIFFERS = ("the paper plots the training set only, for 270M-3B models trained 10k steps on IMDB; we add the "
           "held-out split, and our model, corpus and training length are those of the runs named here")
METRICS = ("low_freq_loss", "high_freq_loss")


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
                ax.errorbar(m.index, m["low_freq_loss"], sd["low_freq_loss"], fmt="o" + ls, color="C3", ms=3,
                            capsize=2, label=f"low-frequency ({mode})")
                ax.errorbar(m.index, m["high_freq_loss"], sd["high_freq_loss"], fmt="s" + ls, color="C0", ms=3,
                            capsize=2, label=f"high-frequency ({mode})")
            if not (s["split"] == split).any():
                ax.text(0.5, 0.5, f"no {split} rows in summary.csv", ha="center", transform=ax.transAxes)
            symlog_lambda(ax, sorted(s["lambda"].unique()))
            ax.set_ylabel("per-token cross-entropy")
            ax.set_title(f"{split} — {label}", fontsize=8)
        row[0].legend(fontsize=7)
    fig.suptitle("Low- vs high-frequency token loss against weight decay (P99 split)", fontsize=11)
    fig.tight_layout()
    return save(fig, out, NAME)
