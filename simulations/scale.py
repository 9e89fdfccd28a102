"""`python -m simulations scale`: the unconstrained UFM at a vocabulary's counts (Zipf at V = 1000 in `make
reproduce`; a real corpus's, e.g. the `mixed` corpus at vocabulary 32,000, on a GPU), trained along a lambda
path (simulations.ufm_path) against the certified theory.

Two stages, each kept in --out so that a rerun resumes (the theory runs on the CPU here; the training then
runs wherever --device says, e.g. on a lent GPU with the folder carried there):
  config.json        counts (name, V, sha256 of the counts), lambdas, tolerances: a rerun with another config is refused
  optima.csv         lambda, rank of the certified optimum, width d the training uses, duality gap, seconds
  theory.csv.gz      lambda, class, count, theory_loss (the certified per-class loss)
  path.csv           per lambda: width, L-BFGS iterations, cumulative seconds, max_k |loss_k - theory_k|,
                     reached (<= tol), V, device and its name, dtype, torch version
  per_class.csv.gz   lambda, class, count, trained loss, theory_loss
The width is min(V, rank + margin): at V = 32,000 a lambda whose optimum has full rank would need two
V x V factors plus L-BFGS memory (~100 GB in float64), so the lambdas to run are those with a moderate rank.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.config import claim_result_folder
from plumbing.errors import InputError
from plumbing.validate import check_real, parse_real_list
from plumbing.schemas import SIM_SCALE_OPTIMA, SIM_SCALE_PATH, SIM_SCALE_PER_CLASS, SIM_SCALE_THEORY, frame

from .frequencies import class_counts
from .ufm_path import certified_optima, train_path, width_for


def run_scale(counts: str, lambdas, out: str | Path, device: str = "cpu", V: int | None = None, tol: float = 1e-3,
              theory_tol: float = 1e-8, theory_seconds: float | None = None, max_seconds: float = 600.0,
              theory_only: bool = False, progress=print) -> pd.DataFrame | None:
    """Run (or resume) both stages into `out`; returns path.csv's table (None with theory_only).

    counts: a counts file or a name simulations.frequencies.class_counts knows ("zipf" with V, ...)."""
    out = Path(out)
    theory_tol = check_real("theory_tol", theory_tol, 0.0, low_open=True)
    if theory_seconds is not None:
        theory_seconds = check_real("--theory-seconds", theory_seconds, 0.0, low_open=True)
    name = Path(counts).name if Path(counts).is_file() else str(counts)
    counts = class_counts(str(counts), V)
    lambdas = sorted(float(x) for x in lambdas)
    config = {"counts": name, "V": int(counts.size), "counts_sha256": hashlib.sha256(counts.tobytes()).hexdigest(),
              "lambdas": lambdas, "tol": tol, "theory_tol": theory_tol}
    record = claim_result_folder(out, config)
    if not _certified_stage(out, lambdas, theory_tol):
        optima, theory = _theory_stage(counts, lambdas, theory_tol, theory_seconds, progress)
        atomic_write_csv(optima, out / SIM_SCALE_OPTIMA.name)
        atomic_write_csv(theory, out / SIM_SCALE_THEORY.name)
    atomic_write_json(out / "config.json", record)  # after the theory: a stage that failed leaves nothing
    if theory_only:
        return None
    optima = pd.read_csv(out / SIM_SCALE_OPTIMA.name)
    theory = pd.read_csv(out / SIM_SCALE_THEORY.name)
    targets = {lam: g.sort_values("class")["theory_loss"].to_numpy() for lam, g in theory.groupby("lambda")}
    widths = dict(zip(optima["lambda"], optima["width"].astype(int)))
    dtype = torch.float64
    steps = train_path(counts, targets, widths, device=device, dtype=dtype, tol=tol, max_seconds=max_seconds,
                       progress=lambda lam, it, diff: progress(f"lambda {lam:g}: {it} iterations, max|diff| {diff:.1e}")
                       if it % 50 == 0 else None)
    device_name = "cpu"
    if str(device).startswith("cuda"):
        device_name = torch.cuda.get_device_name()
        progress(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    table = frame(SIM_SCALE_PATH, [{"lambda": s.lam, "width": s.width, "iterations": s.iterations,
                                    "seconds": s.seconds, "max_abs_diff": s.max_abs_diff, "reached": s.reached,
                                    "V": counts.size, "device": str(device), "device_name": device_name,
                                    "dtype": str(dtype).removeprefix("torch."), "torch": torch.__version__}
                                   for s in steps])
    per_class = pd.concat([pd.DataFrame({"lambda": s.lam, "class": np.arange(counts.size), "count": counts,
                                         "loss": s.loss, "theory_loss": targets[s.lam]}) for s in steps],
                          ignore_index=True)
    atomic_write_csv(frame(SIM_SCALE_PER_CLASS, per_class), out / SIM_SCALE_PER_CLASS.name)
    atomic_write_csv(table, out / SIM_SCALE_PATH.name)
    return table


def _theory_stage(counts: np.ndarray, lambdas: list, theory_tol: float, theory_seconds: float | None,
                  progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(optima, theory) tables of the certified optima, each solve started from the one before; InputError,
    before anything is written, as soon as one optimum is not certified to theory_tol (its gap is larger)."""
    rows, per_class, sol = [], [], None
    for lam in lambdas:  # increasing: each starts from the optimum before it
        t0 = time.perf_counter()
        sol = certified_optima(counts, [lam], tol=theory_tol, time_limit=theory_seconds, start=sol)[lam]
        if not sol.duality_gap <= theory_tol:
            raise InputError(f"theory lambda {lam:g}: duality gap {sol.duality_gap:.2e} > {theory_tol:g} after "
                             f"{time.perf_counter() - t0:.1f} s (--theory-seconds {theory_seconds}); not certified, "
                             "nothing stored")
        rank = sol.rank()
        rows.append({"lambda": lam, "rank": rank, "width": width_for(rank, counts.size),
                     "duality_gap": sol.duality_gap, "theory_seconds": time.perf_counter() - t0})
        per_class.append(pd.DataFrame({"lambda": lam, "class": np.arange(counts.size), "count": counts,
                                       "theory_loss": sol.per_class_loss}))
        progress(f"theory lambda {lam:g}: rank {rank}, gap {sol.duality_gap:.1e}, {rows[-1]['theory_seconds']:.0f} s")
    return frame(SIM_SCALE_OPTIMA, rows), frame(SIM_SCALE_THEORY, pd.concat(per_class, ignore_index=True))


def _certified_stage(out: Path, lambdas: list, theory_tol: float) -> bool:
    """Whether `out` holds a theory stage to reuse: both files, one optimum per lambda, each gap <= theory_tol
    (an uncertified optimum an older version stored is solved again, never reused)."""
    if not ((out / SIM_SCALE_OPTIMA.name).is_file() and (out / SIM_SCALE_THEORY.name).is_file()):
        return False
    optima = pd.read_csv(out / SIM_SCALE_OPTIMA.name)
    if "lambda" not in optima or "duality_gap" not in optima:
        return False
    gaps = pd.to_numeric(optima["duality_gap"], errors="coerce")  # NaN (unreadable) fails the test below
    return sorted(optima["lambda"]) == lambdas and bool((gaps <= theory_tol).all())


def check_lambdas(text: str) -> list[float]:
    """--lambdas: comma-separated numbers > 0, none repeated."""
    return parse_real_list("--lambdas", text, 0, low_open=True)
