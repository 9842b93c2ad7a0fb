"""Layer-utility reports, built from the scores table alone (rendering only: the numbers come
from the pure DataFrame functions of :mod:`probekit.analysis`).

A report never re-runs a probe: it reads the tidy scores table (one row per measurement, see
``probekit.scoring``), so a table produced on another machine can be reported here. It writes

* a summary at the top: the findings in plain sentences with numbers (:func:`probekit.analysis.findings`),
* ``scores.csv`` (the table itself), ``summary.csv`` (one row per model/checkpoint/task/probe)
  and ``baselines.csv`` (each score beside its control task, layer 0 and random weights),
* ``layer_curves.png`` (one panel per task and probe: score per layer with confidence bands;
  control task dashed, random-weights baseline grey dotted, layer 0 a grey line),
* ``task_layer_heatmap.png`` (where in the network each task peaks),
* ``mix_profile.png`` (Tenney et al. 2019 Figure 1: scalar-mix weights, cumulative-score gains,
  expected layer and centre of gravity per task), ``selectivity.png``, ``mdl.png``,
* ``layer_similarity_cka.png``, and for transfer chains ``checkpoint_deltas.png`` (score change per
  layer at each step) and ``checkpoint_cka.png`` (CKA per layer between the checkpoints of each lineage step),
* ``report.md`` and a self-contained ``report.html`` (figures inlined), and
* ``config.json``, the resolved configuration that produced the scores (paths relative to the
  report folder, so a committed report names its inputs wherever it is cloned), and
* ``report.json``: title, description and extra sections, so ``probekit report RESULTS_DIR``
  rebuilds the same report from the folder alone (:func:`rebuild_report`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")  # reports are written headless (CI, servers); never open a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from probekit.analysis import (  # noqa: E402,F401  (re-exported: report.layer_curves etc.)
    GROUP,
    PRIMARY_METRICS,
    _ordered,
    baseline_source,
    baseline_table,
    checkpoint_deltas,
    checkpoint_similarity,
    cka_matrices,
    comparison_view,
    crosslingual_table,
    findings,
    in_table_order,
    is_random_baseline,
    layer_curves,
    mix_profile,
    prepare,
    primary_metric,
    summarize,
    transfer_steps,
)
from probekit.io import atomic_write_bytes, atomic_write_text  # noqa: E402
from probekit.transfer.steps import INIT  # noqa: E402

XLING_HEADING = "Where languages meet, layer by layer"
# probekit.suite.transfer_sections' heading of the pre-trained vs random init comparisons
INIT_COMPARISON_HEADING = "Transfer: fine-tuned from pre-trained weights vs from random init"
BASELINE_GREY = "0.45"  # random-weights curves and the layer-0 line: grey, dotted / thin


def _grid(n: int, ncols: int, width: float, height: float):
    ncols = max(1, min(n, ncols))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat


# Figures are palette PNGs of this many colours: report.html inlines them (base64), and a plot's
# flat fills, lines and text lose nothing visible, at about a quarter of the bytes of 24-bit RGBA.
PNG_COLOURS = 64


def _write_png(fig, path: Path, dpi: int = 100) -> Path:
    """Save ``fig`` to ``path`` as a palette PNG (:data:`PNG_COLOURS` colours, no dithering) and close it."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    image = Image.open(buffer).convert("RGB").quantize(colors=PNG_COLOURS, method=Image.Quantize.MEDIANCUT,
                                                       dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    return atomic_write_bytes(path, out.getvalue())


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    return _write_png(fig, path)


