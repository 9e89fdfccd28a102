"""The simulation grid's own figures, drawn from results/simulations alone (summary.csv, per_class.csv.gz) into
the report folder as sim_<name>.png: low/high loss and balanced / average against strength, the distance from
the certified optimum, per-class loss against class count (L2 and AdamW) and the learning speed per class.
(`python -m simulations run` writes tables only; this module is the report's `simulation_grid` entry.)"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from plumbing.atomic import save_figure  # noqa: E402
from plumbing.results import read_result_csv  # noqa: E402
from plumbing.schemas import SIM_PER_CLASS, SIM_SUMMARY, Schema  # noqa: E402

from .common import as_bool  # noqa: E402


PREFIX = "sim_"  # beside the other figures of the report folder
CAPTION = ("Simulation grid — low- and high-frequency loss (mass split) and balanced / average loss against the "
           "decay strength per model and optimizer, distance of the trained endpoint from the certified optimum, "
           "per-class loss against class count (L2 and AdamW) and learning speed per class.")
DIFFERS = "the paper runs no such simulation; these train its proposition's model on synthetic Zipf counts"


def _read(folder: Path, schema: Schema) -> pd.DataFrame:
    """folder/<schema.name> with every column of the schema."""
    return read_result_csv(folder / schema.name, schema.columns, hint="run `python -m simulations run` first")


def inputs(results: Path) -> list[Path]:
    return [Path(results) / "simulations" / schema.name for schema in (SIM_SUMMARY, SIM_PER_CLASS)]


L2_OPTIMIZERS = ("lbfgs", "adam", "gd")  # minimise the L2 objective of `theory`; preference order on ties
STRENGTH_LABEL = "L2 strength λ (AdamW: matched L2 λ)"


def _lam_colors(lams):
    cmap = plt.get_cmap("viridis")
    return {lam: cmap(i / max(1, len(lams) - 1)) for i, lam in enumerate(lams)}


def converged_choice(sm: pd.DataFrame) -> dict[str, tuple[str, int, int]]:
    """Per model: the L2 optimizer with the most converged runs at lambda > 0 (ties: lbfgs, adam, gd), with
    (optimizer, converged runs, runs). The per-class figures are drawn from it."""
    sm = sm.assign(converged=as_bool(sm, "converged", Path(SIM_SUMMARY.name)))
    sm = sm[sm["optimizer"].isin(L2_OPTIMIZERS) & (sm["lambda"] > 0)]
    out = {}
    for model in dict.fromkeys(sm["model"]):
        sub = sm[sm["model"] == model]
        tally = [(int(sub[sub["optimizer"] == o]["converged"].sum()), -L2_OPTIMIZERS.index(o), o)
                 for o in L2_OPTIMIZERS if (sub["optimizer"] == o).any()]
        k, _, opt = max(tally)
        out[model] = (opt, k, int((sub["optimizer"] == opt).sum()))
    return out


def _convergence_note(k: int, total: int) -> str:
    if k == total:
        return f"converged: {k}/{total} runs"
    return f"NOT converged: {k}/{total} runs converged"


def per_class_panels(pc: pd.DataFrame, out: Path, choice: dict, y: str, ylabel: str, title: str, name: str,
                     theory: str | None = None, notes: dict | None = None) -> list[Path]:
    """One panel per model: column `y` of every class against its count n_k (log x), one colour per lambda,
    first seed only, from the optimizer choice[model]; with `theory` (a per-class column), that column drawn
    as a line per lambda; notes[model] is added to the panel title."""
    models = [m for m in dict.fromkeys(pc["model"]) if m in choice]
    if not models:
        return []
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        sub = pc[(pc["model"] == model) & (pc["optimizer"] == choice[model])]
        sub = sub[sub["seed"] == sub["seed"].min()]
        lams = sorted(sub["lambda"].unique())
        colors = _lam_colors(lams)
        for lam in lams:
            s = sub[sub["lambda"] == lam].sort_values("count")
            ax.scatter(s["count"], s[y], s=8, color=colors[lam], alpha=0.6, label=f"λ={lam:g}")
            if theory and s[theory].notna().any():
                ax.plot(s["count"], s[theory], color=colors[lam], lw=1.2)
        ax.set_xscale("log")
        note = f"\n{notes[model]}" if notes and model in notes else ""
        ax.set_title(f"{model} / {choice[model]}{note}", fontsize=9)
        ax.set_xlabel("class count n_k")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6, title="dots trained, lines theory" if theory else None, title_fontsize=6)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()  # without it a panel's y label runs into its left neighbour
    return save_figure(fig, out, PREFIX + name)


def per_class_vs_frequency(pc: pd.DataFrame, sm: pd.DataFrame, out: Path) -> list[Path]:
    """Final per-class loss vs class count of the L2 runs of each model's most converged L2 optimizer (dots)
    and the certified optimum (lines); the panel title says whether those runs converged."""
    choice = converged_choice(sm)
    notes = {m: _convergence_note(k, n) + " (λ > 0)" for m, (_, k, n) in choice.items()}
    return per_class_panels(pc, out, {m: c[0] for m, c in choice.items()}, "loss", "final per-class loss",
                            "Per-class loss vs frequency: L2 runs against the certified optimum",
                            "per_class_vs_frequency_l2", theory="theory_loss", notes=notes)


def per_class_adamw(pc: pd.DataFrame, sm: pd.DataFrame, out: Path) -> list[Path]:
    """AdamW's final per-class loss (dots) against the certified L2 optimum at its matched strength (lines)."""
    runs = sm[sm["optimizer"] == "adamw"]
    notes = {m: "lines: L2 optimum at the matched λ" if g["matched_l2_lambda"].notna().any() else
             "no matched strength (no certified optimum)" for m, g in runs.groupby("model", sort=False)}
    return per_class_panels(pc, out, {m: "adamw" for m in notes}, "loss", "final per-class loss",
                            "AdamW per-class loss vs frequency", "per_class_vs_frequency_adamw",
                            theory="matched_l2_theory_loss", notes=notes)


