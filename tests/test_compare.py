"""The truncated extractor and the strategy-vs-fine-tuning comparison (tiny in-process models)."""

from __future__ import annotations

import json


import numpy as np
import pandas as pd
import pytest
import torch

from probekit.errors import ProbekitError


def _save_deep(family: str, folder, n_layers: int = 4):
    import transformers as tf

    from probekit.extract.tiny import FAMILY_TOKENIZER, tiny_tokenizer

    tok = tiny_tokenizer(FAMILY_TOKENIZER[family])
    torch.manual_seed(0)
    config = {
        "bert": lambda: tf.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=n_layers,
                                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=64),
        "gpt2": lambda: tf.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=n_layers, n_head=2, n_positions=64,
                                      bos_token_id=0, eos_token_id=2),
        "llama": lambda: tf.LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=n_layers,
                                        num_attention_heads=2, num_key_value_heads=1, intermediate_size=64,
                                        max_position_embeddings=64),
    }[family]()
    tf.AutoModel.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family, layers, blocks", [("bert", [1, 2], 2), ("gpt2", [2], 3), ("llama", [1, 2], 3),
                                                     ("gpt2", [4], 4)])
def test_truncated_checkpoint_loads_with_automodel_and_gives_the_same_vectors(tmp_path, family, layers, blocks):
    from transformers import AutoModel, AutoTokenizer

    from probekit.extract.truncate import RULE_FILE, export_truncated

    src = _save_deep(family, tmp_path / "full")
    full, tok = AutoModel.from_pretrained(src).eval(), AutoTokenizer.from_pretrained(src)
    rule = export_truncated(full, tok, tmp_path / "cut", layers=layers, combine="concat" if len(layers) > 1 else "single")
    # Decoders normalise their last hidden state: the cut keeps one more block (exact vectors).
    assert rule["blocks_kept"] == blocks and rule["blocks_full"] == 4
    cut = AutoModel.from_pretrained(tmp_path / "cut").eval()
    assert (cut.config.num_hidden_layers if family != "gpt2" else cut.config.n_layer) == blocks
    enc = tok(["the lazy dog near the river bank", "prices rose"], return_tensors="pt", padding=True)
    with torch.no_grad():
        a = full(**enc, output_hidden_states=True).hidden_states
        b = cut(**enc, output_hidden_states=True).hidden_states
    for layer in layers:
        assert torch.allclose(a[layer], b[layer], atol=1e-5)
    saved = json.loads((tmp_path / "cut" / RULE_FILE).read_text())
    assert saved["read_hidden_states"] == layers


def test_export_refuses_layers_the_model_does_not_have(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from probekit.extract.truncate import export_truncated

    src = _save_deep("bert", tmp_path / "full", n_layers=2)
    with pytest.raises(ProbekitError, match=r"hidden states 0\.\.2"):
        export_truncated(AutoModel.from_pretrained(src), AutoTokenizer.from_pretrained(src), tmp_path / "cut",
                         layers=[5], combine="single")
    assert not (tmp_path / "cut").exists()


def test_truncate_keeps_the_first_blocks_and_their_weights():
    # Speed is measured in benchmarks/selection.py, never asserted here (shared, noisy machines).
    import transformers as tf

    from probekit.extract.truncate import n_blocks, truncate

    torch.manual_seed(0)
    full = tf.AutoModel.from_config(tf.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=5,
                                                  num_attention_heads=2, intermediate_size=64)).eval()
    cut = truncate(full, 2)
    assert n_blocks(cut) == 2 and cut.config.num_hidden_layers == 2 and n_blocks(full) == 5
    assert torch.equal(cut.encoder.layer[1].output.dense.weight, full.encoder.layer[1].output.dense.weight)
    with pytest.raises(ProbekitError, match="valid: 1..5"):
        truncate(full, 6)


# ---------------------------------------------------------------------------- compare, end to end
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return _save_deep("bert", tmp_path_factory.mktemp("tinybert") / "m", n_layers=3)


