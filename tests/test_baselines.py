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


STUDY_HEAD = """name = "baseline-study"
[data.synthetic]
train_sentences = 50
eval_sentences = 25
[[models]]
id = "tiny"
path = "tiny"
[[tasks]]
name = "pos"
control = true
[probes]
linear = { max_epochs = 3 }
[scoring]
bootstrap = 20
[baselines]
random_weights = true
random_seed = 3
"""


@pytest.fixture()
def study(tiny_chain) -> str:
    """The tiny model with its random-weights baseline, and the tiny chain with an intermediate
    checkpoint of its pre-training probed."""
    general = "train = { steps = 4, batch_size = 8 }\n"
    assert general in tiny_chain
    return STUDY_HEAD + tiny_chain.replace(general, "train = { steps = 4, batch_size = 8, save_at = [2] }\n"
                                           "probe_intermediate = true\n", 1)


@pytest.mark.slow
def test_suite_baselines_intermediate_checkpoints_and_their_report(tmp_path, tiny, study):
    import shutil

    import pandas as pd

    from probekit.cli import main
    from probekit.suite import load_suite

    shutil.copytree(tiny, tmp_path / "tiny")
    (tmp_path / "s.toml").write_text(study)
    models = {m["id"]: m for m in load_suite(tmp_path / "s.toml").config["models"]}
    assert list(models) == ["tiny", "chain-general@2", "chain-general", "chain-ft", "tiny:random", "chain:random"]
    assert models["tiny:random"]["path"].endswith("tiny:random@3")
    assert models["chain-general@2"]["checkpoint"] == "general@2"
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out), "--quiet"]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert {"tiny", "tiny:random", "chain", "chain:random"} <= set(scores["model"])
    chain = scores[scores["model"] == "chain"]
    assert list(dict.fromkeys(chain["checkpoint"])) == ["general@2", "general", "ft"]
    compared = chain[chain["probe"] == "cka_checkpoints"].groupby("checkpoint")["metric"].unique()
    assert sorted(compared["ft"]) == ["cka_vs:general", "cka_vs:general@2"]
    assert list(compared["general"]) == ["cka_vs:general@2"]
    md = (out / "report.md").read_text()
    baselines = md.split("## Scores beside their baselines", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in baselines.splitlines() if line.startswith("| pos | linear | tiny |"))
    random_best = scores[(scores["model"] == "tiny:random") & (scores["metric"] == "accuracy")
                         & (scores["control"].astype(str) == "False") & (scores["probe"] == "linear")]["value"].max()
    assert f"{random_best:.3f} (L" in row  # the random-weights model's best score, beside the model's
    assert "the random-weights model by" in md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "## Score per layer, with baselines" in md
    assert "## Representation change between checkpoints (linear CKA)" in md
    assert "## What each transfer step changed, per layer" in md


@pytest.mark.parametrize("edit, message", [
    ("random_weights = true", "random_weights = 'yes'; use true (every model), false, or a list of model ids"),
    ("random_seed = 3", "unknown key 'random_sed'; did you mean 'random_seed'?"),
    ("probe_intermediate = true", "saves no intermediate checkpoint"),
])
def test_bad_baseline_and_intermediate_keys_are_refused(tmp_path, edit, message, study):
    from probekit.suite import load_suite

    replacement = {"random_weights = true": 'random_weights = "yes"', "random_seed = 3": "random_sed = 3",
                   "probe_intermediate = true": "probe_intermediate = true\n"}[edit]
    text = study.replace(edit, replacement)
    if edit == "probe_intermediate = true":
        text = text.replace(", save_at = [2]", "")
    (tmp_path / "s.toml").write_text(text)
    with pytest.raises(ConfigError, match="s.toml:[0-9]+: ") as err:
        load_suite(tmp_path / "s.toml")
    assert message in str(err.value)


def test_random_weights_for_named_models_only_probed_like_their_source(tmp_path, study):
    from probekit.suite import load_suite

    text = study.replace("random_weights = true", 'random_weights = ["chain"]').replace(
        'out = "runs"', 'out = "runs"\nprobes = ["linear"]')
    (tmp_path / "s.toml").write_text(text)
    models = {m["id"]: m for m in load_suite(tmp_path / "s.toml").config["models"]}
    assert [m for m in models if m.endswith(":random")] == ["chain:random"]
    assert models["chain:random"]["probes"] == models["chain-ft"]["probes"] == ["linear"]
    assert models["tiny"]["probes"] == "all"
    (tmp_path / "s.toml").write_text(text.replace('["chain"]', '["chian"]'))
    with pytest.raises(ConfigError, match=r"'chian' is not a model of this suite; valid: tiny, chain"):
        load_suite(tmp_path / "s.toml")


def test_stage_layers_override_the_size():
    # transfer-study.toml's 4-layer "mini": explicit layers/hidden/heads win over the size's
    from probekit.transfer.pretrain import ModelConfig

    config = ModelConfig.from_size("mini", layers=4, heads=2)
    assert (config.layers, config.hidden, config.heads) == (4, 128, 2)
