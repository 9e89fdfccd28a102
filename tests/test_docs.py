"""The README and docs/*.md point only at files, modules and names that exist (renames leave no stale
pointers), and the README stays a five-minute read with its two commands near the top."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"] + sorted((ROOT / "docs").glob("*.md"))
PACKAGES = "theory|simulations|lm_experiments|paper_figures|plumbing"
FILE = re.compile(rf"\b((?:{PACKAGES}|benchmarks|tests)/[\w/]*\w\.(?:py|sh|toml))\b")
DOTTED = re.compile(rf"(?<![\w./-])((?:{PACKAGES})(?:\.[A-Za-z_]\w*)+)")
LINK = re.compile(r"\]\(([^)#\s]+)\)")


def _resolves(dotted: str) -> bool:
    """A dotted name resolves when its longest importable prefix is a module and the rest are attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if name in ("py", "md", "csv", "json"):
                return True  # a file name written with dots, e.g. `theory.py`
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_module_and_link_in_the_docs_exists(page):
    text = page.read_text()
    missing = [f for f in FILE.findall(text) if not (ROOT / f).exists()]
    missing += [m for m in dict.fromkeys(DOTTED.findall(text)) if not _resolves(m)]
    missing += [link for link in LINK.findall(text)
                if not link.startswith(("http", "results/")) and not (page.parent / link).exists()]
    assert not missing, f"{page.name} points at what does not exist: {missing}"


def test_the_readme_is_short_and_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    head = "\n".join(lines[:30])
    assert "make reproduce" in head and "make test" in head
