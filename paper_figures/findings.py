"""`python -m paper_figures findings`: every headline statement of the toolkit, computed from result files.

Each finding names the paper's claim it tests, the files it reads, the effect, its uncertainty and a verdict
by a stated rule that could go either way:

  seeds      paired by seed: d_s = metric(lambda_hi, s) - metric(lambda_lo, s); effect = mean_s d_s with the 95%
             t-interval mean +- t_{0.975, n-1} sd / sqrt(n) over the n >= 2 seeds. Verdict: "resolved" when the
             interval lies on the paper's side of 0, "contradicts the paper" when it lies on the other side,
             "not resolved" when it holds 0. One seed: "1 seed, no interval", and the verdict is "not resolved".
  exact      deterministic quantities (certified optima, data statistics): the interval is the range over
             the rows checked; "resolved" when the paper's inequality holds in every row, "contradicts the
             paper" when it fails in every row, "not resolved" when it is mixed.

findings.json = {"findings": [...], "not_computed": {id: reason}}; findings.md renders it as a table with the
rules. `readme_block` renders the README's "What the toolkit found" list from a findings.json, so the README
quotes only numbers this file holds (tests/test_findings.py checks the committed copy, docs/findings.json).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from plumbing.atomic import atomic_write_json, atomic_write_text, jsonable
from plumbing.errors import InputError

from .common import as_bool, read_csv, read_json

VERDICTS = ("resolved", "not resolved", "contradicts the paper")
SEED_RULE = ("95% t-interval over seeds of the paired difference (same seed); resolved if it lies on the paper's "
             "side of 0, contradicts if on the other side, not resolved if it holds 0 or there is one seed")
EXACT_RULE = ("deterministic: resolved if the paper's inequality holds in every row checked, contradicts if it "
              "fails in every row, not resolved if mixed")
CONVERGED_RULE = ("one seed of a run converged to the certified L2 optimum (every per-class loss within tol of it, "
                  "which is unique): the difference of differences is within 4 tol of the optimum's; resolved if "
                  "that band lies on the paper's side of 0, contradicts if on the other, else not resolved")
THEORY_VERDICTS = {"holds": "resolved", "fails": "contradicts the paper"}
THEORY_RULE = ("the theory check's verdict (theory/report.json): holds -> resolved, fails -> contradicts the "
               "paper, anything else (holds under stated conditions, not checkable as stated) -> not resolved")
PAPER_TABLE1_RATIO = (0.163 - 0.066) / (0.068 - 0.051)  # the paper's Table 1: balanced vs average change, ~5.7


def t_interval(d: np.ndarray, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the mean of `d` with its t-interval; low = high = None for fewer than 2 values; NaN,
    None, None when no value is finite (not computable); InputError when only some are."""
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    finite = np.isfinite(d)
    if finite.any() and not finite.all():  # dropping them would change n and the interval without a word
        raise InputError(f"{int((~finite).sum())} of {d.size} paired values are NaN or infinite: a damaged result "
                         "file? (an interval over the others would silently drop those seeds)")
    d = d[finite]
    if d.size == 0:
        return math.nan, None, None
    m = float(d.mean())
    if d.size < 2:
        return m, None, None
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return m, m - half, m + half


def seed_verdict(low: float | None, high: float | None, sign: int = 1) -> str:
    """The seed rule: `sign` = +1 when the paper predicts a positive effect, -1 a negative one."""
    if low is None or high is None:
        return "not resolved"
    lo, hi = sorted((sign * low, sign * high))
    return "resolved" if lo > 0 else "contradicts the paper" if hi < 0 else "not resolved"


def exact_verdict(holds: np.ndarray) -> str:
    holds = np.asarray(holds, dtype=bool)
    return "resolved" if holds.all() else "contradicts the paper" if not holds.any() else "not resolved"


def _finding(id: str, claim: str, measure: str, files: list, effect: float, low, high, n: int, unit: str,
             rule: str, verdict: str, **extra) -> dict:
    assert verdict in VERDICTS, verdict
    out = {"id": id, "claim": claim, "measure": measure, "files": files, "effect": effect, "low": low,
           "high": high, "n": n, "interval": unit, "rule": rule, "verdict": verdict}
    out.update(extra)
    return out


def _seed_finding(id, claim, measure, files, d: np.ndarray, sign: int = 1, **extra) -> dict:
    m, lo, hi = t_interval(d)
    n = int(np.isfinite(np.asarray(d, float)).sum())
    unit = "95% t-interval over seeds" if n >= 2 else "1 seed, no interval"
    return _finding(id, claim, measure, files, m, lo, hi, n, unit, SEED_RULE, seed_verdict(lo, hi, sign), **extra)


def _converged_finding(id, claim, measure, files, effect: float, tol: float, **extra) -> dict:
    """One seed whose runs all ended within tol of the unique certified optimum: the effect (a difference of
    differences of such losses) is within 4 tol of the optimum's, the band CONVERGED_RULE judges."""
    bound = 4 * float(tol)
    return _finding(id, claim, measure, files, effect, effect - bound, effect + bound, 1,
                    "1 seed; bound from convergence to the certified optimum (4 x tol)", CONVERGED_RULE,
                    seed_verdict(effect - bound, effect + bound), **extra)


# --- theory ------------------------------------------------------------------------------------------------

