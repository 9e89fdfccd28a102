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
