"""Probe estimators: planted-layer recovery, batched == separate training, sklearn contract,
bad input. Synthetic arrays only (real-feature checks live in test_probe_real.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from probekit.errors import DataFormatError, ProbekitError
from probekit.probes import LinearProbe, MLPProbe, ScalarMixProbe, fit_layers
from probekit.scoring import best_layer, expected_layer


# LinearProbe's earlier Adam defaults: early stopping on a validation split, constant rate.
EARLY_STOPPING = dict(early_stopping=True, schedule="constant", learning_rate=1e-2, max_epochs=100)


def planted(n=2000, L=5, d=16, k=4, layer=3, strength=2.0, seed=0):
    """Random features; the label is linearly decodable from layer ``layer`` only."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(L, n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    X[layer, :, :k] += strength * np.eye(k, dtype=np.float32)[y]
    return X, y


def test_planted_layer_found_by_best_layer_expected_layer_and_mix():
    X, y = planted(layer=3)
    Xte, yte = planted(layer=3, seed=1)
    probes = fit_layers(LinearProbe(), X, y)
    accs = [p.score(Xte[i], yte) for i, p in enumerate(probes)]
    assert best_layer(accs) == 3
    assert accs[3] > 0.8 and max(accs[:3] + accs[4:]) < 0.35
    mix = ScalarMixProbe(cumulative=True).fit(X, y)
    curve = [(p == yte).mean() for p in mix.predict_layers(Xte)]
    assert abs(expected_layer(curve) - 3) < 0.3
    weights = mix.layer_weights_[-1]  # the mix over all layers
    assert np.argmax(weights) == 3 and weights[3] > 0.6
    plain = ScalarMixProbe().fit(X, y)
    assert np.argmax(plain.layer_weights_[0]) == 3 and plain.score(Xte, yte) > 0.75


@pytest.mark.parametrize("est", [LinearProbe(), LinearProbe(rank=2), LinearProbe(refit_epochs=0),
                                 MLPProbe(dropout=0.3), MLPProbe(refit_epochs=2),
                                 MLPProbe(schedule="constant")])
def test_batched_training_equals_separate_training(est):
    X, y = planted(n=800, L=3, layer=1)
    batched = fit_layers(est, X, y)
    for i in range(X.shape[0]):
        alone = clone(est).fit(X[i], y)
        assert alone.n_iter_ == batched[i].n_iter_
        for a, b in zip(alone.weights_ + alone.biases_, batched[i].weights_ + batched[i].biases_):
            np.testing.assert_array_equal(a, b)


def test_same_seed_bit_identical_and_other_seed_differs():
    X, y = planted(n=600, L=2, layer=0)
    a = fit_layers(MLPProbe(random_state=3), X, y)
    b = fit_layers(MLPProbe(random_state=3), X, y)
    c = fit_layers(MLPProbe(random_state=4), X, y)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.predict_proba(X[0]), q.predict_proba(X[0]))
    assert not np.array_equal(a[0].weights_[0], c[0].weights_[0])


def test_matches_sklearn_logistic_regression_on_synthetic():
    from sklearn.linear_model import LogisticRegression

    X, y = planted(n=3000, L=1, d=20, k=5, layer=0, strength=1.0)
    Xte, yte = planted(n=3000, L=1, d=20, k=5, layer=0, strength=1.0, seed=1)
    C = 1.0
    ours = LinearProbe(alpha=1 / (C * len(y)), early_stopping=False, max_epochs=30).fit(X[0], y)
    ref = LogisticRegression(C=C, max_iter=1000).fit(X[0], y)
    assert abs(ours.score(Xte[0], yte) - ref.score(Xte[0], yte)) < 0.01


def test_multilabel_sigmoid_and_class_weight():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 8)).astype(np.float32)
    Y = (X[:, :3] > 0).astype(int)  # three independent binary labels
    p = LinearProbe(learning_rate=1e-2).fit(X, Y)
    assert p.multilabel_ and p.predict(X).shape == (1500, 3)
    assert (p.predict(X) == Y).mean() > 0.95
    assert p.predict_proba(X).shape == (1500, 3)
    # jiant's single-label sigmoid head
    y = np.argmax(X[:, :3], axis=1)
    s = LinearProbe(loss="sigmoid").fit(X, y)
    np.testing.assert_allclose(s.predict_proba(X).sum(1), 1, rtol=1e-6)
    assert s.score(X, y) > 0.9
    # heavily imbalanced: balanced weights raise recall of the rare class
    y_rare = (X[:, 0] > 1.6).astype(int)
    plain = LinearProbe(alpha=1e-2).fit(X, y_rare)
    bal = LinearProbe(alpha=1e-2, class_weight="balanced").fit(X, y_rare)
    rare = y_rare == 1
    assert (bal.predict(X)[rare] == 1).mean() > (plain.predict(X)[rare] == 1).mean()


def test_pickle_clone_get_params():
    p = MLPProbe(hidden_layer_sizes=(8, 8), dropout=0.1)
    assert clone(p).get_params() == p.get_params()
    X, y = planted(n=300, L=1, layer=0)
    p.fit(X[0], y)
    q = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(p.predict(X[0]), q.predict(X[0]))
    m = ScalarMixProbe(classifier="mlp", hidden_layer_sizes=(8,))
    assert clone(m).get_params()["classifier"] == "mlp"


