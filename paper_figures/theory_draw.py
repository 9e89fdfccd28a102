"""The figures of the theory verification, drawn ONLY from the tables `python -m theory verify` saved.

Every figure reads the CSV files that the claims wrote (FIGURES names them; the claims name the figures their
tables feed in report.json), and `redraw(folder, out)` draws them from a results folder alone, deterministically
(the same tables give the same bytes); `paper_figures.theory_figs` puts them in the report. Nothing here solves
anything, and theory itself draws nothing.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from plumbing.atomic import atomic_savefig
from plumbing.errors import InputError
from plumbing.results import read_result_csv

from theory.ufm.problem import MODELS
from theory.verification.claims import SHOW  # the c = lambda N the claims tabulate for these figures

UNC, RELU = MODELS

PER_CLASS = ("model", "instance", "c", "class", "count", "loss")
COLUMNS = {  # the columns each table must have for the figures
    "per_class_loss.csv": PER_CLASS,
    "lambda_sweep.csv": ("model", "instance", "c", "average_loss", "balanced_loss"),
    "sensitivity.csv": ("model", "c", "class", "count", "dloss_dlambda"),
    "relu_closed_form__lbfgs_per_class.csv": PER_CLASS,
    "unconstrained_optimum__lbfgs_per_class.csv": PER_CLASS,
    "proposition_as_stated__implied_M.csv": PER_CLASS + ("implied_M",),
}
FIGURES = {  # figure file -> the tables it is drawn from
    "relu_loss_vs_count.png": ("per_class_loss.csv", "relu_closed_form__lbfgs_per_class.csv"),
    "unconstrained_loss_vs_count.png": ("per_class_loss.csv", "unconstrained_optimum__lbfgs_per_class.csv"),
    "average_vs_balanced.png": ("lambda_sweep.csv",),
    "sensitivity.png": ("sensitivity.csv",),
    "implied_M.png": ("proposition_as_stated__implied_M.csv",),
}
HINT = "make it with: python -m theory verify --out FOLDER"


def _numeric(name: str) -> tuple:
    return tuple(c for c in COLUMNS[name] if c not in ("model", "instance"))


def parse_table(name: str, data: bytes, source: str | None = None):
    """A table from CSV bytes (the same checks as `read_tables`)."""
    import pandas as pd

    try:
        df = pd.read_csv(io.BytesIO(data))
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read table {source or name!r}: {exc}") from exc
    missing = [c for c in COLUMNS[name] if c not in df.columns]
    if missing or df.empty:
        raise InputError(f"table {source or name!r} lacks the column(s) {', '.join(missing)}" if missing
                         else f"table {source or name!r} has no rows")
    df.attrs["source"] = source or name
    return df


def read_tables(folder: str | os.PathLike, names) -> dict:
    """{name: DataFrame} for the tables `names` in `folder`; InputError naming a missing or bad file."""
    out = {}
    for name in names:
        path = Path(folder) / name
        df = read_result_csv(path, COLUMNS[name], _numeric(name), HINT)
        df.attrs["source"] = str(path)
        out[name] = df
    return out


def _rows(df, **equal):
    """The rows of df whose columns equal the given values, in class order; InputError if none."""
    keep = np.ones(len(df), dtype=bool)
    for col, value in equal.items():
        keep &= (df[col] == value).to_numpy()
    sel = df[keep]
    if sel.empty:
        raise InputError(f"table {df.attrs.get('source', '?')!r} has no rows with "
                         + ", ".join(f"{k} = {v!r}" for k, v in equal.items()))
    return sel.sort_values("class", kind="stable") if "class" in sel.columns else sel


def _curve(df, model, c, column="loss"):
    sel = _rows(df, model=model, instance="zipf1-V30", c=c)
    return sel["count"].to_numpy(np.float64), sel[column].to_numpy(np.float64)


def _colors(plt):
    return plt.cm.viridis(np.linspace(0, 0.9, len(SHOW)))


def _loss_vs_count(plt, tables, model, lbfgs_table, title, with_relu=False):
    per_class, lbfgs = tables["per_class_loss.csv"], tables[lbfgs_table]
    fig, ax = plt.subplots(figsize=(6, 4))
    counts = None
    for col, c in zip(_colors(plt), SHOW):
        counts, loss = _curve(per_class, model, c)
        o = np.argsort(counts)
        ax.plot(counts[o], loss[o], color=col, label=f"c = {c}")
        if with_relu:
            ax.plot(counts[o], _curve(per_class, RELU, c)[1][o], color=col, ls="--", lw=0.8)
        nc_counts, nc_loss = _curve(lbfgs, model, c)
        ax.plot(nc_counts, nc_loss, "o", mfc="none", color=col, ms=5)
    ax.axhline(math.log(counts.size), color="grey", ls=":", lw=1)
    ax.set(xscale="log", xlabel="class count n_k", ylabel="per-class loss at the minimum", title=title)
    ax.legend(title="lambda = c/N", fontsize=8)
    return fig


def draw_relu(plt, tables):
    """Closed-form relu loss against n_k (lines) and L-BFGS-B at d = 3V (circles), zipf1-V30."""
    return _loss_vs_count(plt, tables, RELU, "relu_closed_form__lbfgs_per_class.csv",
                          "ReLU UFM: closed form (lines) vs L-BFGS-B, d = 3V (circles)")


def draw_unconstrained(plt, tables):
    """Certified unconstrained loss (lines), L-BFGS at d = V (circles) and relu (dashed), zipf1-V30."""
    return _loss_vs_count(plt, tables, UNC, "unconstrained_optimum__lbfgs_per_class.csv",
                          "Unconstrained UFM: certified (lines), L-BFGS (circles), relu (dashed)", with_relu=True)


def draw_average_vs_balanced(plt, tables):
    """Average and balanced loss at the minimum against c, one panel per instance."""
    sweep = tables["lambda_sweep.csv"]
    instances = list(dict.fromkeys(sweep["instance"]))
    fig, axes = plt.subplots(1, len(instances), figsize=(10, 4), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, inst in zip(axes, instances):
        for model, ls in ((RELU, "-"), (UNC, "--")):
            s = _rows(sweep, model=model, instance=inst).sort_values("c", kind="stable")
            c = s["c"].tolist()
            ax.plot(c, s["average_loss"].tolist(), ls, color="C0", label=f"average ({model})")
            ax.plot(c, s["balanced_loss"].tolist(), ls, color="C3", label=f"balanced ({model})")
        ax.set(xscale="log", xlabel="c = lambda N", title=inst)
    axes[0].set_ylabel("loss at the minimum")
    axes[0].legend(fontsize=8)
    return fig


def draw_sensitivity(plt, tables):
    """d loss_k / d lambda against n_k for each c, one panel per model."""
    sens = tables["sensitivity.csv"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, model in zip(axes, (RELU, UNC)):
        for col, c in zip(_colors(plt), SHOW):
            rows = _rows(sens, model=model, c=c).sort_values("count", kind="stable")
            ax.plot(rows["count"].tolist(), rows["dloss_dlambda"].tolist(), "o-", ms=3, color=col, label=f"c = {c}")
        ax.set(xscale="log", yscale="symlog", xlabel="class count n_k", ylabel="d loss_k / d lambda", title=model)
    axes[0].legend(fontsize=8)
    return fig


def draw_implied_M(plt, tables):
    """The M implied by the proposition at the relu minimiser, against n_k (zipf1-V30)."""
    table = tables["proposition_as_stated__implied_M.csv"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for col, c in zip(_colors(plt), SHOW):
        counts, M = _curve(table, RELU, c, "implied_M")
        o = np.argsort(counts)
        ax.plot(counts[o], M[o], color=col, label=f"c = {c}")
    ax.set(xscale="log", xlabel="class count n_k", ylabel="implied M_k",
           title="The unique M that makes the proposition hold (relu minimiser)")
    ax.legend(title="lambda = c/N", fontsize=8)
    return fig


DRAW = {"relu_loss_vs_count.png": draw_relu, "unconstrained_loss_vs_count.png": draw_unconstrained,
        "average_vs_balanced.png": draw_average_vs_balanced, "sensitivity.png": draw_sensitivity,
        "implied_M.png": draw_implied_M}


def draw(name: str, tables: dict):
    """The matplotlib figure `name` (a key of FIGURES) from {table name: DataFrame}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return DRAW[name](plt, tables)


def save(fig, path: str | os.PathLike) -> Path:
    """Write a figure (PNG, dpi 120, tight), atomically; then close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_savefig(fig, path, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)


def redraw(folder: str | os.PathLike, out: str | os.PathLike, prefix: str = "", names=None) -> list[Path]:
    """Draw the figures `names` (default: all of FIGURES) from the tables in `folder` alone; write them as
    out/<prefix><name>. A missing or malformed table raises InputError."""
    names = list(FIGURES) if names is None else list(names)
    needed = list(dict.fromkeys(t for n in names for t in FIGURES[n]))
    tables = read_tables(folder, needed)
    figs = {n: draw(n, tables) for n in names}  # every figure drawn before the first is written
    out = Path(out)
    return [save(fig, out / f"{prefix}{n}") for n, fig in figs.items()]
