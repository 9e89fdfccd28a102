"""One training run: AdamW under a weight decay, per-token-id loss on the training AND held-out split.

Files in the run folder (each written atomically):
  manifest.json     config, data provenance, tokenizer hash, versions, seed, device, parameter counts
  metrics.csv       step, split, average_loss, balanced_loss, accuracy, low_freq_loss, high_freq_loss,
                    low_mass_loss, high_mass_loss, n_low, n_high, n_low_mass, n_high_mass, n_tokens
  per_token.csv.gz  step, split, token_id, count, loss (ids with count > 0); written at each checkpoint and at the end
  checkpoint.pt     model, optimizer, step, RNG states (resume; read with torch.load(weights_only=True)); saved
                    every checkpoint_every steps before the last and when a budget stops the run, never for a run
                    that ends unless keep_checkpoint (a 270M model's is 3.25 GB), deleted once the run is done
  done.json         the final metrics and where the run's wall went (setup, evaluation, writing, checkpoints,
                    training steps); a rerun of a finished run returns it at once
Evaluation (at step 0, every eval_every steps and at the end) runs the model on contiguous seq_len windows
over the first eval_tokens tokens of each split -- the training split too, as the paper measures on
training data -- and splits tokens into low/high frequency by their count in the tokens trained on
(`training_ids`: the first train_tokens of the training split; the sweep's token tables use the same ids),
twice: at the P99 of the counts and by cumulative mass (measure.summarize). The step-0 evaluation is computed
once per initial model and seed in a process (evaluation.evaluate_sums): every run of a seed starts there.
Batches are batch_size random windows of seq_len + 1 tokens (every window of the training ids, the last one
included, can be drawn) drawn by a generator seeded from (seed, step) alone, so a resumed run sees exactly
the batches of an uninterrupted one, and its final metrics are the same. Multi-GPU: launch with
`torchrun --nproc_per_node N`; each rank takes its share of one global batch of N x batch_size windows (N ranks
of batch B train like one process of batch N B), evaluation is split over the ranks, rank 0 writes the files.
bf16 autocast and fused AdamW apply on CUDA only; on the CPU everything runs in float32.
One process that trains several runs of the same architecture (a sweep) builds and compiles the training module
once: each later run copies its freshly initialised weights into that module (`_Module`), so torch.compile
does not compile again for every run.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.errors import InputError
from plumbing.schemas import LM_RUN_METRICS, LM_RUN_PER_TOKEN, frame

from . import checkpoint
from .config import RESUMABLE_CHANGES, TrainConfig
from .evaluation import evaluate_sums, rank_world
from .measure import summarize
from .stats import token_counts
from .model import PRESETS, build_model, flops_per_token, n_params
from .step import make_optimizer, prepare_device, train_step

__all__ = ["batch_at", "ranks_agree", "train_run", "training_counts", "training_ids"]


def batch_at(train: np.ndarray, cfg: TrainConfig, step: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Rank `rank`'s (batch_size, seq_len + 1) share of step `step`'s global batch: world x batch_size random
    windows of `train` drawn by a generator seeded from (seed, step) alone (mixed so that no two (seed, step)
    pairs share a stream), rank r taking rows [r B, (r + 1) B). So N ranks of batch B see exactly the
    windows of one process of batch N B, and a resumed run the batches of an uninterrupted one. A window starts
    anywhere in [0, train.size - seq_len - 1] (both ends included), so the last token of `train` is a target
    too."""
    g = torch.Generator().manual_seed((cfg.seed * 1_000_003 * 1_000_003 + step) % 2**63)
    if train.size < cfg.seq_len + 1:
        raise InputError(f"the training ids hold {train.size} tokens, fewer than seq_len + 1 = {cfg.seq_len + 1}")
    # randint's high is exclusive: the last window, train[size - seq_len - 1:], starts at size - seq_len - 1
    starts = torch.randint(0, train.size - cfg.seq_len, (world * cfg.batch_size,), generator=g).numpy()
    starts = starts[rank * cfg.batch_size:(rank + 1) * cfg.batch_size]
    idx = starts[:, None] + np.arange(cfg.seq_len + 1)[None, :]
    return torch.from_numpy(train[idx].astype(np.int64))


def _versions() -> dict:
    import tokenizers
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def _read_csv(path: Path) -> pd.DataFrame:
    """Read back a result file with exact floats (pandas >= 3 round-trips by default, 2.x needs asking)."""
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, **exact)


