"""Scores: doctests of probekit.scoring, CKA properties, MDL known answers, bootstrap, E_delta."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import probekit.probes.mdl as mdl
import probekit.scoring as scoring
from probekit.probes import LinearProbe, online_code
from probekit.scoring import (
    bootstrap_ci,
    cka_matrix,
    edge_f1,
    expected_layer,
    f1_score,
    linear_cka,
    minibatch_cka,
    seed_summary,
)


def test_doctests():
    result = doctest.testmod(scoring, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 15 and result.failed == 0
    result = doctest.testmod(mdl, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_f1_agrees_with_sklearn():
    from sklearn.metrics import f1_score as sk_f1

    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    for avg in ("micro", "macro"):
        assert f1_score(t, p, average=avg) == pytest.approx(sk_f1(t, p, average=avg))
    # jiant convention on one-hot single-label predictions = accuracy
    eye = np.eye(5, dtype=int)
    assert edge_f1(eye[t], eye[p]) == pytest.approx(np.mean(t == p))


def test_bootstrap_covers_and_paired_difference():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, 2000)
    p = np.where(rng.random(2000) < 0.8, t, (t + 1) % 3)
    v, lo, hi = bootstrap_ci(t, p, n_boot=500)
    assert lo < v < hi and hi - lo < 0.05
    for metric in ("f1_micro", "f1_macro"):
        v, lo, hi = bootstrap_ci(t, p, metric=metric, n_boot=200)
        assert lo <= v <= hi
    # identical task and control -> selectivity exactly 0 with a degenerate CI (paired resampling)
    assert bootstrap_ci(t, p, control=(t, p), n_boot=200) == (0.0, 0.0, 0.0)


def test_seed_summary_mean_std():
    df = pd.DataFrame({"layer": [0, 0, 1, 1], "seed": [0, 1, 0, 1], "metric": "accuracy",
                       "value": [0.5, 0.7, 0.9, 0.9]})
    s = seed_summary(df)
    mean = s[s.seed == "mean"].set_index("layer")["value"]
    assert mean[0] == pytest.approx(0.6) and mean[1] == pytest.approx(0.9)


def test_expected_layer_known_answer():
    # all gain at layer 3 -> E_delta = 3
    assert expected_layer([0.2, 0.2, 0.2, 0.9, 0.9]) == pytest.approx(3.0)


# ------------------------------------------------------------------------------------------ CKA
def test_cka_properties():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 20))
    Q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, X @ Q) == pytest.approx(1.0)  # orthogonal transform
    assert linear_cka(X, 7.5 * X) == pytest.approx(1.0)  # isotropic scaling
    Y = rng.normal(size=(1000, 20))
    assert linear_cka(X, Y) < 0.05  # independent (biased estimator ~ d/n)
    assert abs(minibatch_cka(X, Y, batch_size=250)) < 0.03  # unbiased estimator ~ 0
    assert minibatch_cka(X, X @ Q, batch_size=250) == pytest.approx(1.0)


def test_cka_chunking_matches_direct_formula_and_matrix():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(777, 6))
    B = A @ rng.normal(size=(6, 4)) + 0.5 * rng.normal(size=(777, 4))
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    direct = np.linalg.norm(Bc.T @ Ac) ** 2 / (np.linalg.norm(Ac.T @ Ac) * np.linalg.norm(Bc.T @ Bc))
    assert linear_cka(A, B, chunk=100) == pytest.approx(direct)
    M = cka_matrix([A, B, A], chunk=64)
    assert M.shape == (3, 3) and np.allclose(M, M.T) and np.allclose(np.diag(M), 1)
    assert M[0, 2] == pytest.approx(1.0) and M[0, 1] == pytest.approx(direct)


# ------------------------------------------------------------------------------------------ MDL
def test_mdl_random_labels_near_uniform_trivial_task_much_lower():
    rng = np.random.default_rng(0)
    n, k = 2000, 4
    X = rng.normal(size=(n, 8)).astype(np.float32)
    trivial = rng.integers(0, k, n)
    X[:, :k] += 4 * np.eye(k, dtype=np.float32)[trivial]  # label written into the features
    random = rng.integers(0, k, n)
    X2 = np.stack([X, X])
    est = LinearProbe()
    r_rand, r_triv = online_code(est, X2, random), online_code(est, X2, trivial)
    uniform = n * np.log2(k)
    assert r_rand[0]["uniform"] == pytest.approx(uniform)
    assert 0.9 < r_rand[0]["codelength"] / uniform < 1.1
    assert r_triv[0]["codelength"] < 0.3 * uniform and r_triv[0]["compression"] > 3


def test_ratio_bootstrap_pairs_task_and_control_units():
    from probekit.scoring import bootstrap_ratio_ci

    rng = np.random.default_rng(0)
    totals = rng.integers(3, 20, size=300)
    hits = rng.binomial(totals, 0.8)
    # A control equal to the task on every unit: paired resampling gives a zero-width interval
    # (an unpaired one would not).
    value, lo, hi = bootstrap_ratio_ci(hits, totals, control=(hits, totals))
    assert (value, lo, hi) == (0.0, 0.0, 0.0)
    value, lo, hi = bootstrap_ratio_ci(hits, totals)
    assert value == pytest.approx(hits.sum() / totals.sum())
    se = np.sqrt(value * (1 - value) / totals.sum())
    assert lo < value < hi and 2 * 1.96 * se * 0.6 < hi - lo < 2 * 1.96 * se * 2.5
