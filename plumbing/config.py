"""Configs as data (a preset name or a TOML/JSON file of dataclass fields) and the result-folder guard."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import InputError
from .folder import read_config_record


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
    previous = read_config_record(out) if out.is_dir() else None
    if previous is not None:
        old = previous.get("digest")
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
    kinds = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
             for f in dataclasses.fields(base)}  # the annotation as written: "int", "float | None", ...
    for key, value in data.items():
        if key not in kinds:
            raise InputError(f"unknown config key {key!r}; allowed: {', '.join(sorted(kinds))}")
        check_kind(key, value, kinds[key])
    return dataclasses.replace(base, **data)


# a dataclass field's annotation -> the TOML/JSON values it takes (float takes integers too; "X | None" also null)
_KINDS = {"str": (str, "a string"), "int": (int, "an integer"), "float": ((int, float), "a number"),
          "bool": (bool, "true or false"), "tuple": ((list, tuple), "a list [...]"), "dict": (dict, "a table {...}")}


def check_kind(key: str, value, annotation: str) -> None:
    """InputError unless `value` (from a config file) has the kind its field's annotation names: a list where a
    list is due, a table where a table is due, a TOML boolean for a bool, an integer (not a boolean) for an int.
    The values inside are checked by the dataclass itself."""
    names = [a.strip() for a in annotation.split("|")]
    if value is None and "None" in names:
        return
    kinds = [_KINDS[n] for n in names if n in _KINDS]
    if not kinds:
        return
    ok = any(isinstance(value, t) and not (isinstance(value, bool) and bool not in (t if isinstance(t, tuple)
                                                                                   else (t,)))
             for t, _ in kinds)
    if not ok:
        allowed = " or ".join(d for _, d in kinds) + (" or null" if "None" in names else "")
        raise InputError(f"config key {key!r} must be {allowed}, got {value!r}")
