"""Fig. 3 analogue: the token frequency distribution (count vs rank, log-log) with the 50/80/95% cumulative-
mass cuts, and the low-frequency share of the vocabulary against its size (lm_stats/vocab_share.csv)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .common import lm_dirs, read_csv, read_json, save


def make(results: Path, out: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    counts = np.sort(read_csv(folder / "token_stats.csv", ("token_id", "count"))["count"].to_numpy())[::-1]
    cuts = read_json(folder / "token_stats.json")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    rank = np.arange(1, counts.size + 1)
    a.loglog(rank[counts > 0], counts[counts > 0], color="k", lw=1)
    for m, c in ((50, "C2"), (80, "C1"), (95, "C3")):
        k = cuts[f"tokens_for_{m}pct_mass"]
        a.axvline(k, color=c, ls="--", lw=1, label=f"{m}% of mass: top {k} tokens ({100 * k / counts.size:.1f}%)")
    a.axhline(cuts["p99_count_threshold"], color="grey", ls=":", lw=1,
              label=f"P99 count = {cuts['p99_count_threshold']:.0f}")
    a.set_xlabel("token rank")
    a.set_ylabel("training count")
    a.set_title(f"{folder.name}: vocabulary {counts.size}", fontsize=9)
    a.legend(fontsize=7)
    share = results / "lm_stats" / "vocab_share.csv"
    if share.is_file():
        v = read_csv(share, ("vocab_size", "share_below_p99_count", "share_below_p95_mass"))
        b.plot(v["vocab_size"], v["share_below_p95_mass"], "o-", label="outside the top 95% of the mass")
        b.plot(v["vocab_size"], v["share_below_p99_count"], "s-", label="below the P99 count")
        b.set_xscale("log", base=2)
    else:
        b.plot([counts.size], [cuts["share_below_p95_mass"]], "o", label="outside the top 95% of the mass")
        b.text(0.05, 0.05, f"no {share} (run `python -m lm_experiments stats`)", transform=b.transAxes, fontsize=7)
    b.axhline(0.85, color="k", ls="--", lw=0.8, label="paper: ~0.85")
    b.set_ylim(0, 1.02)
    b.set_xlabel("vocabulary size")
    b.set_ylabel("share of the vocabulary")
    b.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, "fig3_token_frequency")
