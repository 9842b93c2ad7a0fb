"""Layer-utility analysis: pure functions from the tidy scores table to tidy DataFrames.

Nothing here draws, writes files or trains a probe: every function takes the scores table (one row
per measurement, :data:`probekit.scoring.SCORE_COLUMNS`) and returns a DataFrame, so reports
(``probekit.report``), layer selection (``probekit.selection``) and notebooks share one reading of
the table.

* :func:`layer_curves`: headline score per layer, averaged over seeds.
* :func:`summarize`: one verdict row per model/checkpoint/task/probe (best, recommended layer ...).
* :func:`cka_matrices`: layer x layer CKA per model, from the ``probe="cka"`` rows.
* :func:`baseline_table`: each score beside its baselines (control task, layer 0, random weights).
* :func:`checkpoint_deltas` / :func:`checkpoint_similarity`: what each transfer step changed, per
  layer (score deltas; linear CKA between checkpoints).
* :func:`mix_profile`: Tenney et al.'s Figure 1 per task (mix weights, cumulative-score deltas,
  expected layer and centre of gravity).
* :func:`findings`: the summary in plain sentences with numbers.

Baselines in the table: ``control`` rows are Hewitt & Liang control tasks; layer 0 (the
embeddings) is in every sweep; a model named ``<name>:random`` is the random-weights baseline of
model ``<name>`` (``[baselines] random_weights``, :mod:`probekit.extract.random_weights`).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from probekit.extract.random_weights import RANDOM_SUFFIX
from probekit.transfer.steps import INIT, checkpoint_steps

# Preferred headline metric per task, first one present wins. These are the names probekit writes:
# probekit.scoring.METRICS ("accuracy", "f1_micro", "f1_macro"), jiant's "edge_f1", and the
# structural probe's scores (distance: "uuas", "dspr"; depth: "root_acc", "nspr") and the MDL
# probe's compression (uniform / online codelength; higher is better, like the others).
PRIMARY_METRICS = ("accuracy", "f1_micro", "edge_f1", "f1_macro", "uuas", "root_acc", "dspr", "nspr",
                   "mdl_compression", "xling_probe_transfer")
XLING_ORDER = ("xling_cka", "xling_retrieval", "xling_probe_transfer", "xling_probe_source")
GROUP = ["model", "checkpoint", "task", "probe"]


def _is_control(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "none", "0", "nan")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def prepare(scores: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``scores`` with optional columns filled, numeric layers and a boolean
    ``is_control`` (CSV round trips turn ``control`` into strings)."""
    df = scores.copy()
    for col in ("model", "checkpoint", "probe"):
        if col not in df:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    if "control" not in df:
        df["control"] = False
    df["is_control"] = df["control"].map(_is_control)
    df["layer"] = pd.to_numeric(df["layer"], errors="coerce")
    for col in ("ci_low", "ci_high"):
        if col not in df:
            df[col] = np.nan
    return df


def _is_curve_metric(metric: str) -> bool:
    """Per-layer rows that are not a score of the probe itself: CKA matrices, mix weights,
    selectivity (a difference) and raw codelengths (in bits, lower is better)."""
    return not (metric.startswith("cka") or metric in ("mix_weight", "selectivity", "mdl_codelength"))


def primary_metric(scores: pd.DataFrame, task: str, probe: str | None = None) -> str | None:
    """The headline metric of ``task`` (of one ``probe``, if given): the first of
    :data:`PRIMARY_METRICS` measured per layer, else the first other score in name order;
    ``None`` when the rows hold no score (only CKA or mix weights)."""
    mask = (scores["task"] == task) & scores["layer"].notna()
    if probe is not None:
        mask &= scores["probe"] == probe
    present = set(scores.loc[mask, "metric"])
    if not present:
        raise ValueError(f"task {task!r} has no per-layer rows in the scores table")
    for name in PRIMARY_METRICS:
        if name in present:
            return name
    others = sorted(m for m in present if _is_curve_metric(m))
    return others[0] if others else None


