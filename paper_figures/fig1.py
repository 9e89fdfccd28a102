"""Fig. 1 analogue: per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training
counts) against weight decay; one row per LM sweep folder, train and held-out columns; mean ± std over seeds."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .common import lm_dirs, lm_label, read_csv, save, symlog_lambda

COLS = ("lambda", "seed", "split", "low_freq_loss", "high_freq_loss")


def make(results: Path, out: Path) -> list[Path]:
    folders = lm_dirs(results)
    fig, axes = plt.subplots(len(folders), 2, figsize=(9, 3.3 * len(folders)), squeeze=False)
    for row, folder in zip(axes, folders):
        s = read_csv(folder / "summary.csv", COLS)
        if "decay_mode" not in s:
            s["decay_mode"] = "default"
        for ax, split in zip(row, ("train", "heldout")):
            for i, (mode, sub) in enumerate(s[s["split"] == split].groupby("decay_mode", sort=False)):
                g = sub.groupby("lambda")[["low_freq_loss", "high_freq_loss"]]
                m, sd = g.mean(), g.std().fillna(0.0)
                ls = "-" if i == 0 else "--"
                ax.errorbar(m.index, m["low_freq_loss"], sd["low_freq_loss"], fmt="o" + ls, color="C3", ms=3,
                            capsize=2, label=f"low-frequency ({mode})")
                ax.errorbar(m.index, m["high_freq_loss"], sd["high_freq_loss"], fmt="s" + ls, color="C0", ms=3,
                            capsize=2, label=f"high-frequency ({mode})")
            symlog_lambda(ax, sorted(s["lambda"].unique()))
            ax.set_ylabel("per-token cross-entropy")
            ax.set_title(f"{split} — {lm_label(folder)}", fontsize=8)
        row[0].legend(fontsize=7)
    fig.suptitle("Low- vs high-frequency token loss against weight decay (P99 split)", fontsize=11)
    fig.tight_layout()
    return save(fig, out, "fig1_low_high_vs_weight_decay")
