"""MDL probing with the online code (Voita & Titov 2020), for every layer at once.

For block boundaries ``t_1 < ... < t_B = n`` (:data:`probekit.scoring.MDL_FRACTIONS`), the first
``t_1`` labels are sent with the uniform code; then for each block a probe trained on the first
``t_i`` examples (all layers batched) encodes labels ``t_i .. t_{i+1}`` with ``-log2 p(y|x)``.

Handling of small prefixes (documented choice): a block whose training prefix holds fewer than
two classes is also sent with the uniform code, and the probe's probabilities are mixed with the
uniform distribution, ``(1 - eps) p + eps / K`` (``eps = 1e-3``), so a label the prefix never
contained costs ``log2(K / eps)`` bits instead of infinity. Each block's probe gets at least
``MIN_STEPS`` Adam steps (small prefixes are one minibatch per epoch).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from probekit.probes.base import _BaseProbe, check_features, fit_layers
from probekit.scoring import MDL_FRACTIONS, mdl_block_ends, online_codelength

EPS = 1e-3
MIN_STEPS = 300  # optimisation steps at least, per block


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
        est.set_params(max_epochs=max(int(est.max_epochs), -(-MIN_STEPS // steps_per_epoch)))
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
