"""`python -m paper_figures findings`: every headline statement of the toolkit, computed from result files.

Each finding names the paper's claim it tests, the files it reads, the effect, its uncertainty and a verdict by a
stated rule that could go either way (stats.py: intervals, seed pairing, the verdict vocabulary and its rules).
One module per source of evidence: theory, simulations (and the vocabulary-scale path), lm, mitigation,
languages (data statistics), real_scale; render.py writes findings.md and the README block.

Damaged evidence is refused (evidence.py): each source checks the rows its result folder's config.json promises;
a missing, duplicated, NaN or extra row, a missing column or an unreadable file is an InputError naming the file
and the row (exit 2). A source whose folder is absent, or whose results hold nothing to compare (one lambda, one
decay mode), is listed in not_computed; an empty results folder, and a finding id that a previous findings.json
holds but these results do not, are errors.

findings.json = {"findings": [...], "changes": [...], "not_computed": {source: reason}}.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from plumbing.atomic import atomic_write_json, atomic_write_text, jsonable
from plumbing.errors import InputError

from .languages import vocabulary_findings
from .lm import LOSSES, changes as _changes, learning_speed_finding, lm_findings
from .mitigation import mitigation_findings, sim_mitigation_findings
from .real_scale import real_scale_findings, real_scale_folders
from .render import effect_text, markdown, readme_block
from .simulations import sim_vocab_findings, simulation_findings
from .stats import NotApplicable, paired_by_seed, t_interval
from .theory import theory_findings

__all__ = ["LOSSES", "changes", "compute", "effect_text", "markdown", "paired_by_seed", "readme_block",
           "real_scale_folders", "t_interval", "write"]

SOURCES = {"theory": theory_findings, "simulations": simulation_findings, "lm": lm_findings,
           "mitigation": mitigation_findings, "sim_mitigation": sim_mitigation_findings,
           "sim_vocab": sim_vocab_findings, "learning_speed": learning_speed_finding,
           "vocabulary": vocabulary_findings, "real_scale": real_scale_findings}


def lm_sweeps(results: Path) -> list[tuple[str, Path]]:
    """(name, folder relative to results) of every LM sweep the findings read: lm/ and each real-scale regime."""
    results = Path(results)
    return ([("lm", Path("lm"))] if (results / "lm").is_dir() else []) + real_scale_folders(results)


def changes(results: Path) -> list[dict]:
    """The table of changes of every LM sweep (lm_sweeps); InputError naming lm/summary.csv when there is none."""
    sweeps = lm_sweeps(results)
    if not sweeps:
        raise InputError(f"missing result file {str(Path(results) / 'lm' / 'summary.csv')!r} (and no real-scale LM "
                         "sweep under real_scale/)")
    return _changes(Path(results), sweeps)


def previous_ids(path: Path) -> list[str]:
    """The finding ids of an earlier findings.json (e.g. the committed docs/findings.json)."""
    try:
        data = json.loads(Path(path).read_text())
        return [f["id"] for f in data["findings"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the previous findings {str(path)!r}: {exc}") from exc


def compute(results: Path, previous: Path | None = None) -> dict:
    """Every finding the result files allow (module docstring); `previous`: a findings.json whose every id must
    be found again."""
    results = Path(results)
    if not results.is_dir():
        raise InputError(f"--results must be a folder of result files, got {str(results)!r}")
    found, missing = [], {}
    for name, fn in SOURCES.items():
        try:
            found += fn(results)
        except NotApplicable as exc:
            missing[name] = " ".join(str(exc).split())
    if lm_sweeps(results):
        table = changes(results)
    else:
        table, missing["changes"] = [], "no LM sweep (lm/ or real_scale/<sweep>/<regime>/)"
    if not found:
        raise InputError(f"--results {str(results)!r} holds no result folder a finding reads (theory/, simulations/, "
                         "lm/, ...): nothing to report")
    if previous is not None:
        gone = [i for i in previous_ids(previous) if i not in {f["id"] for f in found}]
        if gone:
            raise InputError(f"{len(gone)} finding(s) of {str(previous)!r} are missing from {str(results)!r}, e.g. "
                             f"{gone[0]!r}: a result file lost?")
    return {"findings": found, "changes": table, "not_computed": missing}


def write(results: Path, out: Path, previous: Path | None = None) -> list[Path]:
    """out/findings.json, out/findings.md and out/changes.csv (written only after every finding is computed)."""
    data = jsonable(compute(results, previous))
    text = markdown(data)
    out = Path(out)
    table = pd.DataFrame(data["changes"], columns=["source", "folder", "split", "decay_mode", "lambda", "against",
                                                   "metric", "change", "low", "high", "n_seeds"])
    return [atomic_write_json(out / "findings.json", data), atomic_write_text(out / "findings.md", text),
            atomic_write_text(out / "changes.csv", table.to_csv(index=False))]