@pytest.mark.slow
def test_compare_runs_every_strategy_and_the_finetuning_reference(tiny_bert, tmp_path):
    from probekit.compare import TABLE_COLUMNS, compare
    from probekit.data.synthetic import generate
    from probekit.selection import load_selection, strategy_names

    sents = generate(260, seed=0)
    train, dev, test = sents[:160], sents[160:210], sents[210:]
    result = compare(str(tiny_bert), "pos", train, dev, test, heads=("linear",), seeds=(0, 1),
                     finetune_steps=8, finetune_batch=16, max_train=120, out_dir=tmp_path / "cmp",
                     n_boot=50, speed_sentences=16, progress=False)
    table = result.table
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert set(table["strategy"]) == set(strategy_names()) | {"finetune"}
    assert (table["n_seeds"] == 2).all()
    ft = table[table["strategy"] == "finetune"].iloc[0]
    assert ft["layers_run"] == 3 and ft["trainable_params"] > table["trainable_params"].drop(ft.name).max()
    last = table[table["strategy"] == "last"].iloc[0]
    assert np.isclose(last["gap_to_finetune"], last["score"] - ft["score"])
    assert table.loc[table["strategy"] == "embeddings", "layers_run"].iloc[0] == 1  # at least one block runs
    assert "training data subsampled to the first 120 of 160 sentences" in result.notes
    # Chosen on dev only: the scores the strategies read hold no other split.
    assert set(result.scores["split"]) == {"dev"}
    sel = load_selection(tmp_path / "cmp" / "selections" / "best.json")
    assert sel.split == "dev" and sel.model_fingerprint and sel.n_layers == 3
    assert (tmp_path / "cmp" / "compare.csv").is_file() and "pos: use " in result.recommendation
    assert pd.read_csv(tmp_path / "cmp" / "runs.csv")["seed"].tolist().count(1) == len(table)


def test_compare_span_task_says_fine_tuning_is_unavailable(tiny_bert, tmp_path):
    from probekit.compare import compare
    from probekit.data.synthetic import generate

    sents = generate(120, seed=1)
    result = compare(str(tiny_bert), "entities", sents[:80], sents[80:100], sents[100:], heads=("linear", "bilstm"),
                     strategies=["best", "last"], seeds=(0,), n_boot=20, speed_sentences=8, progress=False)
    assert set(result.table["head"]) == {"linear", "bilstm"} and "finetune" not in set(result.table["strategy"])
    assert any("span task" in n for n in result.notes)


def test_select_and_export_verbs(tiny_bert, tmp_path, capsys):
    from probekit.cli import main
    from probekit.data.synthetic import export, generate

    sents = generate(140, seed=2)
    export(sents[:100], tmp_path / "train", formats=("conllu",))
    export(sents[100:], tmp_path / "dev", formats=("conllu",))
    scores = tmp_path / "scores.csv"
    assert main(["probe", "--model", str(tiny_bert), "--data", str(tmp_path / "train" / "corpus.conllu"),
                 "--eval", str(tmp_path / "dev" / "corpus.conllu"), "--task", "pos", "--bootstrap", "20",
                 "--quiet", "--out", str(scores)]) == 0
    # `probekit probe` scores its --eval split as "eval"; selection reads it only when asked to.
    assert main(["select", "--scores", str(scores), "--task", "pos", "--out", str(tmp_path / "s.json")]) == 2
    assert "no 'dev' split" in capsys.readouterr().err
    assert main(["select", "--scores", str(scores), "--task", "pos", "--split", "eval", "--strategy", "window2",
                 "--out", str(tmp_path / "s.json")]) == 0
    sel = json.loads((tmp_path / "s.json").read_text())
    assert sel["combine"] == "concat" and len(sel["layers"]) == 2 and sel["model_fingerprint"]
    assert main(["export", "--selection", str(tmp_path / "s.json"), "--out", str(tmp_path / "x"), "--no-speed"]) == 0
    assert (tmp_path / "x" / "config.json").is_file()
    # A selection made for another model is refused, and nothing is written.
    other = _save_deep("bert", tmp_path / "other", n_layers=4)  # another model: its config differs
    assert main(["export", "--selection", str(tmp_path / "s.json"), "--model", str(other),
                 "--out", str(tmp_path / "y")]) == 2
    assert "not the model given" in capsys.readouterr().err and not (tmp_path / "y").exists()
    assert main(["select", "--scores", str(scores), "--task", "pos", "--split", "eval", "--strategy", "middle",
                 "--out", str(tmp_path / "z.json")]) == 2
    assert "valid: best, cost_aware" in capsys.readouterr().err and not (tmp_path / "z.json").exists()


def test_report_shows_the_comparison_table_and_recommendation(tmp_path):
    from probekit.compare import TABLE_COLUMNS, aggregate, recommend
    from probekit.report import write_report

    runs = []
    for strategy, family, score, layers_run in (("cost_aware", "probe-guided", 0.95, 2), ("last", "baseline", 0.90, 6),
                                                 ("finetune", "fine-tuning", 0.97, 6)):
        for seed in (0, 1):
            runs.append(dict(task="pos", strategy=strategy, family=family, layers="layer 2", head="linear", seed=seed,
                             score=score + 0.01 * seed, ci_low=score - 0.02, ci_high=score + 0.02,
                             dev_score=score, trainable_params=100, train_s=1.0, layers_run=layers_run,
                             tokens_per_s=1000.0 * 6 / layers_run, speedup=6 / layers_run, n_train=10, n_test=10))
    table = aggregate(pd.DataFrame(runs))
    assert list(table.columns) == list(TABLE_COLUMNS)
    rec = recommend(table, 6)
    assert rec.startswith("pos: use layer 2 (cost_aware, linear head): test 0.955") and "gap -0.020" in rec
    assert "last layer 0.905" in rec
    scores = pd.DataFrame([dict(model="m", task="pos", control=False, probe="linear", layer=i, seed=0, split="dev",
                                metric="accuracy", value=0.8 + 0.01 * i, ci_low=0.78, ci_high=0.83) for i in range(3)])
    html = write_report(scores, tmp_path, comparisons=[(table, rec, ["a note"])]).read_text()
    assert "frozen features vs fine-tuning" in html and "pos: use layer 2" in html and "+0.000" not in html
    md = (tmp_path / "report.md").read_text()
    assert "**pos: use layer 2" in md and "(reference)" in md and "*a note*" in md


