"""``probekit validate``, ``probekit run --dry-run`` and ``probekit report`` (CLI, tiny model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from probekit.cli import build_parser, main
from probekit.data.conllu import write_conllu
from probekit.data.synthetic import generate
from probekit.extract.tiny import save_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PROBES_DIR = Path(__file__).resolve().parent.parent / "probes"

SUITE = """name = "verbs"
description = "a tiny study for the verb tests"
[data.synthetic]
train_sentences = 60
eval_sentences = 30
[[models]]
id = "tiny"
path = "model"
[[tasks]]
name = "pos"
[[tasks]]
name = "deps"
train = "data/train.conllu"
eval = "data/dev.conllu"
[probes]
linear = { max_epochs = 3 }
[scoring]
bootstrap = 20
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("verbs")
    save_tiny("bert", root / "model")
    (root / "data").mkdir()
    write_conllu(generate(40, seed=3), root / "data" / "train.conllu")
    write_conllu(generate(20, seed=4), root / "data" / "dev.conllu")
    (root / "s.toml").write_text(SUITE)
    return root


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize("verb", ["run", "validate", "report"])
def test_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0 and verb in capsys.readouterr().out
    assert verb in build_parser().format_help()


def test_validate_accepts_a_good_suite(folder, capsys):
    assert main(["validate", str(folder / "s.toml")]) == 0
    assert "ok:" in capsys.readouterr().out


def test_validate_accepts_the_demo_suite(capsys):
    assert main(["validate", str(PROBES_DIR / "demo.toml")]) == 0


@pytest.mark.realdata
def test_validate_accepts_every_shipped_suite(real_data, capsys):
    paths = sorted(str(p) for p in PROBES_DIR.glob("*.toml"))
    assert main(["validate", *paths, "--set", f"data.root={real_data}"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("change, needle, message", [
    (("[probes]", "[probes]\nlinaer = {}"), "linaer", "unknown probe 'linaer'; did you mean 'linear'"),
    (('name = "deps"', 'name = "depz"'), "depz", "unknown task 'depz'; did you mean 'deps'"),
    (('eval = "data/dev.conllu"', 'eval = "data/missing.conllu"'), "missing.conllu", "missing.conllu not found"),
    (('path = "model"', 'path = "no/such/model"'), "no/such/model", "model 'tiny'"),
    (("bootstrap = 20", "bootstrap = 20\nbootstrp = 3"), "bootstrp", "unknown key 'bootstrp'"),
])
def test_validate_rejects_naming_the_line(folder, tmp_path, capsys, change, needle, message):
    for item in folder.iterdir():  # the suite's relative paths need its neighbours
        (tmp_path / item.name).symlink_to(item)
    (tmp_path / "s.toml").unlink()
    text = SUITE.replace(*change)
    (tmp_path / "s.toml").write_text(text)
    assert main(["validate", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert f"s.toml:{_line(text, needle)}:" in err and message in err, err


def test_malformed_set_is_a_clear_error(folder, capsys):
    assert main(["validate", str(folder / "s.toml"), "--set", "models.nope.layers=[0]"]) == 2
    assert "no entry 'nope' under models; entries: tiny" in capsys.readouterr().err
    assert main(["run", str(folder / "s.toml"), "--set", "seeds"]) == 2
    assert "expected key.path=value" in capsys.readouterr().err


def test_dry_run_lists_units_then_report_rebuilds(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(folder / "s.toml"), "--out", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "3 units: 0 cached, 3 to run" in listing and "tiny x deps" in listing
    assert not (out / "units").exists() or not any((out / "units").iterdir())  # nothing ran

    assert main(["run", str(folder / "s.toml"), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", str(folder / "s.toml"), "--out", str(out), "--dry-run"]) == 0
    assert "3 units: 3 cached, 0 to run" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv")

    # The results folder alone (scores + config) rebuilds the report, elsewhere too.
    results = tmp_path / "results"
    results.mkdir()
    for name in ("scores.csv", "config.json"):
        shutil.copy(out / name, results / name)
    assert main(["report", str(results)]) == 0
    assert "report:" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(results / "summary.csv"), summary)
    page = (results / "report.html").read_text()
    assert "probekit: verbs" in page and "a tiny study for the verb tests" in page
    assert (results / "layer_curves.png").stat().st_size > 0


def test_report_from_units_of_an_interrupted_run_and_bad_folder(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(folder / "s.toml"), "--out", str(out), "--quiet"]) == 0
    (out / "scores.csv").unlink()
    next((out / "units").glob("tiny__deps__*.csv")).unlink()
    assert main(["report", str(out), "--title", "partial"]) == 0
    assert set(pd.read_csv(out / "summary.csv")["task"]) == {"pos"}
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no scores.csv" in capsys.readouterr().err


def test_a_unit_failing_midway_names_it_and_keeps_finished_units(folder, tmp_path, monkeypatch, capsys):
    import probekit.run_probes
    from probekit.errors import ProbekitError

    real = probekit.run_probes.probe_task

    def fail_on_deps(*args, **kwargs):
        if kwargs["task"] == "deps":
            raise ProbekitError("simulated failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(probekit.run_probes, "probe_task", fail_on_deps)
    out = tmp_path / "out"
    assert main(["run", str(folder / "s.toml"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    line = _line(SUITE, 'name = "deps"') - 1  # the [[tasks]] header of deps
    assert f"s.toml:{line}: [tasks[1]]: unit tiny x deps failed" in err
    assert "1 finished unit(s) stay in" in err and "simulated failure" in err
    monkeypatch.undo()
    assert main(["run", str(folder / "s.toml"), "--out", str(out), "--dry-run"]) == 0
    assert "3 units: 1 cached, 2 to run" in capsys.readouterr().out
