"""Integration: a whole suite (generated data, tiny model) -> scores table -> report, resumable."""

import numpy as np
import pandas as pd
import pytest

import probekit.run_probes
from probekit.extract.tiny import save_tiny
from probekit.report import cka_matrices, summarize, write_report
from probekit.suite import load_suite, run_suite

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUITE = """
name = "tiny"
seeds = [0]
[data.synthetic]
train_sentences = 60
eval_sentences = 30
[[models]]
id = "tiny-bert"
path = "{model}"
layers = "all"
[[tasks]]
name = "pos"
control = true
[[tasks]]
name = "tense"
[probes]
linear = {{ max_epochs = 5 }}
[scoring]
bootstrap = 50
"""


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    model = save_tiny("bert", root / "model")
    path = root / "tiny.toml"
    path.write_text(SUITE.format(model=model))
    return path


def test_suite_runs_reports_and_resumes(suite_file, tmp_path, monkeypatch):
    suite = load_suite(suite_file)
    scores = run_suite(suite, tmp_path, progress=False)
    assert set(scores["task"]) == {"pos", "tense"}
    assert {"accuracy", "selectivity", "expected_layer", "center_of_gravity"} <= set(scores["metric"])
    accuracy = scores[(scores.metric == "accuracy") & (scores.probe == "linear") & ~scores.control.astype(bool)]
    assert sorted(accuracy[accuracy.task == "pos"]["layer"].astype(int)) == [0, 1, 2]  # every layer

    cka = cka_matrices(scores)["tiny-bert"]
    assert cka.shape == (3, 3)
    np.testing.assert_allclose(np.diag(cka.values), 1.0, atol=1e-6)
    np.testing.assert_allclose(cka.values, cka.values.T, atol=1e-6)

    html = write_report(scores, tmp_path, config=suite.config)
    assert (tmp_path / "layer_similarity_cka.png").stat().st_size > 0
    assert "Layer similarity" in html.read_text()
    assert len(summarize(scores)) == 2  # pos and tense, linear probe

    # A second run with nothing changed recomputes nothing: every unit is read back.
    def fail(*args, **kwargs):
        raise AssertionError("a finished unit was recomputed")

    monkeypatch.setattr(probekit.run_probes, "probe_task", fail)
    again = run_suite(suite, tmp_path, progress=False)
    pd.testing.assert_frame_equal(again, pd.read_csv(tmp_path / "scores.csv"))


def test_changed_setting_recomputes_only_that_unit(suite_file, tmp_path):
    run_suite(load_suite(suite_file), tmp_path, progress=False)
    before = {p.name for p in (tmp_path / "units").iterdir()}
    run_suite(load_suite(suite_file, ["tasks.tense.max_eval=20"]), tmp_path, progress=False)
    added = {p.name for p in (tmp_path / "units").iterdir()} - before
    assert len(added) == 1 and next(iter(added)).startswith("tiny-bert__tense__")


def test_changed_generator_output_recomputes_every_unit(suite_file, tmp_path, monkeypatch):
    """Generated data is keyed by its content: the same [data.synthetic] spec giving other
    sentences (a generator upgrade) never reuses results computed from the old ones."""
    import dataclasses

    import probekit.data.synthetic as synthetic

    run_suite(load_suite(suite_file), tmp_path, progress=False)
    before = {p.name for p in (tmp_path / "units").iterdir()}
    real = synthetic.generate

    def upgraded(n, **kwargs):
        sents = list(real(n, **kwargs))
        sents[-1] = dataclasses.replace(sents[-1], tokens=[w.upper() for w in sents[-1].tokens])
        return sents

    monkeypatch.setattr(synthetic, "generate", upgraded)
    run_suite(load_suite(suite_file), tmp_path, progress=False)
    added = {p.name for p in (tmp_path / "units").iterdir()} - before
    assert len(added) == len(before) == 3  # pos, tense and the CKA unit, all recomputed


def test_unit_keys_carry_stage_code_versions(suite_file, tmp_path, monkeypatch):
    import probekit.extract
    import probekit.suite
    from probekit.suite import plan_units

    suite = load_suite(suite_file)
    keys = [u.key for u in plan_units(suite, tmp_path)]
    assert keys == [u.key for u in plan_units(suite, tmp_path)]  # stable
    monkeypatch.setattr(probekit.suite, "RUN_VERSION", probekit.suite.RUN_VERSION + 1)
    probing = [u.key for u in plan_units(suite, tmp_path)]
    monkeypatch.undo()
    monkeypatch.setattr(probekit.extract, "CODE_VERSION", probekit.extract.CODE_VERSION + 1)
    extraction = [u.key for u in plan_units(suite, tmp_path)]
    assert not set(keys) & set(probing) and not set(keys) & set(extraction)


def test_unit_keys_follow_content_not_location(suite_file, tmp_path):
    import shutil

    from probekit.suite import plan_units

    moved = tmp_path / "elsewhere"
    shutil.copytree(suite_file.parent, moved)
    text = suite_file.read_text().replace(str(suite_file.parent / "model"), str(moved / "model"))
    (moved / suite_file.name).write_text(text)
    before = [u.key for u in plan_units(load_suite(suite_file), tmp_path)]
    after = [u.key for u in plan_units(load_suite(moved / suite_file.name), tmp_path)]
    assert before == after
