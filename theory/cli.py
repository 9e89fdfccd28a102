"""`python -m theory solve | closed-form | verify | bench`.

Contract of solve / closed-form --json (other tools read it): one JSON object with at least model,
counts, lambda_w, lambda_h, d, per_class_loss (in the order given), objective, average_loss
(count-weighted), balanced_loss (unweighted mean), method, and duality_gap for the unconstrained model.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from plumbing.cli import run_cli
from plumbing.errors import InputError

from .counts import parse_counts, read_counts_file
from .problem import Problem


def _add_problem_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--counts", help="comma-separated class counts n_k, e.g. 100,50,20,5,1")
    src.add_argument("--counts-file", help="counts, one number per line, or a .npy vector")
    p.add_argument("--lambda-w", required=True, help="weight decay on W (>= 0)")
    p.add_argument("--lambda-h", required=True, help="weight decay on H (>= 0)")
    p.add_argument("--d", type=int, default=None, help="feature dimension (default V; the claims need d >= V)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _problem(args) -> Problem:
    counts = parse_counts(args.counts) if args.counts is not None else read_counts_file(args.counts_file)
    return Problem(counts, args.lambda_w, args.lambda_h, args.d)


def _result(problem: Problem, model: str, per_class_loss, objective: float, method: str, **extra) -> dict:
    from .metrics import average_loss, balanced_loss

    loss = np.asarray(per_class_loss, np.float64)
    out = {
        "model": model,
        "counts": [float(x) for x in problem.counts],
        "lambda_w": problem.lambda_w,
        "lambda_h": problem.lambda_h,
        "d": problem.d,
        "V": problem.V,
        "N": problem.N,
        "per_class_loss": [float(x) for x in loss],
        "objective": float(objective),
        "average_loss": average_loss(loss, problem.counts),
        "balanced_loss": balanced_loss(loss),
        "method": method,
    }
    out.update(extra)
    return out


def run_solve(problem: Problem, model: str, tol: float = 1e-9) -> dict:
    if model == "relu":
        from .relu import relu_closed_form

        s = relu_closed_form(problem)
        return _result(problem, model, s.per_class_loss, s.objective,
                       "closed form (exact global minimiser, theory.relu)",
                       collapsed=[bool(x) for x in s.collapsed])
    if model == "unconstrained":
        from .unconstrained import solve_unconstrained

        s = solve_unconstrained(problem, tol=tol)
        return _result(problem, model, s.per_class_loss, s.objective,
                       f"accelerated proximal gradient on the symmetry-reduced convex problem "
                       f"({s.groups.g} count groups), stopped on the Fenchel duality gap",
                       duality_gap=s.duality_gap, lower_bound=s.lower_bound, iterations=s.iterations,
                       seconds=s.seconds)
    raise InputError(f"model must be one of unconstrained, relu; got {model!r}")


def run_closed_form(problem: Problem, model: str) -> dict:
    if model == "relu":
        return run_solve(problem, "relu")
    if model == "balanced":
        from .unconstrained import balanced_closed_form

        loss, objective = balanced_closed_form(problem)
        return _result(problem, model, loss, objective,
                       "closed form of the unconstrained model with equal counts (theory.symbolic)",
                       duality_gap=0.0)
    raise InputError(f"model must be one of relu, balanced; got {model!r}")


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, allow_nan=False))
        return
    print(f"model {result['model']}  V={result['V']}  N={result['N']:g}  "
          f"lambda_w={result['lambda_w']:g}  lambda_h={result['lambda_h']:g}  d={result['d']}")
    print(f"method: {result['method']}")
    print(f"{'class':>6} {'count':>12} {'loss':>12}")
    for k, (n, loss) in enumerate(zip(result["counts"], result["per_class_loss"])):
        print(f"{k:>6} {n:>12g} {loss:>12.6f}")
    print(f"objective {result['objective']:.10g}  average loss {result['average_loss']:.6f}  "
          f"balanced loss {result['balanced_loss']:.6f}"
          + (f"  duality gap {result['duality_gap']:.2e}" if "duality_gap" in result else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("solve", help="global minimum of the UFM (certified for unconstrained, exact for relu)")
    p.add_argument("--model", required=True, help="unconstrained or relu")
    p.add_argument("--tol", type=float, default=1e-9, help="duality-gap target (unconstrained)")
    _add_problem_args(p)

    p = sub.add_parser("closed-form", help="closed forms: relu (any counts) or balanced (equal counts)")
    p.add_argument("--model", required=True, help="relu or balanced")
    _add_problem_args(p)

    p = sub.add_parser("verify", help="check every claim; write report.md, report.json and figures")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("bench", help="certified-solve timings and the cvxpy comparison")
    p.add_argument("--max-seconds", type=float, default=600.0, help="time budget for the largest V")
    p.add_argument("--skip-cvxpy", action="store_true", help="leave out the cvxpy comparison")

    args = ap.parse_args(argv)
    return run_cli(lambda: _dispatch(args))


def _dispatch(args) -> None:
    if args.command == "solve":
        _print(run_solve(_problem(args), args.model, args.tol), args.json)
    elif args.command == "closed-form":
        _print(run_closed_form(_problem(args), args.model), args.json)
    elif args.command == "verify":
        from .verify import write_report

        write_report(args.out)
    elif args.command == "bench":
        from .bench import run_bench

        run_bench(max_seconds=args.max_seconds, with_cvxpy=not args.skip_cvxpy)
