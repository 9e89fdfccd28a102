"""Per-class weight decay in the UFM: the mitigation that a decay scaled by class could bring (issue 17).

Model. After within-class collapse, with per-row strengths lw_j on W (row j = class j's output vector, what
an LM's output layer holds per token) and per-class strengths lh_k on the class-mean features,
    F(W, H) = sum_k w_k CE(W h_k, k) + (1/2) sum_j lw_j ||W[j, :]||^2 + (1/2) sum_k lh_k n_k ||h_k||^2,
w_k = n_k / N. Uniform decay is lw_j = lambda_W, lh_k = lambda_H.

ReLU UFM (H >= 0, d >= V) with per-class FEATURE decay lh_k and uniform lambda_W: the derivation of
`symbolic.relu_closed_form` goes through class by class with lambda_H replaced by lh_k
(`symbolic.relu_perclass_closed_form`), so rho_k = N sqrt(lambda_W lh_k (V-1)/(V n_k)) and the losses of
`relu.relu_margins` with mu_k = sqrt(lambda_W lh_k). The schedule lh_k = lambda_H n_k / mean(n) (mean
strength unchanged) makes rho_k = sqrt(N lambda_W lambda_H (V-1)) the same for every class: every class then
has the loss that a class of the mean count N/V has under uniform decay (`equalising_schedule`).
Per-ROW decay of W does not decouple in the ReLU model (class k's logits read every row of W); it is covered
below for the unconstrained model only.

Unconstrained UFM (d >= V), any positive lw, lh: minimising the penalty over factorisations W H = Z gives
    min (1/2)(||L W||^2 + ||H R||^2) over W H = Z  =  ||L Z R||_*,   L = diag(sqrt(lw)), R = diag(sqrt(lh n))
(substitute W' = L W, H' = H R: the uniform result on Z' = L Z R). So F* = min_Z f(Z) + ||L Z R||_*, convex.
Certificate (`certify_perclass`): for any M with ||L^{-1} M R^{-1}||_2 <= 1, ||L Z R||_* >= <M, Z>, so
F* >= min_Z f(Z) + <M, Z> = sum_k w_k H(q_k) when M's column k is -w_k s (p_k - e_k): q_k = (1 - s) e_k + s p_k
(H = entropy). From a point Z with softmax columns P we take s = min(1, 1 / ||L^{-1} (P - I) diag(w) R^{-1}||_2);
the gap F(Z) - bound bounds F(Z) - F*. For lw = lambda_W, lh = lambda_H it is the bound of
`theory.ufm.dual.certify_full` before its clipping step.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, xlogy

from plumbing.errors import InputError

from .problem import check_counts, check_model
from .relu import relu_margins


def _strengths(name: str, value, V: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (V,)).copy()
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"{name} must be finite and > 0 for every class, got {value!r}")
    return arr


def equalising_schedule(counts, lam: float) -> np.ndarray:
    """lh_k = lam n_k / mean(n): per-class strengths with mean lam that give every ReLU class the same rho."""
    n = check_counts(counts)
    return lam * n / n.mean()


def relu_perclass(counts, lambda_w: float, lh) -> dict:
    """Closed-form minimum of the ReLU UFM with per-class feature decay lh_k (uniform lambda_W), d >= V:
    {"rho", "collapsed", "per_class_loss", "margin", "objective", "W", "H"} (W, H: an explicit minimiser at d = V
    whose objective_and_grad value is "objective")."""
    n = check_counts(counts)
    V, N = n.size, float(n.sum())
    lh = _strengths("lh", lh, V)
    if not (np.isscalar(lambda_w) and np.isfinite(lambda_w) and lambda_w > 0):
        raise InputError(f"lambda_w must be one finite number > 0 (uniform over W), got {lambda_w!r}")
    mu = np.sqrt(lambda_w * lh)
    rho, collapsed, loss, margin = relu_margins(V, N, n, mu)
    price = mu * np.sqrt(n * (V - 1) / V)
    # the explicit minimiser (as relu.ReluSolution.factors, class k's penalty split with its own lh_k):
    # weight column m_k (e_k - 1/V), feature s_k e_k, t_k = s_k m_k, m_k^2 = t_k sqrt(lh_k n_k V / (lambda_W (V-1)))
    lw = float(lambda_w)
    m = np.sqrt(margin * np.sqrt(lh * n * V / (lw * (V - 1))))
    W = m[None, :] * (np.eye(V) - 1.0 / V)
    H = np.diag(np.sqrt(margin * np.sqrt(lw * (V - 1) / (lh * n * V))))
    return {"rho": rho, "collapsed": collapsed, "per_class_loss": loss, "margin": margin,
            "objective": float((n / N) @ loss + price @ margin), "W": W, "H": H}


def objective_and_grad(counts: np.ndarray, lw: np.ndarray, lh: np.ndarray, W: np.ndarray, H: np.ndarray):
    """F(W, H) of the module docstring and its gradient: with G = (P - I) diag(w),
    dF/dW = G H^T + diag(lw) W,  dF/dH = W^T G + H diag(lh n)."""
    n = counts
    w = n / n.sum()
    Z = W @ H
    lse = logsumexp(Z, axis=0)
    value = float(w @ (lse - np.diag(Z)) + 0.5 * lw @ np.sum(W * W, axis=1)
                  + 0.5 * (lh * n) @ np.sum(H * H, axis=0))
    G = np.exp(Z - lse[None, :])
    G[np.diag_indices_from(G)] -= 1.0
    G *= w[None, :]
    return value, G @ H.T + lw[:, None] * W, W.T @ G + H * (lh * n)[None, :]


def solve_perclass_nonconvex(counts, lw, lh, model: str, restarts: int = 6, seed: int = 0,
                             max_iter: int = 20_000) -> list[dict]:
    """L-BFGS-B on (W, H) at d = V from `restarts` random starts (H >= 0 for "ufm-relu"); one dict per restart
    {"objective", "W", "H", "per_class_loss"}, best first. Only stationary points: `certify_perclass` (the
    unconstrained model) or `relu_perclass` (ReLU) say whether one is the global minimum."""
    n = check_counts(counts)
    V = n.size
    lw, lh = _strengths("lw", lw, V), _strengths("lh", lh, V)
    relu = check_model(model) == "ufm-relu"
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(restarts):
        x0 = np.concatenate([rng.standard_normal(V * V), np.abs(rng.standard_normal(V * V))]) * 0.5

        def fun(x):
            W, H = x[: V * V].reshape(V, V), x[V * V:].reshape(V, V)
            f, gW, gH = objective_and_grad(n, lw, lh, W, H)
            return f, np.concatenate([gW.ravel(), gH.ravel()])

        bounds = [(None, None)] * (V * V) + [(0.0, None) if relu else (None, None)] * (V * V)
        res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 30})
        W, H = res.x[: V * V].reshape(V, V), res.x[V * V:].reshape(V, V)
        Z = W @ H
        out.append({"objective": float(res.fun), "W": W, "H": H,
                    "per_class_loss": logsumexp(Z, axis=0) - np.diag(Z)})
    return sorted(out, key=lambda r: r["objective"])


def certify_perclass(counts, lw, lh, Z: np.ndarray) -> dict:
    """Objective, Fenchel lower bound and gap of logits Z for the unconstrained UFM with per-class decay
    (module docstring), from the full V x V matrices (float64, log-sum-exp); the gap is not clamped."""
    n = check_counts(counts)
    V = n.size
    lw, lh = _strengths("lw", lw, V), _strengths("lh", lh, V)
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape != (V, V) or not np.all(np.isfinite(Z)):
        raise InputError(f"Z must be a finite {V} x {V} matrix, got shape {Z.shape}")
    w = n / n.sum()
    L, R = np.sqrt(lw), np.sqrt(lh * n)
    lse = logsumexp(Z, axis=0)
    ce = lse - np.diag(Z)
    primal = float(w @ ce + np.linalg.svd(L[:, None] * Z * R[None, :], compute_uv=False).sum())
    P = np.exp(Z - lse[None, :])
    G = (P - np.eye(V)) * w[None, :]
    norm = float(np.linalg.norm(G / L[:, None] / R[None, :], 2))
    s = 1.0 if norm <= 1.0 else 1.0 / norm
    Q = (1.0 - s) * np.eye(V) + s * P
    lower = float(w @ (-xlogy(Q, Q).sum(axis=0)))
    return {"objective": primal, "lower_bound": lower, "duality_gap": primal - lower, "per_class_loss": ce}


# ---- schedules bounded by uniform decay (issue 24): 0 < lambda_k <= lambda for every class

def capped_schedule(counts, lam: float, n_ref: float) -> np.ndarray:
    """lambda_k = lam min(1, n_k / n_ref): classes at or above the reference count get uniform decay, rarer ones
    a strength proportional to their count, so max_k lambda_k <= lam (bounded by uniform decay)."""
    n = check_counts(counts)
    if not (np.isfinite(n_ref) and n_ref > 0):
        raise InputError(f"n_ref must be finite and > 0, got {n_ref!r}")
    return lam * np.minimum(1.0, n / float(n_ref))


def occurrence_schedule(counts, lam: float, tokens: float) -> np.ndarray:
    """lambda_k = lam P(class k occurs among `tokens` draws) = lam (1 - (1 - n_k/N)^T), T = tokens = B L.

    The time-averaged strength of "decay row k only at steps whose batch holds token k" (derivation and
    assumptions: `symbolic.bounded_schedules`): T tokens drawn i.i.d. from the frequencies n_k/N at every step,
    and a learning rate small enough that the decay seen over many steps is its mean. T may be real (the formula
    is smooth in T) so that a root finder can move it; a batch has an integer T >= 1. Computed as
    -expm1(T log1p(-p)) so that rare classes keep their relative precision (p T ~ 1e-12 is not rounded to 0)."""
    n = check_counts(counts)
    if not (np.isfinite(tokens) and tokens > 0):
        raise InputError(f"tokens (B L) must be finite and > 0, got {tokens!r}")
    p = n / n.sum()
    return lam * -np.expm1(float(tokens) * np.log1p(-p))


def solve_perclass_unconstrained(counts, lw, lh, x0: np.ndarray | None = None, seed: int = 0,
                                 max_iter: int = 20_000, gap_tol: float = 1e-8, polish: int = 4) -> dict:
    """The unconstrained UFM with per-class decay (module docstring) at d = V by L-BFGS on preconditioned factors:
    A = diag(sqrt lw) W, B = H diag(sqrt(lh n)), so F = sum_k w_k CE(z_k, k) + (1/2)(||A||^2 + ||B||^2) with
    Z = diag(1/sqrt lw) A B diag(1/sqrt(lh n)): every class then has the same penalty curvature, which the plain
    (W, H) form of `solve_perclass_nonconvex` lacks. Same minimum (a change of variables). x0: a previous result's
    "x" (a warm start along a path of schedules). While the certified gap exceeds gap_tol, L-BFGS is restarted from
    its end point (fresh curvature memory) up to `polish` times. Returns {"Z", "x", "iterations"} plus the
    certificate of `certify_perclass` (objective, lower_bound, duality_gap, per_class_loss): the gap, not the
    optimizer's stopping rule, says whether Z is the minimum."""
    n = check_counts(counts)
    V = n.size
    lw, lh = _strengths("lw", lw, V), _strengths("lh", lh, V)
    w = n / n.sum()
    L, R = np.sqrt(lw), np.sqrt(lh * n)
    scale = 1.0 / (L[:, None] * R[None, :])

    def fun(x):
        A, B = x[: V * V].reshape(V, V), x[V * V:].reshape(V, V)
        Z = (A @ B) * scale
        lse = logsumexp(Z, axis=0)
        value = float(w @ (lse - np.diag(Z)) + 0.5 * (np.sum(A * A) + np.sum(B * B)))
        G = np.exp(Z - lse[None, :])
        G[np.diag_indices_from(G)] -= 1.0
        G = G * w[None, :] * scale  # dF/d(AB)
        return value, np.concatenate([(G @ B.T + A).ravel(), (A.T @ G + B).ravel()])

    if x0 is None:
        x0 = np.random.default_rng(seed).standard_normal(2 * V * V) * 0.5
    elif np.shape(x0) != (2 * V * V,) or not np.all(np.isfinite(x0)):
        raise InputError(f"x0 must be a finite vector of length 2 V^2 = {2 * V * V}")
    x, iterations = np.asarray(x0, dtype=np.float64), 0
    for _ in range(1 + polish):
        res = minimize(fun, x, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 30})
        x, iterations = res.x, iterations + int(res.nit)
        Z = (x[: V * V].reshape(V, V) @ x[V * V:].reshape(V, V)) * scale
        cert = certify_perclass(n, lw, lh, Z)
        if cert["duality_gap"] <= gap_tol:
            break
    return {"Z": Z, "x": x, "iterations": iterations, **cert}
