"""The report's summary sentences, baselines and transfer panels, on small synthetic scores tables
with planted answers (no model is run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probekit.analysis import (
    baseline_table,
    checkpoint_deltas,
    checkpoint_similarity,
    findings,
    mix_profile,
    transfer_steps,
)
from probekit.report import write_report

LAYERS = range(7)


def _row(**kw):
    base = dict(model="m", checkpoint="", task="pos", control=False, probe="linear", layer=np.nan, seed=0,
                split="dev", metric="accuracy", value=np.nan, ci_low=np.nan, ci_high=np.nan, n_train=10, n_eval=10)
    return {**base, **kw}


def curve(peak: int, top: float, slope: float = 0.08) -> list[float]:
    return [top - slope * abs(layer - peak) for layer in LAYERS]


def planted_scores() -> pd.DataFrame:
    """pos peaks at layer 2 (0.95), deps at layer 5 (0.85); controls 0.30 below; the random-weights
    model's best is layer 0 (0.62 for pos); mix rows give pos E_delta 2.4 and E_s 2.9."""
    rows = []
    for task, peak, top in (("pos", 2, 0.95), ("deps", 5, 0.85)):
        for layer, value in zip(LAYERS, curve(peak, top)):
            rows.append(_row(task=task, layer=layer, value=value, ci_low=value - 0.01, ci_high=value + 0.01))
            rows.append(_row(task=task, layer=layer, value=value - 0.30, control=True))
            rows.append(_row(task=task, layer=layer, metric="selectivity", value=0.30, ci_low=0.28, ci_high=0.32))
        for layer, value in zip(LAYERS, curve(0, top - 0.33, 0.02)):
            rows.append(_row(model="m:random", task=task, layer=layer, value=value))
    for layer, weight in zip(LAYERS, [0.05, 0.2, 0.4, 0.2, 0.1, 0.03, 0.02]):
        rows.append(_row(probe="mix", layer=layer, metric="mix_weight", value=weight))
        rows.append(_row(probe="mix_cumulative", layer=layer, value=0.6 + 0.05 * min(layer, 3)))
    rows.append(_row(probe="mix_cumulative", metric="expected_layer", value=2.4))
    rows.append(_row(probe="mix", metric="center_of_gravity", value=2.9))
    return pd.DataFrame(rows)


def chain_scores() -> pd.DataFrame:
    """A chain init -> pre -> ft: pre gains most at layer 4 (+0.30); ft loses at layer 6 (-0.20).
    CKA between pre and init is lowest at layer 4 (0.20)."""
    values = {"init": [0.5] * 7,
              "pre": [0.5, 0.55, 0.6, 0.7, 0.8, 0.75, 0.7],
              "ft": [0.5, 0.55, 0.6, 0.7, 0.8, 0.7, 0.5]}
    rows = [_row(model="chain", checkpoint=ckpt, layer=layer, value=v)
            for ckpt, vs in values.items() for layer, v in zip(LAYERS, vs)]
    for ckpt, others in (("pre", ["init"]), ("ft", ["init", "pre"])):
        for other in others:
            for layer in LAYERS:
                cka = (0.2 if layer == 4 else 0.9 - 0.01 * layer) if (ckpt, other) == ("pre", "init") else 0.9
                rows.append(_row(model="chain", checkpoint=ckpt, probe="cka_checkpoints", layer=layer,
                                 metric=f"cka_vs:{other}", value=cka))
    return pd.DataFrame(rows)


def test_summary_names_the_planted_peaks_and_margins():
    sentences = findings(planted_scores())
    text = "\n".join(sentences["sentence"])
    assert "pos (linear, m): accuracy peaks at layer 2 of layers 0-6 (0.950 [0.940, 0.960])." in text
    assert "deps (linear, m): accuracy peaks at layer 5 of layers 0-6 (0.850 [0.840, 0.860])." in text
    assert text.count("Scalar mix: expected layer 2.40, centre of gravity 2.90.") == 1
    # pos beats its control by 0.30, layer 0 (0.95 - 0.16 = 0.79) by 0.16, random weights (best 0.62) by 0.33.
    assert ("pos (linear, m) beats its control task by +0.300 (selectivity; control 0.650); layer 0 by +0.160 "
            "(embeddings 0.790); the random-weights model by +0.330 (its best, layer 0: 0.620).") in text
    assert list(sentences["topic"]).count("peak") == 2  # the random-weights model is a baseline, not a finding
    table = baseline_table(planted_scores()).set_index("task")
    assert table.loc["deps", "random_at_best_layer"] == pytest.approx(0.52 - 0.1)


