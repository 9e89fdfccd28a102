"""The weight-decay sweep: one causal LM per (decay mode, lambda, seed), measured per token id.

Output folder (tidy, pandas-readable; the column lists are plumbing.schemas.LM_*):
  config.json            the SweepConfig (a rerun with another config is refused)
  data_manifest.json     corpus provenance, tokenizer hash, token counts (from `data.prepare`)
  token_stats.csv        token_id, count (training split), pow3_bin, equal_mass_bin, low_freq
  token_stats.json       P99 threshold, tokens holding 50/80/95% of the mass, low-frequency shares
  text_sample.csv        a held-out text, token by token, with its training count and low/high flag
  runs/<run>/            one training run (metrics.csv, per_token.csv.gz, manifest.json, done.json)
  summary.csv            one row per (decay_mode, lambda, seed, split): the contract other tools read
  learning_speed.csv     per run and token id: learning speed on the training split
  table1.csv, table1.md  the paper's Table 1: mean +- std over seeds per (decay_mode, lambda, split)
A run that finished is never redone; an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from plumbing.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from plumbing.config import claim_result_folder, load_dataclass_config
from plumbing.errors import InputError
from plumbing.results import read_result_csv
from plumbing.schemas import (
    LM_LEARNING_SPEED,
    LM_METRIC_NAMES,
    LM_RUN_METRICS,
    LM_RUN_PER_TOKEN,
    LM_SUMMARY,
    LM_TABLE1,
    LM_TEXT_SAMPLE,
    LM_TOKEN_STATS,
    frame,
)
from plumbing.validate import check_int, check_real
from theory import metrics

from . import stats
from .data import prepare
from .train import TrainConfig, train_run

METRICS = LM_METRIC_NAMES  # average_loss, balanced_loss, accuracy, low_freq_loss, high_freq_loss


@dataclass(frozen=True)
class SweepConfig:
    """lambdas x seeds x decay_modes runs of `train` (TrainConfig fields, e.g. preset, steps, lr) on one corpus."""

    name: str = "tiny"
    corpus: str = "rotten-tomatoes"
    vocab_size: int = 8192
    lambdas: tuple = (0.0, 0.1, 0.5, 1.0, 2.0)
    seeds: tuple = (0,)
    decay_modes: tuple = ("no-norm-bias",)
    train: dict = field(default_factory=dict)
    percentile: float = 99.0

    def __post_init__(self):
        for name in ("lambdas", "seeds", "decay_modes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for lam in self.lambdas:
            check_real("lambdas", lam, 0)
        if not self.lambdas or not self.seeds or not self.decay_modes:
            raise InputError("lambdas, seeds and decay_modes must not be empty")
        check_int("vocab_size", self.vocab_size, 300, allow_numpy=False)
        known = {f.name for f in fields(TrainConfig)} - {"weight_decay", "seed", "decay_mode", "vocab_size"}
        for key in self.train:
            if key not in known:
                raise InputError(f"unknown train key {key!r}; allowed: {', '.join(sorted(known))}")
        for mode in self.decay_modes:  # validated by TrainConfig itself
            self.train_config(self.lambdas[0], self.seeds[0], mode)

    def train_config(self, lam: float, seed: int, mode: str) -> TrainConfig:
        return TrainConfig(**{**self.train, "weight_decay": float(lam), "seed": int(seed), "decay_mode": mode,
                              "vocab_size": self.vocab_size})

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # CPU, 2 cores: 5 lambdas x 1 seed in ~7 minutes. The tiny model sees the first 64k training tokens
    # ~10 times (the paper's runs also revisit a small training set many times, and measure on it)
    "tiny": SweepConfig(train={"steps": 320, "eval_every": 80, "checkpoint_every": 80, "train_tokens": 65536,
                               "eval_tokens": 65536}),
    # the same pipeline at GPU scale: ~270M parameters (vocab 32k), the mixed real corpus, 2 seeds,
    # plus the ablation in which the embedding and the output layer are not decayed
    "gpu-270m": SweepConfig(name="gpu-270m", corpus="mixed", vocab_size=32000, seeds=(0, 1),
                            decay_modes=("no-norm-bias", "no-embed-out"),
                            train={"preset": "openelm-270m-like", "device": "cuda", "bf16": True, "compile": True}),
    "gpu-0.5b": SweepConfig(name="gpu-0.5b", corpus="mixed", vocab_size=32000, seeds=(0,),
                            train={"preset": "qwen2-0.5b-like", "device": "cuda", "bf16": True, "compile": True}),
}


def load_sweep_config(spec: str) -> SweepConfig:
    return load_dataclass_config(spec, PRESETS, "tiny")


def run_name(lam: float, seed: int, mode: str) -> str:
    return f"{mode}_wd{lam:g}_s{seed}"


def write_token_stats(prepared, cfg: SweepConfig, out: Path) -> np.ndarray:
    counts = stats.token_counts(prepared.train, prepared.vocab_size)
    atomic_write_csv(stats.token_table(counts, cfg.percentile), out / LM_TOKEN_STATS.name)  # framed by stats
    atomic_write_json(out / "token_stats.json", stats.mass_cuts(counts))
    atomic_write_json(out / "data_manifest.json", prepared.manifest)
    sample = _sample_text(prepared)
    atomic_write_csv(stats.text_sample(prepared.tokenizer, sample, counts, cfg.percentile), out / LM_TEXT_SAMPLE.name)
    return counts


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


def run_sweep(cfg: SweepConfig, out: str | Path, progress: bool = True) -> pd.DataFrame:
    out = Path(out)
    record = claim_result_folder(out, cfg.to_dict())
    prepared = prepare(cfg.corpus, cfg.vocab_size, out / "data")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", record)
    counts = write_token_stats(prepared, cfg, out)
    grid = [(mode, lam, seed) for mode in cfg.decay_modes for lam in cfg.lambdas for seed in cfg.seeds]
    for mode, lam, seed in tqdm(grid, desc="sweep", unit="run", disable=not progress):
        train_run(cfg.train_config(lam, seed, mode), prepared, out / "runs" / run_name(lam, seed, mode),
                  progress=progress)
    return collect(cfg, out, counts)


def collect(cfg: SweepConfig, out: Path, counts: np.ndarray) -> pd.DataFrame:
    """summary.csv, learning_speed.csv and Table 1 from the finished runs' files."""
    rows, speeds = [], []
    bins = metrics.power_of_3_bins(counts)
    for mode in cfg.decay_modes:
        for lam in cfg.lambdas:
            for seed in cfg.seeds:
                run = out / "runs" / run_name(lam, seed, mode)
                m = read_result_csv(run / LM_RUN_METRICS.name, LM_RUN_METRICS.columns)
                final = m[m["step"] == m["step"].max()]
                for _, r in final.iterrows():
                    rows.append({"lambda": lam, "seed": seed, "split": r["split"],
                                 **{k: r[k] for k in METRICS}, "decay_mode": mode, "step": int(r["step"]),
                                 "corpus": cfg.corpus, "run": run.name})
                pt = read_result_csv(run / LM_RUN_PER_TOKEN.name, LM_RUN_PER_TOKEN.columns)
                pt = pt[pt["split"] == "train"]
                curves = pt.pivot(index="step", columns="token_id", values="loss").sort_index()
                curves = curves.dropna(axis=1)
                speed = metrics.learning_speed(curves.to_numpy(), curves.index.to_numpy(float))
                ids = curves.columns.to_numpy()
                speeds.append(frame(LM_LEARNING_SPEED, {"decay_mode": mode, "lambda": lam, "seed": seed,
                                                        "token_id": ids, "train_count": counts[ids],
                                                        "pow3_bin": bins[ids], "learning_speed": speed}))
    summary = frame(LM_SUMMARY, rows)
    atomic_write_csv(summary, out / LM_SUMMARY.name)
    atomic_write_csv(frame(LM_LEARNING_SPEED, pd.concat(speeds, ignore_index=True)), out / LM_LEARNING_SPEED.name)
    table = table1(summary)
    atomic_write_csv(table, out / LM_TABLE1.name)
    atomic_write_text(out / "table1.md", table1_markdown(table))
    return summary