def theory_findings(results: Path) -> list[dict]:
    sweep_path = results / "theory" / "lambda_sweep.csv"
    df = read_csv(sweep_path, columns=("model", "instance", "c", "average_loss", "balanced_loss"),
                  numeric=("c", "average_loss", "balanced_loss"))
    rows = []
    for (_, _), g in df.sort_values("c").groupby(["model", "instance"], sort=True):
        base = g.iloc[0]
        for _, r in g.iloc[1:].iterrows():
            rows.append((r["balanced_loss"] - base["balanced_loss"]) / (r["average_loss"] - base["average_loss"]))
    ratio = np.array(rows)
    out = [_finding(
        "theory_balanced_moves_more", "As weight decay grows, the class-balanced loss rises more than the average "
        "loss (paper's Table 1: ratio of changes ~5.7).",
        "ratio (change of balanced loss) / (change of average loss) from the smallest c = lambda N to each larger "
        "c, at the exact (ReLU) or certified (unconstrained) minimiser, both models, both instances",
        [str(sweep_path.relative_to(results))], float(np.median(ratio)), float(ratio.min()), float(ratio.max()),
        int(ratio.size), "range over the rows (exact)", EXACT_RULE + "; inequality: ratio > 1",
        exact_verdict(ratio > 1), paper_ratio=PAPER_TABLE1_RATIO,
        paper_ratio_inside=bool(ratio.min() <= PAPER_TABLE1_RATIO <= ratio.max()))]
    report = read_json(results / "theory" / "report.json")
    for c in report.get("claims", []):
        out.append({"id": f"theory_{c['id']}", "claim": c.get("claim", ""), "measure": c.get("check", ""),
                    "files": ["theory/report.json"], "theory_verdict": c["verdict"],
                    "rule": THEORY_RULE + (f"; the check's own rule: {c['rule']}" if c.get("rule") else ""),
                    "verdict": THEORY_VERDICTS.get(c["verdict"], "not resolved")})
    return out


# --- simulations -------------------------------------------------------------------------------------------

def _low_high(df: pd.DataFrame) -> tuple[str, str, str]:
    """The low/high columns of a table: the cumulative-mass split when present (populated at every V), else P99."""
    if {"low_mass_loss", "high_mass_loss"} <= set(df.columns):
        return "low_mass_loss", "high_mass_loss", "split by cumulative mass (head holding half the samples)"
    return "low_freq_loss", "high_freq_loss", "split at the P99 class count"


def paired_by_seed(a: pd.DataFrame, b: pd.DataFrame, col: str) -> np.ndarray:
    """a[col] - b[col] over the seeds both hold (a and b indexed by seed)."""
    seeds = a.index.intersection(b.index)
    return (a.loc[seeds, col] - b.loc[seeds, col]).to_numpy(float)


def _paired(df: pd.DataFrame, value: Callable[[pd.DataFrame], pd.Series], lo: float, hi: float) -> np.ndarray:
    """value(rows at lambda hi) - value(rows at lambda lo), matched by seed."""
    a = df[df["lambda"] == lo].set_index("seed")
    b = df[df["lambda"] == hi].set_index("seed")
    seeds = a.index.intersection(b.index)
    return (value(b.loc[seeds]) - value(a.loc[seeds])).to_numpy(float)


def simulation_findings(results: Path) -> list[dict]:
    path = results / "simulations" / "summary.csv"
    df = read_csv(path, columns=("model", "optimizer", "lambda", "seed", "average_loss", "balanced_loss"),
                  numeric=("lambda", "average_loss", "balanced_loss"))
    low, high, split = _low_high(df)
    out = []
    for (model, opt), g in df.groupby(["model", "optimizer"], sort=True):
        lams = sorted(x for x in g["lambda"].unique() if x > 0)
        if len(lams) < 2:
            continue
        lo, hi = lams[0], lams[-1]
        d = _paired(g, lambda t: t[low] - t[high], lo, hi)
        claim = "Weight decay raises the low-frequency loss more than the high-frequency loss."
        measure = f"{model} trained with {opt}: change of (low - high) loss from lambda {lo:g} to {hi:g}; {split}"
        ends = g[g["lambda"].isin([lo, hi])]
        certified = ("converged" in g.columns and len(d) == 1 and
                     (ends["convergence_criterion"] == "max_abs_diff_to_theory").all() and
                     as_bool(ends, "converged", path).all())
        if certified:  # one seed, but both runs within tol of the unique certified optimum: a bounded error
            out.append(_converged_finding(f"sim_{model}_{opt}_low_rises_more", claim, measure,
                                          [str(path.relative_to(results))], float(d[0]),
                                          ends["convergence_tol"].max(), model=model, optimizer=opt))
        else:
            out.append(_seed_finding(f"sim_{model}_{opt}_low_rises_more", claim, measure,
                                     [str(path.relative_to(results))], d, model=model, optimizer=opt))
    return out


# --- LM ----------------------------------------------------------------------------------------------------

LM_METRICS = (("low_freq_loss", "low-frequency loss", 1), ("balanced_loss", "class-balanced loss", 1),
              ("average_loss", "average loss", 0), ("high_freq_loss", "high-frequency loss", 0))


