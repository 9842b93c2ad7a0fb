"""The main job, end to end, at its smallest size (the same code path as ``make demo``)."""

import json

import pandas as pd
import pytest

from probekit.demo import run_demo


@pytest.mark.slow
def test_fast_demo_writes_a_complete_report(minilm, tmp_path):
    scores, html, sections = run_demo(tmp_path, fast=True, progress=False)
    for name in ("scores.csv", "summary.csv", "layer_curves.png", "task_layer_heatmap.png",
                 "layer_similarity_cka.png", "report.md", "config.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = pd.read_csv(tmp_path / "summary.csv")
    minilm_rows = summary[summary.model == "minilm"]
    assert set(minilm_rows.task) == {"pos", "deps", "entities", "consts", "srl", "tense", "bigram_shift"}
    assert set(minilm_rows.best_layer) <= set(range(7))
    assert minilm_rows.set_index(["task", "probe"]).loc[("pos", "linear"), "best_score"] > 0.9
    # The chain's checkpoints are probed too, one checkpoint column value per stage.
    assert {"general", "dapt-biomed", "ft-biomed", "ft-biomed-random-init"} <= set(scores.checkpoint.dropna())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["suite"]["name"] == "demo" and "pretrained_test_accuracy" in config["transfer"]
    assert any("Transfer chain" in heading for heading, _ in sections)
    assert "probekit demo" in html.read_text()