def test_summary_says_what_transfer_changed():
    scores = chain_scores()  # no lineage given: checkpoints in table order
    deltas = checkpoint_deltas(scores)
    step = deltas[deltas["checkpoint"] == "pre"].set_index("layer")["delta"]
    assert step[4] == pytest.approx(0.30) and list(deltas["previous"].unique()) == ["init", "pre"]
    similarity = checkpoint_similarity(scores)
    assert set(similarity.loc[similarity["step"] != "", "other"]) == {"init", "pre"}
    text = "\n".join(findings(scores, ["pos: use layers 2-3 (window3)."])["sentence"])
    assert ("chain, the step (init -> pre): pos (linear) rises at layers 1-6 (most at layer 4: +0.300) and stays "
            "within ±0.01 at layer 0. Representations differ most at layer 4 (CKA 0.200) and least at layer 0 "
            "(CKA 0.900).") in text
    assert ("chain, the step (pre -> ft): pos (linear) falls at layers 5-6 (most at layer 6: -0.200) and stays "
            "within ±0.01 at layers 0-4. Linear CKA between the two is 0.900 at every layer.") in text
    # every checkpoint's peak, not only the last one's
    assert ("pos (linear, chain): accuracy peaks at layer 0 in init (0.500), layer 4 in pre (0.800) and layer 4 "
            "in ft (0.800), of layers 0-6.") in text
    assert "Which layers to use for pos: use layers 2-3 (window3)." in text


LINEAGE = {"transfer": {"name": "chain", "stages": [
    {"name": "general", "kind": "pretrain"},
    {"name": "dapt", "kind": "adapt", "from": "general", "probe_intermediate": True},
    {"name": "ft", "kind": "finetune", "from": "dapt", "train": {"seed": 0, "steps": 9}},
    {"name": "ft-seed1", "kind": "finetune", "from": "dapt", "train": {"seed": 1, "steps": 9}, "probe": False},
    {"name": "ft-random", "kind": "finetune", "from": "dapt", "init": "random", "train": {"seed": 0, "steps": 9}}]}}


def lineage_scores() -> pd.DataFrame:
    """general -> dapt (probed at step 100 too) -> ft, and ft's random-init twin, in file order.
    DAPT lifts every layer; fine-tuning lowers layers 5-6; random init is 0.2 below ft."""
    values = {"general": [0.5] * 7, "dapt@100": [0.55] * 7, "dapt": [0.6] * 7,
              "ft": [0.6] * 5 + [0.5, 0.4], "ft-random": [0.4] * 5 + [0.3, 0.2]}
    rows = [_row(model="chain", checkpoint=ckpt, layer=layer, value=v)
            for ckpt, vs in values.items() for layer, v in zip(LAYERS, vs)]
    order = list(values)
    for i, ckpt in enumerate(order):  # the suite compares each checkpoint with every earlier one
        for other in order[:i]:
            rows += [_row(model="chain", checkpoint=ckpt, probe="cka_checkpoints", layer=layer,
                          metric=f"cka_vs:{other}", value=0.3 if (ckpt, other) == ("ft-random", "ft") else 0.8)
                     for layer in LAYERS]
    return pd.DataFrame(rows)


