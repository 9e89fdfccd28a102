"""simulations.mitigation: the per-class decay schemes, their names, and the held-out inputs of the MLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plumbing.errors import InputError
from plumbing.schemas import SIM_MITIGATION
from simulations.config import MITIGATION_MODELS, MITIGATION_OPTIMIZERS, MODELS, OPTIMIZERS, SimConfig
from simulations.mitigation import SCHEMES, SEEDS, decay_mult, row_multipliers, run_mitigation, schemes_of
from simulations.train import build
from theory.glossary import MITIGATIONS

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one intra-op thread is faster


def test_schemes_are_the_glossary_mitigations_after_the_lambda_zero_reference():
    assert SCHEMES[0] == "none" and sorted(SCHEMES[1:]) == sorted(MITIGATIONS) and len(set(SCHEMES)) == len(SCHEMES)
    assert set(row_multipliers(np.array([3.0, 1.0]))) == set(MITIGATIONS) - {"uniform"}
    assert "no-embed-out" not in schemes_of("ufm-relu") and set(schemes_of("mlp")) == set(SCHEMES)


def test_mitigation_grid_is_a_subset_of_the_simulation_models_and_optimizers():
    assert set(MITIGATION_MODELS) <= set(MODELS) and set(MITIGATION_OPTIMIZERS) <= set(OPTIMIZERS)


def test_mitigation_schemes_decay_the_output_rows_by_their_schedule_and_the_penalty_follows(tmp_path):
    """simulations.mitigation: each scheme multiplies the decay of output row k by its schedule
    (count-embed-out n_k / mean(n); capped-embed-out min(1, n_k / mean(n)) <= 1; lazy-embed-out 1 - (1 - n_k/N)^V <=
    capped; no-embed-out 0), both in the L2 penalty and in adamw's decoupled step, and the whole grid writes one row per run."""
    counts = np.array([20.0, 8, 3, 1])
    want = {"uniform": np.ones(4), "count-embed-out": counts / counts.mean(),
            "capped-embed-out": np.minimum(1.0, counts / counts.mean()),
            "lazy-embed-out": 1 - (1 - counts / counts.sum()) ** 4, "no-embed-out": np.zeros(4)}
    assert np.all(want["lazy-embed-out"] <= want["capped-embed-out"]) and want["capped-embed-out"].max() == 1.0
    runs = [(scheme, 0) for scheme in want]
    for model, out_param in (("ufm-unconstrained", 0), ("mlp", 1)):
        batch = build(model, counts, [0] * len(runs), 4, 3, 5, 0.5)
        mult = decay_mult(batch, model, runs, counts)
        rows = mult[out_param][:, :, 0]
        for r, scheme in enumerate(want):
            np.testing.assert_allclose(rows[r].numpy(), want[scheme], rtol=1e-14)
        assert all(torch.all(m == 1) for i, m in enumerate(mult) if i != out_param)
        batch.decay_mult = mult
        lam = torch.full((len(runs),), 0.1, dtype=torch.float64)
        p = batch.params[out_param]  # the penalty of run r is lambda/2 sum_k mult_k scale ||row k||^2
        scale = batch.decay_scale[out_param]
        want_pen = sum(0.5 * 0.1 * float((rows[r][:, None] * scale * p[r] ** 2).sum()) for r in range(len(runs)))
        other = sum(0.5 * 0.1 * float((batch.decay_scale[i] * q * q).sum())
                    for i, q in enumerate(batch.params) if i != out_param)
        assert float(batch.penalty(lam)) == pytest.approx(want_pen + other, rel=1e-12)
    assert set(row_multipliers(counts)) == set(want) - {"uniform"}
    cfg = SimConfig(V=6, steps={"lbfgs": 60, "adamw": 150}, checkpoints=2)
    table = run_mitigation(cfg, tmp_path / "m", progress=False)
    assert list(table.columns) == list(SIM_MITIGATION.columns)
    assert len(table) == len(SEEDS) * (2 * 5 * 2 + 6 * 2)  # ufm models: 5 schemes, mlp: 6; two optimizers
    assert set(schemes_of("mlp")) == set(table[table["model"] == "mlp"]["scheme"])
    certified = table[(table["model"] == "ufm-unconstrained") & (table["optimizer"] == "lbfgs") &
                      (table["scheme"] != "none")]
    assert len(certified) == 4 * len(SEEDS)
    assert certified["duality_gap"].notna().all() and (certified["duality_gap"] >= -1e-12).all()
    assert table[~table.index.isin(certified.index)]["duality_gap"].isna().all()
    none = table[table["scheme"] == "none"]
    assert (none["lambda"] == 0).all() and (table[table["scheme"] != "none"]["lambda"] > 0).all()
    mlp = table["model"] == "mlp"  # held-out samples exist for the MLP only (the UFM has no inputs)
    assert table.loc[mlp, "heldout_average_loss"].gt(0).all() and table.loc[~mlp, "heldout_average_loss"].isna().all()


def test_heldout_inputs_are_fresh_noise_around_the_same_prototypes_and_leave_training_unchanged():
    from simulations.train import build

    counts = np.array([12.0, 5, 2, 1])
    plain = build("mlp", counts, [0, 1], 4, 3, 5, 0.5)
    held = build("mlp", counts, [0, 1], 4, 3, 5, 0.5, heldout=True)
    assert plain.X_heldout is None and held.X_heldout.shape == held.X.shape
    assert torch.equal(plain.X, held.X) and all(torch.equal(a, b) for a, b in zip(plain.params, held.params))
    assert not torch.equal(held.X, held.X_heldout)
    # same class means (the prototypes): per class, the mean of the difference is pure noise of 1/sqrt(n) scale
    diff = (held.X - held.X_heldout)[0]
    assert float(diff.std()) == pytest.approx(0.5 / np.sqrt(3) * np.sqrt(2), rel=0.5)
    assert held.heldout_per_class_loss().shape == (2, 4)
    with pytest.raises(InputError, match="no held-out inputs"):
        build("ufm-relu", counts, [0], 4, 3, 5, 0.5).heldout_per_class_loss()


