"""The demo is the shipped suite probes/demo.toml, run by ``probekit run`` (``probekit demo`` is the
same run); at its smallest size (``--fast`` = overrides of that suite) it writes the whole report."""

import json

import pandas as pd
import pytest

from probekit.cli import main
from probekit.commands.demo import DEMO_SUITE, FAST_OVERRIDES, FINETUNE_STAGES
from probekit.io import load_toml
from probekit.suite import load_suite


def test_demo_suite_is_valid_and_fast_overrides_reach_every_finetuning_stage(tmp_path):
    assert main(["validate", str(DEMO_SUITE)]) == 0
    stages = load_toml(DEMO_SUITE)["transfer"]["stages"]
    assert tuple(st["name"] for st in stages if st["kind"] == "finetune") == FINETUNE_STAGES
    assert max(st.get("layers", 2) for st in stages) >= 4  # deep enough for layer-wise change (issue 13)
    suite = load_suite(DEMO_SUITE, FAST_OVERRIDES)
    transfer = suite.config["transfer"]
    assert transfer["out"].endswith("demo-transfer-fast")
    assert all(st["train"]["steps"] <= 30 for st in transfer["stages"])
    assert len([st for st in transfer["stages"] if st["kind"] == "finetune"]) == 6  # two arms x three seeds


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_fast_demo_writes_a_complete_report(minilm, tmp_path):
    out = tmp_path / "report"
    assert main(["demo", "--fast", "--quiet", "--out", str(out), "--set", f"transfer.out={tmp_path / 'runs'}"]) == 0
    for name in ("scores.csv", "summary.csv", "layer_curves.png", "task_layer_heatmap.png",
                 "layer_similarity_cka.png", "report.md", "report.html", "config.json"):
        assert (out / name).stat().st_size > 0, name
    summary = pd.read_csv(out / "summary.csv")
    minilm_rows = summary[summary.model == "minilm"]
    assert set(minilm_rows.task) == {"pos", "deps", "entities", "consts", "srl", "tense", "bigram_shift"}
    assert set(minilm_rows.best_layer) <= set(range(7))
    assert minilm_rows.set_index(["task", "probe"]).loc[("pos", "linear"), "best_score"] > 0.9
    # The chain's probed checkpoints are models of the suite, on the tasks [transfer] names.
    chain = summary[summary.model == "chain"]
    assert set(chain.checkpoint) == {"general", "dapt-reviews", "ft-reviews", "ft-reviews-random-init"}
    assert set(chain.task) == {"pos", "deps"}
    assert set(chain.probe) == {"linear"}  # [transfer] probes = ["linear"]; MiniLM runs every [probes] entry
    assert set(minilm_rows.probe) == {"linear", "mlp"}
    assert set(summary[summary.model == "chain:random"].task) == {"pos", "deps"}  # [baselines] for the chain only
    assert "minilm:random" not in set(summary.model)
    scores = pd.read_csv(out / "scores.csv")
    assert sorted(scores[scores.model == "chain"].layer.dropna().unique()) == [0, 1, 2, 3, 4]  # NaN: whole-model rows
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "demo" and len(config["transfer"]["stages"]) == 8
    report = (out / "report.md").read_text()
    assert "pos-en.test.accuracy: fine-tuned from dapt-reviews" in report and "of 3" in report
    selection = report.split("## Which layers to use: frozen features vs fine-tuning", 1)[1].split("\n## ", 1)[0]
    assert "pos" in selection and "fine-tun" in selection  # [selection] on pos, beside full fine-tuning
    assert [p.name for p in (out / "selection").iterdir()] == ["minilm"]  # [selection] models = ["minilm"]
    assert "probekit demo" in (out / "report.html").read_text()
