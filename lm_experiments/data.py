"""Prepared data: corpus -> split -> BPE -> token-id arrays, cached on disk so reruns skip the work.

Cache folder: <cache_dir>/<corpus slug>-v<vocab>-<corpus sha[:12]>/ with tokenizer.json, train.npy,
heldout.npy and manifest.json, each written atomically; manifest.json is written last, so a folder
without it is incomplete and is rebuilt.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tokenizers
from tokenizers import Tokenizer

from theory.io import atomic_write_bytes, atomic_write_json, atomic_write_text

from .corpora import load_corpus
from .tokenizer import encode_documents, tokenizer_hash, train_bpe


@dataclass
class Prepared:
    train: np.ndarray
    heldout: np.ndarray
    tokenizer: Tokenizer
    tokenizer_path: Path
    vocab_size: int
    manifest: dict


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def prepare(spec: str, vocab_size: int, cache_dir: str | Path) -> Prepared:
    corpus = load_corpus(spec)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", spec).strip("-")[:40]
    folder = Path(cache_dir) / f"{slug}-v{vocab_size}-{corpus.provenance['sha256'][:12]}"
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        return Prepared(np.load(folder / "train.npy"), np.load(folder / "heldout.npy"), tok,
                        folder / "tokenizer.json", tok.get_vocab_size(), json.loads(manifest_path.read_text()))
    tok = train_bpe(corpus.train_docs, vocab_size)
    train = encode_documents(tok, corpus.train_docs)
    heldout = encode_documents(tok, corpus.heldout_docs)
    atomic_write_text(folder / "tokenizer.json", tok.to_str())
    _save_npy(folder / "train.npy", train)
    _save_npy(folder / "heldout.npy", heldout)
    manifest = {"corpus": corpus.provenance, "vocab_size_requested": int(vocab_size),
                "vocab_size": tok.get_vocab_size(), "tokenizer_hash": tokenizer_hash(tok),
                "tokenizers_version": tokenizers.__version__, "n_train_tokens": int(train.size),
                "n_heldout_tokens": int(heldout.size)}
    atomic_write_json(manifest_path, manifest)
    return Prepared(train, heldout, tok, folder / "tokenizer.json", tok.get_vocab_size(), manifest)
