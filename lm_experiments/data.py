"""Prepared data: corpus -> split -> BPE on the training split -> token-id arrays, cached on disk.

Cache folder: <cache_dir>/<corpus slug>-v<vocab_size requested>-<corpus sha256[:12]>/ holding tokenizer.json,
train.npy, heldout.npy and manifest.json. Each file is written to a temp file in that folder and renamed
(os.replace), and manifest.json is written last, so a folder without it is incomplete and is rebuilt. A later
call with the same corpus content and vocabulary size loads the folder instead of retraining; the corpus is
still read (its SHA-256 names the folder), which takes about a second.

Arrays: every document's ids followed by EOS (id 0), documents in corpus order; uint16 when the vocabulary
has <= 65535 entries, else uint32.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tokenizers
from tokenizers import Tokenizer

from plumbing.atomic import atomic_path, atomic_write_json, atomic_write_text
from plumbing.errors import InputError
from plumbing.validate import check_int

from .corpora import load_corpus
from .tokenizer import MIN_VOCAB, encode_documents, tokenizer_hash, train_bpe


@dataclass
class Prepared:
    train: np.ndarray
    heldout: np.ndarray
    tokenizer: Tokenizer
    tokenizer_path: Path
    vocab_size: int
    manifest: dict


def save_npy(path: Path, arr: np.ndarray) -> None:
    """np.save streamed to a temp file beside `path`, then renamed: readers never see a partial array."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def cache_folder(spec: str, vocab_size: int, corpus_sha256: str, cache_dir: str | Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", spec).strip("-")[:40] or "corpus"
    return Path(cache_dir) / f"{slug}-v{int(vocab_size)}-{corpus_sha256[:12]}"


def _load(folder: Path) -> Prepared | None:
    """The cached data in `folder`, or None when it is incomplete or does not match its manifest."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        train = np.load(folder / "train.npy", allow_pickle=False)
        heldout = np.load(folder / "heldout.npy", allow_pickle=False)
    except Exception:  # OSError, ValueError, or the plain Exception that `tokenizers` raises on a bad file
        return None
    if (tokenizer_hash(tok) != manifest.get("tokenizer_hash") or train.size != manifest.get("n_train_tokens")
            or heldout.size != manifest.get("n_heldout_tokens")):
        return None
    return Prepared(train, heldout, tok, folder / "tokenizer.json", tok.get_vocab_size(), manifest)


def prepare(spec: str, vocab_size: int, cache_dir: str | Path) -> Prepared:
    """Token ids of corpus `spec` under a BPE of `vocab_size` trained on its training split (cached)."""
    check_int("vocab_size", vocab_size, MIN_VOCAB)
    corpus = load_corpus(spec)
    folder = cache_folder(spec, vocab_size, corpus.provenance["sha256"], cache_dir)
    if (folder / "manifest.json").is_file():
        cached = _load(folder)
        if cached is not None:
            return cached
    tok = train_bpe(corpus.train_docs, int(vocab_size))
    train = encode_documents(tok, corpus.train_docs)
    heldout = encode_documents(tok, corpus.heldout_docs)
    (folder / "manifest.json").unlink(missing_ok=True)  # a stale manifest must not vouch for new files
    atomic_write_text(folder / "tokenizer.json", tok.to_str())
    save_npy(folder / "train.npy", train)
    save_npy(folder / "heldout.npy", heldout)
    manifest = {"corpus": corpus.provenance, "vocab_size_requested": int(vocab_size),
                "vocab_size": tok.get_vocab_size(), "tokenizer_hash": tokenizer_hash(tok),
                "tokenizers_version": tokenizers.__version__, "n_train_tokens": int(train.size),
                "n_heldout_tokens": int(heldout.size), "dtype": str(train.dtype), "eos_id": 0}
    atomic_write_json(folder / "manifest.json", manifest)
    return Prepared(train, heldout, tok, folder / "tokenizer.json", tok.get_vocab_size(), manifest)


def load_prepared(data_dir: str | Path, spec: str, vocab_size: int) -> Prepared:
    """The prepared data of corpus `spec` at `vocab_size` from `data_dir`, WITHOUT reading the corpus: for a
    machine that lacks the corpus packages (a lent GPU), given a folder written by `prepare` / `export`.
    `data_dir` is the cache folder itself or holds it (<slug>-v<vocab>-<sha>/); the one whose manifest names
    this corpus spec and requested vocabulary is loaded; InputError when none or several match, or it is damaged.
    """
    root = Path(data_dir)
    found = []
    for folder in [root, *sorted(p for p in root.glob("*") if p.is_dir())] if root.is_dir() else []:
        try:
            m = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if m.get("corpus", {}).get("spec") == spec and m.get("vocab_size_requested") == int(vocab_size):
            found.append(folder)
    if len(found) != 1:
        raise InputError(f"--data {str(root)!r}: {len(found)} prepared folders of corpus {spec!r} at vocab_size "
                         f"{vocab_size} (need exactly 1; write one with `python -m lm_experiments export`)")
    prepared = _load(found[0])
    if prepared is None:
        raise InputError(f"{str(found[0])!r} is incomplete or does not match its manifest; export it again")
    return prepared


def export(spec: str, vocab_size: int, out: str | Path, max_mib: float = 64.0) -> tuple[Path, float]:
    """Prepare corpus `spec` at `vocab_size` into `out` (the cache folder of `prepare`) for `load_prepared` on a
    machine without the corpus packages; returns (folder, size in MiB). InputError, and the folder removed, when
    it exceeds `max_mib` (what one device call carries)."""
    prepared = prepare(spec, vocab_size, out)
    folder = prepared.tokenizer_path.parent
    mib = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    if mib > max_mib:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
        raise InputError(f"the prepared data of {spec!r} at vocab {vocab_size} take {mib:.1f} MiB, more than "
                         f"--max-mib {max_mib:g}")
    return folder, mib
