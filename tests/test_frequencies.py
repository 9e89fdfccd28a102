import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plumbing.errors import InputError
from simulations.frequencies import available_languages, class_counts, step_counts, wordfreq_counts
from simulations.languages import COLUMNS, language_stats, write_languages

# two small word lists keep the file fast (the English list alone has 321k words)
SMALL_LANGS = ["lv", "ms"]


@given(V=st.integers(2, 400), frac=st.floats(0.001, 0.999), ratio=st.floats(1.001, 1e3))
def test_step_counts_have_two_levels_with_the_ratio_and_ceil_frac_V_on_top(V, frac, ratio):
    m = math.ceil(round(frac * V, 9))
    if m > V - 1:
        with pytest.raises(InputError, match="frac"):
            step_counts(V, frac, ratio)
        return
    n = step_counts(V, frac, ratio)
    assert n.dtype == np.float64 and n.shape == (V,)
    levels = np.unique(n)
    assert levels.size == 2
    assert levels[0] == 1.0 and levels[1] == pytest.approx(ratio, rel=1e-15)
    assert np.count_nonzero(n == levels[1]) == m
    assert np.all(np.diff(n) <= 0)


def test_step_counts_top_size_is_exact_where_frac_times_V_rounds_up_in_floats():
    assert np.count_nonzero(step_counts(10, 0.3, 4.0) == 4.0) == 3  # 0.3 * 10 = 3.0000000000000004


@given(V=st.integers(2, 300), frac=st.floats(0.01, 0.5), ratio=st.integers(1, 50),
       scale=st.floats(1.0, 100.0))
def test_step_counts_with_total_keep_the_ratio_sum_to_about_total_and_stay_at_least_one(V, frac, ratio, scale):
    total = scale * V * ratio
    n = step_counts(V, frac, ratio, total=total)
    m = math.ceil(round(frac * V, 9))
    assert np.all(n >= 1)
    assert np.all(n[:m] == ratio * n[-1])
    assert np.all(n[m:] == n[-1])
    assert abs(n.sum() - total) <= 0.5 * (m * ratio + V - m)  # rest count rounded by at most 1/2


def test_class_counts_is_sorted_decreasing_positive_float64_for_each_spec(tmp_path):
    f = tmp_path / "counts.txt"
    f.write_text("3\n# a comment\n70\n\n1\n12\n")
    cases = {
        "zipf": class_counts("zipf", 50, alpha=1.2),
        "zipf+total": class_counts("zipf", 50, total=5000),
        "step": class_counts("step", 50, step_frac=0.2, step_ratio=7),
        "step+total": class_counts("step", 50, total=2000, step_frac=0.2, step_ratio=7),
        "wordfreq": class_counts("wordfreq:lv", 200),
        "wordfreq+total": class_counts("wordfreq:lv", 200, total=1e6),
        "file": class_counts(str(f)),
        "file top V": class_counts(f, 3),
    }
    for name, n in cases.items():
        assert n.dtype == np.float64, name
        assert np.all(n > 0), name
        assert np.all(np.diff(n) <= 0), name
    assert cases["file"].tolist() == [70.0, 12.0, 3.0, 1.0]
    assert cases["file top V"].tolist() == [70.0, 12.0, 3.0]
    assert cases["wordfreq"].size == 200 and cases["zipf"].size == 50


def test_wordfreq_counts_en_decrease_and_are_at_least_one_with_rarest_word_count_one():
    n = wordfreq_counts("en")
    assert n.dtype == np.float64 and n.size > 100_000
    assert np.all(np.diff(n) <= 0)
    assert np.all(n >= 1) and n[-1] == 1.0
    top = wordfreq_counts("en", V=1000)
    assert top.size == 1000 and top[-1] == 1.0 and np.all(np.diff(top) <= 0)


def test_wordfreq_counts_with_total_are_the_rounded_frequencies_times_total():
    import wordfreq

    f = np.sort(np.fromiter(wordfreq.get_frequency_dict("lv", wordlist="best").values(), float))[::-1][:50]
    assert np.array_equal(wordfreq_counts("lv", V=50, total=1e7), np.maximum(1.0, np.round(f * 1e7)))


def test_unknown_language_raises_input_error_naming_it_and_the_available_ones():
    with pytest.raises(InputError, match="'xx'") as exc:
        wordfreq_counts("xx")
    assert "en" in str(exc.value) and "available" in str(exc.value)
    with pytest.raises(InputError, match="'pt-BR'"):  # wordfreq itself would silently fall back to 'pt'
        class_counts("wordfreq:pt-BR", 10)


