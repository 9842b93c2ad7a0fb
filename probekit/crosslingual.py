"""Where languages meet, layer by layer: cross-lingual analyses of any model on any aligned pair.

For a :class:`~probekit.data.parallel.ParallelCorpus` (source sentences, their translations and
word alignments) and a model, every layer gets three numbers, as rows of the scores table
(:data:`~probekit.scoring.SCORE_COLUMNS`):

* ``xling_cka``: linear CKA between the two languages' vectors of the aligned words
  (one-to-one links, token level);
* ``xling_retrieval``: word-translation retrieval: each source word type's mean vector
  retrieves its translation's by cosine nearest neighbour, after centring each language
  (:func:`~probekit.scoring.translation_retrieval`);
* ``xling_probe_transfer``: a linear probe trained on the source language's words at layer l
  (labels ``label_key``, e.g. UPOS), scored on the target language's words of held-out pairs at
  the same layer; ``xling_probe_source`` is the same probe on the source side of those pairs
  (the in-language reference).

Conneau et al. (2020) find cross-lingual similarity highest in the middle layers of multilingual
models; these curves show where it is in a model probekit pre-trains.

>>> from probekit.data.parallel import synthetic_parallel
>>> pc = synthetic_parallel(200, target="sov", seed=0)            # doctest: +SKIP
>>> crosslingual_scores("runs/xling/pretrain", pc)                # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from probekit.data.parallel import ParallelCorpus
from probekit.errors import ConfigError
from probekit.scoring import SCORE_COLUMNS, accuracy, linear_cka, translation_retrieval

XLING_METRICS = ("xling_cka", "xling_retrieval", "xling_probe_transfer", "xling_probe_source")


def probe_transfer(estimator: Any, X_train: np.ndarray, y_train: np.ndarray, X_source: np.ndarray,
                   y_source: np.ndarray, X_target: np.ndarray, y_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``estimator`` on every layer of the source language, score it on both languages.

    Parameters
    ----------
    estimator : probe (e.g. :class:`~probekit.probes.LinearProbe`), unfitted
    X_train : (n_layers, n, d) source-language training features; ``y_train`` (n,)
    X_source : (n_layers, m, d) held-out source features; ``y_source`` (m,)
    X_target : (n_layers, k, d) target-language features at the same layers; ``y_target`` (k,)

    Returns
    -------
    (source accuracy, target accuracy), each (n_layers,)
    """
    from probekit.probes import fit_layers

    fitted = fit_layers(estimator, X_train, y_train)
    src = np.array([accuracy(y_source, p.predict(X_source[i])) for i, p in enumerate(fitted)])
    tgt = np.array([accuracy(y_target, p.predict(X_target[i])) for i, p in enumerate(fitted)])
    return src, tgt


def _probe_rows(base: dict, task: str, layers: Sequence[int], source: str, target: str, src_acc: np.ndarray,
                tgt_acc: np.ndarray, n_train: int, n_source: int, n_target: int) -> list[dict]:
    """The ``xling_probe_transfer`` (target) and ``xling_probe_source`` rows of one probe, per layer."""
    out = []
    for i, layer in enumerate(layers):
        common = dict(base, task=task, probe="linear", layer=layer, n_train=n_train)
        out.append(dict(common, split=target, metric="xling_probe_transfer", value=float(tgt_acc[i]), n_eval=n_target))
        out.append(dict(common, split=source, metric="xling_probe_source", value=float(src_acc[i]), n_eval=n_source))
    return out


