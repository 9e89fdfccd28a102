"""Mitigation findings, one vocabulary and one rule for both (stats.MITIGATION_VERDICTS, stats.MITIGATION_RULE):
each LM decay mode other than the baseline (theory.glossary.baseline_mode) and each simulation decay scheme other
than none (lambda 0) and uniform, against uniform decay at the same lambda, paired by seed.

The effect reported is the change of the training low-frequency loss, treatment minus uniform decay (the paper's
side: negative); the verdict is mitigation_verdict of the penalty and held-out intervals, decided at construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plumbing.errors import InputError
from theory.glossary import baseline_mode

from . import evidence
from .lm import summary
from .stats import MITIGATION_RULE, NotApplicable, at, low_high, mitigation_verdict, paired_by_seed, seed_finding, \
    t_interval

CLAIM = ("{what} removes the rare-token penalty of weight decay and keeps its held-out effect (ours; the paper "
         "proposes no mitigation).")


def mitigation_findings(results: Path, folder: str = "lm", prefix: str | None = None) -> list[dict]:
    """One finding per decay mode other than the baseline, at the sweep's largest lambda."""
    prefix = prefix or folder
    df, cfg, rel = summary(results, folder)
    modes = list(cfg["decay_modes"])
    if len(modes) < 2:
        raise NotApplicable(f"result file {rel!r} holds one decay mode; the mitigation findings compare several")
    base, lam0, hi = baseline_mode(modes), df["lambda"].min(), df["lambda"].max()

    def rows(mode, lam, split):
        return at(df, decay_mode=mode, split=split, **{"lambda": lam})

    out = []
    for mode in modes[1:]:
        zero_tr, base_tr, m_tr = rows(base, lam0, "train"), rows(base, hi, "train"), rows(mode, hi, "train")
        base_pen, base_pen_lo, _ = t_interval(paired_by_seed(base_tr, zero_tr, "low_freq_loss"))
        m_pen, _, m_pen_hi = t_interval(paired_by_seed(m_tr, zero_tr, "low_freq_loss"))
        held, held_lo, held_hi = t_interval(paired_by_seed(rows(mode, hi, "heldout"), rows(base, hi, "heldout"),
                                                           "average_loss"))
        changes = {}
        for split in ("train", "heldout"):
            for col in ("low_freq_loss", "balanced_loss", "high_freq_loss", "average_loss"):
                m, lo, hi_ = t_interval(paired_by_seed(rows(mode, hi, split), rows(base, hi, split), col))
                changes[f"{split}_{col}"] = {"effect": m, "low": lo, "high": hi_}
        out.append(seed_finding(
            f"{prefix}_mitigation_{mode}", CLAIM.format(what=f"Decay mode {mode}"),
            f"change of the training low-frequency loss, {mode} minus uniform decay ({base}), at lambda {hi:g}",
            [rel], paired_by_seed(m_tr, base_tr, "low_freq_loss"), sign=-1, rule=MITIGATION_RULE,
            verdict=mitigation_verdict(base_pen, base_pen_lo, m_pen_hi, held, held_lo, held_hi),
            mode=mode, lambda_compared=hi, uniform_penalty=base_pen, uniform_penalty_low=base_pen_lo,
            mitigated_penalty=m_pen, mitigated_penalty_high=m_pen_hi, heldout_average_change=held,
            heldout_average_low=held_lo, heldout_average_high=held_hi, changes_vs_uniform=changes))
    return out


SIM_SCHEME_NOTES = {
    "count-embed-out": " Reference scheme, unbounded: the most frequent output row is decayed n_max / mean(n) times "
                     "harder than under uniform decay (the LM's count-embed-out); kept as the negative/reference "
                     "result that the bounded schemes replace.",
    "capped-embed-out": " Bounded by uniform decay: output row k decayed by lambda min(1, n_k / mean(n)).",
    "lazy-embed-out": " Bounded by uniform decay: output row k decayed by lambda (1 - (1 - n_k/N)^V), the mean "
                       "strength of decaying a row only at steps whose V i.i.d. tokens include its class.",
}
HELDOUT = "heldout_average_loss"


def _held(a, b) -> tuple:
    """The held-out change a - b with its interval; (NaN, None, None) when the model has no held-out data (the
    column is empty for every seed of both); some seeds empty is damage (t_interval refuses it)."""
    if a[HELDOUT].isna().all() and b[HELDOUT].isna().all():
        return float("nan"), None, None
    return t_interval(paired_by_seed(a, b, HELDOUT))


