import math

import numpy as np
import pytest
import sympy as sp
from conftest import counts_st, scale_st
from hypothesis import assume, given
from hypothesis import strategies as st

from plumbing.errors import InputError
from theory.ufm import symbolic
from theory.ufm.problem import Problem
from theory.ufm.relu import relu_closed_form, relu_collapse_count, relu_dloss_dlambda


def _p(counts, c, d=None):
    return Problem.from_scale(counts, c, d)


@given(counts_st, scale_st)
def test_loss_lies_in_zero_to_log_v(counts, c):
    loss = relu_closed_form(_p(counts, c)).per_class_loss
    assert np.all(loss >= 0) and np.all(loss <= math.log(counts.size) + 1e-12)


@given(counts_st, scale_st)
def test_rarer_classes_have_higher_loss(counts, c):
    loss = relu_closed_form(_p(counts, c)).per_class_loss
    o = np.argsort(counts)
    assert np.all(np.diff(loss[o]) <= 1e-12)


@given(counts_st, scale_st, st.floats(1.01, 3.0))
def test_loss_grows_with_lambda(counts, c, factor):
    lo = relu_closed_form(_p(counts, c)).per_class_loss
    hi = relu_closed_form(_p(counts, c * factor)).per_class_loss
    assert np.all(hi >= lo - 1e-12)
    assert np.all((hi > lo) | (lo >= math.log(counts.size) - 1e-12))  # strictly, until collapse


@given(counts_st)
def test_loss_is_continuous_at_the_collapse_threshold(counts):
    # the class with the smallest count collapses first: lambda where n_min = N^2 V lambda^2 / (V-1)
    V, N, n_min = counts.size, counts.sum(), counts.min()
    lam_c = math.sqrt(n_min * (V - 1) / V) / N
    k = int(np.argmin(counts))
    for eps in (1e-6, 1e-9):
        below = relu_closed_form(Problem(counts, lam_c * (1 - eps), lam_c * (1 - eps))).per_class_loss[k]
        above = relu_closed_form(Problem(counts, lam_c * (1 + eps), lam_c * (1 + eps))).per_class_loss[k]
        assert abs(above - math.log(V)) < 1e-12
        assert abs(below - above) < 50 * math.sqrt(eps)  # -log(1-rho) near rho=(V-1)/V is Lipschitz


@given(counts_st, scale_st)
def test_numpy_matches_sympy_derivation(counts, c):
    p = _p(counts, c)
    s = relu_closed_form(p)
    e = symbolic.relu_closed_form()
    args = (symbolic.n, symbolic.N, symbolic.V, symbolic.lam_w, symbolic.lam_h)
    act = ~s.collapsed & (s.rho > 0)
    for key, got in (("loss", s.per_class_loss), ("t", s.margin), ("feature_norm", s.feature_norm),
                     ("weight_column_norm", s.weight_column_norm)):
        f = sp.lambdify(args, e[key], "numpy")
        want = f(counts[act], p.N, p.V, p.lambda_w, p.lambda_h)
        assert np.allclose(got[act], want, rtol=1e-9, atol=1e-12), key
    assert relu_collapse_count(p) == pytest.approx(
        float(e["n_collapse"].subs({symbolic.N: p.N, symbolic.V: p.V, symbolic.lam_w: p.lambda_w,
                                    symbolic.lam_h: p.lambda_h})))


@given(counts_st, st.floats(0.01, 1.5))
def test_sympy_derivative_equals_finite_difference(counts, c):
    p = _p(counts, c)
    lam, h = p.lambda_w, 1e-6 * p.lambda_w
    s = relu_closed_form(p)
    assume(np.all(np.abs(s.rho - (p.V - 1) / p.V) > 1e-3))  # keep away from the kink at collapse
    fd = (relu_closed_form(Problem(counts, lam + h, lam + h)).per_class_loss
          - relu_closed_form(Problem(counts, lam - h, lam - h)).per_class_loss) / (2 * h)
    f = sp.lambdify((symbolic.n, symbolic.N, symbolic.V, symbolic.lam), symbolic.relu_closed_form()["dloss_dlambda"])
    sym = np.where(s.collapsed, 0.0, f(counts, p.N, p.V, lam))
    assert np.allclose(relu_dloss_dlambda(p), sym, rtol=1e-9)
    assert np.allclose(fd, sym, rtol=1e-5, atol=1e-8)


@given(counts_st, scale_st)
def test_explicit_factors_attain_the_closed_form_objective(counts, c):
    from scipy.special import logsumexp

    p = _p(counts, c)
    s = relu_closed_form(p)
    W, H = s.factors()
    assert np.all(H >= 0)
    Z = W @ H
    assert np.allclose(Z, s.logits())
    ce = logsumexp(Z, axis=0) - np.diag(Z)
    obj = p.weights @ ce + p.lambda_w / 2 * np.sum(W**2) + p.lambda_h / 2 * np.sum(H**2 * counts)
    assert obj == pytest.approx(s.objective, rel=1e-10, abs=1e-12)
    assert np.allclose(ce, s.per_class_loss)


def test_zero_decay_gives_zero_loss_and_d_below_v_is_refused():
    s = relu_closed_form(Problem(np.array([5.0, 1.0]), 0.0, 0.3))
    assert np.all(s.per_class_loss == 0) and s.objective == 0
    with pytest.raises(InputError, match="d must be >= V = 3"):
        relu_closed_form(Problem(np.array([5.0, 1.0, 1.0]), 0.1, 0.1, d=2))
    with pytest.raises(InputError, match="lambda_W = lambda_H"):
        relu_dloss_dlambda(Problem(np.array([5.0, 1.0]), 0.1, 0.2))
