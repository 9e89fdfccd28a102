"""Class-count vectors for the simulations: Zipf, a two-level step, real word frequencies, or a file.

Every function returns float64 counts, most frequent first, each >= 1 (the `Problem` contract).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from plumbing.errors import InputError
from plumbing.validate import check_real
from theory.ufm.counts import read_counts_file, zipf_counts

SPECS = ("zipf", "step", "wordfreq:LANG", "a path to a counts file")
WORDLIST = "best"  # wordfreq's largest list for each language


def _check_V(V) -> int:
    if isinstance(V, bool) or not isinstance(V, (int, np.integer, float)) or int(V) != V or V < 2:
        raise InputError(f"V must be an integer >= 2, got {V!r}")
    return int(V)


def _real(name: str, value) -> float:
    return check_real(name, value, parse=True)


def step_counts(V: int, frac: float, ratio: float, total: float | None = None) -> np.ndarray:
    """Two-level counts: n_k = ratio * c for the top m = ceil(frac V) classes, n_k = c for the other V - m.

    Without `total`, c = 1 (so the counts are integers when `ratio` is). With `total`,
    c = max(1, round(total / (m ratio + V - m))), so sum_k n_k is about `total` and every n_k >= 1;
    the ratio between the two levels is exactly `ratio` either way.
    Needs V >= 2, 0 < frac < 1 with ceil(frac V) <= V - 1 (both levels present), ratio >= 1, total >= V.
    """
    V = _check_V(V)
    frac = _real("frac", frac)
    if not 0.0 < frac < 1.0:
        raise InputError(f"frac must be in (0, 1), got {frac!r}")
    ratio = _real("ratio", ratio)
    if ratio < 1.0:
        raise InputError(f"ratio must be >= 1, got {ratio!r}")
    m = math.ceil(round(frac * V, 9))  # round first: 0.3 * 10 = 3.0000000000000004 must give m = 3
    if m > V - 1:
        raise InputError(f"frac must leave at least one class in the lower level: ceil(frac * V) = {m} "
                         f"with V = {V}, got frac = {frac!r}; allowed: frac <= (V - 1) / V = {(V - 1) / V:g}")
    c = 1.0
    if total is not None:
        total = _real("total", total)
        if total < V:
            raise InputError(f"total must be >= V = {V} so every class has a sample, got {total!r}")
        c = max(1.0, float(np.round(total / (m * ratio + V - m))))
    n = np.full(V, c, dtype=np.float64)
    n[:m] = ratio * c
    return n


def available_languages() -> list[str]:
    """The language codes of wordfreq's "best" word lists, sorted."""
    import wordfreq

    return sorted(wordfreq.available_languages(wordlist=WORDLIST))


def wordfreq_counts(lang: str, V: int | None = None, total: float | None = None) -> np.ndarray:
    """Word counts from wordfreq's frequency list of `lang`: n_k = max(1, round(f_k * total)), most frequent first.

    f_k is the word's frequency (share of all tokens) in wordfreq's "best" list; with `V`, only the top V
    words are kept. `total` is the corpus size in tokens, so the counts sum to about total * sum_k f_k
    (less than total: the kept words do not hold all the mass). Default total = 1 / min_k f_k over the kept
    words, which gives the rarest kept word count 1. wordfreq stores frequencies rounded to whole
    centibels, so many words share a count. `lang` must be one of the listed codes exactly (wordfreq's
    own nearest-language fallback is not used, so no other language is substituted silently).
    """
    import wordfreq

    langs = available_languages()
    if not isinstance(lang, str) or lang not in langs:
        raise InputError(f"unknown wordfreq language {lang!r}; available: {', '.join(langs)}")
    freqs = wordfreq.get_frequency_dict(lang, wordlist=WORDLIST)
    f = np.fromiter(freqs.values(), dtype=np.float64, count=len(freqs))
    if f.size < 2 or not np.all(np.isfinite(f) & (f > 0)):
        raise InputError(f"wordfreq list for {lang!r} has {f.size} words or non-positive frequencies")
    f = f[np.argsort(-f, kind="stable")]
    if V is not None:
        V = _check_V(V)
        if V > f.size:
            raise InputError(f"V must be <= {f.size} (the words in the {lang!r} list), got {V!r}")
        f = f[:V]
    if total is None:
        total = 1.0 / f[-1]
    else:
        total = _real("total", total)
        if total <= 0:
            raise InputError(f"total must be > 0, got {total!r}")
    return np.maximum(1.0, np.round(f * total))


def class_counts(spec, V: int | None = None, alpha: float = 1.0, total: float | None = None,
                 step_frac: float = 0.1, step_ratio: float = 10.0) -> np.ndarray:
    """Counts named by `spec`, float64, sorted most frequent first.

    "zipf"          theory.ufm.counts.zipf_counts(V, alpha, total)
    "step"          step_counts(V, step_frac, step_ratio, total)
    "wordfreq:LANG" wordfreq_counts(LANG, V, total): the top V words of a real frequency list
    anything else   a counts file (theory.ufm.counts.read_counts_file: .npy, or one number per line), its top V
                    counts when V is given (V must not exceed the file's length); `total` does not apply.
    """
    if isinstance(spec, str) and spec == "zipf":
        if V is None:
            raise InputError("V must be an integer >= 2 for counts 'zipf', got None")
        n = zipf_counts(_check_V(V), _real("alpha", alpha), None if total is None else _real("total", total))
    elif isinstance(spec, str) and spec == "step":
        if V is None:
            raise InputError("V must be an integer >= 2 for counts 'step', got None")
        n = step_counts(V, step_frac, step_ratio, total)
    elif isinstance(spec, str) and spec.startswith("wordfreq:"):
        n = wordfreq_counts(spec[len("wordfreq:"):], V, total)
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"counts must be one of {', '.join(SPECS)}; got {str(spec)!r}, which is none "
                             "of the names and not an existing file")
        if total is not None:
            raise InputError(f"total applies to 'zipf', 'step' and 'wordfreq:LANG', not to the counts file "
                             f"{str(spec)!r} (its counts are used as given), got total = {total!r}")
        n = np.sort(read_counts_file(path))[::-1]
        if V is not None:
            V = _check_V(V)
            if V > n.size:
                raise InputError(f"V must be <= {n.size} (the counts in {str(spec)!r}), got {V!r}")
            n = n[:V]
    else:
        raise InputError(f"counts must be one of {', '.join(SPECS)}, got {spec!r}")
    return np.ascontiguousarray(np.sort(np.asarray(n, dtype=np.float64))[::-1])