def sim_mitigation_findings(results: Path) -> list[dict]:
    """One finding per (model, optimizer, scheme) of `simulations mitigation` other than none / uniform."""
    folder = results / "sim_mitigation"
    if not folder.is_dir():
        raise NotApplicable(f"no simulation mitigation results ({str(folder)!r}; python -m simulations mitigation)")
    cfg = evidence.config(folder, ("mitigation_seeds", "mitigation_schemes"))
    path = folder / "mitigation.csv"
    keys = ("model", "optimizer", "scheme", "seed")
    df = evidence.table(path, keys, ("average_loss", "balanced_loss"), columns=(HELDOUT,), numeric=(HELDOUT,))
    low, high, split = low_high(df)
    # the promise: each (model, optimizer, scheme) present at every mitigation seed,
    # none and uniform among the schemes, no scheme the config does not list
    combos = list(dict.fromkeys(zip(df["model"], df["optimizer"], df["scheme"])))
    promised = [(m, o, sc, int(s)) for m, o, sc in combos for s in cfg["mitigation_seeds"]]
    promised += [(m, o, sc, int(s)) for m, o in dict.fromkeys((m, o) for m, o, _ in combos)
                 for sc in ("none", "uniform") for s in cfg["mitigation_seeds"]]
    df = evidence.table(path, keys, ("average_loss", "balanced_loss", low, high), dict.fromkeys(promised),
                        nullable=(), columns=(HELDOUT,), numeric=(HELDOUT,))
    unknown = sorted(set(df["scheme"]) - set(cfg["mitigation_schemes"]))
    if unknown:  # (config.json's "models" are the grid's; `simulations mitigation` runs its own subset)
        raise InputError(f"result file {str(path)!r}: scheme {unknown[0]!r} is not among config.json's "
                         f"mitigation_schemes {cfg['mitigation_schemes']}")
    for model, g in df.groupby("model", sort=False):  # held-out data: for every row of a model or for none
        empty = g[HELDOUT].isna().to_numpy()
        if empty.any() and not empty.all():
            i = int(g.index[np.flatnonzero(empty)[0]])
            raise InputError(f"result file {str(path)!r} line {i + 2}: {HELDOUT} is empty, but other rows of model "
                             f"{model!r} hold it")
    rel = str(path.relative_to(results))
    out = []
    for (model, opt), g in df.groupby(["model", "optimizer"], sort=False):
        by = {sc: t.set_index("seed") for sc, t in g.groupby("scheme")}
        uni_pen, uni_pen_lo, _ = t_interval(paired_by_seed(by["uniform"], by["none"], low))
        uni_held, uni_held_lo, _ = _held(by["uniform"], by["none"])
        for scheme in (s for s in by if s not in ("none", "uniform")):
            pen, _, pen_hi = t_interval(paired_by_seed(by[scheme], by["none"], low))
            held, held_lo, held_hi = _held(by[scheme], by["uniform"])
            note = ""
            if uni_held_lo is not None and uni_held_lo > 0:  # decay itself hurts held-out data: nothing to keep
                note = (f" Uniform decay itself raises the held-out average loss over lambda 0 by {uni_held:+.3f} "
                        "(interval above 0): there is no held-out benefit to keep, so the held-out part says only "
                        "that the scheme is no worse than uniform decay on held-out data.")
            avg_rise = {sc: float(paired_by_seed(by[sc], by["none"], "average_loss").mean()) for sc in ("uniform", scheme)}
            out.append(seed_finding(
                f"sim_mitigation_{model}_{opt}_{scheme}", CLAIM.format(what=f"Decay scheme {scheme}")
                + SIM_SCHEME_NOTES.get(scheme, ""),
                f"{model} trained with {opt}: change of the low-frequency loss, {scheme} minus uniform decay at the "
                f"same lambda; {split}.{note}", [rel], paired_by_seed(by[scheme], by["uniform"], low), sign=-1,
                rule=MITIGATION_RULE, verdict=mitigation_verdict(uni_pen, uni_pen_lo, pen_hi, held, held_lo, held_hi),
                model=model, optimizer=opt, scheme=scheme, uniform_penalty=uni_pen, scheme_penalty=pen,
                scheme_penalty_high=pen_hi, heldout_average_change=held, heldout_average_low=held_lo,
                heldout_average_high=held_hi, heldout_uniform_vs_none=uni_held,
                average_loss_rise_uniform=avg_rise["uniform"], average_loss_rise_scheme=avg_rise[scheme],
                balanced_change=float(np.mean(paired_by_seed(by[scheme], by["uniform"], "balanced_loss"))),
                high_change=float(np.mean(paired_by_seed(by[scheme], by["uniform"], high)))))
    return out
