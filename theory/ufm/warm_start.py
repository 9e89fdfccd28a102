"""The quasi-Newton warm start of the certified solver: L-BFGS on the factored reduced problem.

||C||_* = min_{U V^T = C} (||U||^2 + ||V||^2)/2, so the nuclear-norm problem of theory.ufm.reduced is a
smooth one in (U, V) with the same minimum value; `lbfgs_start` runs theory.ufm.lbfgs on it and checks the
duality gap (theory.ufm.dual) every few seconds.
"""

from __future__ import annotations

import time

import numpy as np

from .dual import certify_point
from .lbfgs import lbfgs
from .reduced import Reduced, prox


def lbfgs_start(red: Reduced, max_iter: int, deadline: float = np.inf, progress=None,
                 tol: float = 0.0, check_every: float = 1.0, init=None, checks: list | None = None) -> tuple:
    """Quasi-Newton warm start: L-BFGS on the factored reduced problem (smooth, no SVD per step).

    ||C||_* = min_{U V^T = C} (||U||^2 + ||V||^2)/2 and (m-1)|gamma| = min_{a b = gamma} (m-1)(a^2 + b^2)/2,
    so phi(U, V, a, b) = f(U V^T, a*b) + mu/2 (||U||^2 + ||V||^2 + sum (m-1)(a^2 + b^2)) has the same
    minimum value; with g columns the factorisation has full rank and L-BFGS captures the curvature that
    first-order steps miss. It starts from `init` = (C, gamma) when given (a warm start), else from one
    proximal-gradient step from 0. Its end point is only a start: the certificate is always computed
    afterwards. Once a check finds the singular values of C fallen off (`_width`), L-BFGS restarts from
    there on U, V of fewer columns; max_iter bounds the iterations of all phases together.
    The duality gap is checked about every `check_every` seconds (Zipf N = 1e6, g = 597: a check costs
    ~0.5 s, an iteration ~0.07 s with theory.ufm.lbfgs; never more often than every 3 check costs), and L-BFGS
    stops as soon as it is <= tol. Returns (C, gamma, certificate, iterations): `certify_point` at the end
    point when the last check was there (the caller then need not repeat it), else None; the iterations of
    all phases.
    """
    g, mu = red.gr.g, red.p.mu
    mult = red.mult
    if init is None:  # one proximal-gradient step from 0, its length searched
        C0, g0 = first_step(red)
        noise = 1e-3
    else:  # a given point (the optimum at a neighbouring lambda): keep it, a smaller nudge off its saddles
        C0, g0 = init
        noise = 1e-6
    # gamma_b = a_b b_b with weight (m_b - 1) in the metric: L-BFGS works on (a', b') = r (a, b), r = sqrt(m_b - 1),
    # in which the penalty is mu/2 (a'^2 + b'^2) like that of U and V (r up to 45 at the corpus counts, 2.6 at
    # Zipf N = 1e6, V = 1000, where it cut the iterations to gap 1e-8 from 244 to 171-182)
    r = np.sqrt(np.maximum(mult, 1.0))
    checks = [] if checks is None else checks  # (perf_counter time, gap) of each gap check
    next_check = [time.perf_counter() + check_every]
    cert = []  # [iterate, certify_point there] of the last check
    k = g  # columns of U and V
    used = 0  # iterations of the phases before this one
    while True:
        # split symmetrically between the factors: C0 = (Us sqrt(s)) (Vt^T sqrt(s))^T, gamma = a b
        Us, s, Vt = np.linalg.svd(C0)
        rng = np.random.default_rng(0)
        U0 = Us[:, :k] * np.sqrt(s[:k]) + noise * rng.standard_normal((g, k)) * np.sqrt(s.max() + 1e-12)
        V0 = Vt[:k].T * np.sqrt(s[:k]) + noise * rng.standard_normal((g, k)) * np.sqrt(s.max() + 1e-12)
        a0 = np.sqrt(np.abs(g0)) + noise
        b0 = np.sign(g0) * np.sqrt(np.abs(g0)) + noise
        x0 = np.concatenate([U0.ravel(), V0.ravel(), r * a0, r * b0])
        shrink = []  # the width to go on with, when a check finds the spectrum of C has fallen off

        def unpack(x, k=k):
            U, Vf = x[: g * k].reshape(g, k), x[g * k: 2 * g * k].reshape(g, k)
            return U, Vf, x[2 * g * k: 2 * g * k + g] / r, x[2 * g * k + g:] / r

        def fun(x):
            U, Vf, a, b = unpack(x)
            pt = red.evaluate(U @ Vf.T, a * b)
            d_gamma = pt.grad_gamma * mult  # Euclidean partial derivative in gamma
            uv = x[: 2 * g * k]  # U and V, one vector: one pass for the penalty and for its gradient
            val = pt.f + 0.5 * mu * (uv @ uv + mult @ (a * a + b * b))
            grad = np.empty_like(x)  # written in place: no temporaries of the 2 g k block
            np.matmul(pt.grad_C, Vf, out=grad[: g * k].reshape(g, k))
            np.matmul(pt.grad_C.T, U, out=grad[g * k: 2 * g * k].reshape(g, k))
            grad[: 2 * g * k] += mu * uv
            grad[2 * g * k: 2 * g * k + g] = (d_gamma * b + mu * mult * a) / r
            grad[2 * g * k + g:] = (d_gamma * a + mu * mult * b) / r
            return val, grad

        def split(x):
            U, Vf, a, b = unpack(x)
            return U @ Vf.T, np.where(red.has_gamma, a * b, 0.0)

        def stop(iteration, x, value):
            phase_iterations[0] = iteration
            now = time.perf_counter()
            gap = None
            if tol > 0 and now >= next_check[0]:
                cert[:] = [x.copy(), certify_point(red, *split(x))]
                gap = cert[1][0] - cert[1][1]
                end = time.perf_counter()
                checks.append((end, gap))
                next_check[0] = end + _check_wait(checks, end - now, check_every, tol)
                width = _width(cert[1][5], gap)
                if width < 0.7 * k:
                    shrink.append(width)
            if progress is not None:
                progress(f"L-BFGS warm start: iteration {iteration}, objective {value:.12g}"
                         + ("" if gap is None else f", gap {gap:.2e}") + ("" if k == g else f", width {k}"))
            return now > deadline or (gap is not None and gap <= tol) or bool(shrink)

        phase_iterations = [0]
        x = lbfgs(fun, x0, max_iter - used, memory=10, stop=stop)
        used += phase_iterations[0]
        last = cert[1] if cert and np.array_equal(cert[0], x) else None
        if not shrink or (last is not None and last[0] - last[1] <= tol) or time.perf_counter() > deadline \
                or used >= max_iter:
            return (*split(x), last, used)
        (C0, g0), k, noise = split(x), shrink[0], 1e-6  # restart, narrower, with the iterations left


