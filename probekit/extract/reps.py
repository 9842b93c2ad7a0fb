"""Reading extracted representations: :class:`LayerReps` and features for probing targets.

Row layout: word ``w`` of text ``t`` is row ``text_offsets[t] + w`` of every ``layer_XX.npy``
(texts in input order, words in order), so the words of a span are a contiguous block of rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from probekit.errors import DataFormatError, ProbekitError

SPAN_POOLINGS = ("mean", "max", "endpoints")


class LayerReps:
    """Lazily loaded, memory-mapped per-layer word (and sentence) vectors of one extraction.

    Attributes
    ----------
    layers : list of int
        Hidden-state indices kept (0 = embeddings output, L = last block).
    dim : int
        Hidden size.
    path : Path
        Folder holding ``manifest.json``, ``layer_XX.npy``, ``index.csv`` ...
    text_offsets : (n_texts + 1,) int64
        Row of the first word of each text.
    stats : dict
        Counts of everything special that happened (zero-subword words, empty texts, windows ...).
    """

    def __init__(self, path: str | Path, manifest: dict | None = None) -> None:
        self.path = Path(path)
        self.manifest = manifest or json.loads((self.path / "manifest.json").read_text("utf-8"))
        summary = self.manifest["summary"]
        self.layers: list[int] = list(summary["layers"])
        self.dim: int = int(summary["dim"])
        self.sentence_pooling: str | None = summary.get("sentence_pooling")
        self.stats: dict = dict(self.manifest.get("stats", {}))
        self.text_offsets: np.ndarray = np.load(self.path / "text_offsets.npy")
        self._index: pd.DataFrame | None = None

    @property
    def key(self) -> str:
        return self.manifest.get("key", "")

    @property
    def n_texts(self) -> int:
        return len(self.text_offsets) - 1

    @property
    def n_words(self) -> int:
        return int(self.text_offsets[-1])

    @property
    def index(self) -> pd.DataFrame:
        """One row per word: ``text`` (position in the input list), ``word`` (0-based),
        ``row`` (row in :meth:`layer`), ``n_subwords`` (0 marks a zero-subword word)."""
        if self._index is None:
            self._index = pd.read_csv(self.path / "index.csv")
        return self._index

    def _check_layer(self, layer: int) -> None:
        if layer not in self.layers:
            raise ProbekitError(f"layer {layer} was not extracted; available: {self.layers}")

    def layer(self, layer: int) -> np.ndarray:
        """Word vectors of one layer, ``(n_words, dim)``, memory-mapped (store dtype)."""
        self._check_layer(layer)
        return np.load(self.path / f"layer_{layer:02d}.npy", mmap_mode="r")

    def sentence(self, layer: int) -> np.ndarray | None:
        """Sentence vectors ``(n_texts, dim)`` if sentence pooling was requested, else ``None``."""
        self._check_layer(layer)
        file = self.path / f"sentence_{layer:02d}.npy"
        return np.load(file, mmap_mode="r") if self.sentence_pooling and file.exists() else None

    def rows(self, text: int, start: int = 0, end: int | None = None) -> np.ndarray:
        """Rows of words ``[start, end)`` of one text."""
        return np.arange(self.text_offsets[text] + start,
                         self.text_offsets[text] + (self.n_words_of(text) if end is None else end))

    def n_words_of(self, text: int) -> int:
        return int(self.text_offsets[text + 1] - self.text_offsets[text])

    def __repr__(self) -> str:
        return (f"LayerReps(n_texts={self.n_texts}, n_words={self.n_words}, layers={self.layers}, "
                f"dim={self.dim}, path='{self.path}')")


# ----------------------------------------------------------------------------- probing targets
def _check_against(reps: LayerReps, data) -> None:
    if reps.n_texts != len(data.records):
        raise ProbekitError(
            f"representations hold {reps.n_texts} texts but the task data has "
            f"{len(data.records)} records; extract from the same records (extract(model, data.records))"
        )
    lengths = np.diff(reps.text_offsets)
    expected = np.array([len(r.tokens) for r in data.records])
    bad = np.flatnonzero(lengths != expected)
    if len(bad):
        i = int(bad[0])
        raise ProbekitError(
            f"record {i} ({data.records[i].id}) has {expected[i]} words but its representations "
            f"{lengths[i]}: the representations come from different texts"
        )


def _span_bounds(reps: LayerReps, data, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Absolute ``[start, end)`` rows of span1/span2 of every target; validates the spans."""
    frame = data.targets_frame()
    rec = frame["record"].to_numpy()
    s = frame[f"{which}_start"].to_numpy()
    e = frame[f"{which}_end"].to_numpy()
    n = np.diff(reps.text_offsets)[rec] if len(rec) else np.zeros(0, dtype=np.int64)
    bad = np.flatnonzero((s < 0) | (e <= s) | (e > n))
    if len(bad):
        i = int(bad[0])
        record = data.records[rec[i]]
        raise DataFormatError(
            f"target {i} of task {data.task!r} (record {record.id}): {which} [{s[i]}, {e[i]}) is "
            f"outside the sentence of {n[i]} words ({len(bad)} such targets)",
            expected="0 <= start < end <= number of words",
            fix="rebuild the task examples from the same sentences",
        )
    base = reps.text_offsets[rec]
    return base + s, base + e


