"""The unconstrained UFM trained along a lambda path with L-BFGS, at the width its optimum needs.

Objective (theory's, in simulations.train's preconditioned features G = H diag(sqrt n)):
    f(W, G) = (1/N) sum_k n_k CE(W g_k / sqrt(n_k), k) + lambda/2 (||W||^2 + ||G||^2),   W: V x d, G: d x V,
equal to theory's (1/N) sum_k n_k CE(W h_k, k) + lambda/2 (||W||^2 + sum_k n_k ||h_k||^2) with h_k = g_k / sqrt(n_k).

Width. Y = W G = Z D has rank <= d, and min over W G = Y of (||W||^2 + ||G||^2) / 2 is ||Y||_* once d >= rank(Y)
(the balanced SVD factors attain it). So the factored model reaches the certified convex optimum Y* iff
d >= rank(Y*) (theory.ufm.unconstrained.UnconstrainedSolution.rank); below, it cannot represent Y*. Each lambda gets
d = min(V, rank + margin): the margin (an eighth of the rank, at least 8) leaves L-BFGS room to rotate. At
Zipf V = 1000 the rank is 999 for lambda <= 1e-4 but 73 at 5e-4 and 0 at 5e-3.

Path. Lambdas ascending, each starting where the previous one ended (the largest lambda's optimum Z = 0 is a
stationary trap as a start). When the width shrinks, the factors are cut to the top-d singular directions of
Y = W G, balanced (W = U S^1/2, G = S^1/2 V^T; computed from QR factors of W and G^T, O(V d^2)): the best
rank-d approximation of the current point, a warm start only. A lambda is done when every per-class loss is
within `tol` of its certified optimum (checked every `chunk` L-BFGS iterations); the path stops when the
time budget runs out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from plumbing.errors import InputError
from theory.ufm.problem import Problem
from theory.ufm.unconstrained import UnconstrainedSolution, solve_unconstrained

# L-BFGS pairs. V = 1000 path, 2 cores (seconds for all 8 lambdas): 3 pairs 60.3, 5 pairs 57.3 and 55.3, 10 pairs
# 67.5, 20 pairs 69.7: each pair costs two passes over the 2 V d parameters per iteration, and more of them did not
# save iterations here
HISTORY = 5


@dataclass
class PathStep:
    """One lambda of the path: width used, L-BFGS iterations, cumulative seconds, distance to the optimum."""

    lam: float
    width: int
    iterations: int
    seconds: float
    max_abs_diff: float
    reached: bool
    loss: np.ndarray  # (V,) per-class loss at the end of this lambda


def certified_optima(counts: np.ndarray, lambdas, tol: float = 1e-9, time_limit: float | None = None,
                     start: UnconstrainedSolution | None = None) -> dict[float, UnconstrainedSolution]:
    """theory's certified optimum (lambda_W = lambda_H = lambda, d >= V) of every lambda > 0.

    Solved in increasing lambda, each from the optimum of the one before (a warm start: along a path the
    optima move little), the first from `start` when given (the optimum at a neighbouring lambda)."""
    for lam in lambdas:
        if not (np.isfinite(lam) and lam > 0):
            raise InputError(f"path lambdas must be finite and > 0, got {lam!r}")
    out = {}
    for lam in sorted(float(x) for x in lambdas):
        out[lam] = start = solve_unconstrained(Problem(counts, lam, lam), tol=tol, time_limit=time_limit,
                                               start=start)
    return {float(lam): out[float(lam)] for lam in lambdas}


def width_for(rank: int, V: int) -> int:
    """d = min(V, rank + max(8, rank / 8)): the rank the theory needs plus room to move."""
    return int(min(V, rank + max(8, math.ceil(rank / 8))))


def truncate(W: torch.Tensor, G: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced factors (W', G') of width d of the best rank-d approximation of Y = W G."""
    Qw, Rw = torch.linalg.qr(W)
    Qg, Rg = torch.linalg.qr(G.T)
    U, S, Vh = torch.linalg.svd(Rw @ Rg.T)
    root = S[:d].sqrt()
    return (Qw @ U[:, :d]) * root, root[:, None] * (Vh[:d] @ Qg.T)


