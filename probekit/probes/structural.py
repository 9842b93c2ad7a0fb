"""Structural probes (Hewitt & Manning 2019): is syntax tree geometry linearly embedded?

* distance probe: a linear map ``B`` (d -> rank) such that ``||B(h_i - h_j)||^2`` approximates the
  tree distance between words ``i`` and ``j``; evaluated by UUAS (the minimum spanning tree of the
  predicted distances against the gold tree, undirected, punctuation optionally ignored) and
  DSpr. (Spearman between predicted and gold distances, per word, averaged per sentence length
  for lengths 5-50, then over lengths).
* depth probe: ``||B h_i||^2`` approximates the depth of word ``i``; evaluated by root accuracy
  (the shallowest word is the root) and NSpr. (Spearman of predicted vs. gold depths, same
  averaging).

Sentences are variable-length, so ``X`` is a list of ``(n_i, d)`` arrays and the gold trees are
lists of CoNLL-U heads (1-based, 0 = root).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from scipy.sparse.csgraph import minimum_spanning_tree, shortest_path
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from probekit.errors import DataFormatError
from probekit.probes import _core
from probekit.probes.base import check_features


# ---------------------------------------------------------------------------------------------
# Gold trees
# ---------------------------------------------------------------------------------------------
def _check_heads(heads, n: int, where: str) -> np.ndarray:
    h = np.asarray(heads, dtype=np.int64)
    if h.shape != (n,) or h.min(initial=0) < 0 or h.max(initial=0) > n or (h == 0).sum() != 1:
        raise DataFormatError(
            f"{where}: heads {list(h)} do not form a tree over {n} words",
            expected="1-based heads, exactly one 0 (the root), one per word",
        )
    return h


def tree_distances(heads) -> np.ndarray:
    """Path lengths between all word pairs of a dependency tree, shape (n, n).

    >>> tree_distances([2, 0, 2]).tolist()
    [[0, 1, 2], [1, 0, 1], [2, 1, 0]]
    """
    h = np.asarray(heads)
    n = len(h)
    adj = np.zeros((n, n))
    for i, p in enumerate(h):
        if p > 0:
            adj[i, p - 1] = adj[p - 1, i] = 1
    return shortest_path(adj, unweighted=True, directed=False).astype(np.int64)


def tree_depths(heads) -> np.ndarray:
    """Depth of every word (root = 0), shape (n,).

    >>> tree_depths([2, 0, 2, 3]).tolist()
    [1, 0, 1, 2]
    """
    h = np.asarray(heads)
    root = int(np.flatnonzero(h == 0)[0])
    return tree_distances(h)[root]


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
def uuas(pred_distances, heads, keep=None) -> tuple[int, int]:
    """Correct and total undirected gold edges recovered by the MST of predicted distances.

    ``keep`` (bool per word) drops words (e.g. punctuation) from both trees, as Hewitt & Manning
    do. Returns ``(n_correct, n_gold_edges)`` so corpus UUAS is a ratio of sums.
    """
    h = np.asarray(heads)
    n = len(h)
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    idx = np.flatnonzero(keep)
    if len(idx) < 2:
        return 0, 0
    d = np.asarray(pred_distances, dtype=np.float64)[np.ix_(idx, idx)]
    # MST on strictly positive weights (csgraph treats 0 as "no edge").
    mst = minimum_spanning_tree(np.triu(d, 1) + np.triu(np.full_like(d, 1e-9), 1)).tocoo()
    pred = {frozenset((idx[a], idx[b])) for a, b in zip(mst.row, mst.col)}
    gold = {frozenset((i, p - 1)) for i, p in enumerate(h) if p > 0 and keep[i] and keep[p - 1]}
    return len(pred & gold), len(gold)


def _length_averaged(values_by_length: dict[int, list[float]], lo: int = 5, hi: int = 50) -> float:
    means = [np.mean(v) for n, v in values_by_length.items() if lo <= n <= hi and v]
    return float(np.mean(means)) if means else float("nan")


def distance_scores(pred: list[np.ndarray], heads: list, keep: list | None = None) -> dict:
    """UUAS and DSpr. (Spearman per word, mean per sentence length 5-50, then over lengths)."""
    correct = total = 0
    by_len: dict[int, list[float]] = defaultdict(list)
    for i, (p, h) in enumerate(zip(pred, heads)):
        c, t = uuas(p, h, None if keep is None else keep[i])
        correct, total = correct + c, total + t
        gold = tree_distances(h)
        n = len(h)
        rhos = [spearmanr(p[w], gold[w]).statistic for w in range(n)]
        by_len[n].append(float(np.nanmean(rhos)) if n > 2 else np.nan)
    return {"uuas": correct / total if total else float("nan"), "dspr": _length_averaged(by_len)}


def _root_hit(pred_depths, heads, keep=None) -> bool | None:
    """Whether the shallowest kept word is the gold root (None: no word kept)."""
    h = np.asarray(heads)
    cand = np.flatnonzero(np.ones(len(h), bool) if keep is None else np.asarray(keep, bool))
    if not len(cand):
        return None
    return bool(cand[np.argmin(np.asarray(pred_depths)[cand])] == int(np.flatnonzero(h == 0)[0]))


def depth_scores(pred: list[np.ndarray], heads: list, keep: list | None = None) -> dict:
    """Root accuracy and NSpr. (Spearman of predicted vs. gold depth, length-averaged 5-50)."""
    hits = []
    by_len: dict[int, list[float]] = defaultdict(list)
    for i, (p, h) in enumerate(zip(pred, heads)):
        h = np.asarray(h)
        k = np.ones(len(h), bool) if keep is None else np.asarray(keep[i], bool)
        hit = _root_hit(p, h, k)
        if hit is not None:
            hits.append(hit)
        if k.sum() > 2:
            by_len[len(h)].append(float(spearmanr(np.asarray(p)[k], tree_depths(h)[k]).statistic))
    return {
        "root_acc": float(np.mean(hits)) if hits else float("nan"),
        "nspr": _length_averaged(by_len),
    }


def sentence_counts(pred: list[np.ndarray], heads: list, kind: str, keep: list | None = None):
    """Per sentence, the headline score's numerator and denominator, so that a bootstrap can
    resample sentences: ``(correct, gold)`` undirected edges (distance probe, UUAS) or ``(hit, 1)``
    (depth probe, root accuracy; ``(0, 0)`` for a sentence with no candidate word).

    Returns
    -------
    hits, totals : int arrays (n_sentences,)
    """
    hits, totals = [], []
    for i, (p, h) in enumerate(zip(pred, heads)):
        k = None if keep is None else keep[i]
        if kind == "distance":
            c, t = uuas(p, h, k)
        else:
            hit = _root_hit(p, h, k)
            c, t = (0, 0) if hit is None else (int(hit), 1)
        hits.append(c)
        totals.append(t)
    return np.asarray(hits, dtype=np.int64), np.asarray(totals, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# The probe
# ---------------------------------------------------------------------------------------------
class StructuralProbe(BaseEstimator):
    """Hewitt & Manning (2019) distance or depth probe with a configurable rank.

    Parameters
    ----------
    kind : {"distance", "depth"}
    rank : int, default=64
        Output dimension of ``B`` (``rank <= d``).
    learning_rate, max_epochs, batch_size (sentences), patience, validation_fraction,
    random_state, device : training settings (Adam, L1 loss normalised by sentence length
    squared for distances and by length for depths, as in the paper; early stopping on the
    loss of a held-out fraction of sentences).

    Attributes
    ----------
    B_ : ndarray (d, rank)
    n_iter_ : int
    """

    def __init__(
        self,
        *,
        kind: str = "distance",
        rank: int = 64,
        learning_rate: float = 1e-3,
        max_epochs: int = 40,
        batch_size: int = 20,
        patience: int = 3,
        validation_fraction: float = 0.1,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.kind = kind
        self.rank = rank
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def _validate(self, X, heads=None):
        if self.kind not in ("distance", "depth"):
            raise DataFormatError(f"kind must be 'distance' or 'depth', got {self.kind!r}")
        X = [check_features(x, name=f"sentence {i}") for i, x in enumerate(X)]
        if any(x.ndim != 2 for x in X):
            raise DataFormatError("X must be a list of (n_words, d) arrays, one per sentence")
        dims = {x.shape[1] for x in X}
        if len(dims) != 1:
            raise DataFormatError(f"sentences have different feature sizes {sorted(dims)}")
        if heads is None:
            return X, None
        if len(heads) != len(X):
            raise DataFormatError(f"{len(X)} sentences but {len(heads)} trees")
        trees = [_check_heads(h, len(x), f"sentence {i}") for i, (x, h) in enumerate(zip(X, heads))]
        return X, trees

    @staticmethod
    def _pad(X, targets, device):
        m = max(len(x) for x in X)
        B, d = len(X), X[0].shape[1]
        xs = np.zeros((B, m, d), np.float32)
        mask = np.zeros((B, m), bool)
        for i, x in enumerate(X):
            xs[i, : len(x)], mask[i, : len(x)] = x, True
        t = None
        if targets is not None:
            shape = (B, m, m) if targets[0].ndim == 2 else (B, m)
            t = np.zeros(shape, np.float32)
            for i, g in enumerate(targets):
                t[(i, *[slice(0, len(g))] * g.ndim)] = g
            t = torch.from_numpy(t).to(device)
        return torch.from_numpy(xs).to(device), torch.from_numpy(mask).to(device), t

    def _forward(self, B: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        z = x @ B  # (b, m, rank)
        if self.kind == "depth":
            return (z * z).sum(-1)
        sq = (z * z).sum(-1)
        # ||z_i - z_j||^2 via the Gram matrix: (b, m, m) instead of a (b, m, m, rank) tensor.
        return (sq[:, :, None] + sq[:, None, :] - 2 * z @ z.transpose(1, 2)).clamp_min(0)

    def _loss(self, B, x, mask, t):
        pred = self._forward(B, x)
        lengths = mask.sum(1).float()
        if self.kind == "depth":
            err = ((pred - t).abs() * mask).sum(1) / lengths
        else:
            pair = mask[:, :, None] & mask[:, None, :]
            err = ((pred - t).abs() * pair).sum((1, 2)) / lengths**2
        return err.mean()

    def fit(self, X, heads, *, progress: bool = False):
        """Fit on ``X`` (list of (n_i, d) arrays) and ``heads`` (list of 1-based head lists)."""
        X, trees = self._validate(X, heads)
        if not X:
            raise DataFormatError("no training sentences")
        d = X[0].shape[1]
        if not 1 <= int(self.rank) <= d:
            raise DataFormatError(f"rank must be in [1, {d}], got {self.rank!r}")
        targets = [tree_distances(h) if self.kind == "distance" else tree_depths(h) for h in trees]
        targets = [t.astype(np.float32) for t in targets]
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        n_val = int(round(self.validation_fraction * len(X)))
        val, train = order[:n_val], order[n_val:]
        device = _core.resolve_device(self.device)
        gen = torch.Generator().manual_seed(seed)
        B = (torch.rand(d, int(self.rank), generator=gen) * 0.1 - 0.05).to(device)
        B.requires_grad_(True)
        opt = torch.optim.Adam([B], lr=float(self.learning_rate))
        best, best_loss, bad = B.detach().clone(), float("inf"), 0
        self.n_iter_ = 0
        # Pad every sentence once; a batch is then an index into these tensors. Padding to the
        # longest sentence of the corpus wastes a little compute but no per-step numpy work.
        x_all, mask_all, t_all = self._pad(X, targets, device)
        bs = int(self.batch_size)
        step_macs = bs * x_all.shape[1] * (d * int(self.rank) + x_all.shape[1] * int(self.rank))
        with _core._threads(device, step_macs):
            bar = tqdm(range(int(self.max_epochs)), desc=f"{self.kind} probe", disable=not progress)
            for epoch in bar:
                for s in range(0, len(train), bs):
                    rows = torch.as_tensor(train[s : s + bs], device=device)
                    loss = self._loss(B, x_all[rows], mask_all[rows], t_all[rows])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                train = train[rng.permutation(len(train))]
                self.n_iter_ = epoch + 1
                if not len(val):
                    continue
                with torch.no_grad():
                    rows = torch.as_tensor(val, device=device)
                    vl = float(self._loss(B, x_all[rows], mask_all[rows], t_all[rows]))
                if vl < best_loss - 1e-4:
                    best, best_loss, bad = B.detach().clone(), vl, 0
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        self.B_ = (best if len(val) else B.detach()).cpu().numpy()
        self.n_features_in_ = d
        return self

    def predict(self, X) -> list[np.ndarray]:
        """Predicted squared distances (n_i, n_i) or squared norms (n_i,) per sentence."""
        check_is_fitted(self)
        X, _ = self._validate(X)
        out = []
        for x in X:
            z = x.astype(np.float64) @ self.B_
            if self.kind == "depth":
                out.append((z * z).sum(-1))
            else:
                sq = (z * z).sum(-1)
                out.append(np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0))
        return out

    def score(self, X, heads, keep=None) -> dict:
        """``{"uuas", "dspr"}`` (distance) or ``{"root_acc", "nspr"}`` (depth)."""
        _, trees = self._validate(X, heads)
        pred = self.predict(X)
        fn = distance_scores if self.kind == "distance" else depth_scores
        return fn(pred, trees, keep)

    def sentence_counts(self, X, heads, keep=None):
        """The headline score (UUAS or root accuracy) per sentence, as :func:`sentence_counts`."""
        _, trees = self._validate(X, heads)
        return sentence_counts(self.predict(X), trees, self.kind, keep)
