"""The statistics and the verdict vocabulary of every finding: one home for intervals, seed pairing and the rules.

  seeds      paired by seed: d_s = metric(a, s) - metric(b, s); effect = mean_s d_s with the 95% t-interval
             mean +- t_{0.975, n-1} sd / sqrt(n) over the n >= 2 seeds. Verdict: "resolved" when the interval lies
             on the paper's side of 0, "contradicts the paper" on the other side, "not resolved" when it holds 0
             (one seed: no interval, "not resolved").
  exact      deterministic quantities (certified optima, data statistics): the interval is the range over the rows;
             "resolved" when the paper's inequality holds in every row, "contradicts" when it fails in every row.
  mitigation one vocabulary for the LM decay modes and the simulation schemes (MITIGATION_VERDICTS): does the
             treatment remove the rare-token penalty of uniform decay, and does it keep uniform decay's held-out
             effect (within HELDOUT_MARGIN nats)?
A finding's verdict is decided once, when `finding` builds it, from these rules.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from plumbing.errors import InputError
from theory.verification.claims_trends import PAPER_RATIO as PAPER_TABLE1_RATIO  # noqa: F401  (paper's Table 1, ~5.7)

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

HELDOUT_MARGIN = 0.01  # nats: a held-out average loss this much above uniform decay's still keeps its effect
MITIGATION_VERDICTS = ("removes the penalty and keeps the held-out effect", "removes the penalty",
                       "keeps the held-out effect", "neither", "no penalty to remove; keeps the held-out effect",
                       "no penalty to remove", "removes the penalty; held-out effect not computable",
                       "does not remove the penalty; held-out effect not computable",
                       "no penalty to remove; held-out effect not computable")
MITIGATION_RULE = ("a treatment m (an LM decay mode, a simulation decay scheme) against uniform decay at the same "
                   "lambda, paired by seed, 95% t-intervals: there is a PENALTY when the interval of uniform "
                   "decay's low-frequency training penalty, low_uniform(lambda) - low(0), lies above 0 (else NO "
                   "PENALTY TO REMOVE); m REMOVES THE PENALTY if the upper end of the interval of its own penalty, "
                   "low_m(lambda) - low(0), is below half the mean uniform penalty; m KEEPS THE HELD-OUT EFFECT if "
                   "the interval of heldout_average_m(lambda) - heldout_average_uniform(lambda) lies at or below "
                   f"+{HELDOUT_MARGIN:g} nats or holds 0; the held-out part is NOT COMPUTABLE without held-out data "
                   "(the UFM has no inputs: a fresh sample of class k has the feature h_k itself)")


class NotApplicable(Exception):
    """The results hold no material for this finding (one lambda, one decay mode, no such folder): it goes to
    not_computed. Damaged material is an InputError instead."""


def t_interval(d, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the mean of `d` with its t-interval; low = high = None for fewer than 2 values; NaN,
    None, None for no values; InputError when some value is NaN or infinite (dropping it would change n)."""
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    finite = np.isfinite(d)
    if not finite.all():
        raise InputError(f"{int((~finite).sum())} of {d.size} paired values are NaN or infinite: a damaged result "
                         "file? (an interval over the others would silently drop those seeds)")
    if d.size == 0:
        return math.nan, None, None
    m = float(d.mean())
    if d.size < 2:
        return m, None, None
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return m, m - half, m + half


def paired_by_seed(a: pd.DataFrame, b: pd.DataFrame, value) -> np.ndarray:
    """value(a) - value(b) over the seeds both hold (a and b indexed by seed); `value` is a column name or a
    function of a table returning a Series. The only pairing of the project: every paired difference uses it."""
    get = (lambda t: t[value]) if isinstance(value, str) else value
    seeds = a.index.intersection(b.index)
    return (get(a.loc[seeds]) - get(b.loc[seeds])).to_numpy(float)


