"""`python -m theory bench`: certified-solve speed of the unconstrained UFM, and cvxpy side by side.

Problem: Zipf(1) counts n_k = round(V/k) (theory.counts.zipf_counts), lambda_W = lambda_H = 0.5 / N
(per-sample decay c = lambda N = 0.5: the rarest classes are near collapse, the frequent ones are not).
Targets (issue 2): V = 1000 to a gap <= 1e-8 in <= 10 s; >= 50x faster than cvxpy at V = 100;
V >= 5000 within 10 minutes. Also timed: counts with no ties (no symmetry to exploit, g = V).
"""

from __future__ import annotations

import time

import numpy as np

from .counts import zipf_counts
from .problem import Problem
from .unconstrained import certify_full, solve_unconstrained

C = 0.5
TOL = 1e-8


def _problem(counts) -> Problem:
    return Problem.from_scale(counts, C)


def _line(label, V, s, extra="") -> None:
    ok = "yes" if s.duality_gap <= TOL else "NO"
    print(f"{label:<22} V={V:<6} groups={s.groups.g:<5} iters={s.iterations:<7} "
          f"time={s.seconds:8.2f} s  gap={s.duality_gap:.1e}  gap<=1e-8: {ok}{extra}", flush=True)


def run_bench(max_seconds: float = 600.0, with_cvxpy: bool = True) -> None:
    print(f"certified solve, Zipf(1) counts, lambda = {C}/N, stop at duality gap {TOL:g}")
    for V in (100, 1000):
        p = _problem(zipf_counts(V))
        s = solve_unconstrained(p, tol=TOL, time_limit=max_seconds)
        full = certify_full(p, s.logits())
        _line("zipf", V, s, f"  full-matrix gap={full['duality_gap']:.1e}")
    if with_cvxpy:  # quick, so before the long scaling loop
        from .cvx_reference import solve_cvxpy

        print("cvxpy on the same (unreduced) problem; time includes cvxpy's compilation")
        for V, solver in ((50, "CLARABEL"), (50, "SCS"), (100, "SCS")):
            p = _problem(zipf_counts(V))
            t0 = time.perf_counter()
            cv = solve_cvxpy(p, solver)
            t_cv = time.perf_counter() - t0
            ours = solve_unconstrained(p, tol=TOL)
            excess = certify_full(p, cv["logits"])["objective"] - ours.objective
            print(f"cvxpy {solver:<9} V={V:<4} time={t_cv:8.2f} s  ours={ours.seconds:6.3f} s  "
                  f"ratio={t_cv / ours.seconds:7.1f}x  F(cvxpy Z) - ours = {excess:.1e} (ours gap {ours.duality_gap:.1e})",
                  flush=True)
    largest = None
    for V in (2000, 5000, 10000, 20000, 50000):
        p = _problem(zipf_counts(V))
        s = solve_unconstrained(p, tol=TOL, time_limit=max_seconds)
        _line("zipf", V, s)
        if s.duality_gap > TOL:
            break
        largest = V
    print(f"largest V certified to {TOL:g} within {max_seconds:g} s per solve: {largest}")
    for V in (100, 300):
        counts = (V / np.arange(1, V + 1)) ** 1.0 * (1 + 1e-3 * np.arange(V) / V)  # all distinct
        s = solve_unconstrained(_problem(counts), tol=TOL, time_limit=max_seconds)
        _line("no ties (g = V)", V, s)