def lm_findings(results: Path, folder: str = "lm", prefix: str | None = None) -> list[dict]:
    """Uniform decay (the sweep's first decay mode) from the smallest lambda to the largest, per split; ids start
    with `prefix` (default: the folder's name)."""
    prefix = prefix or folder
    path = results / folder / "summary.csv"
    df = read_csv(path, columns=("lambda", "seed", "split", "average_loss", "balanced_loss", "low_freq_loss",
                                 "high_freq_loss"), numeric=("lambda", "average_loss", "balanced_loss",
                                                             "low_freq_loss", "high_freq_loss"))
    if "decay_mode" in df.columns:
        df = df[df["decay_mode"] == df["decay_mode"].iloc[0]]
    lams = sorted(df["lambda"].unique())
    if len(lams) < 2:
        raise InputError(f"result file {str(path)!r} holds one lambda; the LM findings compare two")
    lo, hi = lams[0], lams[-1]
    rel = str(path.relative_to(results))
    out = []
    for split in ("train", "heldout"):
        s = df[df["split"] == split]
        where = "training tokens the model was trained on" if split == "train" else "held-out text"
        for col, name, sign in LM_METRICS:
            if not sign:
                continue
            out.append(_seed_finding(
                f"{prefix}_{split}_{col}_rises", f"Weight decay raises the {name} (paper: on the training set).",
                f"change of the {name} on {where} from lambda {lo:g} to {hi:g}", [rel],
                _paired(s, lambda t, c=col: t[c], lo, hi), split=split))
        out.append(_seed_finding(
            f"{prefix}_{split}_low_rises_more_than_average", "The low-frequency loss rises more than the average "
            "loss, which barely moves.", f"change of (low-frequency - average) loss on {where} from lambda "
            f"{lo:g} to {hi:g}", [rel], _paired(s, lambda t: t["low_freq_loss"] - t["average_loss"], lo, hi),
            split=split))
    return out


MITIGATION_VERDICTS = ("removes the penalty and keeps the held-out benefit", "removes the penalty",
                       "keeps the held-out benefit", "neither", "no penalty to remove; keeps the held-out benefit",
                       "no penalty to remove")
MITIGATION_RULE = ("a decay mode m against uniform decay (the sweep's first mode) at the largest lambda, paired by "
                   "seed, 95% t-intervals: m REMOVES THE PENALTY if the upper end of the interval of the training "
                   "low-frequency penalty under m, low_m(lambda) - low(0), is below half the mean penalty under "
                   "uniform decay, low_u(lambda) - low(0) -- unless that uniform penalty's interval does not lie "
                   "above 0, when there is NO PENALTY TO REMOVE; m KEEPS THE HELD-OUT EFFECT if the interval of "
                   "heldout average_m(lambda) - heldout average_u(lambda) lies at or below +0.01 nats or holds 0 "
                   "(no worse than uniform decay on held-out text, within 0.01 nats)")


def mitigation_findings(results: Path, folder: str = "lm", prefix: str | None = None) -> list[dict]:
    """One finding per decay mode other than the sweep's first (uniform decay of all but norms and biases)."""
    prefix = prefix or folder
    path = results / folder / "summary.csv"
    df = read_csv(path, columns=("lambda", "seed", "split", "decay_mode", "average_loss", "balanced_loss",
                                 "low_freq_loss", "high_freq_loss"),
                  numeric=("lambda", "average_loss", "balanced_loss", "low_freq_loss", "high_freq_loss"))
    modes = list(dict.fromkeys(df["decay_mode"]))
    if len(modes) < 2:
        raise InputError(f"result file {str(path)!r} holds one decay mode; the mitigation findings compare several")
    base, lam0, hi = modes[0], df["lambda"].min(), df["lambda"].max()
    rel = str(path.relative_to(results))

    def rows(mode, lam, split):
        t = df[(df["decay_mode"] == mode) & (df["lambda"] == lam) & (df["split"] == split)]
        return t.set_index("seed")

    out = []
    for mode in modes[1:]:
        zero_tr, base_tr, m_tr = rows(base, lam0, "train"), rows(base, hi, "train"), rows(mode, hi, "train")
        base_pen, base_pen_lo, _ = t_interval(paired_by_seed(base_tr, zero_tr, "low_freq_loss"))
        m_pen, _, m_pen_hi = t_interval(paired_by_seed(m_tr, zero_tr, "low_freq_loss"))
        held, held_lo, held_hi = t_interval(paired_by_seed(rows(mode, hi, "heldout"), rows(base, hi, "heldout"), "average_loss"))
        penalty = base_pen_lo is not None and base_pen_lo > 0
        removes = penalty and m_pen_hi is not None and m_pen_hi < 0.5 * base_pen
        keeps = held_hi is not None and (held_hi <= HELDOUT_MARGIN or held_lo <= 0 <= held_hi)
        if not penalty:
            verdict = MITIGATION_VERDICTS[4 if keeps else 5]
        else:
            verdict = MITIGATION_VERDICTS[0 if removes and keeps else 1 if removes else 2 if keeps else 3]
        changes = {}
        for split in ("train", "heldout"):
            for col in ("low_freq_loss", "balanced_loss", "high_freq_loss", "average_loss"):
                m, lo, hi_ = t_interval(paired_by_seed(rows(mode, hi, split), rows(base, hi, split), col))
                changes[f"{split}_{col}"] = {"effect": m, "low": lo, "high": hi_}
        d = paired_by_seed(m_tr, base_tr, "low_freq_loss")
        f = _seed_finding(
            f"{prefix}_mitigation_{mode}", f"Decay mode {mode} removes the rare-token penalty of weight decay and "
            "keeps its held-out benefit (ours; the paper proposes no mitigation).",
            f"change of the training low-frequency loss, {mode} minus uniform decay ({base}), at lambda {hi:g}",
            [rel], d, sign=-1, mode=mode, lambda_compared=hi, uniform_penalty=base_pen,
            uniform_penalty_low=base_pen_lo, mitigated_penalty=m_pen,
            mitigated_penalty_high=m_pen_hi, heldout_average_change=held, heldout_average_low=held_lo,
            heldout_average_high=held_hi, changes_vs_uniform=changes)
        f["verdict"], f["rule"] = verdict, MITIGATION_RULE
        out.append(f)
    return out


