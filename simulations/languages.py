"""How much of a real vocabulary is rare: two tail shares for every wordfreq language.

The paper reports that about 85% of a tokenizer's vocabulary is low-frequency (one tokenizer, one corpus).
`languages_table` measures the same kind of share on wordfreq's word lists, with two definitions:
  share_below_p95_mass  = (V - m) / V, m = the size of the smallest most-frequent-first prefix holding
                          >= 95% of the total count (the words outside the top 95% of the mass);
  share_below_p99_count = #{k : n_k < P99 of the counts} / V (theory.ufm.metrics.low_frequency_mask, the
                          split used for "low-frequency" classes everywhere in the toolkit).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from plumbing.atomic import atomic_write_text
from plumbing.errors import InputError
from plumbing.schemas import LANGUAGES, frame
from theory.ufm.metrics import PERCENTILE, classes_for_mass, low_frequency_mask
from theory.ufm.problem import check_counts

from .frequencies import available_languages, wordfreq_counts

COLUMNS = LANGUAGES.columns  # language, vocab_size, share_below_p95_mass, share_below_p99_count
TOP_MASS = 0.95  # share_below_p95_mass: the words outside the top 95% of the mass


def language_stats(counts: np.ndarray) -> dict:
    """vocab_size V, share_below_p95_mass = (V - m) / V with m = classes_for_mass(counts, 0.95) (the smallest
    most-frequent-first prefix holding 95% of the mass) and share_below_p99_count = mean of
    low_frequency_mask(counts, PERCENTILE), i.e. the share with n_k < P99. Counts must all be > 0 (check_counts)."""
    n = check_counts(counts)
    V = int(n.size)
    return {
        "vocab_size": V,
        "share_below_p95_mass": (V - classes_for_mass(n, TOP_MASS)) / V,
        "share_below_p99_count": float(np.mean(low_frequency_mask(n, PERCENTILE))),
    }


def languages_table(languages=None, progress: bool = True) -> pd.DataFrame:
    """One row per language (default: every language of wordfreq's "best" lists, sorted by code), with
    the columns of COLUMNS. Counts come from wordfreq_counts(lang) (the full list, rarest word count 1).
    A language that cannot be loaded raises; none is skipped."""
    from tqdm.auto import tqdm

    if isinstance(languages, str):
        languages = [languages]
    langs = available_languages() if languages is None else list(languages)
    rows = []
    for lang in tqdm(langs, desc="wordfreq languages", unit="lang", disable=not progress):
        rows.append({"language": lang, **language_stats(wordfreq_counts(lang))})
    return frame(LANGUAGES, rows).astype({"vocab_size": "int64"})


def write_languages(out_dir: str | os.PathLike, languages=None, progress: bool = True) -> pd.DataFrame:
    """Compute languages_table(languages), then write out_dir/languages.csv atomically (the bar chart is
    paper_figures' sim_languages)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"out_dir must be a folder, got the file {str(out)!r}")
    table = languages_table(languages, progress=progress)
    atomic_write_text(out / "languages.csv", table.to_csv(index=False))
    return table
