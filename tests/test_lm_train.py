"""lm_experiments model / measure / train / bench: per-token loss, decay groups, exact resume, divergence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from lm_experiments import bench as bench_mod
from lm_experiments import checkpoint, evaluation
from lm_experiments import train as train_mod
from lm_experiments.bench import run_bench
from lm_experiments.decay import decay_groups
from lm_experiments.measure import TokenLoss, learning_speeds, summarize
from lm_experiments.model import (
    PRESETS,
    build_model,
    flops_per_token,
    model_config,
    n_params,
)
from lm_experiments.config import TrainConfig
from lm_experiments.step import lr_at, make_optimizer, train_step
from lm_experiments.train import batch_at, train_run
from plumbing.errors import InputError

V = 300
BASE = dict(preset="tiny", vocab_size=V, seq_len=16, batch_size=4, steps=30, warmup=3, lr=3e-3, weight_decay=1.0,
            eval_every=10, checkpoint_every=10, eval_tokens=256, keep_checkpoint=True)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one intra-op thread is faster


def zipf_prepared(n_train: int = 6000, n_heldout: int = 1000, seed: int = 0):
    """A stand-in for data.Prepared: Zipfian token ids (p_k ~ 1/(k+1)) and a manifest."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, V + 1)
    ids = rng.choice(V, size=n_train + n_heldout, p=p / p.sum()).astype(np.uint16)
    return SimpleNamespace(train=ids[:n_train], heldout=ids[n_train:], vocab_size=V,
                           manifest={"corpus": "synthetic zipf", "tokenizer_hash": "none"})


@pytest.fixture(scope="module")
def prepared():
    return zipf_prepared()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, prepared):
    out = tmp_path_factory.mktemp("base")
    return out, train_run(TrainConfig(**BASE), prepared, out, progress=False)


def _weights(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def _meta_model(preset: str):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(model_config(preset, 32000, 1024))


# --- measure ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_token_loss_equals_a_naive_loop(dtype):
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(3, 7, 11, generator=g)).to(dtype)
    y = torch.randint(0, 5, (3, 7), generator=g)  # ids 5..10 never occur; ids 0..4 repeat
    acc = TokenLoss(11)
    acc.update(logits[:2], y[:2])  # two updates accumulate like one
    acc.update(logits[2:], y[2:])
    loss_sum, count, correct = acc.numpy()
    ref = np.zeros((3, 11))
    for b in range(3):
        for t in range(7):
            z, k = logits[b, t].double(), int(y[b, t])
            ref[:, k] += [float(torch.logsumexp(z, 0) - z[k]), 1.0, float(z.argmax() == k)]
    np.testing.assert_allclose(loss_sum, ref[0], rtol=1e-5)
    np.testing.assert_array_equal(count, ref[1])
    np.testing.assert_array_equal(correct, ref[2])


def test_token_loss_reusing_the_training_ce_gives_the_same_sums():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(4, 5, 9, generator=g), torch.randint(0, 9, (4, 5), generator=g)
    a, b = TokenLoss(9), TokenLoss(9)
    a.update(logits, y)
    b.update(logits, y, ce=torch.nn.functional.cross_entropy(logits.reshape(-1, 9), y.reshape(-1), reduction="none"))
    for u, v in zip(a.numpy(), b.numpy()):
        np.testing.assert_array_equal(u, v)


def test_summarize_on_a_hand_example():
    # id 0 frequent in training, ids 1-3 rare; id 3 absent from the evaluated split
    out = summarize(np.array([1.0, 4.0, 3.0, 0.0]), np.array([2.0, 2.0, 1.0, 0.0]), np.array([2.0, 0, 1, 0]),
                    train_counts=np.array([1000.0, 1, 1, 1]))
    assert out["average_loss"] == pytest.approx(8 / 5)
    assert out["balanced_loss"] == pytest.approx((0.5 + 2.0 + 3.0) / 3)
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["high_freq_loss"] == pytest.approx(0.5)
    assert out["low_freq_loss"] == pytest.approx(7 / 3)
    assert out["n_tokens"] == 5


