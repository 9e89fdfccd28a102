"""Atomic result files and counts files. Every writer goes to a temp file in the same folder, then renames,
so an interrupted run never leaves a half-written result behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .problem import InputError, check_counts


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the result the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def atomic_savefig(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically; the format follows the path's suffix (png, pdf)."""
    import io

    buf = io.BytesIO()
    fmt = Path(path).suffix.lstrip(".") or "png"
    fig.savefig(buf, format=fmt, **kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def read_counts_file(path: str | os.PathLike) -> np.ndarray:
    """Counts from a .npy file or a text file with one number per line (blank lines and # comments skipped)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
            values = [float(x) for x in lines if x]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read counts file {str(path)!r}: {exc}") from exc
    return check_counts(values)


def parse_counts(text: str) -> np.ndarray:
    """'100,50,20' -> array([100., 50., 20.]), or InputError naming the bad item."""
    items = [x.strip() for x in str(text).split(",")]
    out = []
    for x in items:
        try:
            out.append(float(x))
        except ValueError:
            raise InputError(f"counts must be comma-separated numbers, got {x!r} in {text!r}") from None
    return check_counts(out)


def atomic_write_csv(frame, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame as CSV (gzip when the name ends in .gz) atomically, without the index."""
    import gzip

    text = frame.to_csv(index=False).encode("utf-8")
    return atomic_write_bytes(path, gzip.compress(text, mtime=0) if str(path).endswith(".gz") else text)
