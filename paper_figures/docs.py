"""The README's headline figures: small PNG copies of a few report figures, written into docs/.

Data: as fig1, fig5 and sim_figs.make_simulations (lm/summary.csv, lm/config.json, lm/learning_speed.csv,
simulations/per_class.csv.gz, simulations/summary.csv)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from PIL import Image

from plumbing.atomic import atomic_write_bytes

from . import fig1, fig5, sim_figs

HEADLINE = ((fig1.make, "fig1_low_high_vs_weight_decay"), (fig5.make, "fig5_learning_speed"),
            (sim_figs.make_simulations, "sim_theory_vs_trained"), (sim_figs.make_simulations, "sim_adamw_vs_l2"))


def make(results: Path, out: Path, width: int = 900) -> list[Path]:
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        made = {}
        for maker, name in HEADLINE:
            if maker not in made:
                made[maker] = maker(results, Path(tmp))
            img = Image.open(Path(tmp) / f"{name}.png")
            img.thumbnail((width, width))
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
            paths.append(atomic_write_bytes(out / f"{name}.png", buf.getvalue()))
    return paths
