"""The reproduction report: every figure whose inputs exist, with captions, then the theory verdicts.

out/report.md links the PNGs next to it; out/report.html embeds them (self-contained). Figures whose
inputs are missing are listed with the missing file, never linked.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from theory.io import atomic_write_text
from theory.problem import InputError

from . import fig1, fig2, fig3, fig4, fig5, sim_figs, table1, theory_figs
from .common import PAPER, lm_dirs, lm_label, read_json

FIGURES = {
    "fig1": (fig1.make, "Fig. 1 analogue — per-token loss of low- vs high-frequency tokens (P99 split of training "
                        "counts) against weight decay, train and held-out."),
    "fig2": (fig2.make, "Fig. 2 analogue — a held-out text coloured by token frequency (see also the HTML file)."),
    "fig3": (fig3.make, "Fig. 3 analogue — token frequency distribution with 50/80/95% mass cuts; rare share vs "
                        "vocabulary size."),
    "fig4": (fig4.make, "Fig. 4 analogue — average vs class-balanced loss against weight decay."),
    "fig5": (fig5.make, "Fig. 5 analogue — token learning speed against training frequency."),
    "table1": (table1.make, "Table 1 analogue."),
    "theory": (theory_figs.make, "Theory: per-class loss at the exact/certified minimum vs numerics "
                                 "(`python -m theory verify`)."),
    "simulations": (sim_figs.make, "Simulations: trained UFM vs theory per optimizer; how much the average loss hides "
                                   "under L2 vs AdamW; rare-word share per language (wordfreq)."),
}


def _provenance(results: Path) -> str:
    lines = []
    try:
        for folder in lm_dirs(results):
            m = read_json(folder / "data_manifest.json")
            lines.append(f"- {lm_label(folder)}; corpus {m['corpus']['n_train_docs']} training / "
                         f"{m['corpus']['n_heldout_docs']} held-out documents, {m['n_train_tokens']:,} training "
                         f"tokens, tokenizer {m['tokenizer_hash']}.")
    except InputError as exc:
        lines.append(f"- no LM results: {exc}")
    lines.append(f"- {PAPER}.")
    return "\n".join(lines)


def build_report(results: str | Path, out: str | Path) -> dict:
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise InputError(f"--results must be a folder of result files, got {str(results)!r}")
    made, missing = {}, {}
    for name, (make, _) in FIGURES.items():
        try:
            made[name] = [p for p in make(results, out) if p.exists()]
        except InputError as exc:
            missing[name] = str(exc)
    md = ["# Fair Language Model Paradox — reproduction report", "",
          "Made by `python -m paper_figures report` from result files only.", "", "## Data and runs", "",
          _provenance(results), ""]
    page = [f"<h1>Fair Language Model Paradox — reproduction report</h1><pre>{html.escape(_provenance(results))}</pre>"]
    for name, paths in made.items():
        caption = FIGURES[name][1]
        md += [f"## {caption}", ""]
        page.append(f"<h2>{html.escape(caption)}</h2>")
        for p in paths:
            rel = p.relative_to(out)
            if p.suffix == ".png":
                md += [f"![{name}]({rel})", ""]
                data = base64.b64encode(p.read_bytes()).decode()
                page.append(f"<img style='max-width:100%' src='data:image/png;base64,{data}'>")
            elif p.suffix == ".md":
                md += [p.read_text(), ""]
                page.append(f"<pre>{html.escape(p.read_text())}</pre>")
            elif p.suffix in (".html", ".csv", ".pdf"):
                md += [f"[{rel}]({rel})", ""]
    if missing:
        md += ["## Not made", ""] + [f"- {k}: {v}" for k, v in missing.items()] + [""]
        page.append("<h2>Not made</h2><ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                                                       for k, v in missing.items()) + "</ul>")
    atomic_write_text(out / "report.md", "\n".join(md))
    atomic_write_text(out / "report.html", "<!doctype html><meta charset='utf-8'><body style='font-family:sans-serif;"
                                           "max-width:70em;margin:auto'>" + "".join(page) + "</body>")
    return {"made": {k: [str(p) for p in v] for k, v in made.items()}, "missing": missing}
