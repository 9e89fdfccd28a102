"""Validation of config and CLI values: one helper for integers, one for reals, each with bounds.

Each returns the value as a plain Python int/float (so it can go to JSON) or raises one InputError naming
the field, the value and what is allowed. Booleans are refused where a number is asked for (True == 1 in
Python, but a config that says `steps = true` is a mistake).
"""

from __future__ import annotations

import math
import numbers

from .errors import InputError


def _bounds(low, high, low_open: bool = False) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    return " and ".join(parts)


def check_int(name: str, value, low: int | None = None, high: int | None = None,
              allow_numpy: bool = True) -> int:
    """`value` as int, if it is an integer (Python, or NumPy when allow_numpy) in [low, high]."""
    kinds = numbers.Integral if allow_numpy else int
    if isinstance(value, bool) or not isinstance(value, kinds) or \
            (low is not None and value < low) or (high is not None and value > high):
        rule = _bounds(low, high)
        raise InputError(f"{name} must be an integer{' ' + rule if rule else ''}, got {value!r}")
    return int(value)


def check_real(name: str, value, low: float | None = None, high: float | None = None,
               low_open: bool = False, parse: bool = False) -> float:
    """`value` as a finite float in [low, high] ((low, high] when low_open). With parse, strings such as
    '1e-3' are accepted (CLI values); otherwise only numbers are."""
    rule = _bounds(low, high, low_open)
    msg = f"{name} must be a finite number{' ' + rule if rule else ''}, got {value!r}"
    if isinstance(value, bool):
        raise InputError(msg)
    if parse and isinstance(value, str):
        try:
            value_f = float(value)
        except ValueError:
            raise InputError(msg) from None
    elif isinstance(value, numbers.Real):
        value_f = float(value)
    else:
        raise InputError(msg)
    if not math.isfinite(value_f) or (low is not None and (value_f <= low if low_open else value_f < low)) or \
            (high is not None and value_f > high):
        raise InputError(msg)
    return value_f


def check_choice(name: str, value, allowed) -> str:
    """`value` if it is one of `allowed`."""
    if value not in tuple(allowed):
        raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


def check_unique(name: str, values) -> tuple:
    """`values` as a tuple if it is not empty and no value appears twice (a repeated seed or lambda would be
    counted as a replicate); InputError naming the repeated value otherwise."""
    values = tuple(values)
    if not values:
        raise InputError(f"{name} must not be empty")
    seen = set()
    for v in values:
        if v in seen:
            raise InputError(f"{name} repeats the value {v!r}: {list(values)}; each must appear once")
        seen.add(v)
    return values


def parse_int_list(name: str, text: str, low: int | None = None) -> list[int]:
    """'1,2,3' -> [1, 2, 3] (each checked against low, none repeated), or InputError naming the option and the
    text."""
    try:
        values = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise InputError(f"{name} must be comma-separated integers, got {text!r}")
    return list(check_unique(name, [check_int(name, v, low) for v in values]))


def parse_real_list(name: str, text: str, low: float | None = None, low_open: bool = False) -> list[float]:
    """'1e-3,0.1' -> [0.001, 0.1]: comma-separated finite numbers (each checked against low, none repeated)."""
    rule = _bounds(low, None, low_open)
    msg = f"{name} must be comma-separated numbers{' ' + rule if rule else ''}, got {text!r}"
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    if not items:
        raise InputError(msg)
    try:
        values = [check_real(name, x, low, low_open=low_open, parse=True) for x in items]
    except InputError:
        raise InputError(msg) from None
    return list(check_unique(name, values))


def check_device(name: str, text: str) -> str:
    """`text` if it names a torch device this machine has (cpu; cuda or cuda:N when that GPU is present)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"{name} must be a torch device such as cpu, cuda or cuda:1, got {text!r}") from None
    if device.type == "cuda":
        n = torch.cuda.device_count()
        if n == 0 or (device.index is not None and device.index >= n):
            raise InputError(f"{name} {text!r}: this machine has {n} CUDA device(s)")
    elif device.type != "cpu":
        raise InputError(f"{name} must be cpu, cuda or cuda:N, got {text!r}")
    return text