def _line_colors(lines: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """One colour per (model, checkpoint): a sequential map along a checkpoint chain (so training
    order reads as light -> dark), categorical colours across models."""
    models = list(dict.fromkeys(m for m, _ in lines))
    colors = {}
    for i, model in enumerate(models):
        own = [line for line in lines if line[0] == model]
        if len(own) > 1:
            for j, line in enumerate(own):
                colors[line] = plt.cm.viridis(0.1 + 0.75 * j / (len(own) - 1))
        else:
            colors[own[0]] = plt.cm.tab10(i % 10)
    return colors


def curve_panels(curves: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The layer-curves figure's panels: one per (task, probe, model), the model's random-weights
    baseline in its panel. A chain's checkpoints share a panel, each beside its own control task:
    in one panel with another model, a chain's controls would not fit, and a control drawn for one
    checkpoint only says nothing about the others'."""
    curves = curves[~curves["probe"].str.startswith("mix")]
    source = curves["model"].map(baseline_source)
    panels = []
    for task, probe in curves[["task", "probe"]].drop_duplicates().sort_values(["task", "probe"]).values.tolist():
        here = (curves["task"] == task) & (curves["probe"] == probe)
        for model in _ordered(source[here]):
            sub = curves[here & (source == model)]
            if sub["model"].map(is_random_baseline).all():
                continue  # a baseline whose model has no curve here
            panels.append((" / ".join(x for x in (task, probe, model) if x), sub))  # (CKA rows: no probe)
    return panels


def plot_layer_curves(curves: pd.DataFrame, path: Path) -> Path:
    """One panel per (task, probe, model) (:func:`curve_panels`): the score per layer of the model
    (each checkpoint of a chain) with its confidence band, beside its baselines: the control task
    (dashed, same colour), the random-weights model (grey, dotted) and layer 0 (a thin grey line,
    for a single checkpoint)."""
    panels = curve_panels(curves)
    fig, flat = _grid(len(panels), 3, 5.0, 3.5)
    trained = [tuple(x) for x in curves.loc[~curves["model"].map(is_random_baseline), ["model", "checkpoint"]]
               .drop_duplicates().values]
    colors = _line_colors(trained)
    for ax, (title, sub) in zip(flat, panels):
        for (model, ckpt, is_control), g in sub.groupby(["model", "checkpoint", "is_control"], sort=False):
            g = g.sort_values("layer")
            name = ckpt or model
            # Controls are unlabelled: one legend entry says what dashed means, so a chain's panel
            # lists each checkpoint once.
            if is_random_baseline(model):
                ax.plot(g["layer"], g["value"], linestyle=":" if not is_control else (0, (1, 3)), marker=".",
                        ms=3, color=BASELINE_GREY, label=None if is_control else "random weights")
                continue
            color = colors[(model, ckpt)]
            ax.plot(g["layer"], g["value"], "--" if is_control else "-", marker="o", ms=3, color=color,
                    label=None if is_control else name, alpha=0.8 if is_control else 1.0)
            if not is_control and g["ci_low"].notna().any():
                ax.fill_between(g["layer"], g["ci_low"], g["ci_high"], color=color, alpha=0.15)
        own = sub[~sub["is_control"] & ~sub["model"].map(is_random_baseline)]
        if len(own.groupby(["model", "checkpoint"])) == 1 and (own["layer"] == 0).any():
            ax.axhline(float(own.loc[own["layer"] == 0, "value"].iloc[0]), color=BASELINE_GREY, lw=0.8, ls="-.",
                       label="layer 0 (embeddings)")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_ylabel(sub["metric"].iloc[0])
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        handles, labels = ax.get_legend_handles_labels()
        if sub["is_control"].any():
            handles.append(Line2D([], [], color="black", ls="--", lw=1))
            labels.append("dashed: its control task")
        ax.legend(handles, labels, fontsize=6, loc="best", framealpha=0.6)
    return _save(fig, path)


def plot_task_heatmap(curves: pd.DataFrame, path: Path) -> Path:
    """Task x layer, each row min-max normalised: where each task's information peaks."""
    main = curves[~curves["is_control"] & ~curves["probe"].str.startswith("mix")].copy()
    # One row per distinct (model, checkpoint, task, probe): averaging any of them hides both.
    varying = [c for c in ("model", "checkpoint", "probe") if main[c].nunique() > 1]
    main = in_table_order(main, curves)  # curves keep the table's order: a chain in training order
    main["row"] = main[varying + ["task"]].astype(str).agg(lambda parts: " / ".join(p for p in parts if p), axis=1)
    table = main.groupby(["row", "layer"], sort=False)["value"].mean().unstack("layer")
    span = (table.max(axis=1) - table.min(axis=1)).replace(0, 1)
    norm = table.sub(table.min(axis=1), axis=0).div(span, axis=0)
    label_inches = 0.075 * max(len(str(r)) for r in table.index)
    fig, ax = plt.subplots(figsize=(2.0 + label_inches + 0.75 * table.shape[1], 1.2 + 0.4 * table.shape[0]))
    im = ax.imshow(norm.values, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), list(table.index))
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            value = table.values[i, j]
            if not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if norm.values[i, j] < 0.6 else "black")
    ax.set_xlabel("layer")
    ax.set_title("score per layer (colour: normalised within task)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    return _write_png(fig, path, dpi=110)


def plot_cka(matrices: dict[str, pd.DataFrame], path: Path) -> Path:
    """One heatmap per model/checkpoint: how similar the representations of every pair of layers are."""
    fig, flat = _grid(len(matrices), 4, 3.6, 3.3)
    for ax, (name, matrix) in zip(flat, matrices.items()):
        im = ax.imshow(matrix.values, cmap="magma", vmin=0, vmax=1)
        labels = [str(int(x)) for x in matrix.index]
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        if matrix.shape[0] <= 13:
            for i in range(matrix.shape[0]):
                for j in range(matrix.shape[1]):
                    ax.text(j, i, f"{matrix.values[i, j]:.2f}", ha="center", va="center", fontsize=5,
                            color="black" if matrix.values[i, j] > 0.6 else "white")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("layer")
        ax.set_ylabel("layer")
    fig.colorbar(im, ax=list(flat), fraction=0.02)
    fig.suptitle("linear CKA between layers", fontsize=9)
    return _write_png(fig, path)


def plot_mix_profile(profile: pd.DataFrame, path: Path) -> Path:
    """Tenney et al. (2019) Figure 1: per task, the scalar-mix weights per layer (blue, upwards),
    the gain of the cumulative mix over the layers below (purple, downwards), the centre of
    gravity E_s (blue circle) and the expected layer E_delta (purple triangle)."""
    rows = profile[["model", "checkpoint", "task"]].drop_duplicates().values.tolist()
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.62 * len(rows)))
    labels = []
    for i, (model, ckpt, task) in enumerate(rows):
        g = profile[(profile["model"] == model) & (profile["checkpoint"] == ckpt) & (profile["task"] == task)]
        y = len(rows) - 1 - i
        weights = g["mix_weight"].fillna(0).to_numpy()
        deltas = g["delta"].fillna(0).clip(lower=0).to_numpy()
        if weights.max() > 0:
            ax.bar(g["layer"], 0.42 * weights / weights.max(), bottom=y, width=0.8, color="tab:blue", alpha=0.7)
        if deltas.max() > 0:
            ax.bar(g["layer"], -0.42 * deltas / deltas.max(), bottom=y, width=0.8, color="tab:purple", alpha=0.7)
        el, cg = g["expected_layer"].iloc[0], g["center_of_gravity"].iloc[0]
        if pd.notna(cg):
            ax.plot([cg], [y + 0.3], "o", color="tab:blue", ms=5)
        if pd.notna(el):
            ax.plot([el], [y - 0.3], "^", color="tab:purple", ms=5)
        text = " ".join(x for x in (f"E_s={cg:.2f}" if pd.notna(cg) else "", f"E_Δ={el:.2f}" if pd.notna(el) else "") if x)
        ax.text(float(g["layer"].max()) + 0.7, y, text, va="center", fontsize=7)
        labels.append(" / ".join(str(x) for x in (task, model, ckpt) if x))
    ax.set_yticks(range(len(rows)), list(reversed(labels)), fontsize=7)
    ax.set_xlabel("layer")
    ax.set_xlim(float(profile["layer"].min()) - 0.6, float(profile["layer"].max()) + 3.2)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("mix weights (blue, up) and cumulative gain (purple, down); circle E_s, triangle E_Δ", fontsize=8)
    return _save(fig, path)


