"""Pick layers for feature extraction from the scores table, on the dev split only.

Every strategy reads the tidy scores table (``probekit.scoring.SCORE_COLUMNS``) and returns a
:class:`LayerSelection`: which hidden states to read (0 = embeddings ... L = last block), how to
combine them, and what the choice rests on (the score rows it used, the table's fingerprint,
the model's fingerprint). It serialises to ``selection.json``; :func:`load_selection` reads it
back and checks it against the model it is applied to.

Data-driven strategies (the curve of one probe, mean over seeds, on the **dev** split):

=================  ==========================================================================
``best``           the layer with the highest score (ties go to the shallower layer)
``cost_aware``     the shallowest layer whose CI reaches the best score: as good as the best
                   within the noise, and the forward pass can stop there (alias ``earliest``)
``topK``           the K best layers, concatenated (``top3``)
``windowK``        the K contiguous layers with the best mean score, concatenated (``window3``)
``mix``            every layer, weighted by the learned scalar-mix probe's weights
=================  ==========================================================================

Baselines, the defaults users get from other tools:

=================  ==========================================================================
``last``           the last layer (HF ``feature-extraction``, sentence-transformers)
``second_last``    layer -2 (bert-as-service's default)
``last4_concat``   concat of the last four (BERT Table 7's best frozen setting)
``last4_sum``      sum of the last four
``mean_all``       mean of all layers (flair's default)
``embeddings``     layer 0, the non-contextual baseline
=================  ==========================================================================
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probekit.cache import fingerprint
from probekit.errors import ConfigError, ProbekitError
from probekit.io import atomic_write_text

DATA_DRIVEN = ("best", "cost_aware", "top3", "window3", "mix")
BASELINES = ("last", "second_last", "last4_concat", "last4_sum", "mean_all", "embeddings")
ALIASES = {"earliest": "cost_aware", "-2": "second_last", "layer0": "embeddings", "0": "embeddings",
           "concat_last4": "last4_concat", "sum_last4": "last4_sum"}
COMBINES = ("single", "concat", "sum", "mean", "mix")
SELECTION_VERSION = 1
_PARAMETRIC = re.compile(r"^(top|window)(\d+)$")


@dataclass
class LayerSelection:
    """Which layers to feed a downstream model, how to combine them, and why.

    Attributes
    ----------
    strategy : str
        Name of the strategy that chose (see the module tables).
    layers : list of int
        Hidden-state indices, ascending (0 = embeddings output, ``n_layers`` = last block).
    combine : {"single", "concat", "sum", "mean", "mix"}
        How the layers' vectors become one feature vector (``mix``: ``sum_l weights[l] * h_l``).
    weights : list of float or None
        Mix weights, one per entry of ``layers`` (``combine == "mix"`` only).
    task, model, probe, split : str
        Whose scores chose (the split is always a dev split, never test).
    n_layers : int
        Blocks of the model (hidden states ``0..n_layers``).
    score_rows : list of dict
        The per-layer curve the choice read: ``layer, value, ci_low, ci_high``.
    scores_fingerprint : str
        Content hash of the scores table.
    model_fingerprint, model_source : str or None
        Content hash and path of the model the scores came from, when known.
    """

    strategy: str
    layers: list[int]
    combine: str
    task: str = ""
    model: str = ""
    probe: str = ""
    split: str = "dev"
    n_layers: int = 0
    weights: list[float] | None = None
    score_rows: list[dict] = field(default_factory=list)
    scores_fingerprint: str = ""
    model_fingerprint: str | None = None
    model_source: str | None = None
    version: int = SELECTION_VERSION

    def __post_init__(self) -> None:
        if self.combine not in COMBINES:
            raise ConfigError(f"combine {self.combine!r} is not one of {COMBINES}")
        if not self.layers:
            raise ConfigError("a layer selection needs at least one layer")
        if self.combine == "single" and len(self.layers) != 1:
            raise ConfigError(f"combine 'single' takes one layer, got {self.layers}")
        if self.combine == "mix" and (self.weights is None or len(self.weights) != len(self.layers)):
            raise ConfigError("combine 'mix' needs one weight per layer")

    @property
    def depth(self) -> int:
        """Blocks a forward pass must run to produce every selected layer."""
        return max(self.layers)

    def describe(self) -> str:
        """``"layer 3"``, ``"concat of layers 3-6"`` ..."""
        if self.combine == "single":
            return f"layer {self.layers[0]}"
        span = (f"{self.layers[0]}-{self.layers[-1]}" if self.layers == list(range(self.layers[0], self.layers[-1] + 1))
                else ",".join(map(str, self.layers)))
        return f"{self.combine} of layers {span}"

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write ``selection.json`` atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def load_selection(path: str | Path, *, model_fingerprint: str | None = None) -> LayerSelection:
    """Read a ``selection.json``; with ``model_fingerprint``, refuse one made for another model."""
    path = Path(path)
    if not path.is_file():
        raise ProbekitError(f"selection file {path} not found; write one with `probekit select`")
    try:
        raw = json.loads(path.read_text("utf-8"))
        selection = LayerSelection(**raw)
    except (json.JSONDecodeError, TypeError) as err:
        raise ProbekitError(f"{path}: not a probekit selection file ({err}); write one with `probekit select`") from err
    if (model_fingerprint is not None and selection.model_fingerprint is not None
            and selection.model_fingerprint != model_fingerprint):
        raise ProbekitError(
            f"{path} was chosen from the scores of model {selection.model!r} (fingerprint "
            f"{selection.model_fingerprint}), not the model given (fingerprint {model_fingerprint}); "
            "probe this model and run `probekit select` on its scores")
    return selection


def strategy_names() -> list[str]:
    return [*DATA_DRIVEN, *BASELINES]


def canonical_strategy(name: str) -> str:
    """Normalise aliases; raise a clear error naming the valid strategies."""
    name = ALIASES.get(str(name).strip(), str(name).strip())
    if name in DATA_DRIVEN or name in BASELINES or _PARAMETRIC.match(name):
        return name
    raise ConfigError(f"unknown layer-selection strategy {name!r}; valid: {', '.join(strategy_names())} "
                      f"(topK / windowK take any K, e.g. top2, window4; aliases: {', '.join(ALIASES)})")


def scores_fingerprint(scores: pd.DataFrame) -> str:
    """Content hash of a scores table (independent of row and column order)."""
    table = scores.reindex(sorted(scores.columns), axis=1)
    table = table.sort_values(list(table.columns), kind="stable", na_position="first")
    return fingerprint(table.to_csv(index=False))


def _headline_metric(rows: pd.DataFrame) -> str:
    from probekit.analysis import primary_metric

    return primary_metric(rows, rows["task"].iloc[0])


def _pick(scores: pd.DataFrame, column: str, value: str | None, what: str, task: str) -> str:
    present = sorted(str(v) for v in scores[column].dropna().unique())
    if value is None:
        if len(present) != 1:
            raise ConfigError(f"task {task!r} has scores for several {what}s ({', '.join(present)}); choose one")
        return present[0]
    if value not in present:
        raise ConfigError(f"no {what} {value!r} for task {task!r} in the scores table; present: {', '.join(present)}")
    return value


def dev_curve(scores: pd.DataFrame, task: str, *, probe: str | None = None, model: str | None = None,
              split: str = "dev", n_layers: int | None = None) -> tuple[pd.DataFrame, dict]:
    """The per-layer curve a strategy reads: mean over seeds of the headline metric on ``split``.

    Returns the curve (columns ``layer, value, ci_low, ci_high``, one row per layer 0..L) and
    the resolved ``{"task", "model", "probe", "split", "metric", "n_layers"}``. Raises a
    :class:`ConfigError` naming the valid choices when the task, the split or a layer is missing.
    """
    if split == "test":
        raise ConfigError("layers are never chosen on the test split (that would report a selected "
                          "score as if it were held out); use the dev split")
    if "task" not in scores or task not in set(scores["task"]):
        present = sorted(set(scores["task"])) if "task" in scores else []
        raise ConfigError(f"task {task!r} is not in the scores table; tasks present: {', '.join(present) or 'none'}")
    rows = scores[(scores["task"] == task) & scores["layer"].notna()].copy()
    rows["probe"] = rows["probe"].fillna("").astype(str)
    rows["model"] = rows["model"].fillna("").astype(str)
    control = rows["control"].astype(str).str.lower().isin(("true", "1")) if "control" in rows else False
    rows = rows[~control]
    splits = sorted(str(s) for s in rows["split"].dropna().unique()) if "split" in rows else []
    if split not in splits:
        raise ConfigError(f"the scores of task {task!r} have no {split!r} split (splits present: "
                          f"{', '.join(splits) or 'none'}); probe with the dev split as evaluation data, "
                          "or name a non-test split with --split")
    rows = rows[rows["split"] == split]
    model = _pick(rows, "model", model, "model", task)
    rows = rows[rows["model"] == model]
    candidates = rows[~rows["probe"].str.startswith("mix")]
    if probe is None and "linear" in set(candidates["probe"]):
        probe = "linear"  # the probe the Tenney/Hewitt literature reads layer utility from
    probe = _pick(candidates, "probe", probe, "probe", task)
    rows = rows[rows["probe"] == probe]
    metric = _headline_metric(rows)
    rows = rows[rows["metric"] == metric]
    for col in ("ci_low", "ci_high"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce") if col in rows else np.nan
    rows["layer"] = rows["layer"].astype(int)
    curve = (rows.groupby("layer", as_index=False)[["value", "ci_low", "ci_high"]].mean()
             .sort_values("layer").reset_index(drop=True))
    top = int(n_layers if n_layers is not None else curve["layer"].max())
    missing = sorted(set(range(top + 1)) - set(curve["layer"]))
    if missing:
        raise ConfigError(f"the {split} scores of task {task!r} ({probe}, {model}) lack layer(s) {missing}; "
                          f"strategies compare every layer 0..{top}: probe with layers='all'")
    curve = curve[curve["layer"] <= top]
    return curve, {"task": task, "model": model, "probe": probe, "split": split, "metric": metric,
                   "n_layers": top}


def _mix_weights(scores: pd.DataFrame, info: dict) -> list[float]:
    rows = scores[(scores["task"] == info["task"]) & (scores["metric"] == "mix_weight")
                  & (scores["model"].fillna("").astype(str) == info["model"])]
    if "split" in rows and rows["split"].notna().any():
        rows = rows[rows["split"] == info["split"]]
    if rows.empty:
        raise ConfigError(f"strategy 'mix' needs the scalar-mix probe's weights (metric 'mix_weight') for task "
                          f"{info['task']!r}; probe with the mix enabled (drop --no-mix)")
    weights = rows.groupby(rows["layer"].astype(int))["value"].mean()
    return [float(weights.get(layer, 0.0)) for layer in range(info["n_layers"] + 1)]


def choose_from_curve(curve: pd.DataFrame, strategy: str, *, n_layers: int | None = None,
                      mix_weights: list[float] | None = None) -> tuple[list[int], str, list[float] | None]:
    """Apply ``strategy`` to one per-layer curve (columns ``layer, value, ci_low, ci_high``).

    Returns ``(layers, combine, weights)``.

    >>> import pandas as pd
    >>> c = pd.DataFrame({"layer": [0, 1, 2, 3], "value": [0.5, 0.8, 0.84, 0.84],
    ...                   "ci_low": [0.48, 0.78, 0.82, 0.82], "ci_high": [0.52, 0.85, 0.86, 0.86]})
    >>> [choose_from_curve(c, s)[0] for s in ("best", "cost_aware", "top2", "window2", "last")]
    [[2], [1], [2, 3], [2, 3], [3]]
    """
    strategy = canonical_strategy(strategy)
    curve = curve.sort_values("layer")
    layers = [int(x) for x in curve["layer"]]
    values = curve["value"].to_numpy(dtype=float)
    top = int(n_layers if n_layers is not None else max(layers))
    best_value = float(np.nanmax(values))
    # Ties go to the shallower layer: it is cheaper and the scores cannot tell them apart.
    best = layers[int(np.flatnonzero(np.isclose(values, best_value, rtol=0, atol=1e-12))[0])]
    if strategy == "best":
        return [best], "single", None
    if strategy == "cost_aware":
        from probekit.analysis import earliest_within_ci

        return [earliest_within_ci(curve)], "single", None
    match = _PARAMETRIC.match(strategy)
    if match:
        kind, k = match.group(1), int(match.group(2))
        if not 1 <= k <= len(layers):
            raise ConfigError(f"{strategy}: K must be between 1 and the {len(layers)} layers of the curve")
        if kind == "top":
            order = sorted(range(len(layers)), key=lambda i: (-values[i], layers[i]))
            chosen = sorted(layers[i] for i in order[:k])
        else:
            means = [values[i:i + k].mean() for i in range(len(layers) - k + 1)]
            start = int(np.argmax(means))  # first maximum: the shallower window
            chosen = layers[start:start + k]
        return chosen, ("single" if k == 1 else "concat"), None
    if strategy == "mix":
        if mix_weights is None:
            raise ConfigError("strategy 'mix' needs the scalar-mix weights")
        return list(range(top + 1)), "mix", [float(w) for w in mix_weights]
    last4 = list(range(max(0, top - 3), top + 1))
    return {
        "last": ([top], "single", None),
        "second_last": ([max(0, top - 1)], "single", None),
        "last4_concat": (last4, "concat", None),
        "last4_sum": (last4, "sum", None),
        "mean_all": (list(range(top + 1)), "mean", None),
        "embeddings": ([0], "single", None),
    }[strategy]


def select(scores: pd.DataFrame, task: str, strategy: str = "cost_aware", *, probe: str | None = None,
           model: str | None = None, split: str = "dev", n_layers: int | None = None,
           model_fingerprint: str | None = None, model_source: str | None = None) -> LayerSelection:
    """Choose feature layers for ``task`` with ``strategy`` from the ``split`` scores.

    >>> import pandas as pd
    >>> table = pd.DataFrame({"task": "pos", "probe": "linear", "model": "m", "metric": "accuracy",
    ...     "split": "dev", "control": False, "layer": [0, 1, 2, 3], "value": [0.5, 0.8, 0.84, 0.83],
    ...     "ci_low": [0.48, 0.78, 0.82, 0.81], "ci_high": [0.52, 0.85, 0.86, 0.85]})
    >>> select(table, "pos", "best").layers, select(table, "pos", "cost_aware").layers
    ([2], [1])
    >>> select(table, "pos", "last4_concat").describe()
    'concat of layers 0-3'
    """
    strategy = canonical_strategy(strategy)
    curve, info = dev_curve(scores, task, probe=probe, model=model, split=split, n_layers=n_layers)
    weights = _mix_weights(scores, info) if strategy == "mix" else None
    layers, combine, weights = choose_from_curve(curve, strategy, n_layers=info["n_layers"], mix_weights=weights)
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in curve.to_dict("records")]
    return LayerSelection(strategy=strategy, layers=layers, combine=combine, weights=weights,
                          task=task, model=info["model"], probe=info["probe"], split=split,
                          n_layers=info["n_layers"], score_rows=rows,
                          scores_fingerprint=scores_fingerprint(scores),
                          model_fingerprint=model_fingerprint, model_source=model_source)


def select_all(scores: pd.DataFrame, task: str, strategies: list[str] | None = None, **kw: Any) -> list[LayerSelection]:
    """Every strategy (default: all data-driven ones and all baselines) for one task."""
    return [select(scores, task, s, **kw) for s in (strategies or strategy_names())]


def select_layers(scores: pd.DataFrame, task: str, strategy: str = "cost_aware", **kw: Any) -> list[int]:
    """Layer numbers only (see :func:`select`)."""
    return select(scores, task, strategy, **kw).layers