SIM_MITIGATION_VERDICTS = ("lifts the penalty and keeps the held-out effect", "lifts the penalty",
                           "keeps the held-out effect", "neither", "lifts the penalty; held-out effect not computable",
                           "does not lift the penalty; held-out effect not computable")
HELDOUT_MARGIN = 0.01  # nats: a held-out average loss this much above uniform decay's still keeps its effect
SIM_MITIGATION_RULE = ("a scheme s against uniform decay at the same lambda, paired by seed, 95% t-intervals: (a) s "
                       "LIFTS THE PENALTY if the upper end of the interval of its low-frequency penalty, low_s - "
                       "low_none (lambda 0), is below half the mean penalty of uniform decay, low_uniform - low_none; "
                       "(b) s KEEPS THE HELD-OUT EFFECT if the interval of heldout_average_s - heldout_average_uniform "
                       f"lies at or below +{HELDOUT_MARGIN:g} nats (upper end <= {HELDOUT_MARGIN:g}) or holds 0. "
                       "Held-out data: fresh samples of the same classes (same prototypes and counts, new noise) for "
                       "the MLP; (b) is NOT COMPUTABLE in the UFM, which has no inputs (a fresh sample of class k has "
                       "the feature h_k itself, so its held-out loss is the training loss and says nothing about "
                       "generalisation)")


def sim_mitigation_verdict(pen_hi: float | None, uniform_penalty: float, held_lo: float | None,
                           held_hi: float | None) -> str:
    """SIM_MITIGATION_RULE as a pure function of the intervals (None: no interval; NaN held-out: not computable)."""
    lifts = pen_hi is not None and math.isfinite(uniform_penalty) and pen_hi < 0.5 * uniform_penalty
    if held_hi is None or held_lo is None or not (math.isfinite(held_lo) and math.isfinite(held_hi)):
        return SIM_MITIGATION_VERDICTS[4 if lifts else 5]
    keeps = held_hi <= HELDOUT_MARGIN or held_lo <= 0 <= held_hi
    return SIM_MITIGATION_VERDICTS[0 if lifts and keeps else 1 if lifts else 2 if keeps else 3]


SIM_SCHEME_NOTES = {
    "rows-by-count": " Reference scheme, unbounded: the most frequent output row is decayed n_max / mean(n) times "
                     "harder than under uniform decay (the LM's freq-embed-out); kept as the negative/reference result "
                     "that the bounded schemes replace.",
    "rows-capped": " Bounded by uniform decay: output row k decayed by lambda min(1, n_k / mean(n)).",
    "rows-occurrence": " Bounded by uniform decay: output row k decayed by lambda (1 - (1 - n_k/N)^V), the mean "
                       "strength of decaying a row only at steps whose V i.i.d. tokens include its class.",
}


def sim_mitigation_findings(results: Path) -> list[dict]:
    """One finding per (model, optimizer, scheme) of simulations/mitigation.py other than none / uniform."""
    path = results / "sim_mitigation" / "mitigation.csv"
    df = read_csv(path, columns=("model", "optimizer", "scheme", "seed", "average_loss", "balanced_loss",
                                 "heldout_average_loss"),
                  numeric=("average_loss", "balanced_loss", "heldout_average_loss"))
    low, high, split = _low_high(df)
    rel = str(path.relative_to(results))
    out = []
    for (model, opt), g in df.groupby(["model", "optimizer"], sort=False):
        by = {sc: t.set_index("seed") for sc, t in g.groupby("scheme")}
        if not {"none", "uniform"} <= set(by):
            continue
        uni_pen, _, _ = t_interval(paired_by_seed(by["uniform"], by["none"], low))
        for scheme in (s for s in by if s not in ("none", "uniform")):
            pen, _, pen_hi = t_interval(paired_by_seed(by[scheme], by["none"], low))
            held, held_lo, held_hi = t_interval(paired_by_seed(by[scheme], by["uniform"], "heldout_average_loss"))
            uni_held, uni_held_lo, _ = t_interval(paired_by_seed(by["uniform"], by["none"], "heldout_average_loss"))
            note = ""
            if uni_held_lo is not None and uni_held_lo > 0:  # decay itself hurts held-out data: nothing to keep
                note = (f" Uniform decay itself raises the held-out average loss over lambda 0 by {uni_held:+.3f} "
                        "(interval above 0): there is no held-out benefit to keep, so (b) says only that the scheme "
                        "is no worse than uniform decay on held-out data.")
            d = paired_by_seed(by[scheme], by["uniform"], low)
            avg_rise = {sc: float(paired_by_seed(by[sc], by["none"], "average_loss").mean())
                        for sc in ("uniform", scheme)}
            f = _seed_finding(
                f"sim_mitigation_{model}_{opt}_{scheme}", f"Decay scheme {scheme} lifts the rare-class penalty of "
                "weight decay and keeps its held-out effect (ours; the paper proposes no mitigation)."
                + SIM_SCHEME_NOTES.get(scheme, ""),
                f"{model} trained with {opt}: change of the low-frequency loss, {scheme} minus uniform decay at the "
                f"same lambda; {split}.{note}", [rel], d, sign=-1, model=model, optimizer=opt, scheme=scheme,
                uniform_penalty=uni_pen, scheme_penalty=pen, scheme_penalty_high=pen_hi,
                heldout_average_change=held, heldout_average_low=held_lo, heldout_average_high=held_hi,
                heldout_uniform_vs_none=uni_held,
                average_loss_rise_uniform=avg_rise["uniform"], average_loss_rise_scheme=avg_rise[scheme],
                balanced_change=float(paired_by_seed(by[scheme], by["uniform"], "balanced_loss").mean()),
                high_change=float(paired_by_seed(by[scheme], by["uniform"], high).mean()))
            f["verdict"], f["rule"] = sim_mitigation_verdict(pen_hi, uni_pen, held_lo, held_hi), SIM_MITIGATION_RULE
            out.append(f)
    return out


