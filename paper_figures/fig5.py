"""Fig. 5 analogue: token learning speed (1 - normalised area under the loss curve, training split) against
training count (log x), coloured by powers-of-3 frequency bin; one panel per weight decay (first seed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .common import lm_dirs, read_csv, save

COLS = ("lambda", "seed", "token_id", "train_count", "pow3_bin", "learning_speed")


def make(results: Path, out: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    s = read_csv(folder / "learning_speed.csv", COLS)
    s = s[(s["seed"] == s["seed"].min()) & (s["train_count"] > 0)]
    if "decay_mode" in s:
        s = s[s["decay_mode"] == s["decay_mode"].iloc[0]]
    lams = sorted(s["lambda"].unique())
    fig, axes = plt.subplots(1, len(lams), figsize=(3.2 * len(lams), 3.2), squeeze=False, sharey=True)
    for ax, lam in zip(axes[0], lams):
        sub = s[s["lambda"] == lam]
        sc = ax.scatter(sub["train_count"], sub["learning_speed"], c=sub["pow3_bin"], cmap="viridis", s=3, alpha=0.6)
        med = sub.groupby("pow3_bin")[["train_count", "learning_speed"]].median()
        ax.plot(med["train_count"], med["learning_speed"], "k-", lw=1.2, label="median per bin")
        ax.set_xscale("log")
        ax.set_title(f"λ = {lam:g}", fontsize=9)
        ax.set_xlabel("training count")
    axes[0][0].set_ylabel("learning speed")
    axes[0][0].legend(fontsize=7)
    fig.colorbar(sc, ax=axes[0].tolist(), label="powers-of-3 bin")
    fig.suptitle(f"Token learning speed vs frequency ({folder.name})", fontsize=11)
    return save(fig, out, "fig5_learning_speed")