def learning_speed(pc: pd.DataFrame, out: Path, optimizer: str) -> list[Path]:
    """Learning speed of each class against its count."""
    choice = {m: optimizer for m in dict.fromkeys(pc[pc["optimizer"] == optimizer]["model"])}
    return per_class_panels(pc, out, choice, "learning_speed", "learning speed",
                            f"Learning speed vs frequency ({optimizer})", f"learning_speed_{optimizer}")


def _strength_table(sm: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean over seeds per (model, optimizer, lambda) of `columns` and of l2_strength (the common strength
    axis); runs without a strength (lambda = 0, AdamW without a matched strength) are left out."""
    g = sm.groupby(["model", "optimizer", "lambda"], sort=False)[columns + ["l2_strength"]].mean().reset_index()
    return g[g["l2_strength"] > 0]


def _no_match_note(sm: pd.DataFrame, model: str) -> str:
    adamw = sm[(sm["model"] == model) & (sm["optimizer"] == "adamw") & (sm["lambda"] > 0)]
    return "\n(AdamW: no matched strength)" if len(adamw) and adamw["l2_strength"].isna().all() else ""


def average_vs_balanced(sm: pd.DataFrame, out: Path) -> list[Path]:
    """Average (count-weighted) and class-balanced final loss per model against one strength axis: the L2
    lambda of gd / adam / lbfgs and the matched L2 lambda of AdamW (lambda = 0 left out)."""
    g = _strength_table(sm, ["average_loss", "balanced_loss"])
    models = list(dict.fromkeys(sm["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        for i, opt in enumerate(dict.fromkeys(sm["optimizer"])):
            s = g[(g["model"] == model) & (g["optimizer"] == opt)].sort_values("l2_strength")
            if s.empty:
                continue
            ax.plot(s["l2_strength"], s["average_loss"], "o-", color=f"C{i}", ms=3, label=f"{opt} average")
            ax.plot(s["l2_strength"], s["balanced_loss"], "s--", color=f"C{i}", ms=3, label=f"{opt} balanced")
        _strength_axes(ax, model + _no_match_note(sm, model))
    fig.suptitle("Average loss hides what the class-balanced loss shows", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out, PREFIX + "average_vs_balanced")


def _strength_axes(ax, title: str, ylabel: str = "final training loss", fontsize: int = 9) -> None:
    """Log-log axes of a quantity against the common strength axis, with a small legend."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=fontsize)
    ax.set_xlabel(STRENGTH_LABEL)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6)


