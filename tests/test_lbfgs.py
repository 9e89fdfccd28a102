"""theory.ufm.lbfgs: the hand-written L-BFGS that gives the certified solver its warm start."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.ufm.lbfgs import lbfgs


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40), log_cond=st.floats(0.0, 4.0))
def test_lbfgs_finds_the_minimiser_of_a_strictly_convex_quadratic(seed, n, log_cond):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.logspace(0, log_cond, n)) @ Q.T
    b = rng.standard_normal(n)
    x_star = np.linalg.solve(A, b)
    x = lbfgs(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(n), max_iter=2000,
              stop=lambda it, x, f: np.linalg.norm(A @ x - b) < 1e-10)
    assert np.linalg.norm(x - x_star) <= 1e-8 * 10 ** log_cond * (1 + np.linalg.norm(x_star))


def test_lbfgs_never_increases_the_objective_on_rosenbrock():
    values = []

    def fun(x):
        a, b = x
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2, np.array([-2 * (1 - a) - 400 * a * (b - a * a),
                                                                  200 * (b - a * a)])

    x = lbfgs(fun, np.array([-1.2, 1.0]), max_iter=500, stop=lambda it, x, f: values.append(f) or False)
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)


def test_lbfgs_stops_when_told_and_when_the_decrease_stalls():
    seen = []
    scales = np.logspace(0, 3, 20)
    fun = lambda x: (float(scales @ x**4), 4 * scales * x**3)  # noqa: E731  (minimum 0 reached only slowly)
    lbfgs(fun, np.ones(20), max_iter=100, stop=lambda it, x, f: seen.append(it) or it == 3)
    assert seen == [1, 2, 3]
    values = []
    lbfgs(fun, np.ones(20), max_iter=100_000, stop=lambda it, x, f: values.append(f) or False)
    assert len(values) < 100_000 and values[-1] < 1e-8
