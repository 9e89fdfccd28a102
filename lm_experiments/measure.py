"""Per-token-id loss, accumulated on the device, summarised through the shared definitions of `theory`."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from theory import metrics


class TokenLoss:
    """Sums of cross-entropy, occurrences and correct predictions per target token id.

    update() adds CE(logits[b, t], targets[b, t]) to loss_sum[targets[b, t]] with index_add_ (no Python loop
    over tokens); the logits are cast to float32 so the log-sum-exp is exact under bf16 autocast.
    """

    def __init__(self, vocab_size: int, device="cpu"):
        self.loss_sum = torch.zeros(vocab_size, dtype=torch.float64, device=device)
        self.count = torch.zeros(vocab_size, dtype=torch.float64, device=device)
        self.correct = torch.zeros(vocab_size, dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        flat = logits.reshape(-1, logits.shape[-1]).float()
        y = targets.reshape(-1)
        ce = F.cross_entropy(flat, y, reduction="none")
        self.loss_sum.index_add_(0, y, ce.double())
        self.count.index_add_(0, y, torch.ones_like(ce, dtype=torch.float64))
        self.correct.index_add_(0, y, (flat.argmax(-1) == y).double())

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.loss_sum.cpu().numpy(), self.count.cpu().numpy(), self.correct.cpu().numpy()


def summarize(loss_sum: np.ndarray, count: np.ndarray, correct: np.ndarray, train_counts: np.ndarray,
              percentile: float = 99.0) -> dict:
    """average_loss = sum loss / sum count (per token); balanced_loss = unweighted mean over the ids that
    occur; accuracy; low/high_freq_loss = per-token loss of the ids below / at or above the P99 count of
    the TRAINING split (the same split for every evaluated split)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        per_id = np.where(count > 0, loss_sum / np.maximum(count, 1), np.nan)
    low = metrics.low_frequency_mask(train_counts, percentile)
    present = count > 0
    return {"average_loss": metrics.average_loss(np.nan_to_num(per_id), count),
            "balanced_loss": metrics.balanced_loss(per_id[present]),
            "accuracy": float(correct.sum() / count.sum()),
            "low_freq_loss": metrics.group_loss(np.nan_to_num(per_id), count, low),
            "high_freq_loss": metrics.group_loss(np.nan_to_num(per_id), count, ~low),
            "n_tokens": int(count.sum())}
