"""Class-count vectors used across the toolkit."""

from __future__ import annotations

import numpy as np

from .problem import InputError


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
