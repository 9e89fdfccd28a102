"""Byte-level BPE (HF `tokenizers`) trained on the training split; id 0 is the end-of-document token.

The model is GPT-2 style: the ByteLevel pre-tokenizer maps each UTF-8 byte to one of 256 printable characters
(so every text is encodable and decode(encode(x)) == x), BPE merges are learnt on top of those 256, and
"<|endoftext|>" is the only special token (id 0). The vocabulary holds at most `vocab_size` entries
(1 special + 256 bytes + merges); a small corpus may give fewer.
"""

from __future__ import annotations

import hashlib

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from plumbing.validate import check_int

EOS = "<|endoftext|>"
EOS_ID = 0
MIN_VOCAB = 300


def train_bpe(texts: list, vocab_size: int) -> Tokenizer:
    """A byte-level BPE with at most `vocab_size` entries, trained on `texts`."""
    check_int("vocab_size (EOS + 256 bytes + merges)", vocab_size, MIN_VOCAB)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    if tok.token_to_id(EOS) != EOS_ID:  # the trainer puts special tokens first; guard the assumption
        raise RuntimeError(f"{EOS} got id {tok.token_to_id(EOS)}, expected {EOS_ID}")
    return tok


def tokenizer_hash(tok: Tokenizer) -> str:
    """First 16 hex digits of SHA-256(tok.to_str()): names a tokenizer in manifests."""
    return hashlib.sha256(tok.to_str().encode("utf-8")).hexdigest()[:16]


def id_dtype(vocab_size: int) -> type:
    """uint16 when every id fits (vocab_size <= 65535), else uint32."""
    return np.uint16 if vocab_size <= 65535 else np.uint32


def encode_documents(tok: Tokenizer, docs: list) -> np.ndarray:
    """All documents' ids in order, each document followed by one EOS (id 0).

    A literal "<|endoftext|>" inside a document is encoded as ordinary text, so id 0 marks document ends only.
    """
    dtype = id_dtype(tok.get_vocab_size())
    before = tok.encode_special_tokens
    tok.encode_special_tokens = True
    try:
        encodings = tok.encode_batch(list(docs))
    finally:
        tok.encode_special_tokens = before
    out = np.empty(sum(len(e.ids) for e in encodings) + len(encodings), dtype=dtype)
    pos = 0
    for enc in encodings:
        n = len(enc.ids)
        out[pos:pos + n] = enc.ids
        out[pos + n] = EOS_ID
        pos += n + 1
    return out
