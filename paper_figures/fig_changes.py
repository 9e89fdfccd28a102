"""What the findings measure: the change of each loss from lambda 0, with its 95% t-interval over seeds.

One row per LM sweep (the CPU tiny model `lm` and each committed real-scale regime), train and held-out columns;
in each panel one group of bars per (decay mode, lambda) and one bar per loss (average, class-balanced, low- and
high-frequency), the error bar the interval of the paired change (no bar: one seed). Data: findings.changes,
i.e. lm/summary.csv and real_scale/<sweep>/<regime>/summary.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import lm_inputs, save
from .findings import LOSSES, changes

NAME = "fig_changes"
CAPTION = ("Changes under weight decay — each loss at lambda minus its value at lambda 0, mean over seeds with the "
           "95% t-interval of the paired change, per decay mode, on training tokens and held-out text.")
DIFFERS = ("the paper reports levels (Table 1, Fig. 1) for one seed; we plot the changes the findings test, with "
           "their intervals")
COLOURS = {"average_loss": "C7", "balanced_loss": "C1", "low_freq_loss": "C3", "high_freq_loss": "C0"}
inputs = lm_inputs


def make(results: Path, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    rows = [r for r in changes(Path(results)) if r["against"] == "lambda 0"]
    sources = list(dict.fromkeys(r["source"] for r in rows))
    fig, axes = plt.subplots(len(sources), 2, figsize=(12, 3.2 * len(sources)), squeeze=False)
    width = 0.8 / len(LOSSES)
    for i, source in enumerate(sources):
        for j, split in enumerate(("train", "heldout")):
            ax = axes[i][j]
            part = [r for r in rows if r["source"] == source and r["split"] == split]
            groups = list(dict.fromkeys((r["decay_mode"], r["lambda"]) for r in part))
            for k, metric in enumerate(LOSSES):
                cells = [next(r for r in part if (r["decay_mode"], r["lambda"]) == g and r["metric"] == metric)
                         for g in groups]
                mean = np.array([c["change"] for c in cells], float)
                err = np.array([[c["change"] - c["low"], c["high"] - c["change"]] if c["low"] is not None
                                else [np.nan, np.nan] for c in cells], float).T
                x = np.arange(len(groups)) + (k - (len(LOSSES) - 1) / 2) * width
                ax.bar(x, mean, width, color=COLOURS[metric], label=metric.replace("_", " "))
                ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="none", ecolor="k", capsize=2, lw=0.8)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_xticks(range(len(groups)), [f"{m}\nlambda {lam:g}" for m, lam in groups], fontsize=7)
            n = sorted({r["n_seeds"] for r in part})
            ax.set_title(f"{source}: {split} (seeds: {', '.join(map(str, n))})", fontsize=9)
            ax.set_ylabel("change from lambda 0 (nats)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, NAME)
