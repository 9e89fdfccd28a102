"""The one training step: the AdamW optimizer, the learning-rate schedule and `train_step`, shared by
`train.train_run` (which trains with it) and `bench.run_bench` (which times it), so the bench measures the step
that trains.

A step: set the scheduled lr (lr_at), forward under bf16 autocast (CUDA only), float32 cross-entropy (mean over
the positions), the divergence check (one host sync: the loss averaged over the ranks), zero_grad, backward,
clipping of the global gradient norm to cfg.grad_clip (0: off; multi-tensor), the per-row decay of the bounded decay modes
(decay.apply_row_decay; nothing in the other modes), the AdamW step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from plumbing.errors import InputError

from .decay import apply_row_decay, check_stable, decay_groups

if TYPE_CHECKING:
    from .config import TrainConfig
    from .measure import TokenLoss


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to lr over `warmup` steps, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def prepare_device(name: str | torch.device) -> torch.device:
    """torch.device(name), refused with an InputError when it is CUDA and torch sees none; on CUDA it also sets
    the float32 matmul precision the step runs at ("high": TF32 tensor cores)."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {str(name)!r} asked for, but torch {torch.__version__} sees no CUDA device")
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    return device


def autocast(cfg: TrainConfig, device: torch.device):
    """bf16 autocast when cfg.bf16 and the device is CUDA; a disabled context otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")


def all_ranks_mean(value: torch.Tensor, world: int) -> float:
    """The mean of a scalar tensor over the ranks of torch.distributed, as a Python float (a host sync)."""
    if world > 1:
        import torch.distributed as dist

        value = value.detach().clone()
        dist.all_reduce(value)
        value /= world
    return float(value.item())


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device,
                   counts=None) -> torch.optim.AdamW:
    """AdamW over decay.decay_groups(model, cfg.decay_mode, cfg.weight_decay, counts): lr cfg.lr (train_step sets
    the scheduled value each step), betas (0.9, 0.95), eps 1e-8, the fused kernel on CUDA, the multi-tensor
    (foreach) one elsewhere: the same arithmetic per element as the per-tensor loop, in a few calls instead of
    ~10 per parameter (the tiny CPU model's steps paid that Python loop). `counts` (the training
    count of every token id) sets the per-row strengths of the bounded decay modes. Refused (decay.check_stable)
    when the peak lr times any strength, per row included, exceeds decay.MAX_DECAY_PER_STEP."""
    check_stable(cfg.decay_mode, cfg.weight_decay, cfg.lr, counts)
    return torch.optim.AdamW(decay_groups(model, cfg.decay_mode, cfg.weight_decay, counts, device), lr=cfg.lr,
                             betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda",
                             foreach=device.type != "cuda")


def train_step(net: torch.nn.Module, model: torch.nn.Module, opt: torch.optim.Optimizer, batch: torch.Tensor,
               cfg: TrainConfig, step: int, world: int, device: torch.device,
               token_loss: TokenLoss | None = None) -> float:
    """One optimizer step on `batch` ((B, seq_len + 1) token ids; inputs batch[:, :-1], targets batch[:, 1:])
    at schedule position `step`; returns the loss averaged over the `world` ranks. `net` runs the forward (the
    model itself, or its DDP / torch.compile wrapper), `model` holds the parameters that are clipped.
    Raises InputError, before any gradient reaches the weights, when that loss is not finite.

    `token_loss` (the bench's metric variant; training leaves it None): the cross-entropy is then computed per
    position (reduction="none") and its mean is the loss, and the step adds those per-position values to
    token_loss (TokenLoss.update(..., ce=...), no second log-softmax). The gradients are those of the plain
    step, but the loss value may differ from reduction="mean" in the last bits (another summation order), so
    training keeps reduction="mean"."""
    for group in opt.param_groups:
        group["lr"] = lr_at(cfg, step)
    batch = batch.to(device, non_blocking=True)
    with autocast(cfg, device):
        logits = net(input_ids=batch[:, :-1], use_cache=False).logits
    flat, targets = logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1)
    if token_loss is None:
        loss = F.cross_entropy(flat, targets)
    else:
        ce = F.cross_entropy(flat, targets, reduction="none")
        loss = ce.mean()
    value = all_ranks_mean(loss, world)  # one host sync per step: stop before a NaN reaches the weights
    if not math.isfinite(value):
        raise InputError(f"training diverged at step {step} (loss {value}); lower lr (now {cfg.lr:g})")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
    apply_row_decay(opt, batch)  # before the step, where AdamW applies its own decay
    opt.step()
    if token_loss is not None:
        token_loss.update(flat, targets, ce=ce)
    return value
