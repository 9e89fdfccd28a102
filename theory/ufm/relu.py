"""Exact global minimiser of the ReLU UFM (features H >= 0, d >= V), derived in `symbolic.relu_closed_form`.

With rho_k = N sqrt(lambda_W lambda_H (V-1) / (V n_k)) (= 1 - softmax probability of the true class):
    loss_k = -log(1 - rho_k)                       while rho_k < (V-1)/V,
    loss_k = log V (features of class k vanish)    once  n_k <= N^2 V lambda_W lambda_H / (V-1).
The logit margin of class k is t_k = log((V-1)(1-rho_k)/rho_k); the class-k logits are
t_k (V-1)/V on class k and -t_k/V elsewhere. lambda_W lambda_H = 0 gives the infimum 0 (not attained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plumbing.errors import InputError

from .problem import Problem


@dataclass(frozen=True)
class ReluSolution:
    problem: Problem
    rho: np.ndarray  # 1 - p_k(true class)
    collapsed: np.ndarray  # features of class k are 0, loss log V
    per_class_loss: np.ndarray
    margin: np.ndarray  # logit margin t_k (inf when lambda_W lambda_H = 0)
    feature_norm: np.ndarray  # ||h_k||
    weight_column_norm: np.ndarray  # ||W e_k||: the column of W read by class k's feature
    objective: float

    def logits(self) -> np.ndarray:
        """Z (V x V): column k = logits of a class-k sample; t_k (V-1)/V on the diagonal, -t_k/V off it."""
        V = self.problem.V
        return self.margin[None, :] * (np.eye(V) - 1.0 / V)

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """An explicit minimiser (W: V x d, Hbar: d x V class-mean features, H >= 0, orthogonal columns)."""
        p = self.problem
        V = p.V
        col = self.weight_column_norm * math.sqrt(V / (V - 1))  # margin m_k of the weight column
        W = np.zeros((V, p.d))
        W[:, :V] = col[None, :] * (np.eye(V) - 1.0 / V)
        H = np.zeros((p.d, V))
        H[np.arange(V), np.arange(V)] = self.feature_norm
        return W, H


def relu_rho(problem: Problem) -> np.ndarray:
    """rho_k = N sqrt(lambda_W lambda_H (V-1) / (V n_k))."""
    V, N = problem.V, problem.N
    return N * problem.mu * np.sqrt((V - 1) / (V * problem.counts))


def relu_collapse_count(problem: Problem) -> float:
    """Classes with n_k <= N^2 V lambda_W lambda_H / (V-1) have zero features and loss log V."""
    V, N = problem.V, problem.N
    return N**2 * V * problem.lambda_w * problem.lambda_h / (V - 1)


def relu_margins(V: int, N: float, n: np.ndarray, mu) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rho, collapsed, loss, margin) per class for decay strengths mu = sqrt(lambda_W lambda_H) (a scalar, or
    one value per class when the decay is per class, theory.ufm.perclass): rho_k = N mu_k sqrt((V-1)/(V n_k)),
    loss_k = -log(1 - rho_k) and margin log((V-1)(1-rho_k)/rho_k) below collapse, log V and 0 from it."""
    rho = N * np.asarray(mu, dtype=np.float64) * np.sqrt((V - 1) / (V * n))
    collapsed = rho >= (V - 1) / V
    r = np.where(collapsed, (V - 1) / V, rho)
    loss = -np.log1p(-r)
    with np.errstate(divide="ignore"):
        margin = np.where(collapsed, 0.0, np.log((V - 1) * (1 - r) / r))
    return rho, collapsed, loss, margin


def relu_closed_form(problem: Problem) -> ReluSolution:
    """The global minimiser of the ReLU UFM for `problem` (requires d >= V)."""
    problem.require_d_at_least_v("the relu closed form")
    V, n = problem.V, problem.counts
    rho, collapsed, loss, margin = relu_margins(V, problem.N, n, problem.mu)
    if problem.mu == 0.0:
        return ReluSolution(problem, rho, collapsed, loss, margin, np.full(V, np.inf),
                            np.full(V, np.inf), 0.0)
    # penalty split of the margin t = s m: m^2 = t sqrt(lambda_H n V / (lambda_W (V-1)))
    m_sq = margin * np.sqrt(problem.lambda_h * n * V / (problem.lambda_w * (V - 1)))
    s_sq = margin * np.sqrt(problem.lambda_w * (V - 1) / (problem.lambda_h * n * V))
    price = problem.mu * np.sqrt(n * (V - 1) / V)
    objective = float(np.sum(problem.weights * loss) + np.sum(price * margin))
    return ReluSolution(problem, rho, collapsed, loss, margin, np.sqrt(s_sq),
                        np.sqrt(m_sq * (V - 1) / V), objective)


def relu_dloss_dlambda(problem: Problem) -> np.ndarray:
    """d loss_k / d lambda along lambda_W = lambda_H = lambda: N sqrt((V-1)/(V n_k)) / (1 - rho_k).

    0 for collapsed classes (their loss is pinned at log V); the derivative jumps at the threshold.
    """
    if problem.lambda_w != problem.lambda_h:
        raise InputError(
            f"d loss/d lambda is defined along lambda_W = lambda_H; got lambda_w = {problem.lambda_w}, "
            f"lambda_h = {problem.lambda_h}")
    V = problem.V
    a = problem.N * np.sqrt((V - 1) / (V * problem.counts))
    rho = relu_rho(problem)
    collapsed = rho >= (V - 1) / V
    return np.where(collapsed, 0.0, a / np.where(collapsed, 1.0, 1.0 - rho))
