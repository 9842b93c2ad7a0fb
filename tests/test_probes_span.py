"""Span / span-pair edge probes: every pooling learns a planted span label."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from probekit.errors import ProbekitError
from probekit.probes import SpanInputs, SpanProbe


def spans_data(n=600, d=12, k=3, pair=False, seed=0):
    """Words are noise except one 'marker' word inside each labelled span carrying the label."""
    rng = np.random.default_rng(seed)
    n_words = n * 8
    words = rng.normal(size=(n_words, d)).astype(np.float32)
    starts = np.arange(n) * 8
    widths = rng.integers(1, 4, n)
    span1 = np.stack([starts, starts + widths], 1)
    y = rng.integers(0, k, n)
    words[starts, :k] += 3 * np.eye(k, dtype=np.float32)[y]
    span2 = None
    if pair:
        span2 = np.stack([starts + 4, starts + 6], 1)
        y2 = rng.integers(0, 2, n)
        words[starts + 4, k] += 3 * (2 * y2 - 1)
        y = y * 2 + y2  # the label needs both spans
    return SpanInputs(words, span1, span2), y


@pytest.mark.parametrize("pooling", ["mean", "max", "endpoints", "attn"])
def test_span_poolings_learn(pooling):
    X, y = spans_data()
    Xte, yte = spans_data(seed=1)
    probe = SpanProbe(pooling=pooling, projection_dim=16, learning_rate=1e-2).fit(X, y)
    assert probe.score(Xte, yte) > 0.85


def test_span_pair_needs_both_spans_and_sigmoid_mlp():
    X, y = spans_data(pair=True)
    Xte, yte = spans_data(pair=True, seed=1)
    probe = SpanProbe(projection_dim=16, hidden_layer_sizes=(32,), loss="sigmoid",
                      learning_rate=1e-2).fit(X, y)
    assert probe.score(Xte, yte) > 0.8
    assert clone(probe).get_params()["loss"] == "sigmoid"


def test_span_bad_input():
    X, y = spans_data(n=20)
    with pytest.raises(ProbekitError, match="outside"):
        SpanProbe().fit(SpanInputs(X.words, X.span1 + 10_000), y)
    with pytest.raises(ProbekitError, match="labels"):
        SpanProbe().fit(X, y[:5])
    with pytest.raises(ProbekitError, match="pooling"):
        SpanProbe(pooling="sum").fit(X, y)
