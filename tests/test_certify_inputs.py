"""Certificates refuse what they cannot stand behind (issue 27, item 3): each bad input ends with exit 2, exactly
one stderr line, no traceback and no file left; `simulations scale` never stores or reuses an uncertified optimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from plumbing.schemas import SIM_SCALE_OPTIMA, SIM_SCALE_THEORY
from simulations.cli import main as sim_main
from theory.cli import main as theory_main
from theory.ufm.counts import zipf_counts

COUNTS = "100,50,20,5,5,1,1"
PROBLEM = ("--counts", COUNTS, "--lambda-w", "0.01", "--lambda-h", "0.02")


def _refused(capsys, code: int, needle: str) -> None:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err and out == ""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("cert") / "sol.npz"
    assert theory_main(["solve", "--model", "ufm-unconstrained", *PROBLEM, "--json", "--save-solution", str(path)]) == 0
    return path


def _tampered(saved, tmp_path, **changes):
    data = dict(np.load(saved))
    bad = tmp_path / "bad.npz"
    np.savez(bad, **(data | changes))
    return bad


def test_the_saved_solution_certifies(saved, capsys):
    capsys.readouterr()
    assert theory_main(["certify", str(saved), *PROBLEM, "--json"]) == 0


@pytest.mark.parametrize("args, needle", [
    (("--counts", "100,50,20,5,5,1,2", "--lambda-w", "0.01", "--lambda-h", "0.02"), "other counts"),
    (("--counts", "100,50,20,5,5,1", "--lambda-w", "0.01", "--lambda-h", "0.02"), "other counts"),
    (("--counts", COUNTS, "--lambda-w", "0.02", "--lambda-h", "0.02"), "lambda_w = 0.01"),
    (("--counts", COUNTS, "--lambda-w", "0.01", "--lambda-h", "0.03"), "lambda_h = 0.02"),
    ((*PROBLEM, "--tol", "inf"), "--tol must be a finite number > 0, got inf"),
    ((*PROBLEM, "--tol", "nan"), "--tol must be a finite number > 0, got nan"),
    ((*PROBLEM, "--tol", "-0.5"), "--tol must be a finite number > 0, got -0.5"),
    ((*PROBLEM, "--tol", "0"), "--tol must be a finite number > 0"),
])
def test_certify_refuses_another_problem_or_a_gap_above_tol(saved, capsys, args, needle):
    capsys.readouterr()
    _refused(capsys, theory_main(["certify", str(saved), *args]), needle)


@pytest.mark.parametrize("key, value, needle", [
    ("objective", np.nan, "claims objective nan"),
    ("lower_bound", np.nan, "claims lower_bound nan"),
    ("lower_bound", -np.inf, "claims lower_bound -inf"),
    ("index", np.array([0.0, 1, 2, 3, 3, 4, 4]), "index must hold integers"),
    ("index", np.array([0, 1, 2, 3, 3, 4, 5]), "outside 0..4"),
    ("index", np.array([0, 1, 2, 3, 3, 4, -1]), "outside 0..4"),
    ("index", np.array([0, 1, 2, 3, 3, 4]), "does not fit V = 7"),
    ("index", np.array([0, 1, 2, 2, 2, 4, 4]), "a group has no class"),
    ("counts", np.array([100.0, 50, 20, 5, 5, 1, 3]), "other counts"),
])
def test_certify_refuses_nan_claims_and_a_malformed_index(saved, tmp_path, capsys, key, value, needle):
    bad = _tampered(saved, tmp_path, **{key: value})
    capsys.readouterr()
    _refused(capsys, theory_main(["certify", str(bad), *PROBLEM]), needle)


def test_certify_refuses_a_point_whose_gap_is_above_tol(saved, tmp_path, capsys):
    data = np.load(saved)
    # a feasible, honest but worse primal point: the claims hold (objective claimed above it), the gap does not
    bad = _tampered(saved, tmp_path, A=0.9 * data["A"], B=0.9 * data["B"], objective=10.0)
    capsys.readouterr()
    _refused(capsys, theory_main(["certify", str(bad), *PROBLEM]), "above --tol 1e-09")
    assert theory_main(["certify", str(bad), *PROBLEM, "--tol", "1"]) == 0  # the same file, a looser tolerance


def test_certify_refuses_a_file_that_is_not_a_certificate(tmp_path, capsys):
    for name, content in (("empty.npz", b""), ("text.npz", b"not a zip"), ("half.npz", b"PK\x03\x04xx")):
        (tmp_path / name).write_bytes(content)
        _refused(capsys, theory_main(["certify", str(tmp_path / name), *PROBLEM]), "cannot read solution file")
    np.savez(tmp_path / "partial.npz", A=np.zeros((2, 2)))
    _refused(capsys, theory_main(["certify", str(tmp_path / "partial.npz"), *PROBLEM]), "cannot read solution file")


@pytest.mark.parametrize("args, needle", [
    (("--tol", "inf"), "--tol must be a finite number > 0, got inf"),
    (("--tol", "nan"), "--tol must be a finite number > 0, got nan"),
    (("--tol", "-1"), "--tol must be a finite number > 0, got -1.0"),
    (("--time-limit", "nan"), "--time-limit (seconds) must be a finite number > 0, got nan"),
    (("--time-limit", "inf"), "--time-limit (seconds) must be a finite number > 0, got inf"),
    (("--time-limit", "-1"), "--time-limit (seconds) must be a finite number > 0"),
])
def test_solve_refuses_non_finite_or_negative_tolerances_and_limits(tmp_path, capsys, args, needle):
    target = tmp_path / "sol.npz"
    code = theory_main(["solve", "--model", "ufm-unconstrained", *PROBLEM, *args, "--save-solution", str(target)])
    _refused(capsys, code, needle)
    assert list(tmp_path.iterdir()) == []


def test_save_solution_refuses_a_folder_before_solving(tmp_path, capsys):
    folder = tmp_path / "certs"
    folder.mkdir()
    code = theory_main(["solve", "--model", "ufm-unconstrained", *PROBLEM, "--save-solution", str(folder)])
    _refused(capsys, code, "must be a file path, got the folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["certs"] and list(folder.iterdir()) == []


def test_save_solution_writes_exactly_the_path_given_and_no_temporary(tmp_path, capsys):
    target = tmp_path / "solution.cert"  # no .npz suffix: np.savez given this name would write solution.cert.npz
    assert theory_main(["solve", "--model", "ufm-unconstrained", *PROBLEM, "--save-solution", str(target)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["solution.cert"]
    capsys.readouterr()
    assert theory_main(["certify", str(target), *PROBLEM]) == 0


def _scale(out, *extra, lambdas="1e-3"):
    return sim_main(["scale", "--counts", "zipf", "--V", "30", "--lambdas", lambdas, "--out", str(out),
                     "--theory-only", *extra])


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf", "0"])
def test_scale_refuses_a_time_limit_that_is_not_positive_and_finite(tmp_path, capsys, seconds):
    _refused(capsys, _scale(tmp_path / "o", "--theory-seconds", seconds),
             "--theory-seconds must be a finite number > 0")
    assert list(tmp_path.iterdir()) == []


def test_scale_stores_nothing_when_the_theory_cannot_certify_in_time(tmp_path, capsys):
    counts = tmp_path / "counts.npy"
    np.save(counts, zipf_counts(1000, 1.0, total=1e6))  # ~600 groups: far from gap 1e-8 after 1 ms
    out = tmp_path / "o"
    code = sim_main(["scale", "--counts", str(counts), "--lambdas", "1e-5", "--out", str(out), "--theory-only",
                     "--theory-seconds", "0.001"])
    _refused(capsys, code, "not certified, nothing stored")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counts.npy"]


def test_scale_solves_again_instead_of_reusing_an_uncertified_optimum(tmp_path, capsys):
    out = tmp_path / "o"
    assert _scale(out, lambdas="1e-3,1e-2") == 0
    optima = pd.read_csv(out / SIM_SCALE_OPTIMA.name)
    good = optima["duality_gap"].copy()
    assert (good <= 1e-8).all()
    optima.loc[0, "duality_gap"] = 0.83  # what an older version stored for --theory-seconds -1
    optima.to_csv(out / SIM_SCALE_OPTIMA.name, index=False)
    capsys.readouterr()
    assert _scale(out, lambdas="1e-3,1e-2") == 0
    assert "theory lambda 0.001" in capsys.readouterr().out  # solved again
    again = pd.read_csv(out / SIM_SCALE_OPTIMA.name)
    assert (again["duality_gap"] <= 1e-8).all() and list(again["lambda"]) == [1e-3, 1e-2]
    assert (out / SIM_SCALE_THEORY.name).is_file()
    assert _scale(out, lambdas="1e-3,1e-2") == 0
    assert "theory lambda" not in capsys.readouterr().out  # certified now: reused