# scikit-learn's generic checks. Expected failure (documented): with extreme class weights
# ({0: 1000, 1: 1e-4}) on 50 noisy rows, early stopping on a 5-row validation split stops
# before the weights take effect; the same check passes with early_stopping=False (below).
EXPECTED_FAILED = {
    "check_class_weight_classifiers": "early stopping on a 5-row validation split; "
    "passes with early_stopping=False",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "est", [LinearProbe(device="cpu"), LinearProbe(device="cpu", solver="lbfgs"), MLPProbe(device="cpu")]
)
def test_sklearn_estimator_checks(est):
    results = check_estimator(est, expected_failed_checks=EXPECTED_FAILED, on_skip=None)
    assert len(results) > 40


def test_class_weight_check_passes_without_early_stopping():
    from sklearn.utils.estimator_checks import check_class_weight_classifiers

    check_class_weight_classifiers("LinearProbe", LinearProbe(early_stopping=False, learning_rate=1e-2))


# ---------------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    X, y = planted(n=100, L=2, layer=0)
    with pytest.raises(ProbekitError, match="inconsistent numbers of samples"):
        LinearProbe().fit(X[0], y[:50])
    with pytest.raises(ProbekitError, match="rows"):
        fit_layers(LinearProbe(), X, y[:50])
    with pytest.raises(ProbekitError, match="1 class"):
        LinearProbe().fit(X[0], np.zeros(100, int))
    bad = X.copy()
    bad[1, 5, 2] = np.nan
    with pytest.raises(ProbekitError, match="NaN or infinity"):
        fit_layers(LinearProbe(), bad, y)
    bad[1, 5, 2] = np.inf
    with pytest.raises(ProbekitError, match="infinity"):
        LinearProbe().fit(bad[1], y)
    with pytest.raises(ProbekitError, match="shape"):
        fit_layers(LinearProbe(), X[0], y)
    with pytest.raises(ProbekitError, match="hidden_layer_sizes"):
        MLPProbe(hidden_layer_sizes=(4, 4, 4)).fit(X[0], y)
    with pytest.raises(ProbekitError, match="layers"):
        ScalarMixProbe().fit(X, y).predict(X[:1])
    assert isinstance(DataFormatError("x"), ValueError)  # sklearn-style callers catch ValueError


def test_unseen_validation_labels_are_ignored_and_counted():
    X, y = planted(n=400, L=1, layer=0)
    Xv, yv = X[0][:50], y[:50].copy()
    yv[:5] = 99  # a label the training set never had
    p = LinearProbe().fit(X[0], y, validation_data=(Xv, yv))
    assert p.n_val_unseen_ == 5
    # at test time such a label simply can never be predicted: it counts as an error
    assert p.score(Xv, yv) <= 45 / 50


def test_few_examples_no_early_stopping_split():
    # 3 rows, 3 classes: no room for a validation split -> trained on all rows, still fits them
    X = np.eye(3, dtype=np.float32) * 3
    p = LinearProbe(max_epochs=200, alpha=0).fit(X, [0, 1, 2])
    assert p.n_train_ == 3 and (p.predict(X) == [0, 1, 2]).all()


def test_bfloat16_precision_close_to_float32():
    X, y = planted(n=1500, L=3, layer=1)
    Xte, yte = planted(n=1500, L=3, layer=1, seed=1)
    full = fit_layers(LinearProbe(), X, y)
    low = fit_layers(LinearProbe(precision="bfloat16"), X, y)
    for i in range(3):
        assert abs(full[i].score(Xte[i], yte) - low[i].score(Xte[i], yte)) < 0.02
    with pytest.raises(ProbekitError, match="precision"):
        LinearProbe(precision="fp8").fit(X[0], y)


def test_lr_decays_zero_is_plain_early_stopping_and_negative_is_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    plain = LinearProbe(lr_decays=0, batch_size=128, **EARLY_STOPPING).fit(X, y)
    decayed = LinearProbe(lr_decays=2, batch_size=128, **EARLY_STOPPING).fit(X, y)
    # Extra decays can only train longer, and still solve a separable task.
    assert decayed.n_iter_ >= plain.n_iter_
    assert decayed.score(X, y) > 0.95 and plain.score(X, y) > 0.95
    with pytest.raises(ValueError, match="lr_decays must be >= 0"):
        LinearProbe(lr_decays=-1).fit(X, y)


