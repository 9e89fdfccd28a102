import math

import numpy as np
import pytest
from conftest import counts_st, scale_st
from hypothesis import given, settings
from hypothesis import strategies as st

from plumbing.errors import InputError
from theory.ufm.problem import Problem
from theory.ufm.relu import relu_closed_form
from theory.ufm.balanced import balanced_closed_form, balanced_collapse_mu
from theory.ufm.dual import certify_full, certify_point
from theory.ufm.reduced import Groups, Reduced
from theory.ufm.unconstrained import solve_unconstrained
from theory.ufm.warm_start import lbfgs_start


def _p(counts, c):
    return Problem.from_scale(counts, c)


@given(counts_st, scale_st)
def test_reduced_certificate_equals_the_full_matrix_certificate(counts, c):
    p = _p(counts, c)
    s = solve_unconstrained(p, tol=1e-9, time_limit=5)
    full = certify_full(p, s.logits())
    assert full["objective"] == pytest.approx(s.objective, abs=1e-11)
    assert full["lower_bound"] == pytest.approx(s.lower_bound, abs=1e-11)
    assert np.allclose(full["per_class_loss"], s.per_class_loss, atol=1e-12)


@given(counts_st, scale_st)
def test_certified_gap_is_met_and_losses_lie_in_zero_to_log_v(counts, c):
    s = solve_unconstrained(_p(counts, c), tol=1e-8, time_limit=5)
    assert s.duality_gap <= 1e-8
    assert np.all(s.per_class_loss > 0) and np.all(s.per_class_loss <= math.log(counts.size) + 1e-9)


@given(counts_st, scale_st)
def test_unconstrained_beats_relu(counts, c):
    # H >= 0 is an extra constraint: the free-feature optimum can only be lower
    p = _p(counts, c)
    s = solve_unconstrained(p, tol=1e-9, time_limit=5)
    assert s.objective <= relu_closed_form(p).objective + 1e-9


@given(counts_st, scale_st)
def test_recovered_factors_attain_the_objective(counts, c):
    from scipy.special import logsumexp

    p = _p(counts, c)
    s = solve_unconstrained(p, tol=1e-9, time_limit=5)
    W, H = s.factors()
    Z = W @ H
    ce = logsumexp(Z, axis=0) - np.diag(Z)
    obj = p.weights @ ce + p.lambda_w / 2 * np.sum(W**2) + p.lambda_h / 2 * np.sum(H**2 * counts)
    assert obj == pytest.approx(s.objective, abs=1e-9)


@given(st.integers(2, 12), st.integers(1, 50), st.floats(0.05, 1.8))
def test_equal_counts_match_the_balanced_closed_form(V, n, frac):
    counts = np.full(V, float(n))
    lam = frac * balanced_collapse_mu(counts)
    p = Problem(counts, lam, lam)
    loss, obj = balanced_closed_form(p)
    s = solve_unconstrained(p, tol=1e-10, time_limit=5)
    assert abs(s.objective - obj) <= s.duality_gap + 1e-10
    assert np.allclose(s.per_class_loss, loss, atol=1e-4)
    if frac >= 1:
        assert np.allclose(loss, math.log(V))


def test_groups_are_the_distinct_counts():
    g = Groups.of(np.array([5.0, 1.0, 5.0, 2.0, 1.0, 1.0]))
    assert g.n.tolist() == [1.0, 2.0, 5.0] and g.m.tolist() == [3, 1, 2]
    assert g.n[g.index].tolist() == [5.0, 1.0, 5.0, 2.0, 1.0, 1.0]


def test_a_perturbed_point_has_a_larger_gap_and_a_valid_bound():
    counts = np.array([50.0, 20.0, 7.0, 3.0, 1.0])
    p = _p(counts, 0.6)
    s = solve_unconstrained(p, tol=1e-11)
    Z = s.logits() + 0.05 * np.random.default_rng(0).normal(size=(5, 5))
    c = certify_full(p, Z)
    assert c["duality_gap"] > 1e-4
    assert c["lower_bound"] <= s.objective + 1e-12 and c["objective"] >= s.lower_bound - 1e-12


