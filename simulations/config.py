"""Simulation configs: dataclasses with presets (`quick`, `full`), or a TOML/JSON file of the same keys."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from theory.io import load_dataclass_config
from theory.problem import InputError

MODELS = ("ufm-unconstrained", "ufm-relu", "softmax-regression", "mlp")
OPTIMIZERS = ("gd", "adam", "adamw", "lbfgs")


@dataclass(frozen=True)
class SimConfig:
    """One grid of runs: every model x optimizer, each trained for all lambdas x seeds in one batch.

    counts: "zipf" (Zipf(alpha), rarest class count 1, or `total` samples), "step" (two-level:
    the top `step_frac` classes have `step_ratio` times the count of the rest), "wordfreq:LANG"
    (top V words of a real frequency list, scaled to `total`), or a path to a counts file.
    lambdas: L2 weights for gd, adam, lbfgs (penalty lambda/2 ||theta||^2 on the mean loss; for the UFM the
    feature penalty is per sample, as in `theory`). adamw_lambdas: the decoupled decay of adamw
    (theta <- theta - lr lambda theta), on its own scale (the paper's 0..2): the two lambdas are not
    the same quantity, so each AdamW endpoint is compared with the L2 theory at its best-matching lambda.
    """

    name: str = "quick"
    V: int = 100
    alpha: float = 1.0
    counts: str = "zipf"
    total: float | None = None
    step_frac: float = 0.1
    step_ratio: float = 10.0
    models: tuple = MODELS
    optimizers: tuple = OPTIMIZERS
    lambdas: tuple = (0.0, 1e-4, 3e-4, 1e-3, 2e-3)
    adamw_lambdas: tuple = (0.0, 0.1, 0.5, 1.0, 2.0)
    seeds: tuple = (0,)
    steps: dict = field(default_factory=lambda: {"gd": 3000, "adam": 3000, "adamw": 3000, "lbfgs": 400})
    lr: dict = field(default_factory=lambda: {"gd": 0.2, "adam": 0.01, "adamw": 0.01, "lbfgs": 1.0})
    checkpoints: int = 30
    d: int | None = None  # UFM feature dimension, default V
    input_dim: int = 32  # synthetic inputs for softmax-regression / mlp
    hidden: int = 64
    noise: float = 0.5
    low_percentile: float = 99.0
    equal_mass_bins: int = 5

    def __post_init__(self):
        for name in ("models", "optimizers", "lambdas", "adamw_lambdas", "seeds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "lr", {**SimConfig.__dataclass_fields__["lr"].default_factory(), **self.lr})
        object.__setattr__(self, "steps", {**SimConfig.__dataclass_fields__["steps"].default_factory(),
                                           **self.steps})
        if isinstance(self.V, bool) or not isinstance(self.V, int) or self.V < 2:
            raise InputError(f"V must be an integer >= 2, got {self.V!r}")
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise InputError(f"alpha must be > 0, got {self.alpha!r}")
        for m in self.models:
            if m not in MODELS:
                raise InputError(f"unknown model {m!r}; allowed: {', '.join(MODELS)}")
        for o in self.optimizers:
            if o not in OPTIMIZERS:
                raise InputError(f"unknown optimizer {o!r}; allowed: {', '.join(OPTIMIZERS)}")
        for lam in self.lambdas + self.adamw_lambdas:
            if isinstance(lam, bool) or not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
                raise InputError(f"lambdas must be finite numbers >= 0, got {lam!r}")
        for name in ("lr", "steps"):
            for key in getattr(self, name):
                if key not in OPTIMIZERS:
                    raise InputError(f"unknown optimizer {key!r} in {name}; allowed: {', '.join(OPTIMIZERS)}")
        for o in self.optimizers:
            lr = self.lr.get(o)
            if not (isinstance(lr, (int, float)) and lr > 0):
                raise InputError(f"lr[{o!r}] must be a number > 0, got {lr!r}")
        for o in self.optimizers:
            st = self.steps.get(o)
            if isinstance(st, bool) or not isinstance(st, int) or st < self.checkpoints:
                raise InputError(f"steps[{o!r}] must be an integer >= checkpoints ({self.checkpoints}), got {st!r}")
        for name in ("checkpoints", "input_dim", "hidden", "equal_mass_bins"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.d is not None and (not isinstance(self.d, int) or self.d < 1):
            raise InputError(f"d must be a positive integer, got {self.d!r}")
        if not 0 < self.low_percentile < 100:
            raise InputError(f"low_percentile must be in (0, 100), got {self.low_percentile!r}")
        if not self.seeds:
            raise InputError("seeds must not be empty")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "quick": SimConfig(models=("ufm-unconstrained", "ufm-relu", "mlp"),
                       steps={"gd": 2000, "adam": 2000, "adamw": 2000, "lbfgs": 600}),
    "full": SimConfig(name="full", V=1000, lambdas=(0.0, 1e-5, 3e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3),
                      seeds=(0, 1, 2), steps={"gd": 20000, "adam": 20000, "adamw": 20000, "lbfgs": 3000},
                      checkpoints=50),
}


def load_config(spec: str, **overrides) -> SimConfig:
    """A preset name or a .toml/.json file whose keys are SimConfig fields (unknown keys are refused)."""
    return load_dataclass_config(spec, PRESETS, "quick", overrides)