def sim_vocab_findings(results: Path) -> list[dict]:
    """The UFM trained along the lambda path at vocabulary scale (`simulations scale`, results/sim_vocab): change of
    (low - high) loss from the smallest lambda to the largest whose certified optimum is not Z = 0 (rank > 0; at
    Z = 0 every class has loss log V and no split can differ), under both splits, each with its class counts.
    Both ends must be within tol of their certified optimum (path.csv `reached`), so the one-seed effect carries
    the bound of CONVERGED_RULE."""
    from theory.ufm import metrics

    folder = results / "sim_vocab"
    pc = read_csv(folder / "per_class.csv.gz", columns=("lambda", "class", "count", "loss", "theory_loss"),
                  numeric=("lambda", "count", "loss", "theory_loss"))
    runs = read_csv(folder / "path.csv", columns=("lambda", "reached", "max_abs_diff", "V"), numeric=("lambda",))
    optima = read_csv(folder / "optima.csv", columns=("lambda", "rank"), numeric=("lambda", "rank"))
    config = read_json(folder / "config.json")["config"]
    reached = set(runs.loc[as_bool(runs, "reached", folder / "path.csv"), "lambda"])
    live = [lam for lam in sorted(reached) if float(optima.loc[optima["lambda"] == lam, "rank"].iloc[0]) > 0]
    if len(live) < 2:
        raise InputError(f"{folder / 'path.csv'}: fewer than 2 lambdas reached their optimum with rank > 0")
    lo, hi = live[0], live[-1]
    by = {lam: g.sort_values("class") for lam, g in pc.groupby("lambda")}
    counts = by[lo]["count"].to_numpy(float)
    files = [str((folder / f).relative_to(results)) for f in ("per_class.csv.gz", "path.csv", "optima.csv")]
    out = []
    for split, low in (("P99", metrics.low_frequency_mask(counts, 99.0)), ("mass", metrics.mass_tail_mask(counts, 0.5))):
        def gap(lam, col):
            loss = by[lam][col].to_numpy(float)
            return metrics.group_loss(loss, counts, low) - metrics.group_loss(loss, counts, ~low)

        out.append(_converged_finding(
            f"sim_vocab_ufm-unconstrained_lbfgs-path_low_rises_more_{split}",
            "Weight decay raises the low-frequency loss more than the high-frequency loss.",
            f"ufm-unconstrained trained along the lambda path with L-BFGS at V = {counts.size} ({config['counts']} "
            f"counts; {int(low.sum())} low- and {int((~low).sum())} high-frequency classes, {split} split): change of "
            f"(low - high) loss from lambda {lo:g} to {hi:g}, the largest lambda whose optimum is not Z = 0",
            files, gap(hi, "loss") - gap(lo, "loss"), config["tol"], model="ufm-unconstrained",
            optimizer="lbfgs-path", V=int(counts.size), n_low=int(low.sum()), n_high=int((~low).sum()), lambda_lo=lo,
            lambda_hi=hi, theory_effect=gap(hi, "theory_loss") - gap(lo, "theory_loss")))
    return out


