"""Per-token-id loss, accumulated on the device, summarised through the shared definitions of `theory`.

For every target id k: loss_sum[k] = sum of CE over the positions whose target is k, count[k] = number of
those positions, correct[k] = how many of them the argmax prediction got right. The per-id loss is
l_k = loss_sum[k] / count[k]; everything else (average, balanced, low/high-frequency group loss, learning
speed) comes from `theory.ufm.metrics`, so the numbers mean the same as in the rest of the toolkit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from theory.ufm import metrics
from theory.ufm.metrics import MASS, PERCENTILE


class TokenLoss:
    """Sums of cross-entropy, occurrences and correct predictions per target token id, kept on the device.

    update() adds CE(logits[b, t], targets[b, t]) to loss_sum[targets[b, t]] with index_add_ (no Python loop
    over tokens, no host sync). Under bf16 autocast the logits themselves come out of a bf16 matmul (about 3
    significant digits each); update() casts them to float32 before the log-softmax, so what is exact (to
    float32 rounding) is the log-sum-exp OF THOSE bf16 LOGITS -- no further bf16 rounding or overflow in the
    loss -- not the loss of the float32 model. The sums are float64, so counts stay exact up to 2^53 tokens.
    """

    def __init__(self, vocab_size: int, device="cpu"):
        self.vocab_size = int(vocab_size)
        self.loss_sum = torch.zeros(vocab_size, dtype=torch.float64, device=device)
        self.count = torch.zeros(vocab_size, dtype=torch.float64, device=device)
        self.correct = torch.zeros(vocab_size, dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, targets: torch.Tensor, ce: torch.Tensor | None = None) -> None:
        """logits (..., V), targets (...) of ids in [0, V). `ce`, optional, is the per-position cross-entropy
        the caller already has (F.cross_entropy(logits.float(), targets, reduction="none"), e.g. from the
        training loss): passing it skips recomputing the log-softmax, the costly part of an update."""
        flat = logits.detach().reshape(-1, logits.shape[-1]).float()
        y = targets.reshape(-1).to(device=flat.device, dtype=torch.long)
        if ce is None:
            ce = F.cross_entropy(flat, y, reduction="none")
        else:
            ce = ce.detach().reshape(-1).float()
        self.loss_sum.index_add_(0, y, ce.double())
        self.count.index_add_(0, y, torch.ones_like(ce, dtype=torch.float64))
        self.correct.index_add_(0, y, (flat.argmax(-1) == y).double())

    def all_reduce(self) -> None:
        """Sum the accumulators over the ranks of torch.distributed (a no-op without a process group)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            for t in (self.loss_sum, self.count, self.correct):
                dist.all_reduce(t)

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(loss_sum, count, correct) as float64 arrays of length V."""
        return self.loss_sum.cpu().numpy(), self.count.cpu().numpy(), self.correct.cpu().numpy()


def per_token_loss(loss_sum: np.ndarray, count: np.ndarray) -> np.ndarray:
    """l_k = loss_sum[k] / count[k]; NaN for an id that does not occur."""
    loss_sum, count = np.asarray(loss_sum, np.float64), np.asarray(count, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, loss_sum / np.maximum(count, 1), np.nan)


def summarize(loss_sum: np.ndarray, count: np.ndarray, correct: np.ndarray, train_counts: np.ndarray,
              percentile: float = PERCENTILE, mass: float = MASS) -> dict:
    """Summary of one evaluation.

    average_loss   sum loss / sum count (the usual per-token loss)
    balanced_loss  unweighted mean of l_k over the ids that occur in the evaluated split
    accuracy       sum correct / sum count
    low_freq_loss  per-token loss of the ids whose TRAINING count (`train_counts`: the counts of the tokens the
                   run trained on) is below the `percentile` count (theory.ufm.metrics.low_frequency_mask),
                   whatever split is evaluated;
    high_freq_loss the same for the other ids (theory.ufm.metrics.group_loss for both)
    low_mass_loss  the same for the ids outside the most frequent ids that hold a share `mass` of the training
    high_mass_loss tokens, and for those ids (theory.ufm.metrics.mass_tail_mask): a split that keeps both groups
                   populated, where P99 puts 1% of the vocabulary in the high group
    n_low, n_high, n_low_mass, n_high_mass
                   the size of each group: how many ids with a training count > 0 it holds (ids never trained
                   on drop out of every group loss of the training split; in another split they count low)
    n_tokens       sum count
    """
    per_id = per_token_loss(loss_sum, count)
    count = np.asarray(count, np.float64)
    train_counts = np.asarray(train_counts, np.float64)
    filled = np.nan_to_num(per_id)  # ids with count 0 drop out of every count-weighted mean
    low = metrics.low_frequency_mask(train_counts, percentile)
    low_mass = metrics.mass_tail_mask(train_counts, mass)
    total = float(count.sum())
    return {"average_loss": metrics.average_loss(filled, count) if total > 0 else float("nan"),
            "balanced_loss": metrics.balanced_loss(per_id, count) if total > 0 else float("nan"),
            "accuracy": float(np.sum(correct) / total) if total > 0 else float("nan"),
            "low_freq_loss": metrics.group_loss(filled, count, low),
            "high_freq_loss": metrics.group_loss(filled, count, ~low),
            "low_mass_loss": metrics.group_loss(filled, count, low_mass),
            "high_mass_loss": metrics.group_loss(filled, count, ~low_mass),
            **group_sizes(train_counts, percentile, mass), "n_tokens": int(total)}


def group_sizes(train_counts: np.ndarray, percentile: float = PERCENTILE, mass: float = MASS) -> dict:
    """n_low, n_high, n_low_mass, n_high_mass: how many ids with a training count > 0 each group of
    `summarize` holds (low/high at the `percentile` count, low/high mass at the head holding `mass`)."""
    train_counts = np.asarray(train_counts, np.float64)
    seen = train_counts > 0
    low = metrics.low_frequency_mask(train_counts, percentile)
    low_mass = metrics.mass_tail_mask(train_counts, mass)
    return {"n_low": int(np.sum(low & seen)), "n_high": int(np.sum(~low & seen)),
            "n_low_mass": int(np.sum(low_mass & seen)), "n_high_mass": int(np.sum(~low_mass & seen))}


def learning_speeds(curves: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Learning speed per token id from per-token loss curves: `curves` is (T, V), row t the per-id loss at
    checkpoint step `steps[t]` (steps[0] is the start); see theory.ufm.metrics.learning_speed."""
    return metrics.learning_speed(np.asarray(curves, np.float64), np.asarray(steps, np.float64))
