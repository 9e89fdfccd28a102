"""`python -m theory bench`: certified-solve speed of the unconstrained UFM, and cvxpy side by side.

Cases (each line: distinct counts g, gap reached, seconds, and whether its target is met):
  realistic  Zipf(1) counts n_k ~ N / (k H_V) at N = 1e6, V = 1000 (zipf_counts(1000, 1, total=1e6), about
             600 distinct counts), lambda_W = lambda_H = 1e-5: target gap <= 1e-8 within 10 s (issue 13);
  corpus     the real token counts of the `mixed` corpus at vocabulary 32,000 (a .npy written by
             benchmarks/export_corpus_counts.py; skipped with a message when absent), lambda = 1e-5:
             target gap <= 1e-6 within 600 s;
  zipf       n_k = round(V/k) (zipf_counts(V)), lambda = 0.5 / N, V in (100, 1000, 2000, ...): target
             gap <= 1e-8 (V = 1000 within 10 s; the largest V within --max-seconds);
  cvxpy      at V = 50 and 100: cvxpy's point is certified from the full matrices, ours is run to the same
             gap, and the time ratio is printed (target: >= 50x at V = 100).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .counts import read_counts_file, zipf_counts
from .problem import Problem
from .unconstrained import certify_full, solve_unconstrained

C = 0.5
TOL = 1e-8
CORPUS_COUNTS = Path("results/counts/mixed_32000.npy")


def _problem(counts) -> Problem:
    return Problem.from_scale(counts, C)


def _line(label, V, s, tol=TOL, seconds=None, extra="") -> None:
    ok = s.duality_gap <= tol and (seconds is None or s.seconds <= seconds)
    target = f"gap<={tol:g}" + ("" if seconds is None else f" in {seconds:g} s")
    print(f"{label:<22} V={V:<6} groups={s.groups.g:<5} iters={s.iterations:<7} "
          f"time={s.seconds:8.2f} s  gap={s.duality_gap:.1e}  {target}: {'yes' if ok else 'NO'}{extra}", flush=True)


def run_bench(max_seconds: float = 600.0, with_cvxpy: bool = True, corpus_counts: str | None = None) -> None:
    print("realistic cases, lambda_W = lambda_H = 1e-5")
    p = Problem(zipf_counts(1000, 1.0, total=1e6), 1e-5, 1e-5)
    s = solve_unconstrained(p, tol=TOL, time_limit=max(max_seconds, 10.0))
    _line("zipf N=1e6", p.V, s, TOL, 10.0, f"  N={p.N:.3g}")
    path = Path(corpus_counts) if corpus_counts is not None else CORPUS_COUNTS
    if path.is_file():
        p = Problem(read_counts_file(path), 1e-5, 1e-5)
        s = solve_unconstrained(p, tol=1e-6, time_limit=max(max_seconds, 600.0))
        _line("corpus " + path.stem, p.V, s, 1e-6, 600.0, f"  N={p.N:.3g}")
    else:
        print(f"corpus counts: {path} not found, skipped (write it with "
              f"`.venv/bin/python benchmarks/export_corpus_counts.py mixed 32000 {CORPUS_COUNTS}`)")
    print(f"Zipf(1) counts round(V/k), lambda = {C}/N, stop at duality gap {TOL:g}")
    for V in (100, 1000):
        p = _problem(zipf_counts(V))
        s = solve_unconstrained(p, tol=TOL, time_limit=max_seconds)
        full = certify_full(p, s.logits())
        _line("zipf", V, s, TOL, 10.0 if V == 1000 else None, f"  full-matrix gap={full['duality_gap']:.1e}")
    if with_cvxpy:  # quick, so before the long scaling loop
        from .cvx_reference import solve_cvxpy

        print("cvxpy on the same (unreduced) problem, time includes its compilation; ours run to cvxpy's gap")
        for V, solver in ((50, "CLARABEL"), (50, "SCS"), (100, "SCS")):
            p = _problem(zipf_counts(V))
            t0 = time.perf_counter()
            cv = solve_cvxpy(p, solver)
            t_cv = time.perf_counter() - t0
            gap_cv = certify_full(p, cv["logits"])["duality_gap"]
            ours = solve_unconstrained(p, tol=max(gap_cv, 1e-12))
            ratio = t_cv / ours.seconds
            met = "" if V != 100 else f"  >=50x: {'yes' if ratio >= 50 else 'NO'}"
            print(f"cvxpy {solver:<9} V={V:<4} groups={ours.groups.g:<4} time={t_cv:8.2f} s  gap={gap_cv:.1e}  "
                  f"ours={ours.seconds:6.3f} s gap={ours.duality_gap:.1e}  ratio={ratio:7.1f}x{met}", flush=True)
    largest = None
    for V in (2000, 5000, 10000, 20000, 50000):
        p = _problem(zipf_counts(V))
        s = solve_unconstrained(p, tol=TOL, time_limit=max_seconds)
        _line("zipf", V, s, TOL, max_seconds)
        if s.duality_gap > TOL:
            break
        largest = V
    print(f"largest V certified to {TOL:g} within {max_seconds:g} s per solve: {largest}")
    for V in (100, 300):
        counts = (V / np.arange(1, V + 1)) ** 1.0 * (1 + 1e-3 * np.arange(V) / V)  # all distinct
        s = solve_unconstrained(_problem(counts), tol=TOL, time_limit=max_seconds)
        _line("no ties (g = V)", V, s)
