"""The reproduction report: every figure whose inputs exist, each with a caption naming the result files and
runs that made it and how it differs from the paper, then the verdict table of the theory report.

out/report.md links the files next to it; out/report.html embeds the PNGs as base64 data URIs (self-contained).
Figures whose inputs are missing or malformed are listed under "Not made" with the error (naming the file);
only files that exist are linked.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Callable, NamedTuple

from plumbing.atomic import atomic_write_text
from plumbing.errors import InputError

from . import fig1, fig2, fig3, fig4, fig5, fig_mitigation, scoreboard, sim_figs, sim_run_figs, table1, \
    theory_corpus, theory_figs
from .common import PAPER, lm_dirs, lm_label, lm_runs, read_json


class Figure(NamedTuple):
    make: Callable[[Path, Path], list]
    inputs: Callable[[Path], list]
    caption: str
    differs: str
    runs: Callable[[Path], str]  # the runs that made it ("" for none), for the caption
    facts: Callable[[Path], str] | None = None  # numbers the caption states, from the result files
    headline: bool = False  # shown on the first screen, right after the scoreboard


def _all_lm_runs(results: Path) -> str:
    return _lm_runs(results, first_only=False)


def _first_lm_runs(results: Path) -> str:
    return _lm_runs(results, first_only=True)


def _no_runs(results: Path) -> str:
    return ""


FIGURES = {
    "fig1": Figure(fig1.make, fig1.inputs, fig1.CAPTION, fig1.DIFFERS, _all_lm_runs, headline=True),
    "mitigation": Figure(fig_mitigation.make, fig_mitigation.inputs, fig_mitigation.CAPTION, fig_mitigation.DIFFERS,
                         _all_lm_runs, headline=True),
    "fig2": Figure(fig2.make, fig2.inputs, fig2.CAPTION, fig2.DIFFERS, _first_lm_runs),
    "fig3": Figure(fig3.make, fig3.inputs, fig3.CAPTION, fig3.DIFFERS, _first_lm_runs),
    "fig4": Figure(fig4.make, fig4.inputs, fig4.CAPTION, fig4.DIFFERS, _all_lm_runs),
    "fig5": Figure(fig5.make, fig5.inputs, fig5.CAPTION, fig5.DIFFERS, _first_lm_runs, fig5.facts),
    "table1": Figure(table1.make, table1.inputs, table1.CAPTION, table1.DIFFERS, _all_lm_runs),
    "mitigation_simulations": Figure(fig_mitigation.make_sims, fig_mitigation.sim_inputs, fig_mitigation.SIM_CAPTION,
                                     fig_mitigation.DIFFERS, _no_runs),
    "theory": Figure(theory_figs.make, theory_figs.inputs, theory_figs.CAPTION, theory_figs.DIFFERS, _no_runs),
    "theory_corpus": Figure(theory_corpus.make, theory_corpus.inputs, theory_corpus.CAPTION, theory_corpus.DIFFERS,
                            _all_lm_runs),
    "simulations": Figure(sim_figs.make_simulations, sim_figs.inputs, sim_figs.CAPTION, sim_figs.DIFFERS,
                          lambda results: _sim_runs(results)),
    "simulation_grid": Figure(sim_run_figs.make, sim_run_figs.inputs, sim_run_figs.CAPTION, sim_run_figs.DIFFERS,
                              lambda results: _sim_runs(results)),
    "languages": Figure(sim_figs.languages, sim_figs.lang_inputs, sim_figs.LANG_CAPTION, sim_figs.LANG_DIFFERS,
                        _no_runs),
}
TITLE = "Fair Language Model Paradox — reproduction report"


def _try(fn, default=""):
    try:
        return fn()
    except InputError as exc:
        return default or f"({exc})"


def _lm_runs(results: Path, first_only: bool) -> str:
    folders = lm_dirs(results)[:1] if first_only else lm_dirs(results)
    return "; ".join(f"{_try(lambda: lm_label(f))} — {_try(lambda: lm_runs(f))}" for f in folders)


def _sim_runs(results: Path) -> str:
    path = results / "simulations" / "config.json"
    if not path.is_file():
        return ""
    c = _try(lambda: read_json(path), {}).get("config", {})
    keys = ("name", "V", "counts", "alpha", "models", "optimizers", "lambdas", "adamw_lambdas", "seeds")
    return "simulations/config.json: " + ", ".join(f"{k} {c[k]}" for k in keys if k in c)


def caption(name: str, results: Path) -> str:
    """Markdown caption: what the figure shows, the files and runs that made it, how it differs from the paper."""
    f = FIGURES[name]
    files = ", ".join(f"`{p.relative_to(results)}`" for p in _try(lambda: f.inputs(results), []) if p.is_file())
    text = f"{f.caption} Made from {files}."
    if f.facts is not None:
        text += " " + _try(lambda: f.facts(results))
    if runs := f.runs(results):
        text += f" Runs: {runs}."
    return text + f" Differs from the paper: {f.differs}."


def _provenance(results: Path) -> list[str]:
    try:
        folders = lm_dirs(results)
    except InputError as exc:
        return [f"- no LM sweep: {exc}", f"- {PAPER}."]
    lines = []
    for folder in folders:
        line = f"- {_try(lambda: lm_label(folder))}; {_try(lambda: lm_runs(folder))}"
        path = folder / "data_manifest.json"
        if path.is_file():
            m = _try(lambda: read_json(path), {})
            corpus = m.get("corpus", {}) if isinstance(m.get("corpus"), dict) else {}
            bits = [f"corpus {corpus.get('spec', '?')}: {corpus.get('n_train_docs', '?')} training / "
                    f"{corpus.get('n_heldout_docs', '?')} held-out documents"]
            if "n_train_tokens" in m:
                bits.append(f"{m['n_train_tokens']:,} training tokens")
            if "tokenizer_hash" in m:
                bits.append(f"tokenizer {m['tokenizer_hash']}")
            line += "; " + ", ".join(bits)
        else:
            line += f"; no {folder.name}/data_manifest.json"
        lines.append(line + ".")
    return lines + [f"- {PAPER}."]


def _inline(text: str) -> str:
    """Markdown inline -> HTML: escape, then **bold** and `code`."""
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def markdown_to_html(md: str) -> str:
    """The small Markdown subset the report writes: headings, tables, bullets, paragraphs (no images or links)."""
    parts, table = [], []

    def flush():
        if table:
            rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r.strip().strip("|"))]
                    for r in table if not re.fullmatch(r"\|?[\s|:-]+\|?", r.strip())]
            head, body = rows[0], rows[1:]
            parts.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body) + "</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if m := re.match(r"(#{1,6}) (.*)", line):
            parts.append(f"<h{len(m[1])}>{_inline(m[2])}</h{len(m[1])}>")
        elif line.startswith("- "):
            parts.append(f"<li>{_inline(line[2:])}</li>")
        elif line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
    flush()
    return re.sub(r"((?:<li>.*?</li>)+)", r"<ul>\1</ul>", "".join(parts))


def _figure_section(name: str, paths: list, results: Path, out: Path) -> tuple[list[str], list[str]]:
    """(markdown lines, html parts) of one figure: caption, its images, tables (.md) and other files linked."""
    cap = caption(name, results)
    md, page, links = [f"## {name}", "", cap, ""], [f"<h2 id='{name}'>{html.escape(name)}</h2><p class='cap'>{_inline(cap)}</p>"], []
    for p in paths:
        rel = p.relative_to(out).as_posix()
        if p.suffix == ".png":
            md += [f"![{name}: {p.stem}]({rel})", ""]
            data = base64.b64encode(p.read_bytes()).decode()
            page.append(f"<figure><img alt='{html.escape(p.stem)}' src='data:image/png;base64,{data}'>"
                        f"<figcaption>{html.escape(p.stem)}</figcaption></figure>")
        elif p.suffix == ".md":
            md += [p.read_text().strip(), ""]
            page.append(markdown_to_html(p.read_text()))
        else:
            links.append(rel)
    if links:
        md += ["Files: " + ", ".join(f"[{r}]({r})" for r in links), ""]
        page.append("<p>Files: " + ", ".join(f"<a href='{html.escape(r)}'>{html.escape(r)}</a>" for r in links)
                    + "</p>")
    return md, page


def _scoreboard(results: Path) -> tuple[list[str], list[str]]:
    path = results / "findings.json"
    intro = ("Each cell: verdict, effect [95% interval], n (seeds or rows), from `findings.json`; the rules are in "
             "the findings table below. Green: resolved; red: contradicts the paper; grey: not resolved; blue: a "
             "mitigation verdict.")
    if not path.is_file():
        note = "No `findings.json` in the results folder: run `python -m paper_figures findings` first."
        return ["## Scoreboard", "", note, ""], ["<h2>Scoreboard</h2>", f"<p>{_inline(note)}</p>"]
    data = read_json(path)
    return (["## Scoreboard", "", intro, "", scoreboard.markdown(data), ""],
            ["<h2>Scoreboard</h2>", f"<p class='cap'>{_inline(intro)}</p>", scoreboard.to_html(data)])


STYLE = ("body{font-family:sans-serif;max-width:72em;margin:auto;padding:.5em 1em;line-height:1.3}"
         "h1{font-size:1.5em;margin:.3em 0}h2{margin:.8em 0 .3em}"
         "img{max-width:100%;height:auto}.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}"
         "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:.2em .4em;"
         "vertical-align:top}figure{margin:1em 0}figcaption{color:#666;font-size:85%}.cap{max-width:60em}"
         "code{word-break:break-word}.scroll td{min-width:8em}"
         # a phone: long cells get room to be read across (the table scrolls sideways), ids may break anywhere
         "@media (max-width:600px){.scroll td{min-width:15em}.scroll td:first-child{min-width:6em;"
         "word-break:break-all}}" + scoreboard.STYLE)


def build_report(results: str | Path, out: str | Path) -> dict:
    """out/report.md and out/report.html: the scoreboard, the headline figures, the findings table, the data and
    runs, then every other figure and what could not be made."""
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise InputError(f"--results must be a folder of result files, got {str(results)!r}")
    made, missing = {}, {}
    for name, f in FIGURES.items():
        try:
            made[name] = [p for p in f.make(results, out) if Path(p).is_file()]
        except InputError as exc:
            missing[name] = str(exc)
    intro = f"Made by `python -m paper_figures report` from result files only (`{results}`)."
    md, page = [f"# {TITLE}", "", intro, ""], [f"<h1>{html.escape(TITLE)}</h1>", f"<p>{_inline(intro)}</p>"]
    m, h = _scoreboard(results)
    md += m
    page += h
    order = [n for n in made if FIGURES[n].headline] + [n for n in made if not FIGURES[n].headline]
    for name in order[:sum(FIGURES[n].headline for n in made)]:
        m, h = _figure_section(name, made[name], results, out)
        md, page = md + m, page + h
    rest = ["## Findings", ""]
    if (results / "findings.md").is_file():  # `python -m paper_figures findings`: the headline statements
        body = (results / "findings.md").read_text().split("\n", 1)[1].strip().replace("\n## ", "\n### ")
        rest += ["From `findings.json` (computed from the result files).", "", body, ""]
    else:
        rest += ["No `findings.md` in the results folder (`python -m paper_figures findings`).", ""]
    rest += ["## Data and runs", "", *_provenance(results), ""]
    md += rest
    page.append(markdown_to_html("\n".join(rest)))
    for name in order[sum(FIGURES[n].headline for n in made):]:
        m, h = _figure_section(name, made[name], results, out)
        md, page = md + m, page + h
    if missing:
        md += ["## Not made", ""] + [f"- {k}: {v}" for k, v in missing.items()] + [""]
        page.append("<h2>Not made</h2><ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                                                       for k, v in missing.items()) + "</ul>")
    atomic_write_text(out / "report.md", "\n".join(md))
    head = (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, "
            f"initial-scale=1'><title>{TITLE}</title><style>{STYLE}</style></head>")
    body = re.sub(r"<table>(.*?)</table>", r"<div class='scroll'><table>\1</table></div>", "".join(page), flags=re.S)
    atomic_write_text(out / "report.html", f"{head}<body>{body}</body></html>\n")
    return {"made": {k: [str(p) for p in v] for k, v in made.items()}, "missing": missing}
