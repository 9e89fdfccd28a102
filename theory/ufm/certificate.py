"""A certificate anyone can check: `solve --save-solution FILE.npz`, then `certify FILE.npz --counts ...`.

The file holds the primal point in group form (Z = A[index, index] + diag(B[index]): column k = logits of
class k, index[k] = group of class k), the dual point in the same form (Q[i, j] = q_other[index[i],
index[j]] for i != j, Q[j, j] = q_self[index[j]]: column j is a distribution over the V classes) and the
objective and bound the solver claims. `certify` recomputes both from the arrays alone, in float64 with a
log-sum-exp, by code that shares nothing with the solver (theory.ufm.unconstrained, theory.ufm.dual):

    objective = sum_k (n_k/N) CE(z_k, k) + mu ||Z D||_*,      D = diag(sqrt(n)), mu = sqrt(lambda_W lambda_H)
    bound     = sum_k (n_k/N) H(q'_k)                          (H = entropy)

where Q' = (1 - t) I + t Q, t = min(1, N mu / ||(I - Q) D||_2): weak Fenchel duality says this is <= the
global minimum whenever the columns of Q are distributions (checked: entries >= 0, column sums within
1e-12 of 1); the shrink by t makes the spectral constraint hold exactly, whatever rounding the solver did.
Up to `FULL_V` classes the full V x V matrices are built (full SVDs); beyond, the spectral quantities use
the exact block split of a group-structured matrix (g x g block + one scalar per group, see the
docstring of theory.ufm.reduced), after checking that the classes of each group have equal counts.
The gap is never clamped: a bound above the objective by more than 1e-12 relative is refused, and so is
a file that claims a larger bound (or a smaller objective) than its arrays give, or a non-finite one, a file
for other counts or lambdas than the command line's, a malformed group index, and a gap above the tolerance.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
from scipy.special import logsumexp, xlogy

from plumbing.atomic import atomic_path
from plumbing.errors import InputError
from plumbing.validate import check_real

from .problem import Problem

FULL_V = 1500  # up to this V, certify from the full V x V matrices
REL = 1e-12  # rounding allowance, relative to max(1, |objective|)
FORMAT = "fair-lm unconstrained-ufm certificate v1"
_KEYS = ("A", "B", "index", "q_other", "q_self", "objective", "lower_bound", "counts", "lambda_w", "lambda_h")


def check_solution_path(path: str | os.PathLike) -> Path:
    """The path `save_solution` writes, exactly as given: a file path, never an existing folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--save-solution must be a file path, got the folder {str(path)!r}")
    return path


def save_solution(path: str | os.PathLike, solution) -> None:
    """Write an UnconstrainedSolution (primal and dual point, claimed objective and bound) to `path`.

    Atomic and exact: the arrays go to a temporary file in the same folder, renamed onto `path` (np.savez
    given a name would append '.npz' to it); a folder is refused."""
    if solution.q_other is None:
        raise InputError("no certificate to save: lambda_W lambda_H = 0 has no attained minimiser")
    path = check_solution_path(path)
    p = solution.problem
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, format=np.array(FORMAT), counts=p.counts, lambda_w=p.lambda_w, lambda_h=p.lambda_h,
                     A=solution.A, B=solution.B, index=solution.groups.index.astype(np.int64),
                     q_other=solution.q_other, q_self=solution.q_self,
                     objective=solution.objective, lower_bound=solution.lower_bound)
    except OSError as exc:
        raise InputError(f"cannot write solution file {str(path)!r}: {exc}") from exc


