"""`python -m lm_experiments stats`: how much of a BPE vocabulary is rare, for one corpus and many sizes."""

from __future__ import annotations

from pathlib import Path

from plumbing.atomic import atomic_write_csv, atomic_write_json
from plumbing.schemas import LM_VOCAB_SHARE, frame

from . import stats
from .corpora import load_corpus


def write_stats(corpus: str, sizes: list[int], out: Path) -> None:
    """out/vocab_share.csv (vocab_size, share_below_p99_count, share_below_p95_mass; one tokenizer per size,
    trained on the training split) and out/corpus.json (the corpus provenance)."""
    c = load_corpus(corpus)
    table = stats.vocab_share(c.train_docs, sizes)
    table.insert(0, "corpus", corpus)
    table = frame(LM_VOCAB_SHARE, table)
    atomic_write_csv(table, Path(out) / LM_VOCAB_SHARE.name)
    atomic_write_json(Path(out) / "corpus.json", c.provenance)
    print(table.to_string(index=False))
