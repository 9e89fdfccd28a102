"""Experiment for the V = 1000 simulation target (issue 18): can L-BFGS train the unconstrained UFM to the
certified per-class losses (max |diff| <= 1e-3) for 8 lambdas, and how fast?

Two changes against `simulations.train`'s L-BFGS (which needs 82 s for 20 steps and ends at max |diff| 6.9):
  preconditioning  train G = H diag(sqrt(n)) instead of H: the data curvature of class k's feature scales with
                   n_k / N, the penalty lambda/2 n_k ||h_k||^2 becomes lambda/2 ||g_k||^2, so every class's
                   feature has the same curvature scale (rare classes no longer stall);
  lambda path      the lambdas trained from the smallest up, each starting where the previous one ended
                   (the largest lambda, whose optimum is Z = 0, would be a stationary trap as a start).
Prints, per lambda, the L-BFGS iterations, max_k |loss_k - certified optimum_k| and the running total time.
Not wired into `simulations` yet (issue 18 is open); run:  .venv/bin/python benchmarks/ufm_lbfgs_path.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from theory.counts import zipf_counts
from theory.problem import Problem
from theory.solve import solve

LAMBDAS = (1e-5, 3e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--V", type=int, default=1000)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dt = getattr(torch, args.dtype)
    counts = zipf_counts(args.V, 1.0)
    theory = {lam: solve(Problem(counts, lam, lam), "ufm-unconstrained", tol=1e-9).per_class_loss for lam in LAMBDAS}
    n = torch.tensor(counts, dtype=dt)
    N, sq = n.sum(), n.sqrt()
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(args.V, args.V, generator=g, dtype=dt) / args.V**0.5).requires_grad_()
    G = (torch.randn(args.V, args.V, generator=g, dtype=dt) / args.V**0.5 * sq).requires_grad_()
    print(f"UFM unconstrained, V = d = {args.V}, Zipf(1) counts, {args.dtype}, {args.threads} threads, "
          "preconditioned features, lambda path from the smallest")
    t0 = time.perf_counter()
    for lam in LAMBDAS:
        opt = torch.optim.LBFGS([W, G], lr=1, max_iter=10, history_size=30, line_search_fn="strong_wolfe",
                                tolerance_grad=0, tolerance_change=0)

        def objective(lam=lam):
            Z = W @ (G / sq)
            ce = torch.logsumexp(Z, 0) - torch.diagonal(Z)
            return (ce @ n) / N + lam / 2 * ((W * W).sum() + (G * G).sum()), ce

        def closure(opt=opt, objective=objective):
            opt.zero_grad()
            value = objective()[0]
            value.backward()
            return value

        iters, diff = 0, np.inf
        while diff > 1e-3 and time.perf_counter() - t0 < args.max_seconds:
            opt.step(closure)
            iters += 10
            with torch.no_grad():
                diff = float(np.abs(objective()[1].double().numpy() - theory[lam]).max())
        print(f"lambda {lam:g}: {iters} iterations, max|diff| {diff:.2e}, total {time.perf_counter() - t0:.1f} s "
              f"({'reached 1e-3' if diff <= 1e-3 else 'NOT reached'})", flush=True)
        if diff > 1e-3:
            break


if __name__ == "__main__":
    main()
