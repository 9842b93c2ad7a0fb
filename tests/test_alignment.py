"""Subword -> word alignment with three tokenizer styles, and long-text windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probekit.errors import ProbekitError
from probekit.extract import extract
from probekit.extract import models as M
from probekit.extract.align import plan_windows, tokenize, word_token_ranges
from probekit.extract.tiny import save_tiny, tiny_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRICKY = ["Zürich", "naïve", "résumé", "déjà", "😀", "🚀", "1,234.56", "2024-03-01", "$", "%", "!",
          "didn't", "antidisestablishmentarianism", "Internationalization", "(", "...", "x", "A"]


def _words_tokens(tok, words):
    enc = tok([words], is_split_into_words=True).encodings[0]
    return [[t for t, w in zip(enc.tokens, enc.word_ids) if w == i] for i in range(len(words))], enc


@pytest.mark.parametrize("kind", ["wordpiece", "bytelevel", "sentencepiece", "minilm"])
def test_alignment_round_trip(kind, request):
    if kind == "minilm":
        tok = M.load_tokenizer(request.getfixturevalue("minilm"))
    else:
        tok = M.prepare_tokenizer(tiny_tokenizer(kind), kind)
    per_word, enc = _words_tokens(tok, TRICKY)
    # word ids are contiguous, increasing, and special tokens carry none
    ids = [w for w in enc.word_ids if w is not None]
    assert ids == sorted(ids)
    specials = [t for t, w in zip(enc.tokens, enc.word_ids) if w is None]
    assert specials and set(specials) <= set(tok.all_special_tokens) - {tok.unk_token}
    many = 0
    for word, pieces in zip(TRICKY, per_word):
        assert pieces, f"{word!r} got no subwords"
        alone, _ = _words_tokens(tok, [word])
        assert pieces == alone[0], f"{word!r} tokenized differently in context"  # no shifting
        many += len(pieces) > 2
        text = tok.convert_tokens_to_string(pieces).replace(" ", "")
        if kind in ("wordpiece", "minilm"):  # lower-cased, accents stripped, unknowns -> [UNK]
            norm = tok.backend_tokenizer.normalizer.normalize_str(word)
            assert text == norm or tok.unk_token in pieces
        elif kind == "bytelevel":
            assert text == word  # lossless
            assert pieces[0].startswith("Ġ"), "pre-tokenized words need add_prefix_space=True"
        else:
            assert text.replace("▁", "") == word or tok.unk_token in pieces
    assert many >= 2  # some words really split into many pieces


def test_prefix_space_set_for_byte_level():
    tok = tiny_tokenizer("bytelevel")
    before, _ = _words_tokens(tok, ["the", "dog"])
    after, _ = _words_tokens(M.prepare_tokenizer(tok, "t"), ["the", "dog"])
    assert not before[0][0].startswith("Ġ") and after[0][0].startswith("Ġ")


def _check_plan(word_lengths, capacity, stride):
    word_of_tok = np.repeat(np.arange(len(word_lengths)), word_lengths).astype(np.int32)
    windows = plan_windows(0, word_of_tok, len(word_lengths), capacity, stride)
    n_tok = len(word_of_tok)
    ranges = word_token_ranges(word_of_tok, len(word_lengths))
    owners = np.concatenate([w.words for w in windows])
    assert sorted(owners.tolist()) == list(range(len(word_lengths)))  # each word exactly once
    for w in windows:
        assert 0 <= w.start < w.end <= n_tok and w.length <= capacity
        for word in w.words:
            if ranges[word, 1] > ranges[word, 0]:
                assert w.start <= ranges[word, 0] and ranges[word, 1] <= w.end
    assert windows[0].start == 0 and windows[-1].end == n_tok
    return windows


def test_plan_windows_known_answer():
    # 10 one-token words, windows of 4 starting 2 apart; the last one is aligned to the end
    windows = _check_plan([1] * 10, 4, 2)
    assert [(w.start, w.end) for w in windows] == [(0, 4), (2, 6), (4, 8), (6, 10)]
    # each word from the window where it is farthest from an inner edge
    assert [w.words.tolist() for w in windows] == [[0, 1, 2], [3, 4], [5, 6], [7, 8, 9]]
    assert len(_check_plan([1] * 4, 4, 2)) == 1  # fits: one window
    _check_plan([2, 3, 1, 1, 4, 2, 0, 1, 3, 2, 2], 6, 3)  # multi-token and zero-subword words
    with pytest.raises(ProbekitError, match="more than fit in one window"):
        _check_plan([1, 7, 1], 4, 2)


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    return save_tiny("bert", tmp_path_factory.mktemp("bert") / "model")


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_windows_match_manual_forward(family, tmp_path):
    folder = save_tiny(family, tmp_path / family)
    tok, model = M.load_tokenizer(folder), M.load_model(folder)
    long = (["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "."] * 4)[:37]
    texts = [long, ["short", "text"]]
    reps = extract(folder, texts, max_length=12, window_stride=4, layers=[1, 2],
                   sentence_pooling="mean", store_dtype="float32", cache=False, progress=False)
    assert reps.stats["windowed_texts"] == 1 and reps.n_words == 39  # nothing truncated
    tk = tokenize(tok, texts)
    prefix, suffix = tk.prefix, tk.suffix
    ids, wot = tk.tokens_of(0)
    windows = plan_windows(0, wot, len(long), 12 - len(prefix) - len(suffix), 4)
    assert len(windows) > 2
    ranges = word_token_ranges(wot, len(long))
    sent_sum = 0
    for w in windows:
        seq = torch.tensor([prefix + ids[w.start:w.end].tolist() + suffix])
        with torch.no_grad():
            hs = model(input_ids=seq, output_hidden_states=True).hidden_states
        for layer in (1, 2):
            for word in w.words:
                a, b = ranges[word] - w.start + len(prefix)
                np.testing.assert_allclose(reps.layer(layer)[word], hs[layer][0, a:b].mean(0).numpy(),
                                           atol=1e-5)
        owned = np.concatenate([np.arange(*ranges[word]) for word in w.words]) - w.start + len(prefix)
        sent_sum = sent_sum + hs[2][0, owned].sum(0).numpy()
    np.testing.assert_allclose(reps.sentence(2)[0], sent_sum / len(ids), atol=1e-5)


def test_windowed_equals_unwindowed_where_it_fits(bert_folder):
    texts = [["a", "b", "c"], ["the", "lazy", "dog", "sleeps", "."]]
    n_tok = int(np.diff(tokenize(M.load_tokenizer(bert_folder), texts).tok_offsets).max())
    small = extract(bert_folder, texts, max_length=n_tok + 2, window_stride=2, store_dtype="float32",
                    cache=False, progress=False)  # exactly fits: [CLS] + tokens + [SEP]
    default = extract(bert_folder, texts, store_dtype="float32", cache=False, progress=False)
    assert small.stats["windowed_texts"] == 0
    for layer in default.layers:
        np.testing.assert_allclose(small.layer(layer), default.layer(layer), atol=1e-6)


def test_windowed_close_to_unwindowed_with_big_overlap(bert_folder):
    """Where the long text also fits in the model, words deep inside their window get nearly
    the same vector as with full context at layer 0 (embeddings differ only in position)."""
    text = (["one", "two", "three", "four", "five", "six", "seven", "eight"] * 3)
    full = extract(bert_folder, [text], layers=[0], store_dtype="float32", cache=False, progress=False)
    windowed = extract(bert_folder, [text], layers=[0], max_length=14, window_stride=3,
                       store_dtype="float32", cache=False, progress=False)
    # position embeddings are absolute: only the first window's words are identical at layer 0
    n_first = 12 - 0  # capacity = 14 - [CLS] - [SEP]
    tk = tokenize(M.load_tokenizer(bert_folder), [text])
    first_window_words = int(tk.word_of_tok[: n_first // 2].max())
    np.testing.assert_allclose(windowed.layer(0)[:first_window_words], full.layer(0)[:first_window_words],
                               atol=1e-6)
