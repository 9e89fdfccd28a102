"""The weight-decay sweep: one causal LM per (decay mode, lambda, seed), measured per token id.

Output folder (tidy, pandas-readable; the column lists are plumbing.schemas.LM_*):
  config.json            the SweepConfig (a rerun with another config is refused)
  data_manifest.json     corpus provenance, tokenizer hash, token counts (from `data.prepare`)
  token_stats.csv        token_id, count, pow3_bin, equal_mass_bin, low_freq (P99 split), low_mass (50% mass split)
  token_stats.json       P99 threshold, tokens holding 50/80/95% of the mass, low-frequency shares, and how many
                         tokens were counted (n_tokens_counted, the runs' train_tokens)
  text_sample.csv        a held-out text, token by token, with its training count and low/high flag
  runs/<run>/            one training run (metrics.csv, per_token.csv.gz, manifest.json, done.json)
  summary.csv            one row per (decay_mode, lambda, seed, split): the contract other tools read; every
                         low/high loss next to its group size (n_low, n_high, n_low_mass, n_high_mass)
  learning_speed.csv     per run and token id: learning speed on the training split, the token's training count,
                         its count in the evaluation window (eval_count) and whether that is >= MIN_EVAL_COUNT
  table1.csv, table1.md  the paper's Table 1: mean +- std over seeds per (decay_mode, lambda, split)
  plan.csv               every planned run in training order and its state (done / stopped at step k / not started)
With `regimes` (name -> train overrides, e.g. a memorised training subset next to the whole corpus), each regime
is a sweep of its own in <out>/<regime>/ holding the files above (but plan.csv and config.json, which stay in
<out>), all regimes sharing one prepared data folder (<out>/data).
Order: the runs are trained most informative first -- seed by seed; within a seed lambda 0, then the largest,
then the rest; the first decay mode before the others; regimes in their order -- so a sweep stopped by its
budget (`budget_minutes`) holds whole comparisons. At lambda = 0 every decay mode trains the same model (no
parameter is decayed), so one run (of the first mode) serves them all. A run is started only when the budget
left is at least the median wall time of the runs finished so far; a run that reaches the budget stops at a
checkpoint (resumable); summary.csv and Table 1 hold the finished runs (n_seeds says how many per row).
Every count, threshold, bin and low/high flag of these files is of the tokens the runs trained on
(train.training_ids: the first train_tokens of the training split), the counts each run split its losses by;
every run of a sweep trains on the same ids (one `train` block), and collect() refuses a run whose group sizes
say otherwise. A run that finished is never redone; an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from plumbing.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from plumbing.config import claim_result_folder, load_dataclass_config
from plumbing.errors import InputError
from plumbing.results import read_result_csv
from plumbing.schemas import (
    LM_GROUP_SIZES,
    LM_LEARNING_SPEED,
    LM_METRIC_NAMES,
    LM_PLAN,
    LM_RUN_METRICS,
    LM_RUN_PER_TOKEN,
    LM_SUMMARY,
    LM_TABLE1,
    LM_TEXT_SAMPLE,
    LM_TOKEN_STATS,
    frame,
)
from plumbing.validate import check_int, check_real, check_unique
from theory.ufm import metrics

from . import stats
from .data import load_prepared, prepare
from .decay import check_stable
from .train import TrainConfig, ranks_agree, train_run, training_counts

METRICS = LM_METRIC_NAMES  # average_loss, balanced_loss, accuracy, low/high_freq_loss, low/high_mass_loss
SIZES = LM_GROUP_SIZES  # n_low, n_high, n_low_mass, n_high_mass
MASS = 0.5  # the cumulative-mass split of measure.summarize (its default)
PERCENTILE = 99.0  # the low/high split of measure.summarize (its default): the token tables split there too
# learning_speed.csv's `measurable`: a token's loss curve averages over its eval_count occurrences in the training
# evaluation window. Evidence (tiny preset, 3 seeds, lambda 0 and 2): the spread over seeds of a token's speed
# falls from 0.055 at 1 occurrence to 0.020 at 20-25 (0.014 at 30-50), while the median speed rises from -0.16
# to 0.14; from 20 occurrences on the seed spread is below 1/6 of the speed and every seed agrees on its sign
# (at 8-11 occurrences the spread is 0.4 of the speed and 5-8% of the speeds are negative). So 20.
MIN_EVAL_COUNT = 20


SWEEP_KEYS = ("lambdas", "seeds", "decay_modes", "compare_at")  # what a regime may set besides train keys


@dataclass(frozen=True)
class SweepConfig:
    """lambdas x seeds x decay_modes runs of `train` (TrainConfig fields, e.g. preset, steps, lr) on one corpus.

    The first decay mode is the baseline; the others train only at the lambdas of `compare_at` (empty: at every
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
        at = set(self.compare_at or self.lambdas)
        return [(mode, lam, seed) for i, mode in enumerate(self.decay_modes) for lam in self.lambdas
                for seed in self.seeds if i == 0 or (lam != 0 and lam in at)]

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

# Measured constants of the real-scale plan: the gpu-270m sweep on one H200, 2026-12-04
# (results/real_scale/gpu-270m-h200: each run's done.json splits its wall, log_call1.txt has the sweep's).
# ms_per_step: median over the runs of train_seconds / steps (37.7; the previous code's run measured 35.4), an
# H100 scaled by the 41 / 35.4 ms measured there before. start: the sweep's wall outside its runs (python start,
# data, token tables, the final summary: 19 s) plus what the first run spends beyond a later one (CUDA start,
# the first model built, torch.compile: 73 s). A later run outside its steps: evaluation 0.2 s per 65,536 tokens
# evaluated, 0.8 s of files and setup (per-token file 0.6-1.0 s, setup 0.01-0.05 s), and 4 s more for the first
# run of a new seed (its initial weights are built on the CPU once, then kept on the device).
REAL_SCALE_PLAN = {"ms_per_step": {"H200": 37.7, "H100": 37.7 * 41.0 / 35.4}, "start_seconds": 92.0,
                   "eval_seconds_per_65k_tokens": 0.2, "overhead_seconds_per_run": 0.8, "seed_build_seconds": 4.0}


def predicted_wall(cfg: SweepConfig, device: str = "H200", plan: dict = REAL_SCALE_PLAN) -> dict:
    """Predicted seconds of a sweep on one GPU: start + sum over runs of (steps x ms_per_step + evaluations x
    (tokens evaluated / 65,536) x eval cost + overhead) + seed_build x (seeds - 1). Evaluation covers
    min(eval_tokens, the tokens trained on) of the training split and eval_tokens of the held-out split.
    Returns {"seconds", "train_seconds", "runs", "overhead_share", "run_overhead_share"} (the last: the share of
    the runs' own wall spent outside training steps, start excluded)."""
    train = other = 0.0
    n, seeds = 0, set()
    for sub in cfg.by_regime().values():
        for mode, lam, seed in sub.runs():
            tc = sub.train_config(lam, seed, mode)
            evals = 1 + -(-tc.steps // tc.eval_every)
            tokens = min(tc.eval_tokens, tc.train_tokens or tc.eval_tokens) + tc.eval_tokens
            train += tc.steps * plan["ms_per_step"][device] / 1e3
            other += evals * plan["eval_seconds_per_65k_tokens"] * tokens / 65536 + plan["overhead_seconds_per_run"]
            n, seeds = n + 1, seeds | {seed}
    other += plan["seed_build_seconds"] * (len(seeds) - 1)
    total = plan["start_seconds"] + train + other
    return {"seconds": total, "train_seconds": train, "runs": n, "overhead_share": (total - train) / total,
            "run_overhead_share": other / (train + other)}


def load_sweep_config(spec: str) -> SweepConfig:
    return load_dataclass_config(spec, PRESETS, "tiny")


def run_name(lam: float, seed: int, mode: str) -> str:
    return f"{mode}_wd{lam:g}_s{seed}"


def run_folder_name(cfg: SweepConfig, lam: float, seed: int, mode: str) -> str:
    """The folder of a run under runs/: at lambda 0 that of the first decay mode, which serves every mode."""
    return run_name(lam, seed, cfg.decay_modes[0] if lam == 0 else mode)


def planned_runs(cfg: SweepConfig) -> list[tuple[str, str, float, int]]:
    """(regime, decay_mode, lambda, seed) of every run to train, most informative first (see the module doc)."""
    plan = []
    for reg, sub in cfg.by_regime().items():
        lams = sorted(sub.lambdas)
        rank = {lam: i for i, lam in enumerate([lams[0], *lams[:0:-1]])}  # smallest, then from the largest down
        runs = sorted(sub.runs(), key=lambda r: (sub.seeds.index(r[2]), rank[r[1]], sub.decay_modes.index(r[0])))
        plan += [(reg, mode, lam, seed) for mode, lam, seed in runs]
    return plan


def sweep_training_counts(cfg: SweepConfig, prepared) -> np.ndarray:
    """The training counts of the sweep's runs (train.training_counts): one vector, as every run trains on the
    same ids; an InputError if the configs of two runs would train on different ids."""
    configs = [cfg.train_config(lam, seed, mode) for mode, lam, seed in cfg.runs()]
    if len({c.train_tokens for c in configs}) > 1:
        raise InputError("the runs of a sweep must train on the same tokens (one train_tokens); split the sweep")
    return training_counts(configs[0], prepared)


def write_token_stats(prepared, cfg: SweepConfig, out: Path, counts: np.ndarray) -> None:
    """token_stats.csv/json, data_manifest.json and text_sample.csv from `counts`, the counts of the tokens the
    runs train on (sweep_training_counts)."""
    atomic_write_csv(stats.token_table(counts, PERCENTILE, mass=MASS), out / LM_TOKEN_STATS.name)  # framed
    atomic_write_json(out / "token_stats.json", {
        **stats.mass_cuts(counts, PERCENTILE), "n_tokens_counted": int(counts.sum()),
        "train_tokens": cfg.train.get("train_tokens"), "mass_split": MASS,
        "counted": "the token ids every run of the sweep trained on (the first train_tokens of the training split)"})
    atomic_write_json(out / "data_manifest.json", prepared.manifest)
    sample = _sample_text(prepared)
    atomic_write_csv(stats.text_sample(prepared.tokenizer, sample, counts, PERCENTILE), out / LM_TEXT_SAMPLE.name)


def _sample_text(prepared, min_chars: int = 400) -> str:
    """The first held-out documents, joined until about `min_chars` characters (deterministic)."""
    ids = np.asarray(prepared.heldout[:4000], dtype=np.int64)
    docs, current = [], []
    for t in ids:
        if t == 0:
            if current:
                docs.append(prepared.tokenizer.decode(current))
            current = []
            if sum(len(d) for d in docs) >= min_chars:
                break
        else:
            current.append(int(t))
    return " ".join(d.strip() for d in docs) or prepared.tokenizer.decode([int(t) for t in ids[:200] if t != 0])


def run_sweep(cfg: SweepConfig, out: str | Path, progress: bool = True, data: str | Path | None = None,
              budget_minutes: float | None = None) -> dict:
    """Train the planned runs (resuming, skipping finished ones) and tabulate them; returns {regime: summary}.

    data: a folder from `export` (the prepared data, used instead of reading the corpus); budget_minutes: stop
    starting runs, and stop the running one at a checkpoint, that many minutes after the call began.
    """
    out = Path(out)
    t_start = time.monotonic()
    if budget_minutes is not None:
        check_real("budget_minutes", budget_minutes, 0, low_open=True)
    deadline = None if budget_minutes is None else t_start + 60.0 * budget_minutes
    record = claim_result_folder(out, cfg.to_dict())
    prepared = load_prepared(data, cfg.corpus, cfg.vocab_size) if data else prepare(cfg.corpus, cfg.vocab_size,
                                                                                      out / "data")
    subs = cfg.by_regime()
    counts = {reg: sweep_training_counts(sub, prepared) for reg, sub in subs.items()}
    for reg, sub in subs.items():  # an unstable decay is refused before anything is written or trained
        for mode, lam, seed in sub.runs():
            tc = sub.train_config(lam, seed, mode)
            check_stable(tc.decay_mode, tc.weight_decay, tc.lr, counts[reg])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", record)
    for reg, sub in subs.items():
        if reg:  # each regime folder is a sweep folder of its own (its config, tables, runs)
            atomic_write_json(out / reg / "config.json", {**claim_result_folder(out / reg, sub.to_dict()),
                                                          "regime": reg, "sweep": cfg.name})
    for reg, sub in subs.items():
        write_token_stats(prepared, sub, out / reg, counts[reg])
    plan, walls = [], []
    for order, (reg, mode, lam, seed) in enumerate(tqdm(planned_runs(cfg), desc="sweep", unit="run",
                                                           disable=not progress)):
        folder = out / reg / "runs" / run_name(lam, seed, mode)
        state, wall = "done", float("nan")
        if not (folder / "done.json").is_file():
            left = None if deadline is None else deadline - time.monotonic()
            if ranks_agree(left is not None and (left <= 0 or (walls and left < statistics.median(walls)))):
                state = "not started (budget)"
            else:
                t0 = time.monotonic()
                result = train_run(subs[reg].train_config(lam, seed, mode), prepared, folder, progress=progress,
                                   deadline=deadline)
                wall = time.monotonic() - t0
                if "stopped_at" in result:
                    state = f"stopped at step {result['stopped_at']} (budget; resumable)"
                else:
                    walls.append(wall)
        plan.append({"order": order, "regime": reg, "decay_mode": mode, "lambda": lam, "seed": seed,
                     "run": folder.name, "state": state, "wall_seconds": wall})
        atomic_write_csv(frame(LM_PLAN, plan), out / LM_PLAN.name)  # after every run: a killed sweep keeps it
    return {reg: collect(sub, out / reg, counts[reg]) for reg, sub in subs.items()}


def _group_sizes(counts: np.ndarray, percentile: float) -> dict:
    """The group sizes measure.summarize reports for training counts `counts` (ids with a count > 0)."""
    seen = counts > 0
    low, low_mass = metrics.low_frequency_mask(counts, percentile), metrics.mass_tail_mask(counts, MASS)
    return {"n_low": int(np.sum(low & seen)), "n_high": int(np.sum(~low & seen)),
            "n_low_mass": int(np.sum(low_mass & seen)), "n_high_mass": int(np.sum(~low_mass & seen))}


def _check_trained_on(run: Path, counts: np.ndarray) -> None:
    """InputError if the run's manifest says it trained on another number of tokens than `counts` counts."""
    path = run / "manifest.json"
    used = json.loads(path.read_text()).get("n_train_tokens_used") if path.is_file() else None
    if used is not None and used != int(counts.sum()):
        raise InputError(f"{str(path)!r}: the run trained on {used} tokens, the sweep's token tables count "
                         f"{int(counts.sum())}: they would split low/high by other counts; use a new folder")


def collect(cfg: SweepConfig, out: Path, counts: np.ndarray) -> pd.DataFrame:
    """summary.csv, learning_speed.csv and Table 1 from the finished runs' files (runs without done.json are left
    out; none finished: nothing is written and the summary is empty); `counts` are the training counts
    of the runs (write_token_stats). InputError if a run trained on another number of tokens (its manifest) or
    its group sizes are not those of `counts`: it split its losses by other counts than the token tables say."""
    rows, speeds = [], []
    counts = np.asarray(counts, dtype=np.float64)
    bins = metrics.power_of_3_bins(counts)
    expected = _group_sizes(counts, PERCENTILE)
    planned = set(cfg.runs())
    for mode, lam, seed in [(m, lam, s) for m in cfg.decay_modes for lam in cfg.lambdas for s in cfg.seeds]:
        if lam != 0 and (mode, lam, seed) not in planned:
            continue  # lambda 0 is listed under every decay mode (one run serves them all)
        run = out / "runs" / run_folder_name(cfg, lam, seed, mode)
        if not (run / "done.json").is_file():  # not (yet) finished: a budget stopped the sweep
            continue
        _check_trained_on(run, counts)
        m = read_result_csv(run / LM_RUN_METRICS.name, LM_RUN_METRICS.columns)
        final = m[m["step"] == m["step"].max()]
        for _, r in final.iterrows():
            got = {k: int(r[k]) for k in SIZES}
            if got != expected:
                raise InputError(f"{str(run / LM_RUN_METRICS.name)!r}: group sizes {got} are not those of "
                                 f"the sweep's training counts {expected}: the run split low/high by other "
                                 "counts (another train_tokens or corpus?); use a new folder")
            rows.append({"lambda": lam, "seed": seed, "split": r["split"], **{k: r[k] for k in METRICS},
                         **got, "decay_mode": mode, "step": int(r["step"]), "corpus": cfg.corpus,
                         "run": run.name})
        pt = read_result_csv(run / LM_RUN_PER_TOKEN.name, LM_RUN_PER_TOKEN.columns)
        pt = pt[pt["split"] == "train"]
        curves = pt.pivot(index="step", columns="token_id", values="loss").sort_index()
        curves = curves.dropna(axis=1)
        speed = metrics.learning_speed(curves.to_numpy(), curves.index.to_numpy(float))
        ids = curves.columns.to_numpy()
        # the evaluation window is the same at every step: its count of an id is that of the first step
        first = pt[pt["step"] == pt["step"].min()].set_index("token_id")["count"]
        eval_count = first.reindex(ids).to_numpy()
        speeds.append(frame(LM_LEARNING_SPEED, {"decay_mode": mode, "lambda": lam, "seed": seed,
                                                "token_id": ids, "train_count": counts[ids],
                                                "pow3_bin": bins[ids], "eval_count": eval_count,
                                                "measurable": eval_count >= MIN_EVAL_COUNT,
                                                "learning_speed": speed}))
    summary = frame(LM_SUMMARY, rows)
    if summary.empty:
        return summary  # no run finished: no tables
    atomic_write_csv(summary, out / LM_SUMMARY.name)
    atomic_write_csv(frame(LM_LEARNING_SPEED, pd.concat(speeds, ignore_index=True)), out / LM_LEARNING_SPEED.name)
    table = table1(summary)
    atomic_write_csv(table, out / LM_TABLE1.name)
    atomic_write_text(out / "table1.md", table1_markdown(table))
    return summary


def table1(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per (decay_mode, lambda, split) (std NaN for one seed), with the
    group sizes of the low/high splits (one value per row: InputError if the seeds of a row differ in them)."""
    keys = ["decay_mode", "split", "lambda"]
    g = summary.groupby(keys, sort=True)
    differ = g[list(SIZES)].nunique() > 1
    if differ.to_numpy().any():
        raise InputError(f"the seeds of {differ.any(axis=1).idxmax()} differ in their group sizes "
                         f"({', '.join(SIZES)}): they split low/high by different counts")
    mean, std = g[list(METRICS)].mean().add_suffix("_mean"), g[list(METRICS)].std(ddof=1).add_suffix("_std")
    out = mean.join(std).join(g[list(SIZES)].first()).reset_index()
    out["n_seeds"] = g.size().to_numpy()
    return frame(LM_TABLE1, out)


def table1_markdown(table: pd.DataFrame) -> str:
    lines = []
    for (mode, split), t in table.groupby(["decay_mode", "split"], sort=False):
        lines += [f"### {split} split, decay mode {mode}", "",
                  "low/high by the P99 training count (the paper's split) and by the head holding half of the "
                  "training tokens; ids: how many token ids each group holds (low / high)", "",
                  "| weight decay | average loss | balanced loss | accuracy (%) | low-freq loss | high-freq loss | "
                  "ids (P99) | low-mass loss | high-mass loss | ids (mass) | seeds |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in t.iterrows():
            def cell(k, scale=1.0, fmt=".4f"):
                m, s = r[f"{k}_mean"] * scale, r[f"{k}_std"] * scale
                return f"{m:{fmt}}" + ("" if np.isnan(s) else f" ± {s:{fmt}}")
            lines.append(f"| {r['lambda']:g} | {cell('average_loss')} | {cell('balanced_loss')} | "
                         f"{cell('accuracy', 100, '.2f')} | {cell('low_freq_loss')} | {cell('high_freq_loss')} | "
                         f"{int(r['n_low'])} / {int(r['n_high'])} | {cell('low_mass_loss')} | "
                         f"{cell('high_mass_loss')} | {int(r['n_low_mass'])} / {int(r['n_high_mass'])} | "
                         f"{int(r['n_seeds'])} |")
        lines.append("")
    return "\n".join(lines)
