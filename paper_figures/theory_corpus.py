"""Theory meets the corpus: the UFM optimum's per-token loss at the LM sweep's own token counts (left,
theory_corpus/theory_corpus.csv from `python -m theory corpus`) next to the LM's measured loss (right), both
averaged per powers-of-3 training-count bin (theory.ufm.metrics.power_of_3_bins), one line per lambda.

LM data: <first lm folder>/token_stats.csv (token_id, pow3_bin) and runs/<run>/per_token.csv.gz (step, split,
token_id, count, loss) at each run's last step, training split, tokens with a loss there; each run's weight
decay, seed and decay mode from the sweep's summary.csv (first decay mode only), averaged over seeds.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from plumbing.errors import InputError

from .common import lm_dirs, read_csv, save

NAME = "theory_corpus"
CAPTION = ("Theory meets the corpus — left: per-token loss at the optimum of the ReLU UFM (closed form; the "
           "certified unconstrained optimum too when `theory corpus --with-unconstrained` made it) evaluated at "
           "the LM sweep's own training counts, mean per powers-of-3 count bin, for c = λN in {0.1, 0.3, 1, 3}; "
           "right: the LM's measured training-split loss per bin at the last step, one line per weight decay. "
           "Compare the SHAPES (loss falling with count; how the rare bins move with λ), not the values: the two "
           "λ scales cannot be matched. The UFM's λ is an L2 penalty on the converged last-layer weights and "
           "features (c = λN per sample), while the LM's weight decay is AdamW's decoupled decay of all weights, "
           "scaled by the learning-rate schedule over a finite number of steps from a random start; the theory "
           "gives no map from one to the other, so we show a grid of c wide enough to go from almost no decay to "
           "collapse of the rarest bins and make no claim that any c equals any LM λ. The theory's loss is "
           "bounded by log V (collapse); the LM's loss at rare tokens is not.")
DIFFERS = ("not in the paper: the paper's Proposition is never evaluated at real token counts; here the UFM with "
           "d >= V, which the paper's LMs do not satisfy (theory report, d_at_least_V_in_paper_models)")


def inputs(results: Path) -> list[Path]:
    results = Path(results)
    out = [results / "theory_corpus" / "theory_corpus.csv"]
    try:
        lm = lm_dirs(results)[0]
    except InputError:
        return out
    return out + [lm / "token_stats.csv"] + sorted((lm / "runs").glob("*/per_token.csv.gz"))


def theory_table(results: Path) -> pd.DataFrame:
    path = Path(results) / "theory_corpus" / "theory_corpus.csv"
    return read_csv(path, ("model", "c", "bin", "count_low", "mean_loss"), ("c", "bin", "count_low", "mean_loss"),
                    hint="run `python -m theory corpus --counts-file <lm folder>/token_stats.csv --out "
                         "<results>/theory_corpus`")


def lm_table(results: Path) -> pd.DataFrame:
    """Rows (decay_mode, lambda, seed, bin, mean_loss): the LM's last-step training loss per powers-of-3 bin."""
    lm = lm_dirs(Path(results))[0]
    stats = read_csv(lm / "token_stats.csv", ("token_id", "pow3_bin"), ("token_id", "pow3_bin"))
    bins = stats.set_index("token_id")["pow3_bin"]
    summary = read_csv(lm / "summary.csv", ("run", "lambda", "seed", "decay_mode"), ("lambda",))
    runs = summary.drop_duplicates("run")
    rows = []
    for _, r in runs.iterrows():
        path = lm / "runs" / str(r["run"]) / "per_token.csv.gz"
        cfg = {"decay_mode": r["decay_mode"], "weight_decay": r["lambda"], "seed": r["seed"]}
        t = read_csv(path, ("step", "split", "token_id", "loss"), ("step", "token_id"))
        t = t[(t["split"] == "train") & (t["step"] == t["step"].max()) & t["loss"].notna()]
        t = t.assign(bin=t["token_id"].map(bins))
        t = t[t["bin"].notna() & (t["bin"] >= 0)]
        for b, g in t.groupby("bin"):
            rows.append({"decay_mode": cfg.get("decay_mode", "default"), "lambda": float(cfg["weight_decay"]),
                         "seed": cfg.get("seed", 0), "bin": int(b), "mean_loss": float(g["loss"].mean())})
    df = pd.DataFrame(rows)
    if df.empty:
        raise InputError(f"no per-token training loss in {str(lm / 'runs')!r}")
    return df[df["decay_mode"] == df["decay_mode"].iloc[0]]


def _bin_lines(ax, table: pd.DataFrame, key: str, colors, style: str, label: str, title: str) -> None:
    """One line of mean loss against the bin's count (3^b) per value of `key`, on a log x axis."""
    values = sorted(table[key].unique())
    colors = colors[np.linspace(0, len(colors) - 1, len(values)).round().astype(int)]
    for color, v in zip(colors, values):
        s = table[table[key] == v].sort_values("bin")
        ax.plot(3.0 ** s["bin"], s["mean_loss"], style, color=color, ms=3, label=label.format(v))
    ax.set_xscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("training count (bin start 3^b)")
    ax.legend(fontsize=7)


def make(results: Path, out: Path) -> list[Path]:
    th = theory_table(results)
    lm = lm_table(results)
    models = [m for m in ("ufm-relu", "ufm-unconstrained") if m in set(th["model"])]
    fig, axes = plt.subplots(1, len(models) + 1, figsize=(3.8 * (len(models) + 1), 3.4), squeeze=False)
    for ax, model in zip(axes[0], models):
        _bin_lines(ax, th[th["model"] == model], "c", plt.cm.viridis(np.linspace(0, 0.9, 8)), "o-",
                   "c = λN = {:g}", f"{model} optimum at the LM's counts")
        ax.set_ylabel("mean loss per bin (nats)")
    mean = lm.groupby(["lambda", "bin"])["mean_loss"].mean().reset_index()
    _bin_lines(axes[0][-1], mean, "lambda", plt.cm.magma(np.linspace(0, 0.8, 8)), "s-", "LM weight decay {:g}",
               f"LM, last step, training split ({lm['decay_mode'].iloc[0]}, mean over seeds)")
    fig.suptitle("Loss vs token count: UFM theory at the corpus counts vs the LM (λ scales not matched)",
                 fontsize=10, y=1.04)
    return save(fig, out, NAME)
