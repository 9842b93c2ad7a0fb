"""Aligning two annotation sources by sentence id (UD + Universal NER)."""

from __future__ import annotations

import logging

import pytest

from probekit.data.align import align_annotations
from probekit.data.records import Sentence, Span
from probekit.errors import DataFormatError


def ud(sid, tokens):
    return Sentence(sid, tokens, upos=["X"] * len(tokens))


def ner(sid, tokens, entities):
    return Sentence(sid, tokens, entities=entities)


def test_identical_words_copy_entities_and_keep_ud_layers():
    base = [ud("a", ["Bush", "met", "Blair"]), ud("b", ["Hi"])]
    other = [ner("b", ["Hi"], []), ner("a", ["Bush", "met", "Blair"], [Span(0, 1, "PER"), Span(2, 3, "PER")])]
    merged = align_annotations(base, other)
    assert [s.id for s in merged] == ["a", "b"] and merged[0].upos == ["X"] * 3
    assert merged[0].entities == [Span(0, 1, "PER"), Span(2, 3, "PER")]
    assert base[0].entities == []  # inputs untouched
    report = merged.stats["report"]
    assert report.ok and report.matched == 2 and report.retokenized == []


def test_different_segmentation_moves_spans_by_characters():
    # UNER (older UD) says "Fudrucker s", "can t", "Mc. Donald s"; current UD says otherwise
    base = [ud("a", ["Fudruckers", "."]), ud("b", ["ca", "nt", "go"]), ud("c", ["at", "Mc.Donald", "s", "now"])]
    other = [ner("a", ["Fudrucker", "s", "."], [Span(0, 2, "ORG")]),
             ner("b", ["can", "t", "go"], [Span(2, 3, "LOC")]),
             ner("c", ["at", "Mc.", "Donald", "s", "now"], [Span(1, 4, "ORG")])]
    merged = align_annotations(base, other)
    assert merged[0].entities == [Span(0, 1, "ORG")]
    assert merged[1].entities == [Span(2, 3, "LOC")]
    assert merged[2].entities == [Span(1, 3, "ORG")]
    assert merged.stats["report"].retokenized == ["a", "b", "c"]


def test_orphans_and_mismatches_are_reported(caplog):
    base = [ud("a", ["x"]), ud("b", ["y"]), ud("c", ["same"])]
    other = [ner("b", ["z"], [Span(0, 1, "PER")]), ner("c", ["same"], []), ner("d", ["w"], [])]
    with pytest.raises(DataFormatError) as err:
        align_annotations(base, other)
    text = str(err.value)
    assert "1 mismatched (e.g. b)" in text and "1 only in base (e.g. a)" in text and "1 only in other (e.g. d)" in text
    with caplog.at_level(logging.WARNING):
        merged = align_annotations(base, other, strict=False)
    report = merged.stats["report"]
    assert len(merged) == 3 and merged[1].entities == []  # kept, without the layer
    assert (report.orphans_base, report.mismatched, report.orphans_other) == (["a"], ["b"], ["d"])
    assert "do not align" in caplog.text


def test_duplicate_ids_and_bad_layer():
    with pytest.raises(DataFormatError, match="occurs twice"):
        align_annotations([ud("a", ["x"])], [ner("a", ["x"], []), ner("a", ["x"], [])])
    with pytest.raises(DataFormatError, match="cannot align layer"):
        align_annotations([ud("a", ["x"])], [ner("a", ["x"], [])], layers=("upos",))
