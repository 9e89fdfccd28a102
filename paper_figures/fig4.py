"""Fig. 4 analogue: average (per-token) vs class-balanced (mean over token ids) loss against weight decay,
train and held-out, one row per LM sweep folder; mean ± std over seeds."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .common import lm_dirs, lm_label, read_csv, save, symlog_lambda

COLS = ("lambda", "seed", "split", "average_loss", "balanced_loss")


def make(results: Path, out: Path) -> list[Path]:
    folders = lm_dirs(results)
    fig, axes = plt.subplots(len(folders), 2, figsize=(9, 3.3 * len(folders)), squeeze=False)
    for row, folder in zip(axes, folders):
        s = read_csv(folder / "summary.csv", COLS)
        if "decay_mode" not in s:
            s["decay_mode"] = "default"
        for ax, split in zip(row, ("train", "heldout")):
            for i, (mode, sub) in enumerate(s[s["split"] == split].groupby("decay_mode", sort=False)):
                g = sub.groupby("lambda")[["average_loss", "balanced_loss"]]
                m, sd = g.mean(), g.std().fillna(0.0)
                ls = "-" if i == 0 else "--"
                ax.errorbar(m.index, m["average_loss"], sd["average_loss"], fmt="o" + ls, color="C0", ms=3,
                            capsize=2, label=f"average ({mode})")
                ax.errorbar(m.index, m["balanced_loss"], sd["balanced_loss"], fmt="s" + ls, color="C1", ms=3,
                            capsize=2, label=f"class-balanced ({mode})")
            symlog_lambda(ax, sorted(s["lambda"].unique()))
            ax.set_ylabel("loss")
            ax.set_title(f"{split} — {lm_label(folder)}", fontsize=8)
        row[0].legend(fontsize=7)
    fig.suptitle("Average vs class-balanced loss against weight decay", fontsize=11)
    fig.tight_layout()
    return save(fig, out, "fig4_average_vs_balanced")
