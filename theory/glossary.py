"""The names the packages share: one home, imported by theory, simulations, lm_experiments and checked by tests.

Output-row decay treatments (the mitigations). Row k of the output layer is class/token k's weight vector
(W in the UFM, W2 in the MLP, the LM's output embedding); n_k its count, N = sum n, lambda the decay strength:
  uniform           every row decayed with lambda (the LM's baseline mode `no-norm-bias` does this too)
  no-embed-out      output rows not decayed
  count-embed-out   row k with lambda n_k / mean(n): same mean strength, UNBOUNDED above (kept as the negative result)
  capped-embed-out  row k with lambda min(1, n_k / mean(n)): count-embed-out capped at uniform decay
  lazy-embed-out    row k decayed only at steps whose T tokens include k: mean strength lambda (1 - (1 - n_k/N)^T)
The baseline of every comparison of decay modes is the FIRST mode a config lists (`baseline_mode`).
"""

from __future__ import annotations

MITIGATIONS = ("uniform", "no-embed-out", "count-embed-out", "capped-embed-out", "lazy-embed-out")


def baseline_mode(modes) -> str:
    """The decay mode every other mode of a config is compared with: the first one listed."""
    modes = list(modes)
    if not modes:
        raise ValueError("no decay modes: the first one listed is the baseline")
    return modes[0]
