import numpy as np
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory.ufm import symbolic
from theory.ufm.proposition import implied_M, proposition_loss, shift_response

vectors = st.integers(2, 60).flatmap(lambda V: arrays(np.float64, V, elements=st.floats(-30, 30)))


@given(vectors)
def test_every_loss_vector_has_an_M_that_reproduces_it(loss):
    assert np.allclose(proposition_loss(implied_M(loss)), loss, atol=1e-9)


@given(vectors)
def test_M_is_unique(M):
    # M -> loss -> M recovers M: the map is one-to-one
    assert np.allclose(implied_M(proposition_loss(M)), M, atol=1e-8)


@given(vectors, st.floats(-5, 5).filter(lambda a: abs(a) > 1e-3))
def test_formula_is_not_shift_invariant(M, a):
    V = M.size
    assert np.allclose(shift_response(M, a), a / V**2 - a)


def test_symbolic_inverse_is_one_linear_solution():
    inv = symbolic.proposition_inverse()
    assert len(inv["L_solutions"]) == 1
    S = sp.Symbol("S", real=True)
    assert sp.simplify(inv["L_solutions"][0] - symbolic.V**2 * sp.log(S) / (symbolic.V**2 - 1)) == 0
    assert sp.simplify(inv["shift_change"].subs({sp.Symbol("a", real=True): 1, symbolic.V: 2})) == sp.Rational(-3, 4)
