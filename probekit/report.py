"""Layer-utility reports, built from the scores table alone (rendering only: the numbers come
from the pure DataFrame functions of :mod:`probekit.analysis`).

A report never re-runs a probe: it reads the tidy scores table (one row per measurement, see
``probekit.scoring``), so a table produced on another machine can be reported here. It writes

* ``scores.csv`` (the table itself) and ``summary.csv`` (one row per model/checkpoint/task/probe),
* ``layer_curves.png`` (score per layer with confidence bands, control task dashed),
* ``task_layer_heatmap.png`` (Tenney-style: where in the network each task peaks),
* ``report.md`` and a self-contained ``report.html`` (figures inlined), and
* ``config.json``, the resolved configuration that produced the scores, and
* ``report.json``: title, description and extra sections, so ``probekit report RESULTS_DIR``
  rebuilds the same report from the folder alone (:func:`rebuild_report`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")  # reports are written headless (CI, servers); never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from probekit.analysis import (  # noqa: E402,F401  (re-exported: report.layer_curves etc.)
    GROUP,
    PRIMARY_METRICS,
    cka_matrices,
    comparison_view,
    layer_curves,
    primary_metric,
    summarize,
)
from probekit.io import atomic_write_text  # noqa: E402

def plot_layer_curves(curves: pd.DataFrame, path: Path) -> Path:
    """Score per layer for every task (one panel per model/checkpoint/probe)."""
    panels = curves[GROUP[:2] + ["probe"]].drop_duplicates().values.tolist()
    n = max(len(panels), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    tasks = sorted(curves["task"].unique())
    colors = {t: plt.cm.tab10(i % 10) for i, t in enumerate(tasks)}
    metrics = []  # per panel: the headline metrics it shows
    for ax, (model, ckpt, probe) in zip(flat, panels):
        sub = curves[(curves["model"] == model) & (curves["checkpoint"] == ckpt) & (curves["probe"] == probe)]
        metrics.append(tuple(sorted(sub["metric"].unique())))
        for (task, is_control), g in sub.groupby(["task", "is_control"]):
            g = g.sort_values("layer")
            style = "--" if is_control else "-"
            label = f"{task} (control)" if is_control else task
            ax.plot(g["layer"], g["value"], style, marker="o", ms=3, color=colors[task], label=label)
            if g["ci_low"].notna().any():
                ax.fill_between(g["layer"], g["ci_low"], g["ci_high"], color=colors[task], alpha=0.15)
        title = " / ".join(x for x in (model, ckpt, probe) if x)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(metrics[-1][0] if len(metrics[-1]) == 1 else "score (headline metric)")
    # Panels of one model with the same metrics share a y-range, so checkpoints and probes compare
    # at a glance (an MDL compression ratio would flatten accuracies).
    for key in {(panel[0], m) for panel, m in zip(panels, metrics)}:
        same = [ax for ax, panel, m in zip(flat, panels, metrics) if (panel[0], m) == key]
        low = min(ax.get_ylim()[0] for ax in same)
        high = max(ax.get_ylim()[1] for ax in same)
        for ax in same:
            ax.set_ylim(low, high)
    handles, labels = flat[0].get_legend_handles_labels()
    for ax in flat[1:n]:  # union of legend entries over panels, in first-seen order
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_task_heatmap(curves: pd.DataFrame, path: Path) -> Path:
    """Task x layer, each row min-max normalised: where each task's information peaks."""
    main = curves[~curves["is_control"] & ~curves["probe"].str.startswith("mix")].copy()
    # One row per distinct (model, checkpoint, task, probe): averaging any of them hides both.
    varying = [c for c in ("model", "checkpoint", "probe") if main[c].nunique() > 1]
    main = main.sort_values(["model", "checkpoint", "probe", "task", "layer"])
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
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_cka(matrices: dict[str, pd.DataFrame], path: Path) -> Path:
    """One heatmap per model: how similar the representations of every pair of layers are."""
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.9), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        im = ax.imshow(matrix.values, cmap="magma", vmin=0, vmax=1)
        labels = [str(int(x)) for x in matrix.index]
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                ax.text(j, i, f"{matrix.values[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if matrix.values[i, j] > 0.6 else "white")
        ax.set_title(f"linear CKA between layers: {name}", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylabel("layer")
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


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
    config = stored.get("config.json", {})
    text = stored.get(REPORT_TEXT) or {}
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
    )


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}.note{color:#555;font-size:13px}
.wide{overflow-x:auto}td{white-space:nowrap}"""


def write_report(
    scores: pd.DataFrame,
    out_dir: str | Path,
    *,
    config: dict | None = None,
    title: str = "probekit layer-utility report",
    description: str = "",
    extra_sections: Iterable[tuple[str, str]] = (),
    comparisons: Iterable[tuple[pd.DataFrame, str, list[str]]] = (),
) -> Path:
    """Write the full report for ``scores`` into ``out_dir`` and return the HTML path.

    Parameters
    ----------
    scores : DataFrame
        The tidy scores table (``probekit.scoring`` schema).
    out_dir : path
        Created if missing; existing report files are replaced atomically.
    config : dict, optional
        The resolved configuration that produced ``scores``; stored verbatim in ``config.json``
        and shown in the report.
    description : str, optional
        What the study is (a suite's ``description``), shown under the title.
    extra_sections : iterable of (heading, markdown text)
        Free-form sections (e.g. the transfer chain's headline numbers) appended in order.
    comparisons : iterable of (table, recommendation, notes)
        ``probekit.compare`` results: the layer-selection table (every strategy's frozen features
        vs full fine-tuning) under its one-sentence recommendation.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "scores.csv", scores.to_csv(index=False))
    curves = layer_curves(scores)
    summary = summarize(scores)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(out / "config.json", json.dumps(config or {}, indent=2, sort_keys=True, default=str))
    extra_sections = list(extra_sections)
    atomic_write_text(out / REPORT_TEXT, json.dumps({"title": title, "description": description,
                                                     "extra_sections": extra_sections}, indent=2))
    figures = []
    if len(curves):
        figures.append(("Score per layer", plot_layer_curves(curves, out / "layer_curves.png")))
        figures.append(("Where each task peaks", plot_task_heatmap(curves, out / "task_layer_heatmap.png")))
    matrices = cka_matrices(scores)
    if matrices:
        figures.append(("Layer similarity (linear CKA)", plot_cka(matrices, out / "layer_similarity_cka.png")))

    shown = summary.drop(columns=[c for c in ("checkpoint",) if c in summary and not summary[c].any()])
    explanation = (
        "best_layer: highest mean score over seeds; recommended_layer: earliest layer whose CI "
        "reaches the best score (as good, cheaper); selectivity: score minus control-task score "
        "at the best layer (Hewitt & Liang 2019); expected_layer: E_delta over the cumulative "
        "scalar mix (Tenney et al. 2019); center_of_gravity: E_s of the scalar-mix weights."
    )
    md = [f"# {title}", "", *([description, ""] if description else []),
          "## Layer utility", "", explanation, "", _markdown_table(shown), ""]
    for heading, path in figures:
        md += [f"## {heading}", "", f"![{heading}]({path.name})", ""]
    comparisons = [(comparison_view(table), rec, notes) for table, rec, notes in comparisons]
    for view, rec, notes in comparisons:
        md += ["## Which layers to use: frozen features vs fine-tuning", "", f"**{rec}**", "",
               *[f"*{n}*" for n in notes], "", _markdown_table(view), ""]
    for heading, text in extra_sections:
        md += [f"## {heading}", "", text, ""]
    md += ["## Resolved configuration", "", "```json", json.dumps(config or {}, indent=2, sort_keys=True, default=str), "```", ""]
    atomic_write_text(out / "report.md", "\n".join(md))

    parts = [f"<h1>{html.escape(title)}</h1>", *([f"<p>{html.escape(description)}</p>"] if description else []),
             "<h2>Layer utility</h2>",
             f"<p class='note'>{html.escape(explanation)}</p>", _html_table(shown)]
    for heading, path in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(heading)}</h2><img alt='{html.escape(heading)}' src='data:image/png;base64,{data}'>")
    for view, rec, notes in comparisons:
        parts.append("<h2>Which layers to use: frozen features vs fine-tuning</h2>"
                     f"<p><strong>{html.escape(rec)}</strong></p>"
                     + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes) + _html_table(view))
    for heading, text in extra_sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text)}</pre>")
    parts.append("<h2>Resolved configuration</h2><pre>"
                 + html.escape(json.dumps(config or {}, indent=2, sort_keys=True, default=str)) + "</pre>")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    return atomic_write_text(out / "report.html", page)
