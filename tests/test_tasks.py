"""Task registry: known answers on hand-built sentences, label policy, control tasks, errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from probekit.data.edges import Target
from probekit.data.records import Sentence, Span, SpanPair
from probekit.errors import ConfigError, DataFormatError, ProbekitError
from probekit.tasks import NO_RELATION, OTHER, TASKS, control_task, get_task, register_task, task_table
from probekit.tasks.sentence import dependency_depth

REQUIRED = ["pos", "xpos", "feats", "morph_number", "deps", "entities", "consts", "srl", "coref", "sent_len",
            "tree_depth", "tense", "subj_num", "obj_num", "bigram_shift", "coord_inv", "top_const"]


def dogs() -> Sentence:
    # The dogs chased a cat .
    return Sentence(
        "s1", ["The", "dogs", "chased", "a", "cat", "."], doc_id="d1",
        upos=["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"],
        xpos=["DT", "NNS", "VBD", "DT", "NN", "."],
        feats=["Definite=Def", "Number=Plur", "Mood=Ind|Tense=Past|VerbForm=Fin", "Definite=Ind", "Number=Sing", "_"],
        heads=[2, 3, 0, 5, 3, 3], deprels=["det", "nsubj", "root", "det", "obj", "punct"],
        entities=[Span(0, 2, "ORG")],
        constituents=[Span(0, 6, "S"), Span(0, 2, "NP"), Span(2, 5, "VP"), Span(3, 5, "NP")],
        srl=[SpanPair(Span(2, 3), Span(0, 2), "ARG0"), SpanPair(Span(2, 3), Span(3, 5), "ARG1")],
        coref=[Span(0, 2, "c1"), Span(3, 5, "c2")],
    )


def they() -> Sentence:
    # They sleep and the cat eats .   (two coordinated clauses)
    return Sentence(
        "s2", ["They", "sleep", "and", "the", "cat", "eats", "."], doc_id="d1",
        upos=["PRON", "VERB", "CCONJ", "DET", "NOUN", "VERB", "PUNCT"],
        xpos=["PRP", "VBP", "CC", "DT", "NN", "VBZ", "."],
        feats=["Number=Plur", "Mood=Ind|Tense=Pres|VerbForm=Fin", "_", "Definite=Def", "Number=Sing",
               "Mood=Ind|Tense=Pres|VerbForm=Fin", "_"],
        heads=[2, 0, 6, 5, 6, 2, 2], deprels=["nsubj", "root", "cc", "det", "nsubj", "conj", "punct"],
        constituents=[Span(0, 7, "S"), Span(0, 2, "S"), Span(3, 6, "S")],
        coref=[Span(0, 1, "c1"), Span(3, 5, "c2")],
        labels={"tense": "Future"},  # a source-supplied gold label wins over derivation
    )


def corpus() -> list[Sentence]:
    return [dogs(), they()]


def targets(task, sents=None, **kw):
    data = get_task(task, **kw).examples(sents or corpus())
    return [[t for t in r.targets] for r in data.records], data


def test_registry_has_every_required_task_with_its_kind():
    assert set(REQUIRED) <= set(TASKS)
    table = task_table().set_index("name")
    assert table.loc["pos", "kind"] == "token" and table.loc["consts", "kind"] == "span"
    assert table.loc["deps", "kind"] == "span_pair" and table.loc["tense", "kind"] == "sentence"


def test_token_tasks():
    (first, second), data = targets("pos")
    assert first[1] == Target("NOUN", (1, 2)) and data.kind == "token"
    assert data.labels == sorted({"DET", "NOUN", "VERB", "PUNCT", "PRON", "CCONJ"})
    (first, _), data = targets("morph_number")
    assert first == [Target("Plur", (1, 2)), Target("Sing", (4, 5))]
    assert data.stats["no_label"] == 4 + 5
    (first, _), _ = targets("feats")
    assert first[5] == Target("_", (5, 6))


def test_span_and_pair_tasks():
    (first,), _ = targets("entities", [dogs()])
    assert first == [Target("ORG", (0, 2))]
    (first, _), _ = targets("consts")
    assert Target("VP", (2, 5)) in first and len(first) == 4
    (first,), _ = targets("srl", [dogs()])
    assert first == [Target("ARG0", (2, 3), (0, 2)), Target("ARG1", (2, 3), (3, 5))]


def test_deps_arcs_and_seeded_negatives():
    (first, second), data = targets("deps")
    arcs = [t for t in first if t.label != NO_RELATION]
    assert arcs == [Target("det", (0, 1), (1, 2)), Target("nsubj", (1, 2), (2, 3)), Target("det", (3, 4), (4, 5)),
                    Target("obj", (4, 5), (2, 3)), Target("punct", (5, 6), (2, 3))]
    negatives = [t for t in first if t.label == NO_RELATION]
    assert len(negatives) == len(arcs)  # neg_ratio=1.0
    heads = dogs().heads
    assert all(heads[t.span1[0]] != t.span2[0] + 1 and t.span1 != t.span2 for t in negatives)
    assert data.stats["negatives"] == 5 + 6
    again = get_task("deps").examples(corpus())
    assert [r.targets for r in again.records] == [first, second]  # seeded
    other_seed = get_task("deps", seed=1).examples(corpus())
    assert [r.targets for r in other_seed.records] != [first, second]
    (first, _), data = targets("deps", neg_ratio=0.0)
    assert NO_RELATION not in data.labels and len(first) == 5


def test_coref_windows_pair_later_with_earlier_mentions():
    (record,), data = targets("coref")
    rec = data.records[0]
    assert rec.tokens[6:8] == ["They", "sleep"] and rec.info["sentences"] == ["s1", "s2"]
    # mentions by position: (0,2)c1 (3,5)c2 (6,7)c1 (9,11)c2
    assert Target("1", (6, 7), (0, 2)) in record and Target("0", (6, 7), (3, 5)) in record
    assert Target("1", (9, 11), (3, 5)) in record and len(record) == 6
    (r1, r2), _ = targets("coref", window=1)  # windows of one sentence: no cross-sentence pairs
    assert r1 == [Target("0", (3, 5), (0, 2))] and r2 == [Target("0", (3, 5), (0, 1))]


def test_sentence_tasks_derive_labels():
    def label(task, sent):
        data = get_task(task).examples([sent])
        return data.records[0].targets[0].label if data.records else None

    assert label("sent_len", dogs()) == "6-10" and label("tree_depth", dogs()) == "3"
    assert label("tense", dogs()) == "Past" and label("tense", they()) == "Future"  # gold label wins
    assert label("subj_num", dogs()) == "Plur" and label("obj_num", dogs()) == "Sing"
    with pytest.raises(ProbekitError, match=r"'obj_num' found no targets in 1 sentences.*not_applicable"):
        label("obj_num", they())  # no object: not applicable
    assert get_task("obj_num").examples(corpus()).stats["not_applicable"] == 1
    assert label("top_const", dogs()) == "NP_VP_PUNCT" and label("top_const", they()) == "S_CCONJ_S_PUNCT"
    assert dependency_depth([0]) == 1 and dependency_depth([2, 0, 2, 3]) == 3


def test_coord_inversion_and_bigram_shift_perturb_half():
    sents = [they() for _ in range(10)]
    for k, s in enumerate(sents):
        s.id = f"t{k}"
    data = get_task("coord_inv").examples(sents)
    labels = Counter(r.targets[0].label for r in data.records)
    assert labels == {"I": 5, "O": 5}
    inverted = next(r for r in data.records if r.targets[0].label == "I")
    assert inverted.tokens == ["the", "cat", "eats", "and", "They", "sleep", "."]
    assert get_task("coord_inv").examples([dogs()] * 2 + sents).stats["not_applicable"] == 2
    data = get_task("bigram_shift").examples(sents)
    shifted = [r for r in data.records if r.targets[0].label == "I"]
    assert len(shifted) == 5
    for rec in shifted:
        diff = [i for i, (a, b) in enumerate(zip(rec.tokens, they().tokens)) if a != b]
        assert len(diff) == 2 and diff[1] == diff[0] + 1 and sorted(rec.tokens) == sorted(they().tokens)
    again = get_task("bigram_shift").examples(sents)
    assert [r.tokens for r in again.records] == [r.tokens for r in data.records]


def test_unknown_label_policy():
    train = get_task("pos").examples([dogs()])
    dev = get_task("pos").examples([they()], labels=train.labels)
    assert dev.labels == train.labels
    # PRON and CCONJ never occur in training: dropped and counted, never a crash
    assert dev.stats["unknown_labels"] == 2 and dev.stats["unknown_label_counts"] == {"CCONJ": 1, "PRON": 1}
    assert {t.label for r in dev.records for t in r.targets} <= set(train.labels)
    assert len(dev) == 5 and dev.label_ids().max() < len(train.labels)
    assert train.stats["unknown_labels"] == 0
    # a record left without targets is dropped and counted
    only_unknown = Sentence("u", ["hey"], upos=["INTJ"])
    dev = get_task("pos").examples([only_unknown], labels=train.labels)
    assert dev.records == [] and dev.stats["empty_records"] == 1


def test_max_labels_collapse_to_other():
    sents = []
    for k in range(30):  # 25 distinct top sequences
        n = 2 + k % 25
        sents.append(Sentence(f"s{k}", ["w"] * n, upos=["X"] * n, constituents=[Span(0, n, "S")] + [
            Span(i, i + 1, "A") for i in range(n)]))
    train = get_task("top_const").examples(sents)
    assert len(train.labels) == 20 and OTHER in train.labels and train.stats["other_labels"] > 0
    dev = get_task("top_const").examples([Sentence("x", ["w"] * 40, upos=["X"] * 40,
                                                   constituents=[Span(0, 40, "S"), Span(0, 2, "B")])],
                                         labels=train.labels)
    assert dev.records[0].targets[0].label == OTHER and dev.stats["unknown_labels"] == 0


def test_missing_layer_unknown_name_and_options():
    plain = [Sentence("p", ["just", "words"])]
    with pytest.raises(ProbekitError, match=r"task 'deps' needs the 'heads' annotation layer"):
        get_task("deps").examples(plain)
    with pytest.raises(ProbekitError, match=r"task 'consts' needs the 'constituents'.*generator"):
        get_task("consts").examples(corpus()[:0] or plain)
    with pytest.raises(ProbekitError, match="no sentences"):
        get_task("pos").examples([])
    with pytest.raises(ConfigError, match=r"unknown task 'pso'\. Did you mean 'pos'.*Valid tasks: .*bigram_shift"):
        get_task("pso")
    with pytest.raises(ConfigError, match="no option"):
        get_task("pos", neg_ratio=2)
    with pytest.raises(ConfigError, match="already registered"):
        register_task(TASKS["pos"])
    bad = dogs()
    bad.srl = [SpanPair(Span(2, 3), Span(4, 9), "ARG1")]
    with pytest.raises(DataFormatError, match=r"sentence 's1': srl span \[4, 9\) is out of range for its 6 words"):
        get_task("srl").examples([bad])
    # partially annotated input: unannotated sentences are skipped and counted
    data = get_task("pos").examples(corpus() + plain)
    assert data.stats["missing_layer"] == 1 and len(data.records) == 2


def _vocab_corpus(n_sent=400, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3000)]
    tags = ["A", "B", "C"]
    sents = []
    for k in range(n_sent):
        idx = rng.integers(0, len(words), size=12)
        sents.append(Sentence(f"s{k}", [words[i] for i in idx], upos=[tags[i % 3 if i % 10 else 0] for i in idx]))
    return sents


def test_control_task_is_per_type_seeded_and_follows_the_distribution():
    train, dev = _vocab_corpus(400, 0), _vocab_corpus(100, 1)
    control = get_task("pos", control=True, seed=3)
    assert control.name == "pos_control" and get_task("pos_control").name == "pos_control"
    c_train = control.examples(train)
    c_dev = control.examples(dev, labels=c_train.labels)
    # one label per word type, shared by train and dev
    assignment = {}
    for data in (c_train, c_dev):
        for rec in data.records:
            for t in rec.targets:
                assert assignment.setdefault(rec.tokens[t.span1[0]], t.label) == t.label
    # reproducible, order-independent, seed-dependent
    again = control_task(get_task("pos"), seed=3).examples(list(reversed(train)))
    assert all(again_label == assignment[w] for w, again_label in again_type_map(again).items())
    other = control_task(get_task("pos"), seed=4).examples(train)
    assert again_type_map(other) != {w: assignment[w] for w in again_type_map(other)}
    # type labels follow the empirical token distribution of the training labels
    base = get_task("pos").examples(train)
    expected = Counter(t.label for r in base.records for t in r.targets)
    total = sum(expected.values())
    drawn = Counter(control.label_of(f"type{i}") for i in range(20000))  # many (unseen) types
    for label in base.labels:
        assert abs(drawn[label] / 20000 - expected[label] / total) < 0.015
    assert c_train.labels == base.labels and len(c_train) == len(base)


def again_type_map(data):
    return {rec.tokens[t.span1[0]]: t.label for rec in data.records for t in rec.targets}


def test_control_task_errors():
    control = get_task("pos", control=True)
    with pytest.raises(ConfigError, match="not fitted"):
        control.examples([dogs()], labels=["NOUN"])
    with pytest.raises(ConfigError, match="token tasks and dependency arcs"):
        get_task("entities", control=True)
    fitted = control_task(get_task("pos"), lowercase=True).fit(corpus())
    assert fitted.label_of("The") == fitted.label_of("the")
