"""Token counts of a corpus under its BPE, as a .npy vector of the nonzero counts (input of `python -m theory bench`).

    .venv/bin/python benchmarks/export_corpus_counts.py mixed 32000 results/counts/mixed_32000.npy

The theory package never imports lm_experiments; this script is the bridge (the first run trains the BPE,
about a minute; later runs read the cache).
"""

import sys
from pathlib import Path

import numpy as np

from lm_experiments.data import prepare


def main(spec: str, vocab: str, out: str, cache: str = "/tmp/mixed_cache") -> None:
    p = prepare(spec, int(vocab), Path(cache))
    counts = np.bincount(np.asarray(p.train), minlength=p.vocab_size)
    counts = counts[counts > 0].astype(np.float64)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.save(out, counts)
    print(f"{out}: V = {counts.size} tokens with nonzero count, N = {counts.sum():.0f}, "
          f"{np.unique(counts).size} distinct counts")


if __name__ == "__main__":
    main(*sys.argv[1:])
