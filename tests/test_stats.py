"""Corpus statistics and reading files/folders by extension."""

from __future__ import annotations

import pytest

from probekit.data.conllu import write_conllu
from probekit.data.edges import EdgeRecord, Target
from probekit.data.jiant import write_jsonl
from probekit.data.load import read_corpus
from probekit.data.records import Sentence, Span
from probekit.data.stats import describe, format_description
from probekit.errors import DataFormatError, ProbekitError
from probekit.tasks import TASKS


def sents():
    return [
        Sentence("a", ["Bush", "runs", "."], doc_id="d1", upos=["PROPN", "VERB", "PUNCT"], heads=[2, 0, 2],
                 deprels=["nsubj", "root", "punct"], feats=["Number=Sing", "Tense=Pres|VerbForm=Fin", "_"],
                 entities=[Span(0, 1, "PER")], labels={"topic": "politics"}),
        Sentence("b", ["It", "rains"], doc_id="d1", upos=["PRON", "VERB"], heads=[2, 0], deprels=["expl", "root"],
                 feats=["Number=Sing", "_"]),
        Sentence("c", ["Hi"], doc_id="d2", upos=["INTJ"], heads=[0], deprels=["root"], feats=["_"]),
    ]


def test_describe_sentences():
    d = describe(sents(), tasks=TASKS)
    assert (d["sentences"], d["tokens"], d["documents"]) == (3, 6, 2)
    assert d["layers"]["upos"].to_dict() == {"VERB": 2, "PROPN": 1, "PUNCT": 1, "PRON": 1, "INTJ": 1}
    assert d["layers"]["feats"]["Number=Sing"] == 2 and d["layers"]["entities"].to_dict() == {"PER": 1}
    assert d["layers"]["labels.topic"].to_dict() == {"politics": 1}
    assert d["tasks"]["pos"].sum() == 6 and d["tasks"]["entities"].sum() == 1 and "srl" not in d["tasks"]
    assert d["length"]["mean"] == 2.0
    text = format_description(d)
    assert "sentences: 3" in text and "layer upos: 5 labels, 6 items" in text


def test_describe_records_and_paths(tmp_path):
    write_jsonl([EdgeRecord("r", ["a", "b"], [Target("X", (0, 1)), Target("Y", (1, 2))])], tmp_path / "j" / "t.jsonl")
    d = describe(tmp_path / "j")
    assert (d["records"], d["targets"]) == (1, 2) and d["layers"]["targets"].to_dict() == {"X": 1, "Y": 1}
    write_conllu(sents(), tmp_path / "c" / "a.conllu")
    write_conllu(sents()[:1], tmp_path / "c" / "sub" / "b.conllu")
    corpus = read_corpus(tmp_path / "c")
    assert len(corpus) == 4 and len(corpus.stats["files"]) == 2
    assert describe(tmp_path / "c" / "a.conllu", tasks=None)["sentences"] == 3


def test_bad_paths(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"unknown file type '.csv'.*expected one of .conllu"):
        read_corpus(tmp_path / "x.csv")
    with pytest.raises(DataFormatError, match="no supported data files"):
        read_corpus(tmp_path)
    with pytest.raises(DataFormatError, match="no such file"):
        read_corpus(tmp_path / "missing")
    write_conllu(sents(), tmp_path / "m" / "a.conllu")
    write_jsonl([EdgeRecord("r", ["a"], [])], tmp_path / "m" / "b.jsonl")
    with pytest.raises(DataFormatError, match="mixes"):
        read_corpus(tmp_path / "m")
    with pytest.raises(ProbekitError, match="nothing to describe"):
        describe([])
