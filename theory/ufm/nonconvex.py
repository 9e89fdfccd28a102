"""Direct non-convex minimisation of the collapsed UFM in (W, Hbar), for any feature dimension d.

After within-class collapse (class k's n_k samples share the feature h_k, column k of Hbar, d x V):
    F(W, Hbar) = sum_k (n_k/N) CE(W h_k, k) + (lambda_W/2)||W||_F^2 + (lambda_H/2) sum_k n_k ||h_k||^2,
    CE(z, k) = logsumexp(z) - z_k,   W: V x d.
Models (theory.ufm.problem.MODELS): "ufm-unconstrained" (Hbar free) and "ufm-relu" (Hbar >= 0 elementwise).
Unlike `relu` and
`unconstrained`, nothing here assumes d >= V: this is the tool for probing that assumption. The price is
that L-BFGS-B only finds stationary points, so we run several random restarts and report all of them;
with lambda_W lambda_H = 0 the infimum is not attained and the iterates grow until max_iter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from plumbing.validate import check_int

from .problem import Problem, check_model


def per_class_loss(W: np.ndarray, H: np.ndarray) -> np.ndarray:
    """CE(W h_k, k) = logsumexp(W h_k) - (W h_k)_k for each class k (length V; overflow-free)."""
    Z = W @ H
    return logsumexp(Z, axis=0) - np.diag(Z)


def objective_and_grad(problem: Problem, W: np.ndarray, H: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """F(W, Hbar) and its exact gradient (see the module docstring for F).

    With Z = W Hbar, P = column-wise softmax of Z and G = (P - I) diag(n/N):
        dF/dW = G Hbar^T + lambda_W W,    dF/dHbar = W^T G + lambda_H Hbar diag(n).
    Shapes: W is V x d, H is d x V (any d >= 1). The constraint of the "ufm-relu" model is not applied here.
    """
    n, wts = problem.counts, problem.weights
    Z = W @ H
    lse = logsumexp(Z, axis=0)
    ce = lse - np.diag(Z)
    value = float(wts @ ce + 0.5 * problem.lambda_w * np.sum(W * W)
                  + 0.5 * problem.lambda_h * np.sum(n * np.sum(H * H, axis=0)))
    G = np.exp(Z - lse[None, :])
    G[np.diag_indices_from(G)] -= 1.0
    G *= wts[None, :]
    gW = G @ H.T + problem.lambda_w * W
    gH = W.T @ G + problem.lambda_h * H * n[None, :]
    return value, gW, gH


def projected_gradient_norm(model: str, H: np.ndarray, gW: np.ndarray, gH: np.ndarray) -> float:
    """Max-norm of x - proj(x - grad F): the plain gradient for "ufm-unconstrained"; for "ufm-relu" the H
    part is H - max(H - gH, 0), which vanishes at a KKT point of min F s.t. H >= 0."""
    if check_model(model) == "ufm-relu":
        gH = H - np.maximum(H - gH, 0.0)
    return float(max(np.max(np.abs(gW)), np.max(np.abs(gH))))


@dataclass(frozen=True)
class NonconvexResult:
    problem: Problem
    model: str
    objective: float  # best F over restarts
    W: np.ndarray  # V x d at the best restart
    H: np.ndarray  # d x V class-mean features at the best restart
    per_class_loss: np.ndarray  # CE(W h_k, k) at the best restart
    restart_objectives: tuple  # final F of every restart, in restart order
    restart_grad_norms: tuple  # final projected-gradient max-norm of every restart
    restart_iterations: tuple  # L-BFGS-B iterations of every restart

    @property
    def iterations(self) -> int:
        """Total L-BFGS-B iterations over all restarts."""
        return int(sum(self.restart_iterations))


def solve_nonconvex(problem: Problem, model: str, restarts: int = 8, seed: int = 0, init_scale: float = 1.0,
                    max_iter: int = 5000, gtol: float = 1e-10, ftol: float = 1e-15) -> NonconvexResult:
    """Minimise F(W, Hbar) (module docstring) with L-BFGS-B from `restarts` random starts.

    Starts: W and Hbar entries iid N(0, init_scale^2 / d) from np.random.default_rng(seed); for "ufm-relu"
    Hbar starts at |N(.)| and carries bounds (0, None). Each restart stops at max_iter iterations, a
    projected-gradient max-norm <= gtol, or a relative decrease <= ftol. The best restart is returned;
    it is a stationary point, not certified global (compare with `relu_closed_form` or
    `solve_unconstrained` when d >= V). Any d >= 1 is allowed.
    """
    check_model(model)
    check_int("restarts", restarts, 1)
    V, d = problem.V, problem.d
    nW = V * d
    rng = np.random.default_rng(seed)
    bounds = [(None, None)] * nW + [(0.0, None)] * (d * V) if model == "ufm-relu" else None

    def fun(x):
        f, gW, gH = objective_and_grad(problem, x[:nW].reshape(V, d), x[nW:].reshape(d, V))
        return f, np.concatenate([gW.ravel(), gH.ravel()])

    runs = []
    # small matrices: one BLAS thread is several times faster than two on a 2-core machine
    with threadpool_limits(limits=1 if V * d <= 250_000 else None, user_api="blas"):
        for _ in range(restarts):
            runs.append(_restart(problem, model, fun, rng, bounds, init_scale, max_iter, gtol, ftol))
    best = min(runs, key=lambda r: r[0])
    W, H = best[1], best[2]
    for a in (W, H):
        a.setflags(write=False)
    return NonconvexResult(problem, model, best[0], W, H, per_class_loss(W, H),
                           tuple(r[0] for r in runs), tuple(r[3] for r in runs), tuple(r[4] for r in runs))


def _restart(problem, model, fun, rng, bounds, init_scale, max_iter, gtol, ftol):
    """One L-BFGS-B run from a random start: (F, W, H, projected-gradient norm, iterations)."""
    V, d = problem.V, problem.d
    nW = V * d
    W0 = rng.normal(scale=init_scale / np.sqrt(d), size=(V, d))
    H0 = rng.normal(scale=init_scale / np.sqrt(d), size=(d, V))
    if model == "ufm-relu":
        H0 = np.abs(H0)
    res = minimize(fun, np.concatenate([W0.ravel(), H0.ravel()]), jac=True, method="L-BFGS-B",
                   bounds=bounds, options={"maxiter": max_iter, "maxfun": 4 * max_iter,
                                           "ftol": ftol, "gtol": gtol, "maxcor": 30})
    W, H = res.x[:nW].reshape(V, d).copy(), res.x[nW:].reshape(d, V).copy()
    if model == "ufm-relu":
        H = np.maximum(H, 0.0)
    f, gW, gH = objective_and_grad(problem, W, H)
    return f, W, H, projected_gradient_norm(model, H, gW, gH), int(res.nit)


def spurious_minima(result, optimum: float, tol: float, grad_tol: float = 1e-5) -> int:
    """Restarts that converged (projected-gradient max-norm <= grad_tol) to F > optimum + tol.

    These are local minima or saddles where L-BFGS-B stopped; restarts that did not converge are not
    counted. `result` is a NonconvexResult or the SolverResult of `theory.ufm.solve.solve(..., method="lbfgs")`
    (whose info holds the restarts); `optimum` is the global minimum (e.g. from `solve`).
    """
    info = getattr(result, "info", None)
    objectives, norms = ((info["restart_objectives"], info["restart_grad_norms"]) if info is not None
                         else (result.restart_objectives, result.restart_grad_norms))
    return int(sum(1 for f, g in zip(objectives, norms) if g <= grad_tol and f > optimum + tol))
