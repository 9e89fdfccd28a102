"""One way to the minimum of the UFM: `solve(problem, model, **options) -> SolverResult`.

In the spirit of scipy.optimize.OptimizeResult: whichever method runs, the answer has the same fields, so
the CLI, the verification and the simulations read every solver the same way. The problem (theory.ufm.problem):

    minimise  (1/N) sum_k sum_{i<=n_k} CE(W h_{k,i}, k) + (lambda_W/2)||W||_F^2 + (lambda_H/2)||H||_F^2

with H free ("ufm-unconstrained") or H >= 0 ("ufm-relu"); MODELS holds these two names, the ones every
package of the toolkit uses. Methods:
  "auto"         the default: "closed-form" for ufm-relu, "convex" for ufm-unconstrained;
  "closed-form"  exact global minimiser, d >= V: any counts for ufm-relu (theory.ufm.relu), equal counts only
                 for ufm-unconstrained (theory.ufm.balanced.balanced_closed_form); lower_bound = objective;
  "convex"       ufm-unconstrained, d >= V: accelerated proximal gradient on the convex reformulation,
                 stopped once the Fenchel duality gap is <= tol (theory.ufm.unconstrained); lower_bound is the
                 certified dual bound, so objective - gap <= the global minimum <= objective;
  "lbfgs"        either model, any d >= 1: L-BFGS-B on (W, Hbar) from `restarts` random starts
                 (theory.ufm.nonconvex). The best stationary point found, NOT certified: lower_bound is the
                 trivial 0 (every term of the objective is >= 0).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from plumbing.errors import InputError

from . import metrics
from .nonconvex import solve_nonconvex
from .problem import MODELS, Problem, check_model
from .balanced import balanced_closed_form, balanced_logits
from .relu import relu_closed_form
from .unconstrained import factors_from_logits, solve_unconstrained

__all__ = ["MODELS", "METHODS", "SolverResult", "solve"]

METHODS = ("auto", "closed-form", "convex", "lbfgs")


@dataclass(frozen=True, eq=False)
class SolverResult:
    """The answer of `solve`: the minimum found and how far from the global minimum it can be.

    per_class_loss[k] = CE of class k at the returned point (float64, the order of problem.counts);
    objective = the value of the problem's objective there; lower_bound <= the global minimum, so
    gap = objective - lower_bound >= objective - global minimum (0 for the exact closed forms).
    method is one sentence naming the algorithm. arrays holds the primal arrays the method has (lbfgs: W
    (V x d), H (d x V class-mean features)) or built on request (`solve(..., primal=True)`: Z (V x V
    logits, column k = class k), W, H); info holds the rest: iterations and seconds for the iterative
    methods, the collapsed mask (features 0, loss log V) for the closed forms, the restarts for lbfgs.
    """

    problem: Problem
    model: str
    per_class_loss: np.ndarray
    objective: float
    lower_bound: float
    method: str
    arrays: dict = field(default_factory=dict, repr=False)
    info: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        loss = np.array(self.per_class_loss, dtype=np.float64)
        loss.setflags(write=False)
        object.__setattr__(self, "per_class_loss", loss)
        object.__setattr__(self, "objective", float(self.objective))
        object.__setattr__(self, "lower_bound", float(self.lower_bound))

    @property
    def gap(self) -> float:
        """objective - lower_bound: a bound on objective - (global minimum)."""
        return self.objective - self.lower_bound

    @property
    def average_loss(self) -> float:
        """sum_k n_k l_k / N (theory.ufm.metrics.average_loss)."""
        return metrics.average_loss(self.per_class_loss, self.problem.counts)

    @property
    def balanced_loss(self) -> float:
        """(1/V) sum_k l_k (theory.ufm.metrics.balanced_loss)."""
        return metrics.balanced_loss(self.per_class_loss)


@dataclass(frozen=True)
class _Options:
    """The options of `solve`, handed to every backend (each reads the ones its method has)."""

    tol: float
    time_limit: float | None
    max_iter: int | None
    warm_start: bool
    restarts: int
    seed: int
    primal: bool
    progress: object


def _nonconvex(problem: Problem, model: str, o: _Options) -> SolverResult:
    t0 = time.perf_counter()
    r = solve_nonconvex(problem, model, restarts=o.restarts, seed=o.seed,
                        **({} if o.max_iter is None else {"max_iter": o.max_iter}))
    arrays = {"W": r.W, "H": r.H} | ({"Z": r.W @ r.H} if o.primal else {})
    info = {"iterations": r.iterations, "seconds": time.perf_counter() - t0, "restarts": o.restarts,
            "seed": o.seed, "restart_objectives": r.restart_objectives,
            "restart_grad_norms": r.restart_grad_norms, "restart_iterations": r.restart_iterations}
    return SolverResult(problem, model, r.per_class_loss, r.objective, 0.0,
                        f"L-BFGS-B on (W, H) from {o.restarts} random starts (theory.ufm.nonconvex): the best "
                        "stationary point found, not certified (lower bound 0 is the trivial one)",
                        arrays, info)


def _relu_closed_form(problem: Problem, model: str, o: _Options) -> SolverResult:
    s = relu_closed_form(problem)
    arrays = {}
    if o.primal and problem.mu > 0:
        W, H = s.factors()
        arrays = {"Z": s.logits(), "W": W, "H": H}
    info = {"collapsed": s.collapsed, "rho": s.rho, "margin": s.margin, "feature_norm": s.feature_norm,
            "weight_column_norm": s.weight_column_norm}
    return SolverResult(problem, model, s.per_class_loss, s.objective, s.objective,
                        "closed form (exact global minimiser, theory.ufm.relu)", arrays, info)


def _balanced_closed_form(problem: Problem, model: str, o: _Options) -> SolverResult:
    loss, objective = balanced_closed_form(problem)
    arrays = {}
    if o.primal and problem.mu > 0:
        Z = balanced_logits(problem)
        arrays = {"Z": Z, **dict(zip(("W", "H"), factors_from_logits(problem, Z)))}
    info = {"collapsed": np.full(problem.V, bool(loss[0] >= np.log(problem.V)))}
    return SolverResult(problem, model, loss, objective, objective,
                        "closed form of the unconstrained model with equal counts (theory.ufm.symbolic)",
                        arrays, info)


def _convex(problem: Problem, model: str, o: _Options) -> SolverResult:
    s = solve_unconstrained(problem, tol=o.tol, time_limit=o.time_limit, warm_start=o.warm_start,
                            progress=o.progress, **({} if o.max_iter is None else {"max_iter": o.max_iter}))
    arrays = {}
    if o.primal and problem.mu > 0:
        Z = s.logits()
        arrays = {"Z": Z, **dict(zip(("W", "H"), factors_from_logits(problem, Z)))}
    info = {"iterations": s.iterations, "seconds": s.seconds, "groups": s.groups.g, "history": s.history,
            "solution": s}
    # never clamped (solve_unconstrained refuses a bound above the objective beyond rounding)
    return SolverResult(problem, model, s.per_class_loss, s.objective, s.lower_bound,
                        f"accelerated proximal gradient on the symmetry-reduced convex problem "
                        f"({s.groups.g} count groups), stopped on the Fenchel duality gap", arrays, info)


BACKENDS = {  # (model, method) -> the function that solves it; "auto" is AUTO[model]
    ("ufm-relu", "closed-form"): _relu_closed_form,
    ("ufm-relu", "lbfgs"): _nonconvex,
    ("ufm-unconstrained", "closed-form"): _balanced_closed_form,
    ("ufm-unconstrained", "convex"): _convex,
    ("ufm-unconstrained", "lbfgs"): _nonconvex,
}
AUTO = {"ufm-relu": "closed-form", "ufm-unconstrained": "convex"}


def solve(problem: Problem, model: str, *, method: str = "auto", tol: float = 1e-9,
          time_limit: float | None = None, max_iter: int | None = None, warm_start: bool = True,
          restarts: int = 8, seed: int = 0, primal: bool = False, progress=None) -> SolverResult:
    """Minimise the UFM `problem` for `model` (one of MODELS) with `method` (module docstring).

    Options: tol, time_limit, max_iter (default 200,000), warm_start: the "convex" method (a time or
    iteration limit hit first leaves a gap above tol, reported as is), progress (a callable taking a
    line of text, about every 2 s; info["solution"] is the UnconstrainedSolution, for
    theory.ufm.certificate.save_solution); restarts, seed, max_iter (default
    5,000 per restart): "lbfgs". primal=True also returns Z, W, H in `arrays` (O(V^2) memory, an O(V^3)
    SVD for the unconstrained factors); with lambda_W lambda_H = 0 the infimum 0 is not attained and
    there are none. Bad input raises InputError. The backend is BACKENDS[(model, method)].
    """
    check_model(model)
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    method = AUTO[model] if method == "auto" else method
    if (model, method) not in BACKENDS:
        allowed = [m for (mod, m) in BACKENDS if mod == model]
        raise InputError(f"method {method!r} does not apply to {model}: use {' or '.join(allowed)}")
    problem.check_memory(model, method, primal)  # one line naming the GiB needed, before allocating them
    options = _Options(tol, time_limit, max_iter, warm_start, restarts, seed, primal, progress)
    return BACKENDS[(model, method)](problem, model, options)
