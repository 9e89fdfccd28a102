"""The command-line contract of `python -m theory` (other tools parse its JSON)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from theory.ufm.problem import Problem
from theory.ufm.relu import relu_closed_form

KEYS = {"model", "counts", "lambda_w", "lambda_h", "d", "per_class_loss", "objective", "average_loss",
        "balanced_loss", "method", "lower_bound", "duality_gap"}


def run(*args):
    return subprocess.run([sys.executable, "-m", "theory", *args], capture_output=True, text=True, timeout=300)


def solve_json(*args):
    r = run(*args, "--json")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1  # exactly one JSON object
    return json.loads(lines[0])


def test_solve_unconstrained_follows_the_contract():
    out = solve_json("solve", "--model", "ufm-unconstrained", "--counts", "100,50,20,5,1",
                     "--lambda-w", "0.01", "--lambda-h", "0.01")
    assert KEYS | {"iterations", "seconds"} <= set(out) and out["model"] == "ufm-unconstrained"
    assert out["counts"] == [100, 50, 20, 5, 1] and -1e-12 <= out["duality_gap"] <= 1e-9
    assert out["duality_gap"] == out["objective"] - out["lower_bound"]
    loss, n = np.array(out["per_class_loss"]), np.array(out["counts"])
    assert out["average_loss"] == pytest.approx(n @ loss / n.sum())
    assert out["balanced_loss"] == pytest.approx(loss.mean())
    assert np.all(np.diff(loss) > 0)  # rarer classes, listed later, have higher loss


def test_per_class_loss_follows_the_order_given():
    a = solve_json("solve", "--model", "ufm-unconstrained", "--counts", "100,50,20,5,1", "--lambda-w", "0.01",
                   "--lambda-h", "0.02")
    b = solve_json("solve", "--model", "ufm-unconstrained", "--counts", "1,5,20,50,100", "--lambda-w", "0.01",
                   "--lambda-h", "0.02")
    assert np.allclose(a["per_class_loss"][::-1], b["per_class_loss"], atol=1e-6)


def test_solve_relu_is_the_closed_form(tmp_path):
    out = solve_json("solve", "--model", "ufm-relu", "--counts", "100,50,20,5,1", "--lambda-w", "0.002",
                     "--lambda-h", "0.003", "--d", "7")
    want = relu_closed_form(Problem(np.array([100, 50, 20, 5, 1.0]), 0.002, 0.003, 7))
    assert KEYS <= set(out) and out["d"] == 7 and out["model"] == "ufm-relu"
    assert np.allclose(out["per_class_loss"], want.per_class_loss) and out["objective"] == pytest.approx(want.objective)
    assert out["duality_gap"] == 0.0 and out["lower_bound"] == out["objective"]  # exact: no gap
    assert out["collapsed"] == [bool(x) for x in want.collapsed]
    assert solve_json("closed-form", "--model", "ufm-relu", "--counts", "100,50,20,5,1", "--lambda-w", "0.002",
                      "--lambda-h", "0.003", "--d", "7") == out  # the same closed form either way


def test_counts_file_text_and_npy_give_the_same_answer(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("# counts\n100\n50\n\n20\n5\n1\n")
    npy = tmp_path / "c.npy"
    np.save(npy, np.array([100, 50, 20, 5, 1]))
    base = ["solve", "--model", "ufm-relu", "--lambda-w", "0.001", "--lambda-h", "0.001"]
    a = solve_json(*base, "--counts", "100,50,20,5,1")
    assert solve_json(*base, "--counts-file", str(txt)) == a == solve_json(*base, "--counts-file", str(npy))


def test_closed_form_of_the_unconstrained_model_needs_equal_counts_and_the_table_output():
    out = solve_json("closed-form", "--model", "ufm-unconstrained", "--counts", "4,4,4", "--lambda-w", "0.01",
                     "--lambda-h", "0.01")
    assert KEYS <= set(out) and len(set(out["per_class_loss"])) == 1 and out["duality_gap"] == 0.0
    cert = solve_json("solve", "--model", "ufm-unconstrained", "--counts", "4,4,4", "--lambda-w", "0.01",
                      "--lambda-h", "0.01")
    assert abs(cert["objective"] - out["objective"]) <= cert["duality_gap"] + 1e-12
    r = run("closed-form", "--model", "ufm-unconstrained", "--counts", "4,2", "--lambda-w", "0.01",
            "--lambda-h", "0.01")
    assert r.returncode == 2 and "equal counts" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("closed-form", "--model", "ufm-relu", "--counts", "4,2", "--lambda-w", "0.01", "--lambda-h", "0.01")
    assert r.returncode == 0 and "objective" in r.stdout and "class" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["--counts", "5,0,1"], "counts[1] = 0.0"),
    (["--counts", "5,-2"], "counts[1] = -2.0"),
    (["--counts", "5,nan"], "counts[1] = nan"),
    (["--counts", "5"], "at least 2 classes"),
    (["--counts", "5,x"], "'x'"),
    (["--counts", "5,1", "--lambda-w", "-1"], "lambda_w"),
    (["--counts", "5,1", "--lambda-h", "nan"], "lambda_h"),
    (["--counts", "5,1,1", "--d", "2"], "d must be >= V = 3"),
    (["--counts-file", "/no/such/file"], "/no/such/file"),
    (["--counts", "5,1", "--model", "sigmoid"], "sigmoid"),
    (["--counts", "5,1", "--model", "relu"], "ufm-relu"),  # the old name: the error names the new ones
])
def test_bad_input_exits_with_one_clear_line(args, needle):
    base = {"--model": "ufm-unconstrained", "--lambda-w": "0.1", "--lambda-h": "0.1"}
    for i in range(0, len(args), 2):
        base.pop(args[i], None)
    flat = [x for kv in base.items() for x in kv]
    r = run("solve", *flat, *args)
    assert r.returncode == 2
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_unreadable_counts_file_is_refused(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("3\nfour\n")
    r = run("solve", "--model", "ufm-relu", "--counts-file", str(f), "--lambda-w", "1", "--lambda-h", "1")
    assert r.returncode == 2 and "bad.txt" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_verify_refuses_a_file_as_out_and_writes_nothing(tmp_path):
    f = tmp_path / "report"
    f.write_text("keep me")
    r = run("verify", "--out", str(f))
    assert r.returncode == 2 and "folder" in r.stderr
    assert f.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["report"]


SOLVE_ARGS = ("--model", "ufm-unconstrained", "--counts", "100,50,20,5,5,1,1", "--lambda-w", "0.01", "--lambda-h", "0.02")


def _certify(path, *extra):
    return run("certify", str(path), "--counts", "100,50,20,5,5,1,1", "--lambda-w", "0.01", "--lambda-h", "0.02",
               *extra)


def test_saved_solution_certifies_to_the_same_gap(tmp_path):
    path = tmp_path / "sol.npz"
    out = solve_json("solve", *SOLVE_ARGS, "--save-solution", str(path))
    r = _certify(path, "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    assert c["objective"] == pytest.approx(out["objective"], abs=1e-12)
    assert c["lower_bound"] == pytest.approx(out["lower_bound"], abs=1e-12)
    assert -1e-12 <= c["duality_gap"] <= 1e-9 and c["duality_gap"] == pytest.approx(out["duality_gap"], abs=1e-12)
    assert "duality gap" in _certify(path).stdout  # the table form


def test_a_tampered_certificate_is_refused(tmp_path):
    path = tmp_path / "sol.npz"
    solve_json("solve", *SOLVE_ARGS, "--save-solution", str(path))
    data = dict(np.load(path))
    for key, change in (("lower_bound", lambda d: d["lower_bound"] + 1e-6),  # a claimed bound the arrays lack
                        ("q_self", lambda d: d["q_self"] * 1.01),  # columns of Q no longer distributions
                        ("A", lambda d: d["A"] * 0.5)):  # the claimed objective is no longer attained
        bad = tmp_path / f"bad_{key}.npz"
        np.savez(bad, **(data | {key: change(data)}))
        r = _certify(bad)
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (key, r.stderr)
    r = run("certify", str(path), "--counts", "100,50,20,5,5,1,1", "--lambda-w", "0.02", "--lambda-h", "0.02")
    assert r.returncode == 2  # another problem: the bound no longer holds as claimed


def test_time_limit_is_respected_and_reported(tmp_path):
    import time

    from theory.ufm.counts import zipf_counts

    counts = tmp_path / "zipf.npy"
    np.save(counts, zipf_counts(1000, 1.0, total=1e6))
    t0 = time.perf_counter()
    r = run("solve", "--model", "ufm-unconstrained", "--counts-file", str(counts), "--lambda-w", "1e-5",
            "--lambda-h", "1e-5", "--tol", "1e-14", "--time-limit", "3", "--json")
    elapsed = time.perf_counter() - t0
    assert r.returncode == 3, r.stderr
    out = json.loads(r.stdout)
    assert out["duality_gap"] > 1e-14 and "target not met" in r.stderr.splitlines()[-1]
    assert "iteration" in r.stderr.splitlines()[0]  # the progress line of a long solve (every ~2 s)
    assert elapsed < 3 + 8  # interpreter start, grouping and the last check included
