"""Structural probes (Hewitt & Manning) on the built-in generator's trees."""

from __future__ import annotations

import numpy as np
import pytest

from probekit.data.synthetic import generate
from probekit.errors import ProbekitError
from probekit.probes import StructuralProbe
from probekit.probes.structural import depth_scores, distance_scores, tree_depths, tree_distances, uuas


def planted_tree_features(sentences, d_signal=32, d_noise=32, noise=0.5, seed=0):
    """Word vectors whose squared distances in a hidden subspace equal tree distances.

    Every word gets its own orthonormal direction ``e_w``; the vector of a word is the sum of
    the directions on its path from the root, so ``||v_i - v_j||^2`` is the number of edges
    between ``i`` and ``j``. Noise dimensions are appended and everything is rotated, so the probe
    has to find the subspace.
    """
    rng = np.random.default_rng(seed)
    R, _ = np.linalg.qr(rng.normal(size=(d_signal + d_noise,) * 2))
    out = []
    for s in sentences:
        h, n = np.asarray(s.heads), len(s.heads)
        assert n <= d_signal
        E, _ = np.linalg.qr(rng.normal(size=(d_signal, d_signal)))
        v = np.zeros((n, d_signal))
        for i in np.argsort(tree_depths(h), kind="stable"):
            if h[i] > 0:
                v[i] = v[h[i] - 1] + E[:, i]
        out.append(np.concatenate([v, noise * rng.normal(size=(n, d_noise))], 1) @ R)
    return out


@pytest.fixture(scope="module")
def corpus():
    sents = [s for s in generate(420, seed=0) if len(s) <= 32]
    return planted_tree_features(sents), [s.heads for s in sents]


def test_tree_helpers_and_perfect_prediction():
    heads = [2, 0, 2, 3]
    d = tree_distances(heads)
    assert d[0, 3] == 3 and tree_depths(heads).tolist() == [1, 0, 1, 2]
    assert uuas(d, heads) == (3, 3)
    assert uuas(d, heads, keep=[True, True, True, False]) == (2, 2)


def test_distance_probe_recovers_planted_trees(corpus):
    X, H = corpus
    probe = StructuralProbe(rank=32, learning_rate=2e-2, max_epochs=15).fit(X[:300], H[:300])
    scores = probe.score(X[300:], H[300:])
    assert scores["uuas"] > 0.9
    assert scores["dspr"] > 0.8


def test_depth_probe_finds_roots(corpus):
    X, H = corpus
    probe = StructuralProbe(kind="depth", rank=32, learning_rate=2e-2, max_epochs=15)
    scores = probe.fit(X[:300], H[:300]).score(X[300:], H[300:])
    assert scores["root_acc"] > 0.9 and scores["nspr"] > 0.8


def test_structural_bad_input(corpus):
    X, H = corpus
    with pytest.raises(ProbekitError, match="tree"):
        StructuralProbe().fit(X[:2], [H[0], [0] * len(H[1])])
    with pytest.raises(ProbekitError, match="trees"):
        StructuralProbe().fit(X[:3], H[:2])
    with pytest.raises(ProbekitError, match="rank"):
        StructuralProbe(rank=1000).fit(X[:3], H[:3])


def test_control_trees_are_trees_fixed_by_word_type():
    from probekit.probes.structural import _check_heads
    from probekit.tasks.control import TREE_ATTACHMENTS, ControlTrees

    trees = ControlTrees(seed=5)
    sentences = [s.tokens for s in generate(80, seed=3)]
    rng = np.random.default_rng(0)
    sentences += [[str(w) for w in rng.integers(0, 9, size=n)] for n in range(1, 40)]  # repeated types, every length
    behaviours = {}
    for tokens in sentences:
        heads = trees.heads(tokens)
        n = len(tokens)
        _check_heads(heads, n, "control tree")  # one root, heads in range
        assert np.isfinite(tree_distances(heads)).all() and tree_distances(heads).max() < n  # connected, no cycle
        assert heads[0] == 0 and (n == 1 or heads[-1] == 1)
        for i, word in enumerate(tokens[1:-1], start=1):
            rule = trees.attachment_of(word)
            assert heads[i] == {"first": 1, "previous": i, "last": n}[rule]
            behaviours.setdefault(word, set()).add(rule)
    assert all(len(v) == 1 for v in behaviours.values())  # one behaviour per type, in every sentence
    assert set().union(*behaviours.values()) == set(TREE_ATTACHMENTS)
    other = ControlTrees(seed=6)
    assert any(other.attachment_of(w) != trees.attachment_of(w) for w in behaviours)  # the seed matters


def test_sentence_counts_sum_to_the_corpus_score():
    from probekit.probes.structural import sentence_counts

    rng = np.random.default_rng(0)
    heads = [[2, 0, 2, 3], [0, 1, 1], [3, 3, 0, 3, 4]]
    pred = [rng.random((len(h), len(h))) for h in heads]
    pred = [p + p.T for p in pred]
    hits, totals = sentence_counts(pred, heads, "distance")
    assert hits.sum() / totals.sum() == pytest.approx(distance_scores(pred, heads)["uuas"])
    depths = [rng.random(len(h)) for h in heads]
    hits, totals = sentence_counts(depths, heads, "depth")
    assert list(totals) == [1, 1, 1]
    assert hits.mean() == pytest.approx(depth_scores(depths, heads)["root_acc"])
