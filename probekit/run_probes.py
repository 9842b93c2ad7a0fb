"""Run probes over every layer for one task: extraction (cached) -> features -> batched probes
-> tidy score rows (:data:`probekit.scoring.SCORE_COLUMNS`).

>>> from probekit.run_probes import probe_task                                   # doctest: +SKIP
>>> scores = probe_task("minilm", train_sents, dev_sents, task="pos",            # doctest: +SKIP
...                     probes=("linear", "mlp"), control=True)
>>> per_layer_table(scores)                                                      # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from probekit.errors import ConfigError, ProbekitError
from probekit.extract.models import resolve_model
from probekit.probes import ScalarMixProbe, SpanInputs, fit_layers
from probekit.probes.mdl import mdl_block_ends, online_code
from probekit.probes.registry import PROBES, ProbeSpec, get_probe  # noqa: F401  (PROBES re-exported)
from probekit.scoring import (
    SCORE_COLUMNS,
    best_layer,
    bootstrap_ci,
    bootstrap_ratio_ci,
    center_of_gravity,
    expected_layer,
)

@dataclass
class Split:
    """Features ``X`` (n_layers, n, d), integer labels ``y`` and the label inventory; ``reps`` and
    ``data`` (the extraction and the task examples) feed probes that pool spans themselves."""

    X: np.ndarray
    y: np.ndarray
    labels: list[str]
    n_dropped: int = 0
    reps: Any = None
    data: Any = None

    def spans(self, index: int) -> SpanInputs:
        """Word vectors of layer ``index`` (a position in ``reps.layers``) and every target's span
        rows, for :class:`~probekit.probes.SpanProbe`."""
        from probekit.extract import span_word_rows

        bounds = []
        for which in ("span1", "span2") if self.data.kind == "span_pair" else ("span1",):
            rows, offsets = span_word_rows(self.reps, self.data, which=which)
            start = rows[offsets[:-1]]
            bounds.append(np.stack([start, start + np.diff(offsets)], axis=1))
        words = np.asarray(self.reps.layer(self.reps.layers[index]), dtype=np.float32)
        return SpanInputs(words, bounds[0], bounds[1] if len(bounds) > 1 else None)


def task_features(model, sentences, task, *, labels=None, layers="all", span_pooling="mean",
                  progress=True, device=None, **extract_options) -> tuple[Split, list[int]]:
    """Examples of ``task`` on ``sentences`` -> per-layer target features (cached extraction).

    ``extract_options`` go to :func:`probekit.extract.extract` (``word_pooling``,
    ``sentence_pooling``, ``dtype``, ``store_dtype``, ``max_tokens_per_batch``)."""
    from probekit.extract import extract, target_features

    data = task.examples(sentences, labels=labels)
    reps = extract(model, data.records, layers=layers, progress=progress, device=device, **extract_options)
    X = target_features(reps, data, span_pooling=span_pooling)
    dropped = int(data.stats.get("unknown_labels", 0))
    return Split(X, data.label_ids(), list(data.labels), dropped, reps, data), list(reps.layers)


def _row(**kw) -> dict:
    return {c: kw.get(c) for c in SCORE_COLUMNS}


def _check_sizes(train: Split, name: str) -> None:
    present = len(np.unique(train.y))
    if len(train.y) < len(train.labels):
        raise ProbekitError(
            f"task {name!r}: {len(train.y)} training examples for {len(train.labels)} labels; "
            "a probe needs more examples than classes (use more training sentences)"
        )
    if present < 2:
        raise ProbekitError(f"task {name!r}: the training split has a single label")


def probe_task(
    model,
    train_sentences: Sequence,
    eval_sentences: Sequence,
    *,
    task: str = "pos",
    probes: Sequence[str] = ("linear",),
    control: bool = False,
    mix: bool = True,
    layers="all",
    seeds: Sequence[int] = (0,),
    word_pooling: str = "mean",
    span_pooling: str = "mean",
    sentence_pooling: str | None = None,
    dtype: str = "float32",
    store_dtype: str = "float16",
    max_tokens_per_batch: int | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    mdl: bool = False,
    probe_params: dict | None = None,
    model_name: str | None = None,
    checkpoint: str = "",
    device: str | None = None,
    progress: bool = True,
    split: str = "eval",
    skip_inapplicable: bool = False,
) -> pd.DataFrame:
    """Train ``probes`` on every layer (one batched model per probe and seed) and score them.

    Rows (columns :data:`~probekit.scoring.SCORE_COLUMNS`):

    * per layer: ``accuracy`` (with a percentile-bootstrap CI at level ``confidence`` over eval
      examples) for the task and, with ``control``, for the Hewitt & Liang control task, plus
      ``selectivity`` (task - control, paired bootstrap CI); probe ``mix_cumulative`` (linear
      classifier on the scalar mix of layers 0..l) gives the curve behind ``expected_layer``.
    * structural probes (``inputs == "trees"``): their scores per layer (``uuas``, ``dspr`` /
      ``root_acc``, ``nspr``); with ``control``, the same on Hewitt & Liang-style control trees
      and ``selectivity`` (:func:`_structural_rows`).
    * with ``mdl``: ``mdl_codelength`` (bits) and ``mdl_compression`` (uniform / online
      codelength) per layer, for each probe, task and control, on the training split (Voita &
      Titov 2020; :func:`probekit.probes.mdl.online_code`, first seed).
    * summaries (empty ``layer``): ``best_layer``; ``expected_layer`` (E_delta of the cumulative
      mix); ``center_of_gravity`` and ``center_of_gravity_normed`` (E_s of the all-layer mix,
      raw and layer-norm corrected); ``mix_weight`` rows hold the mix weights per layer.

    ``word_pooling``, ``sentence_pooling`` (sentence tasks then use the extracted sentence
    vectors), ``dtype``, ``store_dtype`` and ``max_tokens_per_batch`` are passed to
    :func:`probekit.extract.extract`. ``probe_params`` maps a probe name to keyword arguments of
    its estimator. ``probes`` name entries of :data:`probekit.probes.registry.PROBES`; one that does
    not apply to ``task`` (e.g. ``span`` on a sentence task) is an error, or skipped with
    ``skip_inapplicable`` (a suite's probes run on the tasks they apply to). ``split`` names the
    evaluation sentences in the rows (``"dev"`` when the scores will choose layers).
    """
    from probekit.tasks import get_task

    specs = [get_probe(p) for p in probes]
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    t = get_task(task)
    inapplicable = [spec for spec in specs if not spec.applies_to(t)]
    if inapplicable and not skip_inapplicable:
        raise ConfigError("; ".join(f"probe {spec.name!r} applies to {spec.applies_to_text()}, not to the "
                                    f"{t.kind} task {task!r}" for spec in inapplicable))
    specs = [spec for spec in specs if spec.applies_to(t)]  # a suite's probes run where they apply
    name = model_name or str(model)
    if isinstance(model, (str, Path)):
        model = resolve_model(model)  # once, and before any data work: a bad path fails first
    extract_options = dict(word_pooling=word_pooling, sentence_pooling=sentence_pooling, dtype=dtype,
                           store_dtype=store_dtype, max_tokens_per_batch=max_tokens_per_batch)
    features = dict(layers=layers, span_pooling=span_pooling, progress=progress, device=device, **extract_options)
    train, layer_ids = task_features(model, train_sentences, t, **features)
    _check_sizes(train, task)
    evals, _ = task_features(model, eval_sentences, t, labels=train.labels, **features)
    runs = [(False, train, evals)]
    if control and any(spec.inputs != "trees" for spec in specs):
        ct = get_task(task, control=True)
        ctrain, _ = task_features(model, train_sentences, ct, **features)
        cevals, _ = task_features(model, eval_sentences, ct, labels=ctrain.labels, **features)
        runs.append((True, ctrain, cevals))
    base = dict(model=name, checkpoint=checkpoint, task=task, split=split)
    rows: list[dict] = []
    params = probe_params or {}
    for spec in specs:
        options = params.get(spec.name, {})
        if spec.inputs == "codelength":
            rows += _mdl_rows(base, spec, options, runs, layer_ids, seeds[0], device, progress, task)
            continue
        if spec.inputs == "trees":
            rows += _structural_rows(base, spec, options, model, train_sentences, eval_sentences, layer_ids, seeds,
                                     device, progress, extract_options, control=control, n_boot=n_boot,
                                     confidence=confidence)
            continue
        preds: dict = {}
        for seed in seeds:
            for is_control, tr, ev in runs:
                yhat = _fit_predict(spec, options, seed, device, tr, ev, layer_ids, progress,
                                    f"{task}{' control' if is_control else ''} {spec.name} seed {seed}")
                preds[(seed, is_control)] = (ev.y, yhat)
                accs = []
                for i, layer in enumerate(layer_ids):
                    v, lo, hi = bootstrap_ci(ev.y, yhat[i], n_boot=n_boot, level=confidence, seed=seed)
                    accs.append(v)
                    rows.append(_row(**base, control=is_control, probe=spec.name, layer=layer, seed=seed,
                                     metric="accuracy", value=v, ci_low=lo, ci_high=hi,
                                     n_train=len(tr.y), n_eval=len(ev.y)))
                rows.append(_row(**base, control=is_control, probe=spec.name, layer=None, seed=seed,
                                 metric="best_layer", value=layer_ids[best_layer(accs)],
                                 n_train=len(tr.y), n_eval=len(ev.y)))
            if len(runs) > 1 and len(runs[0][2].y) == len(runs[1][2].y):
                (yt, pt), (yc, pc) = preds[(seed, False)], preds[(seed, True)]
                for i, layer in enumerate(layer_ids):
                    v, lo, hi = bootstrap_ci(yt, pt[i], control=(yc, pc[i]), n_boot=n_boot, level=confidence,
                                             seed=seed)
                    rows.append(_row(**base, control=False, probe=spec.name, layer=layer, seed=seed,
                                     metric="selectivity", value=v, ci_low=lo, ci_high=hi,
                                     n_train=len(train.y), n_eval=len(yt)))
        if mdl and spec.inputs == "features":
            rows += _mdl_rows(base, spec, options, runs, layer_ids, seeds[0], device, progress, task)
    if mix and len(layer_ids) > 1:
        for seed in seeds:
            rows += _mix_rows(base, train, evals, layer_ids, seed, n_boot, confidence, device, progress, task)
    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    frame["layer"] = frame["layer"].astype("Int64")
    return frame


def _fit_predict(spec: ProbeSpec, options: dict, seed: int, device, tr: Split, ev: Split, layer_ids,
                 progress: bool, desc: str) -> np.ndarray:
    """Predictions (n_layers, n_eval) of ``spec`` trained on every layer of ``tr``: one batched
    model for pooled features, one model per layer for span probes."""
    if spec.inputs == "features":
        est = spec.make(random_state=seed, device=device or "auto", **options)
        bar = tqdm(total=est._max_epochs(), desc=f"{desc} ({len(layer_ids)} layers)", disable=not progress, leave=False)
        fitted = fit_layers(est, tr.X, tr.y, progress=bar)
        bar.close()
        return np.stack([p.predict(ev.X[i]) for i, p in enumerate(fitted)])
    out = []
    for i in tqdm(range(len(layer_ids)), desc=f"{desc} (per layer)", disable=not progress, leave=False):
        est = spec.make(random_state=seed, device=device or "auto", **options).fit(tr.spans(i), tr.y)
        out.append(est.predict(ev.spans(i)))
    return np.stack(out)


def _structural_rows(base, spec: ProbeSpec, options, model, train_sentences, eval_sentences, layer_ids, seeds,
                     device, progress, extract_options, *, control: bool = False, n_boot: int = 1000,
                     confidence: float = 0.95) -> list[dict]:
    """Hewitt & Manning probe on every layer: word vectors of the sentences that have a tree.

    With ``control``, the same probe is also fitted to the control trees of the same sentences
    (:class:`probekit.tasks.control.ControlTrees`, seed 0 like every control task): rows with
    ``control=True``, and per layer ``selectivity`` = headline score (UUAS, or root accuracy for
    the depth probe) minus the control's. The headline scores and the selectivity carry a
    percentile-bootstrap CI over evaluation sentences (paired for the selectivity: the same
    resampled sentences for both trees), as accuracies do over targets."""
    from probekit.extract import extract
    from probekit.tasks.control import ControlTrees

    splits = []
    for sentences in (train_sentences, eval_sentences):
        usable = [s for s in sentences if s.heads is not None and len(s.tokens)]
        if not usable:
            raise ProbekitError(f"task {base['task']!r}: probe {spec.name!r} needs dependency trees (heads); "
                                "no sentence of this split has one")
        reps = extract(model, usable, layers=layer_ids, progress=progress, device=device, **extract_options)
        splits.append((reps, [s.heads for s in usable], [s.tokens for s in usable]))
    (train_reps, train_heads, train_tokens), (eval_reps, eval_heads, eval_tokens) = splits
    trees = [(False, train_heads, eval_heads)]
    if control:
        controls = ControlTrees(seed=0)
        trees.append((True, [controls.heads(t) for t in train_tokens], [controls.heads(t) for t in eval_tokens]))

    def per_sentence(reps, layer):
        matrix, offsets = np.asarray(reps.layer(layer), dtype=np.float32), reps.text_offsets
        return [matrix[offsets[t]:offsets[t + 1]] for t in range(len(offsets) - 1)]

    rows = []
    common = dict(**base, probe=spec.name, n_train=len(train_heads), n_eval=len(eval_heads))
    for seed in seeds:
        for layer in tqdm(layer_ids, desc=f"{base['task']} {spec.name} seed {seed} (per layer)",
                          disable=not progress, leave=False):
            counts = {}
            for is_control, fit_heads, score_heads in trees:
                est = spec.make(random_state=seed, device=device or "auto", **options)
                est.fit(per_sentence(train_reps, layer), fit_heads)
                eval_x = per_sentence(eval_reps, layer)
                scores = est.score(eval_x, score_heads)
                counts[is_control] = est.sentence_counts(eval_x, score_heads)
                headline = "uuas" if "uuas" in scores else "root_acc"
                for metric, value in scores.items():
                    ci = (None, None)
                    if metric == headline:
                        _, *ci = bootstrap_ratio_ci(*counts[is_control], n_boot=n_boot, level=confidence, seed=seed)
                    rows.append(_row(**common, control=is_control, layer=layer, seed=seed, metric=metric,
                                     value=float(value), ci_low=ci[0], ci_high=ci[1]))
            if control:
                v, lo, hi = bootstrap_ratio_ci(*counts[False], control=counts[True], n_boot=n_boot,
                                               level=confidence, seed=seed)
                rows.append(_row(**common, control=False, layer=layer, seed=seed, metric="selectivity",
                                 value=v, ci_low=lo, ci_high=hi))
    return rows


def _mdl_rows(base, spec: ProbeSpec, options, runs, layer_ids, seed, device, progress, task):
    """Online codelength per layer of ``spec``'s estimator on each training split (task, control)."""
    rows = []
    for is_control, tr, _ in runs:
        est = spec.make(random_state=seed, device=device or "auto", **options)
        bar = tqdm(total=len(mdl_block_ends(len(tr.y))) - 1, desc=f"{task}{' control' if is_control else ''} "
                   f"{spec.name} MDL blocks", disable=not progress, leave=False)
        result = online_code(est, tr.X, tr.y, random_state=seed, progress=bar)
        bar.close()
        common = dict(**base, control=is_control, probe=spec.name, seed=seed, n_train=len(tr.y))
        common["split"] = "train"  # the online code transmits the training labels
        for layer, res in zip(layer_ids, result):
            rows.append(_row(**common, layer=layer, metric="mdl_codelength", value=res["codelength"]))
            rows.append(_row(**common, layer=layer, metric="mdl_compression", value=res["compression"]))
    return rows


def _mix_rows(base, train: Split, evals: Split, layer_ids, seed, n_boot, confidence, device, progress, task):
    est = ScalarMixProbe(cumulative=True, random_state=seed, device=device or "auto")
    bar = tqdm(total=est.max_epochs, desc=f"{task} cumulative scalar mix seed {seed}",
               disable=not progress, leave=False)
    est.fit(train.X, train.y, progress=bar)
    bar.close()
    yhat = est.predict_layers(evals.X)
    common = dict(**base, control=False, seed=seed, n_train=len(train.y), n_eval=len(evals.y))
    rows, curve = [], []
    for i, layer in enumerate(layer_ids):
        v, lo, hi = bootstrap_ci(evals.y, yhat[i], n_boot=n_boot, level=confidence, seed=seed)
        curve.append(v)
        rows.append(_row(**common, probe="mix_cumulative", layer=layer, metric="accuracy",
                         value=v, ci_low=lo, ci_high=hi))
    # Positions are layer indices into layer_ids; map back to hidden-state numbers.
    pos = expected_layer(curve)
    rows.append(_row(**common, probe="mix_cumulative", layer=None, metric="expected_layer",
                     value=float(np.interp(pos, np.arange(len(layer_ids)), layer_ids)) if np.isfinite(pos) else pos))
    weights = est.layer_weights_[-1]
    norms = np.array([np.linalg.norm(train.X[i], axis=1).mean() for i in range(len(layer_ids))])
    for i, layer in enumerate(layer_ids):
        rows.append(_row(**common, probe="mix", layer=layer, metric="mix_weight", value=float(weights[i])))
    for metric, nrm in (("center_of_gravity", None), ("center_of_gravity_normed", norms)):
        cg = center_of_gravity(weights, nrm)
        rows.append(_row(**common, probe="mix", layer=None, metric=metric,
                         value=float(np.interp(cg, np.arange(len(layer_ids)), layer_ids))))
    return rows


def per_layer_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Readable per-layer view: one row per (task, probe, layer) with the headline metric of that
    probe (``score [ci]``), control score and selectivity, averaged over seeds."""
    from probekit.analysis import primary_metric

    s = scores[scores["layer"].notna()]

    def fmt(g):
        lo, hi = g["ci_low"].mean(), g["ci_high"].mean()
        ci = f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
        return f"{g['value'].mean():.3f}{ci}"

    out = []
    for (task, probe), group in s.groupby(["task", "probe"], sort=True):
        metric = primary_metric(group, task, probe)
        if metric is None:
            continue
        head = group[group["metric"] == metric]
        for layer, g in head.groupby("layer", sort=True):
            task_rows = g[~g["control"].astype(bool)]
            ctrl = g[g["control"].astype(bool)]
            sel = group[(group["metric"] == "selectivity") & (group["layer"] == layer)]
            out.append({"task": task, "probe": probe, "layer": int(layer), "metric": metric,
                        "score [95% CI]": fmt(task_rows) if len(task_rows) else "",
                        "control": f"{ctrl['value'].mean():.3f}" if len(ctrl) else "",
                        "selectivity": f"{sel['value'].mean():.3f}" if len(sel) else ""})
    return pd.DataFrame(out)


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Layer-level summaries (best layer, E_delta, E_s ...), averaged over seeds."""
    s = scores[scores["layer"].isna()]
    return (s.groupby(["task", "probe", "control", "metric"], sort=True)["value"].mean()
            .reset_index())
