"""Baselines: the random-weights variant of a model (``SPEC:random[@SEED]``, a suite's
``[baselines] random_weights``) and how the report reads baselines from the scores table."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import load_file

from probekit.data.synthetic import generate
from probekit.errors import ConfigError
from probekit.extract.models import folder_identity, resolve_model
from probekit.extract.tiny import save_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    # seed 7: a tiny model is itself initialised from its config, as random@7 would be
    return save_tiny("bert", tmp_path_factory.mktemp("baselines") / "tiny", seed=7)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_random_weights_differ_from_the_model_and_are_deterministic_per_seed(tiny):
    trained = _weights(tiny)
    first = resolve_model(f"{tiny}:random")
    assert resolve_model(f"{tiny}:random@0") == first  # seed 0 is the default; the cache entry is reused
    again = _weights(first)
    other = _weights(resolve_model(f"{tiny}:random@1"))
    name = next(k for k in trained if k.endswith("attention.self.query.weight"))
    assert again[name].shape == trained[name].shape
    assert not np.allclose(again[name].numpy(), trained[name].numpy())
    assert not np.allclose(again[name].numpy(), other[name].numpy())
    # Deterministic: rebuilt from scratch in another cache, the same seed gives the same weights.
    from probekit.extract.models import TOKENIZER_FILES
    from probekit.extract.random_weights import random_weights_folder

    rebuilt = _weights(random_weights_folder(tiny, 0, tokenizer_files=TOKENIZER_FILES,
                                             cache_dir=first.parent.parent.parent / "other-cache"))
    assert all(np.array_equal(rebuilt[k].numpy(), again[k].numpy()) for k in again)
    # Same tokenizer and architecture, another identity (so extraction caches never mix them up).
    assert folder_identity(first)["tokenizer"] == folder_identity(tiny)["tokenizer"]
    assert folder_identity(first)["weights"] != folder_identity(tiny)["weights"]


def test_random_weights_change_the_representations(tiny):
    from probekit.extract import extract

    sentences = generate(5, seed=1)
    real = extract(tiny, sentences, layers=[2], progress=False)
    rand = extract(f"{tiny}:random", sentences, layers=[2], progress=False)
    assert real.n_words == rand.n_words
    assert not np.allclose(np.asarray(real.layer(2)), np.asarray(rand.layer(2)))


def test_bad_random_seed_is_refused(tiny):
    with pytest.raises(ConfigError, match="seed after '@'"):
        resolve_model(f"{tiny}:random@x")
