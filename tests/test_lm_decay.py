"""Decay modes of the LM (lm_experiments.decay): which rows each decays, how strongly over many steps, and the
stability guard that refuses a decay one step could not apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_experiments.config import TrainConfig
from lm_experiments.decay import (
    DECAY_MODES,
    LM_MITIGATIONS,
    MAX_DECAY_PER_STEP,
    apply_row_decay,
    check_stable,
    decay_groups,
    occurrence_probability,
    row_strengths,
)
from lm_experiments.model import build_model, model_config
from lm_experiments.step import lr_at, make_optimizer, train_step
from lm_experiments.train import batch_at
from plumbing.errors import InputError
from theory.glossary import MITIGATIONS

V = 300
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _zipf_ids(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, V + 1)
    return rng.choice(V, size=n, p=p / p.sum()).astype(np.uint16)


def _meta_model(preset: str):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(model_config(preset, 32000, 1024))


@pytest.mark.parametrize("preset", ["tiny", "openelm-270m-like", "qwen2-0.5b-like"])
@pytest.mark.parametrize("mode", list(DECAY_MODES))
def test_decay_groups_hold_every_parameter_once_and_respect_the_mode(preset, mode):
    model = build_model("tiny", V, 16, 0) if preset == "tiny" else _meta_model(preset)
    vocab = model.get_input_embeddings().weight.shape[0]
    groups = decay_groups(model, mode, 0.5, np.arange(vocab, dtype=float), device="cpu")
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted({id(p) for p in model.parameters() if p.requires_grad})
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    by_row = {id(p): g["rows_from"] for g in groups if g["name"] == "row_decay" for p in g["params"]}
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    tied = emb is head
    assert tied == (preset != "openelm-270m-like")
    norms = [p for m in model.modules() if "Norm" in type(m).__name__ for p in m.parameters(recurse=False)]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    assert all((id(p) in decayed) == (mode == "all") for p in norms + biases)
    assert (id(emb) in decayed) == (mode in ("all", "no-norm-bias"))
    # tied: the shared matrix is the embedding AND the output layer, so "no-embed" exempts it too
    assert (id(head) in decayed) == (mode in ("all", "no-norm-bias") or (mode == "no-embed" and not tied))
    if mode.endswith("-embed-out") and mode != "no-embed-out":  # the bounded modes decay those rows themselves
        assert set(by_row) == {id(emb), id(head)}
        want = {"lazy-embed-out": {id(emb): "both" if tied else "inputs", id(head): "both" if tied else "targets"},
                "capped-embed-out": {id(emb): None, id(head): None}}[mode]
        assert by_row == want
    else:
        assert not by_row


def test_each_lm_mitigation_decays_the_output_rows_as_the_glossary_defines_it():
    """theory.glossary's row strengths, read off the output layer of an untied model: uniform lambda on every row,
    no-embed-out 0, capped-embed-out lambda min(1, n_k / mean(n)), lazy-embed-out lambda on the rows of the
    step's targets (the decay mode names are glossary names, `uniform` being the baseline no-norm-bias)."""
    assert set(LM_MITIGATIONS) <= set(MITIGATIONS) and set(LM_MITIGATIONS.values()) <= set(DECAY_MODES)
    assert LM_MITIGATIONS["uniform"] == "no-norm-bias"
    assert all(name == mode for name, mode in LM_MITIGATIONS.items() if name != "uniform")
    model, lam = _meta_model("openelm-270m-like"), 0.5
    head = model.get_output_embeddings().weight
    counts = np.arange(head.shape[0], dtype=float)
    expected = {"uniform": (np.full(counts.size, lam), None), "no-embed-out": (np.zeros(counts.size), None),
                "capped-embed-out": (lam * np.minimum(1.0, counts / counts.mean()), None),
                "lazy-embed-out": (np.full(counts.size, lam), "targets")}
    for name, mode in LM_MITIGATIONS.items():
        group = next(g for g in decay_groups(model, mode, lam, counts, device="cpu")
                     if any(p is head for p in g["params"]))
        strength = (group["row_strength"].double().numpy() if group["name"] == "row_decay"
                    else np.full(counts.size, group["weight_decay"]))
        np.testing.assert_allclose(strength, expected[name][0], rtol=1e-6, err_msg=name)
        assert group.get("rows_from") == expected[name][1], name


