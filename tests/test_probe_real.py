"""Probes on real all-MiniLM-L6-v2 features of UD EWT (subsets keep this fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probekit.cli import main

N_SENTENCES = 300


@pytest.fixture(scope="module")
def ewt_pos(real_data, minilm):
    from probekit.data.conllu import read_conllu
    from probekit.extract import extract, target_features
    from probekit.tasks import get_task

    ud = real_data / "ud-english-ewt"
    # Same sentences as the CLI test below (--limit N), so its extraction is a cache hit.
    train = read_conllu(ud / "en_ewt-ud-train.conllu")[:N_SENTENCES]
    dev = read_conllu(ud / "en_ewt-ud-dev.conllu")[:N_SENTENCES]
    task = get_task("pos")
    tr = task.examples(train)
    dv = task.examples(dev, labels=tr.labels)
    X = target_features(extract(str(minilm), tr.records, progress=False), tr)
    Xd = target_features(extract(str(minilm), dv.records, progress=False), dv)
    return X, tr.label_ids(), Xd, dv.label_ids()


@pytest.mark.slow
def test_linear_probe_agrees_with_sklearn_logistic_regression(ewt_pos):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from probekit.probes import LinearProbe, fit_layers

    X, y, Xd, yd = ewt_pos
    layers = [0, 4]
    C = 1.0
    # Same objective: mean loss + 1/(2 C n) ||W||^2 == scikit-learn's C * sum loss + ||W||^2 / 2.
    # Trained to convergence (no early stopping) so both reach the same optimum.
    ours = fit_layers(LinearProbe(alpha=1 / (C * len(y)), early_stopping=False, max_epochs=100,
                                  learning_rate=1e-2),
                      X[layers], y)
    for probe, layer in zip(ours, layers):
        with threadpool_limits(1):  # the test machine is shared: threads only add contention
            ref = LogisticRegression(C=C, max_iter=2000).fit(X[layer].astype(np.float64), y)
        a, b = probe.score(Xd[layer], yd), ref.score(Xd[layer].astype(np.float64), yd)
        assert abs(a - b) <= 0.005, (layer, a, b)


@pytest.mark.slow
def test_cli_probe_control_selectivity(real_data, minilm, tmp_path, capsys):
    ud = real_data / "ud-english-ewt"
    out = tmp_path / "scores.csv"
    code = main(["probe", "--model", "minilm", "--data", str(ud / "en_ewt-ud-train.conllu"),
                 "--eval", str(ud / "en_ewt-ud-dev.conllu"), "--limit", str(N_SENTENCES), "--task", "pos",
                 "--probe", "linear,mlp", "--control", "--bootstrap", "200", "--quiet",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "selectivity" in printed and "expected_layer" in printed
    df = pd.read_csv(out)
    from probekit.scoring import SCORE_COLUMNS

    assert list(df.columns) == list(SCORE_COLUMNS)
    acc = df[(df.metric == "accuracy") & df.layer.notna()]
    ctrl = acc[acc.control].groupby("probe")["value"].mean()
    task = acc[~acc.control].groupby("probe")["value"].mean()
    # Hewitt & Liang: the MLP memorises word types better -> higher control accuracy
    assert ctrl["mlp"] > ctrl["linear"]
    assert task["linear"] > 0.8 and task["mlp"] > 0.8
    sel = df[df.metric == "selectivity"]
    assert set(sel.probe) == {"linear", "mlp"} and len(sel) == 2 * 7
    assert (sel.ci_low <= sel.value).all() and (sel.value <= sel.ci_high).all()
    summary = df[df.layer.isna()].set_index(["probe", "metric"])["value"]
    assert 0 <= summary[("mix_cumulative", "expected_layer")] <= 6
    assert 0 <= summary[("mix", "center_of_gravity")] <= 6
    assert ("mix", "center_of_gravity_normed") in summary.index
