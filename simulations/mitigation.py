"""`python -m simulations mitigation --out DIR`: per-class decay schemes trained next to uniform decay.

Schemes, all at the same lambda (the per-class strengths have mean 1 over the classes, so the mean strength
matches uniform decay's):
  none            lambda = 0: the reference every penalty is measured from
  uniform         the decay of `simulations run` (UFM: lambda/2 (||W||^2 + sum_k n_k ||h_k||^2); MLP: every weight)
  rows-by-count   the output layer's row k (class k's weight vector: row k of W in the UFM, of W2 in the MLP)
                  decayed with strength lambda n_k / mean(n) -- the LM's freq-embed-out, and the "output rows by
                  count" schedule of theory.perclass
  no-classifier   the output layer not decayed (MLP only: an undecayed W of the UFM has no minimum)
Optimizers: lbfgs (the L2 objective; a run of the unconstrained UFM is certified against the global optimum of
its per-class problem by theory.perclass.certify_perclass: duality_gap) and adamw (decoupled decay, lambda on its
own scale). Every (scheme, seed) of one model and optimizer is one batch (simulations.train, decay_mult).

Output: DIR/mitigation.csv (plumbing.schemas.SIM_MITIGATION): one row per model, optimizer, scheme, seed with the
average, balanced and low/high losses of both splits (P99, cumulative mass), the spread of per-class losses and
the certified gap (NaN where there is no certificate); DIR/config.json the config.
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
from theory.perclass import certify_perclass

from .config import SimConfig
from .run import config_counts, count_table, group_stats
from .train import build, train

SCHEMES = ("none", "uniform", "rows-by-count", "no-classifier")
MODELS = ("ufm-unconstrained", "ufm-relu", "mlp")
OPTIMIZERS = ("lbfgs", "adamw")
SEEDS = (0, 1, 2)


def schemes_of(model: str) -> tuple:
    return SCHEMES if model == "mlp" else SCHEMES[:3]


def decay_mult(batch, model: str, runs: list, counts: np.ndarray) -> list:
    """Per parameter, the (R, ...) multiplier of each run's decay under its scheme (module docstring)."""
    R = len(runs)
    dt, dev = batch.params[0].dtype, batch.params[0].device
    by_count = torch.as_tensor(counts / counts.mean(), dtype=dt, device=dev)
    out = []
    for i, p in enumerate(batch.params):
        m = torch.ones((R,) + (1,) * (p.dim() - 1), dtype=dt, device=dev)
        is_output = (model.startswith("ufm") and i == 0) or (model == "mlp" and i == 1)  # rows = classes
        if is_output:
            m = m.expand(R, p.shape[1], 1).clone()
            for r, (scheme, _) in enumerate(runs):
                if scheme == "rows-by-count":
                    m[r, :, 0] = by_count
                elif scheme == "no-classifier":
                    m[r] = 0.0
        out.append(m)
    return out


def run_mitigation(cfg: SimConfig, out: str | Path, device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    out = Path(out)
    record = claim_result_folder(out, {**cfg.to_dict(), "mitigation_seeds": list(SEEDS)})
    counts = config_counts(cfg)
    table = count_table(counts, cfg)
    d = cfg.d or counts.size
    lam = {"lbfgs": float(max(cfg.lambdas)), "adamw": float(max(cfg.adamw_lambdas))}
    rows = []
    combos = [(m, o) for m in MODELS for o in OPTIMIZERS]
    for model, opt in tqdm(combos, desc="mitigation", unit="batch", disable=not progress):
        runs = [(scheme, seed) for scheme in schemes_of(model) for seed in SEEDS]
        batch = build(model, counts, [s for _, s in runs], d, cfg.input_dim, cfg.hidden, cfg.noise, device)
        batch.decay_mult = decay_mult(batch, model, runs, counts)
        lambdas = torch.tensor([0.0 if sc == "none" else lam[opt] for sc, _ in runs], dtype=torch.float64,
                               device=device)
        _, curves = train(batch, opt, lambdas, cfg.lr[opt], cfg.steps[opt], cfg.checkpoints)
        final = curves[-1]
        for r, (scheme, seed) in enumerate(runs):
            gap = np.nan
            if model == "ufm-unconstrained" and opt == "lbfgs" and scheme in ("uniform", "rows-by-count"):
                with torch.no_grad():
                    Z = (batch.params[0][r] @ batch.features()[r]).cpu().numpy()
                lw = lam[opt] * (counts / counts.mean() if scheme == "rows-by-count" else 1.0)
                gap = certify_perclass(counts, lw, lam[opt], Z)["duality_gap"]
            loss = final[r]
            rows.append({"model": model, "optimizer": opt, "scheme": scheme, "lambda": float(lambdas[r]),
                         "seed": seed, **group_stats(loss, counts, table, float(lambdas[r])),
                         "spread": float(np.ptp(loss)), "duality_gap": gap})
    result = frame(SIM_MITIGATION, pd.DataFrame(rows).drop(columns="balanced_over_average"))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", record)
    atomic_write_csv(result, out / SIM_MITIGATION.name)
    return result
