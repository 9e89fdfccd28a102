"""`python -m paper_figures report | docs | findings | fig1 | fig2 | fig3 | fig4 | fig5 | table1 | mitigation |
theory | theory_corpus | simulations | simulation_grid | languages`.

Every command reads result files only (`--results`, default results/) and writes into `--out`. A missing or
malformed result file exits with status 2 and one line on stderr naming the file.
"""

from __future__ import annotations

from pathlib import Path

from plumbing.cli import ArgumentParser, run_cli
from plumbing.errors import InputError
from plumbing.folder import output_folder

from .report import FIGURES, build_report


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m paper_figures", description=__doc__.split("\n\n")[1].strip())
    sub = ap.add_subparsers(dest="command", required=True, metavar="command")
    commands = {"report": "every figure whose inputs exist, then out/report.md and out/report.html",
                "docs": "small copies of the headline figures, docs/findings.json|md and the README's findings "
                        "list (default --out docs)",
                "findings": "every headline statement computed from the result files, with its interval and "
                            "verdict: findings.json, findings.md (default --out: the --results folder)",
                **{name: f.caption for name, f in FIGURES.items()}}
    for name, help_text in commands.items():
        p = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text.replace("%", "%%"))
        p.add_argument("--results", default="results", help="folder with theory/, simulations/, languages/, lm/, "
                                                            "lm_gpu/, lm_stats/ (default: results)")
        p.add_argument("--out", default={"docs": "docs", "findings": None}.get(name, "results/report"),
                       help="output folder (default: %(default)s)")
        if name == "findings":
            p.add_argument("--previous", default=None, help="an earlier findings.json (e.g. docs/findings.json): "
                                                             "each of its findings must be found again")
    args = ap.parse_args(argv)
    return run_cli(lambda: _dispatch(args))


def _dispatch(args) -> None:
    results = Path(args.results)
    out = results if args.out is None else Path(args.out)
    if not results.is_dir():
        raise InputError(f"--results must be a folder of result files, got {args.results!r}")
    if args.command == "report":
        with output_folder(out):
            done = build_report(results, out)
        print(f"wrote {out / 'report.md'} and {out / 'report.html'}; made: {', '.join(done['made']) or 'nothing'}")
        for k, v in done["missing"].items():
            print(f"not made: {k}: {v}")
    else:
        from . import findings
        from .docs import make as docs

        maker = {"docs": docs, "findings": lambda r, o: findings.write(r, o, args.previous and Path(args.previous))
                 }.get(args.command) or FIGURES[args.command].make
        with output_folder(out):
            written = maker(results, out)
        for p in written:
            print(p)
