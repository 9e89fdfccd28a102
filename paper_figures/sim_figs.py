"""Simulation figures, made here from the simulation result files (not copied):

- sim_theory_vs_trained: per-class loss of the trained UFMs (dots) against the certified optimum (lines), per
  model and optimizer, first seed; L2 runs against the optimum at their lambda, AdamW against the optimum at
  its matched L2 lambda; each panel title says how many of its runs converged (summary.csv's converged,
  lambda > 0).
  Data: simulations/per_class.csv.gz (model, optimizer, lambda, seed, count, loss, theory_loss,
  matched_l2_theory_loss) and simulations/summary.csv (model, optimizer, lambda, converged).
- sim_adamw_vs_l2: at matched strength, per model: balanced / average loss (top) and low / high loss by the
  cumulative-mass split (bottom, with the class count of each group) against one strength axis, the L2 lambda:
  Adam + L2 at its own lambda, AdamW and the certified L2 optimum at AdamW's matched_l2_lambda; lambda = 0 left
  out (the ratios divide losses of ~1e-5 there); a model without a certified optimum (the MLP) has no matched
  strength, so only its L2 runs are drawn. Data: simulations/summary.csv and simulations/adamw_vs_l2.csv.
- sim_languages: share of each language's word list that is rare (outside the top 95% of the mass, below the
  P99 count). Data: languages/languages.csv (language, vocab_size, share_below_p95_mass, share_below_p99_count).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from plumbing.schemas import LANGUAGES, SIM_ADAMW_VS_L2, SIM_PER_CLASS, SIM_SUMMARY

from .common import as_bool, read_csv, save

CAPTION = ("Simulations — trained UFMs and an MLP vs the certified optimum per optimizer (titles say which runs "
           "converged); how much the average loss hides (balanced / average) and low vs high loss (mass split) "
           "under an L2 penalty (Adam) vs decoupled weight decay (AdamW), compared at matched strength.")
DIFFERS = ("the paper runs no such simulation: these train the proposition's own model (and a small MLP) on "
           "synthetic Zipf counts, where the exact minimiser is known")
PAPER_SHARE = 0.85  # the paper's low-frequency share of one tokenizer's vocabulary
LANG_CAPTION = "Languages — share of each language's word list that is rare (wordfreq word frequencies)."
LANG_DIFFERS = ("the paper's ~85% low-frequency share is for one BPE vocabulary on one corpus; these are word "
                "lists per language, not tokenizer vocabularies")
PER_CLASS = SIM_PER_CLASS.pick("model", "optimizer", "lambda", "seed", "count", "loss", "theory_loss",
                               "matched_l2_theory_loss")
CONVERGED = SIM_SUMMARY.pick("model", "optimizer", "lambda", "converged")
SUMMARY = SIM_SUMMARY.pick("model", "optimizer", "lambda", "balanced_over_average", "low_mass_loss",
                           "high_mass_loss", "n_low_mass", "n_high_mass")
MATCHED = SIM_ADAMW_VS_L2.pick("model", "adamw_lambda", "matched_l2_lambda", "adamw_balanced_over_average",
                               "l2_balanced_over_average", "adamw_low_mass_loss", "adamw_high_mass_loss",
                               "l2_low_mass_loss", "l2_high_mass_loss")
LANGS = LANGUAGES.pick("language", "vocab_size", "share_below_p95_mass", "share_below_p99_count")


def _sim(results: Path, schema) -> Path:
    return Path(results) / "simulations" / schema.name


def inputs(results: Path) -> list[Path]:
    return [_sim(results, SIM_PER_CLASS), _sim(results, SIM_SUMMARY), _sim(results, SIM_ADAMW_VS_L2)]


def lang_inputs(results: Path) -> list[Path]:
    return [Path(results) / "languages" / LANGUAGES.name]


def _convergence(results: Path) -> dict:
    """(model, optimizer) -> (converged runs, runs) over the runs with lambda > 0."""
    path = _sim(results, SIM_SUMMARY)
    s = read_csv(path, CONVERGED, ("lambda",))
    s = s[s["lambda"] > 0].assign(converged=lambda t: as_bool(t, "converged", path))
    return {key: (int(g["converged"].sum()), len(g)) for key, g in s.groupby(["model", "optimizer"], sort=False)}


def theory_vs_trained(results: Path, out: Path) -> list[Path]:
    pc = read_csv(_sim(results, SIM_PER_CLASS), PER_CLASS,
                  SIM_PER_CLASS.pick("lambda", "seed", "count", "loss", "theory_loss", "matched_l2_theory_loss"))
    pc = pc.assign(line=pc["theory_loss"].fillna(pc["matched_l2_theory_loss"]))
    ufm = pc["model"].astype(str).str.startswith("ufm")
    pc = pc[ufm & pc["line"].notna() & (pc["seed"] == pc["seed"].min())]
    conv = _convergence(results)
    models = list(dict.fromkeys(pc["model"]))
    opts = [o for o in ("lbfgs", "adam", "gd", "adamw") if o in set(pc["optimizer"])]
    opts += sorted(set(pc["optimizer"]) - set(opts))
    fig, axes = plt.subplots(max(len(models), 1), max(len(opts), 1), figsize=(3.4 * max(len(opts), 1),
                             3.1 * max(len(models), 1)), squeeze=False)
    for row, model in zip(axes, models):
        for j, (ax, opt) in enumerate(zip(row, opts)):
            sub = pc[(pc["model"] == model) & (pc["optimizer"] == opt)]
            for i, (lam, s) in enumerate(sub.groupby("lambda")):
                s = s.sort_values("count")
                ax.scatter(s["count"], s["loss"], s=6, color=f"C{i}", alpha=0.6, label=f"λ={lam:g}")
                ax.plot(s["count"], s["line"], color=f"C{i}", lw=1)
            ax.set_xscale("log")
            k, n = conv.get((model, opt), (0, 0))
            note = f"converged {k}/{n}" if k == n else f"NOT converged ({k}/{n} runs)"
            if opt == "adamw":
                note += "; lines: L2 optimum at matched λ"
            ax.set_title(f"{model} / {opt}\n{note}", fontsize=8)
            ax.set_xlabel("class count")
            if j == 0 or opt == "adamw":
                ax.legend(fontsize=6)
        row[0].set_ylabel("per-class loss (dots trained, lines optimum)", fontsize=8)
    if not models:
        axes[0][0].text(0.5, 0.5, "no UFM rows with a theory loss", ha="center", transform=axes[0][0].transAxes)
    fig.tight_layout()
    return save(fig, out, "sim_theory_vs_trained")


def adamw_vs_l2(results: Path, out: Path) -> list[Path]:
    s = read_csv(_sim(results, SIM_SUMMARY), SUMMARY, SUMMARY[2:])
    m = read_csv(_sim(results, SIM_ADAMW_VS_L2), MATCHED, MATCHED[1:])
    sizes = {model: (int(g["n_low_mass"].iloc[0]), int(g["n_high_mass"].iloc[0]))
             for model, g in s.groupby("model", sort=False)}
    s = s[(s["optimizer"] == "adam") & (s["lambda"] > 0)]
    s = s.assign(low_over_high=s["low_mass_loss"] / s["high_mass_loss"])
    m = m[m["matched_l2_lambda"].notna() & (m["adamw_lambda"] > 0)]
    m = m.assign(adamw_low_over_high=m["adamw_low_mass_loss"] / m["adamw_high_mass_loss"],
                 l2_low_over_high=m["l2_low_mass_loss"] / m["l2_high_mass_loss"])
    models = list(dict.fromkeys(list(s["model"]) + list(m["model"])))
    fig, axes = plt.subplots(2, max(len(models), 1), figsize=(3.8 * max(len(models), 1), 6.0), squeeze=False)
    for j, model in enumerate(models):
        l2 = s[s["model"] == model].groupby("lambda")[["balanced_over_average", "low_over_high"]].mean()
        aw = m[m["model"] == model].groupby("adamw_lambda").mean(numeric_only=True).sort_values("matched_l2_lambda")
        for ax, (col, aw_col, l2_col) in zip(axes[:, j], (
                ("balanced_over_average", "adamw_balanced_over_average", "l2_balanced_over_average"),
                ("low_over_high", "adamw_low_over_high", "l2_low_over_high"))):
            ax.plot(l2.index, l2[col], "o-", ms=3, color="C0", label="Adam + L2 (trained)")
            if len(aw):
                ax.plot(aw["matched_l2_lambda"], aw[aw_col], "s-", ms=4, color="C1", label="AdamW at matched λ")
                ax.plot(aw["matched_l2_lambda"], aw[l2_col], "x:", ms=5, color="k", label="L2 optimum at that λ")
                for lam, row in aw.iterrows():
                    ax.annotate(f"{lam:g}", (row["matched_l2_lambda"], row[aw_col]), fontsize=5, color="C1",
                                xytext=(2, 2), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xlabel("L2 strength λ (AdamW: matched L2 λ; its own λ annotated)", fontsize=7)
            ax.legend(fontsize=6)
        note = "" if len(aw) else "\n(AdamW: no matched strength)"
        axes[0, j].set_title(model + note, fontsize=9)
        axes[0, j].set_ylabel("balanced / average loss")
        low_high = f" (low n={sizes[model][0]}, high n={sizes[model][1]})" if model in sizes else ""
        axes[1, j].set_ylabel(f"low / high loss, mass split{low_high}", fontsize=7)
    fig.suptitle("L2 (Adam) vs decoupled decay (AdamW) at matched strength, λ > 0", fontsize=10)
    fig.tight_layout()
    return save(fig, out, "sim_adamw_vs_l2")


def languages(results: Path, out: Path) -> list[Path]:
    t = read_csv(Path(results) / "languages" / LANGUAGES.name, LANGS, LANGS[1:])
    t = t.sort_values("share_below_p95_mass")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(t) + 2), 3.6))
    x = range(len(t))
    ax.bar([i - 0.2 for i in x], t["share_below_p95_mass"], 0.4, label="outside the top 95% of the mass")
    ax.bar([i + 0.2 for i in x], t["share_below_p99_count"], 0.4, label="below the P99 count")
    ax.axhline(PAPER_SHARE, color="k", ls="--", lw=0.8, label=f"paper: ~{PAPER_SHARE:g} (one tokenizer)")
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
