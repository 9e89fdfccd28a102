"""Simulation configs: dataclasses with presets (`quick`, `full`), or a TOML/JSON file of the same keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from plumbing.config import load_dataclass_config
from plumbing.errors import InputError
from plumbing.validate import check_int, check_real, check_unique
from theory.ufm.metrics import MASS, PERCENTILE
from theory.ufm.problem import MODELS as THEORY_MODELS

MODELS = THEORY_MODELS + ("softmax-regression", "mlp")  # the UFM models are the ones theory solves
OPTIMIZERS = ("gd", "adam", "adamw", "lbfgs")
# `simulations mitigation` trains these subsets: the L2 objective (lbfgs, certified on the unconstrained UFM) and
# the decoupled decay (adamw), on the two UFMs and the MLP
MITIGATION_MODELS = ("ufm-unconstrained", "ufm-relu", "mlp")
MITIGATION_OPTIMIZERS = ("lbfgs", "adamw")


@dataclass(frozen=True)
class SimConfig:
    """One grid of runs: every model x optimizer, each trained for all lambdas x seeds in one batch.

    counts: "zipf" (Zipf(alpha), rarest class count 1, or `total` samples), "step" (two-level:
    the top `step_frac` classes have `step_ratio` times the count of the rest), "wordfreq:LANG"
    (top V words of a real frequency list, scaled to `total`), or a path to a counts file.
    lambdas: L2 weights for gd, adam, lbfgs (penalty lambda/2 ||theta||^2 on the mean loss; for the UFM the
    feature penalty is per sample, as in `theory`). adamw_lambdas: the decoupled decay of adamw
    (theta <- theta - lr lambda theta), on its own scale (the paper's 0..2): the two lambdas are not
    the same quantity, so each AdamW endpoint is compared with the certified L2 optimum at its matched strength
    (simulations.run.effective_lambda: the L2 lambda whose optimum is nearest the endpoint).
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
    low_percentile: float = PERCENTILE  # low/high split by the count percentile (the paper's P99)
    head_mass: float = MASS  # and by cumulative mass: high = the fewest most frequent classes holding this share
    equal_mass_bins: int = 5

    def __post_init__(self):
        for name in ("models", "optimizers", "lambdas", "adamw_lambdas", "seeds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "lr", {**SimConfig.__dataclass_fields__["lr"].default_factory(), **self.lr})
        object.__setattr__(self, "steps", {**SimConfig.__dataclass_fields__["steps"].default_factory(),
                                           **self.steps})
        check_int("V", self.V, 2, allow_numpy=False)
        check_real("alpha", self.alpha, 0, low_open=True)
        check_real("noise", self.noise, 0)
        for name in ("models", "optimizers", "lambdas", "adamw_lambdas", "seeds"):  # a repeat is no replicate
            check_unique(name, getattr(self, name))
        for seed in self.seeds:
            check_int("seeds", seed, 0, allow_numpy=False)
        for m in self.models:
            if m not in MODELS:
                raise InputError(f"unknown model {m!r}; allowed: {', '.join(MODELS)}")
        for o in self.optimizers:
            if o not in OPTIMIZERS:
                raise InputError(f"unknown optimizer {o!r}; allowed: {', '.join(OPTIMIZERS)}")
        for lam in self.lambdas + self.adamw_lambdas:
            check_real("lambdas", lam, 0)
        for name in ("lr", "steps"):
            for key in getattr(self, name):
                if key not in OPTIMIZERS:
                    raise InputError(f"unknown optimizer {key!r} in {name}; allowed: {', '.join(OPTIMIZERS)}")
        for name in ("checkpoints", "input_dim", "hidden", "equal_mass_bins"):
            check_int(name, getattr(self, name), 1, allow_numpy=False)
        for o in self.optimizers:
            check_real(f"lr[{o!r}]", self.lr.get(o), 0, low_open=True)
            check_int(f"steps[{o!r}] (at least checkpoints)", self.steps.get(o), self.checkpoints, allow_numpy=False)
        if self.d is not None:
            check_int("d", self.d, 1, allow_numpy=False)
        if not (check_real("low_percentile", self.low_percentile, 0, 100, low_open=True) < 100):
            raise InputError(f"low_percentile must be in (0, 100), got {self.low_percentile!r}")
        if not (check_real("head_mass", self.head_mass, 0, 1, low_open=True) < 1):
            raise InputError(f"head_mass must be in (0, 1), got {self.head_mass!r}")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "quick": SimConfig(models=("ufm-unconstrained", "ufm-relu", "mlp"), seeds=(0, 1, 2),
                       steps={"gd": 2000, "adam": 2000, "adamw": 2000, "lbfgs": 600}),
    "full": SimConfig(name="full", V=1000, lambdas=(0.0, 1e-5, 3e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3),
                      seeds=(0, 1, 2), steps={"gd": 20000, "adam": 20000, "adamw": 20000, "lbfgs": 3000},
                      checkpoints=50),
}


def load_config(spec: str, **overrides) -> SimConfig:
    """A preset name or a .toml/.json file whose keys are SimConfig fields (unknown keys are refused)."""
    return load_dataclass_config(spec, PRESETS, "quick", overrides)
