"""Closed forms of the unconstrained UFM with equal counts (derived in `theory.ufm.symbolic`)."""

from __future__ import annotations

import numpy as np

from plumbing.errors import InputError

from .problem import Problem


def balanced_closed_form(problem: Problem) -> tuple[np.ndarray, float]:
    """Per-class loss and objective of the unconstrained UFM with equal counts n (derived in `symbolic`).

    rho = mu (V-1) sqrt(n); loss = -log(1 - rho) while mu sqrt(n) < 1/V, total collapse (log V) beyond;
    objective = loss + mu (V-1) sqrt(n) t with margin t = log((V-1)(1-rho)/rho) (0 when collapsed).
    """
    problem.require_d_at_least_v("the balanced closed form")
    n = problem.counts
    if not np.all(n == n[0]):
        raise InputError(f"the balanced closed form needs equal counts, got counts from {n.min():g} to {n.max():g}")
    V = problem.V
    price = problem.mu * (V - 1) * np.sqrt(n[0])
    if price >= (V - 1) / V:
        return np.full(V, np.log(V)), float(np.log(V))
    loss = -np.log1p(-price)
    if price == 0.0:
        return np.zeros(V), 0.0
    margin = np.log((V - 1) * (1 - price) / price)
    return np.full(V, loss), float(loss + price * margin)


def balanced_logits(problem: Problem) -> np.ndarray:
    """The logits Z = t (I - 11^T / V) of the balanced minimiser (equal counts n; column k = class k).

    t is the margin of `balanced_closed_form`: t = log((V-1)(1-rho)/rho), rho = mu (V-1) sqrt(n), and
    t = 0 once rho >= (V-1)/V (total collapse). The singular values of Z D are t sqrt(n) (V-1 times), so
    mu ||Z D||_* = rho t, the penalty in the closed-form objective. Needs mu > 0 (else t = inf).
    """
    balanced_closed_form(problem)  # the same checks: d >= V, equal counts
    V, n = problem.V, problem.counts
    price = problem.mu * (V - 1) * np.sqrt(n[0])
    if price == 0.0:
        raise InputError("the balanced minimiser is not attained at lambda_W lambda_H = 0 (margin t = inf)")
    t = 0.0 if price >= (V - 1) / V else float(np.log((V - 1) * (1 - price) / price))
    return t * (np.eye(V) - 1.0 / V)


def balanced_collapse_mu(counts: np.ndarray) -> float:
    """The total-collapse threshold of the balanced unconstrained UFM: mu >= 1 / (V sqrt(n))."""
    n = np.asarray(counts, np.float64)
    return float(1.0 / (n.size * np.sqrt(n[0])))