def low_high(sm: pd.DataFrame, out: Path) -> list[Path]:
    """The headline figure: low- and high-frequency loss per model against the common strength axis, top
    row by the cumulative-mass split (both groups populated at every V), bottom row by P99; the legend gives
    the number of classes in each group."""
    splits = (("mass", "_mass", "mass split"), ("freq", "", "P99 split"))
    cols = [f"{side}_{key}_loss" for key, _, _ in splits for side in ("low", "high")]
    g = _strength_table(sm, cols)
    models = list(dict.fromkeys(sm["model"]))
    fig, axes = plt.subplots(2, len(models), figsize=(4.2 * len(models), 6.8), squeeze=False)
    for row, (key, sfx, label) in zip(axes, splits):
        for ax, model in zip(row, models):
            first = sm[sm["model"] == model].iloc[0]
            n_low, n_high = int(first[f"n_low{sfx}"]), int(first[f"n_high{sfx}"])
            for i, opt in enumerate(dict.fromkeys(sm["optimizer"])):
                s = g[(g["model"] == model) & (g["optimizer"] == opt)].sort_values("l2_strength")
                if s.empty:
                    continue
                ax.plot(s["l2_strength"], s[f"low_{key}_loss"], "o-", color=f"C{i}", ms=3,
                        label=f"{opt} low (n={n_low})")
                ax.plot(s["l2_strength"], s[f"high_{key}_loss"], "s--", color=f"C{i}", ms=3,
                        label=f"{opt} high (n={n_high})")
            _strength_axes(ax, f"{model}: {label}" + _no_match_note(sm, model))
    fig.suptitle("Low- vs high-frequency loss against weight-decay strength", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out, PREFIX + "low_high_vs_strength")


def theory_gap(sm: pd.DataFrame, out: Path) -> list[Path]:
    """Distance of the trained endpoint from a certified optimum against the common strength axis:
    gd / adam / lbfgs from the optimum at their own lambda (max_abs_diff_to_theory), AdamW from the nearest
    one (matched_l2_max_abs_diff), with the convergence tolerance 1e-3."""
    sm = sm.assign(distance=sm["max_abs_diff_to_theory"].fillna(sm["matched_l2_max_abs_diff"]))
    sm = sm[sm["distance"].notna() & (sm["l2_strength"] > 0)]
    models = list(dict.fromkeys(sm["model"]))
    if not models:
        return []
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        for i, opt in enumerate(dict.fromkeys(sm["optimizer"])):
            s = sm[(sm["model"] == model) & (sm["optimizer"] == opt)]
            if s.empty:
                continue
            s = s.groupby("lambda")[["l2_strength", "distance"]].mean().sort_values("l2_strength")
            label = f"{opt} (to the nearest L2 optimum)" if opt == "adamw" else opt
            ax.plot(s["l2_strength"], s["distance"], "o-", ms=3, color=f"C{i}", label=label)
        ax.axhline(1e-3, color="k", lw=0.6, ls=":", label="convergence tol 1e-3 (L2 runs)")
        _strength_axes(ax, model, "max_k |trained − certified optimum|", fontsize=10)
    fig.suptitle("Distance of the trained endpoint from the global minimum", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out, PREFIX + "theory_gap")


def make(results: Path, out: Path) -> list[Path]:
    """Every figure of results/simulations, from its summary.csv and per_class.csv.gz (each read once)."""
    folder, out = Path(results) / "simulations", Path(out)
    sm = _read(folder, SIM_SUMMARY)
    pc = _read(folder, SIM_PER_CLASS)
    opts = list(dict.fromkeys(sm["optimizer"]))
    paths = low_high(sm, out) + average_vs_balanced(sm, out) + theory_gap(sm, out)
    paths += per_class_vs_frequency(pc, sm, out)
    if "adamw" in opts:
        paths += per_class_adamw(pc, sm, out) + learning_speed(pc, out, "adamw")
    else:
        paths += learning_speed(pc, out, opts[0])
    return paths
