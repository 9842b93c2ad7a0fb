import json

import numpy as np
import pandas as pd

from probekit.report import layer_curves, summarize, write_report


def _scores(peaks=None, ci=0.01):
    rng = np.random.default_rng(0)
    peaks = peaks or {"pos": 1, "deps": 4}
    rows = []
    for task, peak in peaks.items():
        for control in (False, True):
            for seed in (0, 1):
                for layer in range(6):
                    value = 0.9 - 0.1 * abs(layer - peak) - (0.4 if control else 0) + rng.normal(0, 0.001)
                    rows.append(dict(model="m", checkpoint="", task=task, control=control, probe="linear",
                                     layer=layer, seed=seed, split="dev", metric="accuracy", value=value,
                                     ci_low=value - ci, ci_high=value + ci, n_train=10, n_eval=10))
        rows.append(dict(model="m", checkpoint="", task=task, control=False, probe="linear", layer=np.nan,
                         seed=0, split="dev", metric="expected_layer", value=peak + 0.5))
    return pd.DataFrame(rows)


def test_summary_finds_planted_peaks_and_selectivity():
    summary = summarize(_scores()).set_index("task")
    assert summary.loc["pos", "best_layer"] == 1
    assert summary.loc["deps", "best_layer"] == 4
    assert abs(summary.loc["deps", "selectivity"] - 0.4) < 0.01
    assert summary.loc["deps", "expected_layer"] == 4.5


def test_recommended_layer_is_earliest_layer_within_ci():
    # With wide intervals, layer 3 is statistically as good as the best layer 4.
    summary = summarize(_scores({"deps": 4}, ci=0.15)).set_index("task")
    assert summary.loc["deps", "best_layer"] == 4
    assert summary.loc["deps", "recommended_layer"] == 3


def test_curves_average_seeds():
    curves = layer_curves(_scores())
    row = curves[(curves.task == "pos") & (~curves.is_control) & (curves.layer == 1)]
    assert len(row) == 1 and row["n_seeds"].item() == 2


def test_write_report_files(tmp_path):
    html = write_report(_scores(), tmp_path, config={"name": "x"})
    for name in ("scores.csv", "summary.csv", "layer_curves.png", "task_layer_heatmap.png", "report.md", "config.json"):
        assert (tmp_path / name).stat().st_size > 0
    page = html.read_text()
    assert "data:image/png;base64," in page and "recommended_layer" in page
    assert json.loads((tmp_path / "config.json").read_text()) == {"name": "x"}
    # Figures are small palette PNGs (report.html inlines them): 64 colours at most.
    from PIL import Image

    from probekit.report import PNG_COLOURS

    for figure in ("layer_curves.png", "task_layer_heatmap.png"):
        image = Image.open(tmp_path / figure)
        assert image.mode == "P" and len(image.getcolors(maxcolors=256)) <= PNG_COLOURS == 64
    assert len(pd.read_csv(tmp_path / "scores.csv")) == len(_scores())


def test_analysis_doctests():
    import doctest

    import probekit.analysis as analysis
    import probekit.tasks.control as control
    import probekit.transfer.steps as steps

    for module in (analysis, steps, control):  # steps: the lineage; control: ControlTrees
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


def test_f1_table_gets_its_headline_metric():
    # Only f1 rows per layer (as bootstrap_ci(metric="f1_micro"/"f1_macro") writes them): the
    # headline is micro F1, and the summary finds its planted peak.
    from probekit.analysis import primary_metric

    table = _scores({"deps": 2}).query("metric != 'expected_layer'")
    micro = table.assign(metric="f1_micro")
    macro = table.assign(metric="f1_macro", value=table["value"] - 0.2)
    both = pd.concat([macro, micro], ignore_index=True)
    assert primary_metric(both, "deps") == "f1_micro"
    summary = summarize(both).set_index("task")
    assert summary.loc["deps", "metric"] == "f1_micro" and summary.loc["deps", "best_layer"] == 2
    assert abs(summary.loc["deps", "best_score"] - micro.query("layer == 2 and not control")["value"].mean()) < 1e-9
    assert set(layer_curves(both)["metric"]) == {"f1_micro"}


def test_primary_metrics_are_names_probekit_writes():
    from probekit.analysis import PRIMARY_METRICS
    from probekit.probes.structural import depth_scores, distance_scores, tree_distances
    from probekit.scoring import METRICS

    import inspect

    import probekit.run_probes

    heads = [2, 0, 2, 3, 2, 5]
    written = set(METRICS) | {"edge_f1"}
    if 'metric="mdl_compression"' in inspect.getsource(probekit.run_probes._mdl_rows):
        written.add("mdl_compression")
    written |= set(distance_scores([tree_distances(heads)], [heads]))
    written |= set(depth_scores([np.arange(6.0)], [heads]))
    from probekit.crosslingual import XLING_METRICS

    written |= set(XLING_METRICS)
    assert set(PRIMARY_METRICS) <= written, set(PRIMARY_METRICS) - written


