"""`python -m lm_experiments bench`: training throughput, MFU on a GPU, and the per-token-metric overhead.

tokens/s = batch_size x seq_len / (median step time); a step is `step.train_step`, the very function
`train.train_run` trains with (forward, cross-entropy, divergence check, backward, gradient clipping, AdamW),
on a model and optimizer built from a `config.TrainConfig` of the given preset, shape, device, bf16 and compile
settings and the TrainConfig defaults for everything else (lr and its schedule, clipping, weight decay and its
mode, seed); the result holds that config. The batches are random token ids, drawn once.
MFU = (tokens/s x model.flops_per_token) / peak, with flops_per_token = 6 N + 12 L d T and peak the device's
dense bf16 rate (H100 SXM and H200: 989 TFLOP/s; H100 PCIe 756; A100 312); n/a on a CPU or unknown GPU.
Metric overhead = (median time of a step that also runs TokenLoss.update on its own logits, reusing the
step's per-position cross-entropy: train_step(..., token_loss=...)) / (median time of a plain step) - 1. The
two kinds of step alternate, so a slow patch of a shared machine hits both. The time of a stand-alone
TokenLoss.update that recomputes the cross-entropy (as evaluation does) is reported too, as a fraction of a
step. Target: <= 5%.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace

import torch

from .measure import TokenLoss
from .model import build_model, flops_per_token, n_params
from .step import make_optimizer, prepare_device, train_step
from .config import TrainConfig

# dense bf16 tensor-core peak, FLOP/s; the first name contained in torch.cuda.get_device_name() wins
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12))


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16 if k in name), None)


def run_bench(preset: str = "tiny", seq_len: int = 128, batch_size: int = 16, steps: int = 10,
              device: str = "cpu", vocab_size: int = 8192, bf16: bool | None = None, compile: bool = False,
              verbose: bool = True) -> dict:
    """Time `steps` plain training steps and `steps` steps with the per-token metric (after 2 warm-up steps
    each); print a summary and return it as a dict (times in seconds, mfu a fraction or None)."""
    from plumbing.validate import check_int

    for name, v in (("seq_len", seq_len), ("batch_size", batch_size), ("steps", steps)):
        check_int(name, v, 1, allow_numpy=False)
    cfg = TrainConfig(preset=preset, vocab_size=vocab_size, seq_len=seq_len, batch_size=batch_size, device=device,
                      compile=compile)
    dev = prepare_device(cfg.device)
    cfg = replace(cfg, bf16=dev.type == "cuda" if bf16 is None else bool(bf16))
    model = build_model(cfg.preset, cfg.vocab_size, cfg.seq_len, cfg.seed).to(dev)
    model.train()
    net = torch.compile(model) if cfg.compile else model
    opt = make_optimizer(model, cfg, dev)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab_size, (batch_size, seq_len + 1), generator=g).to(dev)
    acc = TokenLoss(vocab_size, dev)
    n_done = 0  # the steps taken so far: the schedule position of the next one

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def step(with_metric: bool) -> float:
        nonlocal n_done
        sync()
        t = time.perf_counter()
        train_step(net, model, opt, x, cfg, n_done, 1, dev, token_loss=acc if with_metric else None)
        sync()
        n_done += 1
        return time.perf_counter() - t

    for _ in range(2):  # warm-up (and compilation) of both variants
        step(False)
        step(True)
    plain, metric = [], []
    for _ in range(steps):
        plain.append(step(False))
        metric.append(step(True))
    with torch.no_grad():
        logits = model(input_ids=x[:, :-1], use_cache=False).logits.float()
    update = []
    for _ in range(steps):
        sync()
        t = time.perf_counter()
        acc.update(logits, x[:, 1:])
        sync()
        update.append(time.perf_counter() - t)

    t_plain, t_metric, t_update = (statistics.median(v) for v in (plain, metric, update))
    tok_s = batch_size * seq_len / t_plain
    peak = peak_flops(dev)
    fpt = flops_per_token(model, seq_len)
    out = {"preset": preset, "params": n_params(model), "params_non_embedding": n_params(model, non_embedding=True),
           "vocab_size": vocab_size, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "torch_threads": torch.get_num_threads(), "seq_len": seq_len, "batch_size": batch_size, "steps": steps,
           "bf16": cfg.bf16 and dev.type == "cuda", "compile": compile, "config": asdict(cfg), "step_s": t_plain,
           "step_s_with_metric": t_metric, "update_s": t_update, "tokens_per_s": tok_s, "flops_per_token": fpt,
           "achieved_flops": tok_s * fpt, "peak_flops": peak, "mfu": tok_s * fpt / peak if peak else None,
           "metric_overhead": t_metric / t_plain - 1.0, "update_fraction": t_update / t_plain}
    if dev.type == "cuda":
        out["max_memory_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
    if verbose:
        mfu = "n/a" if out["mfu"] is None else f"{100 * out['mfu']:.1f}%"
        print(f"{preset}: {out['params'] / 1e6:.2f}M params ({out['params_non_embedding'] / 1e6:.2f}M "
              f"non-embedding) at vocab {vocab_size}; device {out['device']} ({out['torch_threads']} threads), "
              f"batch {batch_size} x {seq_len}, bf16 {out['bf16']}, compile {compile}")
        print(f"step {t_plain * 1e3:.1f} ms (median of {steps}), {tok_s:,.0f} tokens/s, "
              f"{out['achieved_flops'] / 1e12:.3g} TFLOP/s achieved, MFU {mfu}")
        print(f"per-token metric: step with TokenLoss.update {t_metric * 1e3:.1f} ms, overhead "
              f"{100 * out['metric_overhead']:+.1f}% (target <= 5%); a stand-alone update recomputing the CE "
              f"{t_update * 1e3:.2f} ms = {100 * out['update_fraction']:.1f}% of a step")
    return out


def run_grid(preset: str, seq_len: int, batch_sizes, modes, steps: int, device: str, vocab_size: int,
             out=None) -> list[dict]:
    """run_bench for every (mode, batch size), modes from ("eager", "compiled"); with `out`, the rows so far are
    written (atomically, as {"rows": [...]}) after each one, so a run stopped by its time limit keeps them."""
    from plumbing.atomic import atomic_write_json
    from plumbing.errors import InputError

    for mode in modes:
        if mode not in ("eager", "compiled"):
            raise InputError(f"bench mode {mode!r}; allowed: eager, compiled")
    rows = []
    for mode in modes:
        for b in batch_sizes:
            if mode == "compiled":
                torch._dynamo.reset()  # each shape compiles afresh, within the recompile limit
            rows.append(run_bench(preset, seq_len, b, steps, device, vocab_size=vocab_size,
                                  compile=mode == "compiled"))
            if out is not None:
                atomic_write_json(out, {"rows": rows})
    return rows
