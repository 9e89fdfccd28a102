"""Table 1 analogue: average loss, balanced loss and accuracy per weight decay, mean ± std over seeds
(from each LM folder's table1.csv), as Markdown and CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from theory.io import atomic_write_csv, atomic_write_text

from .common import lm_dirs, lm_label, read_csv

METRICS = ("average_loss", "balanced_loss", "accuracy")


def make(results: Path, out: Path) -> list[Path]:
    frames, lines = [], ["Paper (Table 1, OpenELM-270M on IMDB, train): average loss 0.051 -> 0.068, balanced loss "
                         "0.066 -> 0.163, accuracy 98.80% -> 98.71% for weight decay 0 -> 1.", ""]
    for folder in lm_dirs(results):
        cols = ("decay_mode", "split", "lambda", "n_seeds") + tuple(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))
        t = read_csv(folder / "table1.csv", cols)
        t.insert(0, "sweep", folder.name)
        frames.append(t)
        lines += [f"### {lm_label(folder)}", "", "| split | decay mode | weight decay | average loss | balanced loss | "
                  "accuracy (%) | seeds |", "|---|---|---|---|---|---|---|"]
        for _, r in t.iterrows():
            def cell(m, scale=1.0, fmt=".4f"):
                sd = r[f"{m}_std"]
                return f"{r[f'{m}_mean'] * scale:{fmt}}" + ("" if np.isnan(sd) else f" ± {sd * scale:{fmt}}")
            lines.append(f"| {r['split']} | {r['decay_mode']} | {r['lambda']:g} | {cell('average_loss')} | "
                         f"{cell('balanced_loss')} | {cell('accuracy', 100, '.2f')} | {int(r['n_seeds'])} |")
        lines.append("")
    return [atomic_write_csv(pd.concat(frames, ignore_index=True), out / "table1.csv"),
            atomic_write_text(out / "table1.md", "\n".join(lines))]
