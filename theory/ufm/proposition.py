"""The paper's Proposition, taken as stated: l_CE(W h_{k,i}, y_k) = log(sum_j exp(M_j / V^2)) - M_k.

M is not defined in any public copy of the paper, so the statement can only be checked through what it
implies for every M. `symbolic.proposition_inverse` shows that any loss vector l is reproduced by exactly
one M, namely M_k = L - l_k with L = V^2/(V^2 - 1) log sum_j exp(-l_j / V^2); hence the formula alone
constrains nothing, and its content lies entirely in how M is defined.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def proposition_loss(M: np.ndarray) -> np.ndarray:
    """l_k = log(sum_j exp(M_j / V^2)) - M_k (log-sum-exp; V = len(M))."""
    M = np.asarray(M, dtype=np.float64)
    V = M.size
    return logsumexp(M / V**2) - M


def implied_M(loss: np.ndarray) -> np.ndarray:
    """The unique M with proposition_loss(M) == loss: M_k = L - l_k, L = V^2/(V^2-1) lse(-l/V^2)."""
    loss = np.asarray(loss, dtype=np.float64)
    V = loss.size
    L = V**2 / (V**2 - 1.0) * logsumexp(-loss / V**2)
    return L - loss


def shift_response(M: np.ndarray, shift: float) -> np.ndarray:
    """Change of every l_k when M -> M + shift: equals shift/V^2 - shift, not 0 as for logits under CE."""
    return proposition_loss(np.asarray(M, np.float64) + shift) - proposition_loss(M)