@pytest.mark.slow
def test_suite_selection_section_runs_compare_and_reports(tiny_bert, tmp_path, monkeypatch):
    """A suite's [selection] runs every chosen strategy vs fine-tuning; the report carries the
    table; a re-run reads it back; bad keys are refused naming the line."""
    from probekit.cli import main
    from probekit.errors import ConfigError
    from probekit.suite import load_suite

    suite = tmp_path / "s.toml"
    suite.write_text(f"""name = "sel"
seeds = [0]

[data.synthetic]
train_sentences = 80
eval_sentences = 30
test_sentences = 30

[[models]]
id = "tiny"
path = "{tiny_bert}"

[[tasks]]
name = "pos"

[selection]
tasks = ["pos"]
strategies = ["cost_aware", "last"]
finetune_steps = 4

[scoring]
bootstrap = 20
cka = false
""")
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "frozen features vs fine-tuning" in html and "cost_aware" in html and "(reference)" in html
    table = pd.read_csv(tmp_path / "out" / "selection" / "tiny" / "pos" / "compare.csv")
    assert set(table["strategy"]) == {"cost_aware", "last", "finetune"}
    stamp = (tmp_path / "out" / "selection" / "tiny" / "pos" / "compare.csv").stat().st_mtime_ns
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "selection" / "tiny" / "pos" / "compare.csv").stat().st_mtime_ns == stamp
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "rebuilt")]) == 0
    assert "cost_aware" in (tmp_path / "rebuilt" / "report.html").read_text()
    # The frozen strategies' heads are probekit's probes: a new probe code version is a new key.
    import probekit.suite

    monkeypatch.setattr(probekit.suite, "RUN_VERSION", probekit.suite.RUN_VERSION + 1)
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "selection" / "tiny" / "pos" / "compare.csv").stat().st_mtime_ns != stamp
    # Other settings: the comparison starts afresh (its old fine-tuning run would refuse them).
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet",
                 "--set", "selection.finetune_steps=6"]) == 0
    runs = pd.read_csv(tmp_path / "out" / "selection" / "tiny" / "pos" / "runs.csv")
    record = json.loads((tmp_path / "out" / "selection" / "tiny" / "pos" / "finetune" / "seed0" / "probekit.json").read_text())
    assert record["config"]["train"]["steps"] == 6 and len(runs) == 3

    bad = suite.read_text().replace('strategies = ["cost_aware", "last"]', 'strategies = ["middle"]')
    suite.write_text(bad)
    with pytest.raises(ConfigError, match=r"s.toml:\d+.*unknown layer-selection strategy 'middle'"):
        load_suite(suite)
    suite.write_text(bad.replace('strategies = ["middle"]', "").replace("test_sentences = 30\n", ""))
    with pytest.raises(ConfigError, match="scores task 'pos' on a test split"):
        load_suite(suite)


@pytest.mark.slow
@pytest.mark.realdata
def test_probe_guided_layer_beats_the_last_layer_on_ewt_pos(real_data, minilm, tmp_path):
    """Real data, real model: on UD EWT POS the dev-chosen MiniLM layer beats the last layer on
    test as frozen features (the last layer is the one HF feature extraction returns)."""
    from probekit.compare import compare
    from probekit.data.conllu import read_conllu

    ewt = real_data / "ud-english-ewt"
    train = read_conllu(ewt / "en_ewt-ud-train.conllu")[:300]
    dev, test = read_conllu(ewt / "en_ewt-ud-dev.conllu")[:150], read_conllu(ewt / "en_ewt-ud-test.conllu")[:150]
    result = compare(str(minilm), "pos", train, dev, test, strategies=["cost_aware", "last"], seeds=(0,),
                     finetune=False, n_boot=50, speed_sentences=32, progress=False)
    t = result.table.set_index("strategy")
    assert result.selections["cost_aware"].layers[0] in (1, 2, 3, 4)
    assert t.loc["cost_aware", "score"] > t.loc["last", "score"] + 0.03
    assert t.loc["cost_aware", "layers_run"] < 6
