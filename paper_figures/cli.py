"""`python -m paper_figures report | docs | fig1 | fig2 | fig3 | fig4 | fig5 | table1 | theory | simulations`.

Every command reads result files only (`--results`, default results/) and writes into `--out`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from theory.problem import InputError

from .report import FIGURES, build_report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paper_figures", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    commands = {"report": (None, "every figure + report.md/report.html"),
                "docs": (None, "small copies of the headline figures for the README (default --out docs)"),
                **FIGURES}
    for name, (_, caption) in commands.items():
        p = sub.add_parser(name, help=caption.replace("%", "%%"))
        p.add_argument("--results", default="results", help="folder with theory/, simulations/, languages/, lm/ ...")
        p.add_argument("--out", default="docs" if name == "docs" else "results/report", help="output folder")
    args = ap.parse_args(argv)
    try:
        if args.command == "report":
            done = build_report(args.results, args.out)
            print(f"wrote {Path(args.out) / 'report.md'} and report.html; figures: {', '.join(done['made'])}")
            for k, v in done["missing"].items():
                print(f"not made: {k}: {v}")
        else:
            if not Path(args.results).is_dir():
                raise InputError(f"--results must be a folder of result files, got {args.results!r}")
            from .docs import make as docs

            maker = docs if args.command == "docs" else FIGURES[args.command][0]
            for p in maker(Path(args.results), Path(args.out)):
                print(p)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
