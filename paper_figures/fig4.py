"""Fig. 4 analogue: average (per-token) vs class-balanced (mean over token ids) loss against weight decay,
train and held-out columns, one row per LM sweep folder; mean ± std over seeds, symlog x.

Data: <lm folder>/summary.csv (lambda, seed, split, average_loss, balanced_loss, decay_mode) and
<lm folder>/config.json (the panel titles)."""

from __future__ import annotations

from pathlib import Path

from .common import lambda_panels, lm_inputs

NAME = "fig4_average_vs_balanced"
CAPTION = ("Fig. 4 analogue — average (per-token) vs class-balanced (mean over token ids) loss against weight "
           "decay, train and held-out; mean ± std over seeds.")
DIFFERS = ("the same two losses as the paper, from our own runs (named here) rather than 270M-3B models trained "
           "10k steps on IMDB; the paper reports the training set only, we add the held-out split")
# (summary.csv column, legend label, colour, marker)
SERIES = (("average_loss", "average", "C0", "o"),
          ("balanced_loss", "class-balanced", "C1", "s"))
inputs = lm_inputs


def make(results: Path, out: Path) -> list[Path]:
    return lambda_panels(results, out, NAME, SERIES, "loss",
                         "Average vs class-balanced loss against weight decay")