def test_transfer_steps_follow_the_lineage_not_the_table():
    scores = lineage_scores()
    steps = transfer_steps(scores, LINEAGE)
    assert list(zip(steps["before"], steps["after"], steps["kind"])) == [
        ("general", "dapt@100", "adapt"), ("dapt@100", "dapt", "adapt"), ("dapt", "ft", "finetune"),
        ("ft-random", "ft", "init")]  # never ft -> ft-random (siblings) nor dapt -> ft-random (random weights)
    deltas = checkpoint_deltas(scores, steps)
    init = deltas[deltas["kind"] == "init"].set_index("layer")["delta"]
    assert init.round(3).tolist() == [0.2] * 7  # pre-trained minus random init
    similarity = checkpoint_similarity(scores, steps)
    pair = similarity[similarity["kind"] == "init"]
    assert set(pair["checkpoint"]) == {"ft"} and set(pair["other"]) == {"ft-random"} and (pair["cka"] == 0.3).all()
    text = "\n".join(findings(scores, steps=steps)["sentence"])
    assert "chain, domain adaptation (general -> dapt@100): pos (linear) rises by +0.050 at every layer." in text
    assert ("chain, fine-tuning (dapt -> ft): pos (linear) falls at layers 5-6 (most at layer 6: -0.200) and "
            "stays within ±0.01 at layers 0-4.") in text
    assert ("chain, fine-tuned from pre-trained weights vs from random init (ft vs ft-random, same seed and data): "
            "pos (linear) is higher from pre-trained weights by +0.200 at every layer. Linear CKA between the two is 0.300 at every layer.") in text
    assert "ft -> ft-random" not in text and "dapt -> ft-random" not in text


def test_report_follows_the_lineage_and_rebuilds_it(tmp_path):
    from probekit.report import rebuild_report

    write_report(lineage_scores(), tmp_path / "r", config=LINEAGE)
    rebuilt = rebuild_report(tmp_path / "r", tmp_path / "again")
    for md in ((tmp_path / "r" / "report.md").read_text(), rebuilt.with_name("report.md").read_text()):
        steps = md.split("## What each transfer step changed, per layer", 1)[1].split("\n## ", 1)[0]
        assert "| chain | pos | linear | dapt -> ft |" in steps and "| chain | pos | linear | ft vs ft-random |" in steps
        assert "ft -> ft-random" not in md


def test_mix_profile_is_tenneys_figure_one():
    profile = mix_profile(planted_scores())
    assert list(profile["layer"]) == list(LAYERS)
    assert profile["delta"].iloc[1] == pytest.approx(0.05) and np.isnan(profile["delta"].iloc[0])
    assert profile["mix_weight"].idxmax() == 2 and profile["expected_layer"].iloc[0] == 2.4


def test_report_shows_baselines_and_transfer(tmp_path):
    mdl = pd.DataFrame([_row(layer=layer, control=control, split="train", metric="mdl_codelength",
                             value=900 - 50 * layer + 400 * control)
                        for layer in LAYERS for control in (False, True)])
    scores = pd.concat([planted_scores(), chain_scores(), mdl], ignore_index=True)
    html = write_report(scores, tmp_path, title="T").read_text()
    md = (tmp_path / "report.md").read_text()
    summary = md.split("## Summary", 1)[1].split("##", 1)[0]
    assert "pos (linear, m): accuracy peaks at layer 2" in summary
    assert md.index("## Summary") < md.index("## Layer utility")
    for heading in ("Scores beside their baselines", "Score per layer, with baselines", "Selectivity per layer",
                    "Expected layer and centre of gravity", "What each transfer step changed, per layer",
                    "Representation change between checkpoints", "MDL: online codelength per layer"):
        assert f"## {heading}" in md and heading in html
    baselines = md.split("## Scores beside their baselines", 1)[1].split("\n## ", 1)[0]
    assert "random weights (best layer)" in baselines and "0.620 (L0)" in baselines and "+0.330" in baselines
    for figure in ("layer_curves.png", "mix_profile.png", "selectivity.png", "mdl.png", "checkpoint_deltas.png",
                   "checkpoint_cka.png"):
        assert (tmp_path / figure).stat().st_size > 0 and f"]({figure})" in md
    assert html.count("data:image/png;base64,") == md.count("![")
    assert "<script" not in html and "http" not in html.split("<h2>Resolved configuration", 1)[0]
