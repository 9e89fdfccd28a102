"""plumbing.validate and plumbing.cli: one rule per helper, one line per bad input."""

import math
import sys

import pandas as pd

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plumbing.cli import run_cli
from plumbing.errors import InputError
from plumbing.validate import check_choice, check_int, check_real, parse_int_list


@given(st.integers(-10**6, 10**6), st.integers(-100, 100), st.integers(0, 100))
def test_check_int_accepts_exactly_the_integers_within_bounds(v, low, width):
    high = low + width
    if low <= v <= high:
        assert check_int("x", v, low, high) == v
    else:
        with pytest.raises(InputError, match=r"x must be an integer >= .* and <= .*, got"):
            check_int("x", v, low, high)


@pytest.mark.parametrize("bad", [True, False, 1.0, "3", None, 2.5])
def test_check_int_refuses_booleans_floats_and_strings(bad):
    with pytest.raises(InputError, match="must be an integer"):
        check_int("steps", bad, 1)


def test_check_int_takes_numpy_integers_only_where_allowed():
    assert check_int("d", np.int64(4), 1) == 4 and type(check_int("d", np.int64(4), 1)) is int
    with pytest.raises(InputError):
        check_int("d", np.int64(4), 1, allow_numpy=False)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_real_accepts_exactly_the_finite_numbers_in_range(v):
    ok = math.isfinite(v) and 0 < v <= 10
    if ok:
        assert check_real("lr", v, 0, 10, low_open=True) == v
    else:
        with pytest.raises(InputError, match=r"lr must be a finite number > 0 and <= 10, got"):
            check_real("lr", v, 0, 10, low_open=True)


def test_check_real_parses_strings_only_when_asked():
    assert check_real("lambda_w", "1e-3", 0, parse=True) == 1e-3
    with pytest.raises(InputError):
        check_real("lambda_w", "1e-3", 0)
    with pytest.raises(InputError, match="got 'nan'"):
        check_real("lambda_w", "nan", 0, parse=True)
    with pytest.raises(InputError):
        check_real("lambda_w", True, 0)


def test_check_choice_and_int_lists_name_the_bad_value():
    assert check_choice("model", "a", ("a", "b")) == "a"
    with pytest.raises(InputError, match="model must be one of a, b; got 'c'"):
        check_choice("model", "c", ("a", "b"))
    assert parse_int_list("--sizes", "100, 300") == [100, 300]
    with pytest.raises(InputError, match="--sizes must be comma-separated integers, got '1,x'"):
        parse_int_list("--sizes", "1,x")


def test_run_cli_prints_an_input_error_as_one_line_and_returns_2(capsys):
    def body():
        raise InputError("counts must be > 0,\n   got -1")

    assert run_cli(body) == 2
    err = capsys.readouterr().err
    assert err == "error: counts must be > 0, got -1\n"


def test_run_cli_returns_0_when_the_body_succeeds(capsys):
    assert run_cli(lambda: print("ok")) == 0
    assert capsys.readouterr().out == "ok\n"


def test_a_closed_pipe_ends_a_command_quietly(tmp_path):
    import subprocess
    import sys

    code = ("from plumbing.cli import run_cli\n"
            "def body():\n"
            "    for i in range(200000):\n"
            "        print(i)\n"
            "raise SystemExit(run_cli(body))\n")
    proc = subprocess.run(f"{sys.executable} -c '{code}' | head -n 2", shell=True, capture_output=True, text=True,
                          cwd=str(tmp_path), env={"PYTHONPATH": str(__import__('pathlib').Path(__file__).parents[1])})
    assert proc.stdout == "0\n1\n"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_jsonable_makes_strict_json_of_numpy_values():
    import json

    from plumbing.atomic import jsonable

    data = {"a": np.float64(1.5), "b": [np.int64(2), np.bool_(True)], "c": float("nan"), "d": (np.inf,)}
    assert json.dumps(jsonable(data), allow_nan=False) == '{"a": 1.5, "b": [2, true], "c": null, "d": [null]}'
    assert jsonable(data, str)["c"] == "nan" and jsonable(data, str)["d"] == ["inf"]


def test_timings_record_one_row_per_stage_and_pass_the_exit_status_on(tmp_path):
    from plumbing import timings
    out = tmp_path / "t" / "timings.csv"
    assert timings.main([str(out), "a", "--", sys.executable, "-c", "pass"]) == 0
    assert timings.main([str(out), "b", "--", sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert timings.main([str(out), "a", "--", sys.executable, "-c", "import time; time.sleep(0.2)"]) == 0
    df = pd.read_csv(out)
    assert list(df["stage"]) == ["a", "b"] and list(df["exit_status"]) == [0, 3]
    assert df.loc[0, "seconds"] >= 0.2
    assert timings.main([str(out), "c"]) == 2


@given(st.lists(st.floats(1e-9, 1e9), min_size=1, max_size=6, unique=True), st.data())
def test_real_lists_keep_distinct_values_and_name_a_repeated_one(values, data):
    from plumbing.validate import parse_real_list

    assert parse_real_list("--lambdas", ",".join(map(repr, values)), 0, low_open=True) == values
    repeated = data.draw(st.sampled_from(values))
    with pytest.raises(InputError, match=f"--lambdas repeats the value {repeated!r}"):
        parse_real_list("--lambdas", ",".join(map(repr, [*values, repeated])), 0, low_open=True)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=6))
def test_check_unique_refuses_exactly_the_lists_with_a_repeat(values):
    from plumbing.validate import check_unique

    if len(set(values)) == len(values):
        assert check_unique("seeds", values) == tuple(values)
    else:
        with pytest.raises(InputError, match="seeds repeats the value"):
            check_unique("seeds", values)


@pytest.mark.parametrize("key,value,message", [
    ("flag", "no", "'flag' must be true or false, got 'no'"), ("flag", 1, "'flag' must be true or false"),
    ("n", 2.5, "'n' must be an integer"), ("n", True, "'n' must be an integer"),
    ("xs", 1.0, "'xs' must be a list"), ("table", [1], "'table' must be a table"),
    ("x", "1e-3", "'x' must be a number or null")])
def test_config_values_must_have_their_fields_kind(tmp_path, key, value, message):
    import dataclasses
    import json

    from plumbing.config import load_dataclass_config

    @dataclasses.dataclass(frozen=True)
    class C:
        name: str = "c"
        flag: bool = False
        n: int = 1
        xs: tuple = (1.0,)
        table: dict = dataclasses.field(default_factory=dict)
        x: float | None = None

    good = {"flag": True, "n": 3, "xs": [2.0], "table": {"a": 1}, "x": 2}
    f = tmp_path / "c.json"
    f.write_text(json.dumps(good))
    assert load_dataclass_config(str(f), {"default": C()}, "default") == C("c", True, 3, [2.0], {"a": 1}, 2)
    f.write_text(json.dumps({**good, key: value}))
    with pytest.raises(InputError, match=message):
        load_dataclass_config(str(f), {"default": C()}, "default")
