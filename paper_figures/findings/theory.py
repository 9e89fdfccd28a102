"""Findings of the theory: the class-balanced loss moves more than the average loss (read from the table
`python -m theory verify` writes, theory/average_vs_balanced__changes.csv: per model, instance and c = lambda N,
the ratio (change of balanced loss) / (change of average loss) from the smallest c), and every claim of
theory/report.json with its verdict mapped to the findings' vocabulary (stats.THEORY_RULE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plumbing.errors import InputError

from . import evidence
from .stats import EXACT_RULE, PAPER_TABLE1_RATIO, THEORY_RULE, THEORY_VERDICTS, NotApplicable, exact_verdict, finding
from ..common import read_json

CHANGES = "average_vs_balanced__changes.csv"


def theory_findings(results: Path) -> list[dict]:
    folder = results / "theory"
    if not folder.is_dir():
        raise NotApplicable(f"no theory results ({str(folder)!r}; python -m theory verify)")
    sweep = evidence.table(folder / "lambda_sweep.csv", ("model", "instance", "c"), ("average_loss", "balanced_loss"))
    # the promise: from the smallest c of each (model, instance) of the sweep to each larger c
    promised = [(m, i, g["c"].min(), c) for (m, i), g in sweep.groupby(["model", "instance"], sort=True)
                for c in sorted(g["c"]) if c > g["c"].min()]
    path = folder / CHANGES
    df = evidence.table(path, ("model", "instance", "c from", "c to"), ("ratio",), promised,
                        promised_by=f"{str(folder / 'lambda_sweep.csv')!r} (its lambda sweep)")
    ratio = df["ratio"].to_numpy(float)
    out = [finding(
        "theory_balanced_moves_more", "As weight decay grows, the class-balanced loss rises more than the average "
        "loss (paper's Table 1: ratio of changes ~5.7).",
        "ratio (change of balanced loss) / (change of average loss) from the smallest c = lambda N to each larger "
        "c, at the exact (ReLU) or certified (unconstrained) minimiser, both models, both instances",
        [str(path.relative_to(results))], float(np.median(ratio)), float(ratio.min()), float(ratio.max()),
        int(ratio.size), "range over the rows (exact)", EXACT_RULE + "; inequality: ratio > 1",
        exact_verdict(ratio > 1), paper_ratio=PAPER_TABLE1_RATIO,
        paper_ratio_inside=bool(ratio.min() <= PAPER_TABLE1_RATIO <= ratio.max()))]
    report_path = folder / "report.json"
    claims = read_json(report_path).get("claims")
    if not isinstance(claims, list) or not claims:
        raise InputError(f"result file {str(report_path)!r} holds no claims")
    for c in claims:
        if not isinstance(c, dict) or "id" not in c or "verdict" not in c:
            raise InputError(f"result file {str(report_path)!r}: a claim lacks its id or verdict: {c!r:.80}")
        out.append({"id": f"theory_{c['id']}", "claim": c.get("claim", ""), "measure": c.get("check", ""),
                    "files": ["theory/report.json"], "theory_verdict": c["verdict"],
                    "rule": THEORY_RULE + (f"; the check's own rule: {c['rule']}" if c.get("rule") else ""),
                    "verdict": THEORY_VERDICTS.get(c["verdict"], "not resolved")})
    return out
