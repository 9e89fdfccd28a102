"""Fig. 1 analogue: per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training
counts) against weight decay; one row per LM sweep folder (lm, lm_gpu, ...), train and held-out columns;
mean ± std over seeds as error bars, symlog x.

Data: <lm folder>/summary.csv (lambda, seed, split, low_freq_loss, high_freq_loss, decay_mode) and
<lm folder>/config.json (the panel titles)."""

from __future__ import annotations

from pathlib import Path

from .common import lambda_panels, lm_inputs

NAME = "fig1_low_high_vs_weight_decay"
CAPTION = ("Fig. 1 analogue — per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training "
           "counts) against weight decay, train and held-out; mean ± std over seeds.")
DIFFERS = ("the paper plots the training set only, for 270M-3B models trained 10k steps on IMDB; we add the "
           "held-out split, and our model, corpus and training length are those of the runs named here")
# (summary.csv column, legend label, colour, marker)
SERIES = (("low_freq_loss", "low-frequency", "C3", "o"),
          ("high_freq_loss", "high-frequency", "C0", "s"))
inputs = lm_inputs


def make(results: Path, out: Path) -> list[Path]:
    return lambda_panels(results, out, NAME, SERIES, "per-token cross-entropy",
                         "Low- vs high-frequency token loss against weight decay (P99 split)")
