"""Findings of the committed real-scale LM sweeps (results/real_scale/<sweep>/<regime>/, `lm_experiments pack`):
per regime the LM findings, the mitigation findings (when it has several decay modes) and the paper's Table-1
contrast, the balanced training loss rising more than the average training loss (paired by seed), with the ratio
of the two mean changes next to the paper's ~5.7."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from theory.glossary import baseline_mode

from .lm import lm_findings, summary
from .mitigation import mitigation_findings
from .stats import PAPER_TABLE1_RATIO, NotApplicable, at, paired_by_seed, seed_finding


def real_scale_folders(results: Path) -> list[tuple[str, Path]]:
    """(prefix, folder relative to results) of every committed real-scale LM regime: real_scale/<sweep>/ when it
    holds a summary.csv (a sweep without regimes), else each subfolder real_scale/<sweep>/<regime>/ (which must
    hold one: an emptied regime is refused when read). A sweep folder with neither (e.g. the vocabulary-scale
    simulation real_scale/sim_scale_*) is not an LM sweep."""
    out = []
    for sweep in sorted(p for p in (results / "real_scale").glob("*") if p.is_dir()):
        regimes = [sweep] if (sweep / "summary.csv").is_file() else sorted(p for p in sweep.iterdir() if p.is_dir())
        out += [("rs_" + "_".join(r.relative_to(results / "real_scale").parts), r.relative_to(results))
                for r in regimes]
    return out


def real_scale_findings(results: Path) -> list[dict]:
    folders = real_scale_folders(results)
    if not folders:
        raise NotApplicable(f"no real-scale LM sweep under {str(results / 'real_scale')!r} (lm_experiments pack)")
    out = []
    for prefix, folder in folders:
        found = lm_findings(results, str(folder), prefix)
        df, cfg, rel = summary(results, folder)
        if len(cfg["decay_modes"]) > 1:
            found += mitigation_findings(results, str(folder), prefix)
        base = df[(df["decay_mode"] == baseline_mode(cfg["decay_modes"])) & (df["split"] == "train")]
        lo, hi = base["lambda"].min(), base["lambda"].max()
        a, b = at(base, **{"lambda": hi}), at(base, **{"lambda": lo})
        bal, avg = (paired_by_seed(a, b, c) for c in ("balanced_loss", "average_loss"))
        ratio = float(np.mean(bal) / np.mean(avg)) if np.mean(avg) != 0 else math.nan
        found.append(seed_finding(
            f"{prefix}_train_balanced_rises_more_than_average", "Weight decay raises the class-balanced training "
            "loss much more than the average training loss (the paper's Table 1: ~5.7 times as much).",
            f"change of (balanced - average) training loss from lambda {lo:g} to {hi:g}", [rel], bal - avg,
            ratio_of_mean_changes=ratio, paper_ratio=PAPER_TABLE1_RATIO))
        out += [{**f, "source": prefix} for f in found]  # which regime: the README line names it
    return out
