"""Token statistics through the shared definitions of `theory.ufm.metrics` (P99 split, bins).

The paper's frequency split: a token is low-frequency when its training count is strictly below the P99 of
all counts (theory.ufm.metrics.low_frequency_mask); mass cuts say how few tokens carry most occurrences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from plumbing.errors import InputError
from plumbing.schemas import LM_TEXT_SAMPLE, LM_TOKEN_STATS, frame
from theory.ufm import metrics
from theory.ufm.metrics import MASS, PERCENTILE

from .tokenizer import encode_documents, train_bpe


def token_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """n_k = number of occurrences of id k in `ids`, k = 0..vocab_size-1 (float64)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise InputError(f"token ids must lie in [0, {vocab_size}), got {ids.min()}..{ids.max()}")
    return np.bincount(ids, minlength=vocab_size).astype(np.float64)


def token_table(counts: np.ndarray, percentile: float = PERCENTILE, n_bins: int = 5, mass: float = MASS) -> pd.DataFrame:
    """One row per token id: count, power-of-3 bin, equal-mass bin (0 = most frequent), low_freq flag (below the
    `percentile` count), low_mass flag (outside the most frequent ids holding a share `mass` of the counts; every
    id when all counts are 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    low_mass = metrics.mass_tail_mask(counts, mass) if counts.sum() > 0 else np.ones(counts.size, dtype=bool)
    return frame(LM_TOKEN_STATS, {"token_id": np.arange(counts.size), "count": counts,
                                  "pow3_bin": metrics.power_of_3_bins(counts),
                                  "equal_mass_bin": metrics.equal_mass_bins(counts, n_bins),
                                  "low_freq": metrics.low_frequency_mask(counts, percentile),
                                  "low_mass": low_mass})


def mass_cuts(counts: np.ndarray, percentile: float = PERCENTILE) -> dict:
    """P99 count threshold; tokens holding 50/80/95% of the occurrences; shares of the vocabulary that are rare.

    share_below_p99_count = fraction of ids with n_k < P99 threshold (the paper's low-frequency share);
    share_below_p95_mass = (V - tokens_for_95pct_mass) / V, the ids outside the top tokens holding 95%;
    share_never_seen = fraction of ids with n_k = 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or not counts.sum() > 0:
        raise InputError(f"counts must be a non-empty vector with a positive total, got shape {counts.shape}")
    V = int(counts.size)
    out = {"vocab_size": V, "p99_count_threshold": metrics.count_threshold(counts, percentile)}
    for m in (50, 80, 95):
        out[f"tokens_for_{m}pct_mass"] = metrics.classes_for_mass(counts, m / 100)
    out["share_below_p99_count"] = float(np.mean(metrics.low_frequency_mask(counts, percentile)))
    out["share_below_p95_mass"] = (V - out["tokens_for_95pct_mass"]) / V
    out["share_never_seen"] = float(np.mean(counts == 0))
    return out


def vocab_share(texts: list, sizes: list) -> pd.DataFrame:
    """One BPE per requested size, trained on `texts` and counted on them: how much of the vocabulary is rare.

    vocab_size is the actual size (a small corpus may give fewer entries than requested).
    """
    rows = []
    for size in sizes:
        tok = train_bpe(texts, int(size))
        counts = token_counts(encode_documents(tok, texts), tok.get_vocab_size())
        cuts = mass_cuts(counts)
        rows.append({"vocab_size": tok.get_vocab_size(), "share_below_p99_count": cuts["share_below_p99_count"],
                     "share_below_p95_mass": cuts["share_below_p95_mass"]})
    return pd.DataFrame(rows)[["vocab_size", "share_below_p99_count", "share_below_p95_mass"]]  # KeyError on a renamed key


def _byte_level_bytes() -> dict:
    """The GPT-2 byte <-> character table of the ByteLevel pre-tokenizer, as {character: byte}."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


_CHAR_TO_BYTE = _byte_level_bytes()


def token_pieces(tokenizer, ids: list) -> list:
    """The text of each token, through the tokenizer's decoder; "".join(pieces) == decode(ids).

    A byte-level token may end inside a multi-byte character; such a token gets "" and the character goes
    to the token that completes it (so a piece is always whole characters).
    """
    pieces, pending, pending_bytes = [], [], b""
    for i in ids:
        token = tokenizer.id_to_token(int(i))
        if token is None or token == "<|endoftext|>" or any(c not in _CHAR_TO_BYTE for c in token):
            pieces.append(tokenizer.decode([int(i)], skip_special_tokens=False))  # special / non-byte token
            continue
        pending.append(token)
        pending_bytes += bytes(_CHAR_TO_BYTE[c] for c in token)
        try:
            pending_bytes.decode("utf-8")
        except UnicodeDecodeError:
            pieces.append("")
            continue
        pieces.append(tokenizer.decoder.decode(pending))
        pending, pending_bytes = [], b""
    if pending:  # cannot happen for ids from encoding a str; keep whatever the decoder makes of the rest
        pieces[-1] += tokenizer.decoder.decode(pending)
    return pieces


def text_sample(tokenizer, text: str, counts: np.ndarray, percentile: float = PERCENTILE) -> pd.DataFrame:
    """Each token of `text` with its decoded piece, training count, and low/high flag at the P99 threshold."""
    counts = np.asarray(counts, dtype=np.float64)
    ids = np.asarray(tokenizer.encode(text).ids, dtype=np.int64)
    threshold = metrics.count_threshold(counts, percentile)
    c = counts[ids]
    return frame(LM_TEXT_SAMPLE, {"position": np.arange(ids.size), "token_id": ids,
                                  "piece": token_pieces(tokenizer, ids), "count": c, "low_freq": c < threshold,
                                  "threshold": threshold})
