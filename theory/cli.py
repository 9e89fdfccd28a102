"""`python -m theory solve | closed-form | certify | verify | bench`.

Contract of solve / closed-form --json (other tools read it): one JSON object with at least model
(ufm-unconstrained or ufm-relu, theory.ufm.solve.MODELS), counts, lambda_w, lambda_h, d, per_class_loss (in
the order given), objective, average_loss (count-weighted), balanced_loss (unweighted mean), method,
lower_bound and duality_gap = objective - lower_bound (0 for the closed forms). Both commands go through
theory.ufm.solve.solve: `solve` with its default method, `closed-form` with method="closed-form" (ufm-relu:
any counts; ufm-unconstrained: equal counts only).

solve --save-solution FILE.npz writes the certificate (primal and dual point, theory.ufm.certificate), and
`certify FILE.npz --counts ... --lambda-w ... --lambda-h ... [--tol 1e-9]` recomputes objective, bound and gap
from it and exits 2 unless the file is for these counts and lambdas and its gap is <= tol.
solve --time-limit SECONDS stops there: the result is printed with the gap reached, then a line saying the
target was not met, and the exit status is 3. Long solves print a progress line on stderr about every 2 s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from plumbing.cli import ArgumentParser, run_cli
from plumbing.folder import output_folder
from plumbing.errors import InputError
from plumbing.validate import check_real

from .verification.bench import CASES as BENCH_CASES, OUT as BENCH_OUT, check_cases
from .ufm.certificate import certify, check_solution_path, save_solution as save
from .ufm.counts import parse_counts, read_counts_file
from .ufm.problem import MODELS, Problem
from .ufm.solve import SolverResult, solve


def _add_problem_args(p: ArgumentParser) -> None:
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


def run_solve(problem: Problem, model: str, tol: float = 1e-9, time_limit: float | None = None,
              save_solution: str | None = None, progress=None) -> dict:
    """The global minimum: exact for ufm-relu, certified to a duality gap <= tol for ufm-unconstrained."""
    tol = check_real("--tol", tol, 0.0, low_open=True)
    if time_limit is not None:
        time_limit = check_real("--time-limit (seconds)", time_limit, 0.0, low_open=True)
    if save_solution is not None:
        if model != "ufm-unconstrained":
            raise InputError("--save-solution applies to ufm-unconstrained (ufm-relu is an exact closed form)")
        check_solution_path(save_solution)  # before the solve, not after it
    r = solve(problem, model, tol=tol, time_limit=time_limit, progress=progress)
    if save_solution is not None:
        save(save_solution, r.info["solution"])
    return _result(r)


def run_certify(path: str, problem: Problem, tol: float = 1e-9) -> dict:
    """Objective, bound and gap recomputed from a saved solution (theory.ufm.certificate.certify); InputError
    unless its gap is <= tol."""
    c = certify(path, problem, tol=tol)
    return {k: v for k, v in c.items() if k != "per_class_loss"}


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
    ap = ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("solve", help="global minimum of the UFM (certified for ufm-unconstrained, exact for ufm-relu)")
    p.add_argument("--model", required=True, help=" or ".join(MODELS))
    p.add_argument("--tol", type=float, default=1e-9, help="duality-gap target (unconstrained)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds; if the gap target is not met by then, print what was reached and exit 3")
    p.add_argument("--save-solution", metavar="FILE.npz", default=None,
                   help="write the primal and dual point and the bound (check it with `certify`)")
    _add_problem_args(p)

    p = sub.add_parser("certify", help="recompute objective, lower bound and gap of a saved solution")
    p.add_argument("file", help="FILE.npz written by solve --save-solution")
    p.add_argument("--tol", type=float, default=1e-9, help="the largest duality gap accepted (exit 2 above it)")
    _add_problem_args(p)

    p = sub.add_parser("closed-form", help="closed forms: ufm-relu (any counts) or ufm-unconstrained (equal counts)")
    p.add_argument("--model", required=True, help=" or ".join(MODELS))
    _add_problem_args(p)

    p = sub.add_parser("verify", help="check every claim; write report.md, report.json and figures")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("corpus", help="the UFM optimum at real token counts, per powers-of-3 count bin")
    p.add_argument("--counts-file", required=True, help="an LM sweep's token_stats.csv, a .npy or a text file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--scales", default="0.1,0.3,1,3", help="c = lambda N values (lambda_W = lambda_H = c / N)")
    p.add_argument("--with-unconstrained", action="store_true",
                   help="also the certified unconstrained optimum (slow: ~20 s per lambda at ~100 distinct counts)")

    p = sub.add_parser("bench", help="certified-solve timings and the cvxpy comparison")
    p.add_argument("--max-seconds", type=float, default=600.0, help="time budget for the largest V")
    p.add_argument("--skip-cvxpy", action="store_true", help="leave out the cvxpy comparison")
    p.add_argument("--corpus-counts", default=None,
                   help="token counts (.npy) of a real corpus (default results/counts/mixed_32000.npy; "
                        "skipped when absent)")
    p.add_argument("--cases", default=",".join(BENCH_CASES),
                   help=f"comma-separated subset of {','.join(BENCH_CASES)} (default: all)")
    p.add_argument("--out", default=str(BENCH_OUT), help="JSON file the figures are written to")

    args = ap.parse_args(argv)
    status = []
    code = run_cli(lambda: status.append(_dispatch(args)))
    return code or (status[0] if status and status[0] else 0)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _dispatch(args) -> int:
    if args.command == "solve":
        out = run_solve(_problem(args), args.model, args.tol, args.time_limit, args.save_solution, _progress)
        _print(out, args.json)
        if args.model == "ufm-unconstrained" and out["duality_gap"] > args.tol:
            print(f"target not met: duality gap {out['duality_gap']:.3e} > tol {args.tol:g}"
                  + (f" (time limit {args.time_limit:g} s)" if args.time_limit is not None else ""), file=sys.stderr)
            return 3
    elif args.command == "certify":
        c = run_certify(args.file, _problem(args), args.tol)
        if args.json:
            print(json.dumps(c, allow_nan=False))
        else:
            print(f"recomputed from {args.file} ({c['path']}, {c['groups']} groups):")
            print(f"objective {c['objective']!r}\nlower bound {c['lower_bound']!r}\nduality gap {c['duality_gap']:.6e}")
            print(f"claimed by the file: objective {c['claimed_objective']!r}, lower bound {c['claimed_lower_bound']!r}")
    elif args.command == "closed-form":
        _print(run_closed_form(_problem(args), args.model), args.json)
    elif args.command == "verify":
        from .verification.verify import write_report

        with output_folder(args.out):
            write_report(args.out)
    elif args.command == "corpus":
        from .verification.corpus import parse_scales, read_corpus_counts, write_corpus

        scales = parse_scales(args.scales)
        read_corpus_counts(args.counts_file)  # a bad counts file is refused before the folder is made
        with output_folder(args.out):
            write_corpus(args.counts_file, args.out, scales, args.with_unconstrained)
    elif args.command == "bench":
        from plumbing.validate import check_real

        from .verification.bench import run_bench

        check_real("--max-seconds", args.max_seconds, 0, low_open=True)
        cases = check_cases(args.cases)
        if args.out is not None and Path(args.out).is_dir():
            raise InputError(f"--out must be a JSON file, got the folder {args.out!r}")
        run_bench(max_seconds=args.max_seconds, with_cvxpy=not args.skip_cvxpy, corpus_counts=args.corpus_counts,
                  cases=cases, out=args.out)
    return 0
