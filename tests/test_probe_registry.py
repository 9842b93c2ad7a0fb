"""One probe registry: a suite can ask for linear, mlp, span (self-attentive pooling too),
structural (distance and depth) and MDL probes, each on the tasks it applies to."""

from __future__ import annotations

import pytest

from probekit.analysis import summarize
from probekit.cli import build_parser
from probekit.errors import ConfigError
from probekit.extract.tiny import save_tiny
from probekit.probes.registry import PROBES, get_probe
from probekit.suite import load_suite, run_suite
from probekit.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUITE = """name = "registry"
[data.synthetic]
train_sentences = 120
eval_sentences = 40
[[models]]
id = "tiny"
path = "{model}"
[[tasks]]
name = "pos"
[[tasks]]
name = "deps"
[[tasks]]
name = "tense"
[probes]
{probes}
[scoring]
bootstrap = 20
cka = false
"""
ALL = """linear = { max_epochs = 20 }
span = { pooling = "attn", projection_dim = 16, max_epochs = 20, learning_rate = 1e-2 }
structural = { rank = 16, max_epochs = 5 }
structural_depth = { rank = 16, max_epochs = 5 }"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny("bert", tmp_path_factory.mktemp("registry") / "model")


def _suite(tmp_path, model, probes):
    path = tmp_path / "r.toml"
    path.write_text(SUITE.format(model=model, probes=probes))
    return path


def test_registry_names_and_applicability():
    assert set(PROBES) == {"linear", "mlp", "span", "structural", "structural_depth", "mdl"}
    assert get_probe("span").applies_to(get_task("deps")) and not get_probe("span").applies_to(get_task("tense"))
    assert get_probe("structural").applies_to(get_task("deps")) and not get_probe("structural").applies_to(get_task("pos"))
    assert get_probe("structural_depth").make().kind == "depth"
    assert "kind" not in get_probe("structural").params() and "random_state" not in get_probe("linear").params()
    with pytest.raises(ConfigError, match="did you mean 'span'"):
        get_probe("spam")


def test_every_registered_probe_runs_from_a_suite(tmp_path, model):
    scores = run_suite(load_suite(_suite(tmp_path, model, ALL)), tmp_path / "out", progress=False)
    per_layer = scores[scores.layer.notna()]

    def rows(probe, task, metric):
        return per_layer[(per_layer.probe == probe) & (per_layer.task == task) & (per_layer.metric == metric)]

    for task in ("pos", "deps"):
        assert sorted(rows("span", task, "accuracy").layer.astype(int)) == [0, 1, 2]
    assert rows("span", "tense", "accuracy").empty  # a sentence task has no spans
    for probe, metrics in (("structural", ("uuas", "dspr")), ("structural_depth", ("root_acc", "nspr"))):
        for metric in metrics:
            assert len(rows(probe, "deps", metric)) == 3
        assert per_layer[(per_layer.probe == probe) & (per_layer.task != "deps")].empty
    # POS is mostly word identity, which layer 0 of even a random model carries: the span probe
    # learns it well above the majority tag.
    from collections import Counter

    from probekit.data.synthetic import generate

    tags = Counter(t.label for r in get_task("pos").examples(generate(40, seed=1)).records for t in r.targets)
    majority = max(tags.values()) / sum(tags.values())  # the suite's eval split is generate(40, seed=1)
    span_pos = rows("span", "pos", "accuracy").value.max()
    assert span_pos > majority + 0.2, (span_pos, majority)

    summary = summarize(scores).set_index(["task", "probe"])
    assert summary.loc[("deps", "structural"), "metric"] == "uuas"
    assert summary.loc[("deps", "structural_depth"), "metric"] == "root_acc"
    assert summary.loc[("pos", "span"), "metric"] == "accuracy"


def test_mdl_probe_from_a_suite(tmp_path, model):
    text = SUITE.format(model=model, probes="mdl = { max_epochs = 5 }")
    text = text.replace('[[tasks]]\nname = "deps"\n', "").replace('[[tasks]]\nname = "tense"\n', "")
    path = tmp_path / "m.toml"
    path.write_text(text)
    scores = run_suite(load_suite(path), tmp_path / "out", progress=False)
    mdl = scores[(scores.probe == "mdl") & (scores.metric == "mdl_compression")]
    assert sorted(mdl.layer.astype(int)) == [0, 1, 2] and (mdl.value > 1).all()  # compresses below uniform
    assert summarize(scores).set_index(["task", "probe"]).loc[("pos", "mdl"), "metric"] == "mdl_compression"


@pytest.mark.parametrize("probes, message", [
    ("structural = { rank = 16 }", None),  # deps is in the suite: fine
    ("span = { pooling = 'attn', random_state = 3 }", r"'random_state' is set by the runner"),
    ("span = { poolng = 'attn' }", r"unknown key 'poolng'; did you mean 'pooling'"),
    ("structural = { kind = 'depth' }", r"unknown key 'kind'"),
])
def test_probe_options_are_checked(tmp_path, model, probes, message):
    path = _suite(tmp_path, model, probes)
    if message is None:
        assert load_suite(path).config["probes"] == {"structural": {"rank": 16}}
        return
    line = path.read_text().splitlines().index(probes) + 1
    with pytest.raises(ConfigError, match=rf"r.toml:{line}: .*{message}"):
        load_suite(path)


def test_a_probe_no_task_can_use_is_refused(tmp_path, model):
    text = SUITE.format(model=model, probes="structural = {}").replace(
        '[[tasks]]\nname = "deps"\n', "").replace('[[tasks]]\nname = "pos"\n', "")
    path = tmp_path / "r.toml"
    path.write_text(text)
    line = text.splitlines().index("structural = {}") + 1
    with pytest.raises(ConfigError, match=rf"r.toml:{line}: \[probes\]: probe 'structural' applies to tasks that read"):
        load_suite(path)


def test_probe_verb_help_lists_the_registry():
    verbs = build_parser()._subparsers._group_actions[0].choices
    text = " ".join(verbs["probe"].format_help().split())
    for name in PROBES:
        assert name in text


def test_a_probe_asked_for_a_task_it_cannot_run_is_an_error(model):
    from probekit.data.synthetic import generate
    from probekit.run_probes import per_layer_table, probe_task

    with pytest.raises(ConfigError, match="probe 'span' applies to token, span and span-pair tasks"):
        probe_task(model, generate(20, seed=0), generate(10, seed=1), task="tense", probes=("span",))
    scores = probe_task(model, generate(40, seed=0), generate(20, seed=1), task="deps", probes=("structural",),
                        probe_params={"structural": {"rank": 8, "max_epochs": 2}}, mix=False, progress=False)
    table = per_layer_table(scores)
    assert list(table.metric) == ["uuas"] * 3 and list(table.layer) == [0, 1, 2]


def test_structural_probe_gets_control_trees_from_a_suite(tmp_path, model, monkeypatch):
    import numpy as np

    import probekit.suite as suite_module

    text = SUITE.format(model=model, probes="linear = { max_epochs = 5 }\nstructural = { rank = 8, max_epochs = 3 }")
    text = text.replace('[[tasks]]\nname = "tense"\n', "")
    path = tmp_path / "control.toml"
    path.write_text(text.replace('name = "deps"\n', 'name = "deps"\ncontrol = true\n')
                    .replace('name = "pos"\n', 'name = "pos"\ncontrol = true\n'))
    scores = run_suite(load_suite(path), tmp_path / "out", progress=False)
    structural = scores[scores.probe == "structural"]
    uuas = structural[structural.metric == "uuas"]
    assert sorted(uuas[uuas.control.astype(bool)].layer.astype(int)) == [0, 1, 2]
    task = uuas[~uuas.control.astype(bool)].set_index("layer").value.sort_index()
    ctrl = uuas[uuas.control.astype(bool)].set_index("layer").value.sort_index()
    selectivity = structural[structural.metric == "selectivity"].set_index("layer").value.sort_index()
    assert np.allclose(selectivity, task - ctrl)
    # Every headline score and selectivity has a bootstrap interval around it (over sentences).
    for rows in (uuas, structural[structural.metric == "selectivity"]):
        assert rows.ci_low.notna().all() and (rows.ci_low <= rows.value).all() and (rows.value <= rows.ci_high).all()
        assert (rows.ci_high - rows.ci_low > 0).any()
    row = summarize(scores).set_index(["task", "probe"]).loc[("deps", "structural")]
    assert row["selectivity"] == pytest.approx(row["best_score"] - ctrl[row["best_layer"]])
    # Only the units that run a structural probe carry its code version in the key.
    before = {u.label: u.key for u in suite_module.plan_units(load_suite(path), tmp_path / "o")}
    monkeypatch.setattr(suite_module, "STRUCTURAL_VERSION", suite_module.STRUCTURAL_VERSION + 1)
    after = {u.label: u.key for u in suite_module.plan_units(load_suite(path), tmp_path / "o")}
    assert [label for label in before if before[label] != after[label]] == ["tiny x deps"]
