"""Atomic result files and counts files. Every writer goes to a temp file in the same folder, then renames,
so an interrupted run never leaves a half-written result behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .problem import InputError, check_counts


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


def read_result_csv(path: str | os.PathLike, columns: tuple = (), numeric: tuple = (), hint: str = "", **kwargs):
    """A result CSV (.csv or .csv.gz) as a DataFrame with at least one row and the given columns; `numeric`
    columns must parse as numbers; kwargs go to pandas.read_csv. Any problem is an InputError naming the file
    (`hint`, when given, says how to make a missing one)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"missing result file {str(path)!r}" + (f"; {hint}" if hint else ""))
    try:
        df = pd.read_csv(path, **kwargs)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"cannot read result file {str(path)!r}: {' '.join(str(exc).split())}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"result file {str(path)!r} lacks the column(s) {', '.join(missing)}")
    if df.empty:
        raise InputError(f"result file {str(path)!r} has no rows")
    for c in numeric:
        try:
            df[c] = pd.to_numeric(df[c])
        except (ValueError, TypeError):
            raise InputError(f"result file {str(path)!r}: column {c} must hold numbers") from None
    return df


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


def config_digest(config: dict) -> str:
    """The first 16 hex digits of SHA-256 of the config as canonical JSON (sorted keys)."""
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def claim_result_folder(out: str | os.PathLike, config: dict) -> dict:
    """Check that a resumable job may write into `out`: not a file, and any out/config.json there was written
    by the same config. Returns the record to write as out/config.json ({"digest", "config"}); writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a folder, got the file {str(out)!r}")
    digest = config_digest(config)
    if (out / "config.json").exists():
        old = json.loads((out / "config.json").read_text()).get("digest")
        if old != digest:
            raise InputError(f"{str(out)!r} holds results of another config (digest {old}, now {digest}); "
                             "use a new --out folder")
    return {"digest": digest, "config": config}


def load_dataclass_config(spec: str, presets: dict, default: str, overrides: dict | None = None):
    """A config: the name of a preset, or a .toml/.json file of dataclass fields on top of a preset.

    The file may name its starting preset with the key `base` (default `default`); any key that is not a
    field of the dataclass is refused with the list of allowed keys. Configs are data, never code.
    """
    import dataclasses
    import tomllib

    if spec in presets:
        base, data = presets[spec], {}
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"config must be one of {', '.join(presets)} or a .toml/.json file, got {spec!r}")
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot read config {spec!r}: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError(f"config {spec!r} must hold a table of keys, got {type(data).__name__}")
        name = data.pop("base", default)
        if name not in presets:
            raise InputError(f"base must be one of {', '.join(presets)}, got {name!r}")
        base = presets[name]
        data.setdefault("name", path.stem)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in dataclasses.fields(base)}
    for key in data:
        if key not in known:
            raise InputError(f"unknown config key {key!r}; allowed: {', '.join(sorted(known))}")
    return dataclasses.replace(base, **data)
