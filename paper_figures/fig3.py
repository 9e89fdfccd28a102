"""Fig. 3 analogue: the token frequency distribution (training count vs rank, log-log; the counts of the tokens
the sweep's runs trained on, their total in the panel title) with the 50/80/95%
cumulative-mass cuts and the P99 count marked; second panel the low-frequency share of the vocabulary
against its size.

Data: <first lm folder>/token_stats.csv (token_id, count), <first lm folder>/token_stats.json (p99_count_threshold,
tokens_for_{50,80,95}pct_mass, share_below_p95_mass, share_below_p99_count) and, when present,
lm_stats/vocab_share.csv (vocab_size, share_below_p99_count, share_below_p95_mass); without it the second
panel shows this vocabulary's point and a note."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from plumbing.schemas import LM_TOKEN_STATS, LM_VOCAB_SHARE

from .common import lm_dirs, need, read_csv, read_json, save

NAME = "fig3_token_frequency"
CAPTION = ("Fig. 3 analogue — token frequency distribution of the training tokens the runs trained on (count vs "
           "rank) with the "
           "50/80/95% cumulative-mass cuts; share of the vocabulary that is low-frequency against vocabulary size.")
DIFFERS = ("the paper counts IMDB under 32k-token BPE vocabularies; ours counts our corpus under our own "
           "tokenizer (vocabulary size in the panel title)")
KEYS = ("p99_count_threshold", "tokens_for_50pct_mass", "tokens_for_80pct_mass", "tokens_for_95pct_mass",
        "share_below_p95_mass", "share_below_p99_count")
SHARE_COLS = LM_VOCAB_SHARE.pick("vocab_size", "share_below_p99_count", "share_below_p95_mass")
COUNT_COLS = LM_TOKEN_STATS.pick("token_id", "count")


def inputs(results: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    share = Path(results) / "lm_stats" / LM_VOCAB_SHARE.name
    return [folder / LM_TOKEN_STATS.name, folder / "token_stats.json"] + ([share] if share.is_file() else [])


def make(results: Path, out: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    counts = read_csv(folder / LM_TOKEN_STATS.name, COUNT_COLS, LM_TOKEN_STATS.pick("count"))["count"].to_numpy()
    counts = np.sort(counts)[::-1]
    cuts = need(read_json(folder / "token_stats.json"), KEYS, folder / "token_stats.json")
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
    a.set_title(f"{folder.name}: vocabulary {counts.size}, {counts.sum():,.0f} training tokens counted", fontsize=9)
    a.legend(fontsize=7)
    share = Path(results) / "lm_stats" / "vocab_share.csv"
    if share.is_file():
        v = read_csv(share, SHARE_COLS, SHARE_COLS)
        groups = v.groupby("corpus") if "corpus" in v else [("", v)]
        for i, (corpus, g) in enumerate(groups):
            g = g.sort_values("vocab_size")
            tag = f" ({corpus})" if corpus else ""
            b.plot(g["vocab_size"], g["share_below_p95_mass"], "o-", color=f"C{i}",
                   label=f"outside the top 95% of the mass{tag}")
            b.plot(g["vocab_size"], g["share_below_p99_count"], "s--", color=f"C{i}", label=f"below the P99 count{tag}")
        b.set_title(f"from {share.parent.name}/{share.name}", fontsize=9)
    else:
        b.plot([counts.size], [cuts["share_below_p95_mass"]], "o", label="outside the top 95% of the mass")
        b.plot([counts.size], [cuts["share_below_p99_count"]], "s", label="below the P99 count")
        b.text(0.03, 0.5, f"no lm_stats/vocab_share.csv:\nonly this vocabulary ({folder.name})", fontsize=8,
               transform=b.transAxes)
    b.set_xscale("log", base=2)
    b.axhline(0.85, color="k", ls="--", lw=0.8, label="paper: ~0.85")
    b.set_ylim(0, 1.02)
    b.set_xlabel("vocabulary size")
    b.set_ylabel("share of the vocabulary")
    b.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save(fig, out, NAME)
