"""Feature-extraction task heads: frozen, combined layer vectors -> linear / MLP / BiLSTM -> label.

This is what a user builds once probing has said which layers to read: the encoder stays fixed,
the selected layers are combined (:func:`combine_layers`: one layer, concat, sum, mean or a
weighted mix) and a small head is trained on top, with early stopping on the dev split. BERT's
Table 7 (Devlin et al. 2019) uses exactly this setup, with a 2-layer BiLSTM head, to compare
layer choices with fine-tuning.

Heads see whole sentences, not pre-pooled targets, so a BiLSTM can contextualise the frozen
vectors before a token, span, span pair or sentence is pooled (mean over its words; span pairs
concatenate their two spans).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> words = rng.normal(size=(40, 4)).astype(np.float32)
>>> inputs = TargetInputs(words, np.arange(0, 41, 10), np.c_[np.arange(40), np.arange(1, 41)],
...                       text=np.repeat(np.arange(4), 10))
>>> y = (words[:, 0] > 0).astype(int)
>>> FeatureHead(head="linear", lr=0.05, max_epochs=60).fit(inputs, y).score(inputs, y) > 0.9
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from probekit.errors import ConfigError, DataFormatError
from probekit.probes._core import _threads, resolve_device

HEADS = ("linear", "mlp", "bilstm")


def combine_layers(mats: list[np.ndarray], combine: str, weights=None) -> np.ndarray:
    """One feature matrix from per-layer matrices ``(n, d)`` each.

    ``single`` / ``concat`` -> ``(n, k*d)``; ``sum``, ``mean`` and ``mix`` (``sum_l w_l h_l``)
    -> ``(n, d)``. Float32.

    >>> a, b = np.ones((2, 3)), 2 * np.ones((2, 3))
    >>> combine_layers([a, b], "concat").shape, float(combine_layers([a, b], "sum")[0, 0])
    ((2, 6), 3.0)
    >>> float(combine_layers([a, b], "mix", [0.25, 0.75])[0, 0])
    1.75
    """
    if not mats:
        raise ConfigError("combine_layers needs at least one layer")
    if combine in ("single", "concat"):
        if combine == "single" and len(mats) != 1:
            raise ConfigError(f"combine 'single' takes one layer, got {len(mats)}")
        return np.concatenate([np.asarray(m, dtype=np.float32) for m in mats], axis=1)
    if combine == "mix":
        if weights is None or len(weights) != len(mats):
            raise ConfigError("combine 'mix' needs one weight per layer")
        coeffs = [float(w) for w in weights]
    elif combine in ("sum", "mean"):
        coeffs = [1.0 / len(mats) if combine == "mean" else 1.0] * len(mats)
    else:
        raise ConfigError(f"unknown combine {combine!r}; valid: single, concat, sum, mean, mix")
    out = np.zeros(np.shape(mats[0]), dtype=np.float32)
    for c, m in zip(coeffs, mats):
        if c:
            out += np.float32(c) * np.asarray(m, dtype=np.float32)
    return out


@dataclass
class TargetInputs:
    """Word vectors of whole texts plus the targets to classify.

    Attributes
    ----------
    words : (n_words, d) float32
        Row ``text_offsets[t] + w`` is word ``w`` of text ``t``.
    text_offsets : (n_texts + 1,) int64
    span1 : (n_targets, 2) int64
        Absolute ``[start, end)`` word rows of each target (a token is one row; a sentence
        target spans its whole text).
    span2 : (n_targets, 2) int64 or None
        Second span of span-pair targets.
    text : (n_targets,) int64
        Text of each target.
    """

    words: np.ndarray
    text_offsets: np.ndarray
    span1: np.ndarray
    span2: np.ndarray | None = None
    text: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.text_offsets = np.asarray(self.text_offsets, dtype=np.int64)
        self.span1 = np.asarray(self.span1, dtype=np.int64).reshape(-1, 2)
        if self.span2 is not None:
            self.span2 = np.asarray(self.span2, dtype=np.int64).reshape(-1, 2)
        if self.text is None:
            self.text = np.searchsorted(self.text_offsets, self.span1[:, 0], side="right") - 1
        self.text = np.asarray(self.text, dtype=np.int64)
        if len(self.words) != self.text_offsets[-1]:
            raise DataFormatError(f"{len(self.words)} word vectors but text_offsets ends at {self.text_offsets[-1]}")
        spans = [self.span1] + ([self.span2] if self.span2 is not None else [])
        for s in spans:
            lo, hi = self.text_offsets[self.text], self.text_offsets[self.text + 1]
            bad = np.flatnonzero((s[:, 0] < lo) | (s[:, 1] > hi) | (s[:, 1] <= s[:, 0]))
            if len(bad):
                raise DataFormatError(f"target {bad[0]}: span {s[bad[0]].tolist()} is outside its text "
                                      f"[{lo[bad[0]]}, {hi[bad[0]]})", expected="start < end within the text")

    def __len__(self) -> int:
        return len(self.span1)

    @property
    def pair(self) -> bool:
        return self.span2 is not None


def _pool_mean(words: np.ndarray, spans: np.ndarray) -> np.ndarray:
    lengths = spans[:, 1] - spans[:, 0]
    if np.all(lengths == 1):
        return np.asarray(words[spans[:, 0]], dtype=np.float32)
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    rows = np.repeat(spans[:, 0] - offsets, lengths) + np.arange(lengths.sum())
    return (np.add.reduceat(np.asarray(words[rows], dtype=np.float32), offsets, axis=0)
            / lengths[:, None]).astype(np.float32)


def _pooled(inputs: TargetInputs) -> np.ndarray:
    parts = [_pool_mean(inputs.words, inputs.span1)]
    if inputs.pair:
        parts.append(_pool_mean(inputs.words, inputs.span2))
    return np.concatenate(parts, axis=1)


class _HeadNet(nn.Module):
    def __init__(self, d_in: int, n_classes: int, head: str, hidden: int, lstm_hidden: int,
                 dropout: float, pair: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(d_in, lstm_hidden, batch_first=True, bidirectional=True) if head == "bilstm" else None
        # Pooled features of span pairs arrive concatenated; a BiLSTM pools (and pairs) its own output.
        d = 2 * lstm_hidden * (2 if pair else 1) if self.lstm is not None else d_in
        if head == "mlp":
            self.out = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        else:
            self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(d, n_classes))

    def contextual(self, padded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, d)`` padded texts -> ``(sum(lengths), 2h)`` contextual word rows, text order."""
        packed = nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        mask = torch.arange(out.shape[1])[None, :] < lengths[:, None]
        return out[mask]


