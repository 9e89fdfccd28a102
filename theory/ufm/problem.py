"""The unconstrained-features problem: class counts, weight decays, feature dimension.

    minimise  (1/N) sum_k sum_{i<=n_k} CE(W h_{k,i}, k) + (lambda_W/2)||W||_F^2 + (lambda_H/2)||H||_F^2

W is V x d (one row per class / token), H is d x N (one column per sample), n_k samples of
class k and N = sum_k n_k. Two models (MODELS, the names used across the toolkit): "ufm-unconstrained"
(H free) and "ufm-relu" (H >= 0). Every solver in `theory` takes a `Problem`.

What is accepted (InputError otherwise, one line naming the value and the rule):
  counts   a 1-D vector of >= 2 real numbers (no complex, no 2-D arrays), each finite and > 0, whose sum N
           is finite; and (checked by Problem, a rule of the solvers only) each n_k >= MIN_SHARE * N: a class
           carrying less than 1e-9 of the average loss is below every solver tolerance (1e-9 on the
           objective), so its loss would be meaningless. Counts need not be integers (only their ratios and
           N lambda matter); sample counts >= 1 meet the rule whenever N <= 1e9.
  lambdas  finite and >= 0, with mu = sqrt(lambda_W lambda_H) <= MU_CAP_FACTOR * sqrt(max_k n_k) / N.
           Every class has collapsed (features 0, every loss log V) in both models once
           mu >= ||(I - 11^T/V) diag(sqrt(n))||_2 / N, which is <= sqrt(max_k n_k) / N; larger mu gives the
           same answer, and values 1e6 times beyond only overflow (lambda = 1e308 made the solver spin on NaN).
  memory   `Problem.memory_estimate(model, ...)` says how many bytes a solver needs before it allocates;
           `Problem.check_memory(...)` turns an estimate above the machine's memory into an InputError.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from plumbing.errors import InputError
from plumbing.validate import check_int, check_real

MODELS = ("ufm-unconstrained", "ufm-relu")  # the UFM variants, by the names every package uses
MIN_SHARE = 1e-9  # each n_k >= MIN_SHARE * N
MU_CAP_FACTOR = 1e6  # mu <= MU_CAP_FACTOR * sqrt(max n_k) / N (every class collapsed beyond sqrt(max n_k) / N)


def check_model(model) -> str:
    """Return `model` if it is one of MODELS, else raise InputError naming the allowed names."""
    if model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    return model


def check_counts(counts) -> np.ndarray:
    """Return counts as a float64 vector, or raise InputError naming the first bad entry (module docstring:
    1-D, real, finite, > 0, finite sum). Problem adds each n_k >= MIN_SHARE * N (check_min_share)."""
    try:
        raw = np.asarray(counts)
    except (TypeError, ValueError) as exc:
        raise InputError(f"counts must be numbers, got {counts!r}") from exc
    if raw.ndim > 1:
        raise InputError(f"counts must be a 1-D vector, got an array of shape {raw.shape}")
    if raw.dtype.kind in "cb":
        raise InputError(f"counts must be real numbers, got {'complex' if raw.dtype.kind == 'c' else 'boolean'} "
                         f"values (dtype {raw.dtype})")
    try:
        n = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"counts must be numbers, got {counts!r}") from exc
    if n.size < 2:
        raise InputError(f"counts must have at least 2 classes (V >= 2), got {n.size}")
    bad = np.flatnonzero(~(np.isfinite(n) & (n > 0)))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"counts must be finite and > 0, got counts[{i}] = {float(n[i])!r}")
    with np.errstate(over="ignore"):
        total = float(np.sum(n))
    if not np.isfinite(total):
        raise InputError(f"counts must have a finite sum N (at most {np.finfo(float).max:.3g}); the sum of these "
                         f"{n.size} counts (largest {float(n.max()):.6g}) overflows")
    return n


def check_min_share(n: np.ndarray) -> None:
    """Each n_k >= MIN_SHARE * N (a rule of the solvers, not of counts in general: see the module docstring)."""
    total = float(np.sum(n))
    i = int(np.argmin(n))
    if n[i] < MIN_SHARE * total:
        raise InputError(f"each count must be >= {MIN_SHARE:g} N = {MIN_SHARE * total:.6g} (N = {total:.6g}): a "
                         f"class with a smaller share is below every solver tolerance; got counts[{i}] = "
                         f"{float(n[i])!r}")


def check_lambda(name: str, value) -> float:
    """Return a weight decay as float, or raise InputError unless it is a finite number >= 0."""
    return check_real(name, value, 0, parse=True)


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


@dataclass(frozen=True)
class Problem:
    """An instance of the UFM: counts n (length V), weight decays, feature dimension d (default V)."""

    counts: np.ndarray
    lambda_w: float
    lambda_h: float
    d: int | None = None

    def __post_init__(self):
        n = check_counts(self.counts)
        check_min_share(n)
        n.setflags(write=False)
        object.__setattr__(self, "counts", n)
        object.__setattr__(self, "lambda_w", check_lambda("lambda_w", self.lambda_w))
        object.__setattr__(self, "lambda_h", check_lambda("lambda_h", self.lambda_h))
        object.__setattr__(self, "d", check_int("d", self.V if self.d is None else self.d, 1))
        mu = math.sqrt(self.lambda_w) * math.sqrt(self.lambda_h)  # no overflow of the product
        cap = MU_CAP_FACTOR * math.sqrt(float(np.max(n))) / self.N
        if not mu <= cap:
            raise InputError(
                f"sqrt(lambda_w lambda_h) = {mu:.6g} is too large: it must be <= {cap:.6g} ({MU_CAP_FACTOR:g} x "
                f"sqrt(max n_k)/N; every class has already collapsed to loss log V at sqrt(max n_k)/N = "
                f"{cap / MU_CAP_FACTOR:.6g}); got lambda_w = {self.lambda_w!r}, lambda_h = {self.lambda_h!r}")

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

    @property
    def n_groups(self) -> int:
        """g: the number of distinct counts (the size of the symmetry-reduced unconstrained problem)."""
        return int(np.unique(self.counts).size)

    def memory_estimate(self, model: str, method: str = "auto", primal: bool = False,
                        restarts: int = 1) -> int:
        """Peak bytes the solver of `theory.ufm.solve.solve(self, model, method=...)` allocates, before it does.

        Measured with tracemalloc (g = 100..400 distinct counts): the unconstrained convex solver peaks at
        ~175 g x g float64 arrays (its L-BFGS warm start on the g x g factors dominates); primal=True adds
        ~6 V x V arrays (Z, W, H and the SVD). The relu closed form needs O(V) (primal: ~5 V x V). lbfgs
        keeps ~30 copies of (W, H) (2 V d floats) for its history and gradients. Rounded up.
        """
        check_model(model)
        V, g, d = self.V, self.n_groups, self.d
        if method == "auto":
            method = "closed-form" if model == "ufm-relu" else "convex"
        if method == "lbfgs":
            return int(8 * 30 * 2 * V * d * max(1, restarts > 0) + 64 * V)
        if model == "ufm-relu" or method == "closed-form":
            return int(8 * (20 * V + (5 * V * V if primal else 0)))
        return int(8 * (180 * g * g + 20 * V + (6 * V * V if primal else 0)))

    def check_memory(self, model: str, method: str = "auto", primal: bool = False,
                     available: int | None = None) -> int:
        """Raise InputError if memory_estimate exceeds `available` bytes (default: this machine's physical
        memory); return the estimate otherwise."""
        need = self.memory_estimate(model, method, primal)
        if available is None:
            available = physical_memory()
        if available and need > available:
            raise InputError(
                f"{model} ({method}) on V = {self.V} classes with {self.n_groups} distinct counts needs about "
                f"{need / 2**30:.3g} GiB of memory, more than the {available / 2**30:.3g} GiB available; use fewer "
                f"distinct counts (e.g. bin them)" + ("" if model == "ufm-relu" else " or the ufm-relu closed form"))
        return need

    def require_d_at_least_v(self, what: str) -> None:
        """The closed forms and the convex reformulation assume d >= V (the paper's assumption)."""
        if self.d < self.V:
            raise InputError(f"d must be >= V = {self.V} for {what}, got d = {self.d}")