def _labelled(sents: list, label_key: str, rows: np.ndarray, index: dict[str, int] | None = None,
              side: str = "source") -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The ``rows`` (global word rows of ``sents``) whose label the probe can know, and their label
    ids. ``index`` (label -> id) is made from these words when not given; held-out words whose
    label the training words never had cannot be right and are left out, as are words labelled
    ``_`` (unannotated)."""
    if any(getattr(s, label_key, None) is None for s in sents):
        raise ConfigError(f"probe transfer on {label_key!r}: the {side} sentences lack that layer; "
                          "fix: pass label_key=None or corpora annotated with it")
    labels = [lab for s in sents for lab in getattr(s, label_key)]
    if index is None:
        index = {lab: i for i, lab in enumerate(sorted({labels[i] for i in rows} - {"_"}))}
    kept = np.array([i for i in rows if labels[i] in index], dtype=np.int64)
    return kept, np.array([index[labels[i]] for i in kept], dtype=np.int64), index


def _type_means(Xs: np.ndarray, Xt: np.ndarray, keys: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, list]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[k].append(i)
    order = sorted(groups)
    ms = np.stack([Xs[groups[k]].mean(axis=0) for k in order])
    mt = np.stack([Xt[groups[k]].mean(axis=0) for k in order])
    return ms, mt, [k[1] for k in order]


def crosslingual_scores(
    model: Any,
    parallel: ParallelCorpus,
    *,
    layers: Any = "all",
    label_key: str | Sequence[str] | None = "upos",
    train_fraction: float = 0.5,
    seed: int = 0,
    center: bool = True,
    max_pairs: int = 20000,
    model_name: str | None = None,
    checkpoint: str = "",
    device: str | None = None,
    progress: bool = False,
    **extract_options: Any,
) -> pd.DataFrame:
    """Per-layer cross-lingual rows (see the module docstring) for ``model`` on ``parallel``.

    Parameters
    ----------
    model : anything :func:`probekit.extract.extract` takes (folder, ``minilm``, ...)
    parallel : ParallelCorpus
    label_key : str, list of str or None
        Word-level label layer(s) of :class:`~probekit.data.records.Sentence` (``upos``, ``xpos``,
        ``deprels``, ``udeprels``) for probe transfer, one probe each; both languages must have
        them. ``None``: no probe rows.
    train_fraction : float
        Share of the pairs (the first ones) whose source side trains the probe; the rest are
        the held-out pairs it is scored on. CKA and retrieval use every pair.
    max_pairs : int
        At most this many aligned word pairs (the first ones) enter CKA.
    extract_options
        Passed to :func:`probekit.extract.extract` (``word_pooling``, ``dtype`` ...).

    Returns
    -------
    DataFrame with :data:`~probekit.scoring.SCORE_COLUMNS`; ``task`` is ``xling:SRC-TGT`` (CKA,
    retrieval) or ``xling:SRC-TGT:LABEL`` (probe rows), ``split`` the language scored.
    """
    from probekit.extract import extract
    from probekit.probes import LinearProbe

    if len(parallel) < 2:
        raise ConfigError("cross-lingual scores need at least 2 sentence pairs")
    if not 0 < train_fraction < 1:
        raise ConfigError(f"train_fraction must be in (0, 1), got {train_fraction}")
    src_lang, tgt_lang = parallel.source[0].lang, parallel.target[0].lang
    pair = f"xling:{src_lang}-{tgt_lang}"
    name = model_name or str(model)
    reps_s = extract(model, parallel.source, layers=layers, progress=progress, device=device, **extract_options)
    reps_t = extract(model, parallel.target, layers=layers, progress=progress, device=device, **extract_options)
    rows_s, rows_t = parallel.word_pairs(one_to_one=True)
    words_s = [w.lower() for s in parallel.source for w in s.tokens]
    words_t = [w.lower() for t in parallel.target for w in t.tokens]
    keys = [(words_s[a], words_t[b]) for a, b in zip(rows_s, rows_t)]

    label_keys = [] if label_key is None else [label_key] if isinstance(label_key, str) else list(label_key)
    probe_data = {}
    cut = max(1, min(len(parallel) - 1, int(len(parallel) * train_fraction)))
    src_off, tgt_off = reps_s.text_offsets, reps_t.text_offsets
    for key in label_keys:
        train_rows, y_tr, index = _labelled(parallel.source, key, np.arange(src_off[0], src_off[cut]))
        src_eval, y_src, _ = _labelled(parallel.source, key, np.arange(src_off[cut], src_off[-1]), index)
        tgt_eval, y_tgt, _ = _labelled(parallel.target, key, np.arange(tgt_off[cut], tgt_off[-1]), index,
                                       side="target")
        probe_data[key] = (train_rows, src_eval, tgt_eval, y_tr, y_src, y_tgt)

    out = []
    base = dict(model=name, checkpoint=checkpoint, seed=seed)
    feats_s, feats_t = [], []
    for layer in reps_s.layers:
        Xs = np.asarray(reps_s.layer(layer), dtype=np.float32)
        Xt = np.asarray(reps_t.layer(layer), dtype=np.float32)
        n_cka = min(len(rows_s), max_pairs)
        out.append(dict(base, task=pair, layer=layer, split=tgt_lang, metric="xling_cka",
                        value=linear_cka(Xs[rows_s[:n_cka]], Xt[rows_t[:n_cka]]), n_eval=n_cka))
        ms, mt, labels = _type_means(Xs[rows_s], Xt[rows_t], keys)
        out.append(dict(base, task=pair, layer=layer, split=tgt_lang, metric="xling_retrieval",
                        value=translation_retrieval(ms, mt, labels=labels, center=center), n_eval=len(ms)))
        if probe_data:
            feats_s.append(Xs)
            feats_t.append(Xt)
    for key, (train_rows, src_eval, tgt_eval, y_tr, y_src, y_tgt) in probe_data.items():
        src_acc, tgt_acc = probe_transfer(
            LinearProbe(random_state=seed, device=device or "auto"),
            np.stack([X[train_rows] for X in feats_s]), y_tr,
            np.stack([X[src_eval] for X in feats_s]), y_src,
            np.stack([X[tgt_eval] for X in feats_t]), y_tgt)
        out += _probe_rows(base, f"{pair}:{key}", reps_s.layers, src_lang, tgt_lang, src_acc, tgt_acc,
                           len(train_rows), len(src_eval), len(tgt_eval))
    frame = pd.DataFrame([{c: r.get(c) for c in SCORE_COLUMNS} for r in out], columns=list(SCORE_COLUMNS))
    frame["layer"] = frame["layer"].astype("Int64")
    return frame


def probe_transfer_scores(
    model: Any,
    train: list,
    source_eval: list,
    targets: dict[str, list],
    *,
    source: str = "src",
    label_keys: Sequence[str] = ("upos",),
    layers: Any = "all",
    seed: int = 0,
    model_name: str | None = None,
    checkpoint: str = "",
    device: str | None = None,
    progress: bool = False,
    **extract_options: Any,
) -> pd.DataFrame:
    """Per-layer probe transfer without parallel data: a linear probe trained on the source
    language's ``train`` sentences at layer l, scored on held-out source sentences
    (``xling_probe_source``) and on each target language's sentences (``xling_probe_transfer``)
    at the same layer, e.g. UD English EWT -> UD French GSD. CKA and retrieval need aligned
    words, so only the probe rows are made.

    Parameters
    ----------
    model : anything :func:`probekit.extract.extract` takes
    train, source_eval : list of Sentence
        Source-language sentences carrying every label layer of ``label_keys``.
    targets : dict
        Target language name -> its annotated sentences.
    source : str
        The source language's name (rows' ``task`` is ``xling:SOURCE-TARGET:LABEL``).
    label_keys : sequence of str
        Word-level label layers of :class:`~probekit.data.records.Sentence` (``upos``,
        ``udeprels`` ...), one probe each; the label sets of universal schemes are shared.

    Returns
    -------
    DataFrame with :data:`~probekit.scoring.SCORE_COLUMNS`, ``split`` the language scored.
    """
    from probekit.extract import extract
    from probekit.probes import LinearProbe, fit_layers

    if not train or not source_eval or not targets or not all(targets.values()):
        raise ConfigError("probe transfer needs source training sentences, held-out source sentences and "
                          "at least one non-empty target corpus")

    def layer_feats(sents):
        reps = extract(model, sents, layers=layers, progress=progress, device=device, **extract_options)
        return reps.layers, [np.asarray(reps.layer(layer), dtype=np.float32) for layer in reps.layers]

    layer_ids, X_train = layer_feats(train)
    _, X_src = layer_feats(source_eval)
    X_tgt = {lang: layer_feats(sents)[1] for lang, sents in targets.items()}
    base = dict(model=model_name or str(model), checkpoint=checkpoint, seed=seed)
    out = []
    for label_key in label_keys:
        rows, y_tr, index = _labelled(train, label_key, np.arange(len(X_train[0])))
        src_rows, y_src, _ = _labelled(source_eval, label_key, np.arange(len(X_src[0])), index)
        # One probe per layer and label, scored on every target language.
        fitted = fit_layers(LinearProbe(random_state=seed, device=device or "auto"),
                            np.stack([X[rows] for X in X_train]), y_tr)
        src_acc = np.array([accuracy(y_src, p.predict(X_src[i][src_rows])) for i, p in enumerate(fitted)])
        for lang, sents in targets.items():
            tgt_rows, y_tgt, _ = _labelled(sents, label_key, np.arange(len(X_tgt[lang][0])), index,
                                           side=f"target ({lang})")
            tgt_acc = np.array([accuracy(y_tgt, p.predict(X_tgt[lang][i][tgt_rows])) for i, p in enumerate(fitted)])
            out += _probe_rows(base, f"xling:{source}-{lang}:{label_key}", layer_ids, source, lang, src_acc, tgt_acc,
                               len(rows), len(src_rows), len(tgt_rows))
    frame = pd.DataFrame([{c: r.get(c) for c in SCORE_COLUMNS} for r in out], columns=list(SCORE_COLUMNS))
    frame["layer"] = frame["layer"].astype("Int64")
    return frame
