"""Fig. 1, what the findings measure: the change of each group's per-token loss from lambda 0, against weight
decay, with its 95% t-interval over seeds (paired by seed: findings.changes). One row per LM sweep (the CPU
tiny model `lm` and each committed real-scale regime), train and held-out columns; one colour per group
(low- and high-frequency tokens at the P99 split of the training counts, class-balanced, average) and one line
style and marker per decay mode. Lambda 0 is the reference (change 0). A point without an error bar had one seed.

Data: <lm folder>/summary.csv and config.json of every LM sweep (through findings.changes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import lm_inputs, save, symlog_lambda
from .findings import LOSSES, changes

NAME = "fig1_low_high_vs_weight_decay"
CAPTION = ("Fig. 1 analogue — change of the low-frequency, high-frequency (P99 split of the training counts), "
           "class-balanced and average per-token loss from lambda 0 against weight decay, mean over seeds with the "
           "95% t-interval of the paired change; one colour per group, one line style per decay mode; train and "
           "held-out.")
DIFFERS = ("the paper plots the levels of the low- and high-frequency training loss of 270M-3B models trained 10k "
           "steps on IMDB, one seed; we plot the changes the findings test, with their intervals, on both splits, "
           "for the runs named here")
GROUPS = {"low_freq_loss": ("low-frequency", "C3"), "high_freq_loss": ("high-frequency", "C0"),
          "balanced_loss": ("class-balanced", "C1"), "average_loss": ("average", "C7")}
STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"))
inputs = lm_inputs


def make(results: Path, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = [r for r in changes(Path(results)) if r["against"] == "lambda 0"]
    sources = list(dict.fromkeys(r["source"] for r in rows))
    modes = list(dict.fromkeys(r["decay_mode"] for r in rows))
    fig, axes = plt.subplots(len(sources), 2, figsize=(10, 3.4 * len(sources) + 0.6), squeeze=False)
    for i, source in enumerate(sources):
        for j, split in enumerate(("train", "heldout")):
            ax = axes[i][j]
            part = [r for r in rows if r["source"] == source and r["split"] == split]
            lams = sorted({0.0} | {r["lambda"] for r in part})
            for k, mode in enumerate(modes):
                ls, marker = STYLES[k % len(STYLES)]
                for metric in LOSSES:
                    cells = sorted((r for r in part if r["decay_mode"] == mode and r["metric"] == metric),
                                   key=lambda r: r["lambda"])
                    if not cells:
                        continue
                    dodge = (k - (len(modes) - 1) / 2) * 0.025 * max(lams)  # modes side by side, bars apart
                    x = np.array([0.0] + [c["lambda"] + dodge for c in cells])
                    y = np.array([0.0] + [c["change"] for c in cells])
                    err = np.array([[0.0, 0.0]] + [[c["change"] - c["low"], c["high"] - c["change"]]
                                                   if c["low"] is not None else [0.0, 0.0] for c in cells]).T
                    ax.errorbar(x, y, yerr=err, color=GROUPS[metric][1], ls=ls, marker=marker, ms=4, capsize=2,
                                lw=1.2, alpha=0.9)
            ax.axhline(0, color="k", lw=0.6)
            if max(lams) / min(x for x in lams if x > 0) > 20:  # a wide range of lambdas: symlog
                symlog_lambda(ax, lams)
            else:
                ax.set_xticks(lams)
                ax.set_xlabel("weight decay λ")
            n = sorted({r["n_seeds"] for r in part})
            ax.set_title(f"{source}: {split} (seeds: {', '.join(map(str, n))})", fontsize=9)
            ax.set_ylabel("change from λ = 0 (nats)")
    groups = [Line2D([], [], color=c, lw=2, label=label) for label, c in GROUPS.values()]
    styles = [Line2D([], [], color="k", ls=STYLES[k % len(STYLES)][0], marker=STYLES[k % len(STYLES)][1], ms=4,
                     label=mode) for k, mode in enumerate(modes)]
    height = 3.4 * len(sources) + 0.6
    fig.legend(handles=groups + styles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Weight decay and the rare tokens: change of each group's loss from λ = 0 (95% t-interval)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.75 / height, 1, 1))
    return save(fig, out, NAME)
