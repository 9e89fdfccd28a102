"""Result-file schemas: the file name and the column order of every tidy result file that one part of the
toolkit writes and another reads. Writers build their tables through `frame(schema, ...)`, which refuses a
missing or unknown column and puts the columns in the schema's order; readers name the columns they need
through `schema.pick(...)`, which refuses a name the schema does not hold. A column renamed in one place and
not in the other therefore fails at once (writer: when the table is built; reader: when its module is
imported), never as a silently missing or NaN column.

Changing a schema changes the files on disk: old result folders are then refused by the readers that need
the renamed column.
"""

from __future__ import annotations

from dataclasses import dataclass


class SchemaError(Exception):
    """A table or a reader that does not match its schema: a bug in the toolkit, not bad user input (so it is
    deliberately not an InputError and not a ValueError that a reader's error handling could swallow)."""


@dataclass(frozen=True)
class Schema:
    """A result file: its name (e.g. "summary.csv") and its columns, in the order they are written."""

    name: str
    columns: tuple

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(self.columns))
        if len(set(self.columns)) != len(self.columns):
            raise SchemaError(f"{self.name}: repeated column in {self.columns}")

    def pick(self, *names: str) -> tuple:
        """`names` as a tuple, each checked to be a column of this file (for a reader's required columns)."""
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise SchemaError(f"{self.name} has no column(s) {', '.join(unknown)}; its columns: "
                              f"{', '.join(self.columns)}")
        return tuple(names)

    @property
    def header(self) -> str:
        """The file's first line as the writers produce it (CSV, no index)."""
        return ",".join(self.columns)


def frame(schema: Schema, data):
    """`data` (a DataFrame, a list of row dicts or a dict of columns) as a DataFrame with exactly the schema's
    columns in the schema's order; SchemaError naming the file if a column is missing, unknown or repeated.
    An empty list (no rows, no columns) gives an empty table with the schema's columns. A DataFrame already in
    order is returned as it is (no copy), so the bytes written are those of `data`."""
    import pandas as pd

    df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if df.empty and len(df.columns) == 0:
        return pd.DataFrame(columns=list(schema.columns))
    cols = [str(c) for c in df.columns]
    repeated = sorted({c for c in cols if cols.count(c) > 1})
    missing = [c for c in schema.columns if c not in cols]
    unknown = [c for c in cols if c not in schema.columns]
    if repeated or missing or unknown:
        parts = [f"lacks {', '.join(missing)}" if missing else "",
                 f"has unknown {', '.join(unknown)}" if unknown else "",
                 f"repeats {', '.join(repeated)}" if repeated else ""]
        raise SchemaError(f"table for {schema.name} does not match its schema: "
                          f"{'; '.join(p for p in parts if p)} (schema: {', '.join(schema.columns)})")
    if cols == list(schema.columns):
        return df
    return df[list(schema.columns)]


# --- simulations (simulations/run.py, simulations/languages.py) -------------------------------------------
# low/high appear under two splits, with the number of classes of each group, named as in the LM files: P99 of
# the counts (the paper's: low_freq, low_freq_loss, n_low) and the head holding half the samples
# (theory.ufm.metrics.mass_tail_mask: low_mass, low_mass_loss, n_low_mass)
SIM_COUNTS = Schema("counts.csv", ("class", "count", "pow3_bin", "equal_mass_bin", "low_freq", "low_mass"))
SIM_THEORY = Schema("theory.csv", ("model", "lambda", "class", "theory_loss"))
SIM_SUMMARY = Schema("summary.csv", (
    "model", "optimizer", "lambda", "seed", "average_loss", "balanced_loss", "balanced_over_average",
    "low_freq_loss", "high_freq_loss", "n_low", "n_high",
    "low_mass_loss", "high_mass_loss", "n_low_mass", "n_high_mass",
    "same_objective_as_theory", "max_abs_diff_to_theory", "mean_abs_diff_to_theory", "theory_average_loss",
    "theory_balanced_loss", "matched_l2_lambda", "matched_l2_max_abs_diff", "l2_strength",
    "converged", "convergence_criterion", "convergence_value", "convergence_tol", "steps", "lr", "wall_s_batch"))
SIM_PER_CLASS = Schema("per_class.csv.gz", (
    "model", "optimizer", "lambda", "seed", "class", "count", "pow3_bin", "low_freq", "low_mass", "loss",
    "theory_loss", "matched_l2_theory_loss", "learning_speed"))
SIM_CURVES = Schema("curves.csv", ("model", "optimizer", "lambda", "seed", "step", "group", "n_classes", "loss"))
# AdamW at matched strength (simulations.run.adamw_vs_l2): each AdamW run against the certified L2 optimum at
# its matched_l2_lambda; derived from summary.csv and per_class.csv.gz, top level only
_GROUP_STATS = ("average_loss", "balanced_loss", "balanced_over_average", "low_freq_loss", "high_freq_loss",
                "low_mass_loss", "high_mass_loss")
