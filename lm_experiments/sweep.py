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

import statistics
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.config import claim_result_folder
from plumbing.errors import InputError
from plumbing.schemas import LM_PLAN, LM_TEXT_SAMPLE, LM_TOKEN_STATS, frame
from plumbing.validate import check_real
from theory.ufm.metrics import MASS, PERCENTILE

from . import stats
from .collect import collect
from .config import SweepConfig
from .data import load_prepared, prepare
from .decay import check_stable
from .plan import planned_runs, run_name
from .train import ranks_agree, train_run, training_counts


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
