"""`python -m simulations mitigation --out DIR`: per-class decay schemes trained next to uniform decay.

Schemes, all at the same lambda, named as in theory.glossary (count-embed-out's strengths have mean 1 over the
classes, so its mean strength matches uniform decay's; the bounded schemes are at most uniform decay row by row):
  none              lambda = 0: the reference every penalty is measured from
  uniform           the decay of `simulations run` (UFM: lambda/2 (||W||^2 + sum_k n_k ||h_k||^2); MLP: every
                    weight)
  count-embed-out   the output layer's row k (class k's weight vector: row k of W in the UFM, of W2 in the MLP)
                    decayed with strength lambda n_k / mean(n) -- the "output rows by count" schedule of
                    theory.ufm.perclass. UNBOUNDED (the most frequent row gets n_max / mean(n) times uniform decay):
                    kept only as the reference/negative result that the bounded schemes replace
  capped-embed-out  output row k decayed with lambda min(1, n_k / n_ref), n_ref = mean(n) = N / V
                    (theory.ufm.perclass.capped_schedule): count-embed-out capped at uniform decay
  lazy-embed-out    output row k decayed with lambda (1 - (1 - n_k/N)^T), T = N / n_ref = V tokens a step
                    (theory.ufm.perclass.occurrence_schedule): the mean strength of decaying a row only at the steps
                    whose T i.i.d. tokens include it, the lazy decay an LM's batch gives; below the capped one
  no-embed-out      the output layer not decayed (MLP only: an undecayed W of the UFM has no minimum)
Models x optimizers: simulations.config.MITIGATION_MODELS x MITIGATION_OPTIMIZERS: lbfgs (the L2 objective; a run
of the unconstrained UFM is certified against the global optimum of its per-class problem by
theory.ufm.perclass.certify_perclass: duality_gap) and adamw (decoupled decay, lambda on its own scale). Every (scheme, seed) of one model and optimizer is one batch (simulations.train, decay_mult).

Held-out data: the MLP is also evaluated on fresh samples of the same classes (same prototypes and per-class
counts, new noise; simulations.train.build(heldout=True)), heldout_average_loss. The UFM has no inputs: a fresh
sample of class k has the feature h_k itself, so its "held-out" loss would be the training loss; it is NaN there.

Output: DIR/mitigation.csv (plumbing.schemas.SIM_MITIGATION): one row per model, optimizer, scheme, seed with the
average, balanced and low/high losses of both splits (P99, cumulative mass), the spread of per-class losses, the
certified gap (NaN where there is no certificate) and the held-out average loss (MLP); DIR/config.json the config.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.config import claim_result_folder
from plumbing.schemas import SIM_MITIGATION, frame
from theory.ufm.perclass import capped_schedule, certify_perclass, occurrence_schedule

from .config import MITIGATION_MODELS, MITIGATION_OPTIMIZERS, SimConfig
from .run import config_counts, count_table, group_stats
from .train import build, train

# "none" (lambda = 0) and then theory.glossary.MITIGATIONS, in the order of the rows of mitigation.csv
SCHEMES = ("none", "uniform", "count-embed-out", "capped-embed-out", "lazy-embed-out", "no-embed-out")
MLP_ONLY = "no-embed-out"  # an undecayed output layer of the UFM has no minimum
SEEDS = (0, 1, 2)


def schemes_of(model: str) -> tuple:
    return tuple(s for s in SCHEMES if model == "mlp" or s != MLP_ONLY)


def row_multipliers(counts: np.ndarray) -> dict:
    """scheme -> (V,) multiplier of each output row's decay (module docstring): lambda_k / lambda."""
    n_ref = float(counts.mean())
    return {"count-embed-out": counts / n_ref, "capped-embed-out": capped_schedule(counts, 1.0, n_ref),
            "lazy-embed-out": occurrence_schedule(counts, 1.0, counts.sum() / n_ref), "no-embed-out": 0.0 * counts}


def decay_mult(batch, model: str, runs: list, counts: np.ndarray) -> list:
    """Per parameter, the (R, ...) multiplier of each run's decay under its scheme (module docstring)."""
    R = len(runs)
    dt, dev = batch.params[0].dtype, batch.params[0].device
    rows = {k: torch.as_tensor(v, dtype=dt, device=dev) for k, v in row_multipliers(counts).items()}
    out = []
    for i, p in enumerate(batch.params):
        m = torch.ones((R,) + (1,) * (p.dim() - 1), dtype=dt, device=dev)
        is_output = (model.startswith("ufm") and i == 0) or (model == "mlp" and i == 1)  # rows = classes
        if is_output:
            m = m.expand(R, p.shape[1], 1).clone()
            for r, (scheme, _) in enumerate(runs):
                if scheme in rows:
                    m[r, :, 0] = rows[scheme]
        out.append(m)
    return out


def run_mitigation(cfg: SimConfig, out: str | Path, device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    out = Path(out)
    record = claim_result_folder(out, {**cfg.to_dict(), "mitigation_seeds": list(SEEDS),
                                       "mitigation_schemes": list(SCHEMES), "n_ref": "mean count", "T": "N / n_ref"})
    counts = config_counts(cfg)
    table = count_table(counts, cfg)
    d = cfg.d or counts.size
    lam = {"lbfgs": float(max(cfg.lambdas)), "adamw": float(max(cfg.adamw_lambdas))}
    rows = []
    combos = [(m, o) for m in MITIGATION_MODELS for o in MITIGATION_OPTIMIZERS]
    for model, opt in tqdm(combos, desc="mitigation", unit="batch", disable=not progress):
        runs = [(scheme, seed) for scheme in schemes_of(model) for seed in SEEDS]
        batch = build(model, counts, [s for _, s in runs], d, cfg.input_dim, cfg.hidden, cfg.noise, device,
                      heldout=model == "mlp")
        batch.decay_mult = decay_mult(batch, model, runs, counts)
        lambdas = torch.tensor([0.0 if sc == "none" else lam[opt] for sc, _ in runs], dtype=torch.float64,
                               device=device)
        _, curves = train(batch, opt, lambdas, cfg.lr[opt], cfg.steps[opt], cfg.checkpoints)
        final = curves[-1]
        held = None
        if batch.X_heldout is not None:
            with torch.no_grad():
                held = (batch.heldout_per_class_loss() @ batch.counts / batch.counts.sum()).cpu().numpy()
        mults = row_multipliers(counts)
        for r, (scheme, seed) in enumerate(runs):
            gap = np.nan
            if model == "ufm-unconstrained" and opt == "lbfgs" and scheme != "none":
                with torch.no_grad():
                    Z = (batch.params[0][r] @ batch.features()[r]).cpu().numpy()
                gap = certify_perclass(counts, lam[opt] * mults.get(scheme, 1.0), lam[opt], Z)["duality_gap"]
            loss = final[r]
            rows.append({"model": model, "optimizer": opt, "scheme": scheme, "lambda": float(lambdas[r]),
                         "seed": seed, **group_stats(loss, counts, table, float(lambdas[r])),
                         "spread": float(np.ptp(loss)), "duality_gap": gap,
                         "heldout_average_loss": np.nan if held is None else float(held[r])})
    result = frame(SIM_MITIGATION, pd.DataFrame(rows).drop(columns="balanced_over_average"))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", record)
    atomic_write_csv(result, out / SIM_MITIGATION.name)
    return result