def test_summarize_reports_both_splits_with_their_group_sizes():
    # training counts 4, 3, 2, 1, 0: P99 (3.96) leaves only id 0 high; the head holding half of the 10 training
    # tokens is ids 0 and 1. Id 4 was never trained on: it counts in no group size, but its loss in the evaluated
    # split falls in the low groups.
    out = summarize(np.array([1.0, 4.0, 3.0, 2.0, 5.0]), np.array([2.0, 2.0, 1.0, 1.0, 1.0]), np.zeros(5),
                    train_counts=np.array([4.0, 3.0, 2.0, 1.0, 0.0]))
    assert (out["n_low"], out["n_high"], out["n_low_mass"], out["n_high_mass"]) == (3, 1, 2, 2)
    assert out["high_freq_loss"] == pytest.approx(0.5) and out["low_freq_loss"] == pytest.approx(14 / 5)
    assert out["high_mass_loss"] == pytest.approx(5 / 4) and out["low_mass_loss"] == pytest.approx(10 / 3)


def test_learning_speeds_on_a_hand_example():
    # id 0 halves its loss at the end (speed 1 - (1 + 0.5) / 2 = 0.25), id 1 never learns (0)
    speed = learning_speeds(np.array([[2.0, 1.0], [1.0, 1.0]]), np.array([0, 10]))
    np.testing.assert_allclose(speed, [0.25, 0.0])


# --- model --------------------------------------------------------------------------------------------------

