"""Weight decay in the LM: which parameters each decay mode decays, how strongly, and which settings are stable.

One home for the decay path: `decay_groups` (AdamW's parameter groups), `row_strengths` (the per-token strength
of the embedding/output rows of the bounded modes), `apply_row_decay` (those rows' decay at each AdamW step)
and `check_stable` (the guard that refuses a decay that one step could not apply as a decay).

Decay modes (DECAY_MODES, a dispatch table: mode -> what it exempts and how its rows are decayed):
  all             every parameter, AdamW's decoupled decay p <- (1 - lr lambda) p
  no-norm-bias    all but normalisation weights and biases -- the usual LLM recipe and the default; the LM's
                  `uniform` of theory.glossary.MITIGATIONS (every embedding/output row decayed with lambda)
  no-embed        additionally not the input embedding (every nn.Embedding)
  no-embed-out    additionally not the output layer (model.get_output_embeddings())
  capped-embed-out  as no-norm-bias, but row k of the input embedding and of the output layer (token k) is decayed
                  with lambda_k = lambda min(1, n_k / mean(n)): the UFM's equalising schedule lambda n_k / mean(n)
                  capped at uniform decay, so no row is decayed harder than uniform decay decays it
  lazy-embed-out  as no-norm-bias, but row k of the input embedding decays (by 1 - lr lambda) only at a step whose
                  inputs hold token k, row k of the output layer only at a step whose targets hold it (a tied
                  matrix: either); its mean strength is lambda P(token k in a batch) <= lambda
                  (`occurrence_probability`)
no-embed-out, capped-embed-out and lazy-embed-out are the mitigations of the same names in theory.glossary (the
names are those of the committed GPU results; `LM_MITIGATIONS` maps each glossary name to its LM mode).
A bounded mode's rows take AdamW's own factor (1 - lr lambda_k), applied where AdamW applies it (before the
update), so a row with lambda_k = lambda is decayed exactly as uniform decay decays it. With tied embeddings the
shared matrix is input embedding AND output layer, so "no-embed" and "no-embed-out" both exempt it (they differ
only for an untied model).

Stability (`check_stable`): one decoupled step multiplies a decayed weight by 1 - lr s (s its strength). It is a
decay only while lr s < 1 (at lr s >= 1 the weight is erased or flips sign), and it follows the continuous decay
exp(-lr s) of the regularised objective -- the dynamics the UFM theory describes -- to within
|1 - x - exp(-x)| <= x^2 / 2 <= 0.5% a step only while x = lr s <= 0.1. So every strength, per row included, must
satisfy lr_peak x s <= MAX_DECAY_PER_STEP = 0.1; anything above is refused before training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from plumbing.errors import InputError

from .model import embedding_ids

MAX_DECAY_PER_STEP = 0.1  # lr x strength, derived in the module doc

# mode -> (exempt norm/bias, exempt the input embedding, exempt the output layer, how their rows are decayed)
# rows: None = by AdamW with the group's weight_decay, "capped" / "lazy" = row by row (apply_row_decay)
DECAY_MODES = {
    "all": (False, False, False, None),
    "no-norm-bias": (True, False, False, None),
    "no-embed": (True, True, False, None),
    "no-embed-out": (True, True, True, None),
    "capped-embed-out": (True, False, False, "capped"),
    "lazy-embed-out": (True, False, False, "lazy"),
}
# theory.glossary.MITIGATIONS name -> the LM decay mode that applies it (count-embed-out has no LM mode: unbounded)
LM_MITIGATIONS = {"uniform": "no-norm-bias", "no-embed-out": "no-embed-out", "capped-embed-out": "capped-embed-out",
                  "lazy-embed-out": "lazy-embed-out"}


def check_mode(mode: str) -> str:
    if mode not in DECAY_MODES:
        raise InputError(f"unknown decay mode {mode!r}; allowed: {', '.join(DECAY_MODES)}")
    return mode


def row_strengths(mode: str, weight_decay: float, counts) -> np.ndarray | None:
    """The per-row strength of the embedding/output rows that the mode decays row by row (float64, length V):
    capped-embed-out lambda min(1, n_k / mean(n)); lazy-embed-out lambda (its rows decay at a step only when their
    token occurs; the mean over steps is lambda P(occurs), `occurrence_probability`); None for the other modes."""
    kind = DECAY_MODES[check_mode(mode)][3]
    if kind is None:
        return None
    if counts is None:
        raise InputError(f"decay mode {mode!r} needs the training counts of the tokens")
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size == 0 or not np.all(np.isfinite(n)) or np.any(n < 0) or n.sum() <= 0:
        raise InputError(f"decay mode {mode!r}: counts must be finite, >= 0, not all 0, got {n.size} values")
    if kind == "capped":
        return weight_decay * np.minimum(1.0, n / n.mean())
    return np.full(n.size, float(weight_decay))


def occurrence_probability(train_ids: np.ndarray, seq_len: int, batch_size: int, vocab: int,
                           role: str) -> np.ndarray:
    """P(token k occurs in a step's inputs (role "inputs") or targets ("targets")): the batch is batch_size windows
    of seq_len + 1 ids whose starts are drawn independently and uniformly from [0, T - seq_len - 1] (train.batch_at),
    inputs = window[:-1], targets = window[1:]. With q_k the share of starts whose window holds k in that role,
    P_k = 1 - (1 - q_k)^batch_size -- exact for this sampling. For i.i.d. tokens of frequency p_k it is
    1 - (1 - p_k)^(batch_size seq_len), the schedule of theory's lazy decay."""
    ids = np.asarray(train_ids, dtype=np.int64)
    n_starts = ids.size - seq_len
    offset = {"inputs": 0, "targets": 1}[role]
    hits = np.zeros(vocab, dtype=np.int64)
    # a start s holds id k at position j in [offset, offset + seq_len); count the starts per id once each
    last_start = np.full(vocab, -1, dtype=np.int64)
    for pos in range(offset, ids.size):
        k = ids[pos]
        lo, hi = max(0, pos - offset - seq_len + 1), min(n_starts - 1, pos - offset)  # starts whose window holds pos
        lo = max(lo, last_start[k] + 1)
        if hi >= lo:
            hits[k] += hi - lo + 1
            last_start[k] = hi
    q = hits / n_starts
    return 1.0 - (1.0 - q) ** batch_size


def check_stable(mode: str, weight_decay: float, lr: float, counts=None) -> None:
    """Refuse (InputError) a decay whose per-step factor lr x strength exceeds MAX_DECAY_PER_STEP, per row
    included: the error names the mode, the strength and the rows above the bound."""
    rows = row_strengths(mode, weight_decay, counts)
    if rows is None:
        if lr * weight_decay > MAX_DECAY_PER_STEP:
            raise InputError(f"decay mode {mode!r}: lr x weight decay = {lr:g} x {weight_decay:g} = "
                             f"{lr * weight_decay:.3g} > {MAX_DECAY_PER_STEP} a step (unstable); lower lr or lambda")
        return
    bad = np.flatnonzero(lr * rows > MAX_DECAY_PER_STEP)
    if bad.size:
        shown = ", ".join(f"token {k}: {rows[k]:.3g}" for k in bad[np.argsort(-rows[bad])][:3])
        raise InputError(f"decay mode {mode!r}: {bad.size} embedding/output rows have lr x strength above "
                         f"{MAX_DECAY_PER_STEP} a step (lr {lr:g}; {shown}); lower lr or lambda")


def decay_groups(model: nn.Module, mode: str, weight_decay: float, counts=None, device=None) -> list[dict]:
    """AdamW parameter groups of a decay mode (module doc): {"name": "decay", "weight_decay": lambda},
    {"name": "no_decay", "weight_decay": 0.0} and, for a bounded mode, one {"name": "row_decay", "weight_decay": 0.0,
    "row_strength": (V,) tensor, "rows_from": "inputs" | "targets" | "both" | None} per embedding/output matrix
    (rows_from: which ids of a batch mark the rows of a lazy mode; None for capped). Every trainable parameter is
    in exactly one group (a tied tensor once); empty groups are left out."""
    no_norm, no_embed, no_out, kind = DECAY_MODES[check_mode(mode)]
    norm_or_bias = set()
    for module in model.modules():
        is_norm = "Norm" in type(module).__name__
        for pname, p in module.named_parameters(recurse=False):
            if is_norm or pname.endswith("bias"):
                norm_or_bias.add(id(p))
    embed, out = embedding_ids(model)
    exempt = (norm_or_bias if no_norm else set()) | (embed if no_embed else set()) | (out if no_out else set())
    rows = embed | out if kind else set()
    params = {id(p): p for p in model.parameters() if p.requires_grad}
    groups = [{"name": "decay", "params": [p for i, p in params.items() if i not in exempt | rows],
               "weight_decay": float(weight_decay)},
              {"name": "no_decay", "params": [p for i, p in params.items() if i in exempt - rows],
               "weight_decay": 0.0}]
    if kind:
        strength = torch.as_tensor(row_strengths(mode, weight_decay, counts), dtype=torch.float32, device=device)
        for i in sorted(rows & params.keys(), key=lambda i: (i not in embed, i)):
            p = params[i]
            if p.dim() != 2 or p.shape[0] != strength.shape[0]:
                raise InputError(f"decay mode {mode!r}: {strength.shape[0]} token counts, but the embedding/output "
                                 f"matrix has shape {tuple(p.shape)}: one count per row is needed")
            role = "both" if i in embed and i in out else "inputs" if i in embed else "targets"
            groups.append({"name": "row_decay", "params": [p], "weight_decay": 0.0, "row_strength": strength,
                           "rows_from": role if kind == "lazy" else None})
    return [g for g in groups if g["params"]]


@torch.no_grad()
def apply_row_decay(opt: torch.optim.Optimizer, batch: torch.Tensor) -> None:
    """Before the AdamW step (where AdamW decays): row k of each "row_decay" group's matrix *= 1 - lr
    row_strength[k], for a lazy group
    only the rows of the ids in `batch` ((B, seq_len + 1); inputs batch[:, :-1], targets batch[:, 1:]) of its
    role. The factor is AdamW's own decoupled decay, so a row at full strength decays as uniform decay does."""
    for group in opt.param_groups:
        if group["name"] != "row_decay":
            continue
        factor = 1.0 - group["lr"] * group["row_strength"]
        role = group["rows_from"]
        if role is not None:
            ids = {"inputs": batch[:, :-1], "targets": batch[:, 1:], "both": batch}[role].reshape(-1)
            present = torch.zeros_like(factor).index_fill_(0, ids.to(factor.device), 1.0)
            factor = 1.0 - (1.0 - factor) * present
        for p in group["params"]:
            p.mul_(factor.to(p.dtype)[:, None])