cvxpy = pytest.importorskip("cvxpy")


@settings(max_examples=6)
@given(st.lists(st.integers(1, 80), min_size=3, max_size=6).map(lambda xs: np.array(xs, float)),
       st.floats(0.05, 1.5))
def test_gap_bounds_the_suboptimality_measured_by_cvxpy(counts, c):
    """F(ours) - F* <= gap: cvxpy's point is feasible, so F(cvxpy point) >= F* gives F(ours) <= F(cvx) + gap."""
    from theory.ufm.cvx_reference import solve_cvxpy

    p = _p(counts, c)
    s = solve_unconstrained(p, tol=1e-9, time_limit=5)
    cv = solve_cvxpy(p, "SCS", eps=1e-9)
    f_cvx = certify_full(p, cv["logits"])["objective"]
    assert s.objective <= f_cvx + s.duality_gap + 1e-12
    assert abs(cv["objective"] - s.objective) < 1e-5  # and cvxpy agrees on the value


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="d must be >= V = 3"):
        solve_unconstrained(Problem(np.array([3.0, 2.0, 1.0]), 0.1, 0.1, d=2))
    with pytest.raises(InputError, match="tol"):
        solve_unconstrained(Problem(np.array([3.0, 2.0]), 0.1, 0.1), tol=0)
    with pytest.raises(InputError, match="equal counts"):
        balanced_closed_form(Problem(np.array([3.0, 2.0]), 0.1, 0.1))


@settings(max_examples=15, deadline=None)
@given(counts_st, scale_st)
def test_saved_certificate_recomputes_the_full_matrix_gap(tmp_path_factory, counts, c):
    """theory.ufm.certificate (full and group form) agrees with certify_full, and its gap is the solver's."""
    from theory.ufm.certificate import certify, save_solution

    p = _p(counts, c)
    s = solve_unconstrained(p, tol=1e-9, time_limit=5)
    path = tmp_path_factory.mktemp("cert") / "sol.npz"
    save_solution(path, s)
    full = certify_full(p, s.logits())
    for mode in (True, False):
        cert = certify(path, p, tol=max(1e-9, 2 * s.duality_gap), full=mode)
        assert cert["objective"] == pytest.approx(full["objective"], abs=1e-11)
        assert cert["lower_bound"] == pytest.approx(s.lower_bound, abs=1e-11)
        assert cert["lower_bound"] <= full["objective"] + 1e-12  # a valid bound at any point
        assert np.allclose(cert["per_class_loss"], s.per_class_loss, atol=1e-12)


def test_a_claimed_objective_the_arrays_do_not_attain_is_refused(tmp_path):
    from theory.ufm.certificate import certify, save_solution

    p = _p(np.array([50.0, 20.0, 7.0, 3.0, 1.0]), 0.6)
    s = solve_unconstrained(p, tol=1e-10)
    path = tmp_path / "sol.npz"
    save_solution(path, s)
    data = dict(np.load(path))
    # weak duality: a feasible Q bounds every Z, so no file can show a negative gap; a file can only lie
    np.savez(path, **(data | {"A": data["A"] * 0.9, "B": data["B"] * 0.9, "objective": 0.0}))
    with pytest.raises(InputError, match="claims objective 0.0"):
        certify(path, p)


def _scaled_bound(red, pt):
    """The dual value at Lambda = -s grad, s = min(1, mu / ||grad||_2): the candidate every older bound had."""
    from scipy.special import xlogy

    norm = max(np.linalg.norm(pt.grad_C, 2), np.max(np.abs(pt.grad_gamma), initial=0.0))
    s = min(1.0, red.p.mu / norm)
    pi, pi_self = red.masses(s * pt.grad_C, s * pt.grad_gamma)
    q = np.where(red.count > 0, pi / np.maximum(red.count, 1.0), 0.0)
    return float(red.w @ (-xlogy(pi_self, pi_self) - (red.count * xlogy(q, q)).sum(axis=0)))


