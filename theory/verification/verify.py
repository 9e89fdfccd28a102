"""`python -m theory verify --out DIR`: one verdict per claim of the paper's theory, with the evidence and
the rule (thresholds included) by which the verdict follows from it.

Writes DIR/report.md, DIR/report.json, the tidy tables of every claim (DIR/per_class_loss.csv,
DIR/lambda_sweep.csv, DIR/sensitivity.csv and DIR/<claim id>__<table>.csv: every number a verdict or a
figure uses; the figures are drawn from those tables by `python -m paper_figures theory`). Everything is
computed before anything is written, and each file is written atomically, so a failed run leaves no partial
report.

The claims live in `theory.verification.claims` (the optimum), `theory.verification.claims_trends` (how it moves), `theory.verification.claims_mitigation`
(per-class decay) and `theory.verification.claims_bounded` (per-class decay bounded by uniform decay); weight decays
are set as lambda = c / N (Problem.from_scale), see there.
"""

from __future__ import annotations

import importlib.util
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from plumbing.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from plumbing.errors import InputError

from . import claims_trends as trends
from .claims_bounded import claims_bounded
from .claims_mitigation import claims_mitigation
from .claims import (
    VERDICTS,
    claim_balanced,
    claim_proposition,
    claim_relu,
    claim_unconstrained,
    sweep,
)
from .report import csv_bytes, markdown, report_json

__all__ = ["VERDICTS", "run_claims", "build_report", "write_report"]


def run_claims(with_cvxpy: bool) -> tuple[list, dict]:
    """Every claim, in report order, and all tables {file name: rows} (the sweep's and the claims')."""
    per_class, summary = sweep()
    claims = [claim_proposition(per_class), claim_relu(per_class), claim_unconstrained(summary, with_cvxpy),
              claim_balanced(), trends.claim_count_order(per_class), trends.claim_lambda_monotone(per_class),
              trends.claim_sensitivity(per_class), trends.claim_average_vs_balanced(summary),
              trends.claim_d_needed(), trends.claim_d_in_paper(), *claims_mitigation(), *claims_bounded()]
    tables = {"per_class_loss.csv": per_class, "lambda_sweep.csv": summary}
    for c in claims:
        for name, rows in c.tables.items():
            assert name not in tables, f"two claims write {name}"
            tables[name] = rows
    return claims, tables


def build_report(with_cvxpy: bool | None = None) -> tuple[list, dict, dict]:
    """Run every check; return (claims, tables, meta) without writing anything; tables: {file name: rows}."""
    if with_cvxpy is None:
        with_cvxpy = importlib.util.find_spec("cvxpy") is not None
    with threadpool_limits(limits=1, user_api="blas"):  # every matrix here is small
        t0 = time.perf_counter()
        claims, tables = run_claims(with_cvxpy)
        meta = {"seconds": time.perf_counter() - t0, "python": platform.python_version(),
                "numpy": np.__version__, "cvxpy_cross_check": with_cvxpy}
    return claims, tables, meta


def write_report(out: str) -> dict:
    """Compute everything, then write the report files atomically into `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a folder, got the file {str(out)!r}")
    claims, tables, meta = build_report()
    for name, rows in tables.items():
        atomic_write_bytes(out / name, csv_bytes(rows))
    report = report_json(claims, meta)
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", markdown(claims, meta))
    print(f"wrote {out / 'report.md'}")
    for c in claims:
        print(f"  {c.id:32s} {c.verdict}")
    return report
