"""MDL probing with the online code (Voita & Titov 2020), for every layer at once.

For block boundaries ``t_1 < ... < t_B = n`` (:data:`MDL_FRACTIONS`), the first
``t_1`` labels are sent with the uniform code; then for each block a probe trained on the first
``t_i`` examples (all layers batched) encodes labels ``t_i .. t_{i+1}`` with ``-log2 p(y|x)``.

Handling of small prefixes (documented choice): a block whose training prefix holds fewer than
two classes is also sent with the uniform code, and the probe's probabilities are mixed with the
uniform distribution, ``(1 - eps) p + eps / K`` (``eps = 1e-3``), so a label the prefix never
contained costs ``log2(K / eps)`` bits instead of infinity. Each block's probe gets at least
``MIN_STEPS`` Adam steps (small prefixes are one minibatch per epoch).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import clone

from probekit.probes._core import MIN_STEPS
from probekit.probes.base import _BaseProbe, check_features, fit_layers

EPS = 1e-3

# Voita & Titov (2020): block boundaries as fractions of the training data.
MDL_FRACTIONS: tuple[float, ...] = (
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125, 0.25, 0.5, 1.0,
)  # fmt: skip


def mdl_block_ends(n: int, fractions: Sequence[float] = MDL_FRACTIONS) -> np.ndarray:
    """End index of every block: ``ceil(f * n)``, strictly increasing, last one ``n``.

    >>> mdl_block_ends(10000).tolist()
    [10, 20, 40, 80, 160, 320, 625, 1250, 2500, 5000, 10000]
    >>> mdl_block_ends(300).tolist()  # tiny data: repeated boundaries collapse
    [1, 2, 3, 5, 10, 19, 38, 75, 150, 300]
    """
    ends = np.ceil(np.asarray(fractions) * n - 1e-9).astype(np.int64)
    ends = np.unique(np.clip(ends, 1, n))
    return ends


def uniform_codelength(n: int, n_classes: int) -> float:
    """Bits to send ``n`` labels with the uniform code: ``n log2 K``.

    >>> uniform_codelength(8, 4)
    16.0
    """
    return float(n * np.log2(n_classes))


def online_codelength(
    first_block: int, n_classes: int, block_log2_probs: Sequence[np.ndarray]
) -> dict:
    """Online codelength from the log2-probabilities each block's labels got from the model
    trained on all earlier blocks.

    Parameters
    ----------
    first_block : int
        Size of the first block, sent with the uniform code.
    n_classes : int
    block_log2_probs : list of arrays
        ``log2 p(y_i | x_i)`` for the examples of blocks 2..; block ``i`` scored by the probe
        trained on blocks ``1..i-1``.

    Returns
    -------
    dict with ``codelength`` (bits), ``uniform`` (bits), ``compression`` (uniform / online)
    and ``n``.

    >>> r = online_codelength(2, 4, [np.log2([0.5, 0.5]), np.log2([1.0, 1.0, 0.25, 0.25])])
    >>> r["codelength"], r["uniform"], r["compression"]
    (10.0, 16.0, 1.6)
    """
    parts = [np.asarray(b, dtype=np.float64) for b in block_log2_probs]
    n = first_block + sum(len(b) for b in parts)
    uniform = uniform_codelength(n, n_classes)
    code = uniform_codelength(first_block, n_classes) - sum(float(b.sum()) for b in parts)
    return {"codelength": code, "uniform": uniform, "compression": uniform / code, "n": n}


def online_code(
    estimator: _BaseProbe,
    X,
    y,
    *,
    fractions=MDL_FRACTIONS,
    random_state: int = 0,
    progress=None,
) -> list[dict]:
    """Online codelength of labels ``y`` given each layer of ``X``.

    Parameters
    ----------
    estimator : LinearProbe or MLPProbe (template, not modified)
    X : array (n_layers, n, d) or (n, d)
    y : array (n,)
    fractions : block boundaries as fractions of ``n``
    random_state : shuffles the examples once before cutting blocks.

    Returns
    -------
    list of dicts, one per layer: ``codelength``, ``uniform`` (bits), ``compression``, ``n``.
    """
    X = check_features(X)
    if X.ndim == 2:
        X = X[None]
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    K = len(classes)
    order = np.random.default_rng(random_state).permutation(len(y))
    X, codes = X[:, order], codes[order]
    ends = mdl_block_ends(len(codes), fractions)
    L = X.shape[0]
    blocks: list[list[np.ndarray]] = [[] for _ in range(L)]
    first = int(ends[0])
    for start, stop in zip(ends[:-1], ends[1:]):
        prefix = codes[:start]
        if len(np.unique(prefix)) < 2:
            for layer in range(L):
                blocks[layer].append(np.full(stop - start, -np.log2(K)))
            continue
        # Tiny prefixes give one minibatch per epoch: guarantee enough Adam steps to fit them
        # (early stopping still ends training once a validation split exists).
        est = clone(estimator)
        steps_per_epoch = -(-start // int(est.batch_size))
        est.set_params(max_epochs=max(est._max_epochs(), -(-MIN_STEPS // steps_per_epoch)))
        probes = fit_layers(est, X[:, :start], prefix)
        for layer, probe in enumerate(probes):
            proba = probe.predict_proba(X[layer, start:stop])
            full = np.zeros((stop - start, K))
            full[:, probe.classes_] = proba  # classes_ are codes present in the prefix
            p = (1 - EPS) * full[np.arange(stop - start), codes[start:stop]] + EPS / K
            blocks[layer].append(np.log2(p))
        if progress is not None:
            progress.update(1)
    return [online_codelength(first, K, blocks[layer]) for layer in range(L)]