def learning_speed_finding(results: Path, folder: str = "lm") -> list[dict]:
    from scipy.stats import spearmanr

    path = results / folder / "learning_speed.csv"
    df = read_csv(path, columns=("lambda", "seed", "token_id", "train_count", "learning_speed"),
                  numeric=("lambda", "train_count", "learning_speed"))
    if "decay_mode" in df.columns:  # lambda 0 is one run listed under every decay mode: take the first mode's rows
        df = df[df["decay_mode"] == df["decay_mode"].iloc[0]]
    keep = as_bool(df, "measurable", path) if "measurable" in df.columns else \
        pd.Series(True, index=df.index)
    lam0 = df["lambda"].min()
    df, keep = df[df["lambda"] == lam0], keep[df["lambda"] == lam0]
    rhos, neg_all, neg_kept = [], [], []
    for _, g in df.groupby("seed", sort=True):
        k = keep.loc[g.index]
        sub = g[k.to_numpy()]
        rhos.append(spearmanr(sub["train_count"], sub["learning_speed"]).statistic if len(sub) > 2 else np.nan)
        neg_all.append(float((g["learning_speed"] < 0).mean()))
        neg_kept.append(float((sub["learning_speed"] < 0).mean()) if len(sub) else np.nan)
    f = _seed_finding(
        f"{folder}_rare_tokens_learn_slower", "Rare tokens are learnt more slowly (learning speed rises with count).",
        f"Spearman correlation of learning speed with training count, per seed at lambda {lam0:g} (tokens "
        "measurable in the evaluation window)", [str(path.relative_to(results))], np.array(rhos),
        share_negative_speed=float(np.mean(neg_all)), share_negative_speed_measurable=float(np.nanmean(neg_kept)),
        measurable_tokens_per_seed=float(keep.sum() / max(1, len(rhos))),
        tokens_per_seed=float(len(df) / max(1, len(rhos))))
    f["rule"] = SEED_RULE.replace("paired difference (same seed)", "per-seed correlation")
    return [f]


# --- data statistics ---------------------------------------------------------------------------------------

def vocabulary_findings(results: Path) -> list[dict]:
    out = []
    lang = results / "languages" / "languages.csv"
    if lang.is_file():
        df = read_csv(lang, columns=("language", "share_below_p95_mass"), numeric=("share_below_p95_mass",))
        s = df["share_below_p95_mass"].to_numpy(float)
        out.append(_finding(
            "languages_rare_words_are_most_of_the_vocabulary", "Rare tokens are most of any vocabulary.",
            "share of each wordfreq word list outside the most frequent words holding 95% of the mass",
            [str(lang.relative_to(results))], float(np.median(s)), float(s.min()), float(s.max()), int(s.size),
            "range over languages (exact)", EXACT_RULE + "; inequality: share > 0.5",
            exact_verdict(s > 0.5), languages_above_half=int((s > 0.5).sum())))
    share = results / "lm_stats" / "vocab_share.csv"
    if share.is_file():
        df = read_csv(share, columns=("vocab_size", "share_below_p95_mass"), numeric=("vocab_size",
                                                                                      "share_below_p95_mass"))
        s = df["share_below_p95_mass"].to_numpy(float)
        out.append(_finding(
            "bpe_rare_tokens_are_most_of_the_vocabulary", "Rare tokens are most of any vocabulary.",
            "share of a byte-level BPE vocabulary (sizes " + ", ".join(f"{int(v)}" for v in df["vocab_size"]) +
            ") outside the tokens holding 95% of the corpus", [str(share.relative_to(results))],
            float(np.median(s)), float(s.min()), float(s.max()), int(s.size), "range over vocabulary sizes (exact)",
            EXACT_RULE + "; inequality: share > 0.5", exact_verdict(s > 0.5)))
    return out


# --- real scale and the table of changes ---------------------------------------------------------------------

CHANGE_METRICS = ("average_loss", "balanced_loss", "low_freq_loss", "high_freq_loss")


def real_scale_folders(results: Path) -> list[tuple[str, Path]]:
    """(prefix, folder relative to results) of every committed real-scale regime: real_scale/<sweep>/<regime>/
    (or real_scale/<sweep>/ for a sweep without regimes) holding an LM summary.csv."""
    out = []
    for sweep in sorted(p for p in (results / "real_scale").glob("*") if p.is_dir()):
        regimes = [sweep] if (sweep / "summary.csv").is_file() else sorted(p.parent for p in sweep.glob("*/summary.csv"))
        out += [("rs_" + "_".join(r.relative_to(results / "real_scale").parts), r.relative_to(results))
                for r in regimes]
    return out


def real_scale_findings(results: Path) -> list[dict]:
    """Per committed real-scale regime: the LM findings, the mitigation findings (when it has several decay modes)
    and the paper's Table-1 contrast, the balanced loss rising more than the average loss (paired by seed), with
    the ratio of the two mean changes next to the paper's ~5.7."""
    folders = real_scale_folders(results)
    if not folders:
        raise InputError(f"no real-scale LM sweep under {str(results / 'real_scale')!r} (lm_experiments pack)")
    out = []
    for prefix, folder in folders:
        found = lm_findings(results, str(folder), prefix)
        df = read_csv(results / folder / "summary.csv", columns=("lambda", "seed", "split", "decay_mode",
                                                                  "average_loss", "balanced_loss"),
                      numeric=("lambda", "average_loss", "balanced_loss"))
        if df["decay_mode"].nunique() > 1:
            found += mitigation_findings(results, str(folder), prefix)
        base = df[(df["decay_mode"] == df["decay_mode"].iloc[0]) & (df["split"] == "train")]
        lo, hi = base["lambda"].min(), base["lambda"].max()
        bal, avg = (_paired(base, lambda t, c=c: t[c], lo, hi) for c in ("balanced_loss", "average_loss"))
        ratio = float(np.mean(bal) / np.mean(avg)) if np.mean(avg) != 0 else math.nan
        found.append(_seed_finding(
            f"{prefix}_train_balanced_rises_more_than_average", "Weight decay raises the class-balanced training "
            "loss much more than the average training loss (the paper's Table 1: ~5.7 times as much).",
            f"change of (balanced - average) training loss from lambda {lo:g} to {hi:g}",
            [str(folder / "summary.csv")], bal - avg, ratio_of_mean_changes=ratio,
            paper_ratio=PAPER_TABLE1_RATIO))
        out += [{**f, "source": prefix} for f in found]  # which regime: the README line names it
    return out


