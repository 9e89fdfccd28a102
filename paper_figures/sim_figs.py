"""Simulation figures, made here from the simulation result files (not copied):

- sim_theory_vs_trained: per-class loss of the trained UFMs (dots) against the theory minimiser (lines), per
  model and optimizer, first seed. Data: simulations/per_class.csv.gz (model, optimizer, lambda, seed, count,
  loss, theory_loss) and, for the AdamW titles, simulations/summary.csv's same_objective_as_theory.
- sim_adamw_vs_l2: balanced / average loss per model, L2 penalty (Adam) vs decoupled decay (AdamW), mean over
  seeds. Data: simulations/summary.csv (model, optimizer, lambda, average_loss, balanced_loss).
- sim_languages: share of each language's word list that is rare (outside the top 95% of the mass, below the
  P99 count). Data: languages/languages.csv (language, vocab_size, share_below_p95_mass, share_below_p99_count).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from plumbing.schemas import LANGUAGES, SIM_PER_CLASS, SIM_SUMMARY

from .common import as_bool, read_csv, save

CAPTION = ("Simulations — trained UFMs and an MLP vs the theory minimiser per optimizer; how much the average loss "
           "hides (balanced / average) under an L2 penalty (Adam) vs decoupled weight decay (AdamW).")
DIFFERS = ("the paper runs no such simulation: these train the proposition's own model (and a small MLP) on "
           "synthetic Zipf counts, where the exact minimiser is known")
LANG_CAPTION = "Languages — share of each language's word list that is rare (wordfreq word frequencies)."
LANG_DIFFERS = ("the paper's ~85% low-frequency share is for one BPE vocabulary on one corpus; these are word "
                "lists per language, not tokenizer vocabularies")
PER_CLASS = SIM_PER_CLASS.pick("model", "optimizer", "lambda", "seed", "count", "loss", "theory_loss")
SUMMARY = SIM_SUMMARY.pick("model", "optimizer", "lambda", "average_loss", "balanced_loss")
LANGS = LANGUAGES.pick("language", "vocab_size", "share_below_p95_mass", "share_below_p99_count")


def inputs(results: Path) -> list[Path]:
    return [Path(results) / "simulations" / SIM_PER_CLASS.name, Path(results) / "simulations" / SIM_SUMMARY.name]


def lang_inputs(results: Path) -> list[Path]:
    return [Path(results) / "languages" / LANGUAGES.name]


def theory_vs_trained(results: Path, out: Path) -> list[Path]:
    pc = read_csv(Path(results) / "simulations" / SIM_PER_CLASS.name, PER_CLASS,
                  SIM_PER_CLASS.pick("lambda", "seed", "count", "loss", "theory_loss"))
    ufm = pc["model"].astype(str).str.startswith("ufm")
    pc = pc[ufm & pc["theory_loss"].notna() & (pc["seed"] == pc["seed"].min())]
    summary = Path(results) / "simulations" / SIM_SUMMARY.name
    other_objective = set()
    if summary.is_file():
        s = read_csv(summary, SIM_SUMMARY.pick("model", "optimizer"))
        same, = SIM_SUMMARY.pick("same_objective_as_theory")  # optional: older folders lack it
        if same in s:
            s = s[~as_bool(s, same, summary)]
            other_objective = set(zip(s["model"], s["optimizer"]))
    models = list(dict.fromkeys(pc["model"]))
    opts = [o for o in ("adam", "lbfgs", "gd", "adamw") if o in set(pc["optimizer"])]
    opts += sorted(set(pc["optimizer"]) - set(opts))
    fig, axes = plt.subplots(max(len(models), 1), max(len(opts), 1), figsize=(3.3 * max(len(opts), 1),
                             3.0 * max(len(models), 1)), squeeze=False)
    for row, model in zip(axes, models):
        for j, (ax, opt) in enumerate(zip(row, opts)):
            sub = pc[(pc["model"] == model) & (pc["optimizer"] == opt)]
            for i, (lam, s) in enumerate(sub.groupby("lambda")):
                s = s.sort_values("count")
                ax.scatter(s["count"], s["loss"], s=6, color=f"C{i}", alpha=0.6, label=f"λ={lam:g}")
                ax.plot(s["count"], s["theory_loss"], color=f"C{i}", lw=1)
            ax.set_xscale("log")
            note = "\n(theory at the matched L2 λ: not the same objective)" if (model, opt) in other_objective else ""
            ax.set_title(f"{model} / {opt}{note}", fontsize=8)
            ax.set_xlabel("class count")
            if j == 0 or (model, opt) in other_objective:
                ax.legend(fontsize=6)
        row[0].set_ylabel("per-class loss (dots trained, lines theory)", fontsize=8)
    if not models:
        axes[0][0].text(0.5, 0.5, "no UFM rows with a theory loss", ha="center", transform=axes[0][0].transAxes)
    fig.tight_layout()
    return save(fig, out, "sim_theory_vs_trained")


def adamw_vs_l2(results: Path, out: Path) -> list[Path]:
    s = read_csv(Path(results) / "simulations" / SIM_SUMMARY.name, SUMMARY, SUMMARY[2:])
    models = list(dict.fromkeys(s["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        for opt, mk in (("adam", "o"), ("adamw", "s")):
            sub = s[(s["model"] == model) & (s["optimizer"] == opt)].groupby("lambda")[
                ["average_loss", "balanced_loss"]].mean()
            if sub.empty:
                continue
            ratio = (sub["balanced_loss"] + 1e-12) / (sub["average_loss"] + 1e-12)
            ax.plot(range(len(sub)), ratio, mk + "-", label=f"{opt} (λ {', '.join(f'{v:g}' for v in sub.index)})")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("index in the λ grid")
        ax.set_ylabel("balanced / average loss")
        ax.legend(fontsize=6)
    fig.suptitle("How much the average loss hides: L2 (Adam) vs decoupled decay (AdamW)", fontsize=10)
    fig.tight_layout()
    return save(fig, out, "sim_adamw_vs_l2")


def languages(results: Path, out: Path) -> list[Path]:
    t = read_csv(Path(results) / "languages" / LANGUAGES.name, LANGS, LANGS[1:])
    t = t.sort_values("share_below_p95_mass")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(t) + 2), 3.6))
    x = range(len(t))
    ax.bar([i - 0.2 for i in x], t["share_below_p95_mass"], 0.4, label="outside the top 95% of the mass")
    ax.bar([i + 0.2 for i in x], t["share_below_p99_count"], 0.4, label="below the P99 count")
    ax.axhline(0.85, color="k", ls="--", lw=0.8, label="paper: ~0.85 (one tokenizer)")
    ax.set_xticks(list(x), t["language"].astype(str), fontsize=7)
    ax.set_ylabel("share of the word list")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Rare words per language (wordfreq)", fontsize=10)
    return save(fig, out, "sim_languages")


def make_simulations(results: Path, out: Path) -> list[Path]:
    """The two figures from simulations/ (the report's `simulations` entry)."""
    return theory_vs_trained(results, out) + adamw_vs_l2(results, out)


def make(results: Path, out: Path) -> list[Path]:
    """All three figures (the `simulations` command): simulations/ and languages/ must both exist."""
    return make_simulations(results, out) + languages(results, out)
