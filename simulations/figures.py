"""Figures of a simulation folder, made from its result files alone (rerun: `python -m simulations figures`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from plumbing.atomic import save_figure  # noqa: E402
from plumbing.results import read_result_csv  # noqa: E402
from plumbing.schemas import SIM_PER_CLASS, SIM_SUMMARY, Schema  # noqa: E402


def _read(folder: Path, schema: Schema) -> pd.DataFrame:
    """folder/<schema.name> with every column of the schema (the figures read a folder that `run` just wrote)."""
    return read_result_csv(folder / schema.name, schema.columns, hint="run `python -m simulations run` first")


def _lam_colors(lams):
    cmap = plt.get_cmap("viridis")
    return {lam: cmap(i / max(1, len(lams) - 1)) for i, lam in enumerate(lams)}


def per_class_panels(pc: pd.DataFrame, out: Path, optimizer: str, y: str, ylabel: str, title: str, name: str,
                     theory: bool = False) -> list[Path]:
    """One panel per model: column `y` of every class against its count n_k (log x), one colour per lambda,
    first seed only; with `theory`, the certified per-class loss of each lambda drawn as a line."""
    pc = pc[(pc["optimizer"] == optimizer) & (pc["seed"] == pc["seed"].min())]
    models = list(dict.fromkeys(pc["model"]))
    if not models:
        return []
    lams = sorted(pc["lambda"].unique())
    colors = _lam_colors(lams)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        sub = pc[pc["model"] == model]
        for lam in lams:
            s = sub[sub["lambda"] == lam].sort_values("count")
            ax.scatter(s["count"], s[y], s=8, color=colors[lam], alpha=0.6, label=f"λ={lam:g}")
            if theory and s["theory_loss"].notna().any():
                ax.plot(s["count"], s["theory_loss"], color=colors[lam], lw=1.2)
        ax.set_xscale("log")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("class count n_k")
        ax.set_ylabel(ylabel)
    if theory:
        axes[0][0].legend(fontsize=7, title=f"{optimizer}: dots trained,\nlines theory", title_fontsize=7)
    else:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{title} ({optimizer})", fontsize=11)
    fig.tight_layout()  # without it a panel's y label runs into its left neighbour
    return save_figure(fig, out, f"{name}_{optimizer}")


def per_class_vs_frequency(pc: pd.DataFrame, out: Path, optimizer: str) -> list[Path]:
    """Final per-class loss vs class count, trained (dots) and theory (lines)."""
    return per_class_panels(pc, out, optimizer, "loss", "final per-class loss", "Per-class loss vs frequency",
                            "per_class_vs_frequency", theory=True)


def learning_speed(pc: pd.DataFrame, out: Path, optimizer: str) -> list[Path]:
    """Learning speed of each class against its count."""
    return per_class_panels(pc, out, optimizer, "learning_speed", "learning speed", "Learning speed vs frequency",
                            "learning_speed")


def average_vs_balanced(sm: pd.DataFrame, out: Path) -> list[Path]:
    """Average (count-weighted) and class-balanced final loss against lambda, per model; L2 optimizers in
    the top row, AdamW (decoupled decay, its own lambda scale) in the bottom row."""
    g = sm.groupby(["model", "optimizer", "lambda"], sort=False)[["average_loss", "balanced_loss"]].mean()
    g = g.reset_index()
    models = list(dict.fromkeys(g["model"]))
    rows = [[o for o in dict.fromkeys(g["optimizer"]) if o != "adamw"], ["adamw"]]
    rows = [r for r in rows if any(o in set(g["optimizer"]) for o in r)]
    fig, axes = plt.subplots(len(rows), len(models), figsize=(4.2 * len(models), 3.4 * len(rows)), squeeze=False)
    for row, opts in zip(axes, rows):
        for ax, model in zip(row, models):
            for i, opt in enumerate(opts):
                s = g[(g["model"] == model) & (g["optimizer"] == opt)]
                c = f"C{i}"
                ax.plot(s["lambda"], s["average_loss"], "o-", color=c, ms=3, label=f"{opt} average")
                ax.plot(s["lambda"], s["balanced_loss"], "s--", color=c, ms=3, label=f"{opt} balanced")
            lam = g[g["optimizer"].isin(opts)]["lambda"]
            positive = lam[lam > 0]
            ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
            ax.set_title(model, fontsize=10)
            ax.set_xlabel("decoupled weight decay λ" if opts == ["adamw"] else "L2 weight λ")
            ax.set_ylabel("final training loss")
        row[0].legend(fontsize=7)
    fig.suptitle("Average loss hides what the class-balanced loss shows", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out, "average_vs_balanced")


def theory_gap(sm: pd.DataFrame, out: Path) -> list[Path]:
    """max_k |trained - theory| against lambda: GD/Adam/L-BFGS (same objective) vs AdamW (decoupled)."""
    sm = sm[sm["max_abs_diff_to_theory"].notna()]
    models = list(dict.fromkeys(sm["model"]))
    if not models:
        return []
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        for i, opt in enumerate(dict.fromkeys(sm["optimizer"])):
            s = sm[(sm["model"] == model) & (sm["optimizer"] == opt)].groupby("lambda")["max_abs_diff_to_theory"]
            ax.plot(s.mean().index, s.mean().to_numpy(), "o-", ms=3, color=f"C{i}", label=opt)
        ax.axhline(1e-3, color="k", lw=0.6, ls=":", label="1e-3")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("weight decay λ")
        ax.set_ylabel("max_k |trained − theory|")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Distance of the trained endpoint from the global minimum", fontsize=11)
    return save_figure(fig, out, "theory_gap")


def all_figures(out: str | Path) -> list[Path]:
    """Every figure of a run folder, from its summary.csv and per_class.csv.gz (each read once)."""
    out = Path(out)
    sm = _read(out, SIM_SUMMARY)
    pc = _read(out, SIM_PER_CLASS)
    opts = list(dict.fromkeys(sm["optimizer"]))
    paths = average_vs_balanced(sm, out) + theory_gap(sm, out)
    reference = "lbfgs" if "lbfgs" in opts else opts[0]
    paths += per_class_vs_frequency(pc, out, reference)
    if "adamw" in opts:
        paths += per_class_vs_frequency(pc, out, "adamw") + learning_speed(pc, out, "adamw")
    else:
        paths += learning_speed(pc, out, reference)
    return paths
