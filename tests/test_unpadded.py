"""The unpadded BERT-layout forward (probekit.extract.unpadded) against transformers' own."""

import numpy as np
import pytest
import torch

from probekit.extract import engine, extract
from probekit.extract import unpadded as U
from probekit.extract.tiny import FAMILY_TOKENIZER, tiny_model, tiny_tokenizer

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def tiny(family, dtype=torch.float32):
    tok = tiny_tokenizer(FAMILY_TOKENIZER[family])
    return tiny_model(family, len(tok)).eval().to(dtype), tok


def batch(tok, padded=True):
    texts = ["the cat sat on the mat today", "a dog", "b c d"] if padded else ["a dog", "a cat"]
    enc = tok(texts, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


@pytest.mark.parametrize("family,padded", [("bert", True), ("roberta", True), ("electra", True),
                                           ("bert", False)])
def test_hidden_states_equal_transformers_at_every_real_token(family, padded):
    model, tok = tiny(family)
    ids, mask = batch(tok, padded)
    assert bool((mask == 0).any()) == padded  # unsorted lengths (three runs) and one run of equal lengths
    encoder = U.unpadded_encoder(model, rows=64)
    assert encoder is not None
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        got = encoder(ids, mask)
    real = mask.flatten().bool()
    assert len(got) == len(want) == model.config.num_hidden_layers + 1
    for w, g in zip(want, got):
        assert g.shape == (int(real.sum()), model.config.hidden_size)
        torch.testing.assert_close(g, w.reshape(-1, w.shape[-1])[real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", ["gelu_new", "gelu_pytorch_tanh"])
def test_tanh_gelu_blocks_fuse_the_tanh_approximation(act):
    from transformers.activations import ACT2FN

    model, tok = tiny("bert")
    for layer in model.encoder.layer:
        layer.intermediate.intermediate_act_fn = ACT2FN[act]
    ids, mask = batch(tok)
    encoder = U.unpadded_encoder(model, rows=64)
    assert encoder is not None and encoder.blocks[0].gelu == "tanh"
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        got = encoder(ids, mask)[-1]
    torch.testing.assert_close(got, want.reshape(-1, want.shape[-1])[mask.flatten().bool()],
                               rtol=1e-5, atol=1e-5)


def test_bfloat16_stays_within_bfloat16_rounding_of_transformers():
    model, tok = tiny("bert", torch.bfloat16)
    ids, mask = batch(tok)
    encoder = U.unpadded_encoder(model, rows=64)
    assert encoder is not None
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        got = encoder(ids, mask)[-1]
    want = want.reshape(-1, want.shape[-1])[mask.flatten().bool()].float()
    assert float((got.float() - want).norm() / want.norm()) < 2e-2


@pytest.mark.parametrize("family", ["gpt2", "distilbert", "t5"])
def test_other_layouts_keep_the_transformers_forward(family):
    model, _ = tiny(family)
    assert U.unpadded_encoder(model, rows=64) is None


def test_half_precision_a_python_gelu_or_a_disagreeing_trial_keep_the_transformers_forward(monkeypatch):
    model, _ = tiny("bert")
    assert U.unpadded_encoder(model.half(), rows=64) is None
    model.float()
    act = model.encoder.layer[0].intermediate.intermediate_act_fn
    act.act = act._gelu_python
    assert U.unpadded_encoder(model, rows=64) is None
    act.act = torch.nn.functional.gelu
    assert U.unpadded_encoder(model, rows=64) is not None
    call = U._Block.__call__
    monkeypatch.setattr(U._Block, "__call__", lambda self, *a: call(self, *a) * 1.01)
    assert U.unpadded_encoder(model, rows=64) is None


@pytest.mark.parametrize("word,sentence", [("mean", "mean"), ("first", "first"), ("last", "last"),
                                           ("max", "cls")])
def test_extraction_equals_the_padded_engine_with_windows_and_every_pooling(tmp_path, monkeypatch, word, sentence):
    model, tok = tiny("bert")
    texts = [["the", "cat", "sat", "on", "the", "mat", "and", "the", "dog", "ran", "off", "home", "fast"],
             ["a", "dog", "ran"], ["hi"], [], ["b", "c", "d", "e"]]
    kw = dict(layers="all", word_pooling=word, sentence_pooling=sentence, store_dtype="float32",
              max_length=8, progress=False)  # the long text runs in several windows
    fast = extract((model, tok), texts, cache_dir=tmp_path / "a", **kw)
    assert fast.manifest["stats"]["forward"] == "unpadded"
    assert fast.manifest["stats"]["windowed_texts"] == 1
    monkeypatch.setattr(engine, "unpadded_encoder", lambda model, rows: None)
    padded = extract((model, tok), texts, cache_dir=tmp_path / "b", **kw)
    assert padded.manifest["stats"]["forward"] == "packed"
    for layer in fast.layers:
        np.testing.assert_allclose(np.asarray(fast.layer(layer)), np.asarray(padded.layer(layer)),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(fast.sentence(layer)), np.asarray(padded.sentence(layer)),
                                   rtol=1e-5, atol=1e-5)


def test_extraction_is_bit_reproducible_and_a_text_alone_equals_it_in_a_batch(tmp_path):
    model, tok = tiny("bert")
    texts = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran"], ["b", "c", "d", "e", "f"]] * 4
    kw = dict(layers="all", store_dtype="float32", cache=False, progress=False)
    first, second = extract((model, tok), texts, **kw), extract((model, tok), texts, **kw)
    alone = extract((model, tok), texts[1:2], **kw)
    assert first.stats["forward"] == "unpadded"
    for layer in first.layers:
        np.testing.assert_array_equal(np.asarray(first.layer(layer)), np.asarray(second.layer(layer)))
        np.testing.assert_allclose(np.asarray(alone.layer(layer)), np.asarray(first.layer(layer))[first.rows(1)],
                                   rtol=1e-5, atol=1e-6)
