"""theory.verification.bench: the records it writes and its case selection (its timings are measured, not tested)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plumbing.errors import InputError
from theory.verification.bench import CASES, check_cases, run_bench, time_to


@given(st.lists(st.tuples(st.floats(0, 1e3), st.floats(1e-12, 1.0)), max_size=12), st.floats(1e-12, 1.0))
def test_time_to_is_the_first_check_at_or_below_the_gap(trace, gap):
    t = time_to(trace, gap)
    below = [s for s, g in trace if g <= gap]
    assert t == (below[0] if below else None)


def test_cases_outside_the_list_are_refused():
    assert check_cases("zipf, path") == ("zipf", "path")
    for bad in ("zipf,bogus", "", ","):
        with pytest.raises(InputError, match="subset of " + ",".join(CASES)):
            check_cases(bad)


def test_bench_writes_one_record_per_printed_line(tmp_path, capsys):
    out = tmp_path / "bench.json"
    run_bench(max_seconds=30, cases=("noties",), out=out)
    rows = json.loads(out.read_text())
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("no ties")]
    assert [r["V"] for r in rows] == [100, 300] and len(lines) == 2
    assert all(r["met"] and r["gap"] <= r["target_gap"] for r in rows)
