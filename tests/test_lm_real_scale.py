"""The real-scale configuration (gpu-270m) shrunk to a tiny model on the CPU: export -> sweep with a budget ->
resume -> pack, and the pieces it relies on (run order, one module per process, checkpoint policy)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pandas as pd
import pytest
import torch

import lm_experiments.plan as plan_mod
import lm_experiments.sweep as sweep_mod
import lm_experiments.train as train_mod
from lm_experiments.data import export, load_prepared, prepare
from lm_experiments.pack import pack
from lm_experiments.config import TrainConfig, load_sweep_config
from lm_experiments.plan import planned_runs
from lm_experiments.sweep import run_sweep
from lm_experiments.train import train_run
from plumbing.errors import InputError

SMALL = {"preset": "tiny", "device": "cpu", "bf16": False, "compile": False, "batch_size": 4, "seq_len": 16,
         "steps": 6, "warmup": 1, "eval_every": 3, "checkpoint_every": 6, "eval_tokens": 256}


def shrunk(corpus: str, **kw):
    """gpu-270m with everything that sizes it shrunk (tiny model, 6 steps, vocab 300); regimes, decay modes and
    the checkpoint policy as they are."""
    cfg = load_sweep_config("gpu-270m")
    return replace(cfg, corpus=corpus, vocab_size=300, train={**cfg.train, **SMALL},
                   regimes={"memorised": {"train_tokens": 2000}, "corpus": {}}, **{"compare_at": (), **kw})


def test_real_scale_plan_fits_nine_minutes_with_three_seeds_per_memorised_comparison():
    cfg = load_sweep_config("gpu-270m")
    runs = planned_runs(cfg)
    assert len(runs) == len(set(runs)) == 3 * 5 + 2 * 2  # memorised 3 seeds x 5 runs, corpus 2 seeds x 2 lambdas
    # the memorised regime comes first, seed by seed, each seed a whole comparison (lambda 0, 2, the modes at 2, 1)
    assert runs[:5] == [("memorised", "no-norm-bias", 0.0, 0), ("memorised", "no-norm-bias", 2.0, 0),
                        ("memorised", "no-embed-out", 2.0, 0), ("memorised", "lazy-embed-out", 2.0, 0),
                        ("memorised", "no-norm-bias", 1.0, 0)]
    assert all(reg == "memorised" for reg, *_ in runs[:15]) and all(reg == "corpus" for reg, *_ in runs[15:])
    memorised = [r for r in runs if r[0] == "memorised"]
    for mode, lam in [("no-norm-bias", 0.0), ("no-norm-bias", 1.0), ("no-norm-bias", 2.0), ("no-embed-out", 2.0),
                      ("lazy-embed-out", 2.0)]:
        assert sorted(s for _, m, l, s in memorised if (m, l) == (mode, lam)) == [0, 1, 2]  # >= 3 seeds each
    assert not any(mode != "no-norm-bias" and lam == 0 for _, mode, lam, _ in runs)
    assert not set(cfg.decay_modes) & {"freq-embed-out"}
    # the predicted wall from the measured constants: within 9 minutes on an H200; the runs spend <= 15% of their
    # own wall outside training steps
    h200 = plan_mod.predicted_wall(cfg, "H200")
    assert h200["seconds"] <= 9 * 60 and h200["runs"] == len(runs) and h200["run_overhead_share"] <= 0.15
    train = cfg.train
    assert train["compile"] and train["device"] == "cuda" and train["batch_size"] * train["seq_len"] == 8192
    subs = cfg.by_regime()
    mem, corpus = (subs[r].train_config(0.0, 0, "no-norm-bias") for r in ("memorised", "corpus"))
    assert mem.checkpoint_every >= mem.steps and corpus.checkpoint_every >= corpus.steps  # no checkpoint unless stopped
    assert corpus.steps * 8192 > 3.69e6  # more than one epoch of the 3.69M-token corpus


def test_predicted_wall_is_start_plus_steps_evaluations_and_fixed_costs():
    cfg = shrunk("files:x", lambdas=(0.0, 1.0), seeds=(0, 1))
    plan = {"ms_per_step": {"H200": 1000.0}, "start_seconds": 5.0, "overhead_seconds_per_run": 0.75,
            "eval_seconds_per_65k_tokens": 65536 / 512, "seed_build_seconds": 2.0}
    got = plan_mod.predicted_wall(cfg, "H200", plan)
    # shrunk: 2 regimes x 2 seeds x (lambda 0 + lambda 1 x 3 modes) = 16 runs of 6 steps, 3 evaluations of 256
    # (train: 256 of the memorised regime's 2000 tokens) + 256 held-out tokens = 512 tokens, i.e. 1 s an
    # evaluation; one seed beyond the first builds its weights once
    assert got["runs"] == 16 and got["train_seconds"] == 16 * 6
    assert got["seconds"] == pytest.approx(5 + 96 + 16 * (3 * 1.0 + 0.75) + 2.0)
    assert got["run_overhead_share"] == pytest.approx((16 * 3.75 + 2) / (96 + 16 * 3.75 + 2))


def test_export_then_sweep_without_the_corpus_equals_the_prepared_data(tmp_path, lm_corpus_file):
    spec = f"files:{lm_corpus_file}"
    folder, mib = export(spec, 300, tmp_path / "ship")
    assert 0 < mib < 64 and folder.parent == tmp_path / "ship"
    got, want = load_prepared(tmp_path / "ship", spec, 300), prepare(spec, 300, tmp_path / "cache")
    assert (got.train == want.train).all() and (got.heldout == want.heldout).all()
    assert got.manifest["tokenizer_hash"] == want.manifest["tokenizer_hash"]
    with pytest.raises(InputError, match="0 prepared folders of corpus 'mixed' at vocab_size 300"):
        load_prepared(tmp_path / "ship", "mixed", 300)
    with pytest.raises(InputError, match=r"MiB, more than --max-mib 1e-06"):
        export(spec, 300, tmp_path / "big", max_mib=1e-6)
    assert not any((tmp_path / "big").glob("*/*"))  # nothing left of the refused export


def _fake_clock(monkeypatch, seconds_per_step: float):
    """time.monotonic of the sweep and of train_run advances only with training steps (deterministic budget)."""
    clock = [0.0]
    real_step = train_mod.train_step

    def step(*args, **kw):
        clock[0] += seconds_per_step
        return real_step(*args, **kw)

    monkeypatch.setattr(train_mod, "train_step", step)
    for mod in (train_mod, sweep_mod):
        monkeypatch.setattr(mod.time, "monotonic", lambda: clock[0])


def test_budget_stops_cleanly_tabulates_what_finished_and_resume_completes_it(tmp_path, lm_corpus_file, monkeypatch,
                                                                              one_torch_thread):
    cfg = shrunk(f"files:{lm_corpus_file}", lambdas=(0.0, 1.0), seeds=(0, 1))
    ship = tmp_path / "ship"
    export(cfg.corpus, cfg.vocab_size, ship)
    out = tmp_path / "sweep"
    with monkeypatch.context() as m:
        _fake_clock(m, 1.0)  # a run = 6 s; budget 20 s: runs 1-3 finish (18 s), run 4 (2 s left < 6 s) not started
        run_sweep(cfg, out, progress=False, data=ship, budget_minutes=20 / 60)
    plan = pd.read_csv(out / "plan.csv")
    assert list(plan["state"][:3]) == ["done"] * 3 and set(plan["state"][3:]) == {"not started (budget)"}
    t = pd.read_csv(out / "memorised" / "table1.csv")  # lambda 0, 1 and 1 no-embed-out of seed 0 finished
    assert set(zip(t["decay_mode"], t["lambda"])) == ({("no-norm-bias", 1.0), ("no-embed-out", 1.0)}
                                                      | {(m, 0.0) for m in cfg.decay_modes})
    assert (t["n_seeds"] == 1).all()
    s = pd.read_csv(out / "memorised" / "summary.csv")  # lambda 0 serves both decay modes: one run, two labels
    zero = s[s["lambda"] == 0]
    assert set(zero["decay_mode"]) == set(cfg.decay_modes) and zero["run"].nunique() == 1
    with monkeypatch.context() as m:
        _fake_clock(m, 1.0)  # budget 4.5 s: the next run stops at its checkpoint after step 5 (clock 5 > 4.5)
        run_sweep(cfg, out, progress=False, data=ship, budget_minutes=4.5 / 60)
    plan = pd.read_csv(out / "plan.csv")
    stopped = plan[plan["state"].str.startswith("stopped")]
    assert len(stopped) == 1 and stopped["state"].iloc[0] == "stopped at step 5 (budget; resumable)"
    run = out / stopped["regime"].iloc[0] / "runs" / stopped["run"].iloc[0]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 5 and not (run / "done.json").exists()
    run_sweep(cfg, out, progress=False, data=ship)  # no budget: resumes the stopped run, trains the rest
    assert set(pd.read_csv(out / "plan.csv")["state"]) == {"done"}
    assert not list(out.glob("*/runs/*/checkpoint.pt"))  # deleted once each run was done
    fresh = tmp_path / "fresh"
    run_sweep(cfg, fresh, progress=False, data=ship)
    for reg in ("memorised", "corpus"):
        a, b = (pd.read_csv(d / reg / "summary.csv") for d in (out, fresh))
        pd.testing.assert_frame_equal(a, b)  # interrupted twice, then resumed == uninterrupted
    packed = tmp_path / "results" / "real_scale" / "gpu-270m"
    record = pack(out, packed)
    for reg in ("memorised", "corpus"):
        for name in ("summary.csv", "table1.md", "token_stats.csv", "learning_speed.csv.gz", "config.json"):
            assert (packed / reg / name).is_file(), name
        pt = pd.read_csv(next((packed / reg / "runs").glob("*/per_token.csv.gz")))
        assert set(pt["step"]) == {0, 6}  # first and last evaluation only
    assert (packed / "plan.csv").is_file() and not list(packed.rglob("checkpoint.pt"))
    assert record["per_token_files"].startswith("first and last")
    assert json.loads((packed / "pack.json").read_text())["files"]
    capped = pack(out, tmp_path / "capped", per_token_cap_mib=0)
    assert capped["per_token_files"].startswith("left out") and not list((tmp_path / "capped").rglob("per_token*"))


def test_a_finished_run_deletes_its_checkpoint_unless_asked_to_keep_it(tmp_path, lm_corpus_file, one_torch_thread):
    prepared = prepare(f"files:{lm_corpus_file}", 300, tmp_path / "data")
    for keep in (False, True):
        cfg = TrainConfig(vocab_size=300, keep_checkpoint=keep, **{k: v for k, v in SMALL.items()})
        train_run(cfg, prepared, tmp_path / str(keep), progress=False)
        assert (tmp_path / str(keep) / "checkpoint.pt").exists() == keep
        assert (tmp_path / str(keep) / "done.json").exists()


def test_runs_in_one_process_reuse_the_module_and_train_as_in_a_fresh_process(tmp_path, lm_corpus_file,
                                                                            one_torch_thread):
    prepared = prepare(f"files:{lm_corpus_file}", 300, tmp_path / "data")
    cfg = TrainConfig(vocab_size=300, keep_checkpoint=True, **SMALL)
    train_run(replace(cfg, seed=1), prepared, tmp_path / "first", progress=False)
    module = train_mod._Module.model
    train_run(cfg, prepared, tmp_path / "reused", progress=False)
    assert train_mod._Module.model is module  # the same module (and compiled wrapper) served the second run
    train_mod._Module.key = None  # as a new process would: build anew
    train_run(cfg, prepared, tmp_path / "fresh", progress=False)
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True) for d in ("reused", "fresh"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (tmp_path / "reused" / "metrics.csv").read_text() == (tmp_path / "fresh" / "metrics.csv").read_text()


def test_a_deadline_in_the_past_stops_after_one_step_at_a_checkpoint(tmp_path, lm_corpus_file, one_torch_thread):
    prepared = prepare(f"files:{lm_corpus_file}", 300, tmp_path / "data")
    cfg = TrainConfig(vocab_size=300, **SMALL)
    assert train_run(cfg, prepared, tmp_path / "r", progress=False, deadline=time.monotonic() - 1) == {"stopped_at": 1}
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["step"] == 1
    done = train_run(cfg, prepared, tmp_path / "r", progress=False)
    assert done["steps"] == 6 and not (tmp_path / "r" / "checkpoint.pt").exists()


def test_cli_export_and_budget_flags_refuse_bad_values(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lm_experiments", "sweep", "--config", "tiny", "--out",
                        str(tmp_path / "o"), "--budget-minutes", "-1"], capture_output=True, text=True)
    assert r.returncode == 2 and "budget_minutes" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    r = subprocess.run([sys.executable, "-m", "lm_experiments", "sweep", "--config", "tiny", "--out",
                        str(tmp_path / "o"), "--data", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "prepared folders" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_sweep_with_an_unstable_decay_is_refused_before_anything_is_written(tmp_path, lm_corpus_file):
    cfg = shrunk(f"files:{lm_corpus_file}", lambdas=(0.0, 300.0), seeds=(0,))  # lr 1e-3 x 300 = 0.3 > 0.1
    ship = tmp_path / "ship"
    export(cfg.corpus, cfg.vocab_size, ship)
    with pytest.raises(InputError, match=r"lr x weight decay = 0.001 x 300 = 0.3 > 0.1"):
        run_sweep(cfg, tmp_path / "out", progress=False, data=ship)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.json"))
