"""`python -m theory solve | closed-form | verify | bench`.

Contract of solve / closed-form --json (other tools read it): one JSON object with at least model
(ufm-unconstrained or ufm-relu, theory.solve.MODELS), counts, lambda_w, lambda_h, d, per_class_loss (in
the order given), objective, average_loss (count-weighted), balanced_loss (unweighted mean), method,
lower_bound and duality_gap = objective - lower_bound (0 for the closed forms). Both commands go through
theory.solve.solve: `solve` with its default method, `closed-form` with method="closed-form" (ufm-relu:
any counts; ufm-unconstrained: equal counts only).
"""

from __future__ import annotations

import argparse
import json

from plumbing.cli import run_cli

from .counts import parse_counts, read_counts_file
from .problem import MODELS, Problem
from .solve import SolverResult, solve


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


def _result(r: SolverResult) -> dict:
    """The JSON object of the contract (module docstring), from one SolverResult."""
    problem = r.problem
    out = {
        "model": r.model,
        "counts": [float(x) for x in problem.counts],
        "lambda_w": problem.lambda_w,
        "lambda_h": problem.lambda_h,
        "d": problem.d,
        "V": problem.V,
        "N": problem.N,
        "per_class_loss": [float(x) for x in r.per_class_loss],
        "objective": r.objective,
        "average_loss": r.average_loss,
        "balanced_loss": r.balanced_loss,
        "method": r.method,
        "lower_bound": r.lower_bound,
        "duality_gap": r.gap,
    }
    if "collapsed" in r.info:
        out["collapsed"] = [bool(x) for x in r.info["collapsed"]]
    for key in ("iterations", "seconds"):
        if key in r.info:
            out[key] = r.info[key]
    return out


def run_solve(problem: Problem, model: str, tol: float = 1e-9) -> dict:
    """The global minimum: exact for ufm-relu, certified to a duality gap <= tol for ufm-unconstrained."""
    return _result(solve(problem, model, tol=tol))


def run_closed_form(problem: Problem, model: str) -> dict:
    """The closed forms: ufm-relu for any counts, ufm-unconstrained for equal counts (else InputError)."""
    return _result(solve(problem, model, method="closed-form"))


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
          + (f"  duality gap {result['duality_gap']:.2e}" if result["model"] == "ufm-unconstrained" else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("solve", help="global minimum of the UFM (certified for ufm-unconstrained, exact for ufm-relu)")
    p.add_argument("--model", required=True, help=" or ".join(MODELS))
    p.add_argument("--tol", type=float, default=1e-9, help="duality-gap target (unconstrained)")
    _add_problem_args(p)

    p = sub.add_parser("closed-form", help="closed forms: ufm-relu (any counts) or ufm-unconstrained (equal counts)")
    p.add_argument("--model", required=True, help=" or ".join(MODELS))
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
