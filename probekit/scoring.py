"""Layer-wise scores: metrics with bootstrap CIs, selectivity, expected layer, centre of gravity
and linear CKA. Pure numpy/pandas; every function is doctested. (The MDL online codelength lives
with the online-code procedure in :mod:`probekit.probes.mdl`, a level below.)

All results become *tidy rows* with the columns of :data:`SCORE_COLUMNS`; layer-level summaries
(best layer, expected layer, centre of gravity, MDL totals) are rows with an empty ``layer``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

SCORE_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "task", "control", "probe", "layer", "seed", "split",
    "metric", "value", "ci_low", "ci_high", "n_train", "n_eval",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------
def accuracy(y_true, y_pred) -> float:
    """Fraction of exact matches.

    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred))


def _counts(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray):
    # Per-label true positives, false positives, false negatives for single-label predictions.
    index = {v: i for i, v in enumerate(labels)}
    t = np.array([index.get(v, -1) for v in y_true])
    p = np.array([index.get(v, -1) for v in y_pred])
    k = len(labels)
    hit = t == p
    tp = np.bincount(t[hit & (t >= 0)], minlength=k)
    fp = np.bincount(p[~hit & (p >= 0)], minlength=k)
    fn = np.bincount(t[~hit & (t >= 0)], minlength=k)
    return tp, fp, fn


def _f1_from_counts(tp, fp, fn, average: str):
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    if average == "micro":
        tp, fp, fn = tp.sum(-1), fp.sum(-1), fn.sum(-1)
        den = 2 * tp + fp + fn
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
    den = 2 * tp + fp + fn
    per = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
    return per.mean(-1)


