import os

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

# CI runs derandomized (the same examples every time); locally hypothesis explores new ones.
settings.register_profile("default", deadline=None, max_examples=40)
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# integer class counts, 2..8 classes; c = lambda * N is the per-sample decay strength
counts_st = st.lists(st.integers(1, 500), min_size=2, max_size=8).map(lambda xs: np.array(xs, dtype=float))
scale_st = st.floats(0.005, 3.0)


import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """Every test matrix is small; on a 2-core machine two BLAS threads only slow them down."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --- result folders made by the real writers, shared read-only across test files (copy before changing) ---
# The fixtures of other tests are built from these, never typed by hand, so a column renamed in a writer
# breaks the tests (see tests/test_schemas.py).

# a simulation grid that runs in seconds: both UFM theory paths (L2 optimizer, AdamW's matched lambda), an MLP
TINY_GRID = dict(V=6, models=("ufm-unconstrained", "mlp"), optimizers=("adam", "adamw"), lambdas=(0.0, 0.01),
                 adamw_lambdas=(0.001, 0.01), seeds=(0,), steps={"adam": 40, "adamw": 40}, checkpoints=4,
                 input_dim=4, hidden=8)
SWEEP_WORDS = ("the film was good bad long short funny dull plot actor scene story great awful music end "
               "quiet bright zebra quokka axolotl").split()


@pytest.fixture(scope="session")
def theory_verify_dir(tmp_path_factory):
    """`python -m theory verify` output (report.md/json, every claim's tables, figures), made once a session;
    read-only for the tests that share it."""
    from theory.verification.verify import write_report

    out = tmp_path_factory.mktemp("theory_verify") / "theory"
    write_report(out)
    return out


@pytest.fixture(scope="session")
def sim_grid_dir(tmp_path_factory):
    """simulations.run.run_grid on TINY_GRID: config.json, counts.csv, theory.csv, parts/, summary.csv, ..."""
    from simulations.config import SimConfig
    from simulations.run import run_grid

    out = tmp_path_factory.mktemp("sim_grid") / "simulations"
    run_grid(SimConfig(**TINY_GRID), out, progress=False)
    return out


@pytest.fixture(scope="session")
def lm_corpus_file(tmp_path_factory):
    """A small Zipf-distributed text corpus (one review a line) for `files:` corpus specs."""
    rng = np.random.default_rng(0)
    p = rng.zipf(1.3, size=20000) % len(SWEEP_WORDS)
    lines = [" ".join(SWEEP_WORDS[i] for i in p[j:j + 12]) for j in range(0, p.size, 12)]
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="session")
def sweep_config(lm_corpus_file):
    """sweep_config(**fields) -> a SweepConfig of two tiny runs (lambda 0 and 1) on lm_corpus_file, trained on
    the first 4000 of its ~19k training tokens (so a token table of the whole split would differ)."""
    from lm_experiments.config import SweepConfig

    train = {"preset": "tiny", "seq_len": 16, "batch_size": 4, "steps": 6, "eval_every": 3, "eval_tokens": 256,
             "warmup": 1, "checkpoint_every": 3, "train_tokens": 4000}

    def make(**kw):
        return SweepConfig(**{"name": "t", "corpus": f"files:{lm_corpus_file}", "vocab_size": 300,
                              "lambdas": (0.0, 1.0), "seeds": (0,), "train": train, **kw})

    return make


@pytest.fixture(scope="session")
def lm_sweep_dir(tmp_path_factory, sweep_config):
    """lm_experiments.sweep.run_sweep on sweep_config(): (folder, the summary it returned)."""
    from lm_experiments.sweep import run_sweep

    out = tmp_path_factory.mktemp("lm_sweep") / "lm"
    return out, run_sweep(sweep_config(), out, progress=False)[""]


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors and models: on a shared 2-core machine a second torch intra-op thread makes each step many
    times slower; a module opts in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
