"""Reading result files back: one CSV reader that names the file in every error."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


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
