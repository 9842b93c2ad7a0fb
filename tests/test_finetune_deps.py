"""Fine-tuning a dependency head (BiaffineDeps): known answer, save/load, specs, zero-shot splits."""

from __future__ import annotations

import random

import pytest

from probekit.data.records import Sentence
from probekit.errors import ConfigError, ProbekitError
from probekit.transfer.finetune import FinetuneTask, finetune
from probekit.transfer.trainer import TrainConfig


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    from probekit.extract.tiny import save_tiny

    return save_tiny("gpt2", tmp_path_factory.mktemp("deps") / "gpt2")


WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "river", "bank", "old", "station"]


def chain_sentences(n: int, seed: int) -> list[Sentence]:
    """Toy trees: the first word is the root, every other word's head is the word before it;
    the relation is the word's class (words 0-5 'a', the others 'b')."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        toks = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
        out.append(Sentence(id=f"{seed}-{i}", tokens=toks, heads=list(range(len(toks))),
                            deprels=["root"] + ["a" if WORDS.index(t) < 6 else "b" for t in toks[1:]]))
    return out


def test_known_answer_previous_word_heads_and_save_load(tiny_gpt2, tmp_path):
    """A causal model's last piece of word i has seen word i-1: the head learns 'previous word'
    (random words, so position is the only cue) and the relations from the words' classes."""
    from transformers import AutoModel, AutoTokenizer

    from probekit.transfer.finetune import MultiTaskModel, _Encoded, load_multitask_weights, predict, score_deps

    task = FinetuneTask("deps", "deps", chain_sentences(200, 0), chain_sentences(40, 1), chain_sentences(60, 2),
                        label_key="deprels")
    cfg = TrainConfig(steps=60, batch_size=16, lr=3e-3, warmup=0.1, eval_every=20, keep_best="deps.dev.uas")
    rec = finetune(tiny_gpt2, task, tmp_path / "ft", train=cfg, max_len=32)
    m = rec["metrics"]
    assert m["deps.test.uas"] >= 0.95 and m["deps.test.las"] >= 0.9, m
    assert rec["config"]["tasks"]["deps"] == {"kind": "deps", "labels": ["a", "b", "root"]}
    # Round trip: the saved encoder + heads give the recorded test scores.
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "ft"))
    model = MultiTaskModel(AutoModel.from_pretrained(str(tmp_path / "ft")), {"deps": ("deps", 3)})
    load_multitask_weights(model, tmp_path / "ft")
    data = _Encoded(tok, 32, "last")
    data.add(0, task, task.test, {"a": 0, "b": 1, "root": 2}, "test")
    again = score_deps(*predict(model, data, tok.pad_token_id))
    assert (again["uas"], again["las"]) == (m["deps.test.uas"], m["deps.test.las"])
    # Re-running the stage finds it complete.
    assert finetune(tiny_gpt2, task, tmp_path / "ft", train=cfg, max_len=32)["metrics"] == m


def test_specs_zero_shot_splits_and_unknown_relations(tiny_gpt2, tmp_path):
    from probekit.transfer.chain import init_comparisons, parse_task, run_chain

    task = parse_task("synthetic-deps:general@en+numbers=digits:6,3,4")
    pos = parse_task("synthetic-pos:general@en+numbers=digits:6,3,4")
    assert (task.name, task.kind, task.label_key) == ("deps-en", "deps", "deprels")
    assert [s.id for s in task.train] == [s.id for s in pos.train]  # the same sentences as POS
    for spec, message in (("synthetic-deps:general@xx:10", "unknown language 'xx'"),
                          ("synthetic-deps:general:5,x", r"expected synthetic-deps:DOMAIN"),
                          ("ud-deps:", r"expected ud-deps:TRAIN.conllu"),
                          ("deps:general:10", "synthetic-deps:DOMAIN@LANG")):
        with pytest.raises(ConfigError, match=message):
            parse_task(spec)
    # English training on 8 sentences misses relations sov has: they count as wrong, never crash.
    stage = {"name": "ft", "kind": "finetune", "from": str(tiny_gpt2), "max_len": 64,
             "tasks": ["synthetic-pos:general@en:8,4,4", "synthetic-deps:general@en:8,4,4"],
             "extra_eval": ["deps-en:test_sov=synthetic:general@sov:20"], "train": {"steps": 2, "batch_size": 8}}
    m = run_chain([stage], tmp_path / "runs")["ft"]["metrics"]
    assert 0 <= m["deps-en.test_sov.las"] <= m["deps-en.test_sov.uas"] <= 1 and m["deps-en.test_sov.n"] > 100
    assert m["deps-en.test_sov.unknown_labels"] > 0 and 0 <= m["pos-en.test.accuracy"] <= 1
    # The pre-trained vs random-init comparison reports attachment scores beside accuracy.
    stages = [{"name": n, "kind": "finetune", "from": "lm", "init": i, "train": {"seed": 0}}
              for n, i in (("a", "pretrained"), ("b", "random"))]
    found = {c["metric"] for c in init_comparisons(stages, {"a": m, "b": m})}
    assert {"deps-en.test_sov.uas", "deps-en.test_sov.las", "deps-en.test.las", "pos-en.test.accuracy"} <= found


def test_sentences_without_heads_are_refused(tiny_gpt2, tmp_path):
    sents = chain_sentences(20, 0)
    bare = [Sentence(id=s.id, tokens=s.tokens, deprels=s.deprels) for s in sents[:4]]
    task = FinetuneTask("deps", "deps", sents, test=bare, label_key="deprels")
    with pytest.raises(ProbekitError, match="split 'test' has no 'deprels' annotation or no heads"):
        finetune(tiny_gpt2, task, tmp_path / "ft", train=TrainConfig(steps=1, batch_size=4))


@pytest.mark.slow
def test_ud_deps_on_a_treebank_with_universal_relations(real_data, tmp_path):
    """``ud-deps:`` reads heads and universal relations (subtypes dropped) from CoNLL-U; a
    BERT's head reads each word's first piece."""
    from probekit.extract.tiny import save_tiny
    from probekit.transfer.chain import _files_relative_to, parse_task

    gsd = "ud-french-gsd/fr_gsd-ud-test.conllu"
    task = parse_task(_files_relative_to(f"ud-deps:{gsd}", real_data))
    assert (task.name, task.kind, task.label_key) == ("ud-deps", "deps", "udeprels")
    assert not any(":" in lab for lab in task.label_set()) and "nsubj" in task.label_set()
    task.train, task.dev = task.train[:40], task.train[40:60]
    rec = finetune(save_tiny("bert", tmp_path / "bert"), task, tmp_path / "ft", max_len=64,
                   train=TrainConfig(steps=3, batch_size=8))
    assert 0 <= rec["metrics"]["ud-deps.dev.las"] <= rec["metrics"]["ud-deps.dev.uas"] <= 1
    assert "word_piece" not in rec["config"]
