"""Corpus statistics: sizes and label distributions per annotation layer and per probing task.

``describe`` backs ``probekit data stats PATH``; ``format_description`` renders it as text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from probekit.data.edges import EdgeRecord, ProbingData
from probekit.data.records import Sentence, group_documents
from probekit.errors import ProbekitError

TOKEN_LAYERS = ("upos", "xpos", "deprels")
SPAN_LAYERS = ("entities", "constituents", "srl", "relations")


def _counts(counter: Counter, name: str) -> pd.Series:
    series = pd.Series(counter, name=name, dtype="int64").sort_values(ascending=False, kind="stable")
    series.index.name = "label"
    return series


def describe(data, *, tasks: Mapping[str, Any] | None = None) -> dict:
    """Sizes and label distributions of a corpus.

    Parameters
    ----------
    data : str, Path, list of Sentence, list of EdgeRecord or ProbingData
        A path (file or folder, see :func:`probekit.data.load.read_corpus`) or records.
    tasks : mapping of name -> task, optional
        Also run these probing tasks (objects with ``examples(sentences)``, e.g. the registry
        ``probekit.tasks.TASKS``) where they apply, skipping ``morph_*`` (whose labels the
        ``feats`` layer already shows), and report their label distributions. The caller passes
        them because tasks sit a level above data: this module never imports them.

    Returns
    -------
    dict
        ``sentences``, ``tokens``, ``documents``, ``length`` (pandas ``describe()`` of words per
        sentence), ``layers`` (layer -> ``pd.Series`` of label counts), ``tasks`` (task ->
        ``pd.Series``), ``reader`` (the readers' skip/repair counts). For jiant records:
        ``records``, ``tokens``, ``targets`` and ``layers["targets"]``.
    """
    reader_stats: dict = {}
    if isinstance(data, (str, Path)):
        from probekit.data.load import read_corpus

        data = read_corpus(data)
        reader_stats = data.stats.get("files", {})
    if isinstance(data, ProbingData):
        data = data.records
    data = list(data)
    if not data:
        raise ProbekitError("nothing to describe: no sentences or records")
    if isinstance(data[0], EdgeRecord):
        return _describe_records(data, reader_stats)
    return _describe_sentences(data, reader_stats, tasks)


def _describe_records(records: Sequence[EdgeRecord], reader_stats: dict) -> dict:
    labels = Counter(t.label for r in records for t in r.targets)
    return {
        "records": len(records),
        "tokens": sum(len(r.tokens) for r in records),
        "targets": sum(labels.values()),
        "length": pd.Series([len(r.tokens) for r in records], name="words").describe(),
        "layers": {"targets": _counts(labels, "targets")},
        "tasks": {},
        "reader": reader_stats,
    }


def _describe_sentences(sentences: Sequence[Sentence], reader_stats: dict, tasks: Mapping | None) -> dict:
    layers: dict[str, pd.Series] = {}
    for layer in TOKEN_LAYERS:
        counter = Counter(v for s in sentences if getattr(s, layer) is not None for v in getattr(s, layer))
        if counter:
            layers[layer] = _counts(counter, layer)
    feats = Counter(f for s in sentences if s.feats is not None for bundle in s.feats if bundle != "_"
                    for f in bundle.split("|"))
    if feats:
        layers["feats"] = _counts(feats, "feats")
    for layer in SPAN_LAYERS:
        counter = Counter(item.label for s in sentences for item in getattr(s, layer))
        if counter:
            layers[layer] = _counts(counter, layer)
    mentions = sum(len(s.coref) for s in sentences)
    if mentions:
        layers["coref"] = _counts(Counter({"mentions": mentions}), "coref")
    keys = sorted({k for s in sentences for k in s.labels})
    for key in keys:
        layers[f"labels.{key}"] = _counts(Counter(s.labels[key] for s in sentences if key in s.labels), key)
    return {
        "sentences": len(sentences),
        "tokens": sum(len(s) for s in sentences),
        "documents": sum(1 for _ in group_documents(sentences)),
        "length": pd.Series([len(s) for s in sentences], name="words").describe(),
        "layers": layers,
        "tasks": _task_distributions(sentences, tasks) if tasks else {},
        "reader": reader_stats,
    }


def _task_distributions(sentences: Sequence[Sentence], tasks: Mapping[str, Any]) -> dict[str, pd.Series]:
    out = {}
    for name, task in tasks.items():
        if name.startswith("morph_"):
            continue
        try:
            data = task.examples(sentences)
        except ProbekitError:
            continue  # the data lacks this task's layer
        out[name] = _counts(Counter(t.label for r in data.records for t in r.targets), name)
    return out


def format_description(description: dict, *, top: int = 10) -> str:
    """Human-readable text of :func:`describe`'s result (``top`` labels per distribution)."""
    lines = []
    for key in ("sentences", "records", "tokens", "targets", "documents"):
        if key in description:
            lines.append(f"{key:>10}: {description[key]:,}")
    length = description["length"]
    lines.append(f"{'words/unit':>10}: mean {length['mean']:.1f}, min {length['min']:.0f}, max {length['max']:.0f}")
    for title, group in (("layer", description["layers"]), ("task", description["tasks"])):
        for name, series in group.items():
            total = int(series.sum())
            shown = ", ".join(f"{label} {count / total:.1%}" for label, count in series.head(top).items())
            more = f" (+{len(series) - top} more)" if len(series) > top else ""
            lines.append(f"{title} {name}: {len(series)} labels, {total:,} items: {shown}{more}")
    for file, counts in description.get("reader", {}).items():
        notes = {k: v for k, v in counts.items() if k not in ("sentences", "tokens", "records", "targets") and v}
        if notes:
            lines.append(f"reader {file}: " + ", ".join(f"{k}={v}" for k, v in notes.items()))
    return "\n".join(lines)