def f1_score(y_true, y_pred, *, average: str = "macro", labels=None) -> float:
    """Micro or macro F1 for single-label predictions.

    Macro F1 averages over ``labels`` (default: every label in ``y_true`` or ``y_pred``; a label
    that never occurs in either scores 0 only if listed). Micro F1 for single-label data equals
    accuracy when ``labels`` covers every label.

    >>> f1_score(["a", "b", "b", "c"], ["a", "b", "c", "c"], average="macro")
    0.7777777777777777
    >>> f1_score(["a", "b", "b", "c"], ["a", "b", "c", "c"], average="micro")
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    return float(_f1_from_counts(*_counts(y_true, y_pred, labels), average))


def edge_f1(Y_true, Y_pred) -> float:
    """jiant's edge-probing micro F1: every (target, label) cell is one binary decision.

    Inputs are 0/1 indicator matrices of shape (n_targets, n_labels) (sigmoid outputs > 0.5 for
    predictions); F1 is computed over all positive cells, so a target may have zero or several
    predicted labels. For one-hot truth and exactly one predicted label per target it equals
    accuracy.

    >>> edge_f1([[1, 0], [0, 1], [1, 0]], [[1, 0], [1, 1], [0, 0]])
    0.6666666666666666
    """
    t = np.asarray(Y_true).astype(bool)
    p = np.asarray(Y_pred).astype(bool)
    tp = np.sum(t & p)
    den = 2 * tp + np.sum(~t & p) + np.sum(t & ~p)
    return float(2 * tp / den) if den else 0.0


METRICS: dict[str, Callable] = {
    "accuracy": accuracy,
    "f1_micro": lambda t, p: f1_score(t, p, average="micro"),
    "f1_macro": lambda t, p: f1_score(t, p, average="macro"),
}


# ---------------------------------------------------------------------------------------------
# Uncertainty
# ---------------------------------------------------------------------------------------------
def _boot_stats(y_true, y_pred, metric: str, idx: np.ndarray, labels) -> np.ndarray:
    """Metric on each bootstrap resample; ``idx`` (B, n) row indices. Returns (B,)."""
    if metric == "accuracy":
        return (y_true == y_pred)[idx].mean(axis=1)
    index = {v: i for i, v in enumerate(labels)}
    t = np.array([index.get(v, -1) for v in y_true])
    p = np.array([index.get(v, -1) for v in y_pred])
    k, B = len(labels), idx.shape[0]
    hit = t == p
    off = np.arange(B)[:, None] * k  # one bincount for all resamples: label id + resample * k

    def count(codes, mask):
        c, m = codes[idx], mask[idx] & (codes[idx] >= 0)
        return np.bincount((c + off)[m], minlength=B * k).reshape(B, k)

    tp, fp, fn = count(t, hit), count(p, ~hit), count(t, ~hit)
    return _f1_from_counts(tp, fp, fn, "micro" if metric == "f1_micro" else "macro")


def bootstrap_ci(
    y_true,
    y_pred,
    *,
    metric: str = "accuracy",
    control: tuple | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    chunk: int = 100,
) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap CI over test examples.

    Parameters
    ----------
    y_true, y_pred : array (n,)
    metric : {"accuracy", "f1_micro", "f1_macro"}
    control : (y_true_control, y_pred_control), optional
        Same ``n`` examples under the control task: then the statistic is the *difference*
        task - control (selectivity), resampled pairwise (the same rows for both).
    n_boot, level, seed : resamples, confidence level, RNG seed.
    chunk : resamples evaluated at once (memory ``chunk * n`` integers).

    Returns
    -------
    (value, ci_low, ci_high)

    >>> y = np.array([0, 1] * 50)
    >>> value, lo, hi = bootstrap_ci(y, y)
    >>> value, lo, hi
    (1.0, 1.0, 1.0)
    >>> value, lo, hi = bootstrap_ci(y, np.zeros(100, int))
    >>> value, bool(0.38 < lo < 0.5 < hi < 0.62)
    (0.5, True)
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows, y_pred {len(y_pred)}")
    n = len(y_true)
    labels = np.unique(np.concatenate([y_true, y_pred]))
    value = METRICS[metric](y_true, y_pred)
    if control is not None:
        ct, cp = (np.asarray(a) for a in control)
        if len(ct) != n or len(cp) != n:
            raise ValueError("the control task must be scored on the same examples")
        c_labels = np.unique(np.concatenate([ct, cp]))
        value -= METRICS[metric](ct, cp)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    stats = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        s = _boot_stats(y_true, y_pred, metric, idx, labels)
        if control is not None:
            s = s - _boot_stats(ct, cp, metric, idx, c_labels)
        stats.append(s)
    stats = np.concatenate(stats)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(value), float(lo), float(hi)


def bootstrap_ratio_ci(
    hits,
    totals,
    *,
    control: tuple | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """A corpus ratio ``sum(hits) / sum(totals)`` (e.g. UUAS: correct over gold edges, per
    sentence) with a percentile-bootstrap CI over its units (sentences).

    Parameters
    ----------
    hits, totals : arrays (n,)
    control : (hits_control, totals_control), optional
        The same ``n`` units under the control task: the statistic is the difference task -
        control, resampled pairwise (the same units for both).

    >>> bootstrap_ratio_ci([2, 2, 2], [2, 2, 2])
    (1.0, 1.0, 1.0)
    >>> value, lo, hi = bootstrap_ratio_ci([1] * 50 + [0] * 50, [1] * 100, control=([0] * 100, [1] * 100))
    >>> value, bool(0.38 < lo < 0.5 < hi < 0.62)
    (0.5, True)
    """
    arms = [(np.asarray(hits, dtype=np.float64), np.asarray(totals, dtype=np.float64))]
    if control is not None:
        arms.append(tuple(np.asarray(a, dtype=np.float64) for a in control))
        if any(len(a) != len(arms[0][0]) for a in arms[1]):
            raise ValueError("the control task must be scored on the same units")
    n = len(arms[0][0])
    if n == 0 or any(t.sum() == 0 for _, t in arms):
        return float("nan"), float("nan"), float("nan")
    sign = [1.0, -1.0]
    value = sum(s * h.sum() / t.sum() for s, (h, t) in zip(sign, arms))
    # Resample counts (multiplicities), not indices: the same n x n_boot draw for both arms.
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    stats = sum(s * (weights @ h) / np.maximum(weights @ t, 1e-12) for s, (h, t) in zip(sign, arms))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(value), float(lo), float(hi)


def seed_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of tidy score rows (``seed`` becomes ``"mean"``/``"std"``).

    >>> df = pd.DataFrame({"task": ["pos"] * 2, "layer": [1, 1], "seed": [0, 1],
    ...                    "metric": ["accuracy"] * 2, "value": [0.8, 0.9]})
    >>> seed_summary(df)[["seed", "value"]].round(4).to_dict("list")
    {'seed': ['mean', 'std'], 'value': [0.85, 0.0707]}
    """
    keys = [c for c in scores.columns if c not in ("seed", "value", "ci_low", "ci_high")]
    grouped = scores.groupby(keys, dropna=False, sort=False)["value"]
    mean = grouped.mean().reset_index().assign(seed="mean")
    std = grouped.std(ddof=1).reset_index().assign(seed="std")
    return pd.concat([mean, std], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Where in the network
# ---------------------------------------------------------------------------------------------
def selectivity(task_score, control_score):
    """Hewitt & Liang (2019): task score minus control-task score (same probe, same layer).

    >>> selectivity(0.95, 0.70)
    0.25
    """
    return np.round(np.asarray(task_score) - np.asarray(control_score), 12).tolist()


def expected_layer(cumulative_scores: Sequence[float]) -> float:
    """Tenney et al. (2019) expected layer ``E_delta = sum_l l delta_l / sum_l delta_l``.

    ``cumulative_scores[l]`` is the score of the scalar mix over layers ``0..l``;
    ``delta_l = score_l - score_{l-1}`` for ``l >= 1``. Negative deltas are *kept* (as in
    Tenney's notebooks), so a late drop pulls E_delta down; the result can leave ``[1, L]`` when
    deltas cancel. NaN when the deltas sum to zero.

    >>> expected_layer([0.5, 0.6, 0.9, 0.9])
    1.75
    >>> round(expected_layer([0.5, 0.9, 0.8]), 6)  # the drop at layer 2 is kept
    0.666667
    """
    s = np.asarray(cumulative_scores, dtype=np.float64)
    delta = np.diff(s)
    total = delta.sum()
    if len(delta) == 0 or abs(total) < 1e-12:
        return float("nan")
    return float(np.sum(np.arange(1, len(s)) * delta) / total)


def center_of_gravity(weights: Sequence[float], norms: Sequence[float] | None = None) -> float:
    """Centre of gravity ``E_s = sum_l l * w_l`` of softmax-normalised scalar-mix weights.

    With ``norms`` (mean L2 norm of each layer's vectors), the layer-norm-corrected variant of
    Fayyaz et al. (2021): the weights are rescaled to ``w_l * norm_l / sum_j w_j * norm_j``, the
    share of the *mixed vector* each layer contributes, since a layer with large norms needs a
    small weight for the same influence.

    >>> center_of_gravity([0.25, 0.25, 0.5])
    1.25
    >>> center_of_gravity([0.25, 0.25, 0.5], norms=[2.0, 1.0, 1.0])
    1.0
    """
    w = np.asarray(weights, dtype=np.float64)
    if norms is not None:
        w = w * np.asarray(norms, dtype=np.float64)
    w = w / w.sum()
    return float(np.sum(np.arange(len(w)) * w))


def best_layer(scores: Sequence[float]) -> int:
    """Index of the highest score (first one on ties).

    >>> best_layer([0.1, 0.7, 0.7, 0.3])
    1
    """
    return int(np.argmax(np.asarray(scores, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------
# Layer similarity: linear CKA (Kornblith et al. 2019)
# ---------------------------------------------------------------------------------------------
def _chunks(n: int, size: int):
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def cka_matrix(layers: Sequence[np.ndarray], *, chunk: int = 8192) -> np.ndarray:
    """Linear CKA between every pair of representations of the same ``n`` rows.

    Exact, computed in feature space: ``CKA = ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``
    with column-centred ``X``, ``Y``. Cross-covariances are accumulated over row chunks in
    float64, so memory is ``O((sum of dims)^2 + chunk * sum of dims)``, independent of ``n``
    (works on memory-mapped 100k+ row arrays).

    Parameters
    ----------
    layers : sequence of arrays, each (n, d_l)
    chunk : rows per step

    Returns
    -------
    ndarray (n_layers, n_layers), symmetric, ones on the diagonal.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 8))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> np.round(cka_matrix([X, 3 * X @ Q], chunk=128), 6).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    n = len(layers[0])
    if any(len(a) != n for a in layers):
        raise ValueError("all representations must have the same number of rows")
    dims = [a.shape[1] for a in layers]
    offsets = np.concatenate([[0], np.cumsum(dims)])
    means = [np.zeros(d) for d in dims]
    for sl in _chunks(n, chunk):
        for m, a in zip(means, layers):
            m += np.asarray(a[sl], dtype=np.float64).sum(axis=0)
    means = [m / n for m in means]
    total = int(offsets[-1])
    gram = np.zeros((total, total))
    for sl in _chunks(n, chunk):
        z = np.concatenate(
            [np.asarray(a[sl], dtype=np.float64) - m for a, m in zip(layers, means)], axis=1
        )
        gram += z.T @ z
    L = len(layers)
    blocks = [[gram[offsets[i] : offsets[i + 1], offsets[j] : offsets[j + 1]] for j in range(L)]
              for i in range(L)]  # fmt: skip
    self_norm = np.array([np.linalg.norm(blocks[i][i]) for i in range(L)])
    out = np.empty((L, L))
    for i in range(L):
        for j in range(i, L):
            den = self_norm[i] * self_norm[j]
            out[i, j] = out[j, i] = np.sum(blocks[i][j] ** 2) / den if den > 0 else np.nan
    return out


def linear_cka(X: np.ndarray, Y: np.ndarray, *, chunk: int = 8192) -> float:
    """Linear CKA of two representations of the same rows (e.g. one layer of two checkpoints).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5))
    >>> round(linear_cka(X, X), 6)
    1.0
    """
    return float(cka_matrix([X, Y], chunk=chunk)[0, 1])


def _hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    # Song et al. (2012) unbiased HSIC estimator (needs n > 3); diagonals are zeroed.
    n = K.shape[0]
    K = K - np.diag(np.diag(K))
    L = L - np.diag(np.diag(L))
    KL = K @ L
    term = np.trace(KL) + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 * KL.sum() / (n - 2)
    return float(term / (n * (n - 3)))


def minibatch_cka(
    X: np.ndarray, Y: np.ndarray, *, batch_size: int = 1024, seed: int = 0
) -> float:
    """Minibatch linear CKA (Nguyen et al. 2021): unbiased HSIC averaged over random batches.

    Memory ``O(batch_size^2)``; unbiased, so independent representations give values near 0
    even for small batches (the plain estimator is biased upwards).

    >>> rng = np.random.default_rng(1)
    >>> X, Y = rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))
    >>> abs(minibatch_cka(X, Y, batch_size=500)) < 0.02
    True
    """
    n = len(X)
    if len(Y) != n:
        raise ValueError("X and Y must have the same number of rows")
    order = np.random.default_rng(seed).permutation(n)
    xy = xx = yy = 0.0
    for sl in _chunks(n, batch_size):
        rows = np.sort(order[sl])
        if len(rows) < 4:
            continue
        a = np.asarray(X[rows], dtype=np.float64)
        b = np.asarray(Y[rows], dtype=np.float64)
        K, L = a @ a.T, b @ b.T
        xy += _hsic_unbiased(K, L)
        xx += _hsic_unbiased(K, K)
        yy += _hsic_unbiased(L, L)
    return float(xy / np.sqrt(xx * yy))


def translation_retrieval(X: np.ndarray, Y: np.ndarray, *, labels: Sequence | None = None,
                          center: bool = True, chunk: int = 2048) -> float:
    """Word-translation retrieval accuracy: for each row of ``X``, is its cosine nearest
    neighbour among the rows of ``Y`` its own partner (row ``i`` of ``Y``)?

    Parameters
    ----------
    X, Y : arrays (n, d_x), (n, d_y) with d_x == d_y
        Paired representations (row ``i`` of ``X`` translates row ``i`` of ``Y``).
    labels : sequence of length n, optional
        A hit is a neighbour ``j`` with ``labels[j] == labels[i]`` (e.g. the target word, so that
        two rows of the same translation count alike); default: exactly row ``i``.
    center : bool
        Subtract each side's mean first: representations of two languages often differ by a
        constant offset (a "language direction") that cosine would otherwise pay for.

    Returns
    -------
    float
        Accuracy; chance is about ``1 / n`` for distinct rows.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 16))
    >>> translation_retrieval(X, X + 5.0), translation_retrieval(X, rng.normal(size=(200, 16))) < 0.05
    (1.0, True)
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape or X.ndim != 2:
        raise ValueError(f"X and Y must be paired (n, d) arrays, got {X.shape} and {Y.shape}")
    if center:
        X, Y = X - X.mean(axis=0), Y - Y.mean(axis=0)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    Y = Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)
    lab = np.arange(len(X)) if labels is None else np.unique(np.asarray(labels), return_inverse=True)[1]
    hits = 0
    for sl in _chunks(len(X), chunk):
        nearest = np.argmax(X[sl] @ Y.T, axis=1)
        hits += int(np.sum(lab[nearest] == lab[sl]))
    return hits / len(X) if len(X) else float("nan")
