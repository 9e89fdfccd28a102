"""Class-count vectors: Zipf counts, and counts read from a file or a comma-separated list."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from plumbing.errors import InputError

from .problem import check_counts


def zipf_counts(V: int, alpha: float = 1.0, total: float | None = None) -> np.ndarray:
    """Integer Zipf counts n_k proportional to k^(-alpha), k = 1..V, most frequent first.

    Without `total`, n_k = round((V/k)^alpha), so the rarest class has count 1 (many tail classes tie,
    as in real token counts). With `total`, n_k = max(1, round(total k^-alpha / sum_j j^-alpha)).
    """
    if isinstance(V, bool) or int(V) != V or V < 2:
        raise InputError(f"V must be an integer >= 2, got {V!r}")
    if not np.isfinite(alpha) or alpha <= 0:
        raise InputError(f"alpha must be > 0, got {alpha!r}")
    k = np.arange(1, int(V) + 1, dtype=np.float64)
    if total is None:
        return np.round((V / k) ** alpha)
    if not np.isfinite(total) or total < V:
        raise InputError(f"total must be >= V = {V} so every class has a sample, got {total!r}")
    p = k**-alpha
    return np.maximum(1.0, np.round(total * p / p.sum()))


def load_counts_values(path: str | os.PathLike) -> np.ndarray:
    """The numbers of a .npy file (a 1-D real array) or of a text file with one number per line (blank lines and
    # comments skipped), as float64, zeros included; a 2-D, complex or boolean array is refused by check_counts'
    one-line error. Callers check the values (read_counts_file; theory.verification.corpus, which allows zeros)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            raw = np.load(path, allow_pickle=False)
            if raw.ndim != 1 or raw.dtype.kind not in "iuf":
                check_counts(raw)  # raises the one-line error for 2-D / complex / boolean arrays
            return raw.astype(np.float64)
        lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
        return np.array([float(x) for x in lines if x], dtype=np.float64)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty .npy
        raise InputError(f"cannot read counts file {str(path)!r}: {exc}") from exc


def read_counts_file(path: str | os.PathLike) -> np.ndarray:
    """Counts from a .npy file or a text file with one number per line (blank lines and # comments skipped)."""
    return check_counts(load_counts_values(path))


def parse_counts(text: str) -> np.ndarray:
    """'100,50,20' -> array([100., 50., 20.]), or InputError naming the bad item."""
    items = [x.strip() for x in str(text).split(",")]
    out = []
    for x in items:
        try:
            out.append(float(x))
        except ValueError:
            raise InputError(f"counts must be comma-separated numbers, got {x!r} in {text!r}") from None
    return check_counts(out)
