"""The unconstrained-features problem: class counts, weight decays, feature dimension.

    minimise  (1/N) sum_k sum_{i<=n_k} CE(W h_{k,i}, k) + (lambda_W/2)||W||_F^2 + (lambda_H/2)||H||_F^2

W is V x d (one row per class / token), H is d x N (one column per sample), n_k >= 1 samples of
class k and N = sum_k n_k. Two models (MODELS, the names used across the toolkit): "ufm-unconstrained"
(H free) and "ufm-relu" (H >= 0). Every solver in `theory` takes a `Problem`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plumbing.errors import InputError
from plumbing.validate import check_int, check_real

MODELS = ("ufm-unconstrained", "ufm-relu")  # the UFM variants, by the names every package uses


def check_model(model) -> str:
    """Return `model` if it is one of MODELS, else raise InputError naming the allowed names."""
    if model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    return model


def check_counts(counts) -> np.ndarray:
    """Return counts as a float64 vector, or raise InputError naming the first bad entry."""
    try:
        n = np.asarray(counts, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"counts must be numbers, got {counts!r}") from exc
    if n.size < 2:
        raise InputError(f"counts must have at least 2 classes (V >= 2), got {n.size}")
    bad = np.flatnonzero(~(np.isfinite(n) & (n > 0)))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"counts must be finite and > 0, got counts[{i}] = {float(n[i])!r}")
    return n


def check_lambda(name: str, value) -> float:
    """Return a weight decay as float, or raise InputError unless it is a finite number >= 0."""
    return check_real(name, value, 0, parse=True)


@dataclass(frozen=True)
class Problem:
    """An instance of the UFM: counts n (length V), weight decays, feature dimension d (default V)."""

    counts: np.ndarray
    lambda_w: float
    lambda_h: float
    d: int | None = None

    def __post_init__(self):
        n = check_counts(self.counts)
        n.setflags(write=False)
        object.__setattr__(self, "counts", n)
        object.__setattr__(self, "lambda_w", check_lambda("lambda_w", self.lambda_w))
        object.__setattr__(self, "lambda_h", check_lambda("lambda_h", self.lambda_h))
        object.__setattr__(self, "d", check_int("d", self.V if self.d is None else self.d, 1))

    @classmethod
    def from_scale(cls, counts, c, d: int | None = None) -> "Problem":
        """lambda_W = lambda_H = lambda = c / N, N = sum_k n_k: c is the per-sample decay strength.

        N times the objective is sum_{k,i} CE + (lambda N / 2)(||W||^2 + ||H||^2), so c = lambda N is the
        same decay for instances of any size and grids in c compare across instances.
        """
        c = check_real("c", c, 0)
        lam = c / float(np.sum(check_counts(counts)))
        return cls(counts, lam, lam, d)

    @property
    def V(self) -> int:
        return int(self.counts.size)

    @property
    def N(self) -> float:
        return float(self.counts.sum())

    @property
    def weights(self) -> np.ndarray:
        """n_k / N: the share of the average loss that class k carries."""
        return self.counts / self.N

    @property
    def mu(self) -> float:
        """sqrt(lambda_W lambda_H): the nuclear-norm weight after minimising over factorisations."""
        return math.sqrt(self.lambda_w * self.lambda_h)

    def require_d_at_least_v(self, what: str) -> None:
        """The closed forms and the convex reformulation assume d >= V (the paper's assumption)."""
        if self.d < self.V:
            raise InputError(f"d must be >= V = {self.V} for {what}, got d = {self.d}")
