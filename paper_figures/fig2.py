"""Fig. 2 analogue: a held-out text with each token coloured low/high frequency at the P99 count threshold
of the training split (lm/text_sample.csv); PNG and a self-contained HTML page."""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt

from theory.io import atomic_write_text

from .common import lm_dirs, read_csv, save

COLS = ("position", "token_id", "piece", "count", "low_freq", "threshold")
LOW, HIGH = "#d62728", "#1f77b4"


def make(results: Path, out: Path) -> list[Path]:
    folder = lm_dirs(results)[0]
    s = read_csv(folder / "text_sample.csv", COLS).sort_values("position")
    s["piece"] = s["piece"].fillna("").astype(str)
    threshold = float(s["threshold"].iloc[0])
    low_share = float(s["low_freq"].mean())
    title = (f"P99 threshold = {threshold:.0f} training occurrences; red = low-frequency "
             f"({100 * low_share:.0f}% of this sample's tokens), blue = high-frequency")
    spans = "".join(f'<span style="color:{LOW if lo else HIGH}" title="id {tid}, count {c:.0f}">'
                    f"{html.escape(p)}</span>" for p, lo, tid, c in zip(s["piece"], s["low_freq"], s["token_id"], s["count"]))
    page = (f"<!doctype html><meta charset='utf-8'><title>Token frequency</title>"
            f"<p style='font-family:sans-serif'>{html.escape(title)}</p>"
            f"<p style='font-family:serif;font-size:18px;line-height:1.6;max-width:50em'>{spans}</p>")
    paths = [atomic_write_text(out / "fig2_text_by_frequency.html", page)]
    # PNG: lay the pieces out word-wrapped, each in its colour
    fig = plt.figure(figsize=(10, 4.5))
    ax = fig.add_axes((0, 0, 1, 0.9))
    ax.axis("off")
    fig.suptitle(textwrap.fill(title, 110), fontsize=9)
    x, y = 0.01, 0.95
    renderer = fig.canvas.get_renderer()
    for piece, lo in zip(s["piece"], s["low_freq"]):
        for k, part in enumerate(piece.split("\n")):
            if k:
                x, y = 0.01, y - 0.075
            if not part:
                continue
            t = ax.text(x, y, part, color=LOW if lo else HIGH, fontsize=11, family="serif", va="top",
                        transform=ax.transAxes)
            w = t.get_window_extent(renderer).width / ax.get_window_extent(renderer).width
            if x + w > 0.99 and x > 0.01:
                x, y = 0.01, y - 0.075
                t.set_position((x, y))
            x += w
            if y < 0.02:
                break
    return paths + save(fig, out, "fig2_text_by_frequency")
