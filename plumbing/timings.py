"""`python -m plumbing.timings FILE STAGE -- CMD ...`: run one pipeline stage and record its wall time.

The Makefile runs every stage of `make reproduce` through this, so the time each stage took is a result
file (FILE, a CSV with columns stage, seconds, exit_status, finished_utc; one row per stage, a rerun of a
stage replaces its row) rather than a number copied by hand. The command's exit status is passed on.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .atomic import atomic_write_csv

COLUMNS = ("stage", "seconds", "exit_status", "finished_utc")


def record(path: Path, stage: str, seconds: float, status: int) -> None:
    """Replace (or add) the row of `stage` in the timings CSV at `path`, atomically; rows keep first-run order.
    Stages of parallel lanes finish at the same time: the read-modify-write holds an exclusive lock."""
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _record(path, stage, seconds, status)


def _record(path: Path, stage: str, seconds: float, status: int) -> None:
    rows = pd.read_csv(path).to_dict("records") if path.exists() else []
    row = {"stage": stage, "seconds": round(seconds, 1), "exit_status": status,
           "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    at = [i for i, r in enumerate(rows) if r["stage"] == stage]
    if at:
        rows[at[0]] = row
    else:
        rows.append(row)
    atomic_write_csv(pd.DataFrame(rows, columns=list(COLUMNS)), path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or args[2] != "--":
        print("usage: python -m plumbing.timings FILE STAGE -- CMD [ARGS ...]", file=sys.stderr)
        return 2
    path, stage, cmd = Path(args[0]), args[1], args[3:]
    start = time.perf_counter()
    child = subprocess.Popen(cmd)
    try:
        status = child.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the stage too; it prints its own line and exits
        status = child.wait()
        return status if status > 0 else 130
    path.parent.mkdir(parents=True, exist_ok=True)
    record(path, stage, time.perf_counter() - start, status)
    return status


if __name__ == "__main__":
    sys.exit(main())