def test_unknown_spec_raises_input_error_naming_it_and_the_allowed_specs(tmp_path):
    bad = str(tmp_path / "no-such-file.txt")
    with pytest.raises(InputError, match="no-such-file") as exc:
        class_counts(bad, 10)
    assert "zipf" in str(exc.value) and "wordfreq:LANG" in str(exc.value)
    with pytest.raises(InputError, match="'zipff'"):
        class_counts("zipff", 10)
    with pytest.raises(InputError, match="got 3"):
        class_counts(3, 10)


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.5, 1.5, float("nan"), 0.95])
def test_bad_frac_raises_input_error_naming_the_value(frac):
    with pytest.raises(InputError, match="frac") as exc:
        step_counts(10, frac, 2.0)
    assert repr(frac) in str(exc.value) or str(frac) in str(exc.value)


@pytest.mark.parametrize("V", [1, 0, -3, 2.5, True, "10"])
def test_V_below_2_or_not_an_integer_raises_input_error_naming_it(V):
    for call in (lambda: step_counts(V, 0.1, 2.0), lambda: class_counts("zipf", V),
                 lambda: class_counts("step", V), lambda: wordfreq_counts("lv", V)):
        with pytest.raises(InputError, match=f"V must be an integer >= 2, got {V!r}"):
            call()


def test_bad_ratio_and_total_raise_input_error_naming_the_value():
    with pytest.raises(InputError, match="ratio must be >= 1, got 0.5"):
        step_counts(10, 0.2, 0.5)
    with pytest.raises(InputError, match="total must be >= V = 10.*got 5"):
        step_counts(10, 0.2, 2.0, total=5)
    with pytest.raises(InputError, match="V must be <= "):
        class_counts("wordfreq:lv", 10**9)


def test_language_stats_on_a_hand_example():
    # sorted [90, 5, 3, 1, 1], N = 100: running sums 90, 95 -> the top 2 hold 95% -> 3 of 5 outside: 0.6.
    # P99 (linear interpolation on [1, 1, 3, 5, 90]): position 0.99 * 4 = 3.96 -> 5 + 0.96 * 85 = 86.6;
    # counts below 86.6: 1, 1, 3, 5 -> 4 of 5 = 0.8.
    stats = language_stats(np.array([1, 90, 3, 5, 1]))
    assert stats == {"vocab_size": 5, "share_below_p95_mass": 0.6, "share_below_p99_count": 0.8}
    # one word holding 95% exactly is enough (1 of 2 outside); just under 95% is not (none outside)
    assert language_stats(np.array([95, 5]))["share_below_p95_mass"] == 0.5
    assert language_stats(np.array([94.9, 5.1]))["share_below_p95_mass"] == 0.0


@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=300))
def test_language_stats_shares_lie_in_the_unit_interval_and_p95_share_matches_a_loop(xs):
    n = np.array(xs, dtype=float)
    stats = language_stats(n)
    assert stats["vocab_size"] == n.size
    for key in ("share_below_p95_mass", "share_below_p99_count"):
        assert 0.0 <= stats[key] <= 1.0
    s, run, m = np.sort(n)[::-1], 0.0, 0
    while run < 0.95 * n.sum() * (1 - 1e-12):
        run += s[m]
        m += 1
    assert stats["share_below_p95_mass"] == (n.size - m) / n.size


def test_write_languages_writes_the_contract_csv_only_and_no_temp_file(tmp_path):
    out = tmp_path / "langs"
    table = write_languages(out, languages=SMALL_LANGS, progress=False)
    read = pd.read_csv(out / "languages.csv")
    assert list(read.columns) == list(COLUMNS)
    assert read["language"].tolist() == SMALL_LANGS
    assert np.allclose(read[list(COLUMNS[1:])].to_numpy(float), table[list(COLUMNS[1:])].to_numpy(float),
                       rtol=0, atol=1e-15)
    assert sorted(p.name for p in out.iterdir()) == ["languages.csv"]  # the chart: paper_figures sim_languages


def test_write_languages_raises_on_an_unknown_language_and_writes_nothing(tmp_path):
    with pytest.raises(InputError, match="'xx'"):
        write_languages(tmp_path / "o", languages=["lv", "xx"], progress=False)
    assert not (tmp_path / "o").exists()


def test_available_languages_include_the_big_ones():
    assert {"en", "de", "zh", "ja", "ar"} <= set(available_languages())