def changes(results: Path) -> list[dict]:
    """The table of changes: for every LM sweep (results/lm and each real-scale regime), split and metric, the
    change from lambda 0 to each other lambda under uniform decay (the first decay mode), and for every other
    decay mode at its lambdas, its change from lambda 0 and its difference from uniform decay at the same
    lambda; mean over seeds with the 95% t-interval (paired by seed)."""
    sources = [("lm", Path("lm"))] if (results / "lm" / "summary.csv").is_file() else []
    rows = []
    for name, folder in sources + real_scale_folders(results):
        df = read_csv(results / folder / "summary.csv", columns=("lambda", "seed", "split", "decay_mode",
                                                                  *CHANGE_METRICS), numeric=("lambda", *CHANGE_METRICS))
        modes = list(dict.fromkeys(df["decay_mode"]))
        for split, g in df.groupby("split", sort=True):
            zero = g[(g["decay_mode"] == modes[0]) & (g["lambda"] == 0)].set_index("seed")
            for mode in modes:
                for lam in sorted(x for x in g[g["decay_mode"] == mode]["lambda"].unique() if x > 0):
                    t = g[(g["decay_mode"] == mode) & (g["lambda"] == lam)].set_index("seed")
                    uni = g[(g["decay_mode"] == modes[0]) & (g["lambda"] == lam)].set_index("seed")
                    for col in CHANGE_METRICS:
                        for against, ref in (("lambda 0", zero), (f"{modes[0]} at the same lambda", uni)):
                            if mode == modes[0] and ref is uni:
                                continue
                            d = paired_by_seed(t, ref, col)
                            m, lo, hi = t_interval(d)
                            rows.append({"source": name, "folder": str(folder), "split": split, "decay_mode": mode,
                                         "lambda": float(lam), "against": against, "metric": col, "change": m,
                                         "low": lo, "high": hi, "n_seeds": int(np.isfinite(d).sum())})
    if not rows:
        raise InputError(f"no LM summary under {str(results)!r} (lm/ or real_scale/)")
    return rows


SOURCES = {"theory": theory_findings, "simulations": simulation_findings, "lm": lm_findings,
           "mitigation": mitigation_findings, "sim_mitigation": sim_mitigation_findings,
           "sim_vocab": sim_vocab_findings, "learning_speed": learning_speed_finding,
           "vocabulary": vocabulary_findings, "real_scale": real_scale_findings}


def compute(results: Path) -> dict:
    """Every finding the result files allow; a source whose files are missing is listed in not_computed."""
    results = Path(results)
    if not results.is_dir():
        raise InputError(f"--results must be a folder of result files, got {str(results)!r}")
    found, missing = [], {}
    for name, fn in SOURCES.items():
        try:
            found += fn(results)
        except InputError as exc:
            missing[name] = " ".join(str(exc).split())
    try:
        table = changes(results)
    except InputError as exc:
        table, missing["changes"] = [], " ".join(str(exc).split())
    return {"findings": found, "changes": table, "not_computed": missing}


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if abs(x) >= 10 ** -digits or x == 0 else f"{x:+.2e}"


def effect_text(f: dict) -> str:
    """'+0.110 [+0.020, +0.200] (95% t-interval over seeds, n = 3)' or the single value with its note."""
    if "effect" not in f:
        return f"theory check: {f['theory_verdict']}"
    rng = "" if f["low"] is None else f" [{_num(f['low'])}, {_num(f['high'])}]"
    return f"{_num(f['effect'])}{rng} ({f['interval']}, n = {f['n']})"


def markdown(data: dict) -> str:
    lines = ["# Findings", "", "Every number below is computed from the result files named in its row by "
             "`python -m paper_figures findings`.", "", "| id | claim tested | measure | effect | verdict |",
             "|---|---|---|---|---|"]
    cell = lambda s: " ".join(str(s).split()).replace("|", "\\|")  # noqa: E731
    for f in data["findings"]:
        verdict = f["verdict"]
        lines.append(f"| {cell(f['id'])} | {cell(f['claim'])} | {cell(f.get('measure', ''))} | "
                     f"{cell(effect_text(f))} | **{cell(verdict)}** |")
    lines += ["", "## Rules", "", f"- seeds: {SEED_RULE}.", f"- exact: {EXACT_RULE}.", f"- theory: {THEORY_RULE}.",
              f"- converged, one seed: {CONVERGED_RULE}.", f"- mitigation: {MITIGATION_RULE}.",
              f"- mitigation in the simulations: {SIM_MITIGATION_RULE}.", ""]
    if data.get("changes"):
        lines += ["## Changes under weight decay", "", "Mean change over seeds with its 95% t-interval (paired by "
                  "seed; one seed: no interval), from `changes.csv`.", ""]
        lines += changes_markdown(data["changes"]) + changes_markdown(data["changes"], against="uniform") + [""]
    if data["not_computed"]:
        lines += ["## Not computed", ""] + [f"- {k}: {v}" for k, v in data["not_computed"].items()] + [""]
    return "\n".join(lines)


