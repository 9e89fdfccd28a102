"""`python -m lm_experiments pack`: the small result files of a finished (or budget-stopped) sweep, copied into a
tracked results folder (results/gpu/<name>/ for a real-scale run) that the report and the README read.

Copied as they are: config.json, plan.csv, and per regime config.json, data_manifest.json, token_stats.json,
token_stats.csv, text_sample.csv, summary.csv, table1.csv, table1.md and, per finished run, runs/<run>/metrics.csv,
manifest.json and done.json. Compressed: learning_speed.csv -> learning_speed.csv.gz. Per-token losses: each run's
per_token.csv.gz reduced to its first and last evaluation step (what the per-bin figures and Table 1 need; the
curves in between are summarised by learning_speed), and left out altogether -- pack.json says so -- if they
would exceed `per_token_cap_mib` in total. Not copied: checkpoints and the prepared data (data/).
pack.json lists every file written with its size. Every file is written atomically.
"""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

from plumbing.atomic import atomic_path, atomic_write_bytes, atomic_write_json
from plumbing.errors import InputError
from plumbing.results import read_result_csv
from plumbing.schemas import LM_RUN_PER_TOKEN

TOP = ("config.json", "plan.csv")
PER_REGIME = ("config.json", "data_manifest.json", "token_stats.json", "token_stats.csv", "text_sample.csv", "summary.csv",
              "table1.csv", "table1.md")
PER_RUN = ("metrics.csv", "manifest.json", "done.json")


def _regimes(sweep: Path) -> list[Path]:
    """The folders holding a summary.csv: the sweep itself, or its regime subfolders."""
    if (sweep / "summary.csv").is_file():
        return [sweep]
    found = sorted(p.parent for p in sweep.glob("*/summary.csv"))
    if not found:
        raise InputError(f"{str(sweep)!r} holds no summary.csv (nor <regime>/summary.csv): no finished sweep to pack")
    return found


def _copy(src: Path, dst: Path, written: list) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    written.append(dst)


def _first_and_last_step(path: Path) -> bytes:
    pt = read_result_csv(path, LM_RUN_PER_TOKEN.columns)
    keep = pt[pt["step"].isin([pt["step"].min(), pt["step"].max()])]
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(keep.to_csv(index=False).encode())
    return buf.getvalue()


def pack(sweep: str | Path, out: str | Path, per_token_cap_mib: float = 16.0) -> dict:
    """Copy the small files of `sweep` into `out` (see the module doc); returns the pack.json record."""
    sweep, out = Path(sweep), Path(out)
    if sweep.resolve() == out.resolve():
        raise InputError(f"--out {str(out)!r} is the sweep folder itself; pack into another folder")
    written: list[Path] = []
    for name in TOP:
        if (sweep / name).is_file():
            _copy(sweep / name, out / name, written)
    per_token = {}
    for reg in _regimes(sweep):
        rel = reg.relative_to(sweep)
        for name in PER_REGIME:
            if (reg / name).is_file() and out / rel / name not in written:  # one regime: config.json is TOP's
                _copy(reg / name, out / rel / name, written)
        if (reg / "learning_speed.csv").is_file():
            atomic_write_bytes(out / rel / "learning_speed.csv.gz",
                               gzip.compress((reg / "learning_speed.csv").read_bytes(), mtime=0))
            written.append(out / rel / "learning_speed.csv.gz")
        for run in sorted(p.parent for p in reg.glob("runs/*/done.json")):
            for name in PER_RUN:
                if (run / name).is_file():
                    _copy(run / name, out / rel / "runs" / run.name / name, written)
            if (run / LM_RUN_PER_TOKEN.name).is_file():
                per_token[out / rel / "runs" / run.name / LM_RUN_PER_TOKEN.name] = _first_and_last_step(
                    run / LM_RUN_PER_TOKEN.name)
    total = sum(len(b) for b in per_token.values())
    per_token_kept = total <= per_token_cap_mib * 2**20
    if per_token_kept:
        for path, data in per_token.items():
            atomic_write_bytes(path, data)
            written.append(path)
    record = {"sweep": str(sweep), "per_token_files": "first and last evaluation step of each run" if per_token_kept
              else f"left out: {total / 2**20:.1f} MiB > cap {per_token_cap_mib:g} MiB",
              "files": {str(p.relative_to(out)): p.stat().st_size for p in written}}
    atomic_write_json(out / "pack.json", record)
    return record