def _check_same_config(out: Path, cfg: TrainConfig) -> None:
    """Refuse to resume (or return the result of) a run folder that holds a run of another config."""
    path = out / "manifest.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text()).get("config", {})
    new = asdict(cfg)
    diff = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    if diff:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise InputError(f"{str(out)!r} holds a run of another config ({shown}); use a new folder")


def _setup_device(cfg: TrainConfig) -> tuple[torch.device, int, int]:
    """The device of this process, its rank and the world size (initialising torch.distributed under torchrun)."""
    device = prepare_device(cfg.device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            atexit.register(_close_distributed)
    rank, world = rank_world()
    return device, rank, world


def _close_distributed() -> None:
    """At exit of a process that joined torch.distributed: drop the reused training module (its DDP reducer holds
    the process group, and `_Module` keeps it alive until exit) and destroy the group, so the gloo/NCCL threads
    stop before the interpreter tears down. Without it a rank could abort at exit ("terminate called without an
    active exception": seen once in the two-rank CPU test)."""
    import torch.distributed as dist

    _Module.key = _Module.model = _Module.net = None
    _Module.inits.clear()
    if dist.is_initialized():
        dist.destroy_process_group()


def training_ids(cfg: TrainConfig, prepared) -> np.ndarray:
    """The token ids a run of `cfg` trains on: the first cfg.train_tokens of prepared.train (all of it when
    None). The one definition of "the training data" of a run: train_run trains on these ids, evaluates its
    training split on their first eval_tokens, and splits low/high by their counts, and the sweep's token
    tables, text sample, bins and learning-speed counts come from the same ids (sweep.write_token_stats)."""
    train_ids = prepared.train if cfg.train_tokens is None else prepared.train[: cfg.train_tokens]
    if train_ids.size <= cfg.seq_len + 1:
        raise InputError(f"the training split has {train_ids.size} tokens, fewer than seq_len + 2 = {cfg.seq_len + 2}")
    return train_ids


def training_counts(cfg: TrainConfig, prepared) -> np.ndarray:
    """n_k = occurrences of id k in training_ids(cfg, prepared), k < prepared.vocab_size (float64); they sum to
    the number of ids trained on (min(train_tokens, training split)); stats.token_counts."""
    return token_counts(training_ids(cfg, prepared), int(prepared.vocab_size))


def _training_data(cfg: TrainConfig, prepared) -> tuple[np.ndarray, np.ndarray, int]:
    """The token ids trained on, their counts per id (float64, length vocab) and the vocabulary size."""
    return training_ids(cfg, prepared), training_counts(cfg, prepared), int(prepared.vocab_size)


def _manifest(cfg: TrainConfig, prepared, model, device: torch.device, world: int, n_train_ids: int) -> dict:
    return {"config": asdict(cfg), "data": prepared.manifest, "n_train_tokens_used": int(n_train_ids),
            "tokenizer_hash": prepared.manifest.get("tokenizer_hash"), "seed": cfg.seed, "versions": _versions(),
            "world_size": world, "global_batch_tokens": world * cfg.batch_size * cfg.seq_len,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "n_params": n_params(model), "n_params_non_embedding": n_params(model, non_embedding=True),
            "flops_per_token": flops_per_token(model, cfg.seq_len)}


class _Module:
    """The training module of this process, reused across runs of one architecture on one device.

    `get` returns (model, net): `model` holds the parameters (a fresh seeded initialisation of the run's preset),
    `net` runs the training forward (DDP over the ranks, torch.compile when asked). When the previous run had the
    same preset, vocabulary, sequence length, device, world size and compile flag, the new initial weights are
    copied into the previous model in place, so the compiled `net` (and its compiled graph) is reused; otherwise
    both are built anew. The copy makes the run's start exactly that of a freshly built model. The initial
    weights of each seed are built once and kept on the device (`inits`, at most MAX_INITS seeds): a sweep's
    runs share a few seeds, and building a 271M model on the CPU takes seconds.
    """

    MAX_INITS = 4
    key = None
    model = net = None
    inits: dict = {}

    @classmethod
    def get(cls, cfg: TrainConfig, vocab: int, device: torch.device, world: int):
        init_key = (cfg.preset, vocab, cfg.seq_len, str(device), cfg.seed)
        fresh = None
        if cfg.preset in PRESETS and init_key in cls.inits:
            init = cls.inits[init_key]
        else:
            fresh = build_model(cfg.preset, vocab, cfg.seq_len, cfg.seed)
            init = fresh.state_dict()
            if cfg.preset in PRESETS:  # a checkpoint folder's files may change between runs: never cached
                if len(cls.inits) >= cls.MAX_INITS:
                    cls.inits.pop(next(iter(cls.inits)))
                cls.inits[init_key] = {k: v.detach().to(device, copy=True) for k, v in init.items()}
        key = (cfg.preset, vocab, cfg.seq_len, str(device), world, cfg.compile)
        if key == cls.key and cfg.preset in PRESETS:
            with torch.no_grad():
                cls.model.load_state_dict(init)
            cls.model.zero_grad(set_to_none=True)
        else:
            if fresh is None:  # the seed's weights were cached, but the module is built anew
                fresh = build_model(cfg.preset, vocab, cfg.seq_len, cfg.seed)
            cls.key, cls.model = None, fresh.to(device)
            net = cls.model
            if world > 1:
                net = torch.nn.parallel.DistributedDataParallel(
                    cls.model, device_ids=[device] if device.type == "cuda" else None)
            cls.net = torch.compile(net) if cfg.compile else net
            cls.key = key
        cls.model.train()
        return cls.model, cls.net


class _Recorder:
    """Evaluates both splits; rank 0 rewrites metrics.csv (small) after each evaluation and per_token.csv.gz (one
    row per evaluated id, split and step: the large file) only when the run checkpoints or ends (`save_tokens`), so
    a resumed run finds the per-token rows up to its checkpoint's step and a run writes that file once or twice,
    not after every evaluation. `seconds` holds the time spent evaluating and writing."""

    def __init__(self, out: Path, cfg: TrainConfig, splits: tuple, train_counts: np.ndarray, vocab: int,
                 device: torch.device, rank: int, resumed_at: int | None = None):
        self.out, self.cfg, self.splits, self.train_counts = out, cfg, splits, train_counts
        self.vocab, self.device, self.rank = vocab, device, rank
        self.rows, self.tokens = [], []
        self.seconds = {"eval": 0.0, "write": 0.0}
        if resumed_at is not None:
            self.rows = _read_csv(out / "metrics.csv").query("step <= @resumed_at").to_dict("records")
            self.tokens = [_read_csv(out / "per_token.csv.gz").query("step <= @resumed_at")]

    def eval_and_save(self, model, step: int, at_start: bool = False) -> None:
        """at_start: `model` holds the run's fresh initial weights (evaluation.evaluate_sums)."""
        t0 = time.perf_counter()
        for split, ids in self.splits:
            loss_sum, count, correct = evaluate_sums(model, ids, self.cfg, self.device, self.vocab, at_start)
            self.rows.append({"step": step, "split": split,
                              **summarize(loss_sum, count, correct, self.train_counts)})
            seen = np.flatnonzero(count)
            self.tokens.append(pd.DataFrame({"step": step, "split": split, "token_id": seen, "count": count[seen],
                                             "loss": loss_sum[seen] / count[seen]}))
        t1 = time.perf_counter()
        if self.rank == 0:
            atomic_write_csv(frame(LM_RUN_METRICS, self.rows), self.out / LM_RUN_METRICS.name)
        self.seconds["eval"] += t1 - t0
        self.seconds["write"] += time.perf_counter() - t1

    def save_tokens(self) -> None:
        t0 = time.perf_counter()
        if self.rank == 0:
            atomic_write_csv(frame(LM_RUN_PER_TOKEN, pd.concat(self.tokens, ignore_index=True)),
                             self.out / LM_RUN_PER_TOKEN.name)
        self.seconds["write"] += time.perf_counter() - t0

    def final(self, step: int) -> dict:
        """{split: metrics} of the evaluation at `step`, NaN as None."""
        return {r["split"]: {k: _json_number(v) for k, v in r.items() if k not in ("step", "split")}
                for r in self.rows if r["step"] == step}


def _json_number(v):
    """NaN (e.g. the loss of an empty frequency group) -> None, so done.json stays strict JSON."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return int(v) if isinstance(v, np.integer) else v


def train_run(cfg: TrainConfig, prepared, out_dir: str | Path, progress: bool = True,
              stop_at: int | None = None, deadline: float | None = None) -> dict:
    """Train (or resume, or return the stored result of) one run; returns {"steps", "final": {split: metrics},
    ...}. `prepared` needs .train and .heldout (token-id arrays), .vocab_size and .manifest (dict).
    `stop_at` ends the call after checkpointing at that step, as an interruption would (to test resume);
    `deadline` (a time.monotonic() value) does the same after the first step that ends past it, and the call
    returns {"stopped_at": step} (all ranks agree on the step). Raises InputError when the loss turns
    non-finite (nothing of the diverged step is written; the folder keeps the state of the last checkpoint)."""
    out = Path(out_dir)
    _check_same_config(out, cfg)
    if (out / "done.json").is_file():
        return json.loads((out / "done.json").read_text())
    t_call = time.perf_counter()
    device, rank, world = _setup_device(cfg)
    train_ids, train_counts, vocab = _training_data(cfg, prepared)
    model, net = _Module.get(cfg, vocab, device, world)
    opt = make_optimizer(model, cfg, device, counts=train_counts)
    ckpt = out / "checkpoint.pt"
    start = checkpoint.load(ckpt, model, opt, device) if ckpt.is_file() else None
    record = _Recorder(out, cfg, (("train", train_ids), ("heldout", prepared.heldout)), train_counts, vocab, device,
                       rank, resumed_at=start)
    start = start or 0
    if rank == 0:
        atomic_write_json(out / "manifest.json", _manifest(cfg, prepared, model, device, world, train_ids.size))
        out.mkdir(parents=True, exist_ok=True)
    setup_seconds = time.perf_counter() - t_call
    if start == 0:
        record.eval_and_save(model, 0, at_start=True)
    train_seconds = checkpoint_seconds = 0.0
    tokens_saved_at = None
    bar = tqdm(total=cfg.steps, initial=start, desc=out.name, unit="step", leave=False,
               disable=not progress or rank != 0)
    try:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            batch = batch_at(train_ids, cfg, step, rank, world)
            value = train_step(net, model, opt, batch, cfg, step, world, device)
            train_seconds += time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            done = step + 1
            if done % cfg.eval_every == 0 or done == cfg.steps:
                record.eval_and_save(model, done)
            out_of_time = deadline is not None and done < cfg.steps and _any_rank(time.monotonic() > deadline, world,
                                                                                   device)
            stop = done == stop_at or out_of_time
            # a finished run needs no checkpoint (done.json replaces it) unless it is kept
            if (done % cfg.checkpoint_every == 0 and done < cfg.steps) or stop or (done == cfg.steps
                                                                                   and cfg.keep_checkpoint):
                record.save_tokens()  # before the checkpoint: a resumed run reads its rows up to that step
                tokens_saved_at = done
                t0 = time.perf_counter()
                if rank == 0:
                    checkpoint.save(ckpt, model, opt, done)
                checkpoint_seconds += time.perf_counter() - t0
            if stop:
                return {"stopped_at": done}
    finally:
        bar.close()
    if tokens_saved_at != cfg.steps:  # not already written with a kept final checkpoint
        record.save_tokens()
    steps_this_call = cfg.steps - start
    wall = time.perf_counter() - t_call
    result = {"steps": cfg.steps, "final": record.final(cfg.steps), "train_seconds_this_call": train_seconds,
              "wall_seconds_this_call": wall, "setup_seconds": setup_seconds,
              "eval_seconds": record.seconds["eval"], "write_seconds": record.seconds["write"],
              "checkpoint_seconds": checkpoint_seconds,
              "tokens_per_s": (steps_this_call * world * cfg.batch_size * cfg.seq_len / train_seconds
                               if train_seconds > 0 else None)}
    if rank == 0:
        atomic_write_json(out / "done.json", result)
        if not cfg.keep_checkpoint:
            ckpt.unlink(missing_ok=True)  # after done.json: a run without either restarts, never half-restored
    return result


def ranks_agree(flag: bool) -> bool:
    """`flag` of any rank (True if any rank says True) under torch.distributed; `flag` itself in one process."""
    import torch.distributed as dist

    rank, world = rank_world()
    if world == 1:
        return bool(flag)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    return _any_rank(flag, world, device)


def _any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True when `flag` is True on any rank (an all-reduce under torch.distributed): ranks stop together."""
    if world == 1:
        return bool(flag)
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
