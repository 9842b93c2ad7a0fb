"""Span and span-pair probes in jiant's edge-probing design (Tenney et al. 2019).

Word vectors -> a learned per-word projection -> span pooling (``mean``, ``max``, ``endpoints``
or learned ``attn`` self-attentive pooling) -> concatenation of span1 and span2 for pairs ->
linear or MLP classifier (softmax, or jiant's per-label sigmoid with ``loss="sigmoid"``).

Inputs are :class:`SpanInputs`: the word vectors of one layer plus each target's word-row ranges
(``probekit.extract.span_word_rows`` gives them for a task's examples). Targets of one layer are
trained in one model; loop over layers for a layer curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from probekit.errors import DataFormatError
from probekit.probes import _core
from probekit.probes.base import check_features

POOLINGS = ("mean", "max", "endpoints", "attn")


@dataclass
class SpanInputs:
    """Word vectors and target spans.

    Attributes
    ----------
    words : array (n_words, d)
    span1 : int array (n_targets, 2)
        ``[start, end)`` rows of ``words`` (end exclusive).
    span2 : int array (n_targets, 2) or None
        Second span for span-pair tasks.
    """

    words: np.ndarray
    span1: np.ndarray
    span2: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.span1)

    def subset(self, rows: np.ndarray) -> "SpanInputs":
        return SpanInputs(self.words, self.span1[rows], None if self.span2 is None else self.span2[rows])


def _padded(spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, w) word rows and mask for spans of width <= w."""
    width = spans[:, 1] - spans[:, 0]
    w = int(width.max())
    rows = spans[:, :1] + np.arange(w)[None]
    mask = np.arange(w)[None] < width[:, None]
    return np.where(mask, rows, spans[:, :1]), mask


class _SpanNet(nn.Module):
    def __init__(self, d, proj, pooling, n_spans, hidden, dropout, k):
        super().__init__()
        self.pooling, self.dropout = pooling, dropout
        self.proj = nn.Linear(d, proj)
        self.attn = nn.Linear(proj, 1) if pooling == "attn" else None
        width = proj * (2 if pooling == "endpoints" else 1) * n_spans
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.head = nn.Sequential(*layers, nn.Linear(width, k))

    def pool(self, words, rows, mask):
        h = self.proj(words[rows])  # (B, w, p)
        m = mask[..., None]
        if self.pooling == "mean":
            return (h * m).sum(1) / m.sum(1)
        if self.pooling == "max":
            return h.masked_fill(~m, float("-inf")).max(1).values
        if self.pooling == "endpoints":
            last = mask.sum(1) - 1
            return torch.cat([h[:, 0], h[torch.arange(len(h)), last]], dim=-1)
        a = self.attn(h).masked_fill(~m, float("-inf")).softmax(1)
        return (a * h).sum(1)

    def forward(self, words, spans):
        return self.head(torch.cat([self.pool(words, r, m) for r, m in spans], dim=-1))