def test_tiny_model_runs_forward_and_the_seed_fixes_the_weights():
    a, b = build_model("tiny", V, 16, 3), build_model("tiny", V, 16, 3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.config._attn_implementation == "sdpa" and 1e5 < n_params(a) < 3e6
    logits = a(input_ids=torch.randint(0, V, (2, 16)), use_cache=False).logits
    assert logits.shape == (2, 16, V) and torch.isfinite(logits).all()


def test_presets_have_their_advertised_sizes():
    sizes = {name: n_params(_meta_model(name)) / 1e6 for name in PRESETS if name != "tiny"}
    assert 20 < sizes["small"] < 45 and 100 < sizes["gpt-125m"] < 130
    assert 250 < sizes["openelm-270m-like"] < 290 and 350 < sizes["qwen2-0.5b-like"] < 400  # 494M at vocab 151936


def test_flops_per_token_is_6n_plus_attention():
    for name in PRESETS:
        m = _meta_model(name)
        c = m.config
        n = n_params(m, non_embedding=True) + c.vocab_size * c.hidden_size
        expected = 6 * n + 12 * c.num_hidden_layers * c.hidden_size * 1024
        assert flops_per_token(c, 1024) == pytest.approx(expected, rel=1e-3)  # norms and biases left out


def test_unknown_preset_and_decay_mode_are_rejected_by_name():
    with pytest.raises(InputError, match="gpt-9.*tiny"):
        build_model("gpt-9", V, 16, 0)
    with pytest.raises(InputError, match="embeddings-only"):
        TrainConfig(decay_mode="embeddings-only")
    with pytest.raises(InputError, match="embeddings-only"):
        decay_groups(build_model("tiny", V, 16, 0), "embeddings-only", 0.1)


# --- training -----------------------------------------------------------------------------------------------

def test_run_writes_both_splits_and_per_token_rows(base_run):
    out, res = base_run
    m = pd.read_csv(out / "metrics.csv")
    assert list(m.columns[:7]) == ["step", "split", "average_loss", "balanced_loss", "accuracy", "low_freq_loss",
                                   "high_freq_loss"]
    assert set(m["split"]) == {"train", "heldout"} and sorted(m["step"].unique()) == [0, 10, 20, 30]
    first, last = m[m["step"] == 0].set_index("split"), m[m["step"] == 30].set_index("split")
    assert (last["average_loss"] < first["average_loss"]).all()  # it learns
    pt = pd.read_csv(out / "per_token.csv.gz")
    assert list(pt.columns) == ["step", "split", "token_id", "count", "loss"]
    assert (pt["count"] > 0).all() and set(pt["split"]) == {"train", "heldout"}
    # per-token rows reproduce the summary row
    sel = pt[(pt["step"] == 30) & (pt["split"] == "train")]
    assert np.average(sel["loss"], weights=sel["count"]) == pytest.approx(last.loc["train", "average_loss"])
    assert res["final"]["heldout"]["average_loss"] == pytest.approx(last.loc["heldout", "average_loss"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["seq_len"] == 16 and manifest["data"]["corpus"] == "synthetic zipf"
    assert json.loads((out / "done.json").read_text()) == res


def test_a_finished_run_returns_its_stored_metrics_at_once(base_run, prepared, monkeypatch):
    out, res = base_run
    monkeypatch.setattr(train_mod, "build_model", lambda *a: pytest.fail("a finished run was trained again"))
    assert train_run(TrainConfig(**BASE), prepared, out, progress=False) == res


def test_resumed_run_equals_uninterrupted_run(base_run, prepared, tmp_path):
    out, whole = base_run
    cfg = TrainConfig(**BASE)
    assert train_run(cfg, prepared, tmp_path, progress=False, stop_at=15) == {"stopped_at": 15}
    assert not (tmp_path / "done.json").exists()
    resumed = train_run(cfg, prepared, tmp_path, progress=False)
    assert resumed["final"] == whole["final"]
    a, b = _weights(out), _weights(tmp_path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), pd.read_csv(tmp_path / "metrics.csv"))


def test_resume_with_another_config_is_refused(base_run, prepared):
    out, _ = base_run
    with pytest.raises(InputError, match="lr"):
        train_run(TrainConfig(**{**BASE, "lr": 1e-3}), prepared, out, progress=False)


def test_weight_decay_0_and_1_give_different_final_weights(base_run, prepared, tmp_path):
    out, _ = base_run  # weight decay 1
    train_run(TrainConfig(**{**BASE, "weight_decay": 0.0}), prepared, tmp_path, progress=False)
    w1, w0 = _weights(out), _weights(tmp_path)
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)
    emb = "model.embed_tokens.weight"
    assert w1[emb].norm() < w0[emb].norm()  # decay shrinks the decayed matrices


def test_huge_lr_stops_with_the_divergence_error_and_writes_nothing_of_it(prepared, tmp_path):
    cfg = TrainConfig(**{**BASE, "lr": 1e12, "grad_clip": 0.0, "warmup": 0, "weight_decay": 0.0})  # no decay: past the guard
    with pytest.raises(InputError, match=r"diverged at step \d+ .*lower lr"):
        train_run(cfg, prepared, tmp_path, progress=False)
    assert not (tmp_path / "done.json").exists()
    steps = pd.read_csv(tmp_path / "metrics.csv")["step"]
    if (tmp_path / "checkpoint.pt").exists():  # only checkpoints of finite steps, metrics up to them
        assert steps.max() <= torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"]
        assert all(torch.isfinite(v).all() for v in _weights(tmp_path).values())


def test_bad_config_values_are_rejected_by_name():
    for key, value in (("steps", 0), ("lr", float("nan")), ("weight_decay", -1.0), ("device", "gpu0")):
        with pytest.raises(InputError, match=key):
            TrainConfig(**{key: value})


@pytest.mark.parametrize("extra", [0, 1, 5])
def test_batches_reach_every_window_including_the_last_token(extra):
    """Window starts range over [0, size - seq_len - 1], both ends: the last token is a target (it was never one
    when the high end was size - seq_len - 1, exclusive)."""
    cfg = TrainConfig(seq_len=4, batch_size=8)
    train = np.arange(cfg.seq_len + 1 + extra, dtype=np.uint16)  # extra + 1 windows
    starts = set()
    for step in range(40):
        batch = batch_at(train, cfg, step).numpy()
        assert batch.shape == (8, cfg.seq_len + 1)
        np.testing.assert_array_equal(np.diff(batch, axis=1), 1)  # contiguous windows of `train`
        starts |= set(batch[:, 0].tolist())
    assert starts == set(range(extra + 1))
    with pytest.raises(InputError, match="seq_len"):
        batch_at(train[: cfg.seq_len], cfg, 0)


def test_train_run_trains_and_splits_by_the_first_train_tokens(prepared, tmp_path):
    """train_tokens: the run's manifest states how many ids it trained on, and its group sizes are those of the
    counts of those ids (train.training_counts), not of the whole split."""
    cfg = TrainConfig(**{**BASE, "steps": 2, "eval_every": 2, "checkpoint_every": 2, "train_tokens": 500})
    counts = train_mod.training_counts(cfg, prepared)
    np.testing.assert_array_equal(counts, np.bincount(prepared.train[:500], minlength=V))
    res = train_run(cfg, prepared, tmp_path, progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text())["n_train_tokens_used"] == 500 == counts.sum()
    whole = summarize(np.ones(V), np.ones(V), np.zeros(V), np.bincount(prepared.train, minlength=V))
    mine = summarize(np.ones(V), np.ones(V), np.zeros(V), counts)
    assert mine["n_low"] != whole["n_low"]  # the two counts give different groups: the test can tell them apart
    for split in ("train", "heldout"):
        got = res["final"][split]
        assert (got["n_low"], got["n_high"], got["n_low_mass"], got["n_high_mass"]) == \
            (mine["n_low"], mine["n_high"], mine["n_low_mass"], mine["n_high_mass"])


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(0.1) and lr_at(cfg, 9) == pytest.approx(1.0)
    assert lr_at(cfg, 100) == pytest.approx(0.1)
    assert all(lr_at(cfg, s) >= lr_at(cfg, s + 1) for s in range(10, 100))


def test_corrupt_checkpoint_gives_one_clear_error_naming_the_file(prepared, tmp_path):
    cfg = TrainConfig(**BASE)
    train_run(cfg, prepared, tmp_path, progress=False, stop_at=10)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # a truncated write
    with pytest.raises(InputError, match=r"checkpoint.pt.*unreadable.*delete it"):
        train_run(cfg, prepared, tmp_path, progress=False)
    assert not (tmp_path / "done.json").exists()


# --- bench --------------------------------------------------------------------------------------------------

def test_bench_reports_throughput_and_metric_overhead_on_cpu(capsys):
    out = run_bench("tiny", seq_len=16, batch_size=2, steps=2, device="cpu", vocab_size=V)
    assert out["tokens_per_s"] > 0 and out["mfu"] is None and np.isfinite(out["metric_overhead"])
    assert "MFU n/a" in capsys.readouterr().out
    # the config it timed: the given shape, TrainConfig's defaults for the optimisation settings
    expected = TrainConfig(preset="tiny", vocab_size=V, seq_len=16, batch_size=2, device="cpu", bf16=False)
    assert out["config"] == asdict(expected)


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_tensors(a, b) -> bool:
    """Nested dicts / lists of tensors and plain values, compared exactly."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return a == b


def test_bench_times_the_step_that_trains(monkeypatch):
    """Every step the bench times is step.train_step on a model and optimizer that train_run would build from the
    bench's TrainConfig: replaying the bench's calls on such a model gives the bench's losses and final weights
    (a bench with its own optimizer settings, schedule, clipping or step would not)."""
    calls = []

    def spy(net, model, opt, batch, cfg, step, world, device, token_loss=None):
        value = train_step(net, model, opt, batch, cfg, step, world, device, token_loss=token_loss)
        calls.append(dict(model=model, batch=batch.clone(), cfg=cfg, step=step, world=world,
                          metric=token_loss is not None, value=value))
        return value

    monkeypatch.setattr(bench_mod, "train_step", spy)
    run_bench("tiny", seq_len=16, batch_size=2, steps=2, device="cpu", vocab_size=V, verbose=False)
    assert len(calls) == 2 * (2 + 2)  # 2 warm-up and 2 timed steps of each variant
    assert [c["metric"] for c in calls] == [False, True] * 4 and [c["step"] for c in calls] == list(range(8))
    cfg = calls[0]["cfg"]
    assert cfg == TrainConfig(preset="tiny", vocab_size=V, seq_len=16, batch_size=2)  # defaults: lr, clip, decay
    assert all(c["cfg"] == cfg and c["world"] == 1 for c in calls)
    model = build_model(cfg.preset, cfg.vocab_size, cfg.seq_len, cfg.seed)  # as train_run builds them
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    for c in calls:
        acc = TokenLoss(V) if c["metric"] else None
        assert train_step(model, model, opt, c["batch"], cfg, c["step"], 1, torch.device("cpu"), acc) == c["value"]
    assert _same_tensors(_state(model), _state(calls[0]["model"]))


def test_train_run_steps_are_train_step_and_the_metric_variant_updates_alike(prepared, tmp_path):
    """train_run's weights after 3 steps are those of 3 calls of train_step on batch_at's batches; the bench's
    metric variant (per-position CE, fed to a TokenLoss) gives the same weights and the same loss to rounding,
    and its TokenLoss holds the CE of the step's own logits."""
    cfg = TrainConfig(**{**BASE, "steps": 3, "eval_every": 3, "checkpoint_every": 3})
    train_run(cfg, prepared, tmp_path, progress=False)
    cpu = torch.device("cpu")
    replays = []
    for metric in (False, True):
        model = build_model(cfg.preset, V, cfg.seq_len, cfg.seed)
        opt = make_optimizer(model, cfg, cpu)
        acc, values = TokenLoss(V), []
        for step in range(cfg.steps):
            batch = batch_at(prepared.train, cfg, step)
            if metric and step == 0:
                with torch.no_grad():
                    ref = TokenLoss(V)
                    ref.update(model(input_ids=batch[:, :-1], use_cache=False).logits, batch[:, 1:])
            values.append(train_step(model, model, opt, batch, cfg, step, 1, cpu, token_loss=acc if metric else None))
            if metric and step == 0:
                for u, v in zip(acc.numpy(), ref.numpy()):
                    np.testing.assert_allclose(u, v, rtol=1e-6)
        replays.append((_state(model), opt.state_dict(), values))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert _same_tensors(replays[0][0], saved["model"]) and _same_tensors(replays[0][1], saved["optimizer"])
    assert _same_tensors(replays[1][0], replays[0][0])
    assert replays[1][2] == pytest.approx(replays[0][2], rel=1e-6, abs=0)


def test_step0_evaluation_is_computed_once_per_seed_and_equals_a_fresh_one(prepared, tmp_path, monkeypatch):
    """Runs of one seed share their step-0 evaluation (evaluation.evaluate_sums): the second run of seed 0
    evaluates nothing at step 0, its step-0 rows are exactly those of the same run in a fresh process (cache
    emptied), and another seed is evaluated anew."""
    calls = []
    real = evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: calls.append(a[2].seed) or real(*a, **k))
    monkeypatch.setattr(evaluation, "_START", {})
    small = {**BASE, "steps": 4, "eval_every": 4, "checkpoint_every": 4, "keep_checkpoint": False}
    train_run(TrainConfig(**{**small, "weight_decay": 1.0}), prepared, tmp_path / "a", progress=False)
    assert len(calls) == 4  # 2 splits at step 0 and at step 4
    second = TrainConfig(**{**small, "weight_decay": 0.0, "decay_mode": "lazy-embed-out"})
    train_run(second, prepared, tmp_path / "b", progress=False)
    assert len(calls) == 6  # step 4 only: step 0 came from the first run
    monkeypatch.setattr(evaluation, "_START", {})
    train_run(second, prepared, tmp_path / "fresh", progress=False)
    assert len(calls) == 10
    for name in ("metrics.csv", "per_token.csv.gz"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b" / name), pd.read_csv(tmp_path / "fresh" / name))
    train_run(TrainConfig(**{**small, "seed": 1}), prepared, tmp_path / "c", progress=False)
    assert calls[-4:] == [1, 1, 1, 1]  # seed 1 starts from other weights: evaluated at step 0 too
    first = pd.read_csv(tmp_path / "a" / "metrics.csv").query("step == 0")
    other = pd.read_csv(tmp_path / "c" / "metrics.csv").query("step == 0")
    assert not np.array_equal(first["average_loss"], other["average_loss"])


@pytest.mark.parametrize("mode", ["no-norm-bias", "lazy-embed-out"])
def test_multi_tensor_adamw_and_clipping_give_the_per_tensor_weights_bit_for_bit(prepared, monkeypatch, mode):
    """make_optimizer's foreach AdamW and train_step's foreach clipping do the per-tensor arithmetic: 5 steps
    (clipping active: grad_clip 0.01) end at exactly the weights and moments of the per-tensor loop."""
    cfg = TrainConfig(**{**BASE, "decay_mode": mode, "grad_clip": 0.01})
    cpu, counts = torch.device("cpu"), np.bincount(prepared.train, minlength=V).astype(float)
    states = []
    for foreach in (True, False):
        model = build_model(cfg.preset, V, cfg.seq_len, cfg.seed)
        opt = make_optimizer(model, cfg, cpu, counts=counts)
        assert all(g["foreach"] for g in opt.param_groups)
        if not foreach:
            for g in opt.param_groups:
                g["foreach"] = False
            clip = torch.nn.utils.clip_grad_norm_
            monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, c, **k: clip(p, c, foreach=False))
        for step in range(5):
            train_step(model, model, opt, batch_at(prepared.train, cfg, step), cfg, step, 1, cpu)
        states.append((_state(model), opt.state_dict()["state"]))
    assert _same_tensors(states[0][0], states[1][0]) and _same_tensors(states[0][1], states[1][1])


