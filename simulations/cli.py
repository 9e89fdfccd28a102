"""`python -m simulations run | mitigation | languages | scale | bench` (tables only; figures: paper_figures).

Contract (other tools read it): `run --out DIR` writes DIR/summary.csv with one row per (model, optimizer,
lambda, seed) with the columns of plumbing.schemas.SIM_SUMMARY, among them model, optimizer, lambda, seed,
average_loss, balanced_loss, low_freq_loss, high_freq_loss (P99 split), low_mass_loss, high_mass_loss (mass
split), n_low, n_high, n_low_mass, n_high_mass, max_abs_diff_to_theory (L2 runs with a certified optimum;
empty otherwise, AdamW included), matched_l2_lambda (AdamW), converged; and DIR/adamw_vs_l2.csv;
`languages --out DIR` writes DIR/languages.csv with columns language, vocab_size, share_below_p95_mass,
share_below_p99_count.
"""

from __future__ import annotations

from pathlib import Path

from plumbing.cli import ArgumentParser, run_cli
from plumbing.errors import InputError
from plumbing.folder import output_folder
from plumbing.validate import check_device, check_int, check_real, parse_int_list


def _threads_option(p) -> None:
    p.add_argument("--threads", default="1", help="torch CPU threads (default 1: the tensors are small, and on a "
                   "shared 2-core machine two threads made training steps 3-45x slower)")


def _set_threads(args) -> None:
    import torch

    torch.set_num_threads(check_int("--threads", int(args.threads) if args.threads.isdigit() else args.threads, 1,
                                    allow_numpy=False))


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m simulations", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train the model x optimizer x lambda x seed grid; write its tables")
    p.add_argument("--config", default="quick", help="preset (quick, full) or a .toml/.json file of SimConfig keys")
    p.add_argument("--out", required=True, help="output folder (a rerun resumes it)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _threads_option(p)

    p = sub.add_parser("mitigation", help="per-class decay schemes (count-embed-out, capped-embed-out, lazy-embed-out, "
                                          "no-embed-out) next to uniform decay, lbfgs and adamw, 3 seeds; "
                                          "certified where possible")
    p.add_argument("--config", default="quick", help="preset (quick, full) or .toml/.json: its V, counts, lr, steps "
                                                     "and largest lambdas are used")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--no-progress", action="store_true")
    _threads_option(p)

    p = sub.add_parser("languages", help="low-frequency share of the vocabulary per wordfreq language")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("scale", help="the UFM at a vocabulary's counts (zipf, or a corpus's 32,000 tokens) trained along "
                                     "a lambda path on --device against the certified theory (theory stage first, "
                                     "resumable)")
    p.add_argument("--counts", required=True, help="counts file (.npy or one number per line), e.g. "
                                                   "results/counts/mixed_32000.npy, or zipf (with --V)")
    p.add_argument("--V", type=int, default=None, help="number of classes: for zipf; for a file, its top V counts")
    p.add_argument("--lambdas", required=True, help="comma-separated lambdas > 0 (pick ones with a moderate optimum "
                                                    "rank: the width follows it)")
    p.add_argument("--out", required=True, help="output folder (a rerun resumes it)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--max-seconds", type=float, default=540.0, help="training budget (the theory is not counted)")
    p.add_argument("--theory-seconds", type=float, default=None, help="time limit per certified optimum")
    p.add_argument("--theory-only", action="store_true", help="write the certified optima and stop (to carry them "
                                                              "to a GPU machine)")

    p = sub.add_parser("bench", help="time to train 8 lambdas of the UFM to within 1e-3 of the theory")
    p.add_argument("--max-seconds", type=float, default=60.0, help="budget per (V, optimizer)")
    p.add_argument("--sizes", default="100,1000", help="comma-separated V values")
    p.add_argument("--out", default=None, help="also write the printed rows to this CSV file (e.g. "
                                               "results/bench/simulations.csv)")

    args = ap.parse_args(argv)
    return run_cli(lambda: _dispatch(args))


def _dispatch(args) -> None:
    if args.command == "run":
        from .config import load_config
        from .run import run_grid

        cfg, device = load_config(args.config), check_device("--device", args.device)
        _set_threads(args)
        with output_folder(args.out, owns_config=True):
            summary = run_grid(cfg, args.out, device, progress=not args.no_progress)
        print(summary.groupby(["model", "optimizer"], sort=False).agg(
            max_abs_diff_to_theory=("max_abs_diff_to_theory", "max"), converged=("converged", "sum"),
            runs=("converged", "size")).to_string())
        print(f"wrote the tables of {args.out} (figures: python -m paper_figures report)")
    elif args.command == "mitigation":
        from .config import load_config
        from .mitigation import run_mitigation

        cfg, device = load_config(args.config), check_device("--device", args.device)
        _set_threads(args)
        with output_folder(args.out, owns_config=True):
            table = run_mitigation(cfg, args.out, device, progress=not args.no_progress)
        print(table.groupby(["model", "optimizer", "scheme"], sort=False)[
            ["balanced_loss", "low_mass_loss", "high_mass_loss", "average_loss", "duality_gap"]].mean().to_string())
    elif args.command == "languages":
        from .languages import write_languages

        with output_folder(args.out):
            table = write_languages(args.out)
        print(table.to_string(index=False))
    elif args.command == "scale":
        from .frequencies import class_counts
        from .scale import check_lambdas, run_scale

        lambdas, device = check_lambdas(args.lambdas), check_device("--device", args.device)
        check_real("--max-seconds", args.max_seconds, 0, low_open=True)
        if args.theory_seconds is not None:
            check_real("--theory-seconds", args.theory_seconds, 0, low_open=True)
        if args.V is not None:
            check_int("--V", args.V, 2)
        class_counts(args.counts, args.V)  # bad counts are refused before the folder is made
        with output_folder(args.out, owns_config=True):
            table = run_scale(args.counts, lambdas, args.out, device, V=args.V, theory_seconds=args.theory_seconds,
                              max_seconds=args.max_seconds, theory_only=args.theory_only)
        if table is not None:
            print(table.to_string(index=False))
    elif args.command == "bench":
        from .bench import run_bench

        import pandas as pd
        import torch

        from plumbing.atomic import atomic_write_csv

        sizes = tuple(parse_int_list("--sizes", args.sizes, 2))
        check_real("--max-seconds", args.max_seconds, 0, low_open=True)
        if args.out and Path(args.out).is_dir():
            raise InputError(f"--out must be a CSV file, got the folder {args.out!r}")
        rows = run_bench(args.max_seconds, sizes)
        if args.out:
            atomic_write_csv(pd.DataFrame(rows).assign(max_seconds=args.max_seconds,
                                                       threads=torch.get_num_threads()), args.out)
            print(f"wrote {args.out}")
