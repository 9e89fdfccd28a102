"""Findings refuse damaged evidence: every table a finding reads is checked against the rows the configuration
that made it promises (config.json of its result folder).

`table(path, keys, values, expected)` reads a result CSV and raises InputError naming the file and the row for
  - an unreadable file, a missing column, no rows (plumbing.results.read_result_csv);
  - a NaN or infinite value in a column the finding reads (`values`, except where `nullable` allows it);
  - two rows with the same key (a duplicated run would count as a replicate);
  - a key the configuration does not promise (an extra row) or a promised key with no row (a missing run).
Row numbers are the file's line numbers (the header is line 1).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd


from plumbing.errors import InputError  # noqa: F401  (re-exported)
from plumbing.results import read_result_csv

from ..common import read_json

FLOAT_KEYS = ("lambda", "c", "c from", "c to")


def config(folder: Path, keys: tuple) -> dict:
    """The "config" object of folder/config.json, with the given keys (InputError naming the file otherwise)."""
    path = Path(folder) / "config.json"
    data = read_json(path)
    cfg = data.get("config")
    if not isinstance(cfg, dict):
        raise InputError(f"result file {str(path)!r} lacks the object 'config'")
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise InputError(f"result file {str(path)!r} lacks the config key(s) {', '.join(missing)}")
    return cfg


def _key(values: tuple, names: tuple) -> tuple:
    """A key with floats for lambda-like columns and ints for seeds/classes, so config and CSV values compare."""
    out = []
    for name, v in zip(names, values):
        if name in FLOAT_KEYS:
            out.append(float(v))
        elif name in ("seed", "class", "vocab_size", "token_id") and not (isinstance(v, float) and math.isnan(v)):
            out.append(int(v))
        else:
            out.append(v)
    return tuple(out)


def _where(keys: tuple, key: tuple) -> str:
    return ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v:g}" for k, v in zip(keys, key))


def table(path: Path, keys: tuple, values: tuple, expected=None, nullable: tuple = (), columns: tuple = (),
          numeric: tuple = (), promised_by: str = "its folder's config.json") -> pd.DataFrame:
    """The checked table (module docstring); `expected` is an iterable of key tuples (None: not checked), the
    rows that `promised_by` promises."""
    path = Path(path)
    df = read_result_csv(path, tuple(dict.fromkeys(keys + values + columns)),
                         tuple(dict.fromkeys(values + numeric + tuple(k for k in keys if k in FLOAT_KEYS))))
    line = lambda i: int(i) + 2  # noqa: E731  (the header is line 1)
    for col in values:
        if col in nullable:
            continue
        bad = ~np.isfinite(df[col].to_numpy(float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"result file {str(path)!r} line {line(i)}: {col} is {df[col].iloc[i]}, a number is "
                             f"required ({_where(keys, _key(tuple(df[k].iloc[i] for k in keys), keys))})")
    for k in keys:
        if df[k].isna().any():
            i = int(np.flatnonzero(df[k].isna().to_numpy())[0])
            raise InputError(f"result file {str(path)!r} line {line(i)}: the key column {k} is empty")
    got = [_key(t, keys) for t in df[list(keys)].itertuples(index=False, name=None)]
    seen = {}
    for i, k in enumerate(got):
        if k in seen:
            raise InputError(f"result file {str(path)!r} line {line(i)} repeats line {line(seen[k])} "
                             f"({_where(keys, k)}): a duplicated row would count as another replicate")
        seen[k] = i
    if expected is not None:
        want = {_key(k, keys) for k in expected}
        extra = [k for k in got if k not in want]
        if extra:
            raise InputError(f"result file {str(path)!r} line {line(got.index(extra[0]))} ({_where(keys, extra[0])}) "
                             f"is not a row that {promised_by} promises")
        missing = sorted(want - set(got), key=str)
        if missing:
            raise InputError(f"result file {str(path)!r} lacks the row {_where(keys, missing[0])} that "
                             f"{promised_by} promises ({len(missing)} row(s) missing; truncated?)")
    return df


def grid(**axes) -> list[tuple]:
    """Every combination of the axes' values, in the order given (a config's promise as key tuples)."""
    return list(itertools.product(*axes.values()))


def lm_expected(cfg: dict, splits=("train", "heldout")) -> list[tuple]:
    """(decay_mode, lambda, seed, split) of an LM sweep: the first decay mode at every lambda, the others at
    compare_at (every lambda when empty), lambda 0 listed under every mode (one run serves all)."""
    from theory.glossary import baseline_mode

    modes, lams = list(cfg["decay_modes"]), [float(x) for x in cfg["lambdas"]]
    base = baseline_mode(modes)
    at = [float(x) for x in cfg.get("compare_at") or []]
    out = []
    for mode in modes:
        mine = lams if mode == base or not at else [x for x in lams if x == 0 or x in at]
        out += [(mode, lam, int(s), sp) for lam in mine for s in cfg["seeds"] for sp in splits]
    return out
