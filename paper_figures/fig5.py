"""Fig. 5 analogue: token learning speed (1 - normalised area under the token's training-loss curve) against
its training count (log x), coloured by powers-of-3 frequency bin, with the median per bin; one panel per
weight decay (first seed and first decay mode of the sweep). Only the measurable tokens are drawn (the
`measurable` column: enough occurrences in the evaluation window for the loss curve to mean something); each
panel's title states the share of negative speeds (a loss curve above its start on average) among all the
tokens and among the measurable ones, and `facts` gives the same numbers as text.

Data: <first lm folder>/learning_speed.csv (lambda, seed, token_id, train_count, pow3_bin, eval_count,
measurable, learning_speed, decay_mode)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from plumbing.schemas import LM_LEARNING_SPEED

from .common import as_bool, lm_dirs, read_csv, save

NAME = "fig5_learning_speed"
CAPTION = ("Fig. 5 analogue — token learning speed against training count, coloured by powers-of-3 frequency "
           "bin, one panel per weight decay; only measurable tokens (enough occurrences in the evaluation window, "
           "learning_speed.csv's `measurable`) are drawn, and each panel states the share of negative speeds "
           "(loss above its start on average) among all and among measurable tokens.")
DIFFERS = ("the first seed of our own runs (named here) instead of the paper's 270M-3B models trained 10k steps "
           "on IMDB; learning speed is measured on our training split")
COLS = LM_LEARNING_SPEED.pick("lambda", "seed", "token_id", "train_count", "pow3_bin", "eval_count", "measurable",
                              "learning_speed")


def inputs(results: Path) -> list[Path]:
    return [lm_dirs(results)[0] / LM_LEARNING_SPEED.name]


def _read(results: Path):
    """(path, the rows of the first seed and first decay mode with a training count > 0, seed, decay mode)."""
    path, = inputs(results)
    s = read_csv(path, COLS, LM_LEARNING_SPEED.pick("lambda", "seed", "train_count", "pow3_bin", "eval_count",
                                                    "learning_speed"))
    s["measurable"] = as_bool(s, "measurable", path)
    seed = s["seed"].min()
    s = s[(s["seed"] == seed) & (s["train_count"] > 0)]
    mode = ""
    if "decay_mode" in s and len(s):
        mode = str(s["decay_mode"].iloc[0])
        s = s[s["decay_mode"] == s["decay_mode"].iloc[0]]
    return path, s, seed, mode


def negative_shares(sub) -> dict:
    """Share of negative learning speeds among all the rows of `sub` and among its measurable ones (NaN speeds
    left out; NaN share for no row), with the row counts and the smallest eval_count of a measurable row."""
    ok = sub[sub["learning_speed"].notna()]
    meas = ok[ok["measurable"]]

    def share(d):
        return float((d["learning_speed"] < 0).mean()) if len(d) else float("nan")

    return {"all": share(ok), "measurable": share(meas), "n_all": len(ok), "n_measurable": len(meas),
            "min_eval_count": int(meas["eval_count"].min()) if len(meas) else None}


def facts(results: Path) -> str:
    """One sentence per weight decay: the share of negative learning speeds among all and measurable tokens."""
    path, s, seed, mode = _read(results)
    parts = []
    for lam in sorted(s["lambda"].unique()):
        f = negative_shares(s[s["lambda"] == lam])
        parts.append(f"λ = {lam:g}: {100 * f['all']:.1f}% of {f['n_all']} tokens and {100 * f['measurable']:.1f}% "
                     f"of the {f['n_measurable']} measurable ones have a negative learning speed")
    return (f"{path.parent.name}, seed {seed:g}{', ' + mode if mode else ''}: " + "; ".join(parts) + "."
            if parts else f"{path.parent.name}: no token with a training count > 0.")


def make(results: Path, out: Path) -> list[Path]:
    path, s, seed, mode = _read(results)
    lams = sorted(s["lambda"].unique())
    fig, axes = plt.subplots(1, max(len(lams), 1), figsize=(3.4 * max(len(lams), 1), 3.4), squeeze=False,
                             sharey=True)
    vmin, vmax = (s["pow3_bin"].min(), s["pow3_bin"].max()) if len(s) else (0, 1)
    sc = None
    for ax, lam in zip(axes[0], lams):
        f = negative_shares(s[s["lambda"] == lam])
        sub = s[(s["lambda"] == lam) & s["measurable"]]
        sc = ax.scatter(sub["train_count"], sub["learning_speed"], c=sub["pow3_bin"], cmap="viridis", s=3, alpha=0.6,
                        vmin=vmin, vmax=vmax)
        med = sub.groupby("pow3_bin")[["train_count", "learning_speed"]].median()
        ax.plot(med["train_count"], med["learning_speed"], "k-", lw=1.2, label="median per bin")
        ax.set_xscale("log")
        ax.set_title(f"λ = {lam:g}: {f['n_measurable']} of {f['n_all']} tokens measurable\n"
                     f"negative speed: {100 * f['all']:.1f}% of all,\n{100 * f['measurable']:.1f}% of measurable",
                     fontsize=8)
        ax.set_xlabel("training count")
    if sc is None:
        axes[0][0].text(0.5, 0.5, "no token with a training count > 0", ha="center", transform=axes[0][0].transAxes)
    else:
        axes[0][0].legend(fontsize=7)
        fig.colorbar(sc, ax=axes[0].tolist(), label="powers-of-3 bin")
    axes[0][0].set_ylabel("learning speed")
    k = negative_shares(s)["min_eval_count"]
    fig.suptitle(f"Token learning speed vs frequency ({path.parent.name}, seed {seed:g}{', ' + mode if mode else ''})\n"
                 f"measurable tokens only{f' (>= {k} occurrences in the evaluation window)' if k else ''}",
                 fontsize=10, y=1.12)
    return save(fig, out, NAME)
