"""The theory figures (copied from theory/, made by `python -m theory verify`) and its verdict table."""

from __future__ import annotations

from pathlib import Path

from theory.io import atomic_write_bytes, atomic_write_text

from .common import read_json

FIGURES = ("relu_loss_vs_count", "unconstrained_loss_vs_count", "average_vs_balanced", "sensitivity", "implied_M")


def verdict_table(results: Path) -> str:
    report = read_json(results / "theory" / "report.json")
    rows = ["| claim | verdict | why |", "|---|---|---|"]
    for c in report["claims"]:
        why = " ".join(str(c.get("explanation", "")).split())
        rows.append(f"| {c['claim']} | **{c['verdict']}** | {why} |")
    return "\n".join(rows)


def make(results: Path, out: Path) -> list[Path]:
    paths = [atomic_write_text(out / "theory_verdicts.md", verdict_table(results) + "\n")]
    for name in FIGURES:
        src = results / "theory" / f"{name}.png"
        if src.is_file():
            paths.append(atomic_write_bytes(out / f"theory_{name}.png", src.read_bytes()))
    return paths
