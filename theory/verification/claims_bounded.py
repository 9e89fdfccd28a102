"""Claims about per-class decay schedules bounded by uniform decay, 0 < lambda_k <= lambda (issue 24; ours).

Two schedules (theory.ufm.perclass): capped, lambda_k = lambda min(1, n_k / n_ref), and occurrence,
lambda_k = lambda (1 - (1 - n_k/N)^T), the mean strength of decaying a row only at steps whose T = B L i.i.d.
tokens include it (symbolic.bounded_schedules). Each is applied to one parameter group while the other keeps
uniform decay lambda: the class features (ReLU UFM: closed form, relu_perclass; unconstrained UFM: certified) or
the output rows of W (unconstrained UFM only: per-row W decay does not decouple in the ReLU model).

Cost and benefit at a fixed average loss. A bounded schedule decays less than uniform decay, so (where it never
raises a loss) it lowers the average loss too: it gives up part of decay's effect on the average. The cost of a
schedule is that share, f = 1 - average(schedule) / average(uniform); the average loss at lambda -> 0 tends to 0
in both models, so f is the share of uniform decay's rise of the average loss given up. At each cost f in COSTS
the parameter of each family (n_ref, T, or the smaller uniform strength x lambda of the same group) that reaches
it is found by Brent's method, and the balanced losses are compared at equal average loss. In the ReLU model the
lowest balanced loss of ANY bounded feature schedule at that average is also given: per-class losses l_k range
over [0, u_k] (u_k: uniform's; l_k -> 0 as lh_k -> 0), so minimising sum_k l_k / V at fixed sum_k (n_k/N) l_k is
a linear programme whose optimum keeps l_k = u_k for the most frequent classes and 0 for the rest (one class
fractional): decay the head fully and the tail not at all, an infimum that no positive schedule attains.

Each verdict is a pure function verdict_<claim id>(...) -> (verdict, rule text), flipped in tests/test_verify.py.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ..ufm import symbolic
from .claims import Claim
from ..ufm.perclass import (
    capped_schedule,
    objective_and_grad,
    occurrence_schedule,
    relu_perclass,
    solve_perclass_unconstrained,
)

C = 0.3  # lambda N, as in theory.verification.claims_mitigation: no class collapses under uniform decay
INSTANCES = {"A-V6": np.array([50.0, 20.0, 7.0, 3.0, 1.0, 1.0]), "B-V8": np.array([40.0, 20, 13, 10, 8, 2, 1, 1])}
TARGETS = (("ufm-relu", "features"), ("ufm-unconstrained", "features"), ("ufm-unconstrained", "output rows"))
COSTS = (0.05, 0.2)  # share of uniform decay's average loss given up
RISE_TOL = {"ufm-relu": 1e-12, "ufm-unconstrained": 1e-5}  # a class's loss above uniform's by more: a rise
GAP_TOL = 1e-6
FAMILIES = ("uniform, smaller lambda", "capped", "occurrence")


def _references(counts: np.ndarray) -> dict:
    """The schedules of the no-rise check: n_ref at the median and the largest count, and the T = N / n_ref whose
    capped bound (lambda min(1, T p)) is that schedule."""
    med, top = float(np.median(counts)), float(counts.max())
    N = float(counts.sum())
    return {f"capped n_ref={med:g}": ("capped", med), f"capped n_ref={top:g}": ("capped", top),
            f"occurrence T={N / med:.4g}": ("occurrence", N / med),
            f"occurrence T={N / top:.4g}": ("occurrence", N / top)}


def _strengths(family: str, counts: np.ndarray, lam: float, x: float) -> np.ndarray:
    if family == "capped":
        return capped_schedule(counts, lam, x)
    if family == "occurrence":
        return occurrence_schedule(counts, lam, x)
    return np.full(counts.size, lam * x)  # uniform, smaller lambda: x in (0, 1]


class _Solver:
    """Per-class losses of one (model, target) under a strength vector of the targeted group, the other group at
    lambda; keeps the last unconstrained point as the next warm start (a path of nearby schedules)."""

    def __init__(self, model: str, target: str, counts: np.ndarray, lam: float):
        self.model, self.target, self.counts, self.lam, self.x = model, target, counts, lam, None

    def __call__(self, s: np.ndarray) -> tuple[np.ndarray, float]:
        if self.model == "ufm-relu":
            return relu_perclass(self.counts, self.lam, s)["per_class_loss"], 0.0
        lw, lh = (self.lam, s) if self.target == "features" else (s, self.lam)
        r = solve_perclass_unconstrained(self.counts, lw, lh, x0=self.x)
        self.x = r["x"]
        return r["per_class_loss"], r["duality_gap"]


def _stats(counts, loss) -> tuple[float, float]:
    return float(counts @ loss / counts.sum()), float(loss.mean())


# ---- claim 1: the closed forms

def verdict_bounded_schedules_relu_closed_form(sym_rows, rows) -> tuple[str, str]:
    rule = ("'holds' iff sympy's derivation goes through (the capped tail's rho is that of count n_ref, the "
            "occurrence bound's slope is T (1 - (1 - p)^(T-1)) >= 0, the rare-class limit of the occurrence rho is "
            "the capped tail's at n_ref = N/T), the numpy per-class losses under each bounded schedule equal "
            "sympy's lambdified ones (relative 1e-12), every strength is in (0, lambda], and the explicit point "
            "attains the closed-form objective (relative 1e-10); else 'fails'")
    ok = (all(r["derivation holds"] for r in sym_rows)
          and all(r["max relative |numpy - sympy| loss"] <= 1e-12 and 0 < r["min strength / lambda"]
                  and r["max strength / lambda"] <= 1.0
                  and r["explicit point - closed form"] <= 1e-10 * r["closed-form objective"] for r in rows))
    return ("holds" if ok else "fails"), rule


def claim_bounded_relu_closed_form() -> Claim:
    import sympy as sp

    d = symbolic.bounded_schedules()
    T, p, q, nref, lh = (sp.Symbol(s, positive=True) for s in ("T", "p", "q", "n_ref", "lh_k"))
    # sympy simplifies (1 - p)^(T-1) (p - 1) only when 1 - p is one positive symbol q
    slope_ok = sp.simplify((d["occurrence_gap_slope"] - T * (1 - (1 - p) ** (T - 1))).subs(p, 1 - q)) == 0
    poisson_ok = sp.simplify(d["occurrence_poisson"] - (1 - sp.exp(-sp.Symbol("x", positive=True)))) == 0
    sym_rows = [{"step": "capped tail rho = uniform rho at n_ref (n_k cancels)", "result": str(d["rho_capped_tail"]),
                 "derivation holds": True},  # bounded_schedules raises ArithmeticError otherwise
                {"step": "P(k occurs in T i.i.d. draws)", "result": str(d["occurrence_probability"]),
                 "derivation holds": True},
                {"step": "series in p", "result": str(d["occurrence_series"]), "derivation holds": True},
                {"step": "T -> oo at T p = x", "result": str(sp.simplify(d["occurrence_poisson"])),
                 "derivation holds": bool(poisson_ok)},
                {"step": "d/dp (T p - P) = T (1 - (1-p)^(T-1)) >= 0, so P <= min(1, T p)",
                 "result": str(d["occurrence_gap_slope"]),
                 "derivation holds": bool(slope_ok and d["occurrence_gap_at_0"] == 0)},
                {"step": "rare-class (n -> 0) occurrence rho = capped tail rho at n_ref = N/T",
                 "result": str(d["rho_occurrence_rare"]), "derivation holds": True}]
    syms = (symbolic.V, symbolic.n, symbolic.N, symbolic.lam_w, lh)
    loss_f = sp.lambdify(syms, symbolic.relu_perclass_closed_form()["loss_k"], "numpy")
    tail_f = sp.lambdify((symbolic.V, symbolic.N, symbolic.lam, symbolic.lam_w, nref), d["loss_capped_tail"], "numpy")
    occ_f = sp.lambdify((symbolic.V, symbolic.n, symbolic.N, symbolic.lam, symbolic.lam_w, T),
                        d["loss_occurrence"], "numpy")
    rows = []
    for inst, counts in INSTANCES.items():
        N, V = float(counts.sum()), counts.size
        lam = C / N
        for name, (family, x) in _references(counts).items():
            s = _strengths(family, counts, lam, x)
            r = relu_perclass(counts, lam, s)
            if family == "capped":  # below n_ref the tail formula, above it uniform decay's
                sym = np.where(counts <= x, tail_f(V, N, lam, lam, x), loss_f(V, counts, N, lam, lam))
            else:
                sym = occ_f(V, counts, N, lam, lam, x)
            f_point = objective_and_grad(counts, np.full(V, lam), s, r["W"], r["H"])[0]
            rows.append({"instance": inst, "schedule": name, "min strength / lambda": float(s.min() / lam),
                         "max strength / lambda": float(s.max() / lam),
                         "max relative |numpy - sympy| loss": float(np.max(np.abs(r["per_class_loss"] - sym) / sym)),
                         "closed-form objective": r["objective"],
                         "explicit point - closed form": abs(f_point - r["objective"])})
    verdict, rule = verdict_bounded_schedules_relu_closed_form(sym_rows, rows)
    return Claim(
        "bounded_schedules_relu_closed_form",
        "(Ours.) ReLU UFM, feature decay bounded by uniform decay. Capped lh_k = lambda min(1, n_k/n_ref): every "
        "class at or below n_ref has the loss of a count-n_ref class under uniform decay, "
        "-log(1 - N sqrt(lambda_W lambda (V-1)/(V n_ref))); the rest keep uniform's. Occurrence (decay a row only at "
        "steps where its token occurs, T = B L i.i.d. tokens a step): lh_k = lambda (1 - (1 - n_k/N)^T) <= "
        "lambda min(1, T n_k/N), and loss_k = -log(1 - N sqrt(lambda_W lh_k (V-1)/(V n_k))).",
        "sympy (symbolic.bounded_schedules) derives both; numpy (perclass.relu_perclass) against the lambdified "
        f"losses and the explicit minimiser's objective, on {', '.join(INSTANCES)} at c = {C}, schedules at n_ref = "
        "the median and the largest count and T = N / n_ref.",
        verdict,
        "Assumptions of the occurrence schedule: tokens i.i.d. within a batch, and the mean decay over steps stands "
        "for the decay (small learning rate). For LM windows the strength is lambda (1 - q_k^B), q_k = P(a window "
        "lacks k): lower than the i.i.d. formula for bursty tokens; the bound lambda min(1, B L p) still holds.",
        {"sympy": sym_rows, "checks": rows},
        tables={"bounded_schedules_relu_closed_form__sympy.csv": sym_rows,
                "bounded_schedules_relu_closed_form__checks.csv": rows},
        rule=rule)


# ---- claim 2: does a bounded schedule ever raise a class's loss?

def verdict_bounded_schedule_never_raises_a_loss(rows) -> tuple[str, str]:
    rule = (f"'not checkable as stated' if an unconstrained point's duality gap exceeds {GAP_TOL:g}; else 'holds' "
            "iff under every bounded schedule every class's loss is at most uniform decay's (a rise above "
            f"{RISE_TOL['ufm-relu']:g} in the ReLU closed form, above {RISE_TOL['ufm-unconstrained']:g} at the "
            "certified unconstrained optimum, counts as raised); 'holds under stated conditions' iff no ReLU row "
            "raises a loss but some unconstrained (model, decayed group) does (the conditions: the model and group "
            "that never raise); 'fails' iff a ReLU row raises a loss")
    if any(r["duality gap"] > GAP_TOL for r in rows):
        return "not checkable as stated", rule
    raised = [r for r in rows if r["max rise over uniform"] > RISE_TOL[r["model"]]]
    if not raised:
        return "holds", rule
    return ("fails" if any(r["model"] == "ufm-relu" for r in raised) else "holds under stated conditions"), rule


def _uniform_optima():
    """Per instance and (model, decayed group): (instance, counts, model, group, solver, uniform decay's per-class
    loss, its gap); the solver then starts from the uniform optimum."""
    for inst, counts in INSTANCES.items():
        lam = C / counts.sum()
        for model, target in TARGETS:
            solver = _Solver(model, target, counts, lam)
            yield (inst, counts, model, target, solver, *solver(np.full(counts.size, lam)))


def _no_rise_rows() -> list:
    rows = []
    for inst, counts, model, target, solver, uni, uni_gap in _uniform_optima():
        for name, (family, x) in _references(counts).items():
            loss, gap = solver(_strengths(family, counts, solver.lam, x))
            rise = loss - uni
            k = int(np.argmax(rise))
            rows.append({"instance": inst, "model": model, "decayed group": target, "schedule": name,
                         "max rise over uniform": float(rise[k]), "count of that class": float(counts[k]),
                         "largest drop": float(-rise.min()),
                         "average change": _stats(counts, loss)[0] - _stats(counts, uni)[0],
                         "balanced change": _stats(counts, loss)[1] - _stats(counts, uni)[1],
                         "duality gap": max(gap, uni_gap)})
    return rows


# ---- claim 3: balanced loss at a fixed average-loss cost

def verdict_bounded_schedule_tradeoff(rows) -> tuple[str, str]:
    rule = ("at each (instance, model, decayed group, cost f): 'holds' iff the capped and the occurrence schedule "
            "each reach the average loss (1 - f) x uniform's with a balanced loss lower than uniform decay of the "
            "same group at the smaller lambda that reaches it (by more than 1e-9), or cannot reach that average "
            "(NaN: the capped schedule's cost is at most that of n_ref = the largest count), with at least one "
            f"reaching it per row, and every unconstrained point is certified (gap <= {GAP_TOL:g}); else 'fails'")
    ok = True
    for r in rows:
        ref = r["balanced: uniform, smaller lambda"]
        got = [r[f"balanced: {fam}"] for fam in FAMILIES[1:]]
        ok &= r["max duality gap"] <= GAP_TOL and np.isfinite(ref) and any(np.isfinite(g) for g in got)
        ok &= all(not np.isfinite(g) or g < ref - 1e-9 for g in got)
    return ("holds" if ok else "fails"), rule


# where the parameter is searched (capped: [smallest count, largest count]); the upper ends are uniform decay (T =
# 1e3 within 1e-5 of it on these instances), the lower ends reach more than the largest cost in COSTS
BRACKETS = {"uniform, smaller lambda": (0.25, 1.0), "occurrence": (1.0, 1e3)}


def _at_cost(solver: _Solver, family: str, counts: np.ndarray, target_avg: float) -> tuple[float, float, float]:
    """(parameter, balanced loss, gap) of the family member whose average loss is target_avg; NaN if none is."""
    lo, hi = BRACKETS.get(family, (float(counts.min()), float(counts.max())))
    gaps = []

    def excess(logx):
        loss, gap = solver(_strengths(family, counts, solver.lam, float(np.exp(logx))))
        gaps.append(gap)
        return _stats(counts, loss)[0] - target_avg

    a, b = np.log(lo), np.log(hi)
    fa, fb = excess(a), excess(b)
    if np.sign(fa) == np.sign(fb):
        return float("nan"), float("nan"), max(gaps)
    logx = brentq(excess, a, b, xtol=1e-7)
    loss, gap = solver(_strengths(family, counts, solver.lam, float(np.exp(logx))))
    return float(np.exp(logx)), _stats(counts, loss)[1], max(gaps + [gap])


def lp_best_balanced(counts: np.ndarray, uniform_loss: np.ndarray, target_avg: float) -> float:
    """min (1/V) sum_k l_k s.t. sum_k (n_k/N) l_k = target_avg, 0 <= l_k <= uniform_loss_k (module docstring): fill
    the classes from the most frequent, each up to its uniform loss, until the average is reached."""
    w = counts / counts.sum()
    if not (0 <= target_avg <= w @ uniform_loss):
        raise ValueError(f"average {target_avg} outside [0, {w @ uniform_loss}]")
    loss, acc = np.zeros_like(uniform_loss), 0.0
    for k in np.argsort(-counts, kind="stable"):
        loss[k] = min(uniform_loss[k], (target_avg - acc) / w[k])
        acc += w[k] * loss[k]
    return float(loss.mean())


def _tradeoff_rows() -> list:
    rows = []
    for inst, counts, model, target, solver, uni, uni_gap in _uniform_optima():
        avg_u, bal_u = _stats(counts, uni)
        for f in COSTS:
            row = {"instance": inst, "model": model, "decayed group": target, "cost f": f,
                   "uniform average": avg_u, "uniform balanced": bal_u, "average at cost": (1 - f) * avg_u}
            gaps = [uni_gap]
            for fam, pname in zip(FAMILIES, ("lambda share", "n_ref", "T = B L")):
                x, bal, gap = _at_cost(solver, fam, counts, (1 - f) * avg_u)
                row[f"{fam}: {pname}"], row[f"balanced: {fam}"] = x, bal
                gaps.append(gap)
            row["balanced: best bounded (linear programme)"] = (
                lp_best_balanced(counts, uni, (1 - f) * avg_u) if model == "ufm-relu" else float("nan"))
            row["max duality gap"] = max(gaps)
            rows.append(row)
    return rows


def claims_bounded() -> list[Claim]:
    no_rise, trade = _no_rise_rows(), _tradeoff_rows()
    v_rise, r_rise = verdict_bounded_schedule_never_raises_a_loss(no_rise)
    v_trade, r_trade = verdict_bounded_schedule_tradeoff(trade)
    worst = max((r for r in no_rise if r["model"] == "ufm-unconstrained"), key=lambda r: r["max rise over uniform"])
    return [
        claim_bounded_relu_closed_form(),
        Claim(
            "bounded_schedule_never_raises_a_loss",
            "(Ours.) A per-class decay bounded by uniform decay (every lambda_k <= lambda) never raises any class's "
            "loss above uniform decay's; so it can only lower the rare classes' losses, and a schedule that levels "
            "every class does so at or below the most frequent class's uniform loss (the balanced loss falls only "
            "with the average loss).",
            f"Per-class losses under capped (n_ref = median, largest count) and occurrence (T = N / n_ref) schedules "
            f"against uniform decay, on {', '.join(INSTANCES)} at c = {C}: ReLU UFM feature decay (closed form), "
            "unconstrained UFM feature decay and output-row decay (certified, perclass.solve_perclass_unconstrained).",
            v_rise,
            "ReLU: class k's loss depends on lh_k alone and grows with it, so it can only fall. Unconstrained: the "
            "classes share the nuclear norm, and less decay on one group can raise another class's loss; the "
            f"largest rise is {worst['max rise over uniform']:.2e} nats (class of count "
            f"{worst['count of that class']:g}, {worst['decayed group']}, {worst['schedule']}, {worst['instance']}).",
            {"rows": no_rise}, tables={"bounded_schedule_never_raises_a_loss__rows.csv": no_rise}, rule=r_rise),
        Claim(
            "bounded_schedule_tradeoff",
            "(Ours.) At a fixed average-loss cost (the share f of uniform decay's average loss given up), the capped "
            "and occurrence schedules reach a lower balanced loss than simply decaying the same group uniformly "
            "less; the table gives the n_ref and T = B L that reach each cost.",
            f"Brent's method on n_ref, T and the smaller uniform strength, to the average loss (1 - f) x uniform's "
            f"for f in {COSTS}, on {', '.join(INSTANCES)} at c = {C}; ReLU: the linear-programme optimum over all "
            "bounded feature schedules as the floor.",
            v_trade,
            "Within one family a cost fixes its parameter (the average loss is monotone in n_ref and T), so the "
            "balanced-minimising n_ref at a fixed cost is the one that reaches it. In the ReLU model the floor over "
            "all bounded schedules is a step (full decay for the head, none for the tail), which the capped "
            "schedule meets only when the classes below n_ref share one count.",
            {"rows": trade}, tables={"bounded_schedule_tradeoff__rows.csv": trade}, rule=r_trade),
    ]