def test_make_optimizer_follows_the_config():
    model = build_model("tiny", V, 16, 0)
    cfg = TrainConfig(lr=2e-3, weight_decay=0.3, decay_mode="no-embed")
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW)
    assert all(g["lr"] == 2e-3 and g["betas"] == (0.9, 0.95) and g["eps"] == 1e-8 for g in opt.param_groups)
    ref = decay_groups(model, "no-embed", 0.3)
    assert [g["weight_decay"] for g in opt.param_groups] == [g["weight_decay"] for g in ref]
    assert [[id(p) for p in g["params"]] for g in opt.param_groups] == [[id(p) for p in g["params"]] for g in ref]


def test_checkpoint_round_trip_restores_model_optimizer_step_and_rng(prepared, tmp_path):
    cfg, cpu = TrainConfig(**BASE), torch.device("cpu")
    model = build_model(cfg.preset, V, cfg.seq_len, cfg.seed)
    opt = make_optimizer(model, cfg, cpu)
    for step in range(2):  # an optimizer with moments and a step count
        train_step(model, model, opt, batch_at(prepared.train, cfg, step), cfg, step, 1, cpu)
    torch.manual_seed(1234)
    rng = torch.get_rng_state()
    checkpoint.save(tmp_path / "ck.pt", model, opt, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left behind
    weights, moments = _state(model), opt.state_dict()
    torch.manual_seed(99)  # another RNG state, other weights, a fresh optimizer
    other = build_model(cfg.preset, V, cfg.seq_len, cfg.seed + 1)
    other_opt = make_optimizer(other, cfg, cpu)
    assert not _same_tensors(_state(other), weights)
    assert checkpoint.load(tmp_path / "ck.pt", other, other_opt, cpu) == 2
    assert _same_tensors(_state(other), weights) and _same_tensors(other_opt.state_dict(), moments)
    assert torch.equal(torch.get_rng_state(), rng)
    # and training goes on identically from the restored state
    batch = batch_at(prepared.train, cfg, 2)
    a = train_step(model, model, opt, batch, cfg, 2, 1, cpu)
    b = train_step(other, other, other_opt, batch, cfg, 2, 1, cpu)
    assert a == b and _same_tensors(_state(model), _state(other))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing keys"])
def test_a_damaged_checkpoint_gives_one_input_error_and_changes_nothing(tmp_path, damage):
    cpu = torch.device("cpu")
    model = build_model("tiny", V, 16, 0)
    opt = make_optimizer(model, TrainConfig(), cpu)
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, model, opt, 7)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint" * 100)
    else:
        torch.save({"model": model.state_dict(), "step": 7}, path)
    other = build_model("tiny", V, 16, 1)
    before = _state(other)
    with pytest.raises(InputError, match=r"checkpoint.pt.*unreadable.*delete it") as err:
        checkpoint.load(path, other, make_optimizer(other, TrainConfig(), cpu), cpu)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # one error, not a chained traceback
    if damage == "missing keys":
        assert "optimizer" in str(err.value)
    assert _same_tensors(_state(other), before)


