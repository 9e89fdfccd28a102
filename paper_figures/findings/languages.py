"""Data statistics: rare tokens are most of any vocabulary. The share of a vocabulary outside the most frequent
entries that hold 95% of the mass, read as written by `simulations languages` (languages/languages.csv, one row
per wordfreq language) and by the LM's corpus statistics (lm_stats/vocab_share.csv, one row per BPE vocabulary
size); exact rule, inequality share > 0.5 in every row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import evidence
from .stats import EXACT_RULE, NotApplicable, exact_verdict, finding

CLAIM = "Rare tokens are most of any vocabulary."


def _share(path: Path, key: str) -> np.ndarray:
    df = evidence.table(path, (key,), ("share_below_p95_mass",))
    s = df["share_below_p95_mass"].to_numpy(float)
    if ((s < 0) | (s > 1)).any():
        raise evidence.InputError(f"result file {str(path)!r}: share_below_p95_mass must lie in [0, 1]")
    return df, s


def vocabulary_findings(results: Path) -> list[dict]:
    out = []
    lang, share = results / "languages" / "languages.csv", results / "lm_stats" / "vocab_share.csv"
    if not lang.parent.is_dir() and not share.parent.is_dir():
        raise NotApplicable("no languages/ or lm_stats/ folder (python -m simulations languages; lm_experiments)")
    if lang.parent.is_dir():
        df, s = _share(lang, "language")
        out.append(finding(
            "languages_rare_words_are_most_of_the_vocabulary", CLAIM,
            "share of each wordfreq word list outside the most frequent words holding 95% of the mass",
            [str(lang.relative_to(results))], float(np.median(s)), float(s.min()), float(s.max()), int(s.size),
            "range over languages (exact)", EXACT_RULE + "; inequality: share > 0.5",
            exact_verdict(s > 0.5), languages_above_half=int((s > 0.5).sum())))
    if share.parent.is_dir():
        df, s = _share(share, "vocab_size")
        out.append(finding(
            "bpe_rare_tokens_are_most_of_the_vocabulary", CLAIM,
            "share of a byte-level BPE vocabulary (sizes " + ", ".join(f"{int(v)}" for v in df["vocab_size"]) +
            ") outside the tokens holding 95% of the corpus", [str(share.relative_to(results))],
            float(np.median(s)), float(s.min()), float(s.max()), int(s.size), "range over vocabulary sizes (exact)",
            EXACT_RULE + "; inequality: share > 0.5", exact_verdict(s > 0.5)))
    return out
