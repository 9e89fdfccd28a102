"""theory.ufm.solve: one result type for every solver, one set of model names, Problem.from_scale."""

import math

import numpy as np
import pytest
from conftest import counts_st, scale_st
from hypothesis import given, settings
from hypothesis import strategies as st

from plumbing.errors import InputError
from theory.ufm.nonconvex import objective_and_grad, solve_nonconvex, spurious_minima
from theory.ufm.problem import Problem
from theory.ufm.relu import relu_closed_form
from theory.ufm.solve import METHODS, MODELS, SolverResult, solve
from theory.ufm.unconstrained import solve_unconstrained


@settings(max_examples=25)
@given(counts_st, scale_st)
def test_each_model_returns_a_solver_result_with_the_right_gap(counts, c):
    p = Problem.from_scale(counts, c)
    relu = solve(p, "ufm-relu")
    unc = solve(p, "ufm-unconstrained", tol=1e-9, time_limit=5)
    assert isinstance(relu, SolverResult) and isinstance(unc, SolverResult)
    assert (relu.model, unc.model) == ("ufm-relu", "ufm-unconstrained")
    # the relu closed form is exact: its lower bound is its objective, gap 0
    assert relu.gap == 0.0 and relu.lower_bound == relu.objective
    want = relu_closed_form(p)
    assert np.array_equal(relu.per_class_loss, want.per_class_loss) and relu.objective == want.objective
    # the certified solver: gap = objective - lower_bound with its sign (never clipped: at most rounding below
    # 0), met, and the bound lies below both minima
    assert unc.gap == unc.objective - unc.lower_bound and -1e-12 * max(1.0, unc.objective) <= unc.gap <= 1e-9
    assert unc.lower_bound <= relu.objective + 1e-12
    assert unc.objective == solve_unconstrained(p, tol=1e-9, time_limit=5).objective
    for r in (relu, unc):
        n, loss = p.counts, r.per_class_loss
        assert loss.dtype == np.float64 and loss.shape == (p.V,) and not loss.flags.writeable
        assert r.average_loss == pytest.approx(n @ loss / n.sum(), rel=1e-12)
        assert r.balanced_loss == pytest.approx(loss.mean(), rel=1e-12)
        assert r.balanced_loss >= r.average_loss - 1e-12 or not np.all(np.diff(loss[np.argsort(n)]) <= 0)
        assert isinstance(r.method, str) and r.method


@pytest.mark.parametrize("model, method, counts", [
    ("ufm-relu", "auto", [50.0, 20.0, 7.0, 3.0, 1.0]),
    ("ufm-unconstrained", "auto", [50.0, 20.0, 7.0, 3.0, 1.0]),
    ("ufm-unconstrained", "closed-form", [4.0, 4.0, 4.0, 4.0]),
    ("ufm-relu", "lbfgs", [50.0, 20.0, 7.0, 3.0, 1.0]),
])
def test_primal_arrays_attain_the_objective(model, method, counts):
    p = Problem.from_scale(np.array(counts), 0.6, 7)
    r = solve(p, model, method=method, primal=True, tol=1e-11)
    W, H, Z = r.arrays["W"], r.arrays["H"], r.arrays["Z"]
    assert W.shape == (p.V, 7) and H.shape == (7, p.V)
    assert np.allclose(W @ H, Z, atol=1e-10)
    assert objective_and_grad(p, W, H)[0] == pytest.approx(r.objective, abs=1e-9)
    if model == "ufm-relu":
        assert np.all(H >= 0)


def test_balanced_closed_form_agrees_with_the_certified_solver():
    p = Problem.from_scale(np.full(5, 3.0), 0.4)
    closed = solve(p, "ufm-unconstrained", method="closed-form")
    cert = solve(p, "ufm-unconstrained", method="convex", tol=1e-11)
    assert closed.gap == 0.0 and abs(cert.objective - closed.objective) <= cert.gap + 1e-12
    assert np.allclose(closed.per_class_loss, cert.per_class_loss, atol=1e-5)
    assert not closed.info["collapsed"].any()
    collapsed = solve(Problem.from_scale(np.full(5, 3.0), 5.0), "ufm-unconstrained", method="closed-form")
    assert collapsed.info["collapsed"].all() and np.allclose(collapsed.per_class_loss, math.log(5))


def test_lbfgs_reports_its_restarts_and_no_certificate():
    p = Problem.from_scale(np.array([12.0, 6.0, 4.0, 3.0]), 0.8, 2)  # d < V: only lbfgs applies
    r = solve(p, "ufm-relu", method="lbfgs", restarts=3, seed=4)
    nc = solve_nonconvex(p, "ufm-relu", restarts=3, seed=4)
    assert r.objective == nc.objective and r.info["restart_objectives"] == nc.restart_objectives
    assert r.lower_bound == 0.0 and r.gap == r.objective and r.info["iterations"] == nc.iterations
    exact = solve(Problem.from_scale(p.counts, 0.8), "ufm-relu").objective
    assert spurious_minima(r, exact, 1e-6) == spurious_minima(nc, exact, 1e-6)
    with pytest.raises(InputError, match="d must be >= V"):
        solve(p, "ufm-relu")


@pytest.mark.parametrize("model, kwargs, match", [
    ("relu", {}, "ufm-relu"),  # the old CLI names are not models
    ("unconstrained", {}, "ufm-unconstrained"),
    ("ufm-relu", {"method": "newton"}, "method must be one of"),
    ("ufm-relu", {"method": "convex"}, "does not apply to ufm-relu"),
])
def test_bad_model_or_method_is_an_input_error(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        solve(Problem([3.0, 1.0], 0.1, 0.1), model, **kwargs)


def test_unequal_counts_have_no_unconstrained_closed_form():
    with pytest.raises(InputError, match="equal counts"):
        solve(Problem([3.0, 1.0], 0.1, 0.1), "ufm-unconstrained", method="closed-form")


@given(counts_st, st.floats(0.0, 5.0, allow_subnormal=False), st.none() | st.integers(8, 12))
def test_from_scale_sets_lambda_to_c_over_n(counts, c, d):
    p = Problem.from_scale(counts, c, d)
    assert p.lambda_w == p.lambda_h == c / counts.sum()
    assert p.d == (counts.size if d is None else d)
    assert p.lambda_w * p.N == pytest.approx(c, rel=1e-12, abs=0)


@pytest.mark.parametrize("c", [-0.1, float("nan"), float("inf"), "x"])
def test_from_scale_refuses_a_bad_scale(c):
    with pytest.raises(InputError, match="c must be"):
        Problem.from_scale([3.0, 1.0], c)


def test_one_set_of_model_names_across_the_toolkit():
    from simulations.config import MODELS as SIM_MODELS
    from theory.ufm.nonconvex import projected_gradient_norm

    assert MODELS == ("ufm-unconstrained", "ufm-relu") and set(MODELS) <= set(SIM_MODELS)
    assert METHODS[0] == "auto"
    for m in MODELS:
        projected_gradient_norm(m, np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))  # accepted