def test_refit_learns_from_the_validation_rows_and_moves_towards_the_full_data_optimum():
    from sklearn.linear_model import LogisticRegression

    X, y = planted(n=1000, L=1, d=10, k=3, layer=0, strength=1.0)
    # A 4th class only in rows of the internal validation split, marked by a feature of its own:
    # early stopping never trains on it, the refit over all rows does.
    n_val = round(0.1 * len(y))
    val_rows = np.random.default_rng(0).permutation(len(y))[:n_val][:40]
    y[val_rows] = 3
    X[0, val_rows, 9] += 6.0
    kept = LinearProbe(refit_epochs=0, lr_decays=0, batch_size=32, **EARLY_STOPPING).fit(X[0], y)
    refit = LinearProbe(refit_epochs=3, lr_decays=0, batch_size=32, **EARLY_STOPPING).fit(X[0], y)
    assert kept.n_train_ == len(y) - n_val and refit.n_train_ == len(y)
    assert refit.n_iter_ == kept.n_iter_ + 3
    assert (kept.predict(X[0, val_rows]) == 3).mean() == 0
    assert (refit.predict(X[0, val_rows]) == 3).mean() > 0.75

    # On a task without such rows the refit moves the weights towards the all-rows optimum.
    X, y = planted(n=1000, L=1, d=10, k=3, layer=0, strength=1.0)
    alpha = 1e-2
    ref = LogisticRegression(C=1 / (alpha * len(y)), max_iter=1000, tol=1e-8).fit(X[0], y)
    dist = [np.linalg.norm(LinearProbe(alpha=alpha, refit_epochs=r, batch_size=64, **EARLY_STOPPING)
                           .fit(X[0], y).coef_
                           - ref.coef_) for r in (0, 3)]
    assert dist[1] < 0.95 * dist[0]


def test_refit_is_not_used_with_external_validation_data_or_negative():
    X, y = planted(n=600, L=1, layer=0)
    Xv, yv = planted(n=200, L=1, layer=0, seed=1)
    a = LinearProbe(refit_epochs=0, **EARLY_STOPPING).fit(X[0], y, validation_data=(Xv[0], yv))
    b = LinearProbe(refit_epochs=3, **EARLY_STOPPING).fit(X[0], y, validation_data=(Xv[0], yv))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.n_iter_ == b.n_iter_ and b.n_train_ == len(y)
    with pytest.raises(ValueError, match="refit_epochs must be >= 0"):
        LinearProbe(refit_epochs=-1).fit(X[0], y)


def test_cosine_schedule_factor_and_horizon():
    from probekit.probes._core import MIN_STEPS, cosine_factor

    assert cosine_factor(0, 100) == 1.0
    assert cosine_factor(50, 100) == pytest.approx(0.5)
    assert cosine_factor(99, 100) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.99)))
    X, y = planted(n=1200, L=2, layer=1)
    # Large enough for MIN_STEPS in max_epochs: exactly max_epochs epochs.
    big = MLPProbe(max_epochs=3, batch_size=8, early_stopping=False).fit(X[1], y)
    assert big.n_iter_ == 3
    # 300 rows in 2 minibatches per epoch: the schedule stretches to MIN_STEPS steps.
    small = MLPProbe(max_epochs=3, early_stopping=False, batch_size=150).fit(X[1, :300], y[:300])
    assert small.n_iter_ == MIN_STEPS // 2
    # The stretched schedule checks the validation loss max_epochs times: patience (3 checks)
    # cannot end it before the last one.
    stretched = MLPProbe(max_epochs=3, batch_size=135).fit(X[1, :300], y[:300])
    assert stretched.n_iter_ == -(-MIN_STEPS // 2)
    with pytest.raises(ValueError, match="schedule must be"):
        MLPProbe(schedule="linear").fit(X[0], y)
    with pytest.raises(ValueError, match="schedule"):
        LinearProbe(solver="lbfgs", schedule="constant").fit(X[0], y)


def test_a_layer_that_plateaus_stops_early_and_equals_its_separate_fit():
    # Layer 0 is noise (its validation loss stops improving at once), layer 1 keeps learning at
    # a small constant rate: layer 0 stops first, the batch goes on with layer 1 alone.
    X, y = planted(n=1500, L=2, layer=1, strength=1.0)
    est = MLPProbe(schedule="constant", learning_rate=1e-3, max_epochs=60, batch_size=128)
    batched = fit_layers(est, X, y)
    assert batched[0].n_iter_ + 3 < batched[1].n_iter_
    for i in range(2):
        alone = clone(est).fit(X[i], y)
        assert alone.n_iter_ == batched[i].n_iter_
        for a, b in zip(alone.weights_ + alone.biases_, batched[i].weights_ + batched[i].biases_):
            np.testing.assert_array_equal(a, b)


def test_fused_adam_and_the_plain_tensor_update_agree(monkeypatch):
    from probekit.probes import _core

    X, y = planted(n=1000, L=2, layer=1)
    est = MLPProbe(schedule="constant", max_epochs=3, early_stopping=False, batch_size=100)
    fused = fit_layers(est, X, y)
    monkeypatch.setattr(_core, "_FUSED_ADAM", None)
    plain = fit_layers(est, X, y)
    alone = clone(est).fit(X[1], y)  # batched == separate on the plain path too
    for a, b in zip(plain[1].weights_, alone.weights_):
        np.testing.assert_array_equal(a, b)
    for f, p in zip(fused, plain):
        for a, b in zip(f.weights_ + f.biases_, p.weights_ + p.biases_):
            np.testing.assert_allclose(a, b, atol=1e-4)