def plot_layer_metric(scores: pd.DataFrame, metric: str, ylabel: str, path: Path) -> Path:
    """One panel per probe: ``metric`` per layer for every task and trained model (selectivity,
    MDL codelength ...), the control task's rows dashed, with CI bands where present."""
    df = prepare(scores)
    df = df[(df["metric"] == metric) & df["layer"].notna()]
    probes = sorted(df["probe"].unique())
    fig, flat = _grid(len(probes), 3, 5.0, 3.4)
    # one colour per (task, model) line, sequential along a checkpoint chain; a control task's
    # line shares its task's colour, dashed
    colors = _line_colors([(f"{task} / {model}", ckpt) for model, ckpt, task
                           in df[["model", "checkpoint", "task"]].drop_duplicates().values])
    for ax, probe in zip(flat, probes):
        sub = df[df["probe"] == probe]
        for (model, ckpt, task, is_control), g in sub.groupby(["model", "checkpoint", "task", "is_control"], sort=False):
            g = g.groupby("layer").agg(value=("value", "mean"), lo=("ci_low", "mean"), hi=("ci_high", "mean")).reset_index()
            color = BASELINE_GREY if is_random_baseline(model) else colors[(f"{task} / {model}", ckpt)]
            name = " / ".join(x for x in (task, model, ckpt) if x) + (" (control)" if is_control else "")
            ax.plot(g["layer"], g["value"], "--" if is_control else ":" if is_random_baseline(model) else "-",
                    marker="o", ms=3, color=color, label=name)
            if g["lo"].notna().any():
                ax.fill_between(g["layer"], g["lo"], g["hi"], color=color, alpha=0.12)
        if metric == "selectivity":
            ax.axhline(0, color="black", lw=0.6)
        ax.set_title(probe, fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=6)
    return _save(fig, path)


