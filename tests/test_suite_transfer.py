"""A suite's [transfer] stages run first and their checkpoints become ordinary models of the suite."""

from __future__ import annotations

import pandas as pd
import pytest

import probekit.run_probes
from probekit.cli import main
from probekit.errors import ConfigError, DataFormatError
from probekit.suite import load_suite
from probekit.transfer.chain import format_init_comparison, init_comparisons
from probekit.transfer.lineage import read_record

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HEAD = """name = "chain-study"
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
"""
RANDOM_TWIN = """[[transfer.stages]]
name = "ft-random"
kind = "finetune"
from = "general"
init = "random"
tasks = ["downstream:general:40"]
max_len = 32
train = { steps = 2, batch_size = 8 }
probe = false
"""


@pytest.fixture()
def suite_text(tiny_chain) -> str:
    """The tiny chain, plus a random-init twin of its fine-tuning stage that is run, not probed."""
    return HEAD + tiny_chain + RANDOM_TWIN


def _line(text, needle, after=0):
    return next(i for i, line in enumerate(text.splitlines(), start=1) if i > after and needle in line)


def test_transfer_stages_become_models(tmp_path, capsys, monkeypatch, suite_text):
    path = tmp_path / "s.toml"
    path.write_text(suite_text)
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
    # ft and ft-random differ only in init: the report compares them, with the records' numbers.
    pre, rnd = (read_record(tmp_path / "runs" / name)["metrics"]["general.test.accuracy"] for name in ("ft", "ft-random"))
    report = (out / "report.md").read_text()
    assert "## Transfer: fine-tuned from pre-trained weights vs from random init" in report
    assert f"general.test.accuracy: fine-tuned from general {pre:.3f} vs from random init {rnd:.3f}" in report
    assert f"pre-trained better in {int(pre > rnd)} of 1" in report and "Stages: ft vs ft-random." in report
    assert "## Transfer: language-model stages" in report and "general (pretrain on synthetic:general:300)" in report
    rebuilt = tmp_path / "rebuilt"
    assert main(["report", str(out), "--out", str(rebuilt)]) == 0  # from the results folder alone
    assert "vs from random init" in (rebuilt / "report.md").read_text()
    # ... and the summary opens with it, in the report and in the one rebuilt from the results
    for folder in (out, rebuilt):
        summary = (folder / "report.md").read_text().split("## Summary\n\n")[1]
        assert summary.startswith(f"- Transfer: general.test.accuracy fine-tuned from general {pre:.3f} vs from "
                                  f"random init {rnd:.3f} over 1 paired seed; pre-trained better in {int(pre > rnd)} of 1")

    # A second run trains nothing and probes nothing; `probekit transfer` shares the checkpoints.
    monkeypatch.setattr(probekit.run_probes, "probe_task", lambda *a, **k: pytest.fail("unit recomputed"))
    assert main(["run", str(path), "--out", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "done  transfer stage ft-random" in listing and "2 units: 2 cached, 0 to run" in listing
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert "already complete with the same fingerprint, skipped" in capsys.readouterr().out
    assert main(["transfer", str(path)]) == 0


def test_a_failing_stage_is_named_and_earlier_stages_stay(tmp_path, capsys, suite_text):
    text = suite_text.replace('tasks = ["downstream:general:40"]\nmax_len = 32\ntrain = { steps = 2, batch_size = 8 }\n'
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
def test_bad_transfer_stages_name_the_line(tmp_path, change, needle, message, suite_text):
    text = suite_text.replace(*change)
    assert text != suite_text
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"s.toml:{_line(text, needle)}: \[transfer.stages\[\d\].*{message}"):
        load_suite(path)


def test_missing_transfer_inputs_fail_validation(tmp_path, capsys, suite_text):
    text = suite_text.replace('corpus = "synthetic:general:300"', 'corpus = "texts/none.txt"').replace(
        'from = "general"\ntasks', 'from = "no-such-model"\ntasks')
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"s.toml:{_line(text, 'none.txt')}:" in err and "none.txt not found" in err
    assert f"s.toml:{_line(text, 'no-such-model')}:" in err


def test_transfer_checkpoints_are_probed_on_the_named_tasks_only(tmp_path, suite_text):
    text = suite_text.replace("[[tasks]]\nname = \"pos\"\n", "[[tasks]]\nname = \"pos\"\n[[tasks]]\nname = \"deps\"\n")
    path = tmp_path / "s.toml"
    path.write_text(text.replace('out = "runs"', 'out = "runs"\ntasks = ["deps"]'))
    from probekit.suite import plan_units

    units = plan_units(load_suite(path), tmp_path / "out")
    assert {(u.model["id"], u.task["name"]) for u in units if u.task} == {("chain-general", "deps"), ("chain-ft", "deps")}
    path.write_text(text.replace('out = "runs"', 'out = "runs"\ntasks = ["dep"]'))
    with pytest.raises(ConfigError, match=rf"s.toml:{_line(path.read_text(), 'tasks = ')}: \[transfer.tasks\]: 'dep' is not"):
        load_suite(path)


def _ft(name, init, seed, parent="dapt", task="downstream:biomed:300"):
    return {"name": name, "kind": "finetune", "from": parent, "init": init, "tasks": [task],
            "train": {"steps": 10, "seed": seed}}


def test_init_comparisons_pair_arms_by_seed():
    stages = [{"name": "dapt", "kind": "adapt", "from": "general"},
              _ft("p0", "pretrained", 0), _ft("r0", "random", 0), _ft("p1", "pretrained", 1), _ft("r1", "random", 1),
              _ft("p2", "pretrained", 2),                       # its random arm has not run: left out
              _ft("other", "random", 0, task="downstream:biomed:1000")]  # another task size: no pair
    acc, sov = "biomed.test.accuracy", "biomed.test_sov.accuracy"  # a zero-shot extra_eval split too
    metrics = {"dapt": {"eval_loss": 3.0}, "p0": {acc: 0.9, "biomed.dev.accuracy": 0.1, sov: 0.4},
               "r0": {acc: 0.6, sov: 0.3}, "p1": {acc: 0.5, sov: 0.2}, "r1": {acc: 0.7, sov: 0.1},
               "p2": {acc: 0.95}, "other": {acc: 0.99}}
    c, zero_shot = init_comparisons(stages, metrics)
    assert zero_shot["metric"] == sov and zero_shot["pretrained"] == [0.4, 0.2] and zero_shot["wins"] == 2
    assert c["metric"] == acc and c["parent"] == "dapt" and c["seeds"] == [0, 1]
    assert c["pretrained"] == [0.9, 0.5] and c["random"] == [0.6, 0.7] and c["wins"] == 1
    assert c["pretrained_stages"] == ["p0", "p1"] and c["random_stages"] == ["r0", "r1"]
    text = format_init_comparison(c)
    assert "fine-tuned from dapt 0.700 +- 0.283 vs from random init 0.650 +- 0.071" in text
    assert "0.900, 0.500 vs 0.600, 0.700" in text and "better in 1 of 2; gain +0.050 +- 0.354." in text
    assert format_init_comparison(c, brief=True) == (
        "Transfer: biomed.test.accuracy fine-tuned from dapt 0.700 +- 0.283 vs from random init 0.650 +- 0.071 "
        "over 2 paired seeds; pre-trained better in 1 of 2 (gain +0.050 +- 0.354).")
    changed = [dict(st, train={"steps": 20, "seed": 1}) if st["name"] == "r1" else st for st in stages]
    assert init_comparisons(changed, metrics)[0]["seeds"] == [0]  # other settings: not an arm of the pair


def test_stage_data_files_follow_data_root_and_models_the_suite_file(tmp_path, monkeypatch):
    """A stage's corpus and task files are read from data.root (moved by --set data.root), its
    `from` folder from the suite file's folder."""
    from probekit.extract.tiny import save_tiny
    from probekit.suite import run_transfer
    from probekit.transfer import chain

    save_tiny("bert", tmp_path / "suite" / "models" / "tiny")
    data = tmp_path / "elsewhere"
    (data / "tb").mkdir(parents=True)
    rows = [f"{i}\t{w}\t_\t{p}\t_\t_\t{h}\t{r}\t_\t_" for i, (w, p, h, r) in
            enumerate([("the", "DET", 2, "det"), ("cat", "NOUN", 3, "nsubj"), ("sat", "VERB", 0, "root")], 1)]
    (data / "tb" / "t.conllu").write_text(("\n".join(rows) + "\n\n") * 6)
    (data / "tb" / "text.txt").write_text("the cat sat\n" * 20)
    suite_file = tmp_path / "suite" / "s.toml"
    suite_file.write_text(
        'name = "s"\n[data]\nroot = "../nowhere"\n[[tasks]]\nname = "pos"\ntrain = "tb/t.conllu"\neval = "tb/t.conllu"\n'
        '[transfer]\nout = "runs"\n[[transfer.stages]]\nname = "ft"\nkind = "finetune"\nfrom = "models/tiny"\n'
        'tasks = ["upos:tb/t.conllu,tb/t.conllu,tb/t.conllu"]\nextra_eval = ["upos:test_xx=tb/t.conllu"]\n'
        'train = { steps = 1, batch_size = 4 }\n')
    seen = {}
    real_parse = chain.parse_task

    def spy(spec, seed=0):
        seen["task"] = spec
        return real_parse(spec, seed=seed)

    monkeypatch.setattr(chain, "parse_task", spy)
    suite = load_suite(suite_file, overrides=[f"data.root={data}"])
    rec = run_transfer(suite)["ft"]
    assert seen["task"].split(":", 1)[1].split(",")[0] == str(data.resolve() / "tb" / "t.conllu")
    assert "upos.test_xx.accuracy" in rec["metrics"]
    # the transfer verb reads the suite's own data.root, or --data-root
    with pytest.raises(DataFormatError, match="nowhere"):
        chain.run_suite_transfer(suite_file, out=tmp_path / "other")
    assert "ft" in chain.run_suite_transfer(suite_file, out=tmp_path / "other", data_root=data)


def test_a_stage_with_seeds_is_one_stage_per_seed():
    from probekit.transfer.chain import expand_seeds

    stages = [{"name": "lm", "kind": "pretrain"},
              {"name": "ft", "kind": "finetune", "seeds": [0, 3], "probe": True, "train": {"steps": 5}}]
    out = expand_seeds(stages)
    assert [(i, st["name"], st.get("train"), st.get("probe")) for i, st in out] == [
        (0, "lm", None, None), (1, "ft", {"steps": 5, "seed": 0}, True), (1, "ft-seed3", {"steps": 5, "seed": 3}, False)]
    assert "seeds" not in out[1][1] and stages[1]["train"] == {"steps": 5}  # the declaration is left as it was
    for bad in ([], [1, 1], "0,1", [0.5]):
        with pytest.raises(ConfigError, match="distinct integers"):
            expand_seeds([{"name": "ft", "seeds": bad}])
    with pytest.raises(ConfigError, match="both seeds and train.seed"):
        expand_seeds([{"name": "ft", "seeds": [0, 1], "train": {"seed": 0}}])


def test_suite_stage_seeds_expand_and_messages_name_each_copys_table(tmp_path, suite_text):
    text = suite_text.replace('from = "general"\ntasks', 'from = "general"\nseeds = [0, 1]\ntasks')
    assert text.count("seeds = [0, 1]") == 1
    path = tmp_path / "s.toml"
    path.write_text(text)
    suite = load_suite(path)
    assert [st["name"] for st in suite.config["transfer"]["stages"]] == ["general", "ft", "ft-seed1", "ft-random"]
    tables = [i for i, line in enumerate(text.splitlines(), start=1) if line == "[[transfer.stages]]"]
    lines = [int(suite.where("transfer", "stages", j).split(":")[1]) for j in range(4)]
    assert lines == [tables[0], tables[1], tables[1], tables[2]]
    clash = text.replace('name = "ft-random"', 'name = "ft-seed1"')
    path.write_text(clash)
    with pytest.raises(ConfigError, match=rf"s.toml:{_line(clash, 'ft-seed1')}: .*'ft-seed1' is used twice"):
        load_suite(path)