def train_path(counts: np.ndarray, optima: dict[float, np.ndarray], widths: dict[float, int], *,
               device: str = "cpu", dtype: torch.dtype = torch.float64, tol: float = 1e-3,
               max_seconds: float = math.inf, chunk: int = 10, seed: int = 0, progress=None) -> list[PathStep]:
    """Train one UFM along sorted(optima) (see the module docstring); returns one PathStep per lambda reached
    or tried (the first one not reached ends the path). optima: lambda -> certified per-class loss (V,);
    widths: lambda -> d. Raises InputError if the loss becomes NaN or inf."""
    lambdas = sorted(optima)
    counts = np.asarray(counts, dtype=np.float64)
    V = counts.size
    for lam in lambdas:
        if not 1 <= widths[lam] <= V:
            raise InputError(f"width for lambda {lam:g} must be in 1..V = {V}, got {widths[lam]!r}")
    n = torch.as_tensor(counts, dtype=dtype, device=device)
    N, sqrt_n = n.sum(), n.sqrt()
    d = widths[lambdas[0]]
    gen = torch.Generator().manual_seed(int(seed))
    W = (torch.randn(V, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).to(device, dtype)
    G = (torch.randn(d, V, generator=gen, dtype=torch.float64) / math.sqrt(d)).to(device, dtype) * sqrt_n
    t0 = time.perf_counter()
    steps: list[PathStep] = []
    for lam in lambdas:
        if widths[lam] < W.shape[1]:
            W, G = truncate(W, G, widths[lam])
        W, G = W.contiguous().requires_grad_(True), G.contiguous().requires_grad_(True)
        target = torch.tensor(np.array(optima[lam], dtype=np.float64))
        # strong-Wolfe line search: a lean Armijo-only L-BFGS cost 30% less per iteration at V = 1000 but needed
        # 40% more iterations (89 s against 82 s for the 8 lambdas)
        opt = torch.optim.LBFGS([W, G], lr=1, max_iter=chunk, history_size=HISTORY, line_search_fn="strong_wolfe",
                                tolerance_grad=0, tolerance_change=0)

        def per_class():
            Z = W @ (G / sqrt_n)
            return torch.logsumexp(Z, dim=0) - torch.diagonal(Z)

        def closure():
            # f and its gradient by hand (autograd kept extra V x V temporaries): with H = G / sqrt(n), Z = W H,
            # P = column softmax of Z, dZ = (P - I) diag(n) / N: df/dW = dZ H^T + lam W, df/dG = (W^T dZ) / sqrt(n)
            # + lam G
            with torch.no_grad():
                H = G / sqrt_n
                Z = W @ H
                lse = torch.logsumexp(Z, dim=0)
                value = (lse - torch.diagonal(Z)) @ n / N + lam / 2 * ((W * W).sum() + (G * G).sum())
                dZ = torch.exp(Z.sub_(lse)).mul_(n / N)
                dZ.diagonal().sub_(n / N)
                W.grad = torch.addmm(W, dZ, H.T, beta=lam)
                G.grad = (W.T @ dZ).div_(sqrt_n).add_(G, alpha=lam)
            return value

        iterations, diff, loss = 0, math.inf, None
        while True:
            with torch.no_grad():
                loss = per_class().double().cpu()
            if not torch.isfinite(loss).all():
                raise InputError(f"UFM path training diverged (loss NaN/inf) at lambda {lam:g}, iteration {iterations}")
            diff = float((loss - target).abs().max())
            if diff <= tol or time.perf_counter() - t0 > max_seconds:
                break
            opt.step(closure)
            iterations += chunk
            if progress is not None:
                progress(lam, iterations, diff)
        W, G = W.detach(), G.detach()
        steps.append(PathStep(lam, W.shape[1], iterations, time.perf_counter() - t0, diff, diff <= tol, loss.numpy()))
        if diff > tol:
            break
    return steps

