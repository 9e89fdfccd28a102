"""Token statistics through the shared definitions of `theory.metrics` (P99 split, bins, mass cuts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from theory import metrics

from .tokenizer import EOS, train_bpe, encode_documents


def token_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    return np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size).astype(np.float64)


def token_table(counts: np.ndarray, percentile: float = 99.0, n_bins: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"token_id": np.arange(counts.size), "count": counts,
                         "pow3_bin": metrics.power_of_3_bins(counts),
                         "equal_mass_bin": metrics.equal_mass_bins(counts, n_bins),
                         "low_freq": metrics.low_frequency_mask(counts, percentile)})


def tokens_for_mass(counts: np.ndarray, mass: float) -> int:
    """The number of most frequent tokens that together hold at least `mass` of all occurrences."""
    n = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    cum = np.cumsum(n)
    return int(np.searchsorted(cum, mass * cum[-1] * (1 - 1e-12))) + 1


def mass_cuts(counts: np.ndarray, percentile: float = 99.0) -> dict:
    """P99 count threshold, tokens holding 50/80/95% of the mass, and the shares of the vocabulary below them."""
    V = int(counts.size)
    out = {"vocab_size": V, "p99_count_threshold": metrics.count_threshold(counts, percentile)}
    for m in (50, 80, 95):
        out[f"tokens_for_{m}pct_mass"] = tokens_for_mass(counts, m / 100)
    out["share_below_p99_count"] = float(np.mean(metrics.low_frequency_mask(counts, percentile)))
    out["share_below_p95_mass"] = (V - out["tokens_for_95pct_mass"]) / V
    out["share_never_seen"] = float(np.mean(counts == 0))
    return out


def vocab_share(texts: list, sizes: list) -> pd.DataFrame:
    """One BPE per vocabulary size, trained and counted on `texts`: how much of the vocabulary is rare."""
    rows = []
    for size in sizes:
        tok = train_bpe(texts, int(size))
        counts = token_counts(encode_documents(tok, texts), tok.get_vocab_size())
        cuts = mass_cuts(counts)
        rows.append({"vocab_size": tok.get_vocab_size(), "share_below_p99_count": cuts["share_below_p99_count"],
                     "share_below_p95_mass": cuts["share_below_p95_mass"]})
    return pd.DataFrame(rows)


def text_sample(tokenizer, text: str, counts: np.ndarray, percentile: float = 99.0) -> pd.DataFrame:
    """Each token of `text` with its decoded piece, training count and low/high flag at the P99 threshold."""
    enc = tokenizer.encode(text)
    threshold = metrics.count_threshold(counts, percentile)
    ids = np.asarray(enc.ids, dtype=np.int64)
    pieces, end = [], 0
    for a, b in enc.offsets:  # byte-level tokens of one multi-byte character share its offsets: give it once
        pieces.append(text[max(a, end):b])
        end = max(end, b)
    return pd.DataFrame({"position": np.arange(ids.size), "token_id": ids, "piece": pieces,
                         "count": counts[ids], "low_freq": counts[ids] < threshold, "threshold": threshold})
