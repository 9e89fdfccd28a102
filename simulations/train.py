"""Batched training: R runs (every lambda x seed of one model and optimizer) as one tensor program.

Models (per run r, float64 on the CPU, or on a GPU when given one):
  ufm-unconstrained / ufm-relu  free class features, collapsed per class: W (V x d), H (d x V), sample
      (k, i) has feature h_k. Loss (1/N) sum_k n_k CE(W h_k, k) + L2 lambda/2 (||W||^2 + sum_k n_k ||h_k||^2),
      the objective of `theory`. The gradient step on h_k is the per-sample one, (1/n_k) dL/dh_k, times
      N (features get N times the weight learning rate): identical samples stay identical, and the fixed
      points are those of `theory`. ufm-relu projects H onto H >= 0 after every step.
  softmax-regression  logits = W x on synthetic inputs x = prototype_k + noise (features not free).
  mlp                 logits = W2 relu(W1 x), one hidden layer.
Optimizers (all full batch): gd (L2 penalty in the gradient), adam (L2 penalty in the gradient), adamw
(decoupled: theta <- theta - lr (adam_step + lambda theta)), and lbfgs (torch L-BFGS with strong-Wolfe
line search on the L2 objective, one optimizer per run: each run keeps its own history and line search;
one line search over the objective summed over runs lets one run's scale set every run's step, and the
lambda = 0 run, whose objective has no minimum, never settles). gd, adam and lbfgs share the fixed points
of the L2 objective of `theory`; adamw does not. Whether a run got there is measured, not assumed
(simulations.run's `converged` column): the UFM is ill-conditioned (curvature of a class scales with
n_k / N), so plain GD needs O(N) steps to settle the rare classes. L-BFGS on the UFM trains the features
preconditioned, G = H diag(sqrt n) (every class's feature then has the same curvature scale), and for ufm-relu
H = G*G / sqrt(n) (G free), which keeps H >= 0 without a projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from plumbing.errors import InputError


@dataclass
class Batch:
    """Parameters and data of R runs of one model; `per_class_loss()` gives (R, V)."""

    model: str
    params: list  # tensors with leading run dimension R
    decay_scale: list  # per parameter: tensor broadcastable to it that multiplies the L2 / decay term
    grad_scale: list  # per parameter: multiplies the data gradient before the step (1 = plain)
    counts: torch.Tensor  # (V,)
    X: torch.Tensor | None = None  # (R, M, p) inputs of the synthetic models
    y: torch.Tensor | None = None  # (M,) labels

    squared: bool = False  # ufm-relu under lbfgs: params[1] is G with H = G * G (/ feature_scale)
    feature_scale: torch.Tensor | None = None  # UFM under lbfgs: H = params[1] / feature_scale (sqrt(n) per class)
    # per parameter: a run-wise multiplier of the decay (leading dimension R or 1), for per-class decay schemes
    # (simulations.mitigation); it multiplies both the L2 term and adamw's decoupled decay. None: 1 everywhere
    decay_mult: list | None = None
    # (R, M, p) fresh inputs of the same classes (same prototypes, y and counts, new noise): a held-out set for the
    # synthetic models, drawn by build(heldout=True); None otherwise
    X_heldout: torch.Tensor | None = None

    def mult(self, i: int):
        return 1.0 if self.decay_mult is None else self.decay_mult[i]

    def features(self) -> torch.Tensor:
        """The class features H: params[1] itself, or (lbfgs) G / sqrt(n) (ufm-relu: G * G / sqrt(n))."""
        G = self.params[1]
        H = G * G if self.squared else G
        return H if self.feature_scale is None else H / self.feature_scale

    def penalty(self, lambdas: torch.Tensor) -> torch.Tensor:
        """Sum over runs of lambda_r / 2 * sum_p decay_scale * p^2 (for the UFM: ||W||^2 + sum_k n_k ||h_k||^2)."""
        total = 0.0
        for i, p in enumerate(self.params):
            q = self.features() if (i == 1 and (self.squared or self.feature_scale is not None)) else p
            lam = lambdas.view(-1, *([1] * (q.dim() - 1)))
            total = total + 0.5 * (lam * self.decay_scale[i] * self.mult(i) * q * q).sum()
        return total

    def run(self, r: int) -> "Batch":
        """Run r alone: a Batch of one run whose parameters are new leaf tensors (copies of run r's)."""
        mult = None if self.decay_mult is None else [m[r:r + 1] if torch.is_tensor(m) and m.shape[0] > 1 else m
                                                     for m in self.decay_mult]
        return Batch(self.model, [p[r:r + 1].detach().clone().requires_grad_(True) for p in self.params],
                     self.decay_scale, self.grad_scale, self.counts,
                     None if self.X is None else self.X[r:r + 1], self.y, self.squared, self.feature_scale, mult)

    def per_sample_loss(self) -> torch.Tensor:
        """(R, M) cross-entropy of every sample (UFM: M = V collapsed samples, one per class)."""
        if self.model.startswith("ufm"):
            W, H = self.params[0], self.features()
            Z = torch.bmm(W, H)  # (R, V, V): column k = logits of class k
            return torch.logsumexp(Z, dim=1) - torch.diagonal(Z, dim1=1, dim2=2)
        if self.model == "softmax-regression":
            (W,) = self.params
            logits = torch.bmm(self.X, W.transpose(1, 2))
        else:
            W1, W2 = self.params
            logits = torch.bmm(torch.relu(torch.bmm(self.X, W1.transpose(1, 2))), W2.transpose(1, 2))
        return torch.logsumexp(logits, dim=2) - logits.gather(2, self.y.expand(logits.shape[0], -1)[..., None])[..., 0]

    def heldout_per_class_loss(self) -> torch.Tensor:
        """(R, V) mean loss of each class on X_heldout (InputError if there is none: the UFM has no inputs)."""
        if self.X_heldout is None:
            raise InputError(f"{self.model}: no held-out inputs (build(..., heldout=True) draws them for the "
                             "synthetic models; the UFM has none)")
        return replace(self, X=self.X_heldout, X_heldout=None).per_class_loss()

    def per_class_loss(self) -> torch.Tensor:
        """(R, V) mean loss of each class (log-sum-exp; scatter-add over samples)."""
        loss = self.per_sample_loss()
        if self.model.startswith("ufm"):
            return loss
        V = self.counts.numel()
        total = torch.zeros(loss.shape[0], V, dtype=loss.dtype, device=loss.device)
        total.index_add_(1, self.y, loss)
        return total / self.counts

    def data_loss(self) -> torch.Tensor:
        """Sum over runs of each run's mean training loss (runs are independent, so grads separate)."""
        per_class = self.per_class_loss()
        return (per_class @ self.counts).sum() / self.counts.sum()


def build(model: str, counts: np.ndarray, seeds: list, d: int, input_dim: int, hidden: int, noise: float,
          device: str = "cpu", heldout: bool = False) -> Batch:
    """Initialise R = len(seeds) runs (seeds repeat across lambdas; run r uses seeds[r]).

    heldout (synthetic models only): also draw X_heldout = prototype_y + fresh noise, the same number of samples
    per class, after every other draw of the run's generator, so the training data and initialisation are those
    of heldout=False."""
    dt = torch.float64
    n = torch.as_tensor(counts, dtype=dt, device=device)
    V = n.numel()
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def randn(*shape, scale=1.0):
        return torch.stack([torch.randn(*shape, generator=g, dtype=dt) for g in gens]).to(device) * scale

    ones = torch.ones(1, dtype=dt, device=device)
    if model.startswith("ufm"):
        W = randn(V, d, scale=1.0 / math.sqrt(d))
        H = randn(d, V, scale=1.0 / math.sqrt(d))
        if model == "ufm-relu":
            H = H.abs()
        N = n.sum()
        return Batch(model, [W, H], [ones, n.view(1, 1, V)], [ones, (N / n).view(1, 1, V)], n)
    if model not in ("softmax-regression", "mlp"):
        raise InputError(f"unknown model {model!r}")
    if not np.allclose(counts, np.round(counts)) or counts.sum() > 200_000:
        raise InputError(f"{model} needs integer counts with at most 200000 samples, got total {counts.sum():g}")
    y = torch.repeat_interleave(torch.arange(V, device=device), n.long())
    protos = randn(V, input_dim, scale=1.0 / math.sqrt(input_dim))  # (R, V, p)
    X = protos[:, y, :] + noise / math.sqrt(input_dim) * randn(int(n.sum().item()), input_dim)
    if model == "softmax-regression":
        params = [randn(V, input_dim, scale=0.01)]
        batch = Batch(model, params, [ones], [ones], n, X, y)
    else:
        W1 = randn(hidden, input_dim, scale=1.0 / math.sqrt(input_dim))
        W2 = randn(V, hidden, scale=0.01)
        batch = Batch(model, [W1, W2], [ones, ones], [ones, ones], n, X, y)
    if heldout:
        batch.X_heldout = protos[:, y, :] + noise / math.sqrt(input_dim) * randn(int(n.sum().item()), input_dim)
    return batch


def train(batch: Batch, optimizer: str, lambdas: torch.Tensor, lr: float, steps: int, checkpoints: int,
          progress=None, stop=None) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch training of all runs; returns (checkpoint steps (T,), per-class loss (T, R, V)).

    lambdas: (R,) weight decay per run. Checkpoint 0 is the initialisation; for lbfgs a step is one
    L-BFGS iteration. `stop(step, per_class_loss)`, if given, is asked at every checkpoint and ends
    training early when it returns True. Stops with InputError naming the runs whose loss became NaN
    or inf (no NaN is ever clipped).
    """
    if optimizer not in ("gd", "adam", "adamw", "lbfgs"):
        raise InputError(f"unknown optimizer {optimizer!r}; allowed: gd, adam, adamw, lbfgs")
    if optimizer == "lbfgs" and batch.model.startswith("ufm") and batch.feature_scale is None:
        # precondition: train G = H diag(sqrt n) (ufm-relu: H = G * G / sqrt n), so that every class's feature has
        # the same curvature scale (the data curvature of h_k scales with n_k / N) and the penalty
        # lambda/2 n_k ||h_k||^2 becomes lambda/2 ||g_k||^2 (ufm-relu: in G * G); the minimisers are the same.
        # Measured (benchmarks/ufm_lbfgs_path.py, V = 1000, lambda 1e-4): max |diff| to the certified optimum
        # 1.3e-2 after 120 iterations, against 4.2 without.
        scale = batch.counts.sqrt().view(1, 1, -1)
        H = batch.features()
        G = (H.abs() * scale).sqrt() if batch.model == "ufm-relu" else H * scale
        batch.params = [batch.params[0], G]
        batch.squared, batch.feature_scale = batch.model == "ufm-relu", scale
    params = [p.detach().clone().requires_grad_(True) for p in batch.params]
    batch.params = params
    marks = np.unique(np.linspace(0, steps, checkpoints + 1).round().astype(int))
    curves = []

    def record(step):
        with torch.no_grad():
            pcl = batch.per_class_loss()
        bad = ~torch.isfinite(pcl).all(dim=1)
        if bad.any():
            runs = torch.nonzero(bad).flatten().tolist()
            raise InputError(f"training diverged (loss NaN/inf) at step {step} in runs {runs} "
                             f"(lambda {lambdas[runs].tolist()}); lower lr[{optimizer!r}]")
        curves.append(pcl.cpu().numpy())
        return stop is not None and bool(stop(step, curves[-1]))

    record(0)
    if optimizer == "lbfgs":
        _lbfgs(batch, lambdas, lr, marks, record, progress)
    else:
        _first_order(batch, optimizer, lambdas, lr, marks, record, progress)
    return marks[: len(curves)], np.stack(curves)


# L-BFGS settings (per run): history of 50 pairs, strong-Wolfe line search, stop only on a vanishing
# gradient (max |grad| <= 1e-10) or a step that changes nothing (1e-15); at most 5/4 evaluations per iteration
LBFGS_HISTORY = 50
LBFGS_TOLERANCE_GRAD = 1e-10
LBFGS_TOLERANCE_CHANGE = 1e-15


def _lbfgs(batch, lambdas, lr, marks, record, progress):
    runs = [batch.run(r) for r in range(lambdas.numel())]
    opts = [torch.optim.LBFGS(run.params, lr=lr, max_iter=1, history_size=LBFGS_HISTORY,
                              line_search_fn="strong_wolfe", tolerance_grad=LBFGS_TOLERANCE_GRAD,
                              tolerance_change=LBFGS_TOLERANCE_CHANGE) for run in runs]

    def closure(run, opt, lam):
        def value():
            opt.zero_grad()
            v = run.data_loss() + run.penalty(lam)
            v.backward()
            return v
        return value

    for a, b in zip(marks[:-1], marks[1:]):
        for r, (run, opt) in enumerate(zip(runs, opts)):
            opt.param_groups[0]["max_iter"] = int(b - a)
            opt.param_groups[0]["max_eval"] = int(b - a) * 5 // 4 + 1
            opt.step(closure(run, opt, lambdas[r:r + 1]))
        batch.params = [torch.cat([run.params[i].detach() for run in runs]) for i in range(len(batch.params))]
        if progress is not None:
            progress.update(int(b - a))
        if record(int(b)):
            return


def _first_order(batch, optimizer, lambdas, lr, marks, record, progress):
    """gd / adam / adamw steps. A factor that is exactly 1 everywhere (a plain parameter's decay or gradient
    scale, no decay_mult) is left out of the products: x * 1 == x in floating point, so the steps are those of
    the full formula, bit for bit, with fewer full-size temporaries; adamw never forms the L2 gradient."""
    params = batch.params
    lam = [lambdas.view(-1, *([1] * (p.dim() - 1))) for p in params]
    gscale = [_unless_one(s) for s in batch.grad_scale]
    # the L2 gradient lambda * p * decay_scale * grad_scale * mult, its factors in that order (scaled like the data
    # gradient); adamw's decoupled decay lambda * p * mult
    l2_factors = [[f for f in (batch.decay_scale[i], batch.grad_scale[i], batch.mult(i)) if _unless_one(f) is not None]
                  for i in range(len(params))]
    decoupled = [[f for f in (batch.mult(i),) if _unless_one(f) is not None] for i in range(len(params))]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    mark_set = set(int(x) for x in marks[1:])
    for step in range(1, int(marks[-1]) + 1):
        for p in params:
            p.grad = None
        batch.data_loss().backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                g = p.grad if gscale[i] is None else p.grad * gscale[i]
                if optimizer == "gd":
                    p -= lr * (g + _product(lam[i] * p, l2_factors[i]))
                    continue
                if optimizer == "adam":
                    g = g + _product(lam[i] * p, l2_factors[i])
                m[i].mul_(b1).add_(g, alpha=1 - b1)
                v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = v[i] / (1 - b2**step)
                upd = m[i] / (1 - b1**step)
                upd.div_(denom.sqrt_().add_(eps))
                if optimizer == "adamw":
                    upd.add_(_product(lam[i] * p, decoupled[i]))
                p -= lr * upd
            if batch.model == "ufm-relu":
                params[1].clamp_(min=0.0)
        if progress is not None:
            progress.update(1)
        if step in mark_set and record(step):
            return


def _unless_one(factor):
    """factor, or None when it is exactly 1 everywhere (a multiplication by it changes no bit)."""
    if torch.is_tensor(factor):
        return None if bool((factor == 1).all()) else factor
    return None if factor == 1 else factor


def _product(x: torch.Tensor, factors: list) -> torch.Tensor:
    """x * f_1 * f_2 * ..., left to right, in place on x (a temporary)."""
    for f in factors:
        x.mul_(f)
    return x