def _width(sv: np.ndarray, gap: float) -> int:
    """Columns for U and V once the singular values sv of C have fallen off: r + max(16, r/4), where r counts
    those above 1e-7 of the largest; g (no change) while gap > 1e-3 (the spectrum is still settling).

    At the corpus counts (lambda = 1e-5, g = 1145) the spectrum drops from 6e-2 to 1e-8 of the largest at
    r ~ 250 after ~350 iterations: U V^T with ~310 columns instead of 1145 costs ~1/4 per iteration.
    """
    g = sv.size
    if not gap <= 1e-3 or not sv[0] > 0:
        return g
    r = int(np.sum(sv > 1e-7 * sv[0]))
    return min(g, r + max(16, r // 4))


def _check_wait(checks: list, cost: float, every: float, tol: float) -> float:
    """Seconds until the next gap check of the L-BFGS phase.

    At least base = max(every, 3 cost) (a check costs a few g x g SVDs: ~0.5 s at g = 597, seconds at
    g = 1145, so checks take at most ~1/4 of the time). Once the last two checks each fell by 2x or more
    (the linear regime of L-BFGS), the rate rho = log(gap_prev / gap_last) / (t_last - t_prev) predicts
    log(gap_last / tol) / rho to reach tol; wait that long (aiming one check just past tol rather than one
    just short of it and another), between base and 4 base, so a long solve checks less often while far
    from tol. every <= 0: 0.
    """
    if every <= 0:  # check at every iteration (tests)
        return 0.0
    base = max(every, 3.0 * cost)
    if len(checks) < 3:
        return base
    (_, g0), (t1, g1), (t2, g2) = checks[-3:]
    if not (tol < g2 <= 0.5 * g1 and g1 <= 0.5 * g0 and t2 > t1):
        return base
    rho = np.log(g1 / g2) / (t2 - t1)
    return float(min(max(base, np.log(g2 / tol) / rho), 4.0 * base))


def first_step(red: Reduced, lo: float = -2.0, hi: float = 8.0, evals: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """The proximal-gradient step from 0 whose length t = 2N 2^j (2N = 1/L, the safe step) minimises F.

    x(t) = prox_{t mu ||.||_*}(-t grad f(0)) = U diag(max(t sigma - t mu, 0)) V^T from one SVD of -grad f(0),
    so ||x(t)||_* is known and each trial costs one g x g product and one f: golden-section search on j in
    [lo, hi] (F along the step is unimodal in practice; the safe step j = 0 is kept if no trial beats it).
    At Zipf N = 1e6, V = 1000, lambda = 1e-5: F = 5.62 at j = 0, ~2.3 near j = 2 (F* = 1.957).
    """
    g, mu, N = red.gr.g, red.p.mu, red.p.N
    pt0 = red.evaluate(np.zeros((g, g)), np.zeros(g))
    U, sv, Vt = np.linalg.svd(-pt0.grad_C)
    gg = -pt0.grad_gamma

    def point(j):
        t = 2.0 * N * 2.0**j
        s = np.maximum(t * sv - t * mu, 0.0)
        gam = np.sign(gg) * np.maximum(np.abs(t * gg) - t * mu, 0.0)
        C = (U * s) @ Vt
        return red.evaluate(C, gam).f + mu * (s.sum() + red.mult @ np.abs(gam)), C, gam

    best = point(0.0)
    phi = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = point(c), point(d)
    for _ in range(evals - 2):
        if fc[0] <= fd[0]:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = point(c)
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = point(d)
    best = min((best, fc, fd), key=lambda r: r[0])
    return best[1], best[2]
