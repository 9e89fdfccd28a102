"""Evaluation on a split: per-token-id loss sums over contiguous seq_len windows (`evaluate`), and the step-0
evaluation computed once per initial model (`evaluate_sums`).

evaluate: the windows ids[j T : (j + 1) T] -> targets ids[j T + 1 : (j + 1) T + 1], j < n = min(eval_tokens,
size - 1) // T (T = seq_len), in batches of batch_size windows; TokenLoss sums CE, occurrences and correct
argmax predictions per target id. Under torch.distributed each rank takes every world-th batch and the sums are
all-reduced.

Step 0: every run of a sweep with the same preset, vocabulary, seq_len and seed starts from the same weights
(model.build_model is seeded; train._Module copies them in), whatever its decay mode or lambda, so its step-0
evaluation of a split is one and the same computation. evaluate_sums(..., at_start=True) keeps the sums of the
first such run and hands them to the later ones: bit for bit what they would compute, once per seed instead of
once per run. The key holds everything the computation reads: preset, vocabulary, seq_len, seed, batch_size,
eval_tokens, bf16, device, world size and the SHA-256 of the evaluated ids. A model from a checkpoint folder is
never reused (its files may change between runs).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from plumbing.errors import InputError

from .config import TrainConfig
from .measure import TokenLoss
from .model import PRESETS
from .step import autocast

MAX_START_EVALUATIONS = 16  # (seed, split) pairs kept: a sweep's 3 seeds x 2 splits, with room


def rank_world() -> tuple[int, int]:
    """(rank, world size) of torch.distributed; (0, 1) without a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _windows(ids: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    n = min(cfg.eval_tokens, ids.size - 1) // cfg.seq_len
    if n < 1:
        raise InputError(f"a split has {ids.size} tokens, fewer than seq_len + 1 = {cfg.seq_len + 1}")
    return np.asarray(ids[: n * cfg.seq_len + 1], dtype=np.int64)


@torch.no_grad()
def evaluate(model, ids: np.ndarray, cfg: TrainConfig, device: torch.device, vocab_size: int) -> TokenLoss:
    """Per-token loss sums of `model` on the first eval_tokens tokens of a split (module doc)."""
    arr = torch.from_numpy(_windows(ids, cfg))
    n = (arr.numel() - 1) // cfg.seq_len
    x, y = arr[:-1].reshape(n, cfg.seq_len), arr[1:].reshape(n, cfg.seq_len)
    rank, world = rank_world()
    acc = TokenLoss(vocab_size, device)
    was_training = model.training
    model.eval()
    for i in range(rank * cfg.batch_size, n, world * cfg.batch_size):
        xb, yb = x[i:i + cfg.batch_size].to(device), y[i:i + cfg.batch_size].to(device)
        with autocast(cfg, device):
            logits = model(input_ids=xb, use_cache=False).logits
        acc.update(logits, yb)
    model.train(was_training)
    acc.all_reduce()
    return acc


_START: dict = {}  # key (module doc) -> (loss_sum, count, correct) of a step-0 evaluation


def evaluate_sums(model, ids: np.ndarray, cfg: TrainConfig, device: torch.device, vocab_size: int,
                  at_start: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss_sum, count, correct) as float64 arrays of length vocab_size. at_start: `model` holds the fresh
    initial weights of cfg's preset and seed (step 0 of a run), and the sums are computed once per key."""
    if not at_start or cfg.preset not in PRESETS:
        return evaluate(model, ids, cfg, device, vocab_size).numpy()
    digest = hashlib.sha256(_windows(ids, cfg).tobytes()).hexdigest()
    key = (cfg.preset, vocab_size, cfg.seq_len, cfg.seed, cfg.batch_size, cfg.eval_tokens, cfg.bf16, str(device),
           rank_world()[1], digest)
    if key not in _START:
        if len(_START) >= MAX_START_EVALUATIONS:
            _START.pop(next(iter(_START)))
        _START[key] = tuple(a.copy() for a in evaluate(model, ids, cfg, device, vocab_size).numpy())
    return tuple(a.copy() for a in _START[key])
