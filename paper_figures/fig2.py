"""Fig. 2 analogue: a held-out text with each token coloured low / high frequency at the P99 count threshold
of the tokens the sweep's runs trained on (the counts the runs split their losses by), threshold printed.
PNG/PDF (word-wrapped matplotlib text boxes, legend) and a self-contained HTML page (<span> colours, legend;
hover shows token id and count).

Data: <first lm folder>/text_sample.csv (position, token_id, piece, count, low_freq, threshold)."""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Patch, Rectangle

from plumbing.atomic import atomic_write_text
from plumbing.schemas import LM_TEXT_SAMPLE

from .common import as_bool, lm_dirs, read_csv, save

NAME = "fig2_text_by_frequency"
CAPTION = ("Fig. 2 analogue — a held-out text, each token coloured by its training frequency (red: below the "
           "P99 count threshold, blue: above); the HTML file has the same text with hover details.")
DIFFERS = ("the paper colours an IMDB review under its 32k BPE tokenizer; ours is a held-out document of our "
           "corpus under our tokenizer, so the pieces and the threshold differ")
COLS = LM_TEXT_SAMPLE.columns  # position, token_id, piece, count, low_freq, threshold
#                text       background
LOW = ("#b2182b", "#fddbc7")
HIGH = ("#2166ac", "#d1e5f0")
WIDTH_IN, LINE_IN, FONT, MAX_LINES = 10.0, 0.28, 11, 40


def inputs(results: Path) -> list[Path]:
    return [lm_dirs(results)[0] / LM_TEXT_SAMPLE.name]


def read_sample(results: Path):
    path, = inputs(results)
    # keep_default_na=False: a token piece "NA" or "null" is text, not a missing value
    s = read_csv(path, COLS, LM_TEXT_SAMPLE.pick("position", "token_id", "count", "threshold"), keep_default_na=False,
                 dtype={"piece": str})
    s["low_freq"] = as_bool(s, "low_freq", path)
    return s.sort_values("position", kind="stable").reset_index(drop=True)


def _title(s) -> str:
    threshold = float(s["threshold"].iloc[0])
    return (f"P99 threshold = {threshold:.0f} training occurrences: red = low-frequency (below it, "
            f"{100 * s['low_freq'].mean():.0f}% of this sample's {len(s)} tokens), blue = high-frequency")


def _html(s) -> str:
    spans = "".join(
        f'<span class="tok {"low" if lo else "high"}" title="id {int(tid)}, count {c:.0f}">{html.escape(p)}</span>'
        for p, lo, tid, c in zip(s["piece"], s["low_freq"], s["token_id"], s["count"]))
    style = (f"body{{font-family:sans-serif;max-width:55em;margin:2em auto}}"
             f".text{{font-family:serif;font-size:18px;line-height:1.7;white-space:pre-wrap}}"
             f".low{{color:{LOW[0]};background:{LOW[1]}}}.high{{color:{HIGH[0]};background:{HIGH[1]}}}"
             f".key{{padding:0 .4em}}")
    legend = (f'<p>Legend: <b class="key low">low-frequency</b> <b class="key high">high-frequency</b> '
              f"(threshold {float(s['threshold'].iloc[0]):.0f} training occurrences, the P99 of the token counts)</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Tokens by training frequency</title>"
            f"<style>{style}</style></head><body><p>{html.escape(_title(s))}</p>{legend}"
            f"<div class='text'>{spans}</div></body></html>\n")


def _layout(s, fig):
    """Word-wrapped (x, line, text, low) in inches: a line breaks before a word (a piece starting with white
    space) that would overflow, or at a newline; leading spaces of a line are dropped."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()
    prop = FontProperties(family="serif", size=FONT)

    def width(text: str) -> float:
        return renderer.get_text_width_height_descent(text, prop, ismath=False)[0] / fig.dpi

    space = width("a a") - width("aa")
    pieces = [(p, lo) for p, lo in zip(s["piece"], s["low_freq"])]
    # word widths: a word starts at a piece that begins with white space (or after a newline)
    word_w, starts = [], []
    for i, (p, _) in enumerate(pieces):
        if i == 0 or p[:1].isspace() or "\n" in pieces[i - 1][0]:
            starts.append(i)
    bounds = starts[1:] + [len(pieces)]
    for a, b in zip(starts, bounds):
        word_w.append(sum(width(p.replace("\n", "").strip()) + space * (len(p) - len(p.lstrip()))
                          for p, _ in pieces[a:b]))
    word_at = {a: w for a, w in zip(starts, word_w)}
    placed, x, line = [], 0.0, 0
    for i, (p, lo) in enumerate(pieces):
        parts = p.split("\n")
        for k, part in enumerate(parts):
            if k:
                x, line = 0.0, line + 1
            lead = len(part) - len(part.lstrip())
            body = part.strip() if x == 0.0 else part.lstrip()
            if i in word_at and k == 0 and x > 0 and x + word_at[i] > WIDTH_IN:
                x, line, body = 0.0, line + 1, part.strip()
            if x > 0:
                x += space * lead
            if body:
                w = width(body)
                placed.append((x, line, body, lo, w))
                x += w
    return placed


def make(results: Path, out: Path) -> list[Path]:
    s = read_sample(results)
    paths = [atomic_write_text(Path(out) / f"{NAME}.html", _html(s))]
    fig = plt.figure(figsize=(WIDTH_IN + 0.4, 3))
    placed = _layout(s, fig)
    shown = [t for t in placed if t[1] < MAX_LINES]
    n_lines = (max(t[1] for t in shown) + 1) if shown else 1
    height = 0.9 + LINE_IN * (n_lines + 1)
    fig.set_size_inches(WIDTH_IN + 0.4, height)
    W = WIDTH_IN + 0.4
    for x, line, body, lo, w in shown:  # boxes first, under every piece of text, so no box hides a glyph
        top = 0.75 + LINE_IN * line - 0.02
        fig.patches.append(Rectangle(((0.2 + x) / W, 1 - (top + 0.86 * LINE_IN) / height), w / W,
                                     0.86 * LINE_IN / height, transform=fig.transFigure, fc=(LOW if lo else HIGH)[1],
                                     ec="white", lw=0.4, zorder=0))
    for x, line, body, lo, _ in shown:
        fig.text((0.2 + x) / W, 1 - (0.75 + LINE_IN * line) / height, body, color=(LOW if lo else HIGH)[0],
                 fontsize=FONT, family="serif", va="top", parse_math=False, zorder=1)
    title = _title(s)
    if len(shown) < len(placed):
        title += f" (first {MAX_LINES} lines shown; the HTML file has the whole text)"
    fig.suptitle(textwrap.fill(title, 120), fontsize=9, y=1 - 0.1 / height, va="top")
    fig.legend(handles=[Patch(fc=LOW[1], ec=LOW[0], label="low-frequency"),
                        Patch(fc=HIGH[1], ec=HIGH[0], label="high-frequency")],
               loc="lower center", ncol=2, fontsize=8, frameon=False)
    return paths + save(fig, out, NAME)
