"""`python -m theory corpus`: the UFM optimum at real token counts, per powers-of-3 count bin, and the
paper_figures figure that draws it next to the LM's measured loss."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from plumbing.atomic import atomic_write_csv
from plumbing.errors import InputError
from plumbing.schemas import LM_SUMMARY, frame
from theory.verification.corpus import COLUMNS, read_corpus_counts, theory_corpus
from theory.ufm.metrics import power_of_3_bins
from theory.ufm.problem import Problem
from theory.ufm.solve import solve


def token_stats(path, counts):
    pd.DataFrame({"token_id": np.arange(len(counts)), "count": counts, "pow3_bin": power_of_3_bins(np.array(counts))
                  }).to_csv(path, index=False)
    return path


COUNTS = [180.0, 13.0, 0.0, 1.0, 1.0, 2.0, 40.0, 0.0, 5.0, 9.0, 3.0, 700.0]


def test_cli_writes_one_tidy_row_per_model_scale_and_bin(tmp_path):
    f = token_stats(tmp_path / "token_stats.csv", COUNTS)
    r = subprocess.run([sys.executable, "-m", "theory", "corpus", "--counts-file", str(f), "--out",
                        str(tmp_path / "out"), "--scales", "0.3,3"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "out" / "theory_corpus.csv")
    assert tuple(df.columns) == COLUMNS
    meta = json.loads((tmp_path / "out" / "theory_corpus.json").read_text())
    assert meta["zero_count_tokens_left_out"] == 2 and meta["V"] == 10 and meta["N"] == sum(COUNTS)
    assert "not computed" in meta["ufm-unconstrained"]  # opt-in
    kept = np.array([x for x in COUNTS if x > 0])
    bins = power_of_3_bins(kept)
    for c in (0.3, 3.0):
        loss = solve(Problem.from_scale(kept, c), "ufm-relu").per_class_loss
        sub = df[(df["model"] == "ufm-relu") & (df["c"] == c)].set_index("bin")
        assert sorted(sub.index) == sorted(set(bins))
        for b in set(bins):
            assert sub.loc[b, "mean_loss"] == pytest.approx(loss[bins == b].mean(), rel=1e-12)
            assert sub.loc[b, "n_tokens"] == (bins == b).sum()
    # rare bins lose more, and at c = 3 the count-1 tokens have collapsed (loss log V)
    big = df[(df["model"] == "ufm-relu") & (df["c"] == 3.0)].sort_values("bin")
    assert np.all(np.diff(big["mean_loss"]) <= 1e-12) and big["collapsed_share"].iloc[0] == 1.0


def test_unconstrained_optimum_when_asked_and_small():
    counts = np.array([30.0, 30.0, 10.0, 3.0, 1.0, 1.0])
    rows, meta = theory_corpus(counts, (0.3,), with_unconstrained=True)
    unc = [r for r in rows if r["model"] == "ufm-unconstrained"]
    assert unc and all(r["duality_gap"] <= 1e-9 for r in unc)
    assert meta["ufm-unconstrained"].startswith("certified")


def test_bad_counts_files(tmp_path):
    bad = tmp_path / "token_stats.csv"
    pd.DataFrame({"token_id": [0, 1], "n": [1, 2]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match="'count' column"):
        read_corpus_counts(bad)
    token_stats(bad, [3.0, -1.0, 2.0])
    with pytest.raises(InputError, match="row 2"):
        read_corpus_counts(bad)
    token_stats(bad, [3.0, 0.0, 0.0])
    with pytest.raises(InputError, match="at least 2"):
        read_corpus_counts(bad)
    np.save(tmp_path / "c.npy", np.ones((2, 3)))
    with pytest.raises(InputError, match="1-D"):
        read_corpus_counts(tmp_path / "c.npy")
    np.save(tmp_path / "z.npy", np.array([4.0, 0.0, 1.0]))
    counts, dropped = read_corpus_counts(tmp_path / "z.npy")
    assert counts.tolist() == [4.0, 1.0] and dropped == 1


def test_figure_against_the_lm_per_bin(tmp_path):
    from paper_figures import theory_corpus as fig

    results = tmp_path / "results"
    lm = results / "lm"
    counts = np.array([300.0, 40.0, 9.0, 3.0, 1.0, 1.0, 0.0])
    lm.mkdir(parents=True)
    token_stats(lm / "token_stats.csv", counts)
    summary = []
    for lam in (0.0, 1.0):
        run = lm / "runs" / f"wd{lam:g}_s0"
        run.mkdir(parents=True)
        row = {c: 0.0 for c in LM_SUMMARY.columns}
        row.update({"lambda": lam, "seed": 0, "split": "train", "decay_mode": "m", "run": run.name, "corpus": "toy"})
        summary.append(row)
        rows = [{"step": s, "split": sp, "token_id": k, "count": counts[k],
                 "loss": 2 + 5 / (1 + counts[k]) + lam + (s == 0)} for s in (0, 10) for sp in ("train", "heldout")
                for k in range(counts.size)]
        pd.DataFrame(rows).to_csv(run / "per_token.csv.gz", index=False)
    atomic_write_csv(frame(LM_SUMMARY, summary), lm / "summary.csv")  # the sweep's run -> lambda map
    with pytest.raises(InputError, match="theory_corpus.csv"):
        fig.make(results, tmp_path / "fig")
    subprocess.run([sys.executable, "-m", "theory", "corpus", "--counts-file", str(lm / "token_stats.csv"),
                    "--out", str(results / "theory_corpus")], check=True, capture_output=True, timeout=120)
    lm_rows = fig.lm_table(results)
    one = lm_rows[(lm_rows["lambda"] == 1.0) & (lm_rows["bin"] == 0)]["mean_loss"].item()
    assert one == pytest.approx(2 + 5 / 2 + 1.0)  # last step, training split, count-1 tokens
    made = fig.make(results, tmp_path / "fig")
    assert {p.suffix for p in made} == {".png", ".pdf"} and all(p.stat().st_size > 1000 for p in made)
    assert "cannot be matched" in fig.CAPTION
