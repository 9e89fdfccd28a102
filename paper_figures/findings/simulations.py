"""Findings of the simulations (results/simulations, `python -m simulations run`) and of the UFM along the lambda
path at vocabulary scale (results/sim_vocab, `python -m simulations scale`): weight decay raises the
low-frequency loss more than the high-frequency loss, i.e. the change of (low - high) loss from the smallest
positive lambda to the largest, paired by seed (stats.SEED_RULE), or bounded by convergence to the certified
optimum when one seed's runs all reached it (stats.CONVERGED_RULE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plumbing.errors import InputError

from . import evidence
from .stats import NotApplicable, at, converged_finding, low_high, paired_by_seed, seed_finding
from ..common import as_bool

CLAIM = "Weight decay raises the low-frequency loss more than the high-frequency loss."


def simulation_findings(results: Path) -> list[dict]:
    folder = results / "simulations"
    if not folder.is_dir():
        raise NotApplicable(f"no simulation results ({str(folder)!r}; python -m simulations run)")
    cfg = evidence.config(folder, ("models", "optimizers", "lambdas", "adamw_lambdas", "seeds"))
    # the promise of `simulations run`: adamw sweeps its decoupled decay (adamw_lambdas), the others lambdas
    promised = [(m, o, float(lam), int(s)) for m in cfg["models"] for o in cfg["optimizers"]
                for lam in (cfg["adamw_lambdas"] if o == "adamw" else cfg["lambdas"]) for s in cfg["seeds"]]
    path = folder / "summary.csv"
    head = evidence.table(path, ("model", "optimizer", "lambda", "seed"), ("average_loss", "balanced_loss"), promised)
    low, high, split = low_high(head)
    df = evidence.table(path, ("model", "optimizer", "lambda", "seed"), (low, high), promised)
    rel = str(path.relative_to(results))
    out = []
    for (model, opt), g in df.groupby(["model", "optimizer"], sort=True):
        lams = sorted(x for x in g["lambda"].unique() if x > 0)
        if len(lams) < 2:
            continue
        lo, hi = lams[0], lams[-1]
        d = paired_by_seed(at(g, **{"lambda": hi}), at(g, **{"lambda": lo}), lambda t: t[low] - t[high])
        measure = f"{model} trained with {opt}: change of (low - high) loss from lambda {lo:g} to {hi:g}; {split}"
        ends = g[g["lambda"].isin([lo, hi])]
        certified = ("converged" in g.columns and len(d) == 1 and
                     (ends["convergence_criterion"] == "max_abs_diff_to_theory").all() and
                     as_bool(ends, "converged", path).all())
        if certified:  # one seed, but both runs within tol of the unique certified optimum: a bounded error
            out.append(converged_finding(f"sim_{model}_{opt}_low_rises_more", CLAIM, measure, [rel], float(d[0]),
                                         ends["convergence_tol"].max(), model=model, optimizer=opt))
        else:
            out.append(seed_finding(f"sim_{model}_{opt}_low_rises_more", CLAIM, measure, [rel], d, model=model,
                                    optimizer=opt))
    return out


def sim_vocab_findings(results: Path) -> list[dict]:
    """The UFM trained along the lambda path at vocabulary scale: change of (low - high) loss from the smallest
    lambda to the largest whose certified optimum is not Z = 0 (rank > 0; at Z = 0 every class has loss log V and
    no split can differ), under both splits (P99 and cumulative mass), each with its class counts. Both ends must
    be within tol of their certified optimum (path.csv `reached`), so the one-seed effect carries the bound of
    CONVERGED_RULE. The group losses are computed from per_class.csv.gz (no result file holds them) with the
    split definitions of theory.ufm.metrics."""
    from theory.ufm import metrics

    folder = results / "sim_vocab"
    if not folder.is_dir():
        raise NotApplicable(f"no vocabulary-scale run ({str(folder)!r}; python -m simulations scale)")
    config = evidence.config(folder, ("lambdas", "tol", "counts", "V"))
    lambdas = [float(x) for x in config["lambdas"]]
    runs = evidence.table(folder / "path.csv", ("lambda",), ("max_abs_diff",), [(x,) for x in lambdas],
                          columns=("reached", "V"))
    optima = evidence.table(folder / "optima.csv", ("lambda",), ("rank",), [(x,) for x in lambdas])
    pc = evidence.table(folder / "per_class.csv.gz", ("lambda", "class"), ("count", "loss", "theory_loss"),
                        evidence.grid(lam=lambdas, k=range(int(config["V"]))))
    reached = set(runs.loc[as_bool(runs, "reached", folder / "path.csv"), "lambda"])
    live = [lam for lam in sorted(reached) if float(optima.loc[optima["lambda"] == lam, "rank"].iloc[0]) > 0]
    if len(live) < 2:
        raise NotApplicable(f"{folder / 'path.csv'}: fewer than 2 lambdas reached their optimum with rank > 0")
    lo, hi = live[0], live[-1]
    by = {lam: g.sort_values("class") for lam, g in pc.groupby("lambda")}
    counts = by[lo]["count"].to_numpy(float)
    if any(not np.array_equal(g["count"].to_numpy(float), counts) for g in by.values()):
        raise InputError(f"result file {str(folder / 'per_class.csv.gz')!r}: the class counts differ between lambdas")
    files = [str((folder / f).relative_to(results)) for f in ("per_class.csv.gz", "path.csv", "optima.csv")]
    out = []
    for split, low in (("P99", metrics.low_frequency_mask(counts, 99.0)), ("mass", metrics.mass_tail_mask(counts, 0.5))):
        def gap(lam, col):
            loss = by[lam][col].to_numpy(float)
            return metrics.group_loss(loss, counts, low) - metrics.group_loss(loss, counts, ~low)

        out.append(converged_finding(
            f"sim_vocab_ufm-unconstrained_lbfgs-path_low_rises_more_{split}", CLAIM,
            f"ufm-unconstrained trained along the lambda path with L-BFGS at V = {counts.size} ({config['counts']} "
            f"counts; {int(low.sum())} low- and {int((~low).sum())} high-frequency classes, {split} split): change of "
            f"(low - high) loss from lambda {lo:g} to {hi:g}, the largest lambda whose optimum is not Z = 0",
            files, gap(hi, "loss") - gap(lo, "loss"), config["tol"], model="ufm-unconstrained",
            optimizer="lbfgs-path", V=int(counts.size), n_low=int(low.sum()), n_high=int((~low).sum()), lambda_lo=lo,
            lambda_hi=hi, theory_effect=gap(hi, "theory_loss") - gap(lo, "theory_loss")))
    return out