@settings(max_examples=30, deadline=None)
@given(counts_st, scale_st, st.integers(1, 40))
def test_dual_point_at_any_iterate_is_a_valid_bound_at_least_the_scaled_one(counts, c, iters):
    """Weak duality: the bound is <= F* <= the certified objective; and the best-of candidates is >= the
    scaled gradient's value (always one of them)."""
    p = _p(counts, c)
    red = Reduced(p, Groups.of(p.counts))
    C, gamma, _, used = lbfgs_start(red, max_iter=iters)
    assert used <= iters
    objective, bound, q_other, q_self, Cc, _ = certify_point(red, C, gamma)
    star = solve_unconstrained(p, tol=1e-10, time_limit=5)
    assert bound <= star.objective + 1e-12 and star.lower_bound <= objective + 1e-12
    assert bound >= _scaled_bound(red, red.evaluate(Cc, gamma)) - 1e-15
    assert np.all(q_other >= 0) and np.all(q_self >= 0)
    assert np.allclose((red.count * q_other).sum(axis=0) + q_self, 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("counts, c", [(np.array([40.0, 40.0, 9.0, 9.0, 9.0, 3.0, 1.0, 1.0]), 0.05),
                                       (np.array([300.0, 120.0, 60.0, 20.0, 5.0, 1.0]), 0.3)])
def test_gap_at_a_perturbed_optimum_is_second_order_in_the_perturbation(counts, c):
    """The polar dual point makes mu ||Y||_* - <Lambda, Y> vanish, leaving a gap quadratic in the distance
    to the optimum (10x closer: >= 30x smaller gap); the scaled gradient's gap is only linear (issue 28)."""
    p = _p(counts, c)
    red = Reduced(p, Groups.of(p.counts))
    s = solve_unconstrained(p, tol=1e-13, time_limit=10)
    C = red.scale * s.A + np.diag(red.sqrt_n * s.B)
    gamma = red.sqrt_n * s.B
    E = np.random.default_rng(1).standard_normal(C.shape) * np.abs(C).max()
    gaps, scaled = [], []
    for eps in (1e-4, 1e-5):
        objective, bound, *_ = certify_point(red, C + eps * E, gamma)
        gaps.append(objective - bound)
        scaled.append(objective - _scaled_bound(red, red.evaluate(red.centred(C + eps * E), gamma)))
    assert gaps[1] <= gaps[0] / 30 and gaps[1] <= scaled[1] / 10
    assert scaled[1] >= scaled[0] / 30  # what the polar candidate improves on: first order


@settings(max_examples=15, deadline=None)
@given(counts_st, scale_st, st.floats(0.5, 2.0))
def test_a_start_at_a_neighbouring_lambda_reaches_the_same_certified_optimum(counts, c, ratio):
    cold = solve_unconstrained(_p(counts, c * ratio), tol=1e-9, time_limit=5)
    warm = solve_unconstrained(_p(counts, c * ratio), tol=1e-9, time_limit=5,
                               start=solve_unconstrained(_p(counts, c), tol=1e-9, time_limit=5))
    assert warm.duality_gap <= 1e-9 and cold.duality_gap <= 1e-9
    assert abs(warm.objective - cold.objective) <= warm.duality_gap + cold.duality_gap + 1e-12


def test_a_start_for_other_counts_is_refused():
    start = solve_unconstrained(Problem(np.array([3.0, 2.0, 1.0]), 0.1, 0.1))
    with pytest.raises(InputError, match="same counts"):
        solve_unconstrained(Problem(np.array([3.0, 2.0, 2.0]), 0.1, 0.1), start=start)


def test_a_narrower_restart_keeps_the_certified_optimum():
    """Once the spectrum of C falls off, L-BFGS goes on with fewer columns; the optimum is still reached."""
    counts = np.arange(1.0, 61.0) ** 2  # 60 distinct counts: g = 60; the optimum has rank 20
    p = _p(counts, 40.0)
    red = Reduced(p, Groups.of(p.counts))
    lines = []
    C, gamma, cert, used = lbfgs_start(red, max_iter=5000, tol=1e-10, check_every=0.0, progress=lines.append)
    widths = {int(x.rsplit("width ", 1)[1]) for x in lines if "width" in x}
    assert widths and max(widths) < 0.7 * 60
    assert cert is not None and cert[0] - cert[1] <= 1e-10
    cold = solve_unconstrained(p, tol=1e-10)
    assert abs(cert[0] - cold.objective) <= 1e-10 + cold.duality_gap


def test_max_iter_bounds_all_phases_together():
    """A narrower restart goes on with the iterations left, not with max_iter again; solve_unconstrained's
    max_iter bounds L-BFGS and proximal-gradient iterations together."""
    counts = np.arange(1.0, 61.0) ** 2  # as above: the optimum has rank 20, L-BFGS restarts narrower
    p = _p(counts, 40.0)
    red = Reduced(p, Groups.of(p.counts))
    lines = []
    *_, full = lbfgs_start(red, max_iter=5000, tol=1e-10, check_every=0.0, progress=lines.append)
    first_phase = next(i for i, x in enumerate(lines) if "width" in x)  # one progress line per iteration
    assert full == len(lines) and full > first_phase + 10
    cap = (first_phase + full) // 2  # after the first restart, before the end
    lines = []
    *_, used = lbfgs_start(red, max_iter=cap, tol=1e-10, check_every=0.0, progress=lines.append)
    assert any("width" in x for x in lines) and used == cap
    for cap in (1, 7, 40):
        s = solve_unconstrained(p, tol=1e-300, max_iter=cap)
        assert s.iterations == cap and s.duality_gap > 1e-300


def test_a_bound_above_the_objective_is_an_error_not_clipped(monkeypatch):
    import dataclasses

    from theory.ufm import unconstrained

    p = _p(np.array([50.0, 20.0, 7.0, 3.0, 1.0]), 0.6)
    s = solve_unconstrained(p, tol=1e-10)
    assert dataclasses.replace(s, lower_bound=s.objective + 1e-15).duality_gap == pytest.approx(-1e-15, abs=1e-16)
    real = unconstrained.certify_point

    def too_high(red, C, gamma):  # a (wrong) bound 1e-9 above the objective
        objective, bound, *rest = real(red, C, gamma)
        return (objective, objective + 1e-9, *rest)

    monkeypatch.setattr(unconstrained, "certify_point", too_high)
    with pytest.raises(ArithmeticError, match="exceeds the objective"):
        solve_unconstrained(p, tol=1e-10, warm_start=False)


@settings(max_examples=20, deadline=None)
@given(counts_st, scale_st)
def test_the_searched_first_step_is_no_worse_than_the_safe_one(counts, c):
    """first_step keeps the 1/L step from 0 unless a longer one lowers F = f + mu (||C||_* + sum (m-1)|gamma|)."""
    from theory.ufm.reduced import prox
    from theory.ufm.warm_start import first_step

    p = _p(counts, c)
    red = Reduced(p, Groups.of(p.counts))
    g = red.gr.g

    def F(C, gamma):
        return red.evaluate(C, gamma).f + p.mu * (np.linalg.svd(C, compute_uv=False).sum() + red.mult @ np.abs(gamma))

    pt0 = red.evaluate(np.zeros((g, g)), np.zeros(g))
    step = 2.0 * p.N
    safe = F(*prox(-step * pt0.grad_C, -step * pt0.grad_gamma, step * p.mu))
    searched = F(*first_step(red))
    assert searched <= safe + 1e-12 * max(1.0, abs(safe))
