"""Certified global minimum of the unconstrained UFM (H free, d >= V): `solve_unconstrained`.

The convex problem F* = min_Z f(Z) + mu ||Z D||_* and its exact reduction to a g x g block: theory.ufm.reduced;
the certified lower bound (Fenchel dual): theory.ufm.dual. The solver runs L-BFGS on a factored form
(theory.ufm.warm_start), then accelerated proximal gradient (FISTA with adaptive restart and backtracking)
on (C, gamma) in the metric ||Y||_F^2, and stops when the duality gap is below `tol`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from plumbing.errors import InputError
from plumbing.validate import check_real

from .dual import certify_point
from .problem import Problem
from .reduced import Groups, Reduced, prox
from .warm_start import lbfgs_start

THREADS_FROM_G = 2500  # use more than one BLAS thread only from this many count groups (see solve_unconstrained)
LBFGS_MAX_ITER = 20_000  # at most this many of max_iter go to the L-BFGS warm start
REL = 1e-12  # rounding allowance of a negative gap, relative to max(1, |objective|)


@dataclass(frozen=True)
class UnconstrainedSolution:
    problem: Problem
    groups: Groups
    A: np.ndarray
    B: np.ndarray
    per_class_loss: np.ndarray
    objective: float
    lower_bound: float
    iterations: int
    seconds: float
    history: list = field(default_factory=list, repr=False)  # (iteration, gap) of the proximal-gradient phase
    q_other: np.ndarray | None = field(default=None, repr=False)  # the dual point (see theory.ufm.dual.dual_point)
    q_self: np.ndarray | None = field(default=None, repr=False)
    trace: list = field(default_factory=list, repr=False)  # (seconds, gap) of every gap check, both phases

    @property
    def duality_gap(self) -> float:
        """objective - lower_bound, with its sign: >= -REL max(1, |objective|) (rounding; larger is refused)."""
        return self.objective - self.lower_bound

    def logits(self) -> np.ndarray:
        """The full V x V logit matrix Z (column k = logits of class k)."""
        idx = self.groups.index
        return self.A[np.ix_(idx, idx)] + np.diag(self.B[idx])

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """W (V x d) and class-mean features Hbar (d x V) with W Hbar = Z, at the least penalty."""
        return factors_from_logits(self.problem, self.logits())

    def singular_values(self) -> np.ndarray:
        """All V singular values of Y = Z D (D = diag(sqrt n)), descending, without forming the V x V matrix.

        With Z = A[idx, idx] + diag(B[idx]), Y maps the span of the group indicators into itself, acting there
        (orthonormal basis 1_a / sqrt(m_a)) as M_ab = sqrt(m_a m_b n_b) A_ab + [a = b] sqrt(n_b) B_b (the
        reduced C); a vector summing to 0 inside group b is an eigenvector with eigenvalue sqrt(n_b) B_b. So the
        singular values are sv(C) and |sqrt(n_b) B_b| repeated m_b - 1 times. O(g^3 + V).
        """
        red = Reduced(self.problem, self.groups)  # the split of certify_point: C and gamma = sqrt(n) B
        gamma = red.sqrt_n * self.B
        C = red.scale * self.A + np.diag(gamma)
        inner = np.repeat(np.abs(gamma), red.mult.astype(int))
        return np.sort(np.concatenate([np.linalg.svd(C, compute_uv=False), inner]))[::-1]

    def rank(self, rtol: float = 1e-6) -> int:
        """rank(Z D) = rank(Z): singular values above rtol max(sigma_1, 1) (the floor 1 makes the numerically zero
        optimum Z ~ 0 of a large lambda rank 0 instead of counting its round-off). The factored model
        attains this optimum iff its width d >= rank (Y = W G needs d >= rank(Y); at d >= rank the balanced
        SVD factors give (||W||^2 + ||G||^2) / 2 = ||Y||_*, the convex problem's penalty)."""
        sv = self.singular_values()
        return int((sv > rtol * max(sv[0], 1.0)).sum())


def solve_unconstrained(problem: Problem, tol: float = 1e-9, max_iter: int = 200_000,
                        time_limit: float | None = None, warm_start: bool = True,
                        progress=None, start: UnconstrainedSolution | None = None) -> UnconstrainedSolution:
    """Certified minimiser of the unconstrained UFM: stops when the duality gap is <= tol.

    L-BFGS on the factored reduced problem gives the start (`warm_start`); accelerated proximal
    gradient then runs from there, checking the duality gap every few steps (at once, if L-BFGS already
    met it).

    Returns the best point found with its certified gap; if max_iter or time_limit is hit first the
    gap is larger than tol and says so (nothing is hidden). lambda_W lambda_H = 0 gives the infimum 0.
    progress: None or a callable taking one line of text, called about every 2 s of a long solve.
    start: a solution for the same counts (e.g. the optimum at the previous lambda of a path) from which
    L-BFGS starts instead of its step from 0 (needs warm_start); InputError for other counts.
    """
    problem.require_d_at_least_v("the convex reformulation of the unconstrained model")
    tol = check_real("tol", tol, 0.0, low_open=True)
    if time_limit is not None:
        time_limit = check_real("time_limit (seconds)", time_limit, 0.0, low_open=True)
    if start is not None and not np.array_equal(start.problem.counts, problem.counts):
        raise InputError("start must be a solution for the same counts as the problem")
    # BLAS threads on the g x g matrices: measured on 2 shared cores (OpenBLAS), a 600 x 600 SVD takes
    # 0.14 s with 1 thread and 4.4 s with 2; 1500: 1.4 s vs 5.1 s; 3000: 17.5 s vs 8.8 s. So 1 thread
    # below THREADS_FROM_G groups, all cores from there.
    with threadpool_limits(limits=1 if Groups.of(problem.counts).g < THREADS_FROM_G else None, user_api="blas"):
        return _solve(problem, tol, max_iter, time_limit, warm_start, _Throttle(progress), start)


class _Throttle:
    """Passes a progress line on at most once per `every` seconds (none at all without a sink)."""

    def __init__(self, sink, every: float = 2.0):
        self.sink, self.every, self.last = sink, every, time.perf_counter()

    def __call__(self, line: str) -> None:
        now = time.perf_counter()
        if self.sink is not None and now - self.last >= self.every:
            self.last = now
            self.sink(line)


def _solve(problem: Problem, tol: float, max_iter: int, time_limit: float | None,
           warm_start: bool, progress=None, start=None) -> UnconstrainedSolution:
    t0 = time.perf_counter()
    groups = Groups.of(problem.counts)
    g = groups.g
    if problem.mu == 0.0:
        return UnconstrainedSolution(problem, groups, np.zeros((g, g)), np.full(g, np.inf),
                                     np.zeros(problem.V), 0.0, 0.0, 0, time.perf_counter() - t0)
    checks = []  # (perf_counter time, gap) of every gap check
    red = Reduced(problem, groups)
    mu = problem.mu
    L_max = 1.0 / (2.0 * problem.N)  # Lipschitz constant of grad f in the metric ||Y||_F
    if warm_start:
        deadline = np.inf if time_limit is None else t0 + 0.8 * time_limit
        init = None
        if start is not None and start.problem.mu > 0:  # (C, gamma) of the start: the split of `singular_values`
            gamma0 = np.where(red.has_gamma, red.sqrt_n * start.B, 0.0)
            init = (red.scale * start.A + np.diag(red.sqrt_n * start.B), gamma0)
        C, gamma, cert, used = lbfgs_start(red, max_iter=min(LBFGS_MAX_ITER, max_iter), deadline=deadline,
                                           progress=progress, tol=tol, init=init, checks=checks)
        gamma = np.where(red.has_gamma, gamma, 0.0)  # (already so: split zeroes them)
    else:
        C, gamma, cert, used = np.zeros((g, g)), np.zeros(g), None, 0
    if cert is None:  # (else: the last L-BFGS check was at this point)
        cert = certify_point(red, C, gamma)
        checks.append((time.perf_counter(), cert[0] - cert[1]))
    C = cert[4]  # centred: the same softmax, a nuclear norm no larger
    L = L_max
    x_C, x_g = C, gamma
    y_C, y_g = C, gamma
    theta = 1.0
    pt_y = red.evaluate(y_C, y_g)
    history = []
    check_every = 5
    primal, lower = cert[:2]
    best = (*cert[:5], gamma)  # (objective, bound, q_other, q_self, C, gamma)
    history.append((0, primal - lower))
    it = 0
    for it in range(1, max_iter - used + 1 if primal - lower > tol else 1):
        # backtracking on the smooth part: accept L when f(x+) <= f(y) + <g, x+ - y> + L/2 ||x+ - y||^2
        while True:
            step = 1.0 / L
            nC, ng = prox(y_C - step * pt_y.grad_C, y_g - step * pt_y.grad_gamma, step * mu)
            pt_n = red.evaluate(nC, ng)
            dC, dg = nC - y_C, ng - y_g
            lin = np.sum(pt_y.grad_C * dC) + red.mult @ (pt_y.grad_gamma * dg)
            sq = np.sum(dC * dC) + red.mult @ (dg * dg)
            if pt_n.f <= pt_y.f + lin + 0.5 * L * sq + 1e-15 * abs(pt_y.f) or L >= L_max:
                break
            L = min(L * 2.0, L_max)
        # adaptive restart (O'Donoghue & Candes): momentum points uphill -> reset it
        restart = (np.sum((y_C - nC) * (nC - x_C)) + red.mult @ ((y_g - ng) * (ng - x_g))) > 0
        theta_new = 1.0 if restart else (1.0 + np.sqrt(1.0 + 4.0 * theta**2)) / 2.0
        beta = 0.0 if restart else (theta - 1.0) / theta_new
        y_C, y_g = nC + beta * (nC - x_C), ng + beta * (ng - x_g)
        x_C, x_g, theta = nC, ng, theta_new
        pt_y = pt_n if beta == 0.0 else red.evaluate(y_C, y_g)
        L = max(L / 1.5, L_max * 1e-6)  # try a longer step next time
        if it % check_every == 0:
            cert = certify_point(red, x_C, x_g)
            primal, lower = cert[:2]
            if primal - lower < best[0] - best[1]:
                best = (*cert[:5], x_g)
            history.append((it, primal - lower))
            checks.append((time.perf_counter(), primal - lower))
            if progress is not None:
                progress(f"proximal gradient: iteration {it}, objective {primal:.12g}, gap {primal - lower:.2e}")
            if primal - lower <= tol:
                break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    primal, lower, q_other, q_self, C, gamma = best
    if lower > primal + REL * max(1.0, abs(primal)):  # never clamped: weak duality says this cannot be
        raise ArithmeticError(f"the dual bound {lower!r} exceeds the objective {primal!r} beyond rounding: the "
                              "certificate is wrong (a bug, please report it)")
    pt = red.evaluate(C, gamma)
    A, B = red.AB(C, gamma)
    per_class = pt.ce[groups.index]
    return UnconstrainedSolution(problem, groups, A, B, per_class, primal, lower, used + it,
                                 time.perf_counter() - t0, history, q_other, q_self,
                                 [(t - t0, gap) for t, gap in checks])


def factors_from_logits(problem: Problem, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-penalty factorisation W Hbar = Z (W: V x d, Hbar: d x V), d >= V.

    With Y = Z D = U S V^T: W = (lambda_H/lambda_W)^(1/4) U S^(1/2), Hbar = (lambda_W/lambda_H)^(1/4)
    S^(1/2) V^T D^(-1); then (lambda_W/2)||W||^2 + (lambda_H/2) sum_k n_k ||h_k||^2 = mu ||Y||_*.
    """
    problem.require_d_at_least_v("recovering W and H from the convex solution")
    D = np.sqrt(problem.counts)
    U, s, Vt = np.linalg.svd(Z * D[None, :])
    r = (problem.lambda_h / problem.lambda_w) ** 0.25
    W = np.zeros((problem.V, problem.d))
    H = np.zeros((problem.d, problem.V))
    W[:, : s.size] = r * U * np.sqrt(s)[None, :]
    H[: s.size, :] = (np.sqrt(s)[:, None] * Vt) / r / D[None, :]
    return W, H
