"""`python -m lm_experiments prepare | export | train | sweep | pack | stats | bench`.

Contract (other tools read it): `sweep --out DIR` writes DIR/summary.csv with one row per (lambda, seed,
split) -- and decay mode, when a sweep has several -- with at least the columns lambda, seed, split (train /
heldout), average_loss, balanced_loss, accuracy, low_freq_loss, high_freq_loss (P99 split of the training
counts), low_mass_loss, high_mass_loss (split by half the training mass) and the group sizes n_low, n_high,
n_low_mass, n_high_mass.
"""

from __future__ import annotations

import json
from pathlib import Path

from plumbing.cli import ArgumentParser, run_cli
from plumbing.errors import InputError
from plumbing.folder import output_folder, read_config_record
from plumbing.validate import check_choice, check_device, check_int, check_real, parse_int_list


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m lm_experiments", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="split, train the BPE tokenizer, tokenize and cache a corpus")
    p.add_argument("--corpus", default="rotten-tomatoes",
                   help="rotten-tomatoes (default, embedded), mixed, imdb:PATH, files:PATH[,PATH]")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--out", required=True, help="cache folder")

    p = sub.add_parser("export", help="a sweep config's prepared data (tokenizer + token ids) in a folder that "
                                      "`sweep --data` reads on a machine without the corpus packages")
    p.add_argument("--config", default="tiny", help="sweep preset (tiny, gpu-270m) or .toml/.json")
    p.add_argument("--out", required=True, help="folder to write (carry it to the GPU machine)")
    p.add_argument("--max-mib", type=float, default=64.0, help="refuse a larger export (default: %(default)s, "
                                                               "what one device call can carry)")

    p = sub.add_parser("train", help="one training run (a sweep config's first lambda, seed and decay mode)")
    p.add_argument("--config", default="tiny", help="sweep preset (tiny, gpu-270m) or .toml/.json")
    p.add_argument("--weight-decay", type=float, default=None, help="override the lambda")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True, help="run folder (a rerun resumes it)")

    p = sub.add_parser("sweep", help="lambda x seeds (x decay modes, x regimes); resumable; summary.csv, Table 1")
    p.add_argument("--config", default="tiny", help="sweep preset (tiny, gpu-270m) or .toml/.json")
    p.add_argument("--out", required=True, help="output folder (a rerun skips finished runs)")
    p.add_argument("--data", help="prepared data from `export` (the corpus itself is then not read)")
    p.add_argument("--budget-minutes", type=float, help="start no run that would not fit, stop the running one "
                                                        "at a checkpoint after this many minutes; tabulate what finished")

    p = sub.add_parser("pack", help="copy a sweep's small result files into a tracked folder (e.g. results/gpu/NAME)")
    p.add_argument("--sweep", required=True, help="the sweep's output folder")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--per-token-cap-mib", type=float, default=16.0, help="leave the per-token files out above this "
                                                                         "total (default: %(default)s)")

    p = sub.add_parser("stats", help="token statistics and the low-frequency share against vocabulary size")
    p.add_argument("--corpus", default="rotten-tomatoes")
    p.add_argument("--sizes", default="1000,2000,4000,8000,16000,32000,64000", help="vocabulary sizes")
    p.add_argument("--out", required=True)

    p = sub.add_parser("bench", help="tokens/s, MFU (on a GPU) and the per-token-metric overhead")
    p.add_argument("--preset", default="tiny", help="model preset (tiny, small, gpt-125m, openelm-270m-like, "
                                                    "qwen2-0.5b-like); default: %(default)s")
    p.add_argument("--seq-len", type=int, default=128, help="tokens per sequence (default: %(default)s)")
    p.add_argument("--batch-sizes", default="16", help="sequences per step, comma-separated (default: %(default)s)")
    p.add_argument("--modes", default="eager", help="eager, compiled or both, comma-separated (default: %(default)s)")
    p.add_argument("--steps", type=int, default=10, help="timed steps of each kind (default: %(default)s)")
    p.add_argument("--vocab-size", type=int, default=8192, help="vocabulary of the model (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--json", help="write the rows to this JSON file (rewritten after each one)")

    args = ap.parse_args(argv)
    return run_cli(lambda: _dispatch(args))


