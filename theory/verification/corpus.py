"""`python -m theory corpus --counts-file FILE --out DIR`: the UFM optimum at real token counts.

FILE is an LM sweep's token_stats.csv (columns token_id, count, ...), a .npy vector or a text file of counts
(one per line). Tokens with count 0 never occur in training: the UFM has no samples of them, so they are left
out (and counted in the metadata). For each c = lambda N in --scales (lambda_W = lambda_H = c / N, as in
`theory verify`), the ReLU closed form (exact, O(V), well under a second) and, with --with-unconstrained and
when the symmetry-reduced problem is small enough (at most MAX_GROUPS distinct counts; a size criterion, not
a time one), the certified unconstrained optimum give every token's loss. The unconstrained solve is opt-in:
at the 111 distinct counts of the tiny LM sweep (V = 3128 seen tokens) it took 13-28 s per lambda on 2 shared
CPU cores (its L-BFGS warm start dominates), too slow for `make reproduce`; DIR/theory_corpus.csv holds one tidy row per (model, c, powers-of-3 count bin,
theory.ufm.metrics.power_of_3_bins): tokens in the bin, their count range, the unweighted and count-weighted mean
loss and the share of collapsed tokens (loss log V). DIR/theory_corpus.json holds V, N, what was left out and
whether the unconstrained model was solved (with its duality gaps). paper_figures.theory_corpus draws it
next to the LM's measured loss per bin.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from plumbing.atomic import atomic_write_bytes, atomic_write_json
from plumbing.errors import InputError
from plumbing.validate import check_real, parse_real_list

from ..ufm.counts import load_counts_values
from ..ufm.metrics import power_of_3_bins
from ..ufm.problem import MODELS, Problem, check_counts
from ..ufm.solve import solve

UNC, RELU = MODELS
SCALES = (0.1, 0.3, 1.0, 3.0)  # c = lambda N
MAX_GROUPS = 300  # the unconstrained optimum is computed iff the counts take at most this many distinct values
SOLVE = {"tol": 1e-9, "max_iter": 200_000}
COLUMNS = ("model", "c", "lambda", "bin", "count_low", "count_high", "n_tokens", "total_count", "mean_loss",
           "weighted_loss", "collapsed_share", "duality_gap")


def read_corpus_counts(path) -> tuple[np.ndarray, int]:
    """(counts > 0, number of zero-count tokens left out) from token_stats.csv, a .npy or a text file."""
    path = Path(path)
    if path.suffix != ".csv":
        values = load_counts_values(path)
    else:
        try:
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                if not reader.fieldnames or "count" not in reader.fieldnames:
                    raise InputError(f"counts file {str(path)!r} must have a 'count' column (an LM sweep's "
                                     f"token_stats.csv), got columns {reader.fieldnames}")
                values = []
                for i, row in enumerate(reader):
                    try:
                        values.append(float(row["count"]))
                    except (TypeError, ValueError):
                        raise InputError(f"counts file {str(path)!r}: count on data row {i + 1} must be a "
                                         f"number, got {row['count']!r}") from None
        except OSError as exc:
            raise InputError(f"cannot read counts file {str(path)!r}: {exc}") from exc
        values = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0)))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"counts must be finite and >= 0, got count {values[i]!r} at row {i + 1} of {str(path)!r}")
    kept = values[values > 0]
    return check_counts(kept), int(values.size - kept.size)


def parse_scales(text: str) -> tuple[float, ...]:
    """--scales: comma-separated numbers > 0, none repeated."""
    return tuple(parse_real_list("--scales", text, 0, low_open=True))


def bin_rows(model: str, p: Problem, c: float, loss: np.ndarray, gap: float) -> list:
    """One row per powers-of-3 count bin (COLUMNS)."""
    counts = p.counts
    bins = power_of_3_bins(counts)
    collapsed = loss >= math.log(p.V) - 1e-9
    rows = []
    for b in np.unique(bins):
        m = bins == b
        rows.append({"model": model, "c": c, "lambda": p.lambda_w, "bin": int(b), "count_low": float(3.0**b),
                     "count_high": float(3.0 ** (b + 1)), "n_tokens": int(m.sum()),
                     "total_count": float(counts[m].sum()), "mean_loss": float(loss[m].mean()),
                     "weighted_loss": float(counts[m] @ loss[m] / counts[m].sum()),
                     "collapsed_share": float(collapsed[m].mean()), "duality_gap": gap})
    return rows


def theory_corpus(counts: np.ndarray, scales=SCALES, with_unconstrained: bool = False) -> tuple[list, dict]:
    """(per-bin rows, metadata) for the given counts (> 0) and scales c."""
    counts = check_counts(counts)
    base = Problem.from_scale(counts, scales[0])
    g = base.n_groups
    do_unc = with_unconstrained and g <= MAX_GROUPS
    rows, gaps = [], {}
    for c in scales:
        p = Problem.from_scale(counts, c)
        r = solve(p, RELU)
        rows += bin_rows(RELU, p, c, r.per_class_loss, 0.0)
    if do_unc:
        for c in scales:
            p = Problem.from_scale(counts, c)
            p.check_memory(UNC)
            r = solve(p, UNC, **SOLVE)
            gaps[c] = r.gap
            rows += bin_rows(UNC, p, c, r.per_class_loss, r.gap)
    meta = {"V": base.V, "N": base.N, "distinct_counts": g, "scales c = lambda N": list(scales),
            "lambda = c / N": [c / base.N for c in scales],
            "ufm-unconstrained": (
                f"certified optimum, largest duality gap {max(gaps.values()):.2g}" if do_unc else
                "not computed: pass --with-unconstrained (about 20 s per lambda at ~100 distinct counts)"
                if not with_unconstrained else
                f"not computed: {g} distinct counts > MAX_GROUPS = {MAX_GROUPS} (the reduced problem is g x g; "
                f"about {base.memory_estimate(UNC) / 2**30:.3g} GiB)"),
            "ufm-relu": "closed form (exact)"}
    return rows, meta


def write_corpus(counts_file: str, out: str, scales=SCALES, with_unconstrained: bool = False) -> dict:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a folder, got the file {str(out)!r}")
    counts, dropped = read_corpus_counts(counts_file)
    rows, meta = theory_corpus(counts, scales, with_unconstrained)
    meta = {"counts_file": str(counts_file), "zero_count_tokens_left_out": dropped, **meta}
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    wr.writeheader()
    wr.writerows(rows)
    atomic_write_bytes(out / "theory_corpus.csv", buf.getvalue().encode())
    atomic_write_json(out / "theory_corpus.json", meta)
    print(f"wrote {out / 'theory_corpus.csv'} (V = {meta['V']}, {dropped} zero-count tokens left out; "
          f"ufm-unconstrained: {meta['ufm-unconstrained'][:60]})")
    return meta


__all__ = ["COLUMNS", "read_corpus_counts", "theory_corpus", "write_corpus"]