def load_solution(path: str | os.PathLike) -> dict:
    """The file's arrays (float64; index int64), or InputError: unreadable, a key missing, a non-integer index."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in _KEYS}
        data = {k: np.asarray(raw[k], dtype=np.float64) for k in _KEYS if k != "index"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read solution file {str(path)!r}: {' '.join(str(exc).split())}") from exc
    if not np.issubdtype(raw["index"].dtype, np.integer):
        raise InputError(f"solution file {str(path)!r}: the group index must hold integers, got {raw['index'].dtype}")
    data["index"] = raw["index"].astype(np.int64)
    return data


def _check_problem(d: dict, problem: Problem) -> None:
    """The file's counts and lambdas must be the command line's (exactly: both are float64)."""
    if d["counts"].shape != problem.counts.shape or not np.array_equal(d["counts"], problem.counts):
        raise InputError(f"the solution file is for other counts ({d['counts'].size} classes, N = "
                         f"{float(np.sum(d['counts'])):g}) than given ({problem.V} classes, N = {problem.N:g})")
    for key, given in (("lambda_w", problem.lambda_w), ("lambda_h", problem.lambda_h)):
        if d[key].shape != () or float(d[key]) != given:
            raise InputError(f"the solution file is for {key} = {d[key].tolist()!r}, not the given {given!r}")
    for key in ("objective", "lower_bound"):
        if d[key].shape != () or not np.isfinite(d[key]):
            raise InputError(f"the solution file claims {key} {d[key].tolist()!r}: a finite number is required")


def _check_shapes(d: dict, V: int) -> int:
    idx = d["index"]
    g = d["B"].size
    if idx.shape != (V,) or d["A"].shape != (g, g) or d["q_other"].shape != (g, g) or d["q_self"].shape != (g,):
        raise InputError(f"solution file does not fit V = {V} classes: index {idx.shape}, A {d['A'].shape}, "
                         f"B {d['B'].shape}, q_other {d['q_other'].shape}, q_self {d['q_self'].shape}")
    if idx.min() < 0 or idx.max() >= g:
        raise InputError(f"solution file: group index outside 0..{g - 1}")
    if np.any(np.bincount(idx, minlength=g) == 0):
        raise InputError("solution file: a group has no class")
    for k in ("A", "B", "q_other", "q_self"):
        if not np.all(np.isfinite(d[k])):
            raise InputError(f"solution file: {k} has entries that are not finite")
    return g


def _full(problem: Problem, d: dict) -> tuple[np.ndarray, float, float, np.ndarray]:
    """(per-class CE, ||Z D||_*, ||(I - Q) D||_2, Q) from the full V x V matrices."""
    idx, n = d["index"], problem.counts
    V = n.size
    Z = d["A"][np.ix_(idx, idx)]
    Z[np.arange(V), np.arange(V)] += d["B"][idx]
    Q = d["q_other"][np.ix_(idx, idx)]
    Q[np.arange(V), np.arange(V)] = d["q_self"][idx]
    D = np.sqrt(n)
    ce = logsumexp(Z, axis=0) - np.diag(Z)
    nuc = float(np.linalg.svd(Z * D[None, :], compute_uv=False).sum())
    spec = float(np.linalg.norm((np.eye(V) - Q) * D[None, :], 2))
    return ce, nuc, spec, Q


def _grouped(problem: Problem, d: dict, g: int):
    """The same four quantities from the group form; Q returned as (q_other, q_self, copies)."""
    idx, n = d["index"], problem.counts
    m = np.bincount(idx, minlength=g).astype(np.float64)  # > 0: _check_shapes
    nb = n[np.unique(idx, return_index=True)[1]]  # count of the first class of each group
    if np.any(n != nb[idx]):
        raise InputError("solution file: classes of one group have different counts; the group form "
                         f"does not apply (certify with the full matrices: V <= {FULL_V})")
    A, B, qo, qs = d["A"], d["B"], d["q_other"], d["q_self"]
    copies = m[:, None] - np.eye(g)  # column b holds m_a - [a == b] non-true classes of group a
    with np.errstate(divide="ignore"):
        rows = np.vstack([np.log(copies) + A, (np.diag(A) + B)[None, :]])
    ce_g = logsumexp(rows, axis=0) - (np.diag(A) + B)
    sq = np.sqrt(nb)
    # a matrix K[index, index] + diag(e[index]), times D: block sqrt(m_a m_b n_b) K + diag(sqrt(n_b) e_b) on
    # the group indicators, and sqrt(n_b) e_b on the m_b - 1 zero-sum directions inside group b
    block = np.sqrt(np.outer(m, m) * nb[None, :])
    C = block * A + np.diag(sq * B)
    nuc = float(np.linalg.svd(C, compute_uv=False).sum() + (m - 1) @ np.abs(sq * B))
    e = 1.0 - qs + np.diag(qo)
    M = -block * qo + np.diag(sq * e)
    inside = np.abs(sq * e)[m > 1]
    spec = float(max(np.linalg.norm(M, 2), inside.max(initial=0.0)))
    return ce_g[idx], nuc, spec, (qo, qs, copies)


def certify(path: str | os.PathLike, problem: Problem, tol: float = 1e-9, full: bool | None = None) -> dict:
    """Objective, lower bound and gap recomputed from the file's arrays; InputError if they do not hold: the
    file is for other counts or lambdas, claims a non-finite objective or bound, has a malformed group index,
    an infeasible dual point, claims more than its arrays give, or its gap exceeds `tol`."""
    problem.require_d_at_least_v("the convex reformulation of the unconstrained model")
    tol = check_real("--tol", tol, 0.0, low_open=True)
    d = load_solution(path)
    _check_problem(d, problem)
    g = _check_shapes(d, problem.V)
    N, mu, w = problem.N, problem.mu, problem.weights
    full = problem.V <= FULL_V if full is None else full
    ce, nuc, spec, Q = _full(problem, d) if full else _grouped(problem, d, g)
    objective = float(w @ ce + mu * nuc)
    t = 1.0 if spec <= N * mu else N * mu / spec
    if full:
        bad_neg, sums = np.any(Q < 0), Q.sum(axis=0)
        Qt = (1.0 - t) * np.eye(problem.V) + t * Q
        ent = -xlogy(Qt, Qt).sum(axis=0)
    else:
        qo, qs, copies = Q
        bad_neg = np.any(qs < 0) or np.any(qo[copies > 0] < 0)
        sums_g = (copies * qo).sum(axis=0) + qs
        sums = sums_g[d["index"]]
        qo_t, qs_t = t * qo, (1.0 - t) + t * qs
        ent = (-(copies * xlogy(qo_t, qo_t)).sum(axis=0) - xlogy(qs_t, qs_t))[d["index"]]
    if bad_neg:
        raise InputError("the dual point is infeasible: Q has negative entries")
    dev = float(np.max(np.abs(sums - 1.0)))
    if dev > 1e-12:
        raise InputError(f"the dual point is infeasible: a column of Q sums to 1 {dev:+.1e}")
    bound = float(w @ ent)
    gap = objective - bound
    scale = REL * max(1.0, abs(objective))
    if gap < -scale:
        raise InputError(f"negative duality gap {gap:.3e}: bound {bound!r} above objective {objective!r}")
    if d["lower_bound"] > bound + scale or d["objective"] < objective - scale:
        raise InputError(f"the file claims objective {float(d['objective'])!r} and bound {float(d['lower_bound'])!r}, "
                         f"its arrays give {objective!r} and {bound!r}")
    if gap > tol:
        raise InputError(f"not certified: the duality gap {gap:.3e} of {str(path)!r} is above --tol {tol:g}")
    return {"objective": objective, "lower_bound": bound, "duality_gap": gap, "spectral_shrink": t,
            "column_sum_error": dev, "groups": g, "path": "full V x V matrices" if full else "group form",
            "claimed_objective": float(d["objective"]), "claimed_lower_bound": float(d["lower_bound"]),
            "per_class_loss": ce}
