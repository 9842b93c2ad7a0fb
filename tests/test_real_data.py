"""The real treebanks in ../shared/data: exact counts, UNER alignment, tasks with sane label sets."""

from __future__ import annotations

from collections import Counter

import pytest

from probekit.data.align import align_annotations
from probekit.data.conllu import read_conllu, write_conllu
from probekit.data.iob2 import read_iob2
from probekit.data.stats import describe, format_description
from probekit.errors import ProbekitError
from probekit.tasks import NO_RELATION, TASKS, get_task

UPOS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"}
UD_RELATIONS = {"acl", "advcl", "advmod", "amod", "appos", "aux", "case", "cc", "ccomp", "clf", "compound",
                "conj", "cop", "csubj", "dep", "det", "discourse", "dislocated", "expl", "fixed", "flat",
                "goeswith", "iobj", "list", "mark", "nmod", "nsubj", "nummod", "obj", "obl", "orphan",
                "parataxis", "punct", "reparandum", "root", "vocative", "xcomp"}

EWT = "ud-english-ewt/en_ewt-ud-{}.conllu"
UNER = "uner-english-ewt/en_ewt-ud-{}.iob2"


@pytest.fixture(scope="module")
def ewt(real_data):
    return {split: read_conllu(real_data / EWT.format(split)) for split in ("train", "dev", "test")}


def test_ud_ewt_exact_counts(ewt):
    train = ewt["train"]
    assert len(train) == 12544 and sum(len(s) for s in train) == 204577
    assert train.stats["tokens"] == 204577 and train.stats["skipped_sentences"] == 0
    assert train.stats["multiword_tokens"] > 0 and train.stats["empty_nodes"] > 0  # both occur, none crash
    assert len(ewt["dev"]) == 2001 and len(ewt["test"]) == 2077
    assert len({s.id for s in train}) == 12544 and train.stats["generated_ids"] == 0
    assert len({s.doc_id for s in train}) == 540  # one per "# newdoc"


def test_french_gsd_counts(real_data):
    dev = read_conllu(real_data / "ud-french-gsd/fr_gsd-ud-dev.conllu")
    test = read_conllu(real_data / "ud-french-gsd/fr_gsd-ud-test.conllu")
    assert len(dev) == 1476 and len(test) == 416
    assert dev[0].lang == "fr" and dev[0].xpos is None  # GSD has no XPOS
    assert test.stats["multiword_tokens"] > 0  # du = de + le
    assert set(get_task("pos").examples(test).labels) <= UPOS
    with pytest.raises(ProbekitError, match="'xpos' annotation layer"):
        get_task("xpos").examples(test)


def test_round_trip_real_file(ewt, tmp_path):
    again = read_conllu(write_conllu(ewt["dev"], tmp_path / "dev.conllu"))
    assert list(again) == list(ewt["dev"])


@pytest.mark.parametrize("split, entities", [("dev", 966), ("test", 1088)])
def test_uner_aligns_with_ud_without_orphans(ewt, real_data, split, entities):
    ner = read_iob2(real_data / UNER.format(split))
    assert len(ner) == len(ewt[split]) and ner.stats["repaired_tags"] == 0
    merged = align_annotations(ewt[split], ner)  # strict: raises on any orphan or mismatch
    report = merged.stats["report"]
    assert report.ok and not report.orphans_base and not report.orphans_other and not report.mismatched
    assert report.matched + len(report.retokenized) == len(ewt[split]) and len(report.retokenized) == 3
    assert sum(len(s.entities) for s in merged) == entities
    assert merged[0].upos is not None  # UD layers kept
    data = get_task("entities").examples(merged)
    assert data.labels == ["LOC", "ORG", "PER"]
    if split == "test":
        fud = next(s for s in merged if s.id == "answers-20111106103415AAqdokn_ans-0005")
        assert [(fud.tokens[e.start:e.end], e.label) for e in fud.entities] == [(["Fudruckers"], "ORG")]


@pytest.mark.slow
def test_tasks_on_ewt_have_sane_label_sets(ewt):
    train, dev = ewt["train"], ewt["dev"]
    pos = get_task("pos").examples(train)
    assert set(pos.labels) == UPOS and len(pos) == 204577
    deps = get_task("deps").examples(train)
    relations = set(deps.labels) - {NO_RELATION}
    assert NO_RELATION in deps.labels and {r.split(":")[0] for r in relations} <= UD_RELATIONS
    assert {"nsubj", "obj", "det", "case", "nsubj:pass", "acl:relcl"} <= relations and "root" not in relations
    counts = Counter(t.label for r in deps.records for t in r.targets)
    assert counts[NO_RELATION] == sum(v for k, v in counts.items() if k != NO_RELATION)
    dev_deps = get_task("deps").examples(dev, labels=deps.labels)
    assert dev_deps.labels == deps.labels and dev_deps.stats["unknown_labels"] < 10
    xpos = get_task("xpos").examples(train)
    assert {"NN", "NNS", "VBD", "JJ", "DT"} <= set(xpos.labels) and len(xpos.labels) < 60
    assert set(get_task("morph_number").examples(train).labels) <= {"Sing", "Plur", "Ptan", "Coll"}
    assert get_task("tense").examples(train).labels == ["Past", "Pres"]
    assert set(get_task("subj_num").examples(train).labels) <= {"Sing", "Plur", "Ptan"}
    shift = get_task("bigram_shift").examples(train)
    assert shift.labels == ["I", "O"]
    assert abs(Counter(r.targets[0].label for r in shift.records)["I"] - len(shift.records) / 2) <= 1
    assert get_task("coord_inv").examples(train).stats["records"] > 500
    assert len(get_task("sent_len").examples(train).labels) == 7
    with pytest.raises(ProbekitError, match="'constituents'"):
        get_task("top_const").examples(dev)


@pytest.mark.slow
def test_control_pos_on_ewt(ewt):
    control = get_task("pos", control=True, seed=0)
    train = control.examples(ewt["train"])
    dev = control.examples(ewt["dev"], labels=train.labels)
    fresh = get_task("pos", control=True, seed=0)
    fresh._fit(get_task("pos").examples(ewt["train"]))  # same training distribution -> same map
    assert all(fresh.label_of(w) == label for w, label in control.type_map.items())
    words = Counter()
    for data in (train, dev):
        for rec in data.records:
            for t in rec.targets:
                words[(rec.tokens[t.span1[0]], t.label)] += 1
    assert len({w for w, _ in words}) == len(words)  # one label per word type across splits
    assert set(train.labels) == UPOS


def test_describe_real_files(real_data):
    stats = describe(real_data / EWT.format("dev"), tasks=TASKS)
    assert stats["sentences"] == 2001 and stats["tokens"] == 25147 and stats["documents"] == 318
    assert len(stats["layers"]["upos"]) == 17 and stats["layers"]["upos"].sum() == 25147
    assert stats["tasks"]["pos"].sum() == 25147 and "deps" in stats["tasks"] and "consts" not in stats["tasks"]
    text = format_description(stats)
    assert "sentences: 2,001" in text and "empty_nodes=4" in text
    folder = describe(real_data / "uner-english-ewt")  # LICENSE.txt is not corpus
    assert folder["sentences"] == 2001 + 2077 and folder["layers"]["entities"].sum() == 966 + 1088
