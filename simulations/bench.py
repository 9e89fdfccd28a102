"""`python -m simulations bench`: how fast the UFM trains to the certified optimum.

Target of the issue: 8 lambda values x V = 1000 UFM trained until every per-class loss is within 1e-3 of
the theory, in <= 60 s on a 2-core CPU. Prints, for each V, the time to reach 1e-3 (or the distance left
when the time budget runs out) and the seconds per full-batch step: adam, lbfgs and gd train the 8 lambdas
as one batch from random starts (as `simulations run` does); lbfgs-path trains one run along the lambdas,
smallest first, each lambda starting from the previous end point, at the width its certified optimum needs
(simulations.ufm_path; lbfgs-path-d=V keeps d = V). Certified optima are computed before the clock starts.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from theory.ufm.counts import zipf_counts

from .train import build, train
from .ufm_path import certified_optima, train_path, width_for

LAMBDAS = (1e-5, 3e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)


def bench_one(counts: np.ndarray, theory: np.ndarray, optimizer: str, lr: float, max_seconds: float,
              target: float = 1e-3, chunk: int = 20) -> dict:
    """The 8 lambdas batched from random starts at d = V; theory: (8, V) certified per-class losses."""
    V = counts.size
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


def bench_path(counts: np.ndarray, solutions: dict, max_seconds: float, target: float = 1e-3,
               full_width: bool = False) -> dict:
    """One run trained along the lambda path with L-BFGS (simulations.ufm_path): at each lambda the width is
    min(V, rank of the certified optimum + margin), or V with `full_width`; until every lambda is within
    `target` of its certified optimum or time runs out. solutions: lambda -> certified optimum."""
    V = counts.size
    optima = {lam: s.per_class_loss for lam, s in solutions.items()}
    widths = {lam: V if full_width else width_for(s.rank(), V) for lam, s in solutions.items()}
    steps = train_path(counts, optima, widths, tol=target, max_seconds=max_seconds)
    last = steps[-1]
    done = sum(s.reached for s in steps)
    iters = sum(s.iterations for s in steps)
    return {"V": V, "optimizer": "lbfgs-path" + ("-d=V" if full_width else ""), "steps": iters,
            "seconds": last.seconds, "max_abs_diff": last.max_abs_diff, "reached": done == len(LAMBDAS),
            "s_per_step": last.seconds / max(1, iters), "lambdas_reached": done,
            "widths": [s.width for s in steps]}


def run_bench(max_seconds: float = 60.0, sizes=(100, 1000)) -> list[dict]:
    """Each size with every optimizer, then lbfgs-path at doubling V from the largest size it reached until it
    no longer reaches 1e-3 within the budget; prints the largest V reached."""
    print(f"UFM (unconstrained), Zipf(1) counts, {len(LAMBDAS)} lambdas {LAMBDAS}, float64, "
          f"torch threads = {torch.get_num_threads()}; stop when max_k |loss_k - theory_k| <= 1e-3 for every lambda "
          f"or after {max_seconds:g} s (certified optima computed before the clock starts)")
    print("adam, lbfgs, gd: the lambdas batched from random starts at d = V; lbfgs-path: one run along the lambdas "
          "at d = rank of the optimum + margin (lbfgs-path-d=V: at d = V)")
    rows = []

    def show(r):
        rows.append(r)
        verdict = "reached 1e-3" if r["reached"] else "NOT reached"
        if "lambdas_reached" in r:
            verdict += f" ({r['lambdas_reached']} of {len(LAMBDAS)} lambdas within 1e-3; widths {r['widths']})"
        print(f"V={r['V']:5d} {r['optimizer']:16s} steps={r['steps']:6d} time={r['seconds']:7.1f} s "
              f"({r['s_per_step'] * 1e3:7.1f} ms/step) max|diff|={r['max_abs_diff']:.2e}  {verdict}", flush=True)
        return r

    def problem(V):  # counts and certified optima, once per V (before any clock starts)
        counts = zipf_counts(V, 1.0)
        return counts, certified_optima(counts, LAMBDAS)

    for V in sizes:
        counts, solutions = problem(V)
        theory = np.array([solutions[lam].per_class_loss for lam in LAMBDAS])
        for optimizer, lr in (("adam", 0.01), ("lbfgs", 1.0), ("gd", 0.2)):
            show(bench_one(counts, theory, optimizer, lr, max_seconds))
        show(bench_path(counts, solutions, max_seconds, full_width=True))
        show(bench_path(counts, solutions, max_seconds))
    reached = [r["V"] for r in rows if r["optimizer"] == "lbfgs-path" and r["reached"]]
    V = max(sizes)
    while reached and max(reached) == V:
        V *= 2
        if show(bench_path(*problem(V), max_seconds))["reached"]:
            reached.append(V)
    print(f"largest V with every lambda within 1e-3 in {max_seconds:g} s (lbfgs-path): "
          f"{max(reached) if reached else 'none'}")
    return rows
