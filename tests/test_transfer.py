"""Transfer pipeline: tokenizer, masking, pre-training, DAPT, fine-tuning, lineage, bad input.

Tiny models on the built-in generator's corpora; one pre-trained model is shared by the module.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from probekit.cli import main
from probekit.data.records import Sentence
from probekit.data.synthetic import downstream_task, generate
from probekit.errors import ConfigError, ProbekitError
from probekit.transfer.adapt import adapt
from probekit.transfer.finetune import FinetuneTask, finetune
from probekit.transfer.lineage import CHECKPOINTS, lineage_tree, read_record
from probekit.transfer.pretrain import ModelConfig, lm_loss, mask_tokens, pretrain
from probekit.transfer.tokenizer import train_tokenizer
from probekit.transfer.trainer import TrainConfig

TINY = ModelConfig.from_size("tiny", max_len=32)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models are overhead-bound; one intra-op thread avoids spin-wait contention on a shared CPU.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def texts(domain: str, n: int, seed: int) -> list[str]:
    return [s.text for s in generate(n, domain=domain, seed=seed)]


@pytest.fixture(scope="module")
def general(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("transfer") / "general"
    pretrain(texts("general", 1500, 0), out, model=TINY, seq_len=32, vocab_size=600,
             train=TrainConfig(steps=40, batch_size=16, lr=3e-3, eval_every=10, save_every=20))
    return out


# ----------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_tokenizer_round_trip(tmp_path, kind):
    from transformers import AutoTokenizer

    corpus = texts("general", 300, 0)
    train_tokenizer(corpus, kind, vocab_size=500, out_dir=tmp_path)
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    assert 200 < len(tok) <= 500
    for text in corpus[:50]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if kind == "bpe":  # byte-level BPE is lossless
            assert tok.decode(ids) == text
        else:  # WordPiece: pieces re-join to the pre-tokenized words
            words = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)
            pieces = tok.convert_ids_to_tokens(ids)
            assert "".join(p[2:] if p.startswith("##") else " " + p for p in pieces).split() == [w for w, _ in words]
    if kind == "wordpiece":
        enc = tok("a b")["input_ids"]
        assert enc[0] == tok.cls_token_id and enc[-1] == tok.sep_token_id and tok.mask_token_id is not None


@pytest.mark.slow
def test_tokenizers_are_the_same_in_every_process():
    """Hash-ordered tie-breaking in the tokenizers trainers once gave each process its own
    WordPiece vocabulary; a pre-training rerun must see the same one."""
    import subprocess
    import sys

    code = ("from probekit.transfer.tokenizer import train_tokenizer\n"
            "from probekit.data.synthetic import generate\n"
            "texts = [s.text for s in generate(20000, domain='general', seed=0)]\n"
            "for kind in ('wordpiece', 'bpe'):\n"
            "    print(sorted(train_tokenizer(texts, kind, 4000).get_vocab().items()))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(3)]
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) > 10000


def test_mlm_masking_statistics():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (400, 128))
    ids[:, 0] = 2  # [CLS]-like special, never masked
    inputs, labels = mask_tokens(ids, mask_id=4, vocab_size=1000, special_ids=[0, 1, 2, 3, 4], generator=gen)
    selected = labels != -100
    assert not selected[:, 0].any()
    rate = selected[:, 1:].float().mean().item()
    assert abs(rate - 0.15) < 0.005
    assert torch.equal(labels[selected], ids[selected])
    masked = (inputs == 4) & selected
    kept = (inputs == ids) & selected
    swapped = selected & ~masked & ~kept
    n = selected.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.01
    # A random replacement can draw the original id (1/1000), so "kept" is 10% + a hair.
    assert abs(kept.sum().item() / n - 0.1) < 0.01
    assert abs(swapped.sum().item() / n - 0.1) < 0.01
    assert torch.equal(inputs[~selected], ids[~selected])


# ------------------------------------------------------------------------ pre-training


def test_pretrain_loss_decreases_and_lineage(general):
    rec = read_record(general)
    losses = [h["eval_loss"] for h in rec["history"]]
    assert [h["step"] for h in rec["history"]] == [10, 20, 30, 40]
    # An untrained model scores about ln(vocab) = 6.4; 40 steps take it well below and keep going.
    assert losses[-1] < math.log(600) - 0.5 and losses[-1] < losses[0] - 0.1
    assert rec["stage"] == "pretrain" and rec["objective"] == "mlm" and rec["status"] == "complete"
    assert rec["parent"] is None and rec["steps"] == 40 and rec["seed"] == 0
    assert rec["config"]["model"]["hidden"] == 64 and rec["config"]["train"]["batch_size"] == 16
    assert len(rec["data_fingerprint"]) == 16 and rec["versions"]["torch"] == torch.__version__
    assert math.isclose(rec["metrics"]["eval_perplexity"], math.exp(rec["metrics"]["eval_loss"]))
    # Standard HF checkpoint, safetensors only.
    files = {p.name for p in general.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "probekit.json"} <= files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    mid = general / CHECKPOINTS / "step-0000020"
    mid_rec = read_record(mid)
    assert mid_rec["status"] == "intermediate" and mid_rec["steps"] == 20
    assert not (mid / "train_state.safetensors").exists()  # dropped once the stage completed
    from transformers import AutoModelForMaskedLM

    AutoModelForMaskedLM.from_pretrained(str(mid))


def test_skip_if_done_and_refuse_other_config(general, capsys):
    before = (general / "model.safetensors").stat().st_mtime_ns
    rec = pretrain(texts("general", 1500, 0), general, model=TINY, seq_len=32, vocab_size=600,
                   train=TrainConfig(steps=40, batch_size=16, lr=3e-3, eval_every=10, save_every=20))
    assert "skipped" in capsys.readouterr().out
    assert rec["steps"] == 40 and (general / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(ProbekitError, match=r"train\.lr: 0\.003 -> 0\.001"):
        pretrain(texts("general", 1500, 0), general, model=TINY, seq_len=32, vocab_size=600,
                 train=TrainConfig(steps=40, batch_size=16, lr=1e-3, eval_every=10, save_every=20))


def test_clm_pretrain_loss_decreases(tmp_path):
    model = ModelConfig.from_size("tiny", arch="gpt2", max_len=32)
    rec = pretrain(texts("general", 800, 0), tmp_path / "gpt", objective="clm", model=model, seq_len=32,
                   vocab_size=600, train=TrainConfig(steps=30, batch_size=16, lr=3e-3, eval_every=10))
    losses = [h["eval_loss"] for h in rec["history"]]
    assert losses[-1] < math.log(600) - 1.0 and losses[-1] < losses[0] - 0.2
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(str(tmp_path / "gpt"))
    assert AutoTokenizer.from_pretrained(str(tmp_path / "gpt")).eos_token == "<|endoftext|>"


def test_dapt_lowers_in_domain_loss(general, tmp_path):
    out = tmp_path / "dapt"
    rec = adapt(general, texts("biomed", 800, 1), out, seq_len=32,
                train=TrainConfig(steps=25, batch_size=16, lr=2e-3))
    assert rec["stage"] == "dapt" and rec["parent"] == str(general.resolve())
    assert rec["parent_fingerprint"] == read_record(general)["fingerprint"]
    held_out = texts("biomed", 200, 7)
    assert lm_loss(out, held_out, seq_len=32)["eval_loss"] < lm_loss(general, held_out, seq_len=32)["eval_loss"] - 0.2
    tree = lineage_tree(general.parent)
    assert tree.splitlines()[0].startswith("general  [pretrain/mlm]")
    assert "└── dapt" not in tree  # dapt lives in another folder here; it is an external root's child
    assert "dapt  [dapt/mlm]" in lineage_tree(tmp_path)


# --------------------------------------------------------------------------- fine-tuning


def _pos_task(n: int, lang: str = "en") -> FinetuneTask:
    sents = generate(n, domain="general", lang=lang, seed=3)
    return FinetuneTask("pos", "token", sents[: n // 2], sents[n // 2: 3 * n // 4], sents[3 * n // 4:], label_key="upos")


def test_multitask_frozen_and_zero_shot(general, tmp_path):
    seq = FinetuneTask("kind", "sequence", downstream_task("general", 64, seed=1), downstream_task("general", 32, seed=2),
                       downstream_task("general", 32, seed=3))
    pos = _pos_task(120)
    pos.extra_eval["test_sov"] = generate(30, domain="general", lang="sov", seed=9)
    rec = finetune(general, [seq, pos], tmp_path / "ft", mode="frozen", max_len=32,
                   train=TrainConfig(steps=30, batch_size=16, lr=1e-2))
    m = rec["metrics"]
    for key in ("kind.dev.accuracy", "kind.test.accuracy", "kind.test.macro_f1", "pos.test.accuracy",
                "pos.test_sov.accuracy"):
        assert 0.0 <= m[key] <= 1.0
    assert m["pos.test.accuracy"] > 0.2  # 17 tags: above chance after 30 steps on frozen features
    heads = load_file(str(tmp_path / "ft" / "heads.safetensors"))
    assert heads["kind.weight"].shape == (2, 64) and heads["pos.weight"].shape[0] == len(rec["config"]["tasks"]["pos"]["labels"])
    # Frozen: the saved encoder equals the parent's encoder.
    parent = load_file(str(general / "model.safetensors"))
    child = load_file(str(tmp_path / "ft" / "model.safetensors"))
    key = next(k for k in child if "word_embeddings" in k)
    assert torch.equal(child[key], parent["bert." + key] if "bert." + key in parent else parent[key])
    from transformers import AutoModel

    AutoModel.from_pretrained(str(tmp_path / "ft"))  # probe-able as a plain encoder


def test_finetune_beats_random_init(tmp_path):
    """Known answer: pre-training text pairs each of 24 made-up nouns with its class ("buka
    animal ."); the labelled task classifies "i saw buka there" with only 8 nouns in its training
    split and the other 16 in its test split. Only a pre-trained encoder can know the unseen
    nouns' classes: it scores ~1.0, the same architecture from random init ~0.5 (chance).
    (Transfer at scale, with MLM, is the demo chain's headline.)"""
    syllables = ["".join(p) for p in itertools.product("bdgkmnprstvz", "aeiou")]
    random.Random(5).shuffle(syllables)
    nouns = [syllables[2 * i] + syllables[2 * i + 1] for i in range(24)]
    kind = {w: ("animal" if i % 2 else "thing") for i, w in enumerate(nouns)}
    rng = random.Random(0)
    corpus = [f"{w} {kind[w]} ." for w in (rng.choice(nouns) for _ in range(3000))]
    pretrain(corpus, tmp_path / "lm", objective="clm", model=ModelConfig.from_size("tiny", arch="gpt2", max_len=32),
             seq_len=32, vocab_size=400, train=TrainConfig(steps=40, batch_size=16, lr=3e-3))

    def labelled(words: list[str], n: int, seed: int) -> list[Sentence]:
        r = random.Random(seed)
        return [Sentence(id=str(i), tokens=["i", "saw", w, "there"], labels={"downstream": kind[w]})
                for i, w in enumerate(r.choice(words) for _ in range(n))]

    task = FinetuneTask("kind", "sequence", labelled(nouns[:8], 64, 1), [], labelled(nouns[8:], 100, 2))
    cfg = TrainConfig(steps=30, batch_size=16, lr=1e-3, warmup=0.1)
    pre = finetune(tmp_path / "lm", task, tmp_path / "pre", train=cfg, max_len=16)["metrics"]["kind.test.accuracy"]
    rnd = finetune(tmp_path / "lm", task, tmp_path / "rnd", train=cfg, max_len=16, init="random")
    assert rnd["notes"] and "randomly initialised" in rnd["notes"][0]
    assert pre >= 0.9 and rnd["metrics"]["kind.test.accuracy"] < 0.75


@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_token_heads_see_words_as_the_model_was_pre_trained(family, tmp_path):
    """Byte-level BPE encodes a pre-split word with the space it has in running text (``Ġfox``,
    not ``f ox``), and a causal model's token head reads each word's last piece, the only one
    that has seen the whole word (a BERT's reads the first); the stage is keyed on both."""
    from transformers import AutoTokenizer

    from probekit.extract.tiny import save_tiny
    from probekit.transfer.finetune import _Encoded, _word_start

    folder = save_tiny(family, tmp_path / family)
    words = ["The", "quick", "brown", "fox", "jumps", "over", "antidisestablishmentarianism", "."]
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert _word_start(tok) == ("prefix-space" if family == "gpt2" else None)
    enc = tok(words, is_split_into_words=True)
    pieces, word_ids = tok.convert_ids_to_tokens(enc["input_ids"]), enc.word_ids()
    if family == "gpt2":  # without the space: "fox" -> "f", "ox" (no "Ġ"), pieces unseen in running text
        assert all(pieces[word_ids.index(i)].startswith("Ġ") for i in range(len(words)))
    sent = Sentence(id="s", tokens=words, upos=["DET", "ADJ", "ADJ", "NOUN", "VERB", "ADP", "NOUN", "PUNCT"])
    data = _Encoded(tok, 64, "last" if family == "gpt2" else "first")
    data.add(0, FinetuneTask("pos", "token", [sent], label_key="upos"), [sent],
             {t: i for i, t in enumerate(sorted(set(sent.upos)))}, "train")
    labelled = [p for p, lab in enumerate(data.labels[0]) if lab != -100]
    spans = [[p for p, w in enumerate(word_ids) if w == i] for i in range(len(words))]
    assert len(spans[6]) > 1  # a word of several pieces: first and last differ
    assert labelled == [span[-1] if family == "gpt2" else span[0] for span in spans]
    task = FinetuneTask("pos", "token", [sent] * 4, label_key="upos")
    rec = finetune(folder, task, tmp_path / "ft", max_len=64, train=TrainConfig(steps=1, batch_size=2))
    keyed = {k: rec["config"].get(k) for k in ("word_start", "word_piece")}
    assert keyed == ({"word_start": "prefix-space", "word_piece": "last"} if family == "gpt2"
                     else {"word_start": None, "word_piece": None})


def test_keep_best_ends_on_the_best_evaluation_and_survives_resume(general, tmp_path):
    task = FinetuneTask("kind", "sequence", *(downstream_task("general", n, seed=i) for i, n in ((1, 64), (2, 32), (3, 32))))
    cfg = TrainConfig(steps=40, batch_size=16, lr=3e-3, eval_every=5, save_every=20, keep_best="kind.dev.accuracy")
    rec = finetune(general, task, tmp_path / "ft", train=cfg, max_len=32)
    dev = [h["kind.dev.accuracy"] for h in rec["history"]]
    assert rec["metrics"]["kind.dev.accuracy"] == max(dev)
    assert rec["metrics"]["best_step"] == rec["history"][dev.index(max(dev))]["step"]  # ties: the earliest
    assert rec["metrics"]["best_step"] < 20  # (so the resume below has a best to restore)
    # Interrupted after step 20 (the final record gone): the resumed run keeps the same best.
    (tmp_path / "ft" / "probekit.json").unlink()
    again = finetune(general, task, tmp_path / "ft", train=cfg, max_len=32)
    assert again["metrics"] == rec["metrics"]
    with pytest.raises(ConfigError, match="not an evaluation metric.*kind.dev.accuracy"):
        finetune(general, task, tmp_path / "bad", max_len=32,
                 train=TrainConfig(steps=10, batch_size=16, eval_every=5, keep_best="kind.dev.f1"))
    with pytest.raises(ConfigError, match="needs evaluations"):
        finetune(general, task, tmp_path / "bad2", max_len=32, train=TrainConfig(steps=10, batch_size=16, keep_best="x"))


# ------------------------------------------------------------------------------ bad input


def test_tiny_and_empty_corpus(tmp_path):
    with pytest.raises(ProbekitError, match="fewer than one batch"):
        pretrain(["a tiny corpus ."] * 3, tmp_path / "a", model=TINY, seq_len=32, vocab_size=100,
                 train=TrainConfig(steps=5, batch_size=16))
    with pytest.raises(ProbekitError, match="empty corpus"):
        pretrain(["", "  "], tmp_path / "b", model=TINY, seq_len=32)


def test_vocab_mismatch_and_missing_labels(general, tmp_path):
    big = tmp_path / "bigtok"
    train_tokenizer(texts("general", 2000, 5), "wordpiece", vocab_size=1500, out_dir=big)
    task = FinetuneTask("kind", "sequence", downstream_task("general", 32, seed=1))
    with pytest.raises(ProbekitError, match="vocabulary mismatch.*1[0-9]{3} tokens"):
        finetune(general, task, tmp_path / "x", tokenizer=big, train=TrainConfig(steps=2, batch_size=16))
    with pytest.raises(ProbekitError, match="vocabulary mismatch"):
        adapt(general, texts("general", 200, 1), tmp_path / "y", tokenizer=big, seq_len=32,
              train=TrainConfig(steps=2, batch_size=4))
    dev = downstream_task("general", 8, seed=2)
    dev[3].labels.clear()
    task = FinetuneTask("kind", "sequence", downstream_task("general", 32, seed=1), dev)
    with pytest.raises(ProbekitError, match=r"split 'dev' has no label 'downstream'"):
        finetune(general, task, tmp_path / "z", train=TrainConfig(steps=2, batch_size=16))
    tagged = _pos_task(20)
    tagged.test[0].upos = None
    with pytest.raises(ProbekitError, match=r"split 'test' has no 'upos'"):
        finetune(general, tagged, tmp_path / "w", train=TrainConfig(steps=2, batch_size=8))


def test_disk_full_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import probekit.transfer.trainer as trainer

    real = trainer.save_train_state
    calls = []

    def flaky(directory, *args, **kwargs):
        calls.append(directory)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(trainer, "save_train_state", flaky)
    out = tmp_path / "run"
    with pytest.raises(ProbekitError, match="No space left on device.*intact"):
        pretrain(texts("general", 600, 0), out, model=TINY, seq_len=32, vocab_size=400,
                 train=TrainConfig(steps=12, batch_size=8, save_every=4))
    ckpts = sorted(p.name for p in (out / CHECKPOINTS).iterdir())
    assert ckpts == ["step-0000004"]  # no half-written step-8, no temp folder left behind
    assert (out / CHECKPOINTS / "step-0000004" / "train_state.json").is_file()
    assert read_record(out) is None  # the stage is not marked complete
    # Space is back: the rerun resumes from step 4 and completes.
    monkeypatch.setattr(trainer, "save_train_state", real)
    rec = pretrain(texts("general", 600, 0), out, model=TINY, seq_len=32, vocab_size=400,
                   train=TrainConfig(steps=12, batch_size=8, save_every=4))
    assert rec["status"] == "complete"


def test_minilm_without_lm_head_gets_fresh_head(minilm, tmp_path):
    with pytest.warns(UserWarning, match="no MLM head; initialised a fresh one"):
        rec = adapt(minilm, texts("reviews", 200, 0), tmp_path / "tapt", stage="tapt", seq_len=32,
                    train=TrainConfig(steps=2, batch_size=4))
    assert rec["notes"] and "fresh" in rec["notes"][0]
    assert rec["stage"] == "tapt" and rec["objective"] == "mlm"


# ------------------------------------------------------------------------------------ CLI


@pytest.mark.parametrize("verb", ["pretrain", "adapt", "finetune", "lineage", "transfer"])
def test_cli_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0 and "usage" in capsys.readouterr().out


def test_cli_pretrain_and_lineage(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["pretrain", "--synthetic", "general:600", "--out", str(out), "--size", "tiny", "--seq-len", "32",
                 "--max-len", "32", "--vocab-size", "400", "--steps", "4", "--batch-size", "8"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{"):])["steps"] == 4
    assert main(["lineage", str(tmp_path)]) == 0
    assert "cli  [pretrain/mlm]  steps=4" in capsys.readouterr().out
    assert main(["lineage", str(tmp_path / "nothing")]) == 2


def test_vocab_also_gives_the_domain_words_whole_entries(tmp_path, capsys):
    """Known answer: "knockdown" never occurs in the general corpus, so a vocabulary of that corpus
    spells it in pieces; with biomed text added for the tokenizer it is one entry."""
    from transformers import AutoTokenizer

    common = ["--synthetic", "general:1500", "--size", "tiny", "--seq-len", "32", "--max-len", "32",
              "--vocab-size", "3000", "--steps", "2", "--batch-size", "8"]
    assert main(["pretrain", *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["pretrain", *common, "--out", str(tmp_path / "b"), "--vocab-also", "synthetic:biomed:1500"]) == 0
    pieces = {d: AutoTokenizer.from_pretrained(str(tmp_path / d)).tokenize("knockdown") for d in "ab"}
    assert len(pieces["a"]) > 1 and pieces["b"] == ["knockdown"]
    # the vocabulary text is part of the stage's data fingerprint
    assert read_record(tmp_path / "a")["data_fingerprint"] != read_record(tmp_path / "b")["data_fingerprint"]
    assert main(["pretrain", *common, "--out", str(tmp_path / "c"), "--vocab-also", "synthetic:biomed:100",
                 "--tokenizer", str(tmp_path / "a")]) == 2
    assert "drop one of --vocab-also / --tokenizer" in capsys.readouterr().err


def test_suite_transfer_section_runs_a_chain(tmp_path, capsys):
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent("""
        name = "chain"
        [transfer]
        out = "runs"
        [[transfer.stages]]
        name = "gen"
        kind = "pretrain"
        corpus = "synthetic:general:600"
        vocab_also = "synthetic:biomed:300"
        size = "tiny"
        seq_len = 32
        vocab_size = 400
        train = { steps = 4, batch_size = 8 }
        [[transfer.stages]]
        name = "ft"
        kind = "finetune"
        from = "gen"
        tasks = ["downstream:general:32"]
        train = { steps = 2, batch_size = 8 }
    """))
    assert main(["transfer", str(suite)]) == 0
    assert read_record(tmp_path / "runs" / "ft")["parent"] == str((tmp_path / "runs" / "gen").resolve())
    capsys.readouterr()
    assert main(["transfer", str(suite)]) == 0  # everything done: both stages skipped
    assert capsys.readouterr().out.count("skipped") == 2