def table1(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per (decay_mode, lambda, split) (std NaN for one seed)."""
    g = summary.groupby(["decay_mode", "split", "lambda"], sort=True)[list(METRICS)]
    mean, std = g.mean().add_suffix("_mean"), g.std(ddof=1).add_suffix("_std")
    out = mean.join(std).reset_index()
    out["n_seeds"] = g.size().to_numpy()
    return frame(LM_TABLE1, out)


def table1_markdown(table: pd.DataFrame) -> str:
    lines = []
    for (mode, split), t in table.groupby(["decay_mode", "split"], sort=False):
        lines += [f"### {split} split, decay mode {mode}", "",
                  "| weight decay | average loss | balanced loss | accuracy (%) | low-freq loss | high-freq loss | seeds |",
                  "|---|---|---|---|---|---|---|"]
        for _, r in t.iterrows():
            def cell(k, scale=1.0, fmt=".4f"):
                m, s = r[f"{k}_mean"] * scale, r[f"{k}_std"] * scale
                return f"{m:{fmt}}" + ("" if np.isnan(s) else f" ± {s:{fmt}}")
            lines.append(f"| {r['lambda']:g} | {cell('average_loss')} | {cell('balanced_loss')} | "
                         f"{cell('accuracy', 100, '.2f')} | {cell('low_freq_loss')} | {cell('high_freq_loss')} | "
                         f"{int(r['n_seeds'])} |")
        lines.append("")
    return "\n".join(lines)
