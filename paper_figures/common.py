"""Reading result files (clear errors naming the file) and saving figures; paper_figures never trains."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from theory.io import atomic_savefig  # noqa: E402
from theory.problem import InputError  # noqa: E402

LM_DIRS = ("lm", "lm_gpu")
PAPER = ("paper: OpenELM/Qwen2 270M-3B, IMDB (25k reviews), BPE 32k, seq 128, 10k steps, AdamW, "
         "weight decay 0-2, 5 seeds, measured on the training set")


def read_csv(path: Path, columns: tuple = ()) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"missing result file {str(path)!r}")
    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read result file {str(path)!r}: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"result file {str(path)!r} lacks the column(s) {', '.join(missing)}")
    return df


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"missing result file {str(path)!r}")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"cannot read result file {str(path)!r}: {exc}") from exc


def lm_dirs(results: Path) -> list[Path]:
    """The LM sweep folders present (CPU `lm`, GPU `lm_gpu`); an error naming lm/summary.csv if none."""
    found = [results / d for d in LM_DIRS if (results / d / "summary.csv").is_file()]
    if not found:
        raise InputError(f"missing result file {str(results / 'lm' / 'summary.csv')!r}")
    return found


def lm_label(folder: Path) -> str:
    cfg = read_json(folder / "config.json")["config"]
    train = cfg.get("train", {})
    return (f"{folder.name}: {train.get('preset', 'tiny')} on {cfg['corpus']}, vocab {cfg['vocab_size']}, "
            f"{train.get('steps', '?')} steps, {len(cfg['seeds'])} seed(s)")


def save(fig, out: Path, name: str) -> list[Path]:
    paths = [atomic_savefig(fig, out / f"{name}.{ext}", dpi=130, bbox_inches="tight") for ext in ("png", "pdf")]
    plt.close(fig)
    return paths


def symlog_lambda(ax, lambdas) -> None:
    positive = [v for v in lambdas if v > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    ax.set_xlabel("weight decay λ")
