import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plumbing.errors import InputError
from theory.ufm import metrics
from theory.ufm.metrics import (
    average_loss,
    balanced_loss,
    cross_entropy,
    equal_mass_bins,
    learning_speed,
    low_frequency_mask,
    per_class_mean_loss,
    power_of_3_bins,
)

counts_with_zeros = st.lists(st.integers(0, 10_000), min_size=1, max_size=60).map(np.array)


def test_cross_entropy_matches_naive_and_survives_huge_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(7, 5))
    y = rng.integers(0, 5, 7)
    naive = -np.log(np.exp(z[np.arange(7), y]) / np.exp(z).sum(1))
    assert np.allclose(cross_entropy(z, y), naive)
    big = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    assert np.allclose(cross_entropy(big, np.array([0, 0])), [0.0, 1000.0])


def test_per_class_mean_loss_equals_a_python_loop():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, 200)
    losses = rng.exponential(size=200)
    got = per_class_mean_loss(losses, labels, 8)
    for k in range(8):
        sel = losses[labels == k]
        assert (np.isnan(got[k]) if sel.size == 0 else np.isclose(got[k], sel.mean()))


def test_average_and_balanced_loss_on_a_hand_example():
    loss, counts = np.array([0.1, 1.0, 2.0]), np.array([8, 1, 1])
    assert average_loss(loss, counts) == pytest.approx((0.8 + 1.0 + 2.0) / 10)
    assert balanced_loss(loss) == pytest.approx(3.1 / 3)
    assert balanced_loss(np.array([0.1, 5.0, 2.0]), np.array([3, 0, 1])) == pytest.approx(1.05)


def test_power_of_3_bins_on_the_edges():
    assert power_of_3_bins(np.array([0, 1, 2, 3, 8, 9, 26, 27, 81])).tolist() == [-1, 0, 0, 1, 1, 2, 2, 3, 4]


@given(counts_with_zeros, st.integers(1, 12))
def test_every_present_class_is_in_exactly_one_bin(counts, n_bins):
    for bins in (power_of_3_bins(counts), equal_mass_bins(counts, n_bins)):
        assert bins.shape == counts.shape
        assert np.all((bins >= 0) == (counts > 0))  # one bin each, absent classes excluded
    em = equal_mass_bins(counts, n_bins)
    assert em[counts > 0].max(initial=0) < n_bins


@given(counts_with_zeros.filter(lambda c: c.sum() > 0), st.integers(1, 6))
def test_equal_mass_bins_put_frequent_classes_first(counts, n_bins):
    bins = equal_mass_bins(counts, n_bins)
    pos = counts > 0
    order = np.argsort(-counts[pos], kind="stable")
    assert np.all(np.diff(bins[pos][order]) >= 0)


def test_equal_mass_bins_hold_about_equal_mass_on_zipf():
    counts = np.round(1e5 / np.arange(1, 5001))
    bins = equal_mass_bins(counts, 5)
    mass = np.bincount(bins, weights=counts) / counts.sum()
    assert np.all(np.abs(mass - 0.2) < 0.05)


def test_low_frequency_mask_is_strictly_below_the_percentile():
    counts = np.arange(1, 101)
    low = low_frequency_mask(counts, 99.0)
    assert low.sum() == 99 and not low[-1]
    with pytest.raises(InputError, match="percentile"):
        low_frequency_mask(counts, 100.0)


def test_learning_speed_hand_examples():
    t = np.array([0.0, 1.0, 2.0])
    curves = np.array([[2.0, 1.0, 1.0], [0.0, 1.0, 2.0], [0.0, 1.0, 0.5]])
    # class 0: ratio 1,0,0 -> area 0.25 -> 0.75; class 1: constant -> 0; class 2: ratio 1,2,0.5 -> area 1.375
    assert np.allclose(learning_speed(curves, t), [0.75, 0.0, -0.375])
    assert np.isnan(learning_speed(np.array([[0.0], [0.0]]))[0])
    with pytest.raises(InputError, match="increasing"):
        learning_speed(curves, np.array([0.0, 2.0, 1.0]))


def test_group_loss_is_the_mean_over_the_groups_samples():
    from theory.ufm.metrics import group_loss

    loss = np.array([0.1, 0.5, 2.0, 3.0])
    counts = np.array([10.0, 5.0, 1.0, 0.0])
    mask = np.array([False, True, True, True])
    # samples of the group: 5 at 0.5, 1 at 2.0, none at 3.0 -> (2.5 + 2.0) / 6
    assert group_loss(loss, counts, mask) == pytest.approx(4.5 / 6)
    assert np.isnan(group_loss(loss, counts, np.array([False, False, False, True])))


def test_classes_for_mass_hand_examples():
    from theory.ufm.metrics import classes_for_mass

    counts = np.array([2.0, 5.0, 3.0])  # sorted: 5, 3, 2 -> running sums 5, 8, 10
    assert classes_for_mass(counts, 0.5) == 1  # exactly half: the slack counts it as held
    assert classes_for_mass(counts, 0.51) == 2
    assert classes_for_mass(counts, 0.8) == 2
    assert classes_for_mass(counts, 0.81) == 3
    assert classes_for_mass(counts, 1.0) == 3
    assert classes_for_mass(np.array([0.0, 8.0, 2.0, 0.0]), 1.0) == 2  # unseen classes are never needed
    for bad_mass in (0.0, 1.5, float("nan")):
        with pytest.raises(InputError, match="mass"):
            classes_for_mass(counts, bad_mass)
    for bad in (np.array([]), np.array([0.0, 0.0]), np.array([1.0, -1.0]), np.array([1.0, np.inf])):
        with pytest.raises(InputError, match="counts"):
            classes_for_mass(bad, 0.5)


@given(counts_with_zeros.filter(lambda c: c.sum() > 0), st.floats(0.01, 1.0))
def test_classes_for_mass_is_the_smallest_prefix_holding_the_mass(counts, mass):
    from lm_experiments.stats import mass_cuts
    from theory.ufm.metrics import classes_for_mass

    m = classes_for_mass(counts, mass)
    top = np.sort(counts)[::-1].astype(float)
    target = mass * top.sum() * (1 - 1e-12)
    assert 1 <= m <= np.count_nonzero(counts)
    assert top[:m].sum() >= target and top[:m - 1].sum() < target  # holds it, and one class fewer does not
    # the LM token statistics use this definition
    assert mass_cuts(counts)["tokens_for_50pct_mass"] == classes_for_mass(counts, 0.5)


@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=300), st.floats(0.05, 0.95))
def test_mass_tail_mask_keeps_the_head_holding_the_mass_and_nothing_more(counts, mass):
    n = np.array(counts, dtype=float)
    low = metrics.mass_tail_mask(n, mass)
    head = n[~low]
    assert (~low).sum() == metrics.classes_for_mass(n, mass)
    assert head.sum() >= mass * n.sum() * (1 - 1e-12)  # the head holds the mass ...
    assert head.sum() - head.min() < mass * n.sum()  # ... and needs its smallest member to
    if low.any():
        assert n[low].max() <= head.min()  # every tail class is at most as frequent as every head class


def test_mass_split_keeps_both_groups_populated_where_p99_does_not():
    from theory.ufm.counts import zipf_counts

    n = zipf_counts(100, 1.0)
    assert (~metrics.low_frequency_mask(n)).sum() == 1
    low = metrics.mass_tail_mask(n, 0.5)
    assert (~low).sum() == 7 and low.sum() == 93
