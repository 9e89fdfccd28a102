"""Planning a sweep: the run folder names, the order the runs train in, and the predicted wall of the
real-scale sweep on one GPU (from measured constants).
"""

from __future__ import annotations

from theory.glossary import baseline_mode

from .config import SweepConfig


def run_name(lam: float, seed: int, mode: str) -> str:
    return f"{mode}_wd{lam:g}_s{seed}"


def run_folder_name(cfg: SweepConfig, lam: float, seed: int, mode: str) -> str:
    """The folder of a run under runs/: at lambda 0 that of the first decay mode, which serves every mode."""
    return run_name(lam, seed, baseline_mode(cfg.decay_modes) if lam == 0 else mode)


def planned_runs(cfg: SweepConfig) -> list[tuple[str, str, float, int]]:
    """(regime, decay_mode, lambda, seed) of every run to train, most informative first (the order of the
    sweep module doc: seed by seed; lambda 0, the largest, then down; the baseline mode first; regimes in order)."""
    plan = []
    for reg, sub in cfg.by_regime().items():
        lams = sorted(sub.lambdas)
        rank = {lam: i for i, lam in enumerate([lams[0], *lams[:0:-1]])}  # smallest, then from the largest down
        runs = sorted(sub.runs(), key=lambda r: (sub.seeds.index(r[2]), rank[r[1]], sub.decay_modes.index(r[0])))
        plan += [(reg, mode, lam, seed) for mode, lam, seed in runs]
    return plan


# Measured constants of the real-scale plan: the gpu-270m sweep on one H200, 2026-12-04
# (results/real_scale/gpu-270m-h200: each run's done.json splits its wall, log_call1.txt has the sweep's).
# ms_per_step: median over the runs of train_seconds / steps (37.7; the previous code's run measured 35.4), an
# H100 scaled by the 41 / 35.4 ms measured there before. start: the sweep's wall outside its runs (python start,
# data, token tables, the final summary: 19 s) plus what the first run spends beyond a later one (CUDA start,
# the first model built, torch.compile: 73 s). A later run outside its steps: evaluation 0.2 s per 65,536 tokens
# evaluated, 0.8 s of files and setup (per-token file 0.6-1.0 s, setup 0.01-0.05 s), and 4 s more for the first
# run of a new seed (its initial weights are built on the CPU once, then kept on the device).
REAL_SCALE_PLAN = {"ms_per_step": {"H200": 37.7, "H100": 37.7 * 41.0 / 35.4}, "start_seconds": 92.0,
                   "eval_seconds_per_65k_tokens": 0.2, "overhead_seconds_per_run": 0.8, "seed_build_seconds": 4.0}


def predicted_wall(cfg: SweepConfig, device: str = "H200", plan: dict = REAL_SCALE_PLAN) -> dict:
    """Predicted seconds of a sweep on one GPU: start + sum over runs of (steps x ms_per_step + evaluations x
    (tokens evaluated / 65,536) x eval cost + overhead) + seed_build x (seeds - 1). Evaluation covers
    min(eval_tokens, the tokens trained on) of the training split and eval_tokens of the held-out split.
    Returns {"seconds", "train_seconds", "runs", "overhead_share", "run_overhead_share"} (the last: the share of
    the runs' own wall spent outside training steps, start excluded)."""
    train = other = 0.0
    n, seeds = 0, set()
    for sub in cfg.by_regime().values():
        for mode, lam, seed in sub.runs():
            tc = sub.train_config(lam, seed, mode)
            evals = 1 + -(-tc.steps // tc.eval_every)
            tokens = min(tc.eval_tokens, tc.train_tokens or tc.eval_tokens) + tc.eval_tokens
            train += tc.steps * plan["ms_per_step"][device] / 1e3
            other += evals * plan["eval_seconds_per_65k_tokens"] * tokens / 65536 + plan["overhead_seconds_per_run"]
            n, seeds = n + 1, seeds | {seed}
    other += plan["seed_build_seconds"] * (len(seeds) - 1)
    total = plan["start_seconds"] + train + other
    return {"seconds": total, "train_seconds": train, "runs": n, "overhead_share": (total - train) / total,
            "run_overhead_share": other / (train + other)}
