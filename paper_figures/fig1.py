"""Fig. 1 analogue: per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training
counts) against weight decay; one row per LM sweep folder (lm, lm_gpu, ...), train and held-out columns;
mean ± std over seeds as error bars, symlog x. The title states how many token ids each group holds in each
folder (summary.csv's n_low, n_high): at P99 the high group is 1% of the vocabulary.

Data: <lm folder>/summary.csv (lambda, seed, split, low_freq_loss, high_freq_loss, n_low, n_high, decay_mode)
and <lm folder>/config.json (the panel titles)."""

from __future__ import annotations

from pathlib import Path

from .common import lambda_panels, lm_dirs, lm_inputs, lm_summary

NAME = "fig1_low_high_vs_weight_decay"
CAPTION = ("Fig. 1 analogue — per-token cross-entropy of low- vs high-frequency tokens (P99 split of the training "
           "counts) against weight decay, train and held-out; mean ± std over seeds; the title gives how many "
           "token ids each group holds.")
DIFFERS = ("the paper plots the training set only, for 270M-3B models trained 10k steps on IMDB; we add the "
           "held-out split, and our model, corpus and training length are those of the runs named here")
# (summary.csv column, legend label, colour, marker)
SERIES = (("low_freq_loss", "low-frequency", "C3", "o"),
          ("high_freq_loss", "high-frequency", "C0", "s"))
SIZES = ("n_low", "n_high")
inputs = lm_inputs


def _sizes(n) -> str:
    """'8090' for one value, '8085-8090' when the runs of a folder differ."""
    lo, hi = int(n.min()), int(n.max())
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def group_sizes(results: Path) -> str:
    """'lm: 8,090 low / 82 high token ids; lm_gpu: ...' from each LM folder's summary.csv."""
    parts = []
    for folder in lm_dirs(results):
        s = lm_summary(folder, SIZES, SIZES)
        parts.append(f"{folder.name}: {_sizes(s['n_low'])} low / {_sizes(s['n_high'])} high token ids")
    return "; ".join(parts)


def make(results: Path, out: Path) -> list[Path]:
    return lambda_panels(results, out, NAME, SERIES, "per-token cross-entropy",
                         "Low- vs high-frequency token loss against weight decay (P99 split)\n"
                         f"{group_sizes(results)}")
