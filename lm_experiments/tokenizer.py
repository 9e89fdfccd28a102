"""Byte-level BPE (HF `tokenizers`) trained on the training split; id 0 is the end-of-document token."""

from __future__ import annotations

import hashlib

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from theory.problem import InputError

EOS = "<|endoftext|>"


def train_bpe(texts: list, vocab_size: int) -> Tokenizer:
    """A byte-level BPE with `vocab_size` entries at most (256 bytes + merges + EOS); every text is encodable."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 300:
        raise InputError(f"vocab_size must be an integer >= 300 (256 bytes + merges), got {vocab_size!r}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def tokenizer_hash(tok: Tokenizer) -> str:
    return hashlib.sha256(tok.to_str().encode("utf-8")).hexdigest()[:16]


def encode_documents(tok: Tokenizer, docs: list) -> np.ndarray:
    """All documents' ids, each followed by EOS (id 0); uint16 when the vocabulary fits, else uint32."""
    eos = tok.token_to_id(EOS)
    dtype = np.uint16 if tok.get_vocab_size() <= 65535 else np.uint32
    pieces = []
    for enc in tok.encode_batch(docs):
        pieces.append(np.asarray(enc.ids, dtype=dtype))
        pieces.append(np.asarray([eos], dtype=dtype))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)
