"""Layer selection (strategies, LayerSelection), feature heads and the truncated extractor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from probekit.errors import ConfigError, ProbekitError
from probekit.probes.heads import FeatureHead, TargetInputs, combine_layers
from probekit.selection import (DATA_DRIVEN, LayerSelection, choose_from_curve, load_selection, select,
                                select_all, strategy_names)


def _table(values, *, split="dev", ci=0.01, task="pos", model="m", mix=None):
    rows = [dict(model=model, checkpoint="", task=task, control=False, probe="linear", layer=i, seed=0,
                 split=split, metric="accuracy", value=v, ci_low=v - ci, ci_high=v + ci) for i, v in enumerate(values)]
    for i, w in enumerate(mix or []):
        rows.append(dict(model=model, checkpoint="", task=task, control=False, probe="mix", layer=i, seed=0,
                         split=split, metric="mix_weight", value=w))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ strategies
def test_every_strategy_on_a_known_curve():
    table = _table([0.50, 0.80, 0.90, 0.895, 0.90, 0.70, 0.60], ci=0.01, mix=[0, .1, .3, .2, .3, .1, 0])
    chosen = {s: select(table, "pos", s) for s in strategy_names()}
    assert chosen["best"].layers == [2]  # tie between layers 2 and 4 goes to the shallower
    assert chosen["cost_aware"].layers == [2]  # layer 1's CI (0.79-0.81) does not reach 0.90
    assert chosen["top3"].layers == [2, 3, 4] and chosen["top3"].combine == "concat"
    assert chosen["window3"].layers == [2, 3, 4]
    assert chosen["mix"].combine == "mix" and chosen["mix"].weights[2] == 0.3 and chosen["mix"].layers == list(range(7))
    assert chosen["last"].layers == [6] and chosen["second_last"].layers == [5]
    assert chosen["last4_concat"].layers == [3, 4, 5, 6] and chosen["last4_concat"].combine == "concat"
    assert chosen["last4_sum"].combine == "sum" and chosen["mean_all"].combine == "mean"
    assert chosen["embeddings"].layers == [0]


def test_cost_aware_takes_the_shallowest_layer_within_the_ci():
    table = _table([0.5, 0.86, 0.88, 0.9], ci=0.03)
    assert select(table, "pos", "cost_aware").layers == [2]  # 0.88 + 0.03 reaches 0.90; 0.86 + 0.03 does not
    assert select(table, "pos", "earliest").strategy == "cost_aware"


def test_selection_records_what_it_read_and_round_trips(tmp_path):
    table = _table([0.5, 0.9, 0.8])
    sel = select(table, "pos", "best", model_fingerprint="abc", model_source="/models/m")
    assert [r["layer"] for r in sel.score_rows] == [0, 1, 2] and sel.split == "dev"
    assert len(sel.scores_fingerprint) == 24
    assert select(table.iloc[::-1], "pos", "best").scores_fingerprint == sel.scores_fingerprint
    assert select(_table([0.5, 0.9, 0.81]), "pos", "best").scores_fingerprint != sel.scores_fingerprint
    sel.save(tmp_path / "selection.json")
    back = load_selection(tmp_path / "selection.json", model_fingerprint="abc")
    assert back == sel
    with pytest.raises(ProbekitError, match="not the model given"):
        load_selection(tmp_path / "selection.json", model_fingerprint="other")


def test_the_choice_never_reads_test_or_another_split():
    dev = _table([0.5, 0.9, 0.8])
    test = _table([0.5, 0.6, 0.99], split="test")
    assert select(pd.concat([dev, test]), "pos", "best").layers == [1]
    with pytest.raises(ConfigError, match="never chosen on the test split"):
        select(test, "pos", "best", split="test")


@pytest.mark.parametrize("table, kwargs, message", [
    (_table([0.5, 0.9]), dict(task="deps"), "task 'deps' is not in the scores table; tasks present: pos"),
    (_table([0.5, 0.9], split="eval"), {}, "no 'dev' split .*splits present: eval"),
    (_table([0.5, 0.9, 0.8]).drop(index=1), {}, r"lack layer\(s\) \[1\]"),
    (_table([0.5, 0.9]), dict(n_layers=3), r"lack layer\(s\) \[2, 3\]"),
    (_table([0.5, 0.9]), dict(strategy="middle"), "unknown layer-selection strategy 'middle'; valid: best"),
    (_table([0.5, 0.9]), dict(strategy="mix"), "needs the scalar-mix probe's weights"),
])
def test_bad_tables_and_strategies_name_the_valid_choices(table, kwargs, message):
    kwargs = {"task": "pos", "strategy": "best", **kwargs}
    with pytest.raises(ConfigError, match=message):
        select(table, kwargs.pop("task"), kwargs.pop("strategy"), **kwargs)


def test_malformed_selection_file(tmp_path):
    (tmp_path / "s.json").write_text('{"layers": [1]}')
    with pytest.raises(ProbekitError, match="not a probekit selection file"):
        load_selection(tmp_path / "s.json")
    with pytest.raises(ProbekitError, match="not found"):
        load_selection(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="one weight per layer"):
        LayerSelection("mix", [0, 1], "mix", weights=[1.0])


# ------------------------------------------------------------------------------------ heads
def _sentences(n_texts, length, dim, rng):
    words = rng.normal(size=(n_texts * length, dim)).astype(np.float32)
    offsets = np.arange(0, n_texts * length + 1, length)
    spans = np.c_[np.arange(n_texts * length), np.arange(1, n_texts * length + 1)]
    return words, offsets, spans


def test_combine_layers():
    a, b = np.ones((3, 2), np.float32), 3 * np.ones((3, 2), np.float32)
    assert combine_layers([a, b], "concat").shape == (3, 4)
    assert combine_layers([a, b], "mean")[0, 0] == 2.0 and combine_layers([a, b], "sum")[0, 0] == 4.0
    assert combine_layers([a, b], "mix", [0.5, 0.5])[0, 0] == 2.0
    with pytest.raises(ConfigError):
        combine_layers([a, b], "single")


def test_linear_head_agrees_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    words, offsets, spans = _sentences(300, 8, 16, rng)
    w = rng.normal(size=(16, 4))
    y = np.argmax(words @ w + 0.5 * rng.normal(size=(len(words), 4)), axis=1)
    train, test = slice(0, 1600), slice(1600, 2400)
    inp = TargetInputs(words, offsets, spans)
    tr = TargetInputs(words[:1600], offsets[:201], spans[:1600])
    te = TargetInputs(words[1600:], offsets[200:] - 1600, spans[1600:] - 1600)
    head = FeatureHead("linear", dropout=0.0, patience=5, lr=1e-2, max_epochs=60).fit(tr, y[train], X_dev=te, y_dev=y[test])
    ours = np.mean(head.predict(te) == y[test])
    ref = LogisticRegression(max_iter=2000).fit(words[train], y[train]).score(words[test], y[test])
    assert abs(ours - ref) < 0.03, (ours, ref)
    assert len(inp) == 2400 and head.n_trainable_params_ == 16 * 4 + 4


def test_bilstm_head_uses_context_a_linear_head_cannot():
    # The label of a word is the sign of its *left neighbour's* first feature: invisible to a
    # head that sees the word alone, easy for a BiLSTM over the sentence.
    rng = np.random.default_rng(1)
    words, offsets, spans = _sentences(400, 6, 8, rng)
    prev = np.roll(words[:, 0], 1)
    prev[offsets[:-1]] = 1.0  # sentence-initial words: no left neighbour, label 1
    y = (prev > 0).astype(int)
    n = 300 * 6
    tr = TargetInputs(words[:n], offsets[:301], spans[:n])
    te = TargetInputs(words[n:], offsets[300:] - n, spans[n:] - n)
    lin = FeatureHead("linear", lr=1e-2, max_epochs=20).fit(tr, y[:n], X_dev=te, y_dev=y[n:])
    lstm = FeatureHead("bilstm", lstm_hidden=16, lr=1e-2, max_epochs=20).fit(tr, y[:n], X_dev=te, y_dev=y[n:])
    assert np.mean(lin.predict(te) == y[n:]) < 0.75
    assert np.mean(lstm.predict(te) == y[n:]) > 0.9


def test_span_pair_targets_pool_both_spans():
    rng = np.random.default_rng(2)
    words, offsets, _ = _sentences(200, 6, 4, rng)
    starts = offsets[:-1]
    span1, span2 = np.c_[starts, starts + 2], np.c_[starts + 3, starts + 6]
    # Label: is span2's mean first feature larger than span1's? Needs both spans.
    y = (words[:, 0].reshape(200, 6)[:, 3:].mean(1) > words[:, 0].reshape(200, 6)[:, :2].mean(1)).astype(int)
    inp = TargetInputs(words, offsets, span1, span2)
    head = FeatureHead("linear", lr=5e-2, max_epochs=60).fit(inp, y)
    assert head.score(inp, y) > 0.95
    with pytest.raises(Exception, match="outside its text"):
        TargetInputs(words, offsets, np.c_[starts, starts + 7])


def test_head_follows_the_estimator_contract():
    from sklearn.base import clone

    head = FeatureHead("mlp", hidden=32, random_state=3)
    assert clone(head).get_params() == head.get_params()
    assert not hasattr(head, "classes_")
    with pytest.raises(ConfigError, match="unknown head"):
        FeatureHead("gru").fit(TargetInputs(np.zeros((2, 2), np.float32), [0, 2], [[0, 1], [1, 2]]), [0, 1])


# ------------------------------------------------------------------------------ planted signal
def test_planted_middle_layer_is_found_and_beats_the_last_layer():
    """A label linearly readable from layer 3 of 6 only: every data-driven strategy picks
    layer 3 and its features beat the last-layer baseline on held-out data."""
    from probekit.probes import LinearProbe, ScalarMixProbe, fit_layers
    from probekit.scoring import bootstrap_ci

    rng = np.random.default_rng(0)
    n_layers, dim, length = 6, 12, 5
    sizes = {"train": 240, "dev": 100, "test": 100}
    layers, labels = {}, {}
    for split, n_texts in sizes.items():
        n = n_texts * length
        y = rng.integers(0, 3, size=n)
        signal = np.eye(3)[y].repeat(dim // 3, axis=1) * 2.0
        mats = [rng.normal(size=(n, dim)).astype(np.float32) for _ in range(n_layers + 1)]
        mats[3] = (mats[3] + signal).astype(np.float32)
        layers[split], labels[split] = mats, y
    rows = []
    fitted = fit_layers(LinearProbe(random_state=0), np.stack(layers["train"]), labels["train"])
    for layer, probe in enumerate(fitted):
        v, lo, hi = bootstrap_ci(labels["dev"], probe.predict(layers["dev"][layer]), n_boot=200)
        rows.append(dict(model="planted", checkpoint="", task="planted", control=False, probe="linear", layer=layer,
                         seed=0, split="dev", metric="accuracy", value=v, ci_low=lo, ci_high=hi))
    mix = ScalarMixProbe(random_state=0).fit(np.stack(layers["train"]), labels["train"])
    for layer, w in enumerate(mix.layer_weights_[-1] if mix.layer_weights_.ndim == 2 else mix.layer_weights_):
        rows.append(dict(model="planted", task="planted", control=False, probe="mix", layer=layer, seed=0,
                         split="dev", metric="mix_weight", value=float(w)))
    table = pd.DataFrame(rows)

    def test_score(sel):
        inp = {s: TargetInputs(combine_layers([layers[s][i] for i in sel.layers], sel.combine, sel.weights),
                               np.arange(0, sizes[s] * length + 1, length),
                               np.c_[np.arange(sizes[s] * length), np.arange(1, sizes[s] * length + 1)])
               for s in sizes}
        head = FeatureHead("linear", lr=1e-2, max_epochs=30).fit(inp["train"], labels["train"],
                                                                  X_dev=inp["dev"], y_dev=labels["dev"])
        return np.mean(head.predict(inp["test"]) == labels["test"])

    last = test_score(select(table, "planted", "last"))
    for strategy in DATA_DRIVEN:
        sel = select(table, "planted", strategy)
        if sel.combine == "mix":
            assert int(np.argmax(sel.weights)) == 3
        else:
            assert 3 in sel.layers, (strategy, sel.layers)
        assert test_score(sel) > last + 0.3, strategy
    assert select(table, "planted", "best").layers == [3] == select(table, "planted", "cost_aware").layers


def test_select_all_default_covers_every_strategy():
    table = _table([0.5, 0.7, 0.9, 0.8, 0.6], mix=[.2] * 5)
    assert [s.strategy for s in select_all(table, "pos")] == strategy_names()


def test_choose_from_curve_rejects_a_window_wider_than_the_model():
    curve = pd.DataFrame({"layer": [0, 1], "value": [0.1, 0.2], "ci_low": np.nan, "ci_high": np.nan})
    with pytest.raises(ConfigError, match="K must be between 1 and the 2 layers"):
        choose_from_curve(curve, "window3")
    assert json.loads(json.dumps(select(_table([0.1, 0.2]), "pos", "best").to_dict()))["layers"] == [1]