def _interval_text(r: dict) -> str:
    rng = "" if r["low"] is None else f" [{_num(r['low'])}, {_num(r['high'])}]"
    return f"{_num(r['change'])}{rng}"


def changes_markdown(rows: list[dict], against: str = "lambda 0") -> list[str]:
    """One markdown table per source: rows (split, decay mode, lambda), columns the CHANGE_METRICS, changes
    measured against `against` ("lambda 0", or "<first mode> at the same lambda" via every other value)."""
    lines = []
    for source in dict.fromkeys(r["source"] for r in rows):
        sel = [r for r in rows if r["source"] == source]
        for kind in dict.fromkeys(r["against"] for r in sel):
            if (kind == "lambda 0") != (against == "lambda 0"):
                continue
            part = [r for r in sel if r["against"] == kind]
            lines += [f"**{source}** ({part[0]['folder']}), change against {kind}, n = seeds:", "",
                      "| split | decay mode | lambda | " + " | ".join(CHANGE_METRICS) + " | n |",
                      "|---|---|---|" + "---|" * len(CHANGE_METRICS) + "---|"]
            keys = list(dict.fromkeys((r["split"], r["decay_mode"], r["lambda"]) for r in part))
            for split, mode, lam in keys:
                cells = {r["metric"]: r for r in part if (r["split"], r["decay_mode"], r["lambda"]) == (split, mode, lam)}
                lines.append(f"| {split} | {mode} | {lam:g} | "
                             + " | ".join(_interval_text(cells[m]) for m in CHANGE_METRICS)
                             + f" | {cells[CHANGE_METRICS[0]]['n_seeds']} |")
            lines.append("")
    return lines


README_IDS = ("theory_balanced_moves_more", "lm_train_low_freq_loss_rises", "lm_train_balanced_loss_rises",
              "lm_train_low_rises_more_than_average", "lm_heldout_low_freq_loss_rises", "lm_rare_tokens_learn_slower",
              "lm_mitigation_no-embed-out", "lm_mitigation_capped-embed-out", "lm_mitigation_lazy-embed-out",
              "languages_rare_words_are_most_of_the_vocabulary", "bpe_rare_tokens_are_most_of_the_vocabulary")


def readme_block(data: dict) -> str:
    """The README's findings list: one line per headline finding, numbers straight from findings.json."""
    by_id = {f["id"]: f for f in data["findings"]}
    real = [f["id"] for f in data["findings"] if f["id"].startswith("rs_") and (
        f["id"].endswith(("_train_low_freq_loss_rises", "_heldout_low_freq_loss_rises",
                          "_train_balanced_rises_more_than_average")) or "_mitigation_" in f["id"])]
    lines = []
    for id in README_IDS + tuple(real):
        f = by_id.get(id)
        if f is None:
            lines.append(f"- `{id}`: not computed ({data['not_computed'] and 'see findings.md' or 'no file'}).")
            continue
        where = f" (`{f['source']}`)" if "source" in f else ""
        line = f"- **{f['verdict']}**{where} — {f['claim']} Measured: {f['measure']}: {effect_text(f)}."
        if "share_negative_speed" in f:  # what the tiny model has not learnt
            line += (f" {100 * f['share_negative_speed']:.1f}% of the {f['tokens_per_seed']:.0f} token ids seen "
                     f"end with a loss above their start (negative learning speed; "
                     f"{100 * f['share_negative_speed_measurable']:.1f}% of the {f['measurable_tokens_per_seed']:.0f} "
                     "measurable ones): the model is still shifting probability towards frequent tokens.")
        if "ratio_of_mean_changes" in f:
            line += (f" Ratio of the mean changes, balanced / average: {f['ratio_of_mean_changes']:.2f} "
                     f"(paper's Table 1: {f['paper_ratio']:.1f}).")
        lines.append(line)
    sims = [f for f in data["findings"] if f["id"].startswith("sim_")]
    if sims:
        counts = {v: sum(f["verdict"] == v for f in sims) for v in VERDICTS}
        lines.append("- Simulations, low- vs high-frequency loss under weight decay, per model and optimizer: "
                     + ", ".join(f"{n} {v}" for v, n in counts.items()) + " (see findings.md).")
    if data.get("changes"):
        lines += ["", "Changes from lambda 0, mean over seeds [95% t-interval] (the CPU tiny model `lm` and each "
                  "real-scale regime `rs_*`; differences from uniform decay at the same lambda are in "
                  "`docs/findings.md`):", ""] + changes_markdown(data["changes"])
    return "\n".join(lines).rstrip("\n")


def write(results: Path, out: Path) -> list[Path]:
    """out/findings.json, out/findings.md and out/changes.csv (all written only after every finding is
    computed)."""
    data = jsonable(compute(results))
    text = markdown(data)
    out = Path(out)
    table = pd.DataFrame(data["changes"], columns=["source", "folder", "split", "decay_mode", "lambda", "against",
                                                   "metric", "change", "low", "high", "n_seeds"])
    return [atomic_write_json(out / "findings.json", data), atomic_write_text(out / "findings.md", text),
            atomic_write_text(out / "changes.csv", table.to_csv(index=False))]