def test_bench_cli_writes_one_row_per_mode_and_batch_size_to_json(tmp_path, capsys):
    from lm_experiments.cli import main

    path = tmp_path / "bench.json"
    assert main(["bench", "--seq-len", "8", "--batch-sizes", "2,3", "--steps", "1", "--vocab-size", str(V),
                 "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["rows"]
    assert [(r["batch_size"], r["compile"]) for r in rows] == [(2, False), (3, False)]
    assert all(r["tokens_per_s"] > 0 and r["seq_len"] == 8 and r["mfu"] is None for r in rows)
    assert f"{rows[0]['tokens_per_s']:,.0f} tokens/s" in capsys.readouterr().out
    assert main(["bench", "--modes", "eager,fast", "--json", str(tmp_path / "bad.json")]) == 2
    assert not (tmp_path / "bad.json").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_ranks_under_torchrun_give_the_metrics_of_one_process_with_twice_the_batch(tmp_path, prepared):
    """DDP (gloo, 2 CPU ranks of batch B) and one process of batch 2 B see the same windows and average the
    same gradients, so every metric agrees up to float summation order; rank 0 alone writes the files."""
    small = {**BASE, "steps": 10, "eval_every": 5, "checkpoint_every": 5}
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_lm_train import zipf_prepared, BASE\n"
        "from lm_experiments.config import TrainConfig\nfrom lm_experiments.train import train_run\n"
        f"train_run(TrainConfig(**{small!r}), zipf_prepared(), {str(tmp_path / 'ddp')!r}, progress=False)\n")
    # Rendezvous on 127.0.0.1 rather than `--standalone`, which hands the ranks this machine's host name as
    # MASTER_ADDR: in a sandbox whose host name does not resolve (CI) the ranks then never meet.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    launch = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                             "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), str(script)],
                            env=env, timeout=300, capture_output=True, text=True)
    assert launch.returncode == 0, f"torchrun exited {launch.returncode}:\n{launch.stderr[-4000:]}"
    train_run(TrainConfig(**{**small, "batch_size": 2 * small["batch_size"]}), prepared, tmp_path / "one",
              progress=False)
    ddp, one = (pd.read_csv(tmp_path / name / "metrics.csv") for name in ("ddp", "one"))
    assert sorted(ddp["step"].unique()) == [0, 5, 10] and len(ddp) == 6
    pd.testing.assert_frame_equal(ddp, one, check_exact=False, rtol=1e-4)
    assert json.loads((tmp_path / "ddp" / "manifest.json").read_text())["world_size"] == 2
