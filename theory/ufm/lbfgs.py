"""A plain L-BFGS minimiser (two-loop recursion, Armijo backtracking) for smooth functions of one vector.

Why not scipy's L-BFGS-B: on the factored UFM (713k variables at 597 count groups) its bound-handling
bookkeeping took 22 of 32 s; this loop needs ~2.5 passes over the 2m stored pairs per iteration and, with
m = 10, reached the same certified gap (1e-8, Zipf N = 1e6, V = 1000) in 25 s where scipy took 57 s, in the
same number of iterations (~375) as m = 30.

Direction d = -H g with H the L-BFGS inverse-Hessian estimate from the last m pairs (s, y), s^T y > 0,
initial scaling s^T y / y^T y (Nocedal & Wright, Alg. 7.4); step t halves until
f(x + t d) <= f(x) + 1e-4 t g^T d. A pair with s^T y <= 0 is dropped; a non-descent direction resets memory.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np
from scipy.linalg.blas import daxpy


def lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int,
          memory: int = 10, stop: Callable[[int, np.ndarray, float], bool] | None = None,
          ftol: float = 1e-16, gtol: float = 1e-14) -> np.ndarray:
    """Minimise fun (returning value and gradient) from x0; returns the last iterate.

    Stops after max_iter iterations, when `stop(iteration, x, value)` returns True, when the step
    underflows (no decrease found in 60 halvings), when max |gradient| <= gtol, or when an iteration
    lowers f by no more than ftol * max(|f|, 1) (scipy's L-BFGS-B criteria, same defaults as the caller
    used there).
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    pairs: deque = deque(maxlen=memory)  # (s, y, 1 / s^T y)
    for it in range(1, max_iter + 1):
        if not np.max(np.abs(g)) > gtol:
            break
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(pairs):
            a = rho * (s @ q)
            alphas.append(a)
            daxpy(y, q, a=-a)  # q -= a y in place (numpy's temporary doubled the cost at 713k variables)
        if pairs:
            s, y, _ = pairs[-1]
            q *= (s @ y) / (y @ y)
        else:
            q /= np.linalg.norm(g)
        for (s, y, rho), a in zip(pairs, reversed(alphas)):
            daxpy(s, q, a=a - rho * (y @ q))  # q += (a - rho y^T q) s
        slope = -(g @ q)
        if not slope < 0:  # lost descent (round-off in the memory): restart from steepest descent
            pairs.clear()
            q = g / np.linalg.norm(g)
            slope = -(g @ q)
        t = 1.0
        for _ in range(60):
            f_new, g_new = fun(x - t * q)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        step = -t * q
        y = g_new - g
        sy = step @ y
        decrease = f - f_new
        x, f, g = x + step, f_new, g_new
        if sy > 0:
            pairs.append((step, y, 1.0 / sy))
        if (stop is not None and stop(it, x, f)) or decrease <= ftol * max(abs(f), 1.0):
            break
    return x
