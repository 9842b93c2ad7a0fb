"""IOB2 reader/writer: both layouts, the I- repair with its count, round trips, malformed input."""

from __future__ import annotations

import logging

import pytest

from probekit.data.iob2 import read_iob2, spans_to_tags, tags_to_spans, write_iob2
from probekit.data.records import Span
from probekit.errors import DataFormatError

UNER = """\
# newdoc id = d1
# sent_id = s1
# text = where in tampa bay
1\twhere\tO\t-\t-
2\tin\tO\t-\t-
3\ttampa\tB-LOC\t-\tann
4\tbay\tI-LOC\t-\tann

# sent_id = s2
# text = Bush met Acme Corp
1\tBush\tB-PER\t-\t-
2\tmet\tO\t-\t-
3\tAcme\tI-ORG\t-\t-
4\tCorp\tI-ORG\t-\t-
"""

CONLL = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
"""


def write(tmp_path, text, name="x.iob2", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_uner_layout_and_repair_count(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        sents = read_iob2(write(tmp_path, UNER))
    assert [s.id for s in sents] == ["s1", "s2"] and sents[0].doc_id == sents[1].doc_id == "d1"
    assert sents[0].tokens == ["where", "in", "tampa", "bay"]
    assert sents[0].entities == [Span(2, 4, "LOC")]
    # "I-ORG" without B-ORG starts an entity (standard repair) and is counted
    assert sents[1].entities == [Span(0, 1, "PER"), Span(2, 4, "ORG")]
    assert sents.stats["repaired_tags"] == 1 and sents.stats["entities"] == 3
    assert "repaired 1 I- tag" in caplog.text


def test_conll_layout_with_docstart(tmp_path):
    sents = read_iob2(write(tmp_path, CONLL, "x.bio"))
    assert len(sents) == 2 and sents[0].tokens == ["EU", "rejects", "German"]
    assert sents[0].entities == [Span(0, 1, "ORG"), Span(2, 3, "MISC")]
    assert sents[1].entities == [Span(0, 2, "PER")] and sents.stats["repaired_tags"] == 1
    assert sents[0].doc_id is not None and sents.stats["generated_ids"] == 2


def test_tag_repair_rules():
    spans, repaired = tags_to_spans(["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG"])
    assert spans == [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 6, "ORG")] and repaired == 2
    assert tags_to_spans(["B-A", "B-A", "I-A"]) == ([Span(0, 1, "A"), Span(1, 3, "A")], 0)
    assert spans_to_tags(4, [Span(1, 3, "X")]) == ["O", "B-X", "I-X", "O"]
    with pytest.raises(DataFormatError, match="overlaps"):
        spans_to_tags(4, [Span(0, 3, "X"), Span(1, 2, "Y")])


def test_round_trip(tmp_path):
    sents = read_iob2(write(tmp_path, UNER))
    again = read_iob2(write_iob2(sents, tmp_path / "y.iob2"))
    assert list(again) == list(sents) and again.stats["repaired_tags"] == 0


@pytest.mark.parametrize(
    "line, message",
    [("5\tbad\tX-LOC\t-\t-", "bad tag 'X-LOC'"), ("5\tbad\tB-\t-\t-", "bad tag 'B-'"),
     ("nope", "found 1 column")],
)
def test_malformed(tmp_path, line, message):
    path = write(tmp_path, UNER + "\n# sent_id = s3\n" + line + "\n")
    with pytest.raises(DataFormatError) as err:
        read_iob2(path)
    assert message in str(err.value) and f"{path}:17:" in str(err.value) and "expected" in str(err.value)


def test_empty_and_encoding(tmp_path):
    with pytest.raises(DataFormatError, match="no records"):
        read_iob2(write(tmp_path, "# just a comment\n\n"))
    with pytest.raises(DataFormatError, match=r":3: .*UTF-8"):
        read_iob2(write(tmp_path, UNER.replace("where in", "whére in"), encoding="latin-1"))