class SpanProbe(ClassifierMixin, BaseEstimator):
    """Edge probe on spans (or span pairs) of word vectors.

    Parameters
    ----------
    pooling : {"mean", "max", "endpoints", "attn"}
    projection_dim : int, default=256
        Width of the per-word projection (jiant: 256).
    hidden_layer_sizes : tuple of int, default=()
        ``()`` is a linear classifier; one or two widths an MLP.
    dropout, alpha, loss, learning_rate, batch_size, max_epochs, early_stopping,
    validation_fraction, patience, tol, random_state, device : as in
    :class:`~probekit.probes.LinearProbe` (``alpha`` is Adam weight decay here).

    ``fit(X, y)`` takes ``X`` a :class:`SpanInputs`; scikit-learn's generic estimator checks
    (2-d arrays) do not apply, ``clone``/``get_params`` do.
    """

    def __init__(self, *, pooling: str = "mean", projection_dim: int = 256,
                 hidden_layer_sizes: tuple[int, ...] = (), dropout: float = 0.2, alpha: float = 1e-4,
                 loss: str = "softmax", learning_rate: float = 1e-3, batch_size: int = 256,
                 max_epochs: int = 50, early_stopping: bool = True, validation_fraction: float = 0.1,
                 patience: int = 3, tol: float = 1e-4, random_state: int | None = 0,
                 device: str = "auto") -> None:
        self.pooling = pooling
        self.projection_dim = projection_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.alpha = alpha
        self.loss = loss
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def _check(self, X) -> SpanInputs:
        if not isinstance(X, SpanInputs):
            raise DataFormatError("SpanProbe needs X as SpanInputs(words, span1, span2=None)")
        words = check_features(X.words, name="words")
        spans = [np.asarray(s, dtype=np.int64) for s in (X.span1, X.span2) if s is not None]
        for s in spans:
            if s.ndim != 2 or s.shape[1] != 2 or len(s) != len(spans[0]):
                raise DataFormatError("spans must be (n_targets, 2) [start, end) arrays of equal length")
            if len(s) and ((s[:, 0] < 0) | (s[:, 1] <= s[:, 0]) | (s[:, 1] > len(words))).any():
                raise DataFormatError("a span is empty or outside the word rows",
                                      expected="0 <= start < end <= n_words")
        return SpanInputs(words, spans[0], spans[1] if len(spans) > 1 else None)

    def _tensors(self, X: SpanInputs, device):
        spans = []
        for s in (X.span1, X.span2):
            if s is not None:
                rows, mask = _padded(s) if len(s) else (np.zeros((0, 1), np.int64), np.zeros((0, 1), bool))
                spans.append((torch.from_numpy(rows).to(device), torch.from_numpy(mask).to(device)))
        return torch.from_numpy(X.words).to(device), spans

    def fit(self, X: SpanInputs, y):
        """Fit on span inputs ``X`` and labels ``y`` (n_targets,)."""
        if self.pooling not in POOLINGS:
            raise DataFormatError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        X = self._check(X)
        y = np.asarray(y)
        if len(y) != len(X):
            raise DataFormatError(f"{len(X)} targets but {len(y)} labels")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataFormatError("the training set has only 1 class; a probe needs at least 2")
        seed = 0 if self.random_state is None else int(self.random_state)
        rng_state = torch.random.get_rng_state()  # nn.Linear init draws from the global RNG:
        torch.manual_seed(seed)  # seed it for reproducibility, restore it after building the net
        order = np.random.default_rng(seed).permutation(len(y))
        n_val = int(round(self.validation_fraction * len(y))) if self.early_stopping else 0
        val, train = order[:n_val], order[n_val:]
        device = _core.resolve_device(self.device)
        hidden = tuple(int(h) for h in np.atleast_1d(self.hidden_layer_sizes)) if len(
            np.atleast_1d(self.hidden_layer_sizes)) else ()
        n_spans = 1 if X.span2 is None else 2
        net = _SpanNet(X.words.shape[1], int(self.projection_dim), self.pooling, n_spans, hidden,
                       float(self.dropout), len(self.classes_)).to(device)
        torch.random.set_rng_state(rng_state)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.alpha)
        gen = torch.Generator().manual_seed(seed)
        target = torch.from_numpy(codes).to(device)
        sig = self.loss == "sigmoid"

        def loss_of(rows):
            words, spans = self._tensors(X.subset(rows), device)
            z = net(words, spans)
            t = target[torch.as_tensor(rows, device=device)]
            if sig:
                return F.binary_cross_entropy_with_logits(z, F.one_hot(t, z.shape[1]).float(),
                                                          reduction="sum") / len(rows)
            return F.cross_entropy(z, t)

        best, best_loss, bad = None, float("inf"), 0
        with _core._threads(device, self.batch_size * X.words.shape[1] * self.projection_dim):
            for epoch in range(int(self.max_epochs)):
                net.train()
                perm = train[torch.randperm(len(train), generator=gen).numpy()]
                for s in range(0, len(perm), int(self.batch_size)):
                    loss = loss_of(perm[s : s + int(self.batch_size)])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                self.n_iter_ = epoch + 1
                if not len(val):
                    continue
                net.eval()
                with torch.no_grad():
                    vl = float(loss_of(val))
                if vl < best_loss - self.tol:
                    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    best_loss, bad = vl, 0
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        if best is not None:
            net.load_state_dict(best)
        self.state_ = {k: v.cpu().numpy() for k, v in net.state_dict().items()}
        self.n_spans_, self.hidden_, self.n_features_in_ = n_spans, hidden, X.words.shape[1]
        return self

    def _net(self):
        net = _SpanNet(self.n_features_in_, int(self.projection_dim), self.pooling, self.n_spans_,
                       self.hidden_, 0.0, len(self.classes_))
        net.load_state_dict({k: torch.from_numpy(v) for k, v in self.state_.items()})
        return net.eval()

    def predict_proba(self, X: SpanInputs) -> np.ndarray:
        """Class probabilities (n_targets, n_classes) (sigmoid outputs renormalised)."""
        check_is_fitted(self)
        X = self._check(X)
        with torch.no_grad():
            z = self._net()(*self._tensors(X, torch.device("cpu"))).double()
        if self.loss == "sigmoid":
            p = torch.sigmoid(z)
            return (p / p.sum(1, keepdim=True)).numpy()
        return torch.softmax(z, 1).numpy()

    def predict(self, X: SpanInputs) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
