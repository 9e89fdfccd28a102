"""Longer end-to-end checks (`make test-slow`): trained models against the theory at V = 100, and the
frequency dependence of learning speed in a real-text LM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from simulations.train import build, train
from theory.ufm.counts import zipf_counts
from theory.ufm.problem import Problem
from theory.ufm.relu import relu_closed_form
from theory.ufm.unconstrained import solve_unconstrained

pytestmark = pytest.mark.slow
LAMS = [1e-4, 3e-4, 1e-3, 2e-3]


def test_adam_l2_reaches_the_certified_optimum_at_v100():
    n = zipf_counts(100)
    theory = np.array([solve_unconstrained(Problem(n, lam, lam), tol=1e-9).per_class_loss for lam in LAMS])
    _, curves = train(build("ufm-unconstrained", n, [0] * 4, 100, 1, 1, 0.0), "adam",
                      torch.tensor(LAMS, dtype=torch.float64), 0.01, 3000, 10)
    assert np.abs(curves[-1] - theory).max() < 5e-3  # constant-lr Adam hovers within ~2e-3 of the optimum


def test_lbfgs_reaches_the_relu_closed_form_when_d_exceeds_v():
    n = zipf_counts(100)
    theory = np.array([relu_closed_form(Problem(n, lam, lam, 300)).per_class_loss for lam in LAMS])
    _, curves = train(build("ufm-relu", n, [0] * 4, 300, 1, 1, 0.0), "lbfgs",
                      torch.tensor(LAMS, dtype=torch.float64), 1.0, 1500, 10)
    assert np.abs(curves[-1] - theory).max() < 5e-3


def test_rare_tokens_learn_slower_in_a_real_text_lm(tmp_path):
    import pandas as pd

    from lm_experiments.data import prepare
    from lm_experiments.config import TrainConfig
    from lm_experiments.train import train_run
    from theory.ufm.metrics import learning_speed

    p = prepare("rotten-tomatoes", 4096, tmp_path / "data")
    cfg = TrainConfig(vocab_size=4096, steps=120, eval_every=30, checkpoint_every=120, train_tokens=32768,
                      eval_tokens=32768)
    train_run(cfg, p, tmp_path / "run", progress=False)
    pt = pd.read_csv(tmp_path / "run" / "per_token.csv.gz").query("split == 'train'")
    curves = pt.pivot(index="step", columns="token_id", values="loss").dropna(axis=1)
    speed = learning_speed(curves.to_numpy(), curves.index.to_numpy(float))
    counts = np.bincount(p.train[:32768].astype(int), minlength=4096)[curves.columns.to_numpy()]
    assert spearmanr(counts, speed).statistic > 0.5
