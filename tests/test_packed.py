"""oneDNN-packed linear layers in the extraction engine (probekit.extract.packed)."""

import numpy as np
import pytest
import torch

from probekit.extract import extract
from probekit.extract.packed import PackedLinear, packed_linears
from probekit.extract.tiny import FAMILY_TOKENIZER, tiny_model, tiny_tokenizer

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def tiny(family):
    tok = tiny_tokenizer(FAMILY_TOKENIZER[family])
    return tiny_model(family, len(tok)), tok


def test_packed_linear_equals_linear_on_3d_input():
    gen = torch.Generator().manual_seed(1)
    w, b, x = torch.randn(48, 32, generator=gen), torch.randn(48, generator=gen), torch.randn(3, 7, 32, generator=gen)
    got = PackedLinear(w, b, rows=21)(x)
    assert got.shape == (3, 7, 48)
    torch.testing.assert_close(got, torch.nn.functional.linear(x, w, b), rtol=1e-5, atol=1e-5)
    no_bias = PackedLinear(w, None, rows=21)(x)
    torch.testing.assert_close(no_bias, x @ w.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_every_linear_is_swapped_for_the_block_and_put_back(arch):
    model, tok = tiny(arch)
    model.eval()
    before = {name: type(m) for name, m in model.named_modules()}
    ids = torch.tensor(tok(["a b c d e", "b c"], padding=True)["input_ids"])
    with torch.inference_mode():
        want = model(input_ids=ids, output_hidden_states=True).hidden_states
        with packed_linears(model, rows=16) as n:
            # gpt2's linear layers are transformers' Conv1D (weight stored transposed)
            assert n == sum(1 for t in before.values() if t.__name__ in ("Linear", "Conv1D"))
            assert n > 0
            assert not any(type(m).__name__ in ("Linear", "Conv1D") for m in model.modules())
            got = model(input_ids=ids, output_hidden_states=True).hidden_states
    assert {name: type(m) for name, m in model.named_modules()} == before
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_nothing_is_swapped_off_cpu_float_or_without_the_ops(monkeypatch):
    model, _ = tiny("bert")
    with packed_linears(model.half(), rows=8) as n:
        assert n == 0
    model.float()
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    with packed_linears(model, rows=8) as n:
        assert n == 0
    assert any(type(m) is torch.nn.Linear for m in model.modules())


def test_extraction_with_packing_matches_the_unpacked_engine(tmp_path, monkeypatch):
    from contextlib import nullcontext

    from probekit.extract import engine

    model, tok = tiny("bert")
    monkeypatch.setattr(engine, "unpadded_encoder", lambda model, rows: None)  # BERT's own fast path
    texts = [["the", "cat", "sat"], ["a", "dog", "ran", "off", "home"], ["hi"]]
    packed = extract((model, tok), texts, layers="all", store_dtype="float32", cache_dir=tmp_path / "a",
                     progress=False)
    assert packed.manifest["stats"]["packed_linears"] > 0
    assert packed.manifest["stats"]["forward"] == "packed"
    monkeypatch.setattr(engine, "packed_linears", lambda model, rows: nullcontext(0))
    plain = extract((model, tok), texts, layers="all", store_dtype="float32", cache_dir=tmp_path / "b",
                    progress=False)
    assert plain.manifest["stats"]["packed_linears"] == 0
    assert plain.manifest["stats"]["forward"] == "transformers"
    for layer in packed.layers:
        np.testing.assert_allclose(np.asarray(packed.layer(layer)), np.asarray(plain.layer(layer)),
                                   rtol=1e-4, atol=1e-5)
    # the caller's model is left with its own layers
    assert any(type(m) is torch.nn.Linear for m in model.modules())
