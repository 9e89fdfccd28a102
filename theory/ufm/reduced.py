"""The unconstrained UFM as a convex problem, reduced by its symmetry to a g x g block (g = distinct counts).

Convex reformulation. Class means collapse (the objective is strictly convex in each h_{k,i} for fixed W),
and minimising (lambda_W/2)||W||^2 + (lambda_H/2)||Hbar D||^2 over all factorisations W Hbar = Z with
d >= V gives mu ||Z D||_*, mu = sqrt(lambda_W lambda_H), D = diag(sqrt(n)). So the problem is
    F* = min_Z  f(Z) + mu ||Z D||_*,   f(Z) = sum_k (n_k/N) CE(z_k, k),   Z: V x V, z_k = logits of class k.

Symmetry reduction (exact). Classes with equal counts are interchangeable, so averaging any minimiser over
those permutations gives a minimiser of the form Z[i, j] = A[a, b] + [i == j] B[b] (i in group a, j in b).
On that subspace Y = Z D splits orthogonally into a g x g block C (on the group indicator vectors) and
sqrt(n_b) B[b] times the identity on the (m_b - 1) within-group zero-sum vectors of each group:
    C[a, b] = sqrt(m_a m_b n_b) A[a, b] + [a == b] sqrt(n_b) B[b],
    ||Y||_* = ||C||_* + sum_b (m_b - 1) |gamma_b|,  gamma_b = sqrt(n_b) B[b],
and the same split holds for the gradient, so ||grad||_2 and the certificate (theory.ufm.dual) are exact in
g x g terms. The metric is ||C||_F^2 + sum_b (m_b - 1) gamma_b^2 = ||Y||_F^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from .problem import Problem


@dataclass(frozen=True)
class Groups:
    """Classes grouped by equal count: group a has count value n[a] and m[a] members."""

    n: np.ndarray
    m: np.ndarray
    index: np.ndarray  # class k belongs to group index[k]

    @classmethod
    def of(cls, counts: np.ndarray) -> "Groups":
        n, index, m = np.unique(np.asarray(counts, np.float64), return_inverse=True, return_counts=True)
        return cls(n, m.astype(np.float64), index)

    @property
    def g(self) -> int:
        return int(self.n.size)


@dataclass
class Point:
    """f, its metric gradient and the softmax pieces at one reduced point (C, gamma)."""

    A: np.ndarray
    B: np.ndarray
    f: float
    ce: np.ndarray  # CE per group
    lse: np.ndarray  # log partition per group column
    pi_self: np.ndarray  # softmax probability of the true class, per group
    grad_C: np.ndarray
    grad_gamma: np.ndarray


class Reduced:
    """The symmetry-reduced problem in the variables (C, gamma)."""

    def __init__(self, problem: Problem, groups: Groups):
        self.p, self.gr = problem, groups
        n, m = groups.n, groups.m
        self.w = m * n / problem.N  # loss weight of a whole group
        self.scale = np.sqrt(np.outer(m, m) * n[None, :])  # C = scale * A + diag(sqrt(n) B)
        self.sqrt_n = np.sqrt(n)
        self.mult = m - 1.0  # multiplicity of gamma_b in Y
        self.has_gamma = self.mult > 0
        g = groups.g
        eye = np.eye(g)
        self.count = m[:, None] - eye  # non-true classes of group a in a column of group b
        with np.errstate(divide="ignore"):
            self.log_m_other = np.log(self.count)  # -inf for singletons

    def AB(self, C: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        B = gamma / self.sqrt_n
        A = (C - np.diag(gamma)) / self.scale
        return A, B

    def evaluate(self, C: np.ndarray, gamma: np.ndarray) -> Point:
        A, B = self.AB(C, gamma)
        diagA = np.diag(A)
        self_logit = diagA + B
        # log-partition of column b over: (m_a - [a==b]) copies of A[a,b] and the true class A[b,b]+B[b]
        rows = np.vstack([self.log_m_other + A, self_logit[None, :]])
        lse = logsumexp(rows, axis=0)
        prob = np.exp(rows - lse[None, :])
        pi_other, pi_self = prob[:-1], prob[-1]
        ce = lse - self_logit
        f = float(self.w @ ce)
        dA = self.w[None, :] * (pi_other + np.diag(pi_self - 1.0))
        dB = self.w * (pi_self - 1.0)
        grad_C = dA / self.scale
        d_gamma = dB / self.sqrt_n - np.diag(dA) / (self.gr.m * self.sqrt_n)
        grad_gamma = np.where(self.has_gamma, d_gamma / np.where(self.has_gamma, self.mult, 1.0), 0.0)
        return Point(A, B, f, ce, lse, pi_self, grad_C, grad_gamma)

    def masses(self, grad_C: np.ndarray, grad_gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pi, pi_self): the softmax masses whose gradient (the chain rule of `evaluate`) is (grad_C, grad_gamma).

        Inverts dA = w_b (pi[., b] + [a == b](pi_self[b] - 1)), dB = w (pi_self - 1), grad_C = dA / scale,
        grad_gamma = (dB / sqrt(n) - diag(dA) / (m sqrt(n))) / (m - 1); pi[a, b] is the mass of ALL the
        non-true classes of group a in column b, pi_self[b] that of the true class. Linear, no checks.
        """
        dA = grad_C * self.scale
        dB = self.sqrt_n * (grad_gamma * self.mult + np.diag(dA) / (self.gr.m * self.sqrt_n))
        pi_self = 1.0 + dB / self.w
        pi = dA / self.w[None, :] - np.diag(pi_self - 1.0)
        return np.where(self.count > 0, pi, 0.0), pi_self

    def centred(self, C: np.ndarray) -> np.ndarray:
        """C with the all-ones direction u1 = sqrt(m) / ||sqrt(m)|| projected out of its columns: (I - u1 u1^T) C.

        In full terms every column of Y = Z D loses its mean, i.e. each logit column a constant: the softmax
        and f are unchanged and ||C||_* does not grow (an orthogonal projection). At the optimum u1^T C = 0.
        """
        u1 = np.sqrt(self.gr.m) / np.sqrt(self.gr.m.sum())
        return C - np.outer(u1, u1 @ C)


def prox(C: np.ndarray, gamma: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Proximal map of thresh * (||C||_* + sum (m-1)|gamma|) in the metric ||Y||_F^2."""
    U, s, Vt = np.linalg.svd(C)
    C_new = (U * np.maximum(s - thresh, 0.0)) @ Vt
    g_new = np.sign(gamma) * np.maximum(np.abs(gamma) - thresh, 0.0)
    return C_new, g_new