def test_capped_step_is_the_no_decay_step_then_each_row_shrunk_by_its_capped_strength():
    """capped-embed-out: one step equals the no-embed-out step (same AdamW update u) with row k of the embedding
    first decayed as AdamW decays: w' = (1 - lr lambda min(1, n_k / mean n)) w + u; every other parameter as
    no-embed-out."""
    cpu = torch.device("cpu")
    ids = _zipf_ids(6000)
    counts = np.bincount(ids, minlength=V).astype(float)
    base = dict(preset="tiny", vocab_size=V, seq_len=16, batch_size=4, steps=30, warmup=0, lr=3e-3, weight_decay=2.0)
    batch = batch_at(ids, TrainConfig(**base), 5)
    models = {}
    for mode in ("no-embed-out", "capped-embed-out"):
        cfg = TrainConfig(**{**base, "decay_mode": mode})
        model = build_model(cfg.preset, V, cfg.seq_len, 0)
        before = model.state_dict()["model.embed_tokens.weight"].detach().clone()
        opt = make_optimizer(model, cfg, cpu, counts=counts)
        train_step(model, model, opt, batch, cfg, 5, 1, cpu)
        models[mode] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    emb = "model.embed_tokens.weight"
    strength = 2.0 * np.minimum(1.0, counts / counts.mean())
    factor = torch.as_tensor(1.0 - lr_at(cfg, 5) * strength, dtype=torch.float32)
    update = models["no-embed-out"][emb] - before
    torch.testing.assert_close(models["capped-embed-out"][emb], before * factor[:, None] + update,
                               rtol=1e-6, atol=1e-9)
    assert (factor[counts == 0] == 1).all() and factor.min() == pytest.approx(1 - lr_at(cfg, 5) * 2.0)
    others = [k for k in models["no-embed-out"] if k not in (emb, "lm_head.weight")]
    assert all(torch.equal(models["capped-embed-out"][k], models["no-embed-out"][k]) for k in others)
    with pytest.raises(InputError, match="needs the training counts"):
        make_optimizer(model, cfg, cpu)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=50).filter(lambda c: sum(c) > 0),
       st.floats(0, 5))
def test_bounded_strengths_never_exceed_uniform_decay(counts, lam):
    for mode in ("capped-embed-out", "lazy-embed-out"):
        s = row_strengths(mode, lam, counts)
        assert s.shape == (len(counts),) and np.all(s >= 0) and np.all(s <= lam * (1 + 1e-15))
    capped = row_strengths("capped-embed-out", lam, counts)
    above = np.asarray(counts) >= np.mean(counts)
    np.testing.assert_allclose(capped[above], lam)  # at or above the mean count: uniform decay


def _realised_lazy_fractions(ids, role: str, steps: int, batch_size: int, seq_len: int) -> np.ndarray:
    """The share of `steps` steps at which a lazy group of role `role` decayed each row (from the weights)."""
    w = torch.nn.Parameter(torch.ones(V, 2, dtype=torch.float64))
    group = {"name": "row_decay", "params": [w], "lr": 0.01, "weight_decay": 0.0,
             "row_strength": torch.ones(V, dtype=torch.float64), "rows_from": role}
    opt = torch.optim.SGD([group], lr=0.01)
    cfg = TrainConfig(vocab_size=V, seq_len=seq_len, batch_size=batch_size, seed=3)
    for step in range(steps):
        apply_row_decay(opt, batch_at(ids, cfg, step))
    return (torch.log(w[:, 0]) / np.log(1 - 0.01)).detach().numpy() / steps


@pytest.mark.parametrize("role", ["inputs", "targets"])
def test_lazy_rows_decay_at_the_rate_their_token_occurs_in_a_batch(role):
    """Over 400 steps, each row's share of steps with a decay matches P(token in the batch's inputs/targets)
    (occurrence_probability, exact for train.batch_at's sampling) within 4.5 binomial standard errors."""
    ids, steps = _zipf_ids(3000, seed=1), 400
    got = _realised_lazy_fractions(ids, role, steps, batch_size=3, seq_len=8)
    p = occurrence_probability(ids, 8, 3, V, role)
    se = np.sqrt(p * (1 - p) / steps) + 1e-12
    assert np.all(np.abs(got - p) <= 4.5 * se + 1e-9)
    assert np.any((p > 0.05) & (p < 0.95))  # the test covers rows that sometimes occur and sometimes not
    assert np.all(got[p == 0] == 0)  # a token that never occurs in the role is never decayed


