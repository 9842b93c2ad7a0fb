"""Pick layers for feature extraction from the scores table.

Every strategy reads only the scores table (``probekit.report.layer_curves`` gives the per-layer
headline score averaged over seeds), so a table computed elsewhere can drive the choice.

========================  ==================================================================
strategy                  layers chosen
========================  ==================================================================
``best``                  the single layer with the highest mean score
``earliest``              the earliest layer whose confidence interval reaches the best score
                          (as good as the best, and the forward pass can stop there)
``top2`` / ``top3`` ...   the k best layers (concatenate or average their features)
``last``                  the last layer: the common default this tool exists to question
========================  ==================================================================
"""

from __future__ import annotations

import pandas as pd

from probekit.errors import ConfigError
from probekit.analysis import layer_curves

STRATEGIES = ("best", "earliest", "last", "topk")


def _task_curve(scores: pd.DataFrame, task: str, probe: str | None, model: str | None) -> pd.DataFrame:
    curves = layer_curves(scores)
    mask = (curves["task"] == task) & ~curves["is_control"]
    if probe is not None:
        mask &= curves["probe"] == probe
    if model is not None:
        mask &= curves["model"] == model
    curve = curves[mask]
    if curve.empty:
        raise ConfigError(f"no per-layer scores for task {task!r} (probe={probe}, model={model}) in the table")
    if curve["probe"].nunique() > 1 or curve["model"].nunique() > 1:
        raise ConfigError(f"task {task!r} has scores for several probes/models; pass probe= and model=")
    return curve.groupby("layer", as_index=False)[["value", "ci_low", "ci_high"]].mean().sort_values("layer")


def select_layers(
    scores: pd.DataFrame,
    task: str,
    strategy: str = "earliest",
    *,
    probe: str | None = None,
    model: str | None = None,
) -> list[int]:
    """Layers to use as features for ``task`` under ``strategy`` (see the module table).

    >>> import pandas as pd
    >>> table = pd.DataFrame({"task": "pos", "probe": "linear", "model": "m", "metric": "accuracy",
    ...     "layer": [0, 1, 2, 3], "value": [0.5, 0.8, 0.84, 0.83], "ci_low": [0.48, 0.78, 0.82, 0.81],
    ...     "ci_high": [0.52, 0.85, 0.86, 0.85]})
    >>> select_layers(table, "pos", "best"), select_layers(table, "pos", "earliest")
    ([2], [1])
    >>> select_layers(table, "pos", "top2"), select_layers(table, "pos", "last")
    ([2, 3], [3])
    """
    return choose_from_curve(_task_curve(scores, task, probe, model), strategy)


def choose_from_curve(curve: pd.DataFrame, strategy: str) -> list[int]:
    """Apply ``strategy`` to one per-layer curve (columns ``layer, value, ci_low, ci_high``)."""
    best_value = curve["value"].max()
    if strategy == "best":
        return [int(curve.loc[curve["value"].idxmax(), "layer"])]
    if strategy == "earliest":
        reach = curve[curve["ci_high"].fillna(curve["value"]) >= best_value]
        return [int(reach["layer"].min())]
    if strategy == "last":
        return [int(curve["layer"].max())]
    if strategy.startswith("top") and strategy[3:].isdigit():
        k = int(strategy[3:])
        return sorted(int(layer) for layer in curve.nlargest(k, "value")["layer"])
    raise ConfigError(f"unknown layer-selection strategy {strategy!r}; use best, earliest, last or topK (e.g. top3)")
