"""Theory: per-class loss against n_k, theory vs numerics. Draws the figures of `python -m theory verify` from
the tables it saved (theory/*.csv) with paper_figures.theory_draw, into the output folder as theory_<name>.png,
and writes the verdict table of its report as Markdown.

Data: theory/report.json ({"meta": ..., "claims": [{"id", "claim", "verdict", "explanation", ...}]}) and the
tables paper_figures.theory_draw.FIGURES names for each figure (per_class_loss.csv, lambda_sweep.csv, sensitivity.csv,
relu_closed_form__lbfgs_per_class.csv, unconstrained_optimum__lbfgs_per_class.csv,
proposition_as_stated__implied_M.csv). A figure is drawn when its tables are there and left out when none
is (a folder from before the tables existed); a partial or malformed set is an InputError naming the file.
"""

from __future__ import annotations

from pathlib import Path

from plumbing.atomic import atomic_write_text
from plumbing.errors import InputError

from . import theory_draw
from .common import need, read_json

NAME = "theory_verdicts"
CAPTION = ("Theory — per-class loss against the class count n_k at the exact / certified minimiser of the "
           "unconstrained-features model vs numerical solvers, average vs balanced loss, sensitivity.")
DIFFERS = ("the paper states its proposition without defining M and without a proof of the setting; these "
           "figures check each claim on the unconstrained-features model itself (see the verdict table)")
FIGURES = ("relu_loss_vs_count", "unconstrained_loss_vs_count", "average_vs_balanced", "sensitivity", "implied_M")


def _drawable(results: Path) -> list[str]:
    """The figures (names of FIGURES) with at least one of their tables in results/theory."""
    t = Path(results) / "theory"
    return [n for n in FIGURES if any((t / table).is_file() for table in theory_draw.FIGURES[f"{n}.png"])]


def inputs(results: Path) -> list[Path]:
    t = Path(results) / "theory"
    tables = dict.fromkeys(table for n in _drawable(results) for table in theory_draw.FIGURES[f"{n}.png"])
    return [t / "report.json"] + [t / table for table in tables]


def claims(results: Path) -> list[dict]:
    path = Path(results) / "theory" / "report.json"
    found = need(read_json(path), ("claims",), path)["claims"]
    if not isinstance(found, list) or not found or not all(isinstance(c, dict) for c in found):
        raise InputError(f"result file {str(path)!r}: claims must be a non-empty list of objects")
    for i, c in enumerate(found):
        if "verdict" not in c or not ({"claim", "id", "name"} & set(c)):
            raise InputError(f"result file {str(path)!r}: claims[{i}] lacks a verdict or a claim")
    return found


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def verdict_table(results: Path) -> str:
    rows = ["| id | claim | verdict | why |", "|---|---|---|---|"]
    for c in claims(results):
        rows.append(f"| {_cell(c.get('id', c.get('name', '')))} | {_cell(c.get('claim', c.get('name', '')))} | "
                    f"**{_cell(c['verdict'])}** | {_cell(c.get('explanation', ''))} |")
    return "\n".join(rows)


def make(results: Path, out: Path) -> list[Path]:
    table = verdict_table(results)
    names = [f"{n}.png" for n in _drawable(results)]
    figs = theory_draw.redraw(Path(results) / "theory", out, prefix="theory_", names=names) if names else []
    return [atomic_write_text(Path(out) / f"{NAME}.md", table + "\n")] + figs