def span_word_rows(reps: LayerReps, data, *, which: str = "span1") -> tuple[np.ndarray, np.ndarray]:
    """Word rows of every target's span, for probes that learn their own span pooling
    (e.g. self-attentive pooling).

    Returns
    -------
    rows : (n_span_words,) int64
        Concatenated rows of the words of each target's span (``which`` = "span1" / "span2").
    offsets : (n_targets + 1,) int64
        Target ``i``'s words are ``reps.layer(l)[rows[offsets[i]:offsets[i + 1]]]``.
    """
    _check_against(reps, data)
    start, end = _span_bounds(reps, data, which)
    lengths = end - start
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rows = np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1])
    return rows, offsets


def _pool_spans(matrix: np.ndarray, start: np.ndarray, end: np.ndarray, how: str) -> np.ndarray:
    """``(n_spans, dim)`` (``2 * dim`` for endpoints) pooled over contiguous row blocks."""
    if how == "endpoints":
        return np.concatenate([matrix[start], matrix[end - 1]], axis=1).astype(np.float32)
    if np.all(end - start == 1):  # token targets: no pooling needed
        return np.asarray(matrix[start], dtype=np.float32)
    lengths = end - start
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    rows = np.repeat(start - offsets, lengths) + np.arange(lengths.sum())
    block = np.asarray(matrix[rows], dtype=np.float32)
    if how == "mean":
        return np.add.reduceat(block, offsets, axis=0) / lengths[:, None]
    return np.maximum.reduceat(block, offsets, axis=0)


def target_features(reps: LayerReps, data, *, span_pooling: str = "mean",
                    layers: list[int] | None = None) -> np.ndarray:
    """Feature matrix of every probing target, per layer.

    Parameters
    ----------
    reps : LayerReps
        Extracted from ``data.records`` (same order).
    data : ProbingData
        Task examples; rows follow ``data.targets_frame()``.
    span_pooling : {"mean", "max", "endpoints"}
        How a span's word vectors become one vector (token targets are single words).
    layers : list of int, optional
        Subset of ``reps.layers`` (default all).

    Returns
    -------
    (n_layers, n_targets, feat_dim) float32
        ``feat_dim`` is ``dim`` (token, span, sentence), ``2 * dim`` for span pairs
        (``concat(span1, span2)``), doubled again with ``endpoints``. Sentence targets use the
        extracted sentence vectors, or the mean of the words when none were extracted
        (zeros for a text without words).
    """
    if span_pooling not in SPAN_POOLINGS:
        raise ProbekitError(f"span_pooling must be one of {SPAN_POOLINGS}, got {span_pooling!r}")
    layers = list(reps.layers if layers is None else layers)
    for layer in layers:
        reps._check_layer(layer)
    _check_against(reps, data)
    n_targets = len(data)
    if data.kind == "sentence":
        rec = data.targets_frame()["record"].to_numpy()
        out = np.zeros((len(layers), n_targets, reps.dim), dtype=np.float32)
        for k, layer in enumerate(layers):
            sent = reps.sentence(layer)
            if sent is not None:
                out[k] = sent[rec]
                continue
            start, end = reps.text_offsets[rec], reps.text_offsets[rec + 1]
            has = end > start
            if has.any():
                out[k, has] = _pool_spans(reps.layer(layer), start[has], end[has], "mean")
        return out
    spans = [_span_bounds(reps, data, "span1")]
    if data.kind == "span_pair":
        spans.append(_span_bounds(reps, data, "span2"))
    how = "mean" if data.kind == "token" else span_pooling
    parts_per_layer = []
    for layer in layers:
        matrix = reps.layer(layer)
        parts = [_pool_spans(matrix, s, e, how) if n_targets else
                 np.zeros((0, reps.dim * (2 if how == "endpoints" else 1)), np.float32)
                 for s, e in spans]
        parts_per_layer.append(np.concatenate(parts, axis=1))
    return np.stack(parts_per_layer).astype(np.float32, copy=False)
