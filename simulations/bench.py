"""`python -m simulations bench`: how fast the UFM trains to the certified optimum.

Target of the issue: 8 lambda values x V = 1000 UFM trained until every per-class loss is within 1e-3 of
the theory, in <= 60 s on a 2-core CPU. Prints, for each V, the time to reach 1e-3 (or the distance left
when the time budget runs out) and the seconds per full-batch step: adam, lbfgs and gd train the 8 lambdas
as one batch from random starts (as `simulations run` does); lbfgs-path trains one run along the lambdas,
smallest first, each lambda starting from the previous end point. Certified optima are computed before the
clock starts.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from theory.counts import zipf_counts
from theory.problem import Problem
from theory.solve import solve

from .train import build, train

LAMBDAS = (1e-5, 3e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)


def bench_one(V: int, optimizer: str, lr: float, max_seconds: float, target: float = 1e-3,
              chunk: int = 20) -> dict:
    counts = zipf_counts(V, 1.0)
    theory = np.array([solve(Problem(counts, lam, lam), "ufm-unconstrained", tol=1e-9).per_class_loss for lam in LAMBDAS])
    batch = build("ufm-unconstrained", counts, [0] * len(LAMBDAS), V, 1, 1, 0.0)
    lam = torch.tensor(LAMBDAS, dtype=torch.float64)
    t0 = time.perf_counter()
    state = {"diff": np.inf, "step": 0}

    def stop(step, per_class):
        state["diff"] = float(np.abs(per_class - theory).max())
        state["step"] = step
        return state["diff"] <= target or time.perf_counter() - t0 > max_seconds

    train(batch, optimizer, lam, lr, steps=10**7, checkpoints=10**7 // chunk, stop=stop)
    wall = time.perf_counter() - t0
    return {"V": V, "optimizer": optimizer, "steps": state["step"], "seconds": wall,
            "max_abs_diff": state["diff"], "reached": state["diff"] <= target,
            "s_per_step": wall / max(1, state["step"])}


def bench_path(V: int, max_seconds: float, target: float = 1e-3, chunk: int = 10) -> dict:
    """One run trained along the lambda path (smallest lambda first, each lambda starting where the previous one
    ended) with L-BFGS, until every lambda is within `target` of its certified optimum or time runs out."""
    counts = zipf_counts(V, 1.0)
    optima = {lam: solve(Problem(counts, lam, lam), "ufm-unconstrained", tol=1e-9).per_class_loss for lam in LAMBDAS}
    batch = build("ufm-unconstrained", counts, [0], V, 1, 1, 0.0)
    t0 = time.perf_counter()
    steps, diff, done = 0, np.inf, 0
    for lam in sorted(LAMBDAS):
        theory = optima[lam]
        state = {"diff": np.inf, "step": 0}

        def stop(step, per_class, theory=theory):
            state["diff"], state["step"] = float(np.abs(per_class[0] - theory).max()), step
            return state["diff"] <= target or time.perf_counter() - t0 > max_seconds

        train(batch, "lbfgs", torch.tensor([lam], dtype=torch.float64), 1.0, steps=10**6, checkpoints=10**6 // chunk,
              stop=stop)
        steps, diff = steps + state["step"], state["diff"]
        if diff > target:
            break
        done += 1
    wall = time.perf_counter() - t0
    return {"V": V, "optimizer": "lbfgs-path", "steps": steps, "seconds": wall, "max_abs_diff": diff,
            "reached": done == len(LAMBDAS), "s_per_step": wall / max(1, steps), "lambdas_reached": done}


def run_bench(max_seconds: float = 60.0, sizes=(100, 300, 1000)) -> list[dict]:
    print(f"UFM (unconstrained, d = V), Zipf(1) counts, {len(LAMBDAS)} lambdas {LAMBDAS} batched, float64, "
          f"torch threads = {torch.get_num_threads()}; stop when max_k |loss_k - theory_k| <= 1e-3 "
          f"or after {max_seconds:g} s")
    rows = []
    for V in sizes:
        for optimizer, lr in (("adam", 0.01), ("lbfgs", 1.0), ("gd", 0.2), ("lbfgs-path", 1.0)):
            r = bench_path(V, max_seconds) if optimizer == "lbfgs-path" else bench_one(V, optimizer, lr, max_seconds)
            rows.append(r)
            verdict = "reached 1e-3" if r["reached"] else "NOT reached"
            if "lambdas_reached" in r:
                verdict += f" ({r['lambdas_reached']} of {len(LAMBDAS)} lambdas within 1e-3)"
            print(f"V={V:5d} {optimizer:6s} steps={r['steps']:6d} time={r['seconds']:7.1f} s "
                  f"({r['s_per_step'] * 1e3:7.1f} ms/step) max|diff|={r['max_abs_diff']:.2e}  {verdict}", flush=True)
    return rows
