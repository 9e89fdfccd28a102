"""The training checkpoint: model, optimizer, step and RNG states in one torch file, written atomically
(streamed to a temporary file beside it, then renamed) and read back with torch.load(weights_only=True)."""

from __future__ import annotations

from pathlib import Path

import torch

from plumbing.atomic import atomic_path
from plumbing.errors import InputError

KEYS = ("model", "optimizer", "step")  # "rng" too, absent from checkpoints written before it was saved


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _first_line(exc: Exception, limit: int = 200) -> str:
    """The first line of an error's message, clipped: torch's refusals run over many lines."""
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def save(path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int) -> Path:
    """Write {"model", "optimizer", "step", "rng"} to `path` atomically; rng holds the CPU generator state and,
    for a model on CUDA, that device's. Streamed to disk: no in-memory copy of a large state."""
    device = _device(model)
    rng = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": int(step), "rng": rng}, tmp)
    return Path(path)


def load(path: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, device: torch.device) -> int:
    """Restore model, optimizer and RNG states from `path` (tensors mapped to `device`); returns the step.
    A damaged or incomplete file raises one InputError naming it."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not set(KEYS) <= set(state):
            raise KeyError(f"missing {sorted(set(KEYS) - set(state))}")
    except Exception as exc:  # torch raises RuntimeError / UnpicklingError / EOFError on a damaged file
        raise InputError(f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}: {_first_line(exc)}); "
                         f"delete it to restart this run from step 0") from None
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if "rng" in state:
        torch.set_rng_state(state["rng"]["cpu"].cpu())
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), device)
    return int(state["step"])