def plot_crosslingual(xling: pd.DataFrame, path: Path) -> Path:
    """One panel per (language pair, probe labels, metric) of :func:`crosslingual_table`: the
    metric per layer for every model and checkpoint, random-weights baselines grey and dotted;
    the probe's source-language accuracy is drawn dashed in its transfer panel."""
    layer_cols = [c for c in xling.columns if str(c).startswith("layer ")]
    source = xling["metric"] == "xling_probe_source"
    xling = xling.assign(panel=xling["metric"].where(~source, "xling_probe_transfer"))
    panels = list(dict.fromkeys(map(tuple, xling[["pair", "labels", "panel"]].values.tolist())))
    fig, flat = _grid(len(panels), 3, 4.2, 3.2)
    colors = _line_colors(list(dict.fromkeys(map(tuple, xling[["model", "checkpoint"]].values.tolist()))))
    layers = [int(str(c).split()[1]) for c in layer_cols]
    for ax, (pair, labels, metric) in zip(flat, panels):
        sub = xling[(xling["pair"] == pair) & (xling["labels"] == labels) & (xling["panel"] == metric)]
        for _, row in sub.iterrows():
            baseline, own = is_random_baseline(row["model"]), row["metric"] == "xling_probe_source"
            ax.plot(layers, row[layer_cols].astype(float).to_numpy(), "--" if own else ":" if baseline else "-",
                    marker="o", ms=3, lw=0.8 if own else 1.5,
                    color=BASELINE_GREY if baseline else colors[(row["model"], row["checkpoint"])],
                    label=None if own else " / ".join(str(x) for x in (row["model"], row["checkpoint"]) if x))
        ax.set_title(f"{pair}{f' {labels}' if labels else ''}: {metric}", fontsize=9)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        handles, names = ax.get_legend_handles_labels()
        if (sub["metric"] == "xling_probe_source").any():  # one entry for every dashed line, as in layer_curves
            handles.append(Line2D([], [], color="black", ls="--", lw=0.8))
            names.append(f"dashed: the same probe in {pair.split('-')[0]} (in-language)")
        ax.legend(handles, names, fontsize=6, framealpha=0.6)
    return _save(fig, path)


