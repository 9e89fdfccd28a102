"""Simulation figures made from the simulation result files: trained vs theory per-class loss, AdamW vs
the L2 optimizers (average vs balanced loss), and the rare-word share per language."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .common import read_csv, save


def theory_vs_trained(results: Path, out: Path) -> list[Path]:
    pc = read_csv(results / "simulations" / "per_class.csv.gz",
                  ("model", "optimizer", "lambda", "seed", "count", "loss", "theory_loss"))
    pc = pc[pc["model"].str.startswith("ufm") & pc["theory_loss"].notna() & (pc["seed"] == pc["seed"].min())]
    models = list(dict.fromkeys(pc["model"]))
    opts = [o for o in ("adam", "lbfgs", "gd", "adamw") if o in set(pc["optimizer"])]
    fig, axes = plt.subplots(len(models), len(opts), figsize=(3.3 * len(opts), 3.0 * len(models)), squeeze=False)
    for row, model in zip(axes, models):
        for ax, opt in zip(row, opts):
            sub = pc[(pc["model"] == model) & (pc["optimizer"] == opt)]
            for i, (lam, s) in enumerate(sub.groupby("lambda")):
                s = s.sort_values("count")
                ax.scatter(s["count"], s["loss"], s=6, color=f"C{i}", alpha=0.6, label=f"λ={lam:g}")
                ax.plot(s["count"], s["theory_loss"], color=f"C{i}", lw=1)
            ax.set_xscale("log")
            ax.set_title(f"{model} / {opt}", fontsize=8)
            ax.set_xlabel("class count")
        row[0].set_ylabel("per-class loss (dots trained, lines theory)")
        row[0].legend(fontsize=6)
    fig.tight_layout()
    return save(fig, out, "sim_theory_vs_trained")


def adamw_vs_l2(results: Path, out: Path) -> list[Path]:
    s = read_csv(results / "simulations" / "summary.csv",
                 ("model", "optimizer", "lambda", "average_loss", "balanced_loss", "low_freq_loss", "high_freq_loss"))
    models = list(dict.fromkeys(s["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        for opt, mk in (("adam", "o"), ("adamw", "s")):
            sub = s[(s["model"] == model) & (s["optimizer"] == opt)].groupby("lambda").mean(numeric_only=True)
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
    t = read_csv(results / "languages" / "languages.csv",
                 ("language", "vocab_size", "share_below_p95_mass", "share_below_p99_count"))
    t = t.sort_values("share_below_p95_mass")
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x = range(len(t))
    ax.bar([i - 0.2 for i in x], t["share_below_p95_mass"], 0.4, label="outside the top 95% of the mass")
    ax.bar([i + 0.2 for i in x], t["share_below_p99_count"], 0.4, label="below the P99 count")
    ax.axhline(0.85, color="k", ls="--", lw=0.8, label="paper: ~0.85 (one tokenizer)")
    ax.set_xticks(list(x), t["language"], fontsize=7)
    ax.set_ylabel("share of the word list")
    ax.legend(fontsize=7)
    ax.set_title("Rare words per language (wordfreq)", fontsize=10)
    return save(fig, out, "sim_languages")


def make(results: Path, out: Path) -> list[Path]:
    return theory_vs_trained(results, out) + adamw_vs_l2(results, out) + languages(results, out)
