"""Reading result files (clear errors naming the file) and saving figures; paper_figures never trains."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from plumbing.atomic import save_figure as save  # noqa: E402,F401
from plumbing.errors import InputError  # noqa: E402
from plumbing.results import read_result_csv as read_csv  # noqa: E402,F401  (re-exported for the figure modules)
from plumbing.schemas import LM_SUMMARY  # noqa: E402

PAPER = ("paper: OpenELM/Qwen2 270M-3B, IMDB (25k reviews), BPE 32k, seq 128, 10k steps, AdamW, "
         "weight decay 0-2, 5 seeds, measured on the training set")


def as_bool(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A True/False column (bool, 0/1 or the words true/false), or an InputError naming the file."""
    words = df[column].astype(str).str.strip().str.lower()
    if not words.isin(["true", "false", "1", "0", "1.0", "0.0"]).all():
        raise InputError(f"result file {str(path)!r}: column {column} must hold True/False")
    return words.isin(["true", "1", "1.0"])


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"missing result file {str(path)!r}")
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read result file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"result file {str(path)!r} must hold a JSON object, got {type(data).__name__}")
    return data


def need(data: dict, keys: tuple, path: Path) -> dict:
    """InputError naming the file unless the JSON object has every key."""
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"result file {str(path)!r} lacks the key(s) {', '.join(missing)}")
    return data


def lm_dirs(results: Path) -> list[Path]:
    """The LM sweep folders present: `lm` (CPU) first, then every other `lm_*` folder (e.g. `lm_gpu`) and the
    committed real-scale sweeps under `real_scale/` (`lm_experiments pack`), each either a folder holding a
    summary.csv or, for a sweep with regimes, its regime subfolders that do (lm_stats is not a sweep); an
    InputError naming lm/summary.csv if there is none."""
    results = Path(results)
    tops = sorted((p for p in results.glob("lm*") if p.name == "lm" or p.name.startswith("lm_")),
                  key=lambda p: (p.name != "lm", p.name))
    tops += sorted(p for p in results.glob("real_scale/*") if p.is_dir())
    found = []
    for top in (p for p in tops if p.name != "lm_stats"):
        if (top / LM_SUMMARY.name).is_file():
            found.append(top)
        else:
            found += sorted(p.parent for p in top.glob(f"*/{LM_SUMMARY.name}"))
    if not found:
        raise InputError(f"missing result file {str(results / 'lm' / LM_SUMMARY.name)!r}")
    return found


def lm_summary(folder: Path, columns: tuple, numeric: tuple = ()) -> pd.DataFrame:
    """An LM folder's summary.csv: the split column must hold train / heldout; decay_mode defaults to one mode."""
    path = folder / LM_SUMMARY.name
    s = read_csv(path, LM_SUMMARY.pick("lambda", "seed", "split", *columns), LM_SUMMARY.pick("lambda", *numeric))
    bad = sorted(set(s["split"].astype(str)) - {"train", "heldout"})
    if bad:
        raise InputError(f"result file {str(path)!r}: split must be train or heldout, got {', '.join(bad)}")
    if "decay_mode" not in s:
        s["decay_mode"] = "default"
    return s


def lm_config(folder: Path) -> dict:
    path = folder / "config.json"
    return need(need(read_json(path), ("config",), path)["config"], ("corpus", "vocab_size", "seeds"), path)


def lm_label(folder: Path) -> str:
    """'lm: tiny on rotten-tomatoes, vocab 8192, 200 steps, 1 seed(s)' from config.json (steps from summary.csv's
    step column when the config does not state them)."""
    cfg = lm_config(folder)
    train = cfg.get("train") or {}
    steps = train.get("steps")
    if steps is None and (folder / LM_SUMMARY.name).is_file():
        try:
            step = pd.read_csv(folder / LM_SUMMARY.name, usecols=list(LM_SUMMARY.pick("step")))["step"]
            steps = f"{int(step.max())}" if step.notna().any() else None
        except (ValueError, OSError):
            steps = None
    # a regime of a sweep (its parent holds the sweep's config.json) is named sweep/regime
    name = f"{folder.parent.name}/{folder.name}" if (folder.parent / "config.json").is_file() else folder.name
    return (f"{name}: {train.get('preset') or cfg.get('name', '?')} on {cfg['corpus']}, vocab "
            f"{cfg['vocab_size']}, {steps if steps is not None else '?'} steps, {len(cfg['seeds'])} seed(s)")


def lm_runs(folder: Path) -> str:
    """'5 runs: decay modes no-norm-bias; λ 0, 0.1, 0.5, 1, 2; seeds 0' from summary.csv."""
    s = lm_summary(folder, ())
    n = s["run"].nunique() if "run" in s else len(s.drop_duplicates(["decay_mode", "lambda", "seed"]))
    return (f"{n} run(s): decay mode(s) {', '.join(map(str, s['decay_mode'].unique()))}; "
            f"λ {', '.join(f'{v:g}' for v in sorted(s['lambda'].unique()))}; "
            f"seed(s) {', '.join(str(v) for v in sorted(s['seed'].unique()))}")


def symlog_lambda(ax, lambdas) -> None:
    positive = [v for v in lambdas if v > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    ax.set_xlabel("weight decay λ")


def lm_inputs(results: Path) -> list[Path]:
    """summary.csv and config.json of every LM sweep folder: what the per-lambda LM figures read."""
    return [f / name for f in lm_dirs(results) for name in (LM_SUMMARY.name, "config.json")]


def lambda_panels(results: Path, out: Path, name: str, series: tuple, ylabel: str, title: str) -> list[Path]:
    """Two metrics of summary.csv against weight decay: one row per LM sweep folder, train and held-out
    columns, mean ± std over seeds as error bars, one line style per decay mode (solid for the first).
    `series` is ((column, label, colour, marker), (column, label, colour, marker))."""
    import matplotlib.pyplot as plt

    columns = tuple(c for c, *_ in series)
    folders = lm_dirs(results)
    fig, axes = plt.subplots(len(folders), 2, figsize=(9, 3.3 * len(folders)), squeeze=False)
    for row, folder in zip(axes, folders):
        s = lm_summary(folder, columns, columns)
        label = lm_label(folder)
        for ax, split in zip(row, ("train", "heldout")):
            for i, (mode, sub) in enumerate(s[s["split"] == split].groupby("decay_mode", sort=False)):
                g = sub.groupby("lambda")[list(columns)]
                m, sd = g.mean(), g.std().fillna(0.0)
                ls = "-" if i == 0 else "--"
                for column, text, color, marker in series:
                    ax.errorbar(m.index, m[column], sd[column], fmt=marker + ls, color=color, ms=3, capsize=2,
                                label=f"{text} ({mode})")
            if not (s["split"] == split).any():
                ax.text(0.5, 0.5, f"no {split} rows in summary.csv", ha="center", transform=ax.transAxes)
            symlog_lambda(ax, sorted(s["lambda"].unique()))
            ax.set_ylabel(ylabel)
            ax.set_title(f"{split} — {label}", fontsize=8)
        row[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, out, name)