def test_rebuild_report_from_the_folder_alone(tmp_path):
    from probekit.report import rebuild_report

    write_report(_scores(), tmp_path, config={"name": "x"}, title="T", description="what it is",
                 extra_sections=[("Transfer chain", "0.925 vs 0.731")])
    first = (tmp_path / "report.md").read_text()
    for name in ("report.html", "report.md", "summary.csv", "layer_curves.png"):
        (tmp_path / name).unlink()
    rebuild_report(tmp_path)
    assert (tmp_path / "report.md").read_text() == first
    page = (tmp_path / "report.html").read_text()
    assert "Transfer chain" in page and "0.925 vs 0.731" in page and "what it is" in page
    assert (tmp_path / "layer_curves.png").stat().st_size > 0


def test_config_paths_are_relative_to_the_report_and_follow_a_rebuild(tmp_path):
    from probekit.report import rebuild_report

    data = tmp_path / "data" / "train.conllu"
    model = tmp_path / "runs" / "chain" / "general"
    config = {"name": "x", "data": {"root": str(tmp_path / "data")}, "tasks": [{"train": [str(data)]}],
              "models": [{"id": "m", "path": str(model)}, {"id": "m:random", "path": f"{model}:random@3"},
                         {"id": "minilm", "path": "minilm"}]}
    out = tmp_path / "reports" / "x"
    write_report(_scores(), out, config=config)
    stored = json.loads((out / "config.json").read_text())
    assert str(tmp_path) not in (out / "config.json").read_text() + (out / "report.md").read_text()
    assert stored["tasks"][0]["train"] == ["../../data/train.conllu"]
    assert [m["path"] for m in stored["models"]] == ["../../runs/chain/general", "../../runs/chain/general:random@3",
                                                     "minilm"]
    assert (out / stored["data"]["root"]).resolve() == (tmp_path / "data").resolve()
    # Rebuilt into another folder, the paths are made relative to that one.
    elsewhere = tmp_path / "copy"
    rebuild_report(out, elsewhere)
    again = json.loads((elsewhere / "config.json").read_text())
    assert again["models"][0]["path"] == "../runs/chain/general" and again["tasks"][0]["train"] == ["../data/train.conllu"]
    rebuild_report(out)  # in place: unchanged
    assert json.loads((out / "config.json").read_text()) == stored


def test_curve_panels_one_per_model_with_every_checkpoints_control():
    from probekit.report import curve_panels

    parts = []
    for model, ckpts in (("minilm", [""]), ("chain", ["general", "dapt", "ft"]), ("chain:random", [""])):
        for ckpt in ckpts:
            part = _scores({"pos": 1})
            part["model"], part["checkpoint"] = model, ckpt
            parts.append(part)
    panels = dict(curve_panels(layer_curves(pd.concat(parts, ignore_index=True))))
    assert list(panels) == ["pos / linear / minilm", "pos / linear / chain"]
    chain = panels["pos / linear / chain"]
    controls = chain[chain["is_control"] & (chain["model"] == "chain")]
    assert sorted(controls["checkpoint"].unique()) == ["dapt", "ft", "general"]
    assert set(chain["model"]) == {"chain", "chain:random"}  # the baseline stands beside its model
    assert set(panels["pos / linear / minilm"]["model"]) == {"minilm"}


def test_layer_metric_plot_gives_each_model_and_checkpoint_its_own_colour(tmp_path, monkeypatch):
    """One task across models and checkpoints (the demo's selectivity panel) is not one colour."""
    import probekit.report as report

    parts = []
    for model, ckpts in (("minilm", [""]), ("chain", ["general", "ft"]), ("chain:random", [""])):
        for ckpt in ckpts:
            part = _scores({"pos": 1})
            part["model"], part["checkpoint"] = model, ckpt
            part["metric"] = part["metric"].replace("accuracy", "selectivity")
            parts.append(part)
    figures = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.append(fig) or path)
    report.plot_layer_metric(pd.concat(parts, ignore_index=True), "selectivity", "selectivity", tmp_path / "s.png")
    lines = {line.get_label(): line.get_color() for line in figures[0].axes[0].get_lines() if line.get_label()[0] != "_"}
    trained = {label: color for label, color in lines.items() if "random" not in label and "control" not in label}
    assert len(trained) == 3 and len({tuple(np.atleast_1d(c)) for c in trained.values()}) == 3
    assert lines["pos / chain / ft (control)"] == lines["pos / chain / ft"]  # a control shares its line's colour