def test_occurrence_probability_matches_a_brute_force_count():
    ids = _zipf_ids(200, seed=2)
    for role, off in (("inputs", 0), ("targets", 1)):
        q = np.zeros(V)
        n_starts = ids.size - 8
        for s in range(n_starts):
            q[np.unique(ids[s + off: s + off + 8])] += 1
        np.testing.assert_allclose(occurrence_probability(ids, 8, 5, V, role), 1 - (1 - q / n_starts) ** 5)


def test_lazy_decay_with_every_token_present_is_uniform_decay():
    """If every token occurs at every step, lazy-embed-out decays the embedding exactly as no-norm-bias does."""
    cpu = torch.device("cpu")
    ids = np.tile(np.arange(V, dtype=np.uint16), 8)
    base = dict(preset="tiny", vocab_size=V, seq_len=V, batch_size=2, steps=10, warmup=0, lr=3e-3,
                weight_decay=2.0, grad_clip=0.0)
    batch = torch.from_numpy(np.stack([ids[:V + 1], ids[5:V + 6]]).astype(np.int64))
    out = {}
    for mode in ("no-norm-bias", "lazy-embed-out"):
        cfg = TrainConfig(**{**base, "decay_mode": mode})
        model = build_model(cfg.preset, V, cfg.seq_len, 0)
        opt = make_optimizer(model, cfg, cpu, counts=np.bincount(ids, minlength=V).astype(float))
        train_step(model, model, opt, batch, cfg, 3, 1, cpu)
        out[mode] = model.state_dict()["model.embed_tokens.weight"].clone()
    torch.testing.assert_close(out["lazy-embed-out"], out["no-norm-bias"], rtol=1e-6, atol=1e-8)


def test_the_guard_refuses_decay_beyond_the_stable_step_and_names_mode_strength_and_rows():
    counts = np.bincount(_zipf_ids(20000), minlength=V).astype(float)
    check_stable("no-norm-bias", 2.0, 1e-3, counts)  # the real-scale setting: lr x lambda = 0.002
    check_stable("capped-embed-out", 2.0, 1e-3, counts)
    with pytest.raises(InputError, match=r"'no-norm-bias': lr x weight decay = 0.1 x 2 = 0.2 > 0.1"):
        check_stable("no-norm-bias", 2.0, 0.1, counts)
    with pytest.raises(InputError, match=r"'capped-embed-out': \d+ embedding/output rows .* token 0: 200"):
        check_stable("capped-embed-out", 200.0, 1e-3, counts)
    # exactly at the bound is allowed, just above it is not
    check_stable("lazy-embed-out", MAX_DECAY_PER_STEP / 1e-3, 1e-3, counts)
    with pytest.raises(InputError, match="lazy-embed-out"):
        check_stable("lazy-embed-out", MAX_DECAY_PER_STEP / 1e-3 * 1.001, 1e-3, counts)
    model = build_model("tiny", V, 16, 0)
    with pytest.raises(InputError, match="unstable"):
        make_optimizer(model, TrainConfig(vocab_size=V, lr=0.5, weight_decay=1.0), torch.device("cpu"))


def test_the_guard_accepts_the_real_scale_plan_at_its_training_counts_and_refuses_count_scaled_decay():
    """At the counts the real-scale runs trained on (the exported mixed corpus at vocab 32,000: the token tables
    committed with the H200 run), every planned decay passes; decaying rows by count / mean count (the removed
    freq-embed-out) would put dozens of rows above the bound at lr 1e-3 and lambda 2 (52 at the memorised
    regime's counts)."""
    from pathlib import Path

    import pandas as pd

    from lm_experiments.config import load_sweep_config

    root = Path(__file__).resolve().parents[1] / "results" / "real_scale" / "gpu-270m-h200"
    cfg = load_sweep_config("gpu-270m")
    for reg, sub in cfg.by_regime().items():
        table = pd.read_csv(root / reg / "token_stats.csv")
        counts = np.zeros(cfg.vocab_size)
        counts[table["token_id"].to_numpy()] = table["count"].to_numpy()
        for mode, lam, seed in sub.runs():
            tc = sub.train_config(lam, seed, mode)
            check_stable(tc.decay_mode, tc.weight_decay, tc.lr, counts)
        if reg == "memorised":
            assert np.sum(tc.lr * 2.0 * counts / counts.mean() > MAX_DECAY_PER_STEP) == 52
