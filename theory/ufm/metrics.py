"""Shared definitions: per-class loss, average vs balanced loss, frequency groups, learning speed.

Both experiment packages (`simulations`, `lm_experiments`) call these, so a number called
"balanced loss" means the same thing in every result file of the toolkit.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid
from scipy.special import logsumexp

from plumbing.errors import InputError

PERCENTILE = 99.0  # low/high split by count: low = n_k below the P99 of the counts (the paper's Figure 2)
MASS = 0.5  # low/high split by mass: high = the fewest most frequent classes holding half of all samples


def cross_entropy(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """CE(z, y) = log sum_j exp(z_j) - z_y for each row of `logits` (log-sum-exp, no overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target, dtype=np.int64)
    return logsumexp(z, axis=-1) - np.take_along_axis(z, y[..., None], axis=-1)[..., 0]


def per_class_mean_loss(losses: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """l_k = mean of the losses of the samples whose label is k; NaN for a class with no sample."""
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    total = np.bincount(labels, weights=losses, minlength=num_classes)
    count = np.bincount(labels, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def average_loss(per_class_loss: np.ndarray, counts: np.ndarray) -> float:
    """Count-weighted mean sum_k n_k l_k / sum_k n_k: the usual training loss (classes with n_k = 0 drop out)."""
    loss = np.asarray(per_class_loss, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    keep = n > 0
    return float(np.sum(n[keep] * loss[keep]) / np.sum(n[keep]))


def balanced_loss(per_class_loss: np.ndarray, counts: np.ndarray | None = None) -> float:
    """Class-balanced loss: unweighted mean of l_k over the classes present (n_k > 0 when counts given)."""
    loss = np.asarray(per_class_loss, dtype=np.float64)
    if counts is not None:
        loss = loss[np.asarray(counts) > 0]
    return float(np.mean(loss))


def power_of_3_bins(counts: np.ndarray) -> np.ndarray:
    """Bin b holds the classes with 3^b <= n_k < 3^(b+1); classes with n_k = 0 get bin -1."""
    n = np.asarray(counts, dtype=np.float64)
    out = np.full(n.shape, -1, dtype=np.int64)
    pos = n >= 1
    b = np.floor(np.log(n[pos]) / np.log(3.0) + 1e-12).astype(np.int64)
    out[pos] = b
    return out


def equal_mass_bins(counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Split classes, most frequent first, into n_bins groups of about equal total count.

    Class k goes to bin floor(n_bins * c_k / N), c_k being the mass of the classes ranked above it plus
    half its own; so bin 0 holds the most frequent classes. Classes with n_k = 0 get bin -1.
    """
    if int(n_bins) < 1:
        raise InputError(f"n_bins must be >= 1, got {n_bins!r}")
    n = np.asarray(counts, dtype=np.float64)
    out = np.full(n.shape, -1, dtype=np.int64)
    if not n.sum() > 0:
        return out
    order = np.argsort(-n, kind="stable")
    sorted_n = n[order]
    mid = np.cumsum(sorted_n) - sorted_n / 2.0
    bins = np.minimum(np.floor(n_bins * mid / sorted_n.sum()).astype(np.int64), n_bins - 1)
    pos = sorted_n > 0
    out[order[pos]] = bins[pos]
    return out


def classes_for_mass(counts: np.ndarray, mass: float) -> int:
    """How many of the most frequent classes hold a share `mass` of all samples:

        m = min{ j : n_(1) + ... + n_(j) >= mass * N },  n_(1) >= n_(2) >= ... the sorted counts, N = sum_k n_k.

    So V - m classes lie outside the top `mass` of the distribution (the "rare" tail of a vocabulary).
    A relative slack of 1e-12 absorbs the rounding of the running sum, so a prefix holding exactly `mass`
    counts as holding it. Needs 0 < mass <= 1 and finite counts >= 0 with N > 0 (classes with n_k = 0 are
    never needed: they come last); otherwise InputError.
    """
    n = np.asarray(counts, dtype=np.float64).reshape(-1)
    if not 0.0 < float(mass) <= 1.0:
        raise InputError(f"mass must be in (0, 1], got {mass!r}")
    if n.size == 0 or not np.all(np.isfinite(n) & (n >= 0)) or not n.sum() > 0:
        raise InputError("counts must be finite, >= 0 and not all 0")
    cum = np.cumsum(np.sort(n)[::-1])
    return min(int(np.searchsorted(cum, mass * cum[-1] * (1.0 - 1e-12), side="left")) + 1, n.size)


def count_threshold(counts: np.ndarray, percentile: float = PERCENTILE) -> float:
    """The `percentile`-th percentile of the class counts (default P99, the paper's Figure 2 split)."""
    if not 0.0 < float(percentile) < 100.0:
        raise InputError(f"percentile must be in (0, 100), got {percentile!r}")
    return float(np.percentile(np.asarray(counts, dtype=np.float64), percentile))


def low_frequency_mask(counts: np.ndarray, percentile: float = PERCENTILE) -> np.ndarray:
    """True for the low-frequency classes: n_k strictly below the count percentile threshold."""
    return np.asarray(counts, dtype=np.float64) < count_threshold(counts, percentile)


def mass_tail_mask(counts: np.ndarray, mass: float = MASS) -> np.ndarray:
    """True for the low-frequency classes by cumulative mass: every class outside the m most frequent ones,
    m = classes_for_mass(counts, mass) (the head holding a share `mass` of all samples; ties in count are
    broken by class index, so exactly m classes are high-frequency).

    Unlike the P99 split (low_frequency_mask), both groups hold classes whenever 0 < mass < 1 and the
    head does not need every class: at V = 100 with Zipf(1) counts the head of half the mass is 7 classes,
    where "above P99" is one class.
    """
    n = np.asarray(counts, dtype=np.float64).reshape(-1)
    m = classes_for_mass(n, mass)
    low = np.ones(n.size, dtype=bool)
    low[np.argsort(-n, kind="stable")[:m]] = False
    return low


def learning_speed(loss_curves: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
    """Learning speed of each class: 1 - integral_0^1 l_k(s) / l_k(0) ds, s = normalised training time.

    `loss_curves` is (T, K): row t holds the per-class losses at checkpoint t (t = 0 is the start).
    The integral uses the trapezoid rule on the checkpoint times mapped to [0, 1]. The value lies in
    [0, 1] when l_k never exceeds l_k(0): 1 means learned at once, 0 never; a class whose loss rises
    above its initial value gets a negative speed, reported as is. NaN where l_k(0) is 0 or NaN.
    """
    curves = np.asarray(loss_curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[0] < 2:
        raise InputError(f"loss_curves must be (T >= 2, K), got shape {curves.shape}")
    t = np.arange(curves.shape[0], dtype=np.float64) if times is None else np.asarray(times, np.float64)
    if t.shape != (curves.shape[0],) or np.any(np.diff(t) <= 0):
        raise InputError("times must be strictly increasing, one per checkpoint")
    s = (t - t[0]) / (t[-1] - t[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = curves / curves[0]
        ratio[:, ~(curves[0] > 0)] = np.nan
    return 1.0 - trapezoid(ratio, s, axis=0)


def group_loss(per_class_loss: np.ndarray, counts: np.ndarray, mask: np.ndarray) -> float:
    """Mean loss over the samples of a group of classes: sum_{k in G} n_k l_k / sum_{k in G} n_k.

    This is the per-token loss of e.g. the low-frequency tokens (the paper's Figure 1); NaN for an empty
    group (no class, or no sample, in it).
    """
    loss = np.asarray(per_class_loss, dtype=np.float64)
    n = np.where(np.asarray(mask, dtype=bool), np.asarray(counts, dtype=np.float64), 0.0)
    keep = n > 0
    if not keep.any():
        return float("nan")
    return float(np.sum(n[keep] * loss[keep]) / np.sum(n[keep]))
