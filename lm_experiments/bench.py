"""`python -m lm_experiments bench`: training throughput, MFU on a GPU, and the per-token-metric overhead.

MFU = (tokens/s x FLOPs per token) / peak, FLOPs per token from `model.flops_per_token` (6 N + attention),
peak = the device's dense bf16 rate (H100/H200 SXM: 989 TFLOP/s). The metric overhead is the extra time
of a training step that also accumulates the per-token loss of its own batch (TokenLoss.update).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from .measure import TokenLoss
from .model import build_model, decay_groups, flops_per_token, n_params

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def _peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def run_bench(preset: str, seq_len: int, batch_size: int, steps: int, device: str = "cpu", vocab_size: int = 8192,
              bf16: bool | None = None, compile: bool = False) -> dict:
    dev = torch.device(device)
    bf16 = dev.type == "cuda" if bf16 is None else bf16
    model = build_model(preset, vocab_size, seq_len, 0).to(dev)
    net = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(decay_groups(model, "no-norm-bias", 0.1), lr=1e-4, fused=dev.type == "cuda")
    x = torch.randint(0, vocab_size, (batch_size, seq_len + 1), device=dev)
    acc = TokenLoss(vocab_size, dev)

    def step(with_metric: bool):
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(input_ids=x[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, vocab_size).float(), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if with_metric:
            acc.update(logits.detach(), x[:, 1:])

    def timed(with_metric: bool) -> float:
        for _ in range(2):
            step(with_metric)  # warm-up (and compilation)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            step(with_metric)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / steps

    plain, metric = timed(False), timed(True)
    tok_s = batch_size * seq_len / plain
    peak = _peak(dev)
    fpt = flops_per_token(model, seq_len)
    out = {"preset": preset, "params": n_params(model), "params_non_embedding": n_params(model, non_embedding=True),
           "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "seq_len": seq_len,
           "batch_size": batch_size, "bf16": bf16, "compile": compile, "step_s": plain, "tokens_per_s": tok_s,
           "flops_per_token": fpt, "mfu": tok_s * fpt / peak if peak else None,
           "metric_overhead": (metric - plain) / plain}
    mfu = "n/a (no GPU peak known)" if out["mfu"] is None else f"{100 * out['mfu']:.1f}%"
    print(f"{preset}: {out['params'] / 1e6:.1f}M params ({out['params_non_embedding'] / 1e6:.1f}M non-embedding), "
          f"device {out['device']}, batch {batch_size} x {seq_len}, bf16 {bf16}, compile {compile}")
    print(f"step {plain * 1e3:.1f} ms, {tok_s:,.0f} tokens/s, MFU {mfu}, "
          f"per-token metric overhead {100 * out['metric_overhead']:+.1f}% (target <= 5%)")
    return out
