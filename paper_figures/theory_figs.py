"""Theory: per-class loss against n_k, theory vs numerics. Copies the figures that `python -m theory verify`
made (theory/*.png) into the output folder and writes the verdict table of its report as Markdown.

Data: theory/report.json ({"meta": ..., "claims": [{"id", "claim", "verdict", "explanation", ...}]}) and the
PNGs theory/{relu_loss_vs_count, unconstrained_loss_vs_count, average_vs_balanced, sensitivity, implied_M}.png
(each copied when present)."""

from __future__ import annotations

from pathlib import Path

from plumbing.atomic import atomic_write_bytes, atomic_write_text
from plumbing.errors import InputError

from .common import need, read_json

NAME = "theory_verdicts"
CAPTION = ("Theory — per-class loss against the class count n_k at the exact / certified minimiser of the "
           "unconstrained-features model vs numerical solvers, average vs balanced loss, sensitivity.")
DIFFERS = ("the paper states its proposition without defining M and without a proof of the setting; these "
           "figures check each claim on the unconstrained-features model itself (see the verdict table)")
FIGURES = ("relu_loss_vs_count", "unconstrained_loss_vs_count", "average_vs_balanced", "sensitivity", "implied_M")


def inputs(results: Path) -> list[Path]:
    t = Path(results) / "theory"
    return [t / "report.json"] + [t / f"{n}.png" for n in FIGURES if (t / f"{n}.png").is_file()]


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
    paths = [atomic_write_text(Path(out) / f"{NAME}.md", verdict_table(results) + "\n")]
    for name in FIGURES:
        src = Path(results) / "theory" / f"{name}.png"
        if src.is_file():
            paths.append(atomic_write_bytes(Path(out) / f"theory_{name}.png", src.read_bytes()))
    return paths