def plot_checkpoint_deltas(deltas: pd.DataFrame, path: Path) -> Path:
    """One heatmap per (model, task, probe): score change per layer (columns) at each step of the
    chain's lineage and each init comparison (rows, :func:`probekit.analysis.transfer_steps`),
    red = gained, blue = lost."""
    panels = deltas[["model", "task", "probe"]].drop_duplicates().values.tolist()
    fig, flat = _grid(len(panels), 3, 5.0, 0.9 + 0.45 * deltas["step"].nunique())
    for ax, (model, task, probe) in zip(flat, panels):
        g = deltas[(deltas["model"] == model) & (deltas["task"] == task) & (deltas["probe"] == probe)].copy()
        g["step"] = g["step"].str.replace(" -> ", " → ")
        table = g.pivot_table(index="step", columns="layer", values="delta", sort=False)
        bound = max(float(np.nanmax(np.abs(table.values))), 1e-6)
        ax.imshow(table.values, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
        ax.set_yticks(range(table.shape[0]), list(table.index), fontsize=6)
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                ax.text(j, i, f"{table.values[i, j]:+.2f}", ha="center", va="center", fontsize=6)
        ax.set_title(f"{task} / {probe} ({model}): score change", fontsize=8)
        ax.set_xlabel("layer")
    return _save(fig, path)


def plot_checkpoint_cka(similarity: pd.DataFrame, path: Path) -> Path:
    """Per model: linear CKA per layer between the two checkpoints of each step of the chain
    (each checkpoint and its parent; a pre-trained fine-tune and its random-init twin), 1 = the
    layer's representations are the same."""
    step = similarity[similarity["step"] != ""]
    models = list(dict.fromkeys(step["model"]))
    fig, flat = _grid(len(models), 2, 6.0, 3.6)
    for ax, model in zip(flat, models):
        g = step[step["model"] == model]
        labels = list(dict.fromkeys(g["step"]))
        for k, label in enumerate(labels):
            line = g[g["step"] == label].sort_values("layer")
            init = line["kind"].iloc[0] == INIT
            ax.plot(line["layer"], line["cka"], "--s" if init else "-o", ms=3,
                    color=plt.cm.viridis(0.1 + 0.75 * k / max(1, len(labels) - 1)), label=label.replace(" -> ", " → "))
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{model}: CKA between the checkpoints of each step", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylabel("linear CKA")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=6)
    return _save(fig, path)


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"


REPORT_TEXT = "report.json"  # the words of a report that are not in the scores table


def _map_paths(value: Any, change, keypath: str = "") -> tuple[Any, list[str]]:
    """``value`` with ``change(text)`` applied to every string (``None``: left as is), and the
    dotted key paths (list items by index) where it changed something."""
    if isinstance(value, dict):
        pairs = [(k, _map_paths(v, change, f"{keypath}.{k}" if keypath else str(k))) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, [p for _, (_, ps) in pairs for p in ps]
    if isinstance(value, (list, tuple)):
        pairs = [_map_paths(v, change, f"{keypath}.{i}" if keypath else str(i)) for i, v in enumerate(value)]
        return [v for v, _ in pairs], [p for _, ps in pairs for p in ps]
    if isinstance(value, str):
        new = change(value)
        if new is not None and new != value:
            return new, [keypath]
    return value, []


def _with_spec_path(text: str, change) -> str | None:
    """``change`` applied to a path, or to the source path of a ``SOURCE:random@SEED`` spec."""
    from probekit.errors import ConfigError
    from probekit.extract.random_weights import parse_random_spec, random_spec

    try:
        spec = parse_random_spec(text)
    except ConfigError:  # "x:random@y" with a seed that is no number: an ordinary string here
        spec = None
    if spec is not None:
        source = change(spec[0])
        return None if source is None else random_spec(source, spec[1])
    return change(text)


def portable_config(config: dict, base: str | Path) -> tuple[dict, list[str]]:
    """``config`` with every absolute path in it (and the source of every ``SOURCE:random@SEED``
    spec) made relative to ``base``, the results folder; returns it and the key paths changed.

    A committed results folder then names the models, data files and checkpoints it was computed
    from wherever the repository is cloned (``runs/demo-transfer/general`` is
    ``../../runs/demo-transfer/general`` from ``reports/demo``). A path on another drive stays
    absolute."""
    base = os.path.abspath(base)

    def relative(text: str) -> str | None:
        if not os.path.isabs(text):
            return None
        try:
            return Path(os.path.relpath(text, base)).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            return None

    return _map_paths(config, lambda text: _with_spec_path(text, relative))


def absolute_config(config: dict, base: str | Path, keys: Iterable[str]) -> dict:
    """The inverse of :func:`portable_config`: the values at ``keys`` (relative to ``base``) made
    absolute again."""
    wanted = set(keys)
    base = Path(base).resolve()

    def walk(value: Any, keypath: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{keypath}.{k}" if keypath else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{keypath}.{i}" if keypath else str(i)) for i, v in enumerate(value)]
        if isinstance(value, str) and keypath in wanted:
            return _with_spec_path(value, lambda text: os.path.normpath(str(base / text)))
        return value

    return walk(config, "")


def rebuild_report(results: str | Path, out_dir: str | Path | None = None, *, title: str | None = None) -> Path:
    """Write the report of a results folder again, from its files alone: ``scores.csv`` (or the
    finished ``units/*.csv`` of an interrupted run), ``config.json`` and ``report.json``."""
    from probekit.errors import ConfigError

    results = Path(results)
    units = sorted((results / "units").glob("*.csv")) if (results / "units").is_dir() else []
    if (results / "scores.csv").is_file():
        scores = pd.read_csv(results / "scores.csv")
    elif units:  # an interrupted run: the finished units are the results so far
        scores = pd.concat([pd.read_csv(f) for f in units], ignore_index=True)
    else:
        raise ConfigError(f"{results} holds no scores.csv and no units/*.csv; give the folder `probekit run` "
                          "wrote (e.g. reports/demo)")
    stored: dict = {}
    for name in ("config.json", REPORT_TEXT):
        path = results / name
        if path.is_file():
            try:
                stored[name] = json.loads(path.read_text("utf-8"))
            except json.JSONDecodeError as err:
                raise ConfigError(f"{path}: not valid JSON ({err}); delete it to report without it") from err
    text = stored.get(REPORT_TEXT) or {}
    # config.json holds paths relative to the folder it is in; written elsewhere, they follow
    config = absolute_config(stored.get("config.json", {}), results, text.get("relative_paths", []))
    suite = config.get("suite", config)  # the demo nests the suite's configuration
    comparisons = []
    for table_file in sorted(results.glob("selection/*/*/compare.csv")):  # a suite's [selection] results
        lines = (table_file.parent / "recommendation.txt").read_text("utf-8").splitlines() or [""]
        comparisons.append((pd.read_csv(table_file), lines[0], lines[1:]))
    return write_report(
        scores, Path(out_dir or results), config=config, comparisons=comparisons,
        title=title or text.get("title") or f"probekit: {suite.get('name') or results.name}",
        description=text.get("description", suite.get("description") or ""),
        extra_sections=[tuple(section) for section in text.get("extra_sections", [])],
        headlines=text.get("headlines", []),
    )


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}.note{color:#555;font-size:13px}
.wide{overflow-x:auto}td{white-space:nowrap}ul.findings li{margin:.3em 0}"""


def baseline_view(table: pd.DataFrame) -> pd.DataFrame:
    """Readable view of :func:`probekit.analysis.baseline_table`: each best score beside its
    control task, layer 0 and random-weights baseline, and the margins."""
    def num(value: Any) -> str:
        return "" if pd.isna(value) else f"{value:.3f}"

    def gain(value: Any) -> str:
        return "" if pd.isna(value) else f"{value:+.3f}"

    rows = []
    for _, r in table.iterrows():
        rows.append({"task": r["task"], "probe": r["probe"], "model": r["model"], "checkpoint": r["checkpoint"],
                     "metric": r["metric"], "best layer": int(r["best_layer"]), "score": num(r["best_score"]),
                     "control task": num(r["control_score"]), "selectivity": gain(r["selectivity"]),
                     "layer 0": num(r["layer0_score"]), "vs layer 0": gain(r["gain_over_layer0"]),
                     "random weights (best layer)": "" if pd.isna(r["random_score"]) else
                     f"{r['random_score']:.3f} (L{int(r['random_best_layer'])})",
                     "vs random": gain(r["gain_over_random"])})
    view = pd.DataFrame(rows)
    empty = [c for c in view.columns if c not in ("task", "probe", "model") and not view[c].astype(str).str.len().any()]
    return view.drop(columns=empty)


def _delta_view(deltas: pd.DataFrame) -> pd.DataFrame:
    table = deltas.pivot_table(index=["model", "task", "probe", "step"], columns="layer", values="delta", sort=False)
    table.columns = [f"layer {c}" for c in table.columns]
    return table.reset_index()


def _similarity_view(similarity: pd.DataFrame) -> pd.DataFrame:
    table = similarity[similarity["step"] != ""].pivot_table(index=["model", "step"], columns="layer", values="cka", sort=False)
    table.columns = [f"layer {c}" for c in table.columns]
    return table.reset_index()


EXPLANATION = (
    "best_layer: highest mean score over seeds; recommended_layer: earliest layer whose CI "
    "reaches the best score (as good, cheaper); selectivity: score minus control-task score "
    "at the best layer (Hewitt & Liang 2019); expected_layer: E_delta over the cumulative "
    "scalar mix (Tenney et al. 2019); center_of_gravity: E_s of the scalar-mix weights."
)
BASELINES_TEXT = (
    "Each best score beside its baselines: the control task (Hewitt & Liang 2019: every word type "
    "gets a fixed random label, or for dependency arcs a fixed attachment to itself, the first or the "
    "last word), layer 0 (the embeddings, before any contextualisation) and the same architecture with "
    "random weights (the random-weights model's best layer; Tenney et al. 2019, Hewitt & Liang 2019). "
    "A probe that beats these learned something the trained layers encode, not word identity alone."
)


def report_sections(scores: pd.DataFrame, out: Path, *, comparisons=(), extra_sections=(),
                    config: dict | None = None, headlines=()) -> list[tuple[str, list]]:
    """The report's content, in order, as ``(heading, items)``; an item is ``("bullets", [str])``,
    ``("text", str)``, ``("note", str)``, ``("strong", str)``, ``("table", DataFrame)``,
    ``("figure", Path)`` or ``("pre", str)``. Figures are written into ``out``. ``config`` (the
    resolved suite) gives a transfer chain's lineage (:func:`probekit.analysis.transfer_steps`)."""
    curves = layer_curves(scores)
    summary = summarize(scores)
    baselines = baseline_table(scores)
    steps = transfer_steps(scores, config)
    deltas = checkpoint_deltas(scores, steps)
    similarity = checkpoint_similarity(scores, steps)
    profile = mix_profile(scores)
    comparisons = [(comparison_view(table), rec, notes) for table, rec, notes in comparisons]
    sections: list[tuple[str, list]] = []
    sentences = [*headlines, *findings(scores, [rec for _, rec, _ in comparisons], steps)["sentence"]]
    if sentences:
        sections.append(("Summary", [("bullets", sentences)]))
    shown = summary.drop(columns=[c for c in ("checkpoint",) if c in summary and not summary[c].any()])
    sections.append(("Layer utility", [("note", EXPLANATION), ("table", shown)]))
    if len(baselines):
        view = baseline_view(baselines)
        if "checkpoint" in view and not view["checkpoint"].astype(str).str.len().any():
            view = view.drop(columns=["checkpoint"])
        sections.append(("Scores beside their baselines", [("note", BASELINES_TEXT), ("table", view)]))
    if len(curves):
        sections.append(("Score per layer, with baselines", [
            ("note", "Solid: the model (band: confidence interval); dashed: its control task; grey dotted: the "
                     "same architecture with random weights; grey dash-dot: layer 0."),
            ("figure", plot_layer_curves(curves, out / "layer_curves.png"))]))
        sections.append(("Where each task peaks", [("figure", plot_task_heatmap(curves, out / "task_layer_heatmap.png"))]))
    if len(profile):
        sections.append(("Expected layer and centre of gravity (Tenney et al. 2019, Figure 1)", [
            ("figure", plot_mix_profile(profile, out / "mix_profile.png"))]))
    df = prepare(scores)
    if (df["metric"] == "selectivity").any():
        sections.append(("Selectivity per layer", [
            ("note", "Task score minus control-task score per layer (paired bootstrap CI); high selectivity: the "
                     "probe reads the property, not word identity."),
            ("figure", plot_layer_metric(scores, "selectivity", "selectivity", out / "selectivity.png"))]))
    if (df["metric"] == "mdl_codelength").any():
        sections.append(("MDL: online codelength per layer", [
            ("note", "Bits to transmit the training labels with the probe (Voita & Titov 2020); lower is better; "
                     "dashed: the control task."),
            ("figure", plot_layer_metric(scores, "mdl_codelength", "codelength (bits)", out / "mdl.png"))]))
    xling = crosslingual_table(scores)
    if len(xling):
        sections.append((XLING_HEADING, [
            ("note", "On parallel sentences with word alignments: xling_cka, linear CKA between the two languages' "
                     "vectors of aligned words; xling_retrieval, share of source word types whose nearest target "
                     "type (cosine, each language centred) is their translation; xling_probe_transfer, a linear probe "
                     "trained on the source language at that layer and scored on the target language; "
                     "xling_probe_source, the same probe on held-out source words. Conneau et al. (2020) find "
                     "cross-lingual similarity highest in the middle layers of multilingual models. "
                     "Corpora that are not parallel (e.g. two treebanks) get the probe rows only."),
            ("figure", plot_crosslingual(xling, out / "crosslingual.png")), ("table", xling)]))
    matrices = cka_matrices(scores)
    if matrices:
        sections.append(("Layer similarity (linear CKA)", [("figure", plot_cka(matrices, out / "layer_similarity_cka.png"))]))
    if len(deltas):
        sections.append(("What each transfer step changed, per layer", [
            ("note", "Per layer (headline metric): each checkpoint minus its parent in the chain (a -> b: the "
                     "training step from a to b); and a checkpoint fine-tuned from pre-trained weights minus its "
                     "random-init twin with the same seed (b vs a: what pre-training buys). Siblings are never "
                     "compared."),
            ("figure", plot_checkpoint_deltas(deltas, out / "checkpoint_deltas.png")), ("table", _delta_view(deltas))]))
    if len(similarity) and (similarity["step"] != "").any():
        sections.append(("Representation change between checkpoints (linear CKA)", [
            ("note", "Linear CKA per layer between the two checkpoints of each step above, on the same words "
                     "(1: unchanged)."),
            ("figure", plot_checkpoint_cka(similarity, out / "checkpoint_cka.png")),
            ("table", _similarity_view(similarity))]))
    for view, rec, notes in comparisons:
        sections.append(("Which layers to use: frozen features vs fine-tuning",
                         [("strong", rec), *[("note", n) for n in notes], ("table", view)]))
    xling_at = next((i for i, (heading, _) in enumerate(sections) if heading == XLING_HEADING), None)
    for heading, text in extra_sections:
        if heading == INIT_COMPARISON_HEADING and xling_at is not None:
            # zero-shot gains over random init right above the per-layer curves they go with
            sections.insert(xling_at, (heading, [("pre", text)]))
            xling_at += 1
        else:
            sections.append((heading, [("pre", text)]))
    return sections


def _markdown(title: str, description: str, sections: list, config: dict) -> str:
    md = [f"# {title}", "", *([description, ""] if description else [])]
    for heading, items in sections:
        md += [f"## {heading}", ""]
        for kind, value in items:
            if kind == "bullets":
                md += [f"- {v}" for v in value] + [""]
            elif kind == "table":
                md += [_markdown_table(value), ""]
            elif kind == "figure":
                md += [f"![{heading}]({value.name})", ""]
            elif kind == "strong":
                md += [f"**{value}**", ""]
            elif kind == "note":
                md += [f"*{value}*", ""]
            else:  # text and pre: markdown text as given
                md += [value, ""]
    md += ["## Resolved configuration", "", "```json", json.dumps(config, indent=2, sort_keys=True, default=str),
           "```", ""]
    return "\n".join(md)


def _html(title: str, description: str, sections: list, config: dict) -> str:
    parts = [f"<h1>{html.escape(title)}</h1>", *([f"<p>{html.escape(description)}</p>"] if description else [])]
    for heading, items in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for kind, value in items:
            if kind == "bullets":
                parts.append("<ul class='findings'>" + "".join(f"<li>{html.escape(v)}</li>" for v in value) + "</ul>")
            elif kind == "table":
                parts.append(_html_table(value))
            elif kind == "figure":
                data = base64.b64encode(value.read_bytes()).decode("ascii")
                parts.append(f"<img alt='{html.escape(heading)}' src='data:image/png;base64,{data}'>")
            elif kind == "strong":
                parts.append(f"<p><strong>{html.escape(value)}</strong></p>")
            elif kind == "note":
                parts.append(f"<p class='note'>{html.escape(value)}</p>")
            elif kind == "pre":
                parts.append(f"<pre>{html.escape(value)}</pre>")
            else:
                parts.append(f"<p>{html.escape(value)}</p>")
    parts.append("<h2>Resolved configuration</h2><pre>"
                 + html.escape(json.dumps(config, indent=2, sort_keys=True, default=str)) + "</pre>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_report(
    scores: pd.DataFrame,
    out_dir: str | Path,
    *,
    config: dict | None = None,
    title: str = "probekit layer-utility report",
    description: str = "",
    extra_sections: Iterable[tuple[str, str]] = (),
    comparisons: Iterable[tuple[pd.DataFrame, str, list[str]]] = (),
    headlines: Iterable[str] = (),
) -> Path:
    """Write the full report for ``scores`` into ``out_dir`` and return the HTML path.

    Parameters
    ----------
    scores : DataFrame
        The tidy scores table (``probekit.scoring`` schema).
    out_dir : path
        Created if missing; existing report files are replaced atomically.
    config : dict, optional
        The resolved configuration that produced ``scores``; stored in ``config.json`` and shown
        in the report with its absolute paths made relative to ``out_dir``
        (:func:`portable_config`; ``report.json`` lists them, so :func:`rebuild_report` can
        write the report elsewhere).
    description : str, optional
        What the study is (a suite's ``description``), shown under the title.
    extra_sections : iterable of (heading, markdown text)
        Free-form sections (e.g. the transfer chain's headline numbers) appended in order.
    comparisons : iterable of (table, recommendation, notes)
        ``probekit.compare`` results: the layer-selection table (every strategy's frozen features
        vs full fine-tuning) under its one-sentence recommendation.
    headlines : iterable of str
        Sentences that open the summary, before the findings read from ``scores`` (e.g. the
        transfer chain's pre-trained vs random init, :func:`probekit.suite.transfer_headlines`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config, relative = portable_config(config or {}, out)
    atomic_write_text(out / "scores.csv", scores.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summarize(scores).to_csv(index=False))
    atomic_write_text(out / "baselines.csv", baseline_table(scores).to_csv(index=False))
    atomic_write_text(out / "config.json", json.dumps(config, indent=2, sort_keys=True, default=str))
    extra_sections, headlines = list(extra_sections), list(headlines)
    atomic_write_text(out / REPORT_TEXT, json.dumps({"title": title, "description": description,
                                                     "extra_sections": extra_sections, "headlines": headlines,
                                                     "relative_paths": relative}, indent=2))
    sections = report_sections(scores, out, comparisons=comparisons, extra_sections=extra_sections, config=config,
                               headlines=headlines)
    atomic_write_text(out / "report.md", _markdown(title, description, sections, config))
    return atomic_write_text(out / "report.html", _html(title, description, sections, config))
