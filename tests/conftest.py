import numpy as np
from hypothesis import settings, strategies as st

settings.register_profile("default", deadline=None, max_examples=40)
settings.load_profile("default")

# integer class counts, 2..8 classes; c = lambda * N is the per-sample decay strength
counts_st = st.lists(st.integers(1, 500), min_size=2, max_size=8).map(lambda xs: np.array(xs, dtype=float))
scale_st = st.floats(0.005, 3.0)
