"""A suite's [transfer] stages run first and their checkpoints become ordinary models of the suite."""

from __future__ import annotations

import pandas as pd
import pytest

import probekit.run_probes
from probekit.cli import main
from probekit.errors import ConfigError
from probekit.suite import load_suite

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUITE = """name = "chain-study"
[data.synthetic]
train_sentences = 60
eval_sentences = 30
[[tasks]]
name = "pos"
[probes]
linear = { max_epochs = 3 }
[scoring]
bootstrap = 20
cka = false
[transfer]
name = "chain"
out = "runs"
[[transfer.stages]]
name = "general"
kind = "pretrain"
corpus = "synthetic:general:300"
size = "tiny"
seq_len = 32
vocab_size = 600
train = { steps = 4, batch_size = 8 }
[[transfer.stages]]
name = "ft"
kind = "finetune"
from = "general"
tasks = ["downstream:general:40"]
max_len = 32
train = { steps = 2, batch_size = 8 }
[[transfer.stages]]
name = "ft-random"
kind = "finetune"
from = "general"
init = "random"
tasks = ["downstream:general:40"]
max_len = 32
train = { steps = 2, batch_size = 8 }
probe = false
"""


def _line(text, needle, after=0):
    return next(i for i, line in enumerate(text.splitlines(), start=1) if i > after and needle in line)


def test_transfer_stages_become_models(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    suite = load_suite(path)
    models = {m["id"]: m for m in suite.config["models"]}
    assert set(models) == {"chain-general", "chain-ft"}  # probe = false keeps ft-random out
    assert models["chain-ft"]["path"] == str((tmp_path / "runs" / "ft").resolve())

    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "to run  transfer stage general (pretrain)" in listing and "(after transfer stage ft)" in listing
    assert main(["validate", str(path)]) == 0

    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    scores = pd.read_csv(out / "scores.csv")
    acc = scores[(scores.metric == "accuracy") & (scores.probe == "linear")]
    assert set(acc.model) == {"chain"} and set(acc.checkpoint) == {"general", "ft"}
    assert sorted(acc[acc.checkpoint == "ft"].layer.astype(int).unique()) == [0, 1, 2]  # tiny: 2 layers
    assert (tmp_path / "runs" / "ft-random" / "probekit.json").is_file()  # run, not probed

    # A second run trains nothing and probes nothing; `probekit transfer` shares the checkpoints.
    monkeypatch.setattr(probekit.run_probes, "probe_task", lambda *a, **k: pytest.fail("unit recomputed"))
    assert main(["run", str(path), "--out", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "done  transfer stage ft-random" in listing and "2 units: 2 cached, 0 to run" in listing
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert "already complete with the same fingerprint, skipped" in capsys.readouterr().out
    assert main(["transfer", str(path)]) == 0


def test_a_failing_stage_is_named_and_earlier_stages_stay(tmp_path, capsys):
    text = SUITE.replace('tasks = ["downstream:general:40"]\nmax_len = 32\ntrain = { steps = 2, batch_size = 8 }\n'
                         'probe = false', 'tasks = ["nonsense:general"]\nmax_len = 32\nprobe = false')
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    header = _line(text, "[[transfer.stages]]", after=_line(text, 'name = "ft"'))
    assert f"s.toml:{header}: [transfer.stages[2]]: transfer stage 'ft-random' failed" in err
    assert "finished stages (general, ft) stay in" in err and "unknown task spec 'nonsense:general'" in err
    assert (tmp_path / "runs" / "ft" / "probekit.json").is_file()


@pytest.mark.parametrize("change, needle, message", [
    (("init = \"random\"", "init = \"random\"\nlr = 1"), "lr = 1", r"unknown key 'lr'"),
    (('from = "general"\ntasks', 'from = "ft-random"\ntasks'), 'from = "ft-random"', r"which comes later"),
    (('kind = "finetune"\nfrom = "general"\ninit', 'kind = "fine-tune"\nfrom = "general"\ninit'),
     'kind = "fine-tune"', r"kind = 'fine-tune'; use pretrain \| adapt \| finetune"),
    (("probe = false", "probe = 0"), "probe = 0", r"probe = 0; use true"),
])
def test_bad_transfer_stages_name_the_line(tmp_path, change, needle, message):
    text = SUITE.replace(*change)
    assert text != SUITE
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"s.toml:{_line(text, needle)}: \[transfer.stages\[\d\].*{message}"):
        load_suite(path)


def test_missing_transfer_inputs_fail_validation(tmp_path, capsys):
    text = SUITE.replace('corpus = "synthetic:general:300"', 'corpus = "texts/none.txt"').replace(
        'from = "general"\ntasks', 'from = "no-such-model"\ntasks')
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"s.toml:{_line(text, 'none.txt')}:" in err and "none.txt not found" in err
    assert f"s.toml:{_line(text, 'no-such-model')}:" in err