def layer_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-layer headline score, averaged over seeds.

    The headline metric is chosen per task and probe (accuracy for classifiers, UUAS for the
    structural probe, compression for MDL ...). Returns one row per (model, checkpoint, task,
    probe, is_control, layer) with columns ``metric, value, ci_low, ci_high, std, n_seeds``.
    """
    df = prepare(scores)
    per_layer = df[df["layer"].notna()]
    frames = []
    for (task, probe), group in per_layer.groupby(["task", "probe"], sort=True):
        metric = primary_metric(group, task, probe)
        if metric is None:
            continue
        sub = group[group["metric"] == metric]
        # Eval split only when splits are recorded: train scores would flatter every layer.
        if "split" in sub and sub["split"].notna().any():
            evals = sub[~sub["split"].isin(["train"])]
            sub = evals if len(evals) else sub
        agg = (
            sub.groupby(GROUP + ["is_control", "layer"], dropna=False)
            .agg(
                value=("value", "mean"),
                ci_low=("ci_low", "mean"),
                ci_high=("ci_high", "mean"),
                std=("value", "std"),
                n_seeds=("value", "size"),
            )
            .reset_index()
        )
        agg["metric"] = metric
        frames.append(agg)
    if not frames:
        return pd.DataFrame(columns=GROUP + ["is_control", "layer", "metric", "value"])
    out = pd.concat(frames, ignore_index=True)
    out["layer"] = out["layer"].astype(int)
    return in_table_order(out, scores)


def earliest_within_ci(curve: pd.DataFrame) -> int:
    """Earliest layer whose CI upper bound reaches the best mean score (columns ``layer, value,
    ci_high``; a missing interval counts as the value itself).

    >>> earliest_within_ci(pd.DataFrame({"layer": [0, 1, 2], "value": [0.5, 0.8, 0.82],
    ...                                  "ci_high": [0.55, 0.83, 0.84]}))
    1
    """
    best = curve["value"].max()
    # An interval that does not cover its own mean (means and bounds averaged over seeds) still
    # lets its layer count: the best layer always qualifies.
    reach = curve[np.maximum(curve["ci_high"].fillna(curve["value"]), curve["value"]) >= best]
    return int(reach["layer"].min())


def _summary_value(df: pd.DataFrame, keys: dict, metric: str) -> float:
    """Mean of a layer-level summary row; not keyed by probe, because expected layer and centre
    of gravity come from the task's scalar-mix probe, whichever probe the summary row is for."""
    mask = df["layer"].isna() & (df["metric"] == metric) & ~df["is_control"]
    for col, val in keys.items():
        if col != "probe":
            mask &= df[col] == val
    values = df.loc[mask, "value"]
    return float(values.mean()) if len(values) else float("nan")


def summarize(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, checkpoint, task, probe): the layer-utility verdict.

    Columns: ``metric, best_layer, best_score, best_ci_low, best_ci_high, control_score,
    selectivity, recommended_layer, expected_layer, center_of_gravity``.

    ``recommended_layer`` is the *earliest* layer whose confidence interval reaches the best
    score: statistically as good as the best layer and cheaper to compute as a feature (the
    forward pass can stop there). Without intervals it is the best layer.
    """
    df = prepare(scores)
    curves = layer_curves(scores)
    rows = []
    # Scalar-mix curves feed expected_layer/center_of_gravity; a "best layer" of a mix means nothing.
    probes_only = curves[~curves["is_control"] & ~curves["probe"].str.startswith("mix")]
    for keys, group in probes_only.groupby(GROUP, sort=True):
        key = dict(zip(GROUP, keys))
        group = group.sort_values("layer")
        best = group.loc[group["value"].idxmax()]
        recommended = earliest_within_ci(group)
        ctrl = curves[
            curves["is_control"]
            & (curves["task"] == key["task"])
            & (curves["probe"] == key["probe"])
            & (curves["model"] == key["model"])
            & (curves["checkpoint"] == key["checkpoint"])
            & (curves["layer"] == best["layer"])
        ]
        control_score = float(ctrl["value"].mean()) if len(ctrl) else float("nan")
        rows.append(
            {
                **key,
                "metric": best["metric"],
                "best_layer": int(best["layer"]),
                "best_score": float(best["value"]),
                "best_ci_low": float(best["ci_low"]),
                "best_ci_high": float(best["ci_high"]),
                "control_score": control_score,
                "selectivity": float(best["value"]) - control_score,
                "recommended_layer": recommended,
                "expected_layer": _summary_value(df, key, "expected_layer"),
                "center_of_gravity": _summary_value(df, key, "center_of_gravity"),
            }
        )
    return in_table_order(pd.DataFrame(rows), scores)


def in_table_order(frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by model and checkpoint as they first appear in ``scores`` (a transfer
    chain in training order, not alphabetically), then by task and probe."""
    if frame.empty:
        return frame
    df = prepare(scores)
    rank = {key: i for i, key in enumerate(dict.fromkeys(zip(df["model"], df["checkpoint"])))}
    order = frame.assign(_rank=[rank.get(k, len(rank)) for k in zip(frame["model"], frame["checkpoint"])])
    sort = ["_rank", *[c for c in ("task", "probe") if c in frame]]
    return order.sort_values(sort, kind="stable").drop(columns="_rank").reset_index(drop=True)