SIM_ADAMW_VS_L2 = Schema("adamw_vs_l2.csv", (
    "model", "adamw_lambda", "seed", "matched_by", "matched_l2_lambda", "matched_l2_max_abs_diff")
    + tuple(f"adamw_{c}" for c in _GROUP_STATS) + tuple(f"l2_{c}" for c in _GROUP_STATS)
    + ("n_low", "n_high", "n_low_mass", "n_high_mass"))
# the files of one finished (model, optimizer) part, concatenated into the top-level files of the same name
SIM_PART_FILES = (SIM_SUMMARY, SIM_PER_CLASS, SIM_CURVES)
LANGUAGES = Schema("languages.csv", ("language", "vocab_size", "share_below_p95_mass", "share_below_p99_count"))
# `python -m simulations mitigation` (simulations/mitigation.py): per-class decay schemes next to uniform decay
SIM_MITIGATION = Schema("mitigation.csv", ("model", "optimizer", "scheme", "lambda", "seed", "average_loss",
                                           "balanced_loss", "low_freq_loss", "high_freq_loss", "low_mass_loss",
                                           "high_mass_loss", "spread", "duality_gap",
                                           "heldout_average_loss"))

# simulations scale (simulations/scale.py): the UFM at a real vocabulary's counts, trained along a lambda path
SIM_SCALE_OPTIMA = Schema("optima.csv", ("lambda", "rank", "width", "duality_gap", "theory_seconds"))
SIM_SCALE_THEORY = Schema("theory.csv.gz", ("lambda", "class", "count", "theory_loss"))
SIM_SCALE_PATH = Schema("path.csv", ("lambda", "width", "iterations", "seconds", "max_abs_diff", "reached", "V",
                                     "device", "device_name", "dtype", "torch"))
SIM_SCALE_PER_CLASS = Schema("per_class.csv.gz", ("lambda", "class", "count", "loss", "theory_loss"))

# --- LM experiments (lm_experiments/train.py, sweep.py, stats.py, token_report.py) -------------------------
# the metrics of one evaluation (lm_experiments.measure.summarize) that the sweep tabulates: two low/high
# splits of the token ids by their count in the tokens the run trained on -- P99 of the counts (the paper's,
# *_freq_*) and the head holding half of all occurrences (*_mass_*, theory.ufm.metrics.mass_tail_mask)
LM_METRIC_NAMES = ("average_loss", "balanced_loss", "accuracy", "low_freq_loss", "high_freq_loss", "low_mass_loss",
                   "high_mass_loss")
# how many token ids (training count > 0) each group of those splits holds, stated next to every group loss
LM_GROUP_SIZES = ("n_low", "n_high", "n_low_mass", "n_high_mass")
LM_RUN_METRICS = Schema("metrics.csv", ("step", "split") + LM_METRIC_NAMES + LM_GROUP_SIZES + ("n_tokens",))
LM_RUN_PER_TOKEN = Schema("per_token.csv.gz", ("step", "split", "token_id", "count", "loss"))
LM_SUMMARY = Schema("summary.csv", ("lambda", "seed", "split") + LM_METRIC_NAMES + LM_GROUP_SIZES +
                    ("decay_mode", "step", "corpus", "run"))
# train_count: in the tokens trained on; eval_count: occurrences as a target in the training evaluation window
# (what the loss curve averages over); measurable: eval_count >= sweep.MIN_EVAL_COUNT
LM_LEARNING_SPEED = Schema("learning_speed.csv", (
    "decay_mode", "lambda", "seed", "token_id", "train_count", "pow3_bin", "eval_count", "measurable",
    "learning_speed"))
LM_TABLE1 = Schema("table1.csv", ("decay_mode", "split", "lambda") +
                   tuple(f"{m}_mean" for m in LM_METRIC_NAMES) + tuple(f"{m}_std" for m in LM_METRIC_NAMES) +
                   LM_GROUP_SIZES + ("n_seeds",))
LM_TOKEN_STATS = Schema("token_stats.csv", ("token_id", "count", "pow3_bin", "equal_mass_bin", "low_freq",
                                            "low_mass"))
# the sweep's run list in the order it trains them, and what became of each (sweep.run_sweep)
LM_PLAN = Schema("plan.csv", ("order", "regime", "decay_mode", "lambda", "seed", "run", "state", "wall_seconds"))
LM_TEXT_SAMPLE = Schema("text_sample.csv", ("position", "token_id", "piece", "count", "low_freq", "threshold"))
# `python -m lm_experiments stats` (the lm_stats folder)
LM_VOCAB_SHARE = Schema("vocab_share.csv", ("corpus", "vocab_size", "share_below_p99_count",
                                            "share_below_p95_mass"))

# --- theory (theory/verify.py): its owner adds the verify tables here -------------------------------------
