"""Probes on features that do not fit in memory: the L-BFGS solver streams row chunks of a
memory-mapped float16 array (no copy), and the Adam path refuses with the numbers and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from probekit.errors import ProbekitError
from probekit.probes import LinearProbe, MLPProbe, _core, _lbfgs, fit_layers


def planted(n=1500, L=3, d=12, k=4, layer=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(L, n, d)).astype(np.float32)
    X[:, :, 0] *= 30  # one large dimension, as in transformer features
    y = rng.integers(0, k, n)
    X[min(layer, L - 1), :, 1 : k + 1] += 2.0 * np.eye(k, dtype=np.float32)[y]
    return X, y


def test_lbfgs_batched_equals_separate_and_agrees_with_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, y = planted()
    Xte, yte = planted(seed=1)
    est = LinearProbe(solver="lbfgs", alpha=1 / len(y), early_stopping=False)
    batched = fit_layers(est, X, y)
    for i in range(X.shape[0]):
        alone = clone(est).fit(X[i], y)
        assert alone.n_iter_ == batched[i].n_iter_
        np.testing.assert_array_equal(alone.coef_, batched[i].coef_)
        np.testing.assert_array_equal(alone.intercept_, batched[i].intercept_)
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(X[1], y)
    assert abs(batched[1].score(Xte[1], yte) - ref.score(Xte[1], yte)) < 0.01
    # converged to the same regularised optimum (the solver works in standardised coordinates)
    np.testing.assert_allclose(batched[1].predict_proba(Xte[1]), ref.predict_proba(Xte[1]), atol=5e-3)


def test_lbfgs_streams_a_memory_mapped_float16_cache_in_small_chunks(tmp_path, monkeypatch):
    X, y = planted()
    path = tmp_path / "layers.npy"
    np.save(path, X.astype(np.float16))
    mapped = np.load(path, mmap_mode="r")
    # A tiny chunk: the solver never holds more than 64 rows of features at a time.
    monkeypatch.setattr(_lbfgs, "CHUNK_BYTES", 1)
    streamed = fit_layers(LinearProbe(solver="lbfgs"), mapped, y)
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.float16  # never converted
    monkeypatch.undo()
    in_memory = fit_layers(LinearProbe(solver="lbfgs"), X.astype(np.float16).astype(np.float32), y)
    for a, b in zip(streamed, in_memory):
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-3, atol=1e-4)
        assert (a.predict(X[1]) == b.predict(X[1])).mean() > 0.99
    assert streamed[1].score(X[1], y) > 0.75


def test_adam_refuses_features_that_do_not_fit_with_the_numbers_and_the_fix(monkeypatch):
    X, y = planted(n=400)
    monkeypatch.setattr(_core, "available_memory", lambda: 10_000)  # 10 kB "free"
    need = X.shape[0] * round(0.9 * 400) * X.shape[2] * 4
    with pytest.raises(ProbekitError, match=r"needs .* GiB but only .* GiB.*solver='lbfgs'") as err:
        fit_layers(MLPProbe(), X, y)
    assert f"{need / 2**30:.2f} GiB" in str(err.value)
    # ...and the streaming solver trains under the same limit
    assert fit_layers(LinearProbe(solver="lbfgs"), X, y)[1].score(X[1], y) > 0.75


def test_solver_is_checked():
    X, y = planted(n=200, L=1, layer=0)
    with pytest.raises(ProbekitError, match="solver must be"):
        LinearProbe(solver="sgd").fit(X[0], y)
    with pytest.raises(ProbekitError, match="full-rank"):
        LinearProbe(solver="lbfgs", rank=2).fit(X[0], y)


@pytest.mark.parametrize("param", [{"learning_rate": 0.1}, {"batch_size": 64}, {"lr_decays": 0},
                                   {"refit_epochs": 0}])
def test_lbfgs_refuses_the_adam_only_parameters(param):
    X, y = planted(n=200, L=1, layer=0)
    (name, value), = param.items()
    with pytest.raises(ValueError, match=rf"{name}={value!r}: not used by solver='lbfgs'.*use solver='adam'"):
        LinearProbe(solver="lbfgs", **param).fit(X[0], y)
    # the same values are fine for Adam, and L-BFGS with the defaults trains
    LinearProbe(solver="adam", max_epochs=2, **param).fit(X[0], y)
    assert LinearProbe(solver="lbfgs").fit(X[0], y).score(X[0], y) > 0.5
