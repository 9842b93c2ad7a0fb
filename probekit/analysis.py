"""Layer-utility analysis: pure functions from the tidy scores table to tidy DataFrames.

Nothing here draws, writes files or trains a probe: every function takes the scores table (one row
per measurement, :data:`probekit.scoring.SCORE_COLUMNS`) and returns a DataFrame, so reports
(``probekit.report``), layer selection (``probekit.selection``) and notebooks share one reading of
the table.

* :func:`layer_curves`: headline score per layer, averaged over seeds.
* :func:`summarize`: one verdict row per model/checkpoint/task/probe (best, recommended layer ...).
* :func:`cka_matrices`: layer x layer CKA per model, from the ``probe="cka"`` rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

# Preferred headline metric per task, first one present wins. These are the names probekit writes:
# probekit.scoring.METRICS ("accuracy", "f1_micro", "f1_macro"), jiant's "edge_f1", and the
# structural probe's scores (distance: "uuas", "dspr"; depth: "root_acc", "nspr") and the MDL
# probe's compression (uniform / online codelength; higher is better, like the others).
PRIMARY_METRICS = ("accuracy", "f1_micro", "edge_f1", "f1_macro", "uuas", "root_acc", "dspr", "nspr",
                   "mdl_compression")
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
    return not (metric.startswith("cka_l") or metric in ("mix_weight", "selectivity", "mdl_codelength"))


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
    return out


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
    return pd.DataFrame(rows)


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
