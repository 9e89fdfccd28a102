"""The LM's configs as data: `TrainConfig` (one training run), `SweepConfig` (lambdas x seeds x decay modes of
runs, optionally in regimes) and the sweep presets (`PRESETS`, read by `load_sweep_config`).

Both dataclasses check every value when built (InputError naming the value and what is allowed), so a config
that is refused is refused before anything is written or trained. train.py, step.py, sweep.py and bench.py
import them from here (one home, no import loop between the training modules).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace

import torch

from plumbing.config import load_dataclass_config
from plumbing.errors import InputError
from plumbing.validate import check_int, check_real, check_unique
from theory.glossary import baseline_mode

from .decay import check_mode

# config fields that may change between an interrupted run and its resumption (they do not change the maths
# of a CPU run; moving a run between devices is allowed on purpose)
RESUMABLE_CHANGES = ("device", "compile", "keep_checkpoint")


@dataclass(frozen=True)
class TrainConfig:
    """Defaults run on a CPU in seconds (tiny model, 200 steps of 16 x 128 tokens)."""

    preset: str = "tiny"  # a model.PRESETS name or a local checkpoint folder
    vocab_size: int = 8192  # the tokenizer's requested size (the model uses prepared.vocab_size)
    seq_len: int = 128
    batch_size: int = 16  # per rank
    steps: int = 200
    lr: float = 3e-3
    warmup: int = 20  # linear warmup steps, then cosine decay to min_lr_ratio * lr at `steps`
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1  # AdamW's decoupled decay (torch: p -= lr * weight_decay * p)
    decay_mode: str = "no-norm-bias"  # decay.DECAY_MODES
    seed: int = 0
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    eval_every: int = 50
    eval_tokens: int = 16384  # per split
    device: str = "cpu"
    bf16: bool = False  # bf16 autocast (CUDA only)
    compile: bool = False  # torch.compile the training forward
    checkpoint_every: int = 50
    train_tokens: int | None = None  # train on (and measure) only the first train_tokens of the training split
    keep_checkpoint: bool = False  # keep checkpoint.pt once the run is done (otherwise it is deleted)

    def __post_init__(self):
        check_mode(self.decay_mode)
        for name in ("bf16", "compile", "keep_checkpoint"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("seq_len", "batch_size", "steps", "eval_every", "eval_tokens", "checkpoint_every"):
            check_int(name, getattr(self, name), 1, allow_numpy=False)
        check_real("lr", self.lr, 0, low_open=True)
        check_real("weight_decay", self.weight_decay, 0)
        check_real("grad_clip", self.grad_clip, 0)
        check_real("min_lr_ratio", self.min_lr_ratio, 0, 1)
        if self.train_tokens is not None:
            check_int("train_tokens (None or > seq_len + 1)", self.train_tokens, self.seq_len + 2, allow_numpy=False)
        check_int("warmup", self.warmup, 0, allow_numpy=False)
        check_int("seed", self.seed, 0, allow_numpy=False)
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise InputError(f"device must be a torch device such as cpu, cuda, cuda:1, got {self.device!r}") from None


SWEEP_KEYS = ("lambdas", "seeds", "decay_modes", "compare_at")  # what a regime may set besides train keys


@dataclass(frozen=True)
class SweepConfig:
    """lambdas x seeds x decay_modes runs of `train` (TrainConfig fields, e.g. preset, steps, lr) on one corpus.

    The baseline is the first decay mode (theory.glossary.baseline_mode); the others train only at the lambdas of `compare_at` (empty: at every
    lambda). A regime (name -> overrides) is a sweep of its own: its overrides are train keys, or SWEEP_KEYS."""

    name: str = "tiny"
    corpus: str = "rotten-tomatoes"
    vocab_size: int = 8192
    lambdas: tuple = (0.0, 0.1, 0.5, 1.0, 2.0)
    seeds: tuple = (0,)
    decay_modes: tuple = ("no-norm-bias",)
    train: dict = field(default_factory=dict)
    compare_at: tuple = ()
    regimes: dict = field(default_factory=dict)  # regime name -> overrides (empty: one regime, <out> itself)

    def __post_init__(self):
        for name in ("lambdas", "seeds", "decay_modes", "compare_at"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for lam in self.lambdas:
            check_real("lambdas", lam, 0)
        for seed in self.seeds:
            check_int("seeds", seed, 0, allow_numpy=False)
        if not self.lambdas or not self.seeds or not self.decay_modes:
            raise InputError("lambdas, seeds and decay_modes must not be empty")
        for name in ("lambdas", "seeds", "decay_modes", "compare_at"):  # a repeat would be reported as a replicate
            if getattr(self, name):
                check_unique(name, getattr(self, name))
        for lam in self.compare_at:
            if lam not in self.lambdas:
                raise InputError(f"compare_at holds {lam!r}, which is not among the lambdas {list(self.lambdas)}")
        check_int("vocab_size", self.vocab_size, 300, allow_numpy=False)
        for name, over in {"train": self.train, **{f"regime {k!r}": v for k, v in self.regimes.items()}}.items():
            if not isinstance(over, dict):
                raise InputError(f"{name} must be a table of keys, got {over!r}")
        known = {f.name for f in fields(TrainConfig)} - {"weight_decay", "seed", "decay_mode", "vocab_size"}
        for key in [*self.train, *(k for over in self.regimes.values() for k in over if k not in SWEEP_KEYS)]:
            if key not in known:
                raise InputError(f"unknown train key {key!r}; allowed: {', '.join(sorted(known))} "
                                 f"(and in a regime {', '.join(SWEEP_KEYS)})")
        for name in self.regimes:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", str(name)) or name in ("data", "runs"):
                raise InputError(f"regime name {name!r} must be lower-case letters, digits and '-' (a folder name), "
                                 "not 'data' or 'runs'")
        for sub in self.by_regime().values():  # every regime's train block with every decay mode, by TrainConfig
            for mode in sub.decay_modes:
                sub.train_config(sub.lambdas[0], sub.seeds[0], mode)

    def by_regime(self) -> dict:
        """{regime: the one-regime SweepConfig of it}; {"": self} when there are no regimes."""
        if not self.regimes:
            return {"": self}
        return {name: replace(self, name=f"{self.name}-{name}", regimes={},
                              train={**self.train, **{k: v for k, v in over.items() if k not in SWEEP_KEYS}},
                              **{k: v for k, v in over.items() if k in SWEEP_KEYS})
                for name, over in self.regimes.items()}

    def runs(self) -> list[tuple[str, float, int]]:
        """(decay_mode, lambda, seed) of every run of a one-regime sweep: the first decay mode at every lambda,
        the others at compare_at (every lambda when empty), lambda 0 once (the first mode's run serves all)."""
        at, base = set(self.compare_at or self.lambdas), baseline_mode(self.decay_modes)
        return [(mode, lam, seed) for mode in self.decay_modes for lam in self.lambdas
                for seed in self.seeds if mode == base or (lam != 0 and lam in at)]

    def train_config(self, lam: float, seed: int, mode: str) -> TrainConfig:
        return TrainConfig(**{**self.train, "weight_decay": float(lam), "seed": int(seed), "decay_mode": mode,
                              "vocab_size": self.vocab_size})

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # CPU, 2 cores (`make reproduce`): 3 lambdas x 3 seeds, so every LM claim carries an interval over seeds;
    # 23-31 s a run on a quiet 2-core machine. The tiny
    # model (vocab 4096: 0.92M parameters) sees the first 32k training tokens ~9 times (the paper's runs also
    # revisit a small training set many times, and measure on it) and fits them (train loss ~0.6 nats below
    # held-out); it is evaluated 5 times on all of them and on 32k held-out tokens. Batch 12 x 128 keeps the
    # logits under glibc's 32 MiB mmap threshold, so with the Makefile's MALLOC_* settings no step pays for
    # page faults.
    # Decay modes: uniform decay (no-norm-bias) at every lambda, and at lambda 2 the ablation (no-embed-out: the
    # embedding/output layer not decayed) and the two bounded mitigations (capped-embed-out, lazy-embed-out):
    # 3 seeds x (lambdas 0, 1, 2 + 3 modes at lambda 2) = 18 runs.
    "tiny": SweepConfig(vocab_size=4096, lambdas=(0.0, 1.0, 2.0), seeds=(0, 1, 2), compare_at=(2.0,),
                        decay_modes=("no-norm-bias", "no-embed-out", "capped-embed-out", "lazy-embed-out"),
                        train={"steps": 200, "batch_size": 12, "eval_every": 50, "checkpoint_every": 50,
                               "train_tokens": 32768, "eval_tokens": 32768}),
    # Real scale in one device window: the openelm-270m-like model (271M parameters at vocab 32k), batch 64 x 128 =
    # 8,192 tokens a step, bf16, torch.compile once per process. Planned from the figures measured on one H200
    # (REAL_SCALE_PLAN below; `predicted_wall` gives the arithmetic, a test holds it under 9 minutes).
    # First the `memorised` regime (the paper's Table-1 setting: a model that nearly memorises its training set):
    # the first 32,768 training tokens, 540 steps = 135 passes at lr 1e-3 (an earlier H200 run, 65,536 tokens and
    # 300 steps = 37 passes at lr 5e-4, ended at training loss 0.47-0.51; half the tokens, 3.6 times the passes
    # at twice the lr are meant to reach <= 0.1); 3 seeds x (lambda 0, uniform decay at 1 and 2, and at lambda 2
    # the ablation no-embed-out and the bounded mitigation lazy-embed-out) = 15 runs, evaluated 4 times. Then the
    # `corpus` regime (the whole mixed corpus, 3.69M tokens): lambda 0 and 2 x 2 seeds, 600 steps = 4.9M tokens,
    # 1.3 epochs, evaluated 3 times. Evaluation on <= 65,536 tokens of each split. Checkpoints only when the
    # budget stops a run. Predicted (predicted_wall): 534 s on an H200, 596 s on an H100; measured on an H200:
    # 16 runs in 461 s, all 19 in 461 s + a second call of 119 s (results/real_scale/gpu-270m-h200).
    "gpu-270m": SweepConfig(
        name="gpu-270m", corpus="mixed", vocab_size=32000, lambdas=(0.0, 1.0, 2.0), seeds=(0, 1, 2),
        decay_modes=("no-norm-bias", "no-embed-out", "lazy-embed-out"), compare_at=(2.0,),
        train={"preset": "openelm-270m-like", "device": "cuda", "bf16": True, "compile": True, "batch_size": 64,
               "seq_len": 128, "lr": 1e-3, "warmup": 40, "checkpoint_every": 100000, "eval_tokens": 65536},
        regimes={"memorised": {"train_tokens": 32768, "steps": 540, "eval_every": 180},
                 "corpus": {"steps": 600, "eval_every": 300, "lambdas": (0.0, 2.0), "seeds": (0, 1),
                            "decay_modes": ("no-norm-bias",), "compare_at": ()}}),
}


def load_sweep_config(spec: str) -> SweepConfig:
    return load_dataclass_config(spec, PRESETS, "tiny")