def seed_verdict(low: float | None, high: float | None, sign: int = 1) -> str:
    """The seed rule: `sign` = +1 when the paper predicts a positive effect, -1 a negative one."""
    if low is None or high is None:
        return "not resolved"
    lo, hi = sorted((sign * low, sign * high))
    return "resolved" if lo > 0 else "contradicts the paper" if hi < 0 else "not resolved"


def exact_verdict(holds) -> str:
    holds = np.asarray(holds, dtype=bool)
    return "resolved" if holds.all() else "contradicts the paper" if not holds.any() else "not resolved"


def mitigation_verdict(uniform_penalty: float, uniform_penalty_low: float | None, penalty_high: float | None,
                       held: float, held_low: float | None, held_high: float | None) -> str:
    """MITIGATION_RULE as a pure function of the intervals (None: no interval, one seed; a NaN held-out change
    `held`: no held-out data, not computable)."""
    penalty = uniform_penalty_low is not None and uniform_penalty_low > 0
    removes = penalty and penalty_high is not None and penalty_high < 0.5 * uniform_penalty
    first = "removes the penalty" if removes else "no penalty to remove" if not penalty else None
    if not math.isfinite(held):
        return f"{first or 'does not remove the penalty'}; held-out effect not computable"
    keeps = held_high is not None and (held_high <= HELDOUT_MARGIN or held_low <= 0 <= held_high)
    if first and keeps:
        return f"{first}; keeps the held-out effect" if not removes else f"{first} and keeps the held-out effect"
    return first or ("keeps the held-out effect" if keeps else "neither")


def finding(id: str, claim: str, measure: str, files: list, effect: float, low, high, n: int, unit: str,
            rule: str, verdict: str, **extra) -> dict:
    """A finding, with its verdict decided here once (one of VERDICTS or MITIGATION_VERDICTS)."""
    if verdict not in VERDICTS + MITIGATION_VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not in the vocabulary")
    return {"id": id, "claim": claim, "measure": measure, "files": files, "effect": effect, "low": low,
            "high": high, "n": n, "interval": unit, "rule": rule, "verdict": verdict, **extra}


def seed_finding(id, claim, measure, files, d, sign: int = 1, rule: str = SEED_RULE, verdict=None, **extra) -> dict:
    """A finding on paired per-seed differences d; the verdict is the seed rule's unless a rule of this module
    (e.g. mitigation_verdict) decided it from intervals the caller computed with the same functions."""
    m, lo, hi = t_interval(d)
    n = int(np.asarray(d).size)
    unit = "95% t-interval over seeds" if n >= 2 else "1 seed, no interval"
    return finding(id, claim, measure, files, m, lo, hi, n, unit, rule,
                   verdict if verdict is not None else seed_verdict(lo, hi, sign), **extra)


def converged_finding(id, claim, measure, files, effect: float, tol: float, **extra) -> dict:
    """One seed whose runs all ended within tol of the unique certified optimum: the effect (a difference of
    differences of such losses) is within 4 tol of the optimum's, the band CONVERGED_RULE judges."""
    bound = 4 * float(tol)
    return finding(id, claim, measure, files, effect, effect - bound, effect + bound, 1,
                   "1 seed; bound from convergence to the certified optimum (4 x tol)", CONVERGED_RULE,
                   seed_verdict(effect - bound, effect + bound), **extra)


def low_high(df: pd.DataFrame) -> tuple[str, str, str]:
    """The low/high columns of a table: the cumulative-mass split when present (populated at every V), else P99."""
    if {"low_mass_loss", "high_mass_loss"} <= set(df.columns):
        return "low_mass_loss", "high_mass_loss", "split by cumulative mass (head holding half the samples)"
    return "low_freq_loss", "high_freq_loss", "split at the P99 class count"


def at(df: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of df matching every column = value of `where`, indexed by seed."""
    mask = np.ones(len(df), dtype=bool)
    for col, v in where.items():
        mask &= (df[col] == v).to_numpy()
    return df[mask].set_index("seed")
