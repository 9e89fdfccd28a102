"""Independent cross-check: the convex problem of theory.ufm.reduced written directly in cvxpy.

    min_Z  sum_k (n_k/N) (logsumexp(z_k) - Z[k, k]) + mu ||Z diag(sqrt(n))||_*

No symmetry reduction, no custom solver: cvxpy hands it to a conic solver (Clarabel or SCS, needing an
SDP cone for the nuclear norm and V exponential cones per log-sum-exp). cvxpy is a dev extra.
"""

from __future__ import annotations

import time

import numpy as np

from plumbing.errors import InputError

from .problem import Problem


def solve_cvxpy(problem: Problem, solver: str = "CLARABEL", **solver_opts) -> dict:
    """Solve with cvxpy; returns objective, per-class loss, logits Z, solver name and seconds."""
    import cvxpy as cp

    if solver not in cp.installed_solvers():
        raise InputError(f"solver must be one of {cp.installed_solvers()}, got {solver!r}")
    V = problem.V
    w = problem.weights
    Z = cp.Variable((V, V))
    ce = cp.hstack([cp.log_sum_exp(Z[:, k]) - Z[k, k] for k in range(V)])
    objective = w @ ce + problem.mu * cp.normNuc(Z @ np.diag(np.sqrt(problem.counts)))
    prob = cp.Problem(cp.Minimize(objective))
    t0 = time.perf_counter()
    prob.solve(solver=solver, **solver_opts)
    seconds = time.perf_counter() - t0
    Zv = np.asarray(Z.value)
    return {"objective": float(prob.value), "per_class_loss": np.asarray(ce.value, np.float64),
            "logits": Zv, "solver": solver, "status": prob.status, "seconds": seconds}
