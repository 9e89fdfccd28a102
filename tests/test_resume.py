"""Kill and resume (issue 27): a job killed (SIGKILL, or Ctrl-C = SIGINT) after its first finished unit and then
rerun with the same command ends with tables byte-identical to those of an uninterrupted run -- for the LM
sweep (unit: a run; slow), the simulation grid (unit: a model x optimizer part; slow) and `simulations scale`
(unit: the certified theory stage; stopped by Ctrl-C). Columns that time the work (wall seconds) are the only
ones left out of the comparison. Ctrl-C ends with status 130 and one line; the lock a killed job leaves behind
is taken over by the rerun. The killed job is a subprocess; the reference run and the rerun run in-process.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from test_bad_inputs import SIM_BASE, lm_base, make_inputs, toml

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("wall_s_batch", "wall_seconds", "seconds", "theory_seconds")  # how long, not what: left out


def table_bytes(path: Path) -> bytes:
    """The file's CSV bytes with the timing columns dropped (re-serialised by pandas, same for both runs)."""
    raw = path.read_bytes()
    text = gzip.decompress(raw) if path.suffix == ".gz" else raw
    df = pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)
    return df.drop(columns=[c for c in TIMING if c in df.columns]).to_csv(index=False).encode()


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def stop_after(proc: subprocess.Popen, first_unit, sig: int, timeout: float = 120.0) -> None:
    """Send `sig` to `proc` as soon as first_unit() holds; the process must still be running then (otherwise the
    test would not test an interruption)."""
    t0 = time.monotonic()
    while not first_unit():
        assert proc.poll() is None, f"ended before its first unit: {proc.stderr.read()}"
        assert time.monotonic() - t0 < timeout, "no unit finished in time"
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it could be interrupted: make its config larger"
    proc.send_signal(sig)
    proc.wait(timeout=60)


def run(args: list[str]) -> subprocess.CompletedProcess:
    """The command run in this process (the uninterrupted reference and the rerun: no interpreter start)."""
    import contextlib
    import importlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = importlib.import_module(f"{args[0]}.cli").main(args[1:])
    return subprocess.CompletedProcess(args, code, "", err.getvalue())


def assert_same_tables(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert table_bytes(a / name) == table_bytes(b / name), name


@pytest.fixture
def inputs(tmp_path):
    make_inputs(tmp_path)
    return tmp_path


@pytest.mark.slow  # three sweeps of two tiny runs: ~40 s of CPU
def test_lm_sweep_killed_after_its_first_run_resumes_to_the_same_tables(inputs):
    cfg = inputs / "in" / "lm.toml"
    cfg.write_text(toml(lm_base(inputs / "in" / "corpus.txt")))  # two runs: lambda 0 and 1
    ref, out = inputs / "ref", inputs / "out"
    assert run(["lm_experiments", "sweep", "--config", str(cfg), "--out", str(ref)]).returncode == 0
    proc = start(["lm_experiments", "sweep", "--config", str(cfg), "--out", str(out)])
    stop_after(proc, lambda: any(out.glob("runs/*/done.json")), signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL and not (out / "summary.csv").exists()
    assert (out / ".lock").is_file()  # left by the killed sweep: its pid is dead, so the rerun takes it over
    r = run(["lm_experiments", "sweep", "--config", str(cfg), "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert not (out / ".lock").exists()
    assert_same_tables(ref, out, ["summary.csv", "table1.csv", "learning_speed.csv", "token_stats.csv", "plan.csv"])


@pytest.mark.slow  # three grid runs: ~30 s on a loaded 2-core machine
def test_simulations_killed_after_their_first_part_resume_to_the_same_tables(inputs):
    cfg = inputs / "in" / "c.toml"
    cfg.write_text(toml(SIM_BASE, models=["ufm-relu", "mlp"], optimizers=["gd", "adam"],
                        steps={"gd": 300, "adam": 300}, checkpoints=3, input_dim=4, hidden=8))
    ref, out = inputs / "ref", inputs / "out"
    args = ["simulations", "run", "--no-progress", "--config", str(cfg), "--out"]
    assert run(args + [str(ref)]).returncode == 0
    proc = start(args + [str(out)])
    stop_after(proc, lambda: any(not p.name.startswith(".") for p in (out / "parts").glob("*__*")),
               signal.SIGKILL)  # a finished part (a part being written is a hidden temporary folder)
    assert proc.returncode == -signal.SIGKILL and not (out / "summary.csv").exists()
    done = sorted(p.name for p in (out / "parts").iterdir() if not p.name.startswith("."))
    assert 1 <= len(done) < 4
    r = run(args + [str(out)])
    assert r.returncode == 0, r.stderr
    assert_same_tables(ref, out, ["summary.csv", "per_class.csv.gz", "curves.csv", "theory.csv", "counts.csv"])


def test_simulations_scale_stopped_by_ctrl_c_says_so_in_one_line_and_resumes_to_the_same_tables(inputs):
    ref, out = inputs / "ref", inputs / "out"
    args = ["simulations", "scale", "--counts", "zipf", "--V", "40", "--lambdas", "0.003,0.01,0.03", "--out"]
    assert run(args + [str(ref)]).returncode == 0
    proc = start(args + [str(out)])
    stop_after(proc, lambda: (out / "theory.csv.gz").is_file(), signal.SIGINT)  # the theory stage is done
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and not (out / "path.csv").exists()
    lines = err.strip().splitlines()
    assert lines[-1].startswith("interrupted at ") and lines[-1].endswith("; rerun the same command to resume")
    assert not [ln for ln in lines if ln.startswith("interrupted")][:-1]  # said once
    assert not (out / ".lock").exists()
    r = run(args + [str(out)])
    assert r.returncode == 0, r.stderr
    assert_same_tables(ref, out, ["optima.csv", "theory.csv.gz", "path.csv", "per_class.csv.gz"])


def test_a_folder_in_use_by_a_live_process_is_refused_and_a_dead_ones_lock_is_taken_over(inputs):
    from plumbing.errors import InputError
    from plumbing.folder import output_folder

    out = inputs / "out"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        out.mkdir()
        (out / ".lock").write_text(f"{sleeper.pid}\n")
        r = run(["theory", "corpus", "--counts-file", str(inputs / "in" / "counts.txt"), "--out", str(out)])
        assert r.returncode == 2 and r.stderr.strip() == f"error: folder {str(out)!r} is in use by pid {sleeper.pid}"
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    finally:
        sleeper.kill()
        sleeper.wait()
    with output_folder(out):  # the sleeper is gone: its lock is stale and taken over
        assert (out / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(InputError, match=f"in use by pid {os.getpid()}"):
            with output_folder(out):
                pass
    assert not (out / ".lock").exists()


def test_ctrl_c_ends_with_status_130_and_one_line_naming_where_it_stopped(capsys):
    from plumbing.cli import run_cli

    def body():
        raise KeyboardInterrupt

    assert run_cli(body) == 130
    err = capsys.readouterr().err
    line = f"interrupted at tests/test_resume.py:{body.__code__.co_firstlineno + 1} (body); rerun the same command " \
           "to resume"
    assert err == line + "\n"
