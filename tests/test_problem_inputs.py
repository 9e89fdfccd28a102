"""Bad input to `python -m theory` and to theory.ufm.problem: each case exits non-zero with one line naming the
value and what is allowed (theory.ufm.problem's docstring states the rules)."""

import subprocess
import sys

import numpy as np
import pytest

from plumbing.errors import InputError
from theory.ufm.counts import parse_counts, read_counts_file
from theory.ufm.problem import MIN_SHARE, MU_CAP_FACTOR, Problem, check_counts


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "theory", *args], capture_output=True, text=True, timeout=timeout, check=False)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr  # no traceback
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


LAM = ("--lambda-w", "1e-3", "--lambda-h", "1e-3")


@pytest.mark.parametrize("model", ["ufm-relu", "ufm-unconstrained"])
def test_counts_whose_sum_overflows(model):
    one_line_error(run("solve", "--model", model, "--counts", "1e308,1e308,1", *LAM), "finite sum", "overflows")


def test_two_dimensional_npy_is_refused_not_flattened(tmp_path):
    f = tmp_path / "c.npy"
    np.save(f, np.ones((3, 4)))
    one_line_error(run("solve", "--model", "ufm-relu", "--counts-file", str(f), *LAM), "1-D", "(3, 4)")
    with pytest.raises(InputError, match="1-D"):
        check_counts([[1.0, 2.0], [3.0, 4.0]])


def test_complex_npy_is_refused_not_cast(tmp_path):
    f = tmp_path / "c.npy"
    np.save(f, np.array([1 + 0j, 2, 3]))
    one_line_error(run("solve", "--model", "ufm-relu", "--counts-file", str(f), *LAM), "complex")
    with pytest.raises(InputError, match="real"):
        check_counts(np.array([True, False, True]))


def test_counts_below_the_minimum_share_are_refused():
    line = one_line_error(run("solve", "--model", "ufm-unconstrained", "--counts", "100,10,1e-300", *LAM),
                          "counts[2] = 1e-300", "1e-09 N")
    assert "3.75e142" not in line
    with pytest.raises(InputError, match="counts\\[1\\]"):
        Problem([1.0, 0.99 * MIN_SHARE], 0.1, 0.1)
    Problem([1.0, 1.01 * MIN_SHARE], 0.1, 0.1)  # just above the share: accepted
    check_counts([1.0, 1e-300])  # a rule of the solvers (Problem), not of counts in general
    # real token counts (count 1 next to counts of millions) are well inside the rule
    Problem(np.r_[1e7, np.ones(1000)], 1e-9, 1e-9)


def test_lambda_beyond_total_collapse_is_refused_quickly():
    one_line_error(run("solve", "--model", "ufm-unconstrained", "--counts", "100,10,1", "--lambda-w", "1e308",
                       "--lambda-h", "1e308", timeout=30), "sqrt(lambda_w lambda_h)", "collapsed")
    counts = np.array([100.0, 10.0, 1.0])
    cap = MU_CAP_FACTOR * np.sqrt(100.0) / 111.0
    Problem(counts, cap * 0.999, cap * 0.999)  # up to the cap: accepted (every class collapsed there)
    with pytest.raises(InputError, match="too large"):
        Problem(counts, cap * 1.01, cap * 1.01)
    Problem(counts, 1e308, 1e-308)  # a large lambda_w with a tiny lambda_h is fine: only the product counts


def test_lambdas_up_to_the_cap_give_the_all_collapsed_answer():
    from theory.ufm.solve import solve

    counts = np.array([100.0, 10.0, 1.0])
    lam = 0.5 * MU_CAP_FACTOR * np.sqrt(100.0) / 111.0
    for model in ("ufm-relu", "ufm-unconstrained"):
        r = solve(Problem(counts, lam, lam), model)
        assert np.allclose(r.per_class_loss, np.log(3), atol=1e-12) and np.isfinite(r.objective)


def test_memory_estimate_before_allocating():
    p = Problem(np.arange(1, 30_001, dtype=float), 1e-9, 1e-9)
    assert p.n_groups == 30_000
    need = p.memory_estimate("ufm-unconstrained")
    assert need > 1e12  # ~175 g^2 float64 for g = 30,000 distinct counts
    with pytest.raises(InputError, match="GiB"):
        p.check_memory("ufm-unconstrained", available=64 * 2**30)
    assert p.memory_estimate("ufm-relu") < 1e7  # the relu closed form is O(V)
    assert p.check_memory("ufm-relu", available=64 * 2**30) == p.memory_estimate("ufm-relu")
    small = Problem(np.repeat([5.0, 1.0], 15_000), 1e-9, 1e-9)  # two distinct counts: tiny reduced problem
    assert small.memory_estimate("ufm-unconstrained") < 1e7
    assert small.memory_estimate("ufm-unconstrained", primal=True) > 8 * 15_000**2  # V x V logits


def test_solve_piped_into_head_ends_quietly():
    cmd = (f"{sys.executable} -m theory solve --model ufm-relu --counts-file {{f}} --lambda-w 1e-6 --lambda-h 1e-6"
           " | head -1")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        f = f"{d}/c.txt"
        with open(f, "w") as fh:
            fh.write("\n".join(str(x) for x in range(20_000, 0, -1)))
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd.format(f=f)], capture_output=True, text=True,
                           timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("model ufm-relu") and len(r.stdout.splitlines()) == 1
    assert r.stderr == ""  # no BrokenPipe traceback


def test_counts_files_and_lists_go_through_the_same_rules(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("10\n1e-300\n")
    for counts in (read_counts_file(f), parse_counts("10,1e-300")):
        with pytest.raises(InputError, match="1e-300"):
            Problem(counts, 1e-3, 1e-3)


def test_solve_refuses_a_problem_too_large_for_memory_before_allocating_it():
    import numpy as np

    from theory.ufm.solve import solve

    p = Problem(np.arange(1, 30001, dtype=float), 1e-5, 1e-5)
    with pytest.raises(InputError, match=r"30000 distinct counts needs about .* GiB"):
        solve(p, "ufm-unconstrained")
