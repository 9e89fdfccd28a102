"""Atomic result files. Every writer goes to a temp file in the same folder, then renames, so an interrupted
run never leaves a half-written result behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends without error,
    deleted when it raises. Writers that stream (np.save, torch.save) use it to avoid an in-memory copy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the result the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


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


def save_figure(fig, out: str | os.PathLike, name: str, dpi: int = 130) -> list[Path]:
    """out/name.png and out/name.pdf, each written atomically; the figure is closed afterwards."""
    import matplotlib.pyplot as plt

    paths = [atomic_savefig(fig, Path(out) / f"{name}.{ext}", dpi=dpi, bbox_inches="tight") for ext in ("png", "pdf")]
    plt.close(fig)
    return paths


def atomic_write_csv(frame, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame as CSV (gzip when the name ends in .gz) atomically, without the index."""
    import gzip

    text = frame.to_csv(index=False).encode("utf-8")
    return atomic_write_bytes(path, gzip.compress(text, mtime=0) if str(path).endswith(".gz") else text)


def jsonable(obj, nonfinite=None):
    """`obj` with numpy scalars turned into Python numbers and non-finite floats into `nonfinite` (None -> JSON
    null, or e.g. str to keep 'nan' / 'inf' as text), so that atomic_write_json's strict JSON accepts it."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {k: jsonable(v, nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, nonfinite) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else (nonfinite(v) if callable(nonfinite) else nonfinite)
    return obj
