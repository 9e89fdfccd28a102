"""Findings refuse damaged evidence: for every finding source, a truncated, duplicated, NaN-holding, column-less or
emptied result file ends `python -m paper_figures findings` with exit 2 and one line naming the file, and writes
nothing; a finding that an earlier findings.json holds and the results no longer give is an error too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from paper_figures.cli import main
from test_paper_figures import template  # noqa: F401  (the fixture results folder, made by the real writers)

ROOT = Path(__file__).resolve().parents[1]
# (file, a column its finding reads, whether the configuration says how many rows it must hold)
SOURCES = [("theory/average_vs_balanced__changes.csv", "ratio", True),
           ("theory/lambda_sweep.csv", "balanced_loss", True),
           ("simulations/summary.csv", "average_loss", True),
           ("sim_mitigation/mitigation.csv", "balanced_loss", True),
           ("lm/summary.csv", "low_freq_loss", True),
           ("lm/learning_speed.csv", "learning_speed", True),
           ("languages/languages.csv", "share_below_p95_mass", False),
           ("real_scale/sw/reg/summary.csv", "balanced_loss", True),
           ("sim_vocab/per_class.csv.gz", "loss", True),
           ("sim_vocab/path.csv", "max_abs_diff", True)]


@pytest.fixture(scope="module")
def intact(template, tmp_path_factory):  # noqa: F811
    """The fixture results with a real-scale regime (a copy of the LM sweep), a vocabulary-scale run (the real
    writer, `simulations scale`, at V = 12) and their findings.json."""
    from simulations.scale import run_scale

    r = Path(shutil.copytree(template, tmp_path_factory.mktemp("evidence") / "results"))
    shutil.copytree(r / "lm", r / "real_scale" / "sw" / "reg", ignore=shutil.ignore_patterns("runs"))
    run_scale("zipf", [1e-4, 1e-3], r / "sim_vocab", V=12, progress=lambda line: None)
    assert main(["findings", "--results", str(r), "--out", str(r.parent / "found")]) == 0
    return r


def _break(path: Path, how: str, column: str) -> None:
    if path.suffix == ".gz":  # a compressed table: broken through pandas
        df = pd.read_csv(path)
        df = {"truncated": df.iloc[:-1], "duplicated": pd.concat([df, df.iloc[:1]]),
              "nan": df.assign(**{column: [float("nan")] + list(df[column].iloc[1:])}),
              "no column": df.drop(columns=[column])}[how]
        df.to_csv(path, index=False, compression="gzip")
        return
    lines = path.read_text().splitlines(keepends=True)
    if how == "truncated":
        path.write_text("".join(lines[:-1]))
    elif how == "duplicated":
        path.write_text("".join(lines + [lines[1]]))
    else:
        df = pd.read_csv(path)
        if how == "nan":
            df.loc[df.index[0], column] = float("nan")
        elif how == "no column":
            df = df.drop(columns=[column])
        df.to_csv(path, index=False)


def _refused(results: Path, out: Path, capsys, *extra) -> str:
    capsys.readouterr()
    assert main(["findings", "--results", str(results), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing written
    return err


# every damage for every file (a truncation only where a configuration promises the rows: languages/ has no
# config.json), and every source folder emptied once
CASES = [(name, column, how) for name, column, promised in SOURCES
         for how in ("truncated", "duplicated", "nan", "no column") if promised or how != "truncated"]
CASES += [(name, column, "emptied folder") for name, column, _ in
          {str(Path(n).parent): (n, c, p) for n, c, p in reversed(SOURCES)}.values()]


@pytest.mark.parametrize("name, column, how", CASES)
def test_a_damaged_result_file_is_refused_naming_it(intact, tmp_path, capsys, name, column, how):
    r = Path(shutil.copytree(intact, tmp_path / "results"))
    path = r / name
    if how == "emptied folder":
        shutil.rmtree(path.parent)
        path.parent.mkdir()
        named = str(path.parent)
    else:
        _break(path, how, column)
        named = str(path)
    err = _refused(r, tmp_path / "out", capsys)
    assert named in err, err
    if how in ("duplicated", "nan", "truncated"):
        assert any(w in err for w in ("line", "lacks the row", "promises", "truncated")), err


def test_an_empty_results_folder_is_an_error_not_zero_findings(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert "nothing to report" in _refused(tmp_path / "results", tmp_path / "out", capsys)


def test_a_finding_found_before_and_missing_now_is_an_error(intact, tmp_path, capsys):
    r = Path(shutil.copytree(intact, tmp_path / "results"))
    shutil.rmtree(r / "sim_mitigation")  # a whole source gone: listed as not computed ...
    previous = intact.parent / "found" / "findings.json"
    assert any(f["id"].startswith("sim_mitigation_") for f in json.loads(previous.read_text())["findings"])
    assert main(["findings", "--results", str(r), "--out", str(tmp_path / "plain")]) == 0
    err = _refused(r, tmp_path / "out", capsys, "--previous", str(previous))  # ... but not against a previous run
    assert "sim_mitigation_" in err and str(previous) in err


def test_the_command_line_exits_2_with_one_line(intact, tmp_path):
    r = Path(shutil.copytree(intact, tmp_path / "results"))
    _break(r / "lm" / "summary.csv", "duplicated", "")
    run = subprocess.run([sys.executable, "-m", "paper_figures", "findings", "--results", str(r)], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "summary.csv" in run.stderr
