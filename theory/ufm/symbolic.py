"""Executable derivations (sympy) of every closed form used in `theory`.

Each function re-derives its result from the per-class problem and returns sympy expressions; the numpy
code in `relu.py` and `unconstrained.py` is tested against `sympy.lambdify` of these, so a typo in the
numpy formula cannot survive.

Common step (`margin_problem`): after the structure of the minimiser is fixed, every class solves
    minimise_{t >= 0}  w * log(1 + (V - 1) e^{-t}) + c * t,
t being the logit margin of the class over each other class, w its loss weight and c the price of margin
paid in weight decay. Then 1 - softmax_k = c / w, the loss is -log(1 - c/w) while c/w < (V-1)/V, and the
class collapses to t = 0 (loss log V) once c/w >= (V-1)/V.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

V, n, N, t, w, c = sp.symbols("V n N t w c", positive=True)
lam, lam_w, lam_h, mu = sp.symbols("lambda lambda_W lambda_H mu", positive=True)


def _positive_root(roots: list) -> sp.Expr:
    """The one root that is positive for V >= 2 (sympy cannot use V > 1): test it at a sample point."""
    point = lambda r: {sym: (3 if sym == V else 2) for sym in r.free_symbols}  # noqa: E731
    pos = [r for r in roots if r.subs(point(r)) > 0]
    if len(pos) != 1:
        raise ArithmeticError(f"expected exactly one positive root, got {roots}")
    return pos[0]


@lru_cache(maxsize=None)
def margin_problem() -> dict:
    """Minimise g(t) = w log(1 + (V-1) e^{-t}) + c t: stationary margin, loss, collapse condition."""
    g = w * sp.log(1 + (V - 1) * sp.exp(-t)) + c * t
    (t_star,) = sp.solve(sp.Eq(sp.diff(g, t), 0), t)
    loss = sp.simplify(sp.log(1 + (V - 1) * sp.exp(-t)).subs(t, t_star))
    # collapse: g'(0) >= 0 means t = 0 is optimal (g is convex in t)
    slope_at_0 = sp.simplify(sp.diff(g, t).subs(t, 0))
    (c_collapse,) = sp.solve(sp.Eq(slope_at_0, 0), c)
    return {"objective": g, "t": sp.simplify(t_star), "loss": loss, "c_collapse": sp.simplify(c_collapse)}


@lru_cache(maxsize=None)
def relu_closed_form() -> dict:
    """Global minimiser of the ReLU UFM (H >= 0, d >= V), one class at a time.

    Structure (Dang et al., ICML 2024): class means are orthogonal non-negative features h_k = s e_k
    (s = ||h_k||), so class k's logits are s u_k with u_k = W e_k, one column of W per class, and the
    objective splits into per-class problems
        (n/N) CE(s u, k) + (lambda_W/2) ||u||^2 + (lambda_H/2) n s^2.
    Step 1: CE depends on u only through the margin m = u_k - u_j (equal for all j != k by symmetry and
    convexity); the least-norm u with margin m has u_k = m(V-1)/V, u_j = -m/V, ||u||^2 = m^2 (V-1)/V.
    Step 2: for a fixed logit margin t = s m, the cheapest split of the penalty between m and s.
    Step 3: the margin problem with w = n/N and c = the price from step 2.
    Step 4: the derivative in lambda along lambda_W = lambda_H = lambda.
    """
    a, cc, m, s = sp.symbols("a c_off m s", real=True)
    # step 1: least-norm logit vector with margin m
    sq = a**2 + (V - 1) * cc**2
    (c_opt,) = sp.solve(sp.diff(sq.subs(a, m + cc), cc), cc)
    a_opt = sp.simplify(m + c_opt)
    u_norm_sq = sp.factor(sp.simplify(sq.subs({a: a_opt, cc: c_opt})))
    # step 2: split t = s m between the weight column and the feature; q = m^2 > 0
    q = sp.symbols("q", positive=True)
    pen = lam_w / 2 * u_norm_sq.subs(m, sp.sqrt(q)) + lam_h / 2 * n * t**2 / q
    q_star = _positive_root(sp.solve(sp.diff(pen, q), q))
    price = sp.simplify(pen.subs(q, q_star) / t)
    # step 3: margin problem
    mp = margin_problem()
    subs = {w: n / N, c: price}
    loss = sp.simplify(mp["loss"].subs(subs))
    rho = sp.simplify(price / (n / N))  # 1 - softmax_k
    # collapse threshold on n: solve price = c_collapse for n
    (n_collapse,) = sp.solve(sp.Eq(rho, (V - 1) / V), n)
    t_star = sp.simplify(mp["t"].subs(subs))
    margin = sp.simplify(sp.sqrt(q_star.subs(t, t_star)))  # m at the optimum
    # step 4: derivative along lambda_W = lambda_H = lambda
    loss_eq = loss.subs({lam_w: lam, lam_h: lam})
    return {
        "logit_target": a_opt / m,  # u_k / m
        "logit_other": c_opt / m,  # u_j / m
        "u_norm_sq": u_norm_sq,  # ||u_k||^2 in terms of m
        "margin_weight": margin,  # m = (u_k - u_j), the weight-column margin
        "weight_column_norm": sp.simplify(sp.sqrt(u_norm_sq.subs(m, margin))),  # ||W e_k||
        "price": price,  # c: decay cost per unit of logit margin
        "rho": rho,
        "loss": loss,
        "t": t_star,
        "feature_norm": sp.simplify(t_star / margin),  # ||h_k|| = s = t / m
        "n_collapse": sp.simplify(n_collapse),
        "dloss_dlambda": sp.simplify(sp.diff(loss_eq, lam)),
    }


@lru_cache(maxsize=None)
def relu_perclass_closed_form() -> dict:
    """ReLU UFM with per-class feature decay lh_k (uniform lambda_W): the derivation of `relu_closed_form` is
    class by class, and lambda_H enters it only through class k's own penalty (lambda_H/2) n_k s^2, so class k's
    rho, loss and collapse are those of `relu_closed_form` with lambda_H -> lh_k. Equal rho for every class:
    solve rho_k = rho_0 for lh_k (proportional to n_k); with the mean strength fixed, sum_k lh_k = V lambda_H
    and sum_k n_k = N, the constant follows and rho_0 = sqrt(N lambda_W lambda_H (V - 1)).
    """
    base = relu_closed_form()
    lh_k, rho_0 = sp.symbols("lh_k rho_0", positive=True)
    rho_k = base["rho"].subs(lam_h, lh_k)
    (lh_for_rho,) = sp.solve(sp.Eq(rho_k, rho_0), lh_k)
    slope = sp.simplify(lh_for_rho / n)
    if n in slope.free_symbols:
        raise ArithmeticError(f"the equalising strength is not proportional to n: {lh_for_rho}")
    rho_equal = _positive_root(sp.solve(sp.Eq(slope * N, V * lam_h), rho_0))
    return {"rho_k": rho_k, "loss_k": base["loss"].subs(lam_h, lh_k), "lh_for_rho": lh_for_rho,
            "lh_over_n": slope, "rho_equal": sp.simplify(rho_equal),
            "loss_equal": sp.simplify(-sp.log(1 - rho_equal)), "lh_equalising": sp.simplify(V * lam_h * n / N)}


@lru_cache(maxsize=None)
def balanced_unconstrained_closed_form() -> dict:
    """Unconstrained UFM with equal counts n_k = n (N = nV), d >= V.

    By symmetry the optimal logits are Z = alpha 11^T + beta I. With Y = Z sqrt(n):
    ||Y||_* = sqrt(n) |V alpha + beta| + (V - 1) sqrt(n) |beta| (eigenvalues of a rank-one update of
    beta I), and CE = log(1 + (V-1) e^{-beta}) does not depend on alpha, so alpha = -beta/V and the
    margin problem has w = 1, c = mu (V - 1) sqrt(n), mu = sqrt(lambda_W lambda_H).
    """
    alpha, beta = sp.symbols("alpha beta", real=True)
    ce = sp.simplify(sp.log(sp.exp(alpha + beta) + (V - 1) * sp.exp(alpha)) - alpha - beta)
    assert sp.simplify(sp.diff(ce, alpha)) == 0, "CE must be shift invariant"
    # |V alpha + beta| >= 0 with equality at alpha = -beta / V
    (alpha_opt,) = sp.solve(sp.Eq(V * alpha + beta, 0), alpha)
    price = mu * (V - 1) * sp.sqrt(n)
    mp = margin_problem()
    loss = sp.simplify(mp["loss"].subs({w: 1, c: price}))
    (mu_collapse,) = sp.solve(sp.Eq(price, mp["c_collapse"].subs(w, 1)), mu)
    return {
        "alpha_over_beta": alpha_opt / beta,
        "price": price,
        "loss": loss,
        "t": sp.simplify(mp["t"].subs({w: 1, c: price})),
        "mu_collapse": sp.simplify(mu_collapse),
        "dloss_dlambda": sp.simplify(sp.diff(loss.subs(mu, lam), lam)),
    }


@lru_cache(maxsize=None)
def proposition_inverse() -> dict:
    """Solve the proposition's formula l_k = log(sum_j exp(M_j / V^2)) - M_k for M, given any l.

    Write L = log sum_j exp(M_j/V^2). Then M_k = L - l_k, and substituting back,
    L = L / V^2 + log S with S = sum_j exp(-l_j / V^2): a linear equation in L with coefficient
    1 - 1/V^2 != 0 for V >= 2, so exactly one M reproduces any loss vector.
    Also the shift test: replacing M by M + a changes every l_k by a/V^2 - a, never 0 for a != 0.
    """
    L, S, a = sp.symbols("L S a", real=True)
    sols = sp.solve(sp.Eq(L, L / V**2 + sp.log(S)), L)
    shift = sp.simplify(a / V**2 - a)
    return {"L_solutions": sols, "coefficient": 1 - 1 / V**2, "shift_change": shift}


@lru_cache(maxsize=None)
def bounded_schedules() -> dict:
    """Per-class feature decay bounded by uniform decay (0 < lh_k <= lambda) in the ReLU UFM (issue 24).

    Capped, lh_k = lambda n_k / n_ref for n_k <= n_ref (lambda above): substituted into
    `relu_perclass_closed_form`'s rho_k, n_k cancels, so every class at or below n_ref has the rho (and the loss)
    of a class of count n_ref under uniform decay; classes above n_ref keep their uniform loss.

    Occurrence ("decay row k only at steps where token k occurs"): a step's batch is T = B L tokens drawn i.i.d.
    from the frequencies p = n_k / N, so P(k absent) is the product of T factors (1 - p) and the row is decayed at
    a step with probability P_k = 1 - (1 - p)^T. A row decayed with strength lambda at a fraction P_k of the steps
    has, averaged over steps (small learning rate: the mean of the decay over many steps is what moves the
    weights), strength lh_k = lambda P_k. Properties derived below: P_k = T p - T(T-1)/2 p^2 + O(p^3); for T -> oo
    at fixed T p = x, P_k -> 1 - e^{-x}; P_k <= min(1, T p) (g(p) = T p - P_k has g(0) = 0 and
    g'(p) = T (1 - (1 - p)^{T-1}) >= 0 for T >= 1), so the occurrence schedule is at most the capped one with
    n_ref = N / T, and for T p -> 0 its rho tends to that capped schedule's tail rho.
    Windows: an LM batch is B windows of L consecutive tokens, not T i.i.d. draws. Then P_k = 1 - q_k^B with
    q_k = P(a window lacks token k) (windows independent), which is (1 - p)^L only if tokens within a window are
    independent; a bursty token (occurrences clustered) has a larger q_k, so a lower P_k than the i.i.d. formula.
    The bound P_k <= min(1, B L p) holds for windows too (Markov: P(count >= 1) <= E count = B L p).
    """
    base = relu_perclass_closed_form()
    lh_k, n_ref, T, p, x, i = (sp.Symbol(s, positive=True) for s in ("lh_k", "n_ref", "T", "p", "x", "i"))
    rho_capped = sp.simplify(base["rho_k"].subs(lh_k, lam * n / n_ref))
    rho_at_ref = relu_closed_form()["rho"].subs({lam_h: lam, n: n_ref})
    if n in rho_capped.free_symbols or sp.simplify(rho_capped - rho_at_ref) != 0:
        raise ArithmeticError(f"the capped tail's rho is not that of count n_ref: {rho_capped}")
    absent = sp.product(1 - p, (i, 1, T))  # T independent draws, none of them k
    occurs = sp.simplify(1 - absent)
    series = sp.series(occurs, p, 0, 3).removeO()
    poisson = sp.limit(occurs.subs(p, x / T), T, sp.oo)
    gap = T * p - occurs  # >= 0 on p in [0, 1] for T >= 1: zero at p = 0, non-decreasing
    gap_slope = sp.simplify(sp.diff(gap, p))
    rho_occ = base["rho_k"].subs({lh_k: lam * occurs.subs(p, n / N)})
    rho_occ_rare = sp.limit(rho_occ, n, 0)
    rho_capped_ref = rho_capped.subs(n_ref, N / T)
    if sp.simplify(rho_occ_rare - rho_capped_ref) != 0:
        raise ArithmeticError(f"the occurrence schedule's rare-class rho {rho_occ_rare} is not {rho_capped_ref}")
    return {"rho_capped_tail": rho_capped, "loss_capped_tail": sp.simplify(-sp.log(1 - rho_capped)),
            "occurrence_probability": occurs, "occurrence_series": sp.expand(series), "occurrence_poisson": poisson,
            "occurrence_gap_at_0": sp.simplify(gap.subs(p, 0)), "occurrence_gap_slope": gap_slope,
            "rho_occurrence": rho_occ, "loss_occurrence": -sp.log(1 - rho_occ), "rho_occurrence_rare": rho_occ_rare}
