"""Result-file schemas (plumbing.schemas): each schema against the file its real writer produces (the header
on disk must be the schema's, byte for byte), and the `frame` / `pick` checks that writers and readers use."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plumbing import schemas as S
from plumbing.schemas import Schema, SchemaError, frame


def _header(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return fh.readline().rstrip("\n")


def _check(path: Path, schema: Schema) -> pd.DataFrame:
    assert path.name == schema.name
    assert _header(path) == schema.header, path
    table = pd.read_csv(path)
    assert list(table.columns) == list(schema.columns) and len(table), path
    return table


@pytest.mark.parametrize("schema", [S.SIM_COUNTS, S.SIM_THEORY, S.SIM_SUMMARY, S.SIM_PER_CLASS, S.SIM_CURVES,
                                    S.SIM_ADAMW_VS_L2], ids=lambda s: s.name)
def test_simulation_files_match_their_schemas(sim_grid_dir, schema):
    """simulations.run.run_grid: the top-level files and, for the part files, every parts/<model>__<opt>/ copy."""
    _check(sim_grid_dir / schema.name, schema)
    parts = sorted((sim_grid_dir / "parts").glob(f"*/{schema.name}"))
    assert len(parts) == (4 if schema in S.SIM_PART_FILES else 0)
    for path in parts:
        _check(path, schema)


@pytest.mark.parametrize("schema", [S.LM_SUMMARY, S.LM_LEARNING_SPEED, S.LM_TABLE1, S.LM_TOKEN_STATS, S.LM_TEXT_SAMPLE],
                         ids=lambda s: s.name)
def test_lm_sweep_files_match_their_schemas(lm_sweep_dir, schema):
    """lm_experiments.sweep.run_sweep (its collect, write_token_stats and table1)."""
    _check(lm_sweep_dir[0] / schema.name, schema)


@pytest.mark.parametrize("schema", [S.LM_RUN_METRICS, S.LM_RUN_PER_TOKEN], ids=lambda s: s.name)
def test_lm_run_files_match_their_schemas(lm_sweep_dir, schema):
    """lm_experiments.train.train_run (each run folder of the sweep)."""
    runs = sorted((lm_sweep_dir[0] / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        _check(run / schema.name, schema)


def test_lm_stats_file_matches_its_schema(tmp_path, lm_corpus_file):
    """`python -m lm_experiments stats` (lm_experiments.token_report.write_stats)."""
    from lm_experiments.token_report import write_stats

    write_stats(f"files:{lm_corpus_file}", [300], tmp_path)
    table = _check(tmp_path / S.LM_VOCAB_SHARE.name, S.LM_VOCAB_SHARE)
    assert table.notna().all().all()


def test_languages_file_matches_its_schema(tmp_path):
    """`python -m simulations languages` (simulations.languages.write_languages). No column may be all NaN: the
    table is built with pandas' columns=, which fills a column whose key the row dicts lack with NaN."""
    from simulations.languages import write_languages

    write_languages(tmp_path, ["lv"], progress=False)
    table = _check(tmp_path / S.LANGUAGES.name, S.LANGUAGES)
    assert table.notna().all().all()


def test_frame_orders_the_columns_and_keeps_a_table_in_order_as_it_is():
    s = Schema("x.csv", ("a", "b", "c"))
    ordered = pd.DataFrame({"a": [1], "b": [2.5], "c": ["z"]})
    assert frame(s, ordered) is ordered
    assert list(frame(s, [{"c": "z", "a": 1, "b": 2.5}]).columns) == ["a", "b", "c"]
    assert list(frame(s, {"b": np.arange(3), "a": 0, "c": "k"}).columns) == ["a", "b", "c"]
    empty = frame(s, [])
    assert list(empty.columns) == ["a", "b", "c"] and empty.empty
    assert empty.to_csv(index=False) == s.header + "\n"


@pytest.mark.parametrize("data, match", [
    ({"a": [1], "b": [2]}, "lacks c"),
    ({"a": [1], "b": [2], "c": [3], "d": [4]}, "unknown d"),
    ({"a": [1], "B": [2], "c": [3]}, "lacks b.*unknown B"),
    (pd.DataFrame([[1, 2, 3, 4]], columns=["a", "b", "c", "c"]), "repeats c"),
])
def test_frame_refuses_a_missing_unknown_or_repeated_column_naming_the_file(data, match):
    with pytest.raises(SchemaError, match=f"x.csv.*{match}"):
        frame(Schema("x.csv", ("a", "b", "c")), data)


def test_pick_refuses_a_name_the_schema_lacks():
    assert S.LM_SUMMARY.pick("split", "lambda") == ("split", "lambda")
    with pytest.raises(SchemaError, match="summary.csv has no column.*low_loss"):
        S.LM_SUMMARY.pick("split", "low_loss")
    with pytest.raises(SchemaError, match="repeated"):
        Schema("y.csv", ("a", "a"))