def _span_mean(rows: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Mean of ``rows[start:end]`` per span via a prefix sum (differentiable, no Python loop)."""
    prefix = torch.cat([rows.new_zeros(1, rows.shape[1]), rows.cumsum(0)])
    return (prefix[spans[:, 1]] - prefix[spans[:, 0]]) / (spans[:, 1] - spans[:, 0]).unsqueeze(1).to(rows.dtype)


class FeatureHead(ClassifierMixin, BaseEstimator):
    """A task head on frozen features, trained with Adam and early stopping on a dev split.

    Parameters
    ----------
    head : {"linear", "mlp", "bilstm"}
        ``bilstm`` (one bidirectional LSTM layer over each text, then a linear layer on the
        pooled targets) is the small version of BERT Table 7's feature-based head.
    hidden : int
        MLP hidden size.
    lstm_hidden : int
        LSTM hidden size per direction.
    dropout : float
    lr : float
    batch_size : int
        Targets per step (linear, mlp) or texts per step (bilstm).
    max_epochs, patience : int
        Stop after ``patience`` epochs without a better dev score; keep the best epoch's weights.
    standardize : bool
        Z-score every feature with training statistics, so layers of different norms (and
        sums of several layers) train alike.
    random_state : int
    device : str

    Attributes
    ----------
    classes_ : ndarray
    n_epochs_ : int
    best_dev_score_ : float
        Dev accuracy of the kept weights (nan without dev data).
    n_trainable_params_ : int
    fit_seconds_ : float
    """

    def __init__(self, head: str = "linear", *, hidden: int = 256, lstm_hidden: int = 64, dropout: float = 0.1,
                 lr: float = 2e-3, batch_size: int = 512, max_epochs: int = 20, patience: int = 3,
                 standardize: bool = True, random_state: int = 0, device: str = "cpu") -> None:
        self.head = head
        self.hidden = hidden
        self.lstm_hidden = lstm_hidden
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.standardize = standardize
        self.random_state = random_state
        self.device = device

    # -- data ----------------------------------------------------------------------------------
    def _features(self, inputs: TargetInputs) -> np.ndarray:
        """Pooled targets (linear, mlp) or standardised word rows (bilstm)."""
        if not isinstance(inputs, TargetInputs):
            raise DataFormatError(f"FeatureHead takes TargetInputs, got {type(inputs).__name__}")
        X = inputs.words if self.head == "bilstm" else _pooled(inputs)
        if self.standardize:
            X = (np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_
        return np.asarray(X, dtype=np.float32)

    def _fit_scaler(self, inputs: TargetInputs) -> None:
        X = inputs.words if self.head == "bilstm" else _pooled(inputs)
        X = np.asarray(X, dtype=np.float32)
        self.mean_ = X.mean(0) if self.standardize else np.zeros(X.shape[1], np.float32)
        scale = X.std(0) if self.standardize else np.ones(X.shape[1], np.float32)
        self.scale_ = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)

    def _logits(self, net: _HeadNet, X: torch.Tensor, inputs: TargetInputs, targets: np.ndarray) -> torch.Tensor:
        if self.head != "bilstm":
            return net.out(X[torch.as_tensor(targets)])
        texts = np.unique(inputs.text[targets])
        starts, ends = inputs.text_offsets[texts], inputs.text_offsets[texts + 1]
        lengths = torch.as_tensor(ends - starts)
        padded = nn.utils.rnn.pad_sequence([X[s:e] for s, e in zip(starts, ends)], batch_first=True)
        rows = net.contextual(padded, lengths)
        # Absolute word row -> row of the packed batch.
        new_start = np.zeros(len(texts), dtype=np.int64)
        np.cumsum((ends - starts)[:-1], out=new_start[1:])
        shift = dict(zip(texts.tolist(), (new_start - starts).tolist()))
        delta = np.array([shift[t] for t in inputs.text[targets]], dtype=np.int64)[:, None]
        pooled = [_span_mean(rows, torch.as_tensor(inputs.span1[targets] + delta))]
        if inputs.pair:
            pooled.append(_span_mean(rows, torch.as_tensor(inputs.span2[targets] + delta)))
        return net.out(torch.cat(pooled, dim=1))

    def _batches(self, inputs: TargetInputs, rng: np.random.Generator) -> list[np.ndarray]:
        n = len(inputs)
        if self.head != "bilstm":
            order = rng.permutation(n)
            return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        texts = rng.permutation(np.unique(inputs.text))
        per_text = np.split(np.argsort(inputs.text, kind="stable"), np.cumsum(np.bincount(
            inputs.text, minlength=len(inputs.text_offsets) - 1))[:-1])
        size = max(1, self.batch_size // 16)  # texts per step: 32 sentences at the default
        return [np.concatenate([per_text[t] for t in texts[i:i + size]]) for i in range(0, len(texts), size)]

    # -- estimator -----------------------------------------------------------------------------
    def fit(self, X: TargetInputs, y, *, X_dev: TargetInputs | None = None, y_dev=None) -> "FeatureHead":
        """Train on ``X``/``y``; with ``X_dev``/``y_dev``, stop early and keep the best dev epoch."""
        if self.head not in HEADS:
            raise ConfigError(f"unknown head {self.head!r}; valid: {', '.join(HEADS)}")
        y = np.asarray(y)
        if len(y) != len(X):
            raise DataFormatError(f"{len(X)} targets but {len(y)} labels")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataFormatError("the training split has a single label; a head needs at least 2")
        start = time.perf_counter()
        device = resolve_device(self.device)
        d_in = X.words.shape[1] * (2 if X.pair else 1)
        # An LSTM steps through time in small matmuls: more threads only contend (measured 8x slower
        # with 2 threads on a busy 2-core machine), so it always trains on one.
        step_macs = 0.0 if self.head == "bilstm" else float(self.batch_size * d_in * max(self.hidden, 64))
        with _threads(device, step_macs):
            torch.manual_seed(self.random_state)
            rng = np.random.default_rng(self.random_state)
            self._fit_scaler(X)
            feats = torch.as_tensor(self._features(X))
            net = _HeadNet(feats.shape[1], len(self.classes_), self.head, self.hidden, self.lstm_hidden,
                           self.dropout, X.pair).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            target = torch.as_tensor(codes, dtype=torch.long)
            dev = None
            if X_dev is not None and y_dev is not None:
                dev = (X_dev, torch.as_tensor(self._features(X_dev)), np.asarray(y_dev))
            best, best_state, stale, epochs = -np.inf, None, 0, 0
            for epoch in range(self.max_epochs):
                net.train()
                for batch in self._batches(X, rng):
                    loss = nn.functional.cross_entropy(self._logits(net, feats, X, batch), target[batch])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                epochs = epoch + 1
                if dev is None:
                    continue
                self.net_ = net
                score = float(np.mean(self._predict(dev[0], dev[1]) == dev[2]))
                if score > best + 1e-9:
                    best, stale = score, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
        self.net_ = net.eval()
        self.n_epochs_ = epochs
        self.best_dev_score_ = float(best) if dev is not None else float("nan")
        self.n_trainable_params_ = int(sum(p.numel() for p in net.parameters()))
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @torch.no_grad()
    def _predict(self, inputs: TargetInputs, feats: torch.Tensor) -> np.ndarray:
        self.net_.eval()
        step = 4096 if self.head != "bilstm" else 256
        out = []
        order = np.arange(len(inputs))
        for i in range(0, len(order), step):
            out.append(self._logits(self.net_, feats, inputs, order[i:i + step]).argmax(1).numpy())
        self.net_.train()
        return self.classes_[np.concatenate(out)] if out else self.classes_[:0]

    def predict(self, X: TargetInputs) -> np.ndarray:
        """Predicted labels, ``(n_targets,)``."""
        with _threads(resolve_device(self.device), 0.0 if self.head == "bilstm" else 1e9):
            return self._predict(X, torch.as_tensor(self._features(X)))
