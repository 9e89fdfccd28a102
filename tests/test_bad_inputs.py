"""Every bad input to the four CLIs ends with exit status 2, exactly one line on stderr, no traceback, and no file
left behind (issue 27). One table per CLI; each case runs in-process (`main(argv)`), in a fresh folder that holds
the inputs below, and must refuse within CASE_SECONDS (a case still running then was accepted or hangs).

`python tests/test_bad_inputs.py` prints, per CLI, how many cases end clean / in a traceback / accepted (exit 0
or another status) / still running after CASE_SECONDS -- the counts of the issue's closing note.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

CASE_SECONDS = 20.0

# --- inputs every case finds in its folder ------------------------------------------------------------------

SIM_BASE = {"base": "quick", "V": 6, "models": ["ufm-relu"], "optimizers": ["gd"], "lambdas": [0.0, 0.001],
            "adamw_lambdas": [0.0], "seeds": [0], "steps": {"gd": 8}, "checkpoints": 2}
SIM_CONFIG_RECORD = {"digest": "0123456789abcdef", "config": {"name": "quick", "V": 6}}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"


def toml(base: dict, **over) -> str:
    """A TOML config: `base` with `over` replacing keys (a value of None drops the key)."""
    merged = {k: v for k, v in {**base, **over}.items() if v is not None}
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in merged.items())


def lm_base(corpus: Path) -> dict:
    return {"base": "tiny", "corpus": f"files:{corpus}", "vocab_size": 300, "lambdas": [0.0, 1.0], "seeds": [0],
            "decay_modes": ["no-norm-bias"], "compare_at": [],
            "train": {"seq_len": 16, "batch_size": 4, "steps": 4, "eval_every": 2, "eval_tokens": 256, "warmup": 1,
                      "checkpoint_every": 2, "train_tokens": 2000}}


def make_inputs(root: Path) -> None:
    """The input files of the cases, under root/in (root/out* are the output folders the cases name)."""
    inp = root / "in"
    inp.mkdir()
    (inp / "empty.npy").write_bytes(b"")
    np.save(inp / "zero.npy", np.zeros(0))
    (inp / "empty.npz").write_bytes(b"")
    np.savez(inp / "none.npz")
    (inp / "file.txt").write_text("a file, not a folder\n")
    words = "the film was good bad long short funny dull plot actor scene story great".split()
    rng = np.random.default_rng(0)
    ids = rng.zipf(1.3, size=4000) % len(words)
    (inp / "corpus.txt").write_text("\n".join(" ".join(words[i] for i in ids[j:j + 12]) for j in range(0, 4000, 12)))
    (inp / "counts.txt").write_text("100\n50\n20\n5\n1\n")
    for name in ("sim_results", "damaged"):
        (root / name).mkdir()
    (root / "sim_results" / "config.json").write_text(json.dumps(SIM_CONFIG_RECORD))
    (root / "sim_results" / "summary.csv").write_text("model,lambda\nufm-relu,0\n")
    (root / "damaged" / "config.json").write_text('{"digest": "01234')
    # an LM sweep folder that `pack` can read
    sweep = root / "sweep"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "config.json").write_text(json.dumps({"digest": "fedcba9876543210", "config": {"name": "t"}}))
    (sweep / "summary.csv").write_text("lambda,seed,split\n0,0,train\n")


# --- the cases: (id, argv with {t} for the case's folder, files to write first {name: text}) ----------------
# files named *.toml are written into {t}/in; an `lm` config gets the corpus path through lm_base.

def sim_cfg(**over):
    return {"c.toml": toml(SIM_BASE, **over)}


THEORY = [
    ("solve-empty-npy", "solve --model ufm-relu --counts-file {t}/in/empty.npy --lambda-w 0.1 --lambda-h 0.1", {}),
    ("solve-zero-size-npy", "solve --model ufm-relu --counts-file {t}/in/zero.npy --lambda-w 0.1 --lambda-h 0.1", {}),
    ("solve-empty-npz", "solve --model ufm-relu --counts-file {t}/in/empty.npz --lambda-w 0.1 --lambda-h 0.1", {}),
    ("solve-npz-no-arrays", "solve --model ufm-relu --counts-file {t}/in/none.npz --lambda-w 0.1 --lambda-h 0.1", {}),
    ("solve-nan-count", "solve --model ufm-relu --counts 3,nan,1 --lambda-w 0.1 --lambda-h 0.1", {}),
    ("solve-nan-lambda", "solve --model ufm-relu --counts 3,2,1 --lambda-w nan --lambda-h 0.1", {}),
    ("solve-negative-lambda", "solve --model ufm-relu --counts 3,2,1 --lambda-w -1 --lambda-h 0.1", {}),
    ("solve-negative-time-limit",
     "solve --model ufm-unconstrained --counts 3,2,1 --lambda-w 0.1 --lambda-h 0.1 --time-limit -1", {}),
    ("solve-nan-time-limit",
     "solve --model ufm-unconstrained --counts 3,2,1 --lambda-w 0.1 --lambda-h 0.1 --time-limit nan", {}),
    ("solve-d-zero", "solve --model ufm-relu --counts 3,2,1 --lambda-w 0.1 --lambda-h 0.1 --d 0", {}),
    ("solve-unknown-model", "solve --model svm --counts 3,2,1 --lambda-w 0.1 --lambda-h 0.1", {}),
    ("corpus-empty-npy", "corpus --counts-file {t}/in/empty.npy --out {t}/out", {}),
    ("corpus-repeated-scales", "corpus --counts-file {t}/in/counts.txt --out {t}/out --scales 0.1,0.1", {}),
    ("corpus-nan-scale", "corpus --counts-file {t}/in/counts.txt --out {t}/out --scales nan", {}),
    ("corpus-out-is-file", "corpus --counts-file {t}/in/counts.txt --out {t}/in/file.txt", {}),
    ("corpus-out-under-file", "corpus --counts-file {t}/in/counts.txt --out {t}/in/file.txt/x", {}),
    ("corpus-out-unwritable", "corpus --counts-file {t}/in/counts.txt --out /proc/fair-lm-test", {}),
    ("corpus-out-other-tools-results", "corpus --counts-file {t}/in/counts.txt --out {t}/sim_results", {}),
    ("verify-out-read-only", "verify --out /sys/fair-lm-test", {}),
    ("verify-out-is-file", "verify --out {t}/in/file.txt", {}),
    ("verify-out-other-tools-results", "verify --out {t}/sim_results", {}),
    ("verify-out-damaged-config", "verify --out {t}/damaged", {}),
    ("bench-negative-seconds", "bench --max-seconds -1 --out {t}/out/bench.json", {}),
    ("bench-nan-seconds", "bench --max-seconds nan --out {t}/out/bench.json", {}),
    ("bench-unknown-case", "bench --cases nope --out {t}/out/bench.json", {}),
    ("bench-out-is-folder", "bench --cases noties --skip-cvxpy --out {t}/in", {}),
]

SIM_RUN = "run --no-progress --config {t}/in/c.toml --out {t}/out"
SIMULATIONS = [
    ("run-lambdas-number", SIM_RUN, sim_cfg(lambdas=0.001)),
    ("run-seeds-number", SIM_RUN, sim_cfg(seeds=3)),
    ("run-models-string", SIM_RUN, sim_cfg(models="mlp")),
    ("run-steps-number", SIM_RUN, sim_cfg(steps=5)),
    ("run-lr-list", SIM_RUN, sim_cfg(lr=[0.1])),
    ("run-V-list", SIM_RUN, sim_cfg(V=[6])),
    ("run-empty-lambdas", SIM_RUN, sim_cfg(lambdas=[])),
    ("run-empty-seeds", SIM_RUN, sim_cfg(seeds=[])),
    ("run-empty-models", SIM_RUN, sim_cfg(models=[])),
    ("run-nan-lambda", SIM_RUN, sim_cfg(lambdas=[0.0, float("nan")])),
    ("run-nan-alpha", SIM_RUN, sim_cfg(alpha=float("nan"))),
    ("run-nan-noise", SIM_RUN, sim_cfg(noise=float("nan"))),
    ("run-duplicated-seeds", SIM_RUN, sim_cfg(seeds=[0, 0])),
    ("run-duplicated-lambdas", SIM_RUN, sim_cfg(lambdas=[0.001, 0.001])),
    ("run-duplicated-models", SIM_RUN, sim_cfg(models=["ufm-relu", "ufm-relu"])),
    ("run-fractional-seed", SIM_RUN, sim_cfg(seeds=[0.5])),
    ("run-negative-seed", SIM_RUN, sim_cfg(seeds=[-1])),
    ("run-string-total", SIM_RUN, sim_cfg(total="many")),
    ("run-missing-counts-file", SIM_RUN, sim_cfg(counts="{t}/in/missing.npy")),
    ("run-unknown-device", SIM_RUN + " --device gpu0", sim_cfg()),
    ("run-unavailable-device", SIM_RUN + " --device cuda:99", sim_cfg()),
    ("run-zero-threads", SIM_RUN + " --threads 0", sim_cfg()),
    ("run-out-is-file", "run --no-progress --config {t}/in/c.toml --out {t}/in/file.txt", sim_cfg()),
    ("run-out-unwritable", "run --no-progress --config {t}/in/c.toml --out /proc/fair-lm-test", sim_cfg()),
    ("run-out-damaged-config", "run --no-progress --config {t}/in/c.toml --out {t}/damaged", sim_cfg()),
    ("run-out-other-config", "run --no-progress --config {t}/in/c.toml --out {t}/sim_results", sim_cfg()),
    ("mitigation-duplicated-seeds", "mitigation --no-progress --config {t}/in/c.toml --out {t}/out",
     sim_cfg(seeds=[1, 1])),
    ("mitigation-unknown-device", "mitigation --no-progress --config {t}/in/c.toml --out {t}/out --device tpu",
     sim_cfg()),
    ("scale-repeated-lambdas", "scale --counts zipf --V 8 --lambdas 0.01,0.01 --out {t}/out", {}),
    ("scale-negative-theory-seconds", "scale --counts zipf --V 8 --lambdas 0.01 --theory-seconds -1 --out {t}/out",
     {}),
    ("scale-nan-theory-seconds", "scale --counts zipf --V 8 --lambdas 0.01 --theory-seconds nan --out {t}/out", {}),
    ("scale-nan-max-seconds", "scale --counts zipf --V 8 --lambdas 0.01 --max-seconds nan --out {t}/out", {}),
    ("scale-negative-max-seconds", "scale --counts zipf --V 8 --lambdas 0.01 --max-seconds -5 --out {t}/out", {}),
    ("scale-V-one", "scale --counts zipf --V 1 --lambdas 0.01 --out {t}/out", {}),
    ("scale-empty-npy", "scale --counts {t}/in/empty.npy --lambdas 0.01 --out {t}/out", {}),
    ("scale-empty-npz", "scale --counts {t}/in/empty.npz --lambdas 0.01 --out {t}/out", {}),
    ("scale-unknown-device", "scale --counts zipf --V 8 --lambdas 0.01 --device cpu:x --out {t}/out", {}),
    ("scale-out-read-only", "scale --counts zipf --V 8 --lambdas 0.01 --out /sys/fair-lm-test", {}),
    ("scale-out-is-file", "scale --counts zipf --V 8 --lambdas 0.01 --out {t}/in/file.txt", {}),
    ("languages-out-is-file", "languages --out {t}/in/file.txt", {}),
    ("languages-out-other-tools-results", "languages --out {t}/sim_results", {}),
    ("bench-repeated-sizes", "bench --sizes 100,100 --max-seconds 1", {}),
    ("bench-nan-seconds", "bench --sizes 10 --max-seconds nan", {}),
    ("bench-out-is-folder", "bench --sizes 10 --max-seconds 1 --out {t}/in", {}),
]

LM_SWEEP = "sweep --config {t}/in/lm.toml --out {t}/out"


def lm_cfg(**over):
    return {"lm.toml": over}


LM = [
    ("sweep-duplicated-seeds", LM_SWEEP, lm_cfg(seeds=[0, 0])),
    ("sweep-duplicated-lambdas", LM_SWEEP, lm_cfg(lambdas=[1.0, 1.0])),
    ("sweep-fractional-seed", LM_SWEEP, lm_cfg(seeds=[0.5])),
    ("sweep-nan-lambda", LM_SWEEP, lm_cfg(lambdas=[0.0, float("nan")])),
    ("sweep-lambdas-number", LM_SWEEP, lm_cfg(lambdas=1.0)),
    ("sweep-seeds-number", LM_SWEEP, lm_cfg(seeds=0)),
    ("sweep-empty-lambdas", LM_SWEEP, lm_cfg(lambdas=[])),
    ("sweep-train-number", LM_SWEEP, lm_cfg(train=5)),
    ("sweep-regimes-number", LM_SWEEP, lm_cfg(regimes=3)),
    ("sweep-regime-number", LM_SWEEP, lm_cfg(regimes={"a": 3})),
    ("sweep-string-boolean", LM_SWEEP, lm_cfg(train={**lm_base(Path("x"))["train"], "keep_checkpoint": "no"})),
    ("sweep-nan-lr", LM_SWEEP, lm_cfg(train={**lm_base(Path("x"))["train"], "lr": float("nan")})),
    ("sweep-unknown-device", LM_SWEEP, lm_cfg(train={**lm_base(Path("x"))["train"], "device": "gpu"})),
    ("sweep-unstable-decay", LM_SWEEP, lm_cfg(lambdas=[0.0, 500.0])),
    ("sweep-negative-budget", LM_SWEEP + " --budget-minutes -1", lm_cfg()),
    ("sweep-nan-budget", LM_SWEEP + " --budget-minutes nan", lm_cfg()),
    ("sweep-out-is-file", "sweep --config {t}/in/lm.toml --out {t}/in/file.txt", lm_cfg()),
    ("sweep-out-damaged-config", "sweep --config {t}/in/lm.toml --out {t}/damaged", lm_cfg()),
    ("sweep-out-other-tools-results", "sweep --config {t}/in/lm.toml --out {t}/sim_results", lm_cfg()),
    ("sweep-out-unwritable", "sweep --config {t}/in/lm.toml --out /proc/fair-lm-test", lm_cfg()),
    ("sweep-out-read-only", "sweep --config {t}/in/lm.toml --out /sys/fair-lm-test", lm_cfg()),
    ("train-negative-seed", "train --config {t}/in/lm.toml --seed -1 --out {t}/out", lm_cfg()),
    ("train-nan-weight-decay", "train --config {t}/in/lm.toml --weight-decay nan --out {t}/out", lm_cfg()),
    ("pack-into-other-tools-results", "pack --sweep {t}/sweep --out {t}/sim_results", {}),
    ("pack-nan-cap", "pack --sweep {t}/sweep --out {t}/out --per-token-cap-mib nan", {}),
    ("pack-negative-cap", "pack --sweep {t}/sweep --out {t}/out --per-token-cap-mib -1", {}),
    ("pack-out-is-file", "pack --sweep {t}/sweep --out {t}/in/file.txt", {}),
    ("export-nan-size", "export --config {t}/in/lm.toml --out {t}/out --max-mib nan", lm_cfg()),
    ("export-negative-size", "export --config {t}/in/lm.toml --out {t}/out --max-mib -1", lm_cfg()),
    ("stats-repeated-sizes", "stats --corpus files:{t}/in/corpus.txt --sizes 300,300 --out {t}/out", {}),
    ("stats-out-other-tools-results", "stats --corpus files:{t}/in/corpus.txt --sizes 300 --out {t}/sim_results",
     {}),
    ("prepare-tiny-vocab", "prepare --corpus files:{t}/in/corpus.txt --vocab-size 3 --out {t}/out", {}),
    ("bench-unknown-device", "bench --device gpu --steps 1", {}),
    ("bench-zero-steps", "bench --steps 0", {}),
    ("bench-repeated-batch-sizes", "bench --batch-sizes 2,2 --steps 1", {}),
]

PAPER_FIGURES = [
    ("findings-results-is-file", "findings --results {t}/in/file.txt", {}),
    ("findings-results-missing", "findings --results {t}/nothing", {}),
    ("findings-out-is-file", "findings --results {t}/sim_results --out {t}/in/file.txt", {}),
    ("report-out-is-file", "report --results {t}/sim_results --out {t}/in/file.txt", {}),
    ("report-out-other-tools-results", "report --results {t}/in --out {t}/sim_results", {}),
    ("report-out-unwritable", "report --results {t}/in --out /proc/fair-lm-test", {}),
    ("docs-out-damaged-config", "docs --results {t}/in --out {t}/damaged", {}),
    ("fig1-results-missing", "fig1 --results {t}/nothing --out {t}/out", {}),
]


def _main(cli: str):
    import importlib

    return importlib.import_module(f"{cli}.cli").main


CASES = [(cli, *case) for cli, table in (("theory", THEORY), ("simulations", SIMULATIONS), ("lm_experiments", LM),
                                         ("paper_figures", PAPER_FIGURES)) for case in table]


class _StillRunning(BaseException):
    """Raised by the alarm when a case runs past CASE_SECONDS."""


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) + ("/" if p.is_dir() else f" {p.stat().st_size}")
                  for p in root.rglob("*"))


def run_case(root: Path, cli: str, argv: str, files: dict) -> dict:
    """Run one case in `root` (prepared by make_inputs); {"code", "stderr", "before", "after", "outcome"}."""
    for name, content in files.items():
        if name == "lm.toml":
            content = toml(lm_base(root / "in" / "corpus.txt"), **content)
        (root / "in" / name).write_text(content.replace("{t}", str(root)))
    before = listing(root)
    err, out = io.StringIO(), io.StringIO()
    code, outcome = None, None

    def alarm(*_):
        raise _StillRunning

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    cwd = os.getcwd()
    try:
        os.chdir(root)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = _main(cli)(argv.replace("{t}", str(root)).split())
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    except _StillRunning:
        outcome = "still running"
    except Exception as exc:  # noqa: BLE001 -- an uncaught exception is what the table looks for
        outcome = "traceback"
        err.write(f"Traceback: {type(exc).__name__}: {exc}\n")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
    after = listing(root)
    text = err.getvalue()
    if outcome is None:
        if "Traceback" in text:
            outcome = "traceback"
        elif code == 2 and len(text.splitlines()) == 1 and before == after:
            outcome = "clean"
        elif code == 2:
            outcome = "error but not clean"
        else:
            outcome = "accepted"
    return {"code": code, "stderr": text, "before": before, "after": after, "outcome": outcome}


@pytest.fixture
def case_root(tmp_path):
    make_inputs(tmp_path)
    return tmp_path


@pytest.mark.parametrize("cli,name,argv,files", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case_root, cli, name, argv, files):
    r = run_case(case_root, cli, argv, files)
    assert r["outcome"] != "still running", f"{name}: still running after {CASE_SECONDS} s"
    assert "Traceback" not in r["stderr"], r["stderr"]
    assert r["code"] == 2, (r["code"], r["stderr"])
    assert len(r["stderr"].splitlines()) == 1, r["stderr"]
    assert r["stderr"].startswith("error: "), r["stderr"]
    assert r["before"] == r["after"], sorted(set(r["after"]) ^ set(r["before"]))


def test_the_table_covers_at_least_sixty_cases_over_the_four_clis():
    assert len(CASES) >= 60
    assert {c[0] for c in CASES} == {"theory", "simulations", "lm_experiments", "paper_figures"}


if __name__ == "__main__":
    import tempfile
    from collections import Counter

    sys.path.insert(0, str(Path(__file__).parents[1]))
    counts: dict = {}
    for cli, name, argv, files in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            make_inputs(Path(tmp))
            r = run_case(Path(tmp), cli, argv, files)
        counts.setdefault(cli, Counter())[r["outcome"]] += 1
        line = r["stderr"].strip().splitlines()
        print(f"{cli:15s} {name:34s} {r['outcome']:20s} code={r['code']} {line[-1][:110] if line else ''}",
              flush=True)
    for cli, c in counts.items():
        print(cli, dict(c))
    print("total", dict(sum(counts.values(), Counter())))