def _dispatch(args) -> None:
    if args.command == "prepare":
        from .data import prepare

        check_int("--vocab-size", args.vocab_size, 1)
        with output_folder(args.out):
            prepared = prepare(args.corpus, args.vocab_size, Path(args.out))
        print(json.dumps(prepared.manifest, indent=2, default=str))
    elif args.command == "export":
        from .data import export
        from .config import load_sweep_config

        cfg = load_sweep_config(args.config)
        check_real("--max-mib", args.max_mib, 0, low_open=True)
        with output_folder(args.out):
            folder, mib = export(cfg.corpus, cfg.vocab_size, Path(args.out), args.max_mib)
        print(f"{folder}: {mib:.1f} MiB; on the other machine: python -m lm_experiments sweep --config {args.config} "
              f"--data {args.out} --out DIR")
    elif args.command == "pack":
        from .pack import pack

        check_real("--per-token-cap-mib", args.per_token_cap_mib, 0)
        if read_config_record(Path(args.out)) is not None and not (Path(args.out) / "pack.json").is_file():
            raise InputError(f"--out {args.out!r} holds another tool's results (its config.json); pack into a new "
                             "folder")
        with output_folder(args.out, owns_config=True):
            record = pack(args.sweep, args.out, args.per_token_cap_mib)
        print(f"{len(record['files'])} files in {args.out}; per-token files: {record['per_token_files']}")
    elif args.command == "train":
        from dataclasses import replace

        from theory.glossary import baseline_mode

        from .data import prepare
        from .config import load_sweep_config
        from .train import train_run

        cfg = load_sweep_config(args.config)
        tc = cfg.train_config(cfg.lambdas[0], cfg.seeds[0], baseline_mode(cfg.decay_modes))
        tc = replace(tc, **{k: v for k, v in (("weight_decay", args.weight_decay), ("seed", args.seed))
                            if v is not None})
        with output_folder(args.out):
            prepared = prepare(cfg.corpus, cfg.vocab_size, Path(args.out) / "data")
            result = train_run(tc, prepared, Path(args.out))
        print(json.dumps(result, indent=2, default=str))
    elif args.command == "sweep":
        from .config import load_sweep_config
        from .sweep import run_sweep

        cfg = load_sweep_config(args.config)
        _check_decay_bounds(cfg)
        with output_folder(args.out, owns_config=True):
            run_sweep(cfg, args.out, data=args.data, budget_minutes=args.budget_minutes)
        for reg in cfg.by_regime():
            table = Path(args.out) / reg / "table1.md"
            print(f"## {reg or cfg.name}\n" + (table.read_text() if table.is_file() else "no run finished\n"))
    elif args.command == "stats":
        from .token_report import write_stats

        sizes = parse_int_list("--sizes", args.sizes, 1)
        with output_folder(args.out):
            write_stats(args.corpus, sizes, Path(args.out))
    elif args.command == "bench":
        from .bench import run_grid

        batch_sizes = parse_int_list("--batch-sizes", args.batch_sizes, 1)
        modes = [check_choice("--modes", m.strip(), ("eager", "compiled")) for m in args.modes.split(",") if m.strip()]
        for name in ("seq_len", "steps", "vocab_size"):
            check_int(f"--{name.replace('_', '-')}", getattr(args, name), 1)
        if not modes:
            raise InputError(f"--modes must name eager and/or compiled, got {args.modes!r}")
        if args.json and Path(args.json).is_dir():
            raise InputError(f"--json must be a file, got the folder {args.json!r}")
        run_grid(args.preset, args.seq_len, batch_sizes, modes, args.steps, check_device("--device", args.device),
                 args.vocab_size, Path(args.json) if args.json else None)


def _check_decay_bounds(cfg) -> None:
    """Refuse an unstable decay before the sweep prepares its data: every mode's strongest row decays at lambda
    (capped-embed-out: the most frequent token's count is >= the mean count), so decay.check_stable on one row
    at lambda bounds them all; run_sweep checks each row again once the counts are known."""
    import numpy as np

    from .decay import check_stable

    for sub in cfg.by_regime().values():
        for mode, lam, seed in sub.runs():
            tc = sub.train_config(lam, seed, mode)
            check_stable(tc.decay_mode, tc.weight_decay, tc.lr, np.ones(1))
