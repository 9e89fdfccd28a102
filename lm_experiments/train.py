"""One training run: AdamW under a weight decay, per-token-id loss on the training AND held-out split.

Files in the run folder: manifest.json (config, data provenance, tokenizer hash, versions, device),
metrics.csv (step, split, average_loss, balanced_loss, accuracy, low_freq_loss, high_freq_loss),
per_token.csv.gz (step, split, token_id, count, loss), checkpoint.pt (resume), done.json (finished).
Batches are drawn from a generator seeded by (seed, step), so a resumed run sees the same data as an
uninterrupted one. Multi-GPU: launch with `torchrun`; rank 0 evaluates and writes.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from theory.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
from theory.problem import InputError

from .measure import TokenLoss, summarize
from .model import DECAY_MODES, build_model, decay_groups, n_params


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "tiny"
    vocab_size: int = 8192
    seq_len: int = 128
    batch_size: int = 16
    steps: int = 200
    lr: float = 3e-3
    warmup: int = 20
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    decay_mode: str = "no-norm-bias"
    seed: int = 0
    grad_clip: float = 1.0
    eval_every: int = 50
    eval_tokens: int = 16384
    device: str = "cpu"
    bf16: bool = False
    compile: bool = False
    checkpoint_every: int = 50
    train_tokens: int | None = None  # train on (and measure) only the first train_tokens of the training split

    def __post_init__(self):
        if self.decay_mode not in DECAY_MODES:
            raise InputError(f"unknown decay mode {self.decay_mode!r}; allowed: {', '.join(DECAY_MODES)}")
        for name in ("seq_len", "batch_size", "steps", "eval_every", "eval_tokens", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be > 0, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise InputError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise InputError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.train_tokens is not None and (isinstance(self.train_tokens, bool) or not isinstance(
                self.train_tokens, int) or self.train_tokens <= self.seq_len + 1):
            raise InputError(f"train_tokens must be None or an integer > seq_len + 1, got {self.train_tokens!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise InputError(f"warmup must be an integer >= 0, got {self.warmup!r}")


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to lr over `warmup` steps, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def batch_at(train: np.ndarray, cfg: TrainConfig, step: int, rank: int = 0) -> torch.Tensor:
    """(batch_size, seq_len + 1) random windows, drawn from a generator seeded by (seed, rank, step)."""
    g = torch.Generator().manual_seed(((cfg.seed * 1_000_003 + rank) * 1_000_003 + step) % 2**63)
    starts = torch.randint(0, train.size - cfg.seq_len - 1, (cfg.batch_size,), generator=g).numpy()
    idx = starts[:, None] + np.arange(cfg.seq_len + 1)[None, :]
    return torch.from_numpy(train[idx].astype(np.int64))


def _autocast(cfg: TrainConfig, device: torch.device):
    on = cfg.bf16 and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)


@torch.no_grad()
def evaluate(model, ids: np.ndarray, cfg: TrainConfig, device: torch.device, vocab_size: int) -> TokenLoss:
    """Per-token loss on contiguous windows over the first eval_tokens tokens of a split."""
    n = min(cfg.eval_tokens, ids.size - 1) // cfg.seq_len
    if n < 1:
        raise InputError(f"a split has {ids.size} tokens, fewer than seq_len + 1 = {cfg.seq_len + 1}")
    arr = ids[: n * cfg.seq_len + 1].astype(np.int64)
    x = torch.from_numpy(arr[:-1].reshape(n, cfg.seq_len))
    y = torch.from_numpy(arr[1:].reshape(n, cfg.seq_len))
    acc = TokenLoss(vocab_size, device)
    was_training = model.training
    model.eval()
    for i in range(0, n, cfg.batch_size):
        xb, yb = x[i:i + cfg.batch_size].to(device), y[i:i + cfg.batch_size].to(device)
        with _autocast(cfg, device):
            logits = model(input_ids=xb).logits
        acc.update(logits, yb)
    model.train(was_training)
    return acc


def _versions() -> dict:
    import tokenizers
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "numpy": np.__version__}


def train_run(cfg: TrainConfig, prepared, out_dir: str | Path, progress: bool = True,
              stop_at: int | None = None) -> dict:
    """Train (or resume, or return the stored result of) one run. `stop_at` ends the call early after
    checkpointing at that step, as an interruption would (used to test exact resume)."""
    out = Path(out_dir)
    if (out / "done.json").is_file():
        return json.loads((out / "done.json").read_text())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(cfg.device)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    vocab = prepared.vocab_size
    train_ids = prepared.train if cfg.train_tokens is None else prepared.train[: cfg.train_tokens]
    train_counts = np.bincount(train_ids.astype(np.int64), minlength=vocab).astype(np.float64)
    model = build_model(cfg.preset, vocab, cfg.seq_len, cfg.seed).to(device)
    opt = torch.optim.AdamW(decay_groups(model, cfg.decay_mode, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95),
                            eps=1e-8, fused=device.type == "cuda")
    start, rows, tokens = 0, [], []
    ckpt = out / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
        rows = pd.read_csv(out / "metrics.csv").query("step <= @start").to_dict("records")
        tokens = [pd.read_csv(out / "per_token.csv.gz").query("step <= @start")]
    if rank == 0:
        atomic_write_json(out / "manifest.json", {
            "config": asdict(cfg), "data": prepared.manifest, "versions": _versions(), "world_size": world,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "n_params": n_params(model), "n_params_non_embedding": n_params(model, non_embedding=True)})
    net = model
    if cfg.compile:
        net = torch.compile(net)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)

    def eval_and_save(step: int):
        if rank == 0:
            for split, ids in (("train", train_ids), ("heldout", prepared.heldout)):
                loss_sum, count, correct = evaluate(model, ids, cfg, device, vocab).numpy()
                rows.append({"step": step, "split": split,
                             **summarize(loss_sum, count, correct, train_counts)})
                seen = np.nonzero(count)[0]
                tokens.append(pd.DataFrame({"step": step, "split": split, "token_id": seen, "count": count[seen],
                                            "loss": loss_sum[seen] / count[seen]}))
            atomic_write_csv(pd.DataFrame(rows), out / "metrics.csv")
            atomic_write_csv(pd.concat(tokens, ignore_index=True), out / "per_token.csv.gz")

    def checkpoint(step: int):
        if rank == 0:
            buf = io.BytesIO()
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, buf)
            atomic_write_bytes(ckpt, buf.getvalue())

    if start == 0:
        eval_and_save(0)
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, desc=out.name, unit="step", leave=False,
               disable=not progress or rank != 0)
    for step in range(start, cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        batch = batch_at(train_ids, cfg, step, rank).to(device, non_blocking=True)
        with _autocast(cfg, device):
            logits = net(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))
        if not torch.isfinite(loss):
            raise InputError(f"training diverged at step {step} (loss {loss.item()}); lower lr (now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            eval_and_save(done)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps or done == stop_at:
            checkpoint(done)
        if done == stop_at:
            bar.close()
            return {"stopped_at": done}
    bar.close()
    final = {r["split"]: {k: v for k, v in r.items() if k not in ("step", "split")}
             for r in rows if r["step"] == cfg.steps}
    result = {"steps": cfg.steps, "final": final, "train_seconds_this_call": time.perf_counter() - t0}
    if rank == 0:
        atomic_write_json(out / "done.json", result)
    return result
