"""Fig. 5 analogue: token learning speed (1 - normalised area under the token's training-loss curve) against
its training count (log x), coloured by powers-of-3 frequency bin, with the median per bin; one panel per
weight decay (first seed and first decay mode of the sweep).

Data: <first lm folder>/learning_speed.csv (lambda, seed, token_id, train_count, pow3_bin, learning_speed,
decay_mode)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from plumbing.schemas import LM_LEARNING_SPEED

from .common import lm_dirs, read_csv, save

NAME = "fig5_learning_speed"
CAPTION = ("Fig. 5 analogue — token learning speed against training count, coloured by powers-of-3 frequency "
           "bin, one panel per weight decay.")
DIFFERS = ("the first seed of our own runs (named here) instead of the paper's 270M-3B models trained 10k steps "
           "on IMDB; learning speed is measured on our training split")
COLS = LM_LEARNING_SPEED.pick("lambda", "seed", "token_id", "train_count", "pow3_bin", "learning_speed")


def inputs(results: Path) -> list[Path]:
    return [lm_dirs(results)[0] / LM_LEARNING_SPEED.name]


def make(results: Path, out: Path) -> list[Path]:
    path, = inputs(results)
    s = read_csv(path, COLS, LM_LEARNING_SPEED.pick("lambda", "seed", "train_count", "pow3_bin", "learning_speed"))
    seed = s["seed"].min()
    s = s[(s["seed"] == seed) & (s["train_count"] > 0)]
    mode = ""
    if "decay_mode" in s and len(s):
        mode = str(s["decay_mode"].iloc[0])
        s = s[s["decay_mode"] == s["decay_mode"].iloc[0]]
    lams = sorted(s["lambda"].unique())
    fig, axes = plt.subplots(1, max(len(lams), 1), figsize=(3.2 * max(len(lams), 1), 3.2), squeeze=False,
                             sharey=True)
    vmin, vmax = (s["pow3_bin"].min(), s["pow3_bin"].max()) if len(s) else (0, 1)
    sc = None
    for ax, lam in zip(axes[0], lams):
        sub = s[s["lambda"] == lam]
        sc = ax.scatter(sub["train_count"], sub["learning_speed"], c=sub["pow3_bin"], cmap="viridis", s=3, alpha=0.6,
                        vmin=vmin, vmax=vmax)
        med = sub.groupby("pow3_bin")[["train_count", "learning_speed"]].median()
        ax.plot(med["train_count"], med["learning_speed"], "k-", lw=1.2, label="median per bin")
        ax.set_xscale("log")
        ax.set_title(f"λ = {lam:g}", fontsize=9)
        ax.set_xlabel("training count")
    if sc is None:
        axes[0][0].text(0.5, 0.5, "no token with a training count > 0", ha="center", transform=axes[0][0].transAxes)
    else:
        axes[0][0].legend(fontsize=7)
        fig.colorbar(sc, ax=axes[0].tolist(), label="powers-of-3 bin")
    axes[0][0].set_ylabel("learning speed")
    fig.suptitle(f"Token learning speed vs frequency ({path.parent.name}, seed {seed:g}{', ' + mode if mode else ''})",
                 fontsize=11)
    return save(fig, out, NAME)
