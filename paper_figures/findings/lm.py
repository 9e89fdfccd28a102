"""Findings of an LM sweep (results/lm, and each real-scale regime through real_scale.py): under the baseline
decay mode (theory.glossary.baseline_mode: the first the config lists), the change of each loss of summary.csv from
the smallest lambda to the largest, per split, paired by seed; the learning-speed correlation with count; and the
table of changes (every mode and lambda against lambda 0 and against the baseline at the same lambda).

Every summary.csv is checked against its config.json (evidence.lm_expected) before anything is computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from plumbing.errors import InputError
from theory.glossary import baseline_mode

from . import evidence
from .stats import SEED_RULE, NotApplicable, at, paired_by_seed, seed_finding, t_interval
from ..common import as_bool

LOSSES = ("average_loss", "balanced_loss", "low_freq_loss", "high_freq_loss")
LM_METRICS = (("low_freq_loss", "low-frequency loss"), ("balanced_loss", "class-balanced loss"))


def summary(results: Path, folder: str | Path) -> tuple[pd.DataFrame, dict, str]:
    """(checked summary.csv, its config, the path relative to results) of an LM sweep folder."""
    path = Path(results) / folder / "summary.csv"
    if not path.parent.is_dir():
        raise NotApplicable(f"no LM sweep ({str(path.parent)!r}; python -m lm_experiments sweep)")
    cfg = evidence.config(path.parent, ("lambdas", "seeds", "decay_modes"))
    df = evidence.table(path, ("decay_mode", "lambda", "seed", "split"), LOSSES, evidence.lm_expected(cfg))
    return df, cfg, str(path.relative_to(results))


def lm_findings(results: Path, folder: str = "lm", prefix: str | None = None) -> list[dict]:
    """Baseline decay from the smallest lambda to the largest, per split; ids start with `prefix` (default: the
    folder's name)."""
    prefix = prefix or folder
    df, cfg, rel = summary(results, folder)
    df = df[df["decay_mode"] == baseline_mode(cfg["decay_modes"])]
    lams = sorted(df["lambda"].unique())
    if len(lams) < 2:
        raise NotApplicable(f"result file {rel!r} holds one lambda; the LM findings compare two")
    lo, hi = lams[0], lams[-1]
    out = []
    for split in ("train", "heldout"):
        s = df[df["split"] == split]
        where = "training tokens the model was trained on" if split == "train" else "held-out text"
        a, b = at(s, **{"lambda": hi}), at(s, **{"lambda": lo})
        for col, name in LM_METRICS:
            out.append(seed_finding(
                f"{prefix}_{split}_{col}_rises", f"Weight decay raises the {name} (paper: on the training set).",
                f"change of the {name} on {where} from lambda {lo:g} to {hi:g}", [rel], paired_by_seed(a, b, col),
                split=split))
        out.append(seed_finding(
            f"{prefix}_{split}_low_rises_more_than_average", "The low-frequency loss rises more than the average "
            "loss, which barely moves.", f"change of (low-frequency - average) loss on {where} from lambda "
            f"{lo:g} to {hi:g}", [rel], paired_by_seed(a, b, lambda t: t["low_freq_loss"] - t["average_loss"]),
            split=split))
    return out


def learning_speed_finding(results: Path, folder: str = "lm") -> list[dict]:
    """Spearman correlation of learning speed with training count per seed at the smallest lambda (computed here:
    learning_speed.csv holds the per-token speeds, no result file holds the correlation)."""
    from scipy.stats import spearmanr

    path = results / folder / "learning_speed.csv"
    if not path.parent.is_dir():
        raise NotApplicable(f"no LM sweep ({str(path.parent)!r})")
    cfg = evidence.config(path.parent, ("lambdas", "seeds", "decay_modes"))
    df = evidence.table(path, ("decay_mode", "lambda", "seed", "token_id"), ("train_count", "learning_speed"),
                        columns=("measurable",))
    promised = {(m, lam, s) for m, lam, s, _ in evidence.lm_expected(cfg, splits=(None,))}
    got = set(zip(df["decay_mode"], df["lambda"].astype(float), df["seed"].astype(int)))
    if got != promised:
        odd = sorted(got ^ promised, key=str)[0]
        raise InputError(f"result file {str(path)!r}: the runs (decay_mode, lambda, seed) differ from config.json's, "
                         f"e.g. {odd} is {'missing' if odd in promised else 'not promised'}")
    tokens = {run: frozenset(g["token_id"]) for run, g in df.groupby(["decay_mode", "lambda", "seed"], sort=False)}
    first = next(iter(tokens.values()))
    short = [run for run, t in tokens.items() if t != first]
    if short:  # every run is measured on the same token ids
        raise InputError(f"result file {str(path)!r}: run {short[0]} holds {len(tokens[short[0]])} token ids, the "
                         f"first run {len(first)} (every run is measured on the same tokens; truncated?)")
    df = df[df["decay_mode"] == baseline_mode(cfg["decay_modes"])]  # lambda 0 is one run listed under every mode
    keep = as_bool(df, "measurable", path)
    lam0 = df["lambda"].min()
    df, keep = df[df["lambda"] == lam0], keep[df["lambda"] == lam0]
    rhos, neg_all, neg_kept = [], [], []
    for _, g in df.groupby("seed", sort=True):
        sub = g[keep.loc[g.index].to_numpy()]
        if len(sub) < 3:
            raise InputError(f"result file {str(path)!r}: seed {g['seed'].iloc[0]} has {len(sub)} measurable tokens; "
                             "a correlation needs 3")
        rhos.append(spearmanr(sub["train_count"], sub["learning_speed"]).statistic)
        neg_all.append(float((g["learning_speed"] < 0).mean()))
        neg_kept.append(float((sub["learning_speed"] < 0).mean()))
    return [seed_finding(
        f"{folder}_rare_tokens_learn_slower", "Rare tokens are learnt more slowly (learning speed rises with count).",
        f"Spearman correlation of learning speed with training count, per seed at lambda {lam0:g} (tokens "
        "measurable in the evaluation window)", [str(path.relative_to(results))], np.array(rhos),
        rule=SEED_RULE.replace("paired difference (same seed)", "per-seed correlation"),
        share_negative_speed=float(np.mean(neg_all)), share_negative_speed_measurable=float(np.mean(neg_kept)),
        measurable_tokens_per_seed=float(keep.sum() / len(rhos)), tokens_per_seed=float(len(df) / len(rhos)))]


def changes(results: Path, sources: list[tuple[str, Path]]) -> list[dict]:
    """The table of changes: for every LM sweep (name, folder), split and loss, the change from lambda 0 to each
    other lambda under the baseline mode, and for every other mode at its lambdas its change from lambda 0 and its
    difference from the baseline at the same lambda; mean over seeds with the 95% t-interval (paired by seed)."""
    rows = []
    for name, folder in sources:
        df, cfg, _ = summary(results, folder)
        modes = list(cfg["decay_modes"])
        base = baseline_mode(modes)
        for split, g in df.groupby("split", sort=True):
            zero = at(g, decay_mode=base, **{"lambda": 0.0})
            for mode in modes:
                for lam in sorted(x for x in g[g["decay_mode"] == mode]["lambda"].unique() if x > 0):
                    t = at(g, decay_mode=mode, **{"lambda": lam})
                    refs = [("lambda 0", zero)] + ([] if mode == base else
                                                   [(f"{base} at the same lambda", at(g, decay_mode=base, **{"lambda": lam}))])
                    for col in LOSSES:
                        for against, ref in refs:
                            d = paired_by_seed(t, ref, col)
                            m, lo, hi = t_interval(d)
                            rows.append({"source": name, "folder": str(folder), "split": split, "decay_mode": mode,
                                         "lambda": float(lam), "against": against, "metric": col, "change": m,
                                         "low": lo, "high": hi, "n_seeds": int(d.size)})
    return rows
