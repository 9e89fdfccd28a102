"""Rendering findings: findings.md (the table with its rules and the table of changes) and the README's
"What the toolkit found" list, both from the findings.json data only, so the README quotes only numbers that
file holds (tests/test_findings.py checks the committed copy, docs/findings.json)."""

from __future__ import annotations

import math

from .lm import LOSSES
from .stats import CONVERGED_RULE, EXACT_RULE, MITIGATION_RULE, SEED_RULE, THEORY_RULE, VERDICTS


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if abs(x) >= 10 ** -digits or x == 0 else f"{x:+.2e}"


def effect_text(f: dict, short: bool = False) -> str:
    """'+0.110 [+0.020, +0.200] (95% t-interval over seeds, n = 3)' or the single value with its note;
    short (the scoreboard's cells): '+0.110 [+0.020, +0.200], n 3', a theory check 'check holds'."""
    if "effect" not in f:
        return f"check {f['theory_verdict']}" if short else f"theory check: {f['theory_verdict']}"
    rng = "" if f["low"] is None else f" [{_num(f['low'])}, {_num(f['high'])}]"
    return f"{_num(f['effect'])}{rng}, n {f['n']}" if short else f"{_num(f['effect'])}{rng} ({f['interval']}, n = {f['n']})"


def markdown(data: dict) -> str:
    lines = ["# Findings", "", "Every number below is computed from the result files named in its row by "
             "`python -m paper_figures findings`.", "", "| id | claim tested | measure | effect | verdict |",
             "|---|---|---|---|---|"]
    cell = lambda s: " ".join(str(s).split()).replace("|", "\\|")  # noqa: E731
    for f in data["findings"]:
        verdict = f["verdict"]
        lines.append(f"| {cell(f['id'])} | {cell(f['claim'])} | {cell(f.get('measure', ''))} | "
                     f"{cell(effect_text(f))} | **{cell(verdict)}** |")
    lines += ["", "## Rules", "", f"- seeds: {SEED_RULE}.", f"- exact: {EXACT_RULE}.", f"- theory: {THEORY_RULE}.",
              f"- converged, one seed: {CONVERGED_RULE}.", f"- mitigation (LM decay modes and simulation schemes): "
              f"{MITIGATION_RULE}.", ""]
    if data.get("changes"):
        lines += ["## Changes under weight decay", "", "Mean change over seeds with its 95% t-interval (paired by "
                  "seed; one seed: no interval), from `changes.csv`.", ""]
        lines += changes_markdown(data["changes"]) + changes_markdown(data["changes"], against="uniform") + [""]
    if data["not_computed"]:
        lines += ["## Not computed", ""] + [f"- {k}: {v}" for k, v in data["not_computed"].items()] + [""]
    return "\n".join(lines)


def _interval_text(r: dict) -> str:
    rng = "" if r["low"] is None else f" [{_num(r['low'])}, {_num(r['high'])}]"
    return f"{_num(r['change'])}{rng}"


def changes_markdown(rows: list[dict], against: str = "lambda 0") -> list[str]:
    """One markdown table per source: rows (split, decay mode, lambda), columns the LOSSES, changes
    measured against `against` ("lambda 0", or "<first mode> at the same lambda" via every other value)."""
    lines = []
    for source in dict.fromkeys(r["source"] for r in rows):
        sel = [r for r in rows if r["source"] == source]
        for kind in dict.fromkeys(r["against"] for r in sel):
            if (kind == "lambda 0") != (against == "lambda 0"):
                continue
            part = [r for r in sel if r["against"] == kind]
            lines += [f"**{source}** ({part[0]['folder']}), change against {kind}, n = seeds:", "",
                      "| split | decay mode | lambda | " + " | ".join(LOSSES) + " | n |",
                      "|---|---|---|" + "---|" * len(LOSSES) + "---|"]
            keys = list(dict.fromkeys((r["split"], r["decay_mode"], r["lambda"]) for r in part))
            for split, mode, lam in keys:
                cells = {r["metric"]: r for r in part if (r["split"], r["decay_mode"], r["lambda"]) == (split, mode, lam)}
                lines.append(f"| {split} | {mode} | {lam:g} | "
                             + " | ".join(_interval_text(cells[m]) for m in LOSSES)
                             + f" | {cells[LOSSES[0]]['n_seeds']} |")
            lines.append("")
    return lines


README_IDS = ("theory_balanced_moves_more", "lm_train_low_freq_loss_rises", "lm_train_balanced_loss_rises",
              "lm_train_low_rises_more_than_average", "lm_heldout_low_freq_loss_rises", "lm_rare_tokens_learn_slower",
              "lm_mitigation_no-embed-out", "lm_mitigation_capped-embed-out", "lm_mitigation_lazy-embed-out",
              "languages_rare_words_are_most_of_the_vocabulary", "bpe_rare_tokens_are_most_of_the_vocabulary")


def readme_block(data: dict) -> str:
    """The README's findings list: one line per headline finding, numbers straight from findings.json."""
    by_id = {f["id"]: f for f in data["findings"]}
    real = [f["id"] for f in data["findings"] if f["id"].startswith("rs_") and (
        f["id"].endswith(("_train_low_freq_loss_rises", "_heldout_low_freq_loss_rises",
                          "_train_balanced_rises_more_than_average")) or "_mitigation_" in f["id"])]
    lines = []
    for id in README_IDS + tuple(real):
        f = by_id.get(id)
        if f is None:
            lines.append(f"- `{id}`: not computed ({data['not_computed'] and 'see findings.md' or 'no file'}).")
            continue
        where = f" (`{f['source']}`)" if "source" in f else ""
        line = f"- **{f['verdict']}**{where} — {f['claim']} Measured: {f['measure']}: {effect_text(f)}."
        if "share_negative_speed" in f:  # what the tiny model has not learnt
            line += (f" {100 * f['share_negative_speed']:.1f}% of the {f['tokens_per_seed']:.0f} token ids seen "
                     f"end with a loss above their start (negative learning speed; "
                     f"{100 * f['share_negative_speed_measurable']:.1f}% of the {f['measurable_tokens_per_seed']:.0f} "
                     "measurable ones): the model is still shifting probability towards frequent tokens.")
        if "ratio_of_mean_changes" in f:
            line += (f" Ratio of the mean changes, balanced / average: {f['ratio_of_mean_changes']:.2f} "
                     f"(paper's Table 1: {f['paper_ratio']:.1f}).")
        lines.append(line)
    sims = [f for f in data["findings"] if f["id"].startswith("sim_")]
    if sims:
        counts = {v: sum(f["verdict"] == v for f in sims) for v in VERDICTS}
        lines.append("- Simulations, low- vs high-frequency loss under weight decay, per model and optimizer: "
                     + ", ".join(f"{n} {v}" for v, n in counts.items()) + " (see findings.md).")
    if data.get("changes"):
        lines += ["", "Changes from lambda 0, mean over seeds [95% t-interval] (the CPU tiny model `lm` and each "
                  "real-scale regime `rs_*`; differences from uniform decay at the same lambda are in "
                  "`docs/findings.md`):", ""] + changes_markdown(data["changes"])
    return "\n".join(lines).rstrip("\n")
