"""Extraction equals the model's own hidden states, for every architecture family."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from probekit.data.edges import EdgeRecord, ProbingData, Target
from probekit.data.records import Sentence
from probekit.errors import ConfigError, DataFormatError, ProbekitError
from probekit.extract import extract, span_word_rows, target_features
from probekit.extract import models as M
from probekit.extract.tiny import save_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    ["The", "naïve", "café", "owner", "paid", "$", "1,234.56", "!"],
    ["Emoji", "😀", "and", "antidisestablishmentarianism", "."],
    ["A", "short", "one"],
    ["x"] * 12,
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache: dict[str, object] = {}

    def build(family: str):
        if family not in cache:
            cache[family] = save_tiny(family, tmp_path_factory.mktemp(family) / "model")
        return cache[family]

    return build


def reference(folder, texts, *, pooling="mean"):
    """Word vectors computed the obvious way: one sentence per forward, output_hidden_states."""
    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    out = []
    for words in texts:
        enc = tok([words], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            hs = model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states
        wid = enc.word_ids(0)
        per_layer = []
        for h in hs:
            vecs = []
            for w in range(len(words)):
                pos = [i for i, x in enumerate(wid) if x == w]
                if not pos:
                    vecs.append(torch.zeros(h.shape[-1]))
                    continue
                sub = h[0, pos]
                vecs.append({"mean": sub.mean(0), "max": sub.max(0).values,
                             "first": sub[0], "last": sub[-1]}[pooling])
            per_layer.append(torch.stack(vecs).numpy())
        out.append(per_layer)
    return out


@pytest.mark.parametrize("family", ["bert", "roberta", "gpt2", "llama", "t5", "bart", "distilbert",
                                    "electra", "deberta-v2"])
def test_hidden_states_equal_model_output(tiny, family):
    folder = tiny(family)
    reps = extract(folder, TEXTS, store_dtype="float32", cache=False, progress=False)
    assert reps.layers == [0, 1, 2]  # 2 blocks + embeddings output
    ref = reference(folder, TEXTS)
    for t, words in enumerate(TEXTS):
        rows = reps.rows(t)
        for layer in reps.layers:
            np.testing.assert_allclose(reps.layer(layer)[rows], ref[t][layer], atol=1e-5)


@pytest.mark.parametrize("pooling", ["first", "last", "max"])
def test_word_poolings(tiny, pooling):
    folder = tiny("bert")
    reps = extract(folder, TEXTS, word_pooling=pooling, layers=[2], store_dtype="float32",
                   cache=False, progress=False)
    ref = reference(folder, TEXTS, pooling=pooling)
    for t in range(len(TEXTS)):
        np.testing.assert_allclose(reps.layer(2)[reps.rows(t)], ref[t][2], atol=1e-5)


def test_layer_subset_negative_and_store_dtype(tiny):
    folder = tiny("gpt2")
    reps = extract(folder, TEXTS, layers=[-1, 0], cache=False, progress=False)
    assert reps.layers == [0, 2]
    assert reps.layer(2).dtype == np.float16
    assert sorted(p.name for p in reps.path.glob("layer_*.npy")) == ["layer_00.npy", "layer_02.npy"]
    full = extract(folder, TEXTS, layers=[2], store_dtype="float32", cache=False, progress=False)
    np.testing.assert_allclose(reps.layer(2), full.layer(2), rtol=2e-3, atol=2e-3)
    with pytest.raises(ProbekitError, match="not extracted"):
        reps.layer(1)


def test_sentence_pooling(tiny):
    folder = tiny("bert")
    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    texts = TEXTS[:3]
    for how in ("mean", "cls", "last"):
        reps = extract(folder, texts, layers=[1], sentence_pooling=how, store_dtype="float32",
                       cache=False, progress=False)
        for t, words in enumerate(texts):
            enc = tok([words], is_split_into_words=True, return_tensors="pt")
            with torch.no_grad():
                h = model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states[1][0]
            content = [i for i, w in enumerate(enc.word_ids(0)) if w is not None]
            expected = {"mean": h[content].mean(0), "cls": h[0], "last": h[-1]}[how]
            np.testing.assert_allclose(reps.sentence(1)[t], expected.numpy(), atol=1e-5)
    assert extract(folder, texts, layers=[1], cache=False, progress=False).sentence(1) is None


def test_in_memory_model_and_record_inputs(tiny):
    folder = tiny("roberta")
    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    sentences = [Sentence(id=f"s{i}", tokens=w) for i, w in enumerate(TEXTS)]
    records = [EdgeRecord(id=f"r{i}", tokens=w) for i, w in enumerate(TEXTS)]
    a = extract((model, tok), sentences, layers=[1], store_dtype="float32", progress=False)
    b = extract(folder, records, layers=[1], store_dtype="float32", progress=False)
    np.testing.assert_allclose(a.layer(1), b.layer(1), atol=1e-6)
    assert a.index.columns.tolist() == ["text", "word", "row", "n_subwords"]
    assert len(a.index) == sum(map(len, TEXTS))


def _data(kind, records):
    return ProbingData(task="t", kind=kind, records=records, labels=["a", "b"])


def test_target_features_all_kinds(tiny):
    folder = tiny("bert")
    recs = [EdgeRecord(id=f"r{i}", tokens=w) for i, w in enumerate(TEXTS[:3])]
    reps = extract(folder, recs, layers=[0, 2], store_dtype="float32", sentence_pooling="mean",
                   progress=False)
    L2 = np.asarray(reps.layer(2))
    off = reps.text_offsets

    recs[0].targets = [Target("a", (1, 2)), Target("b", (7, 8))]
    recs[1].targets = [Target("a", (0, 1))]
    X = target_features(reps, _data("token", recs))
    assert X.shape == (2, 3, reps.dim) and X.dtype == np.float32
    np.testing.assert_allclose(X[1], L2[[off[0] + 1, off[0] + 7, off[1]]])

    recs[0].targets = [Target("a", (1, 4))]
    recs[1].targets = [Target("b", (2, 4))]
    Xm = target_features(reps, _data("span", recs), layers=[2])
    np.testing.assert_allclose(Xm[0, 0], L2[off[0] + 1 : off[0] + 4].mean(0), rtol=1e-5, atol=1e-6)
    Xx = target_features(reps, _data("span", recs), span_pooling="max", layers=[2])
    np.testing.assert_allclose(Xx[0, 1], L2[off[1] + 2 : off[1] + 4].max(0))
    Xe = target_features(reps, _data("span", recs), span_pooling="endpoints", layers=[2])
    np.testing.assert_allclose(Xe[0, 0], np.r_[L2[off[0] + 1], L2[off[0] + 3]])
    rows, offsets = span_word_rows(reps, _data("span", recs))
    np.testing.assert_array_equal(rows, [off[0] + 1, off[0] + 2, off[0] + 3, off[1] + 2, off[1] + 3])
    np.testing.assert_array_equal(offsets, [0, 3, 5])

    recs[0].targets = [Target("a", (0, 2), (3, 4))]
    recs[1].targets = []
    Xp = target_features(reps, _data("span_pair", recs), layers=[2])
    np.testing.assert_allclose(Xp[0, 0], np.r_[L2[off[0]:off[0] + 2].mean(0), L2[off[0] + 3]], rtol=1e-5, atol=1e-6)

    for r in recs:
        r.targets = [Target("a")]
    Xs = target_features(reps, _data("sentence", recs), layers=[2])
    np.testing.assert_allclose(Xs[0], np.asarray(reps.sentence(2)))

    recs[2].targets = [Target("a", (2, 5))]  # the text has 3 words
    with pytest.raises(DataFormatError, match="outside the sentence"):
        target_features(reps, _data("span", recs))
    with pytest.raises(ProbekitError, match="texts"):
        target_features(reps, _data("token", recs[:2]))


def test_bad_inputs(tiny, tmp_path):
    folder = tiny("bert")
    with pytest.raises(ConfigError, match=r"valid layers are 0\.\.2"):
        extract(folder, TEXTS, layers=[3], progress=False)
    with pytest.raises(ConfigError, match="pre-tokenized"):
        extract(folder, ["a plain string"], progress=False)
    with pytest.raises(ConfigError, match="word_pooling"):
        extract(folder, TEXTS, word_pooling="median", progress=False)
    # a folder with a config but no weights
    empty = tmp_path / "noweights"
    empty.mkdir()
    (empty / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ProbekitError, match="no weights"):
        extract(empty, TEXTS, progress=False)
    with pytest.raises(ProbekitError, match="neither a folder"):
        extract("no-such-org/no-such-model-xyz", TEXTS, progress=False)
    # tokenizer with more tokens than the model's embedding table
    big_tok = M.load_tokenizer(tiny("gpt2"))
    small = M.load_model(folder)
    if len(big_tok) > small.get_input_embeddings().num_embeddings:
        with pytest.raises(ProbekitError, match="do not match"):
            extract((small, big_tok), TEXTS, progress=False)
    else:  # pragma: no cover - tiny vocabularies are fixed, keep the test honest
        pytest.fail("test setup: expected the byte-level vocabulary to be larger")


def test_empty_and_zero_subword_inputs(tiny):
    folder = tiny("bert")
    texts = [[], ["", "\u200b"], ["ok", "\u200b", "fine"], []]
    reps = extract(folder, texts, layers=[2], sentence_pooling="mean", store_dtype="float32",
                   cache=False, progress=False)
    assert reps.n_texts == 4 and reps.n_words == 5
    assert reps.stats["empty_texts"] == 2
    assert reps.stats["zero_subword_words"] == 3
    assert reps.stats["untokenizable_texts"] == 1  # ["", "\u200b"]: words, but no token at all
    idx = reps.index
    assert idx.loc[idx.n_subwords == 0, ["text", "word"]].values.tolist() == [[1, 0], [1, 1], [2, 1]]
    L = np.asarray(reps.layer(2))
    assert not L[idx.n_subwords == 0].any()  # documented: zeros
    ref = reference(folder, [["ok", "\u200b", "fine"]])[0][2]
    np.testing.assert_allclose(L[reps.rows(2)], ref, atol=1e-5)  # neighbours not shifted
    assert not np.asarray(reps.sentence(2))[[0, 1, 3]].any()


def test_manifest_records_inputs(tiny):
    reps = extract(tiny("llama"), TEXTS, layers=[1], progress=False)
    manifest = json.loads((reps.path / "manifest.json").read_text())
    assert manifest["summary"]["layers"] == [1]
    assert manifest["summary"]["n_words"] == sum(map(len, TEXTS))
    assert set(manifest["files"]) >= {"layer_01.npy", "index.csv", "text_offsets.npy"}
    assert manifest["inputs"]["model"]["weights"][0]["size"] > 0


def test_in_memory_model_is_left_as_it_was(tiny):
    folder = tiny("bert")
    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    model.train()
    reps = extract((model, tok), TEXTS, dtype="bf16", layers=[1], cache=False, progress=False)
    assert next(model.parameters()).dtype == torch.float32 and model.training
    assert reps.layer(1).shape == (sum(map(len, TEXTS)), 32)


def test_empty_corpus(tiny):
    reps = extract(tiny("bert"), [], layers=[1], sentence_pooling="mean", cache=False, progress=False)
    assert reps.n_texts == 0 and reps.layer(1).shape == (0, 32) and len(reps.index) == 0


def test_model_id_from_local_hub_cache(tiny, tmp_path, monkeypatch):
    """A Hub id already in the local Hugging Face cache resolves offline (nothing downloaded)."""
    from huggingface_hub import constants

    commit = "0" * 40
    repo = tmp_path / "hub" / "models--probekit--tiny-bert"
    shutil.copytree(tiny("bert"), repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    by_id = extract("probekit/tiny-bert", TEXTS, layers=[1], cache=False, progress=False)
    by_path = extract(tiny("bert"), TEXTS, layers=[1], cache=False, progress=False)
    np.testing.assert_array_equal(by_id.layer(1), by_path.layer(1))


def test_batches_are_length_bucketed_within_the_budget(tiny, monkeypatch):
    """Every batch stays within the token budget and pads no text by more than PAD_TOLERANCE of
    its width, and the words come out the same as with one batch per text."""
    from probekit.extract import engine

    rng = np.random.default_rng(0)
    texts = [["w"] * int(n) for n in rng.integers(1, 40, 60)]
    shapes = []
    forward = engine._Run._forward

    def spy(self, input_ids, mask):
        shapes.append((input_ids.shape[1], mask.sum(1).numpy()))
        return forward(self, input_ids, mask)

    monkeypatch.setattr(engine._Run, "_forward", spy)
    reps = extract(tiny("bert"), texts, cache=False, progress=False, store_dtype="float32",
                   max_tokens_per_batch=256)
    assert sum(len(real) for _, real in shapes) == len(texts)
    for width, real in shapes:
        assert width * len(real) <= 256 or len(real) == 1
        assert (width - real <= engine.PAD_TOLERANCE * width).all()
    one_by_one = extract(tiny("bert"), texts, cache=False, progress=False, store_dtype="float32",
                         max_tokens_per_batch=1)
    for layer in reps.layers:
        np.testing.assert_allclose(reps.layer(layer), one_by_one.layer(layer), atol=1e-5)