def cka_matrices(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Layer x layer linear CKA per model/checkpoint, from ``probe="cka"`` rows (``metric="cka_l{j}"``)."""
    df = prepare(scores)
    rows = df[(df["probe"] == "cka") & df["metric"].str.startswith("cka_l")].copy()
    out = {}
    for (model, ckpt), group in rows.groupby(["model", "checkpoint"]):
        group = group.assign(other=group["metric"].str[len("cka_l"):].astype(int))
        name = " / ".join(x for x in (model, ckpt) if x)
        out[name] = group.pivot_table(index="layer", columns="other", values="value").sort_index()
    return out


def comparison_view(table: pd.DataFrame) -> pd.DataFrame:
    """Readable BERT-Table-7-style view of a ``probekit.compare`` table: one row per strategy and
    head (and fine-tuning) with the test score, its CI and sd over seeds, the dev score that chose,
    the gap to fine-tuning with its standard error, and what each choice costs."""
    rows = []
    for _, r in table.iterrows():
        gap = "" if pd.isna(r["gap_to_finetune"]) else f"{r['gap_to_finetune']:+.3f} ± {r['gap_se']:.3f}"
        if r["family"] == "fine-tuning":
            gap = "(reference)"
        rows.append({"strategy": r["strategy"], "layers": r["layers"], "head": r["head"],
                     "test score [95% CI]": f"{r['score']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
                     "sd (seeds)": f"{r['sd']:.3f} ({int(r['n_seeds'])})", "dev": f"{r['dev_score']:.3f}",
                     "gap to FT": gap, "trainable": f"{int(r['trainable_params']):,}",
                     "train s": f"{r['train_s']:.1f}", "layers run": int(r["layers_run"]),
                     "tok/s": f"{r['tokens_per_s']:,.0f}", "speed-up": f"{r['speedup']:.2f}x"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Baselines, transfer and the findings in words


def is_random_baseline(model: str) -> bool:
    """Whether ``model`` names a random-weights baseline (``"minilm:random"``)."""
    return str(model).endswith(RANDOM_SUFFIX)


def baseline_source(model: str) -> str:
    """The model a random-weights baseline stands beside (``"minilm:random"`` -> ``"minilm"``);
    any other model is its own source."""
    return str(model)[: -len(RANDOM_SUFFIX)] if is_random_baseline(model) else str(model)


def _ordered(values: pd.Series) -> list:
    """Distinct values in first-seen order (a suite writes a chain's checkpoints in chain order)."""
    return list(dict.fromkeys(values.tolist()))


def baseline_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Each trained model's verdict (the :func:`summarize` row) beside its baselines, one row per
    (model, checkpoint, task, probe); random-weights models are baselines here, not rows.

    Added columns: ``layer0_score, gain_over_layer0`` (the embeddings: layer 0 of the sweep, NaN
    when the sweep skips it), ``random_best_layer, random_score, gain_over_random`` (the
    random-weights model's best layer for the same task and probe: a conservative comparison)
    and ``random_at_best_layer`` (its score at this row's best layer). The control task is in
    :func:`summarize`'s ``control_score`` and ``selectivity``.

    >>> rows = [dict(model=m, task="pos", probe="linear", layer=l, metric="accuracy", value=v)
    ...         for m, values in (("m", [0.6, 0.9, 0.8]), ("m:random", [0.55, 0.62, 0.58]))
    ...         for l, v in enumerate(values)]
    >>> baseline_table(pd.DataFrame(rows))[["best_layer", "gain_over_layer0", "random_score", "gain_over_random"]].round(2)
       best_layer  gain_over_layer0  random_score  gain_over_random
    0           1               0.3          0.62              0.28
    """
    summary = summarize(scores)
    added = ["layer0_score", "gain_over_layer0", "random_best_layer", "random_score", "gain_over_random",
             "random_at_best_layer"]
    if summary.empty:
        return pd.DataFrame(columns=[*summary.columns, *added])
    curves = layer_curves(scores)
    main = curves[~curves["is_control"]]
    rows = []
    for _, row in summary[~summary["model"].map(is_random_baseline)].iterrows():
        same = main[(main["task"] == row["task"]) & (main["probe"] == row["probe"])]
        own = same[(same["model"] == row["model"]) & (same["checkpoint"] == row["checkpoint"])]
        own = own.groupby("layer")["value"].mean()
        rand = same[same["model"] == f"{row['model']}{RANDOM_SUFFIX}"].groupby("layer")["value"].mean()
        out = row.to_dict()
        out["layer0_score"] = float(own.get(0, np.nan))
        out["gain_over_layer0"] = row["best_score"] - out["layer0_score"]
        out["random_best_layer"] = int(rand.idxmax()) if len(rand) else np.nan
        out["random_score"] = float(rand.max()) if len(rand) else np.nan
        out["gain_over_random"] = row["best_score"] - out["random_score"]
        out["random_at_best_layer"] = float(rand.get(row["best_layer"], np.nan))
        rows.append(out)
    return pd.DataFrame(rows, columns=[*summary.columns, *added])


def crosslingual_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The per-layer cross-lingual rows (:mod:`probekit.crosslingual`) side by side: one row per
    (model, checkpoint, language pair, probe labels, metric), one column per layer (mean over
    seeds); ``labels`` is the probe rows' label layer (``upos``, ``udeprels``; empty for CKA and
    retrieval). Empty without such rows."""
    df = prepare(scores)
    df = df[df["metric"].isin(XLING_ORDER) & df["layer"].notna()]
    if df.empty:
        return pd.DataFrame()
    parts = df["task"].str.split(":")
    df = df.assign(pair=parts.str[1], labels=parts.str[2].fillna(""), layer=df["layer"].astype(int))
    table = df.pivot_table(index=["model", "checkpoint", "pair", "labels", "metric"], columns="layer",
                           values="value", aggfunc="mean", sort=False).reset_index()
    table["order"] = table["metric"].map(XLING_ORDER.index)
    table = table.sort_values(["pair", "labels", "order"], kind="stable").drop(columns="order")
    table.columns = [f"layer {c}" if isinstance(c, (int, np.integer)) else c for c in table.columns]
    return table.reset_index(drop=True)


STEP_COLUMNS = ["model", "before", "after", "kind", "step"]
# Words for a step, by the later checkpoint's stage kind (probekit.transfer.steps.Step.kind).
STEP_NAMES = {"pretrain": "pre-training", "adapt": "domain adaptation", "finetune": "fine-tuning",
              INIT: "pre-trained vs random init"}


def step_label(before: str, after: str, kind: str) -> str:
    """``"general -> dapt"`` for a training step; ``"ft vs ft-random"`` for an init comparison."""
    return f"{after} vs {before}" if kind == INIT else f"{before} -> {after}"


def transfer_steps(scores: pd.DataFrame, config: dict | None = None) -> pd.DataFrame:
    """The checkpoint pairs a report compares, per model with two or more checkpoints.

    With the resolved suite ``config`` (a run's ``config.json``) and a ``[transfer]`` chain of that
    name, the pairs follow the chain's lineage (:func:`probekit.transfer.steps.checkpoint_steps`):
    each checkpoint against its parent, and a random-init fine-tune against its pre-trained twin
    of the same seed (``kind = "init"``), never two siblings. Without one, checkpoints are taken in
    the order they first appear in the table, each against the one before (``kind = ""``).

    Columns: ``model, before, after, kind, step`` (``step``: :func:`step_label`).
    """
    config = (config or {}).get("suite", config or {})  # some callers nest the suite's configuration
    transfer = config.get("transfer") or {}
    rows = []
    for model, order in _chain_models(scores).items():
        if transfer.get("stages") and transfer.get("name") == model:
            pairs = [(s.before, s.after, s.kind) for s in checkpoint_steps(transfer["stages"], order)]
        else:
            pairs = [(a, b, "") for a, b in zip(order, order[1:])]
        rows += [{"model": model, "before": a, "after": b, "kind": k, "step": step_label(a, b, k)} for a, b, k in pairs]
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


def checkpoint_deltas(scores: pd.DataFrame, steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-layer change of the headline score at each step of a chain (:func:`transfer_steps`;
    by default the table order).

    Columns: ``model, task, probe, metric, layer, previous, checkpoint, kind, step,
    previous_score, score, delta`` (``delta = score - previous_score``; for an init comparison
    ``checkpoint`` is the pre-trained arm, so the delta is what pre-training buys); empty when no
    model has two checkpoints.
    """
    steps = transfer_steps(scores) if steps is None else steps
    curves = layer_curves(scores)
    main = curves[~curves["is_control"] & ~curves["probe"].str.startswith("mix")]
    columns = ["model", "task", "probe", "metric", "layer", "previous", "checkpoint", "kind", "step",
               "previous_score", "score", "delta"]
    rows = []
    for (model, task, probe), group in main[main["model"].isin(set(steps["model"]))].groupby(
            ["model", "task", "probe"], sort=True):
        for step in steps[steps["model"] == model].itertuples(index=False):
            a = group[group["checkpoint"] == step.before].set_index("layer")["value"]
            b = group[group["checkpoint"] == step.after].set_index("layer")["value"]
            for layer in sorted(set(a.index) & set(b.index)):
                rows.append({"model": model, "task": task, "probe": probe, "metric": group["metric"].iloc[0],
                             "layer": int(layer), "previous": step.before, "checkpoint": step.after,
                             "kind": step.kind, "step": step.step, "previous_score": float(a[layer]),
                             "score": float(b[layer]), "delta": float(b[layer] - a[layer])})
    return pd.DataFrame(rows, columns=columns)


def checkpoint_similarity(scores: pd.DataFrame, steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Linear CKA between checkpoints of one model, per layer, from the ``probe="cka_checkpoints"``
    rows (``metric="cka_vs:<earlier checkpoint>"``; CKA is symmetric).

    Columns: ``model, checkpoint, other, layer, cka, kind, step``. A pair that is a step of
    :func:`transfer_steps` is oriented as the step (``other`` = before, ``checkpoint`` = after)
    and carries its ``kind`` and ``step`` label; ``step`` is ``""`` for every other pair."""
    columns = ["model", "checkpoint", "other", "layer", "cka", "kind", "step"]
    df = prepare(scores)
    rows = df[(df["probe"] == "cka_checkpoints") & df["metric"].str.startswith("cka_vs:")]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    out = (rows.assign(other=rows["metric"].str[len("cka_vs:"):], cka=rows["value"])
           .groupby(["model", "checkpoint", "other", "layer"], sort=False)["cka"].mean().reset_index())
    out["layer"] = out["layer"].astype(int)
    steps = transfer_steps(scores) if steps is None else steps
    found = {}
    for s in steps.itertuples(index=False):
        found[(s.model, s.after, s.before)] = (s.kind, s.step, False)
        found[(s.model, s.before, s.after)] = (s.kind, s.step, True)  # stored the other way round
    oriented = []
    for r in out.itertuples(index=False):
        kind, step, flip = found.get((r.model, r.checkpoint, r.other), ("", "", False))
        checkpoint, other = (r.other, r.checkpoint) if flip else (r.checkpoint, r.other)
        oriented.append({"model": r.model, "checkpoint": checkpoint, "other": other, "layer": r.layer,
                         "cka": r.cka, "kind": kind, "step": step})
    return pd.DataFrame(oriented, columns=columns)


def mix_profile(scores: pd.DataFrame) -> pd.DataFrame:
    """Tenney et al. (2019) Figure 1 per (model, checkpoint, task): per layer the scalar-mix
    weight and the gain of the cumulative mix over the layers below (``delta``), with the
    expected layer (E_delta) and centre of gravity (E_s) of the row's task.

    Columns: ``model, checkpoint, task, layer, mix_weight, delta, expected_layer, center_of_gravity``.
    """
    df = prepare(scores)
    df = df[~df["is_control"]]
    weights = df[(df["metric"] == "mix_weight") & df["layer"].notna()]
    cumulative = df[(df["probe"] == "mix_cumulative") & df["layer"].notna() & df["metric"].map(_is_curve_metric)]
    keys = ["model", "checkpoint", "task"]
    rows = []
    for key, group in cumulative.groupby(keys, sort=True):
        curve = group.groupby("layer")["value"].mean().sort_index()
        w = weights
        for col, val in zip(keys, key):
            w = w[w[col] == val]
        w = w.groupby("layer")["value"].mean()
        summary = {m: _summary_value(df, dict(zip(keys, key)), m) for m in ("expected_layer", "center_of_gravity")}
        previous = None
        for layer, value in curve.items():
            rows.append({**dict(zip(keys, key)), "layer": int(layer), "mix_weight": float(w.get(layer, np.nan)),
                         "delta": float(value - previous) if previous is not None else float("nan"), **summary})
            previous = value
    return pd.DataFrame(rows, columns=[*keys, "layer", "mix_weight", "delta", "expected_layer", "center_of_gravity"])


def _name(row: Any) -> str:
    """``"pos (linear, minilm)"``: a summary row's task, with its probe, model and checkpoint
    (those it has: a cross-lingual CKA row has no probe)."""
    detail = ", ".join(str(x) for x in (row["probe"], row["model"], row["checkpoint"]) if x)
    return f"{row['task']} ({detail})" if detail else str(row["task"])


def _chain_models(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Model -> its checkpoints in table order, for models with two or more."""
    df = prepare(scores)
    out = {}
    for model in _ordered(df["model"]):
        order = _ordered(df[df["model"] == model]["checkpoint"])
        if len(order) > 1:
            out[model] = order
    return out


# A per-layer change smaller than this counts as "unchanged" in the summary's transfer sentences
# (scores are fractions; a hundredth is below the bootstrap CI width of every shipped suite).
UNCHANGED = 0.01


def findings(scores: pd.DataFrame, selection: Iterable[str] = (), steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """The report's summary: findings in plain sentences with their numbers.

    Parameters
    ----------
    scores : DataFrame
        The tidy scores table.
    selection : iterable of str, optional
        The one-sentence recommendations of ``[selection]`` (:func:`probekit.compare.recommend`).
    steps : DataFrame, optional
        :func:`transfer_steps` (the chain's lineage); default: table order.

    Returns
    -------
    DataFrame
        Columns ``topic`` (``peak``, ``baselines``, ``transfer``, ``selection``) and ``sentence``,
        in reading order. A model with several checkpoints (a transfer chain) gets one peak and
        one baselines sentence per task and probe that name every checkpoint, and one
        ``transfer`` sentence per step saying, per task and probe, at which layers the score rose,
        fell or stayed within :data:`UNCHANGED` (with the numbers), and where the representations
        changed most by CKA.

    >>> rows = [dict(model="m", task="pos", probe="linear", layer=l, metric="accuracy", value=v, control=c)
    ...         for c, values in ((False, [0.6, 0.9, 0.8]), (True, [0.5, 0.6, 0.6])) for l, v in enumerate(values)]
    >>> for sentence in findings(pd.DataFrame(rows))["sentence"]:
    ...     print(sentence)
    pos (linear, m): accuracy peaks at layer 1 of layers 0-2 (0.900).
    pos (linear, m) beats its control task by +0.300 (selectivity; control 0.600); layer 0 by +0.300 (embeddings 0.600).
    """
    table = baseline_table(scores)
    chains = _chain_models(scores)
    curves = layer_curves(scores)
    sentences: list[tuple[str, str]] = []
    mixed: set = set()
    for _, row in table[~table["model"].isin(chains)].iterrows():
        layers = curves[(curves[GROUP] == row[GROUP]).all(axis=1)]["layer"]
        ci = (f" [{row['best_ci_low']:.3f}, {row['best_ci_high']:.3f}]"
              if pd.notna(row["best_ci_low"]) and pd.notna(row["best_ci_high"]) else "")
        text = (f"{_name(row)}: {row['metric']} peaks at layer {int(row['best_layer'])} of layers "
                f"{int(layers.min())}-{int(layers.max())} ({row['best_score']:.3f}{ci}).")
        if int(row["recommended_layer"]) != int(row["best_layer"]):
            text += f" Layer {int(row['recommended_layer'])} is as good within the confidence interval, and cheaper."
        task_key = (row["model"], row["checkpoint"], row["task"])
        if pd.notna(row["expected_layer"]) and pd.notna(row["center_of_gravity"]) and task_key not in mixed:
            # the task's scalar mix, whichever probe: said once per task
            mixed.add(task_key)
            text += (f" Scalar mix: expected layer {row['expected_layer']:.2f}, centre of gravity "
                     f"{row['center_of_gravity']:.2f}.")
        sentences.append(("peak", text))
        gains = []  # (gain, phrase)
        if pd.notna(row["selectivity"]):
            gains.append((row["selectivity"], f"its control task by {row['selectivity']:+.3f} (selectivity; control "
                                              f"{row['control_score']:.3f})"))
        if pd.notna(row["gain_over_layer0"]) and int(row["best_layer"]) != 0:
            gains.append((row["gain_over_layer0"], f"layer 0 by {row['gain_over_layer0']:+.3f} (embeddings "
                                                   f"{row['layer0_score']:.3f})"))
        if pd.notna(row["gain_over_random"]):
            gains.append((row["gain_over_random"], f"the random-weights model by {row['gain_over_random']:+.3f} "
                                                   f"(its best, layer {int(row['random_best_layer'])}: "
                                                   f"{row['random_score']:.3f})"))
        if gains:
            verb = "beats" if all(g > 0 for g, _ in gains) else "against its baselines:"
            sentences.append(("baselines", f"{_name(row)} {verb} " + "; ".join(p for _, p in gains) + "."))
    sentences += _chain_sentences(table, curves, chains)
    sentences += _transfer_sentences(scores, transfer_steps(scores) if steps is None else steps)
    sentences += [("selection", f"Which layers to use for {text}") for text in selection]
    return pd.DataFrame(sentences, columns=["topic", "sentence"])


def _layers_text(layers: Iterable[int]) -> str:
    """``[0, 1, 2, 4]`` -> ``"layers 0-2 and 4"``; ``[3]`` -> ``"layer 3"``."""
    layers = sorted(int(x) for x in layers)
    runs: list[list[int]] = []
    for layer in layers:
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    parts = [f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    words = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"layer{'s' if len(layers) > 1 else ''} {words}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _chain_sentences(table: pd.DataFrame, curves: pd.DataFrame, chains: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Per (model, task, probe) of a chain: where each checkpoint peaks, and how each checkpoint's
    best score compares with its baselines."""
    out: list[tuple[str, str]] = []
    mixed: set = set()
    rows = table[table["model"].isin(chains)]
    for (model, task, probe), group in rows.groupby(["model", "task", "probe"], sort=False):
        order = [c for c in chains[model] if c in set(group["checkpoint"])]
        group = group.set_index("checkpoint").loc[order]
        name = _name({"task": task, "probe": probe, "model": model, "checkpoint": ""})
        layers = curves[(curves["model"] == model) & (curves["task"] == task) & (curves["probe"] == probe)]["layer"]
        span = f"of layers {int(layers.min())}-{int(layers.max())}"
        best = group["best_layer"].astype(int)
        if best.nunique() == 1:
            values = _listing([f"{c} {group.loc[c, 'best_score']:.3f}" for c in order])
            text = f"{name}: {group['metric'].iloc[0]} peaks at layer {best.iloc[0]} {span} at every checkpoint ({values})."
        else:
            where = _listing([f"layer {best[c]} in {c} ({group.loc[c, 'best_score']:.3f})" for c in order])
            text = f"{name}: {group['metric'].iloc[0]} peaks at {where}, {span}."
        if (model, task) not in mixed and group["expected_layer"].notna().any():
            mixed.add((model, task))
            text += " Scalar mix, expected layer: " + _listing(
                [f"{c} {group.loc[c, 'expected_layer']:.2f}" for c in order if pd.notna(group.loc[c, "expected_layer"])]) + "."
        out.append(("peak", text))
        phrases = []
        for column, what in (("selectivity", "its control task"), ("gain_over_layer0", "layer 0"),
                             ("gain_over_random", "the random-weights model")):
            gains = group[column].dropna()
            if gains.empty:
                continue
            won = [c for c in gains.index if round(gains[c], 3) > 0]  # a gain that prints as +0.000 is none
            fmt = {c: f"{c} {gains[c]:+.3f}" for c in gains.index}
            if column == "gain_over_layer0":
                fmt.update({c: f"{c} (peaks at layer 0)" for c in gains.index if group.loc[c, "best_layer"] == 0})
            if len(won) == len(gains):
                lo, hi = gains.idxmin(), gains.idxmax()
                by = (f"by {gains[lo]:+.3f} ({lo}) to {gains[hi]:+.3f} ({hi})" if len(gains) > 1 and lo != hi
                      else f"by {gains[hi]:+.3f}")
                phrases.append(f"beats {what} at every checkpoint, {by}")
            elif won:
                lost = [c for c in gains.index if c not in won]
                phrases.append(f"beats {what} at {len(won)} of {len(gains)} checkpoints ({_listing([fmt[c] for c in won])}), "
                               f"not at {_listing([fmt[c] for c in lost])}")
            else:
                phrases.append(f"beats {what} at no checkpoint ({_listing([fmt[c] for c in gains.index])})")
        if phrases:
            out.append(("baselines", f"{name} " + "; ".join(phrases) + "."))
    return out


def _change_text(g: pd.DataFrame, up: str, down: str) -> str:
    """Where a per-layer change (columns ``layer, delta``) went up, down or stayed within
    :data:`UNCHANGED`, with the numbers."""
    g = g.sort_values("layer")
    rises, falls = g[g["delta"] >= UNCHANGED], g[g["delta"] <= -UNCHANGED]
    flat = g[g["delta"].abs() < UNCHANGED]
    if len(flat) == len(g):
        return f"stays within ±{UNCHANGED:g} at every layer"
    for part, verb in ((rises, up), (falls, down)):
        if len(part) == len(g):
            small = part.loc[part["delta"].abs().idxmin()]
            large = part.loc[part["delta"].abs().idxmax()]
            if f"{small['delta']:+.3f}" == f"{large['delta']:+.3f}":
                return f"{verb} by {large['delta']:+.3f} at every layer"
            return (f"{verb} at every layer, by {small['delta']:+.3f} (layer {int(small['layer'])}) to "
                    f"{large['delta']:+.3f} (layer {int(large['layer'])})")
    pieces = []
    for part, verb in ((rises, up), (falls, down)):
        if len(part) == 1:
            pieces.append(f"{verb} at layer {int(part['layer'].iloc[0])} ({part['delta'].iloc[0]:+.3f})")
        elif len(part):
            top = part.loc[part["delta"].abs().idxmax()]
            pieces.append(f"{verb} at {_layers_text(part['layer'])} (most at layer {int(top['layer'])}: "
                          f"{top['delta']:+.3f})")
    if len(flat):
        pieces.append(f"stays within ±{UNCHANGED:g} at {_layers_text(flat['layer'])}")
    return _listing(pieces)


def _transfer_sentences(scores: pd.DataFrame, steps: pd.DataFrame) -> list[tuple[str, str]]:
    deltas = checkpoint_deltas(scores, steps)
    similarity = checkpoint_similarity(scores, steps)
    out = []
    for step in steps.itertuples(index=False):
        rows = deltas[(deltas["model"] == step.model) & (deltas["step"] == step.step)]
        if step.kind == INIT:
            up, down = "is higher from pre-trained weights", "is lower from pre-trained weights"
            head = (f"{step.model}, fine-tuned from pre-trained weights vs from random init ({step.after} vs "
                    f"{step.before}, same seed and data)")
        else:
            up, down = "rises", "falls"
            what = STEP_NAMES.get(step.kind, "the step")
            head = f"{step.model}, {what} ({step.before} -> {step.after})"
        parts = [f"{_name({'task': task, 'probe': probe, 'model': '', 'checkpoint': ''})} {_change_text(g, up, down)}"
                 for (task, probe), g in rows.groupby(["task", "probe"], sort=True)]
        text = f"{head}: " + ("; ".join(parts) if parts else "no common probed layers")
        sim = similarity[(similarity["model"] == step.model) & (similarity["step"] == step.step)]
        if len(sim):
            low = sim.loc[sim["cka"].idxmin()]
            high = sim.loc[sim["cka"].idxmax()]
            if high["cka"] - low["cka"] < 0.0005:  # equal at the printed precision
                text += f". Linear CKA between the two is {low['cka']:.3f} at every layer"
            else:
                text += (f". Representations differ most at layer {int(low['layer'])} (CKA {low['cka']:.3f}) "
                         f"and least at layer {int(high['layer'])} (CKA {high['cka']:.3f})")
        out.append(("transfer", text + "."))
    return out
