"""Nothing accepted and ignored: every [extract] and [scoring] key of a suite reaches the stage it
configures, or a bad value is refused with the suite line ([transfer]: tests/test_suite_transfer.py)."""

from __future__ import annotations

import numpy as np
import pytest

import probekit.extract
from probekit.errors import ConfigError
from probekit.extract.tiny import save_tiny
from probekit.suite import load_suite, plan_units, run_suite

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUITE = """name = "keys"
[data.synthetic]
train_sentences = 60
eval_sentences = 40
[[models]]
id = "tiny"
path = "{model}"
[[tasks]]
name = "{task}"
control = {control}
[probes]
linear = {{ max_epochs = 4 }}
[scoring]
bootstrap = 200
{scoring}
[extract]
{extract}
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny("bert", tmp_path_factory.mktemp("keys") / "model")


def _suite(tmp_path, model, *, task="pos", control="false", scoring="cka = false", extract="", name="s.toml"):
    path = tmp_path / name
    path.write_text(SUITE.format(model=model, task=task, control=control, scoring=scoring, extract=extract))
    return path


def test_extract_keys_reach_extraction(tmp_path, model, monkeypatch):
    calls = []
    real = probekit.extract.extract

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(probekit.extract, "extract", spy)
    path = _suite(tmp_path, model, task="tense", scoring="cka = true",
                  extract='dtype = "bf16"\nstore_dtype = "float32"\nmax_tokens_per_batch = 256\n'
                          'sentence_pooling = "first"\nword_pooling = "max"')
    run_suite(load_suite(path), tmp_path / "out", progress=False)
    assert len(calls) >= 3  # train, eval, and the layer-similarity unit
    for kwargs in calls:
        assert kwargs["dtype"] == "bf16" and kwargs["store_dtype"] == "float32"
        assert kwargs["max_tokens_per_batch"] == 256 and kwargs["sentence_pooling"] == "first"
        assert kwargs["word_pooling"] == "max"


def test_extract_defaults_keep_word_mean_for_sentences(tmp_path, model):
    suite = load_suite(_suite(tmp_path, model))
    from probekit.suite import extract_options

    assert extract_options(suite) == {"word_pooling": "mean", "sentence_pooling": None, "dtype": "float32",
                                      "store_dtype": "float16", "max_tokens_per_batch": None}


def test_batch_budget_is_not_part_of_the_unit_key(tmp_path, model):
    a = plan_units(load_suite(_suite(tmp_path, model)), tmp_path)
    b = plan_units(load_suite(_suite(tmp_path, model, extract="max_tokens_per_batch = 128")), tmp_path)
    c = plan_units(load_suite(_suite(tmp_path, model, extract='store_dtype = "float32"')), tmp_path)
    assert a[0].key == b[0].key != c[0].key


def test_confidence_sets_the_interval_level(tmp_path, model):
    def widths(level):
        path = _suite(tmp_path, model, scoring=f"cka = false\nconfidence = {level}", name=f"c{level}.toml")
        scores = run_suite(load_suite(path), tmp_path / f"out{level}", progress=False)
        acc = scores[(scores.metric == "accuracy") & (scores.probe == "linear")].sort_values("layer")
        return (acc.ci_high - acc.ci_low).to_numpy(), acc.value.to_numpy()

    narrow, v1 = widths(0.5)
    wide, v2 = widths(0.99)
    np.testing.assert_allclose(v1, v2)  # same probes, same scores
    assert (narrow < wide).all()


def test_mdl_writes_codelength_rows(tmp_path, model):
    path = _suite(tmp_path, model, control="true", scoring="cka = false\nmdl = true")
    scores = run_suite(load_suite(path), tmp_path / "out", progress=False)
    mdl = scores[scores.metric.str.startswith("mdl_")]
    assert set(mdl.metric) == {"mdl_codelength", "mdl_compression"}
    for control in (False, True):
        rows = mdl[(mdl.control.astype(bool) == control) & (mdl.metric == "mdl_compression")]
        assert sorted(rows.layer.astype(int)) == [0, 1, 2] and (rows.value > 0).all()
    assert set(mdl.split) == {"train"}
    # The real task compresses better than its control task on the best layer (a known answer of
    # Voita & Titov: control labels are per-word random).
    comp = mdl[mdl.metric == "mdl_compression"].groupby("control")["value"].max()
    assert comp[False] > comp[True]


@pytest.mark.parametrize("section, line, message", [
    ("extract", 'dtype = "float64"', r"dtype = 'float64' is not one of"),
    ("extract", 'sentence_pooling = "maen"', r"did you mean 'mean'"),
    ("extract", 'max_tokens_per_batch = "lots"', r"max_tokens_per_batch = 'lots'; use 'auto'"),
    ("scoring", "confidence = 1.5", r"confidence = 1.5; use a level between 0 and 1"),
    ("scoring", 'mdl = "yes"', r"mdl = 'yes'; use true or false"),
])
def test_bad_values_name_the_line(tmp_path, model, section, line, message):
    path = _suite(tmp_path, model, **{section: line} if section == "extract" else {"scoring": line})
    number = path.read_text().splitlines().index(line) + 1
    with pytest.raises(ConfigError, match=rf"s.toml:{number}: \[{section}.*{message}"):
        load_suite(path)


def test_model_probes_key_runs_only_the_named_probes(tmp_path, model):
    text = _suite(tmp_path, model).read_text().replace('path = "', 'probes = ["linear"]\npath = "', 1)
    text = text.replace("[probes]\n", "[probes]\nmlp = { max_epochs = 2, hidden_layer_sizes = [8] }\n")
    path = tmp_path / "p.toml"
    path.write_text(text)
    scores = run_suite(load_suite(path), tmp_path / "out", progress=False)
    assert set(scores.loc[scores.metric == "accuracy", "probe"]) == {"linear", "mix_cumulative"}
    keyed = plan_units(load_suite(path), tmp_path / "out")[0].key
    path.write_text(text.replace('probes = ["linear"]', 'probes = "all"'))
    assert plan_units(load_suite(path), tmp_path / "out")[0].key != keyed  # the probe subset is in the key
    path.write_text(text.replace('probes = ["linear"]', 'probes = ["lineer"]'))
    with pytest.raises(ConfigError, match=r"p.toml:7: \[models\[0\].probes\]: probes = \['lineer'\]; use \"all\" "
                                          r"or a list of the suite's \[probes\] \(mlp, linear\)"):
        load_suite(path)


def test_selection_models_key_names_suite_models(tmp_path, model):
    text = _suite(tmp_path, model).read_text().replace("[data.synthetic]\n", "[data.synthetic]\ntest_sentences = 20\n")
    path = tmp_path / "sel.toml"
    path.write_text(text + '[selection]\ntasks = ["pos"]\nmodels = ["tiny"]\n')
    assert load_suite(path).config["selection"]["models"] == ["tiny"]
    path.write_text(text + '[selection]\ntasks = ["pos"]\nmodels = ["tinny"]\n')
    with pytest.raises(ConfigError, match=r"\[selection.models\]: models = \['tinny'\]; use \"all\" or a list of the "
                                          r"suite's model ids \(tiny\)"):
        load_suite(path)
