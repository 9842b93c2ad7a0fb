"""jiant edge-probing JSONL: round trip of every target kind, multi-labels, malformed input."""

from __future__ import annotations

import json

import pytest

from probekit.data.edges import EdgeRecord, Target
from probekit.data.jiant import read_jsonl, write_jsonl
from probekit.errors import DataFormatError

RECORDS = [
    EdgeRecord("r1", ["The", "cat", "sat"], [Target("DET", (0, 1)), Target("NP", (0, 2)),
                                             Target("nsubj", (1, 2), (2, 3))], {"split": "train"}),
    EdgeRecord("r2", ["Hi", "!"], [Target("1-5")]),
    EdgeRecord("r3", ["Ça", "va"], []),
]


def test_round_trip_all_target_kinds(tmp_path):
    path = write_jsonl(RECORDS, tmp_path / "x.jsonl")
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["text"] == "The cat sat"
    assert first["targets"][2] == {"span1": [1, 2], "span2": [2, 3], "label": "nsubj"}
    assert "span1" not in json.loads(path.read_text(encoding="utf-8").splitlines()[1])["targets"][0]
    again = read_jsonl(path)
    assert list(again) == RECORDS and again.stats["targets"] == 4


def test_reads_jiant_files_without_ids_and_with_list_labels(tmp_path):
    path = tmp_path / "spr.json"
    path.write_text(
        '{"text": "a b c", "targets": [{"span1": [0, 1], "span2": [1, 3], "label": ["x", "y"]}]}\n\n'
        '{"text": "d e", "targets": [{"span1": [1, 2], "label": "z"}], "info": {"id": "given"}}\n',
        encoding="utf-8",
    )
    recs = read_jsonl(path)
    assert [r.id for r in recs] == ["spr-1", "given"]
    assert recs[0].targets == [Target("x", (0, 1), (1, 3)), Target("y", (0, 1), (1, 3))]
    assert recs.stats["multi_label_targets"] == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"text": "a b", "targets": [{"span1": [1, 3], "label": "x"}]}', "span1 [1, 3) is out of range for a text of 2 words"),
        ('{"text": "a b", "targets": [{"span1": [1, 1], "label": "x"}]}', "out of range"),
        ('{"text": "a b", "targets": [{"span1": [0, 1], "span2": [0, 9], "label": "x"}]}', "span2"),
        ('{"text": "a b", "targets": [{"span1": [0, 1]}]}', 'no "label"'),
        ('{"text": "a b", "targets": [{"span1": ["0", 1], "label": "x"}]}', "not a pair of integers"),
        ('{"targets": []}', 'no "text"'),
        ('{"text": "a  b", "targets": []}', "single spaces"),
        ('{"text": "a b", "targets": [', "invalid JSON"),
    ],
)
def test_malformed_records_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "targets": []}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_jsonl(path)
    assert message in str(err.value) and f"{path}:2:" in str(err.value)


def test_empty_file_and_unwritable_words(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no records"):
        read_jsonl(tmp_path / "e.jsonl")
    with pytest.raises(DataFormatError, match="cannot hold"):
        write_jsonl([EdgeRecord("x", ["New York", "is"], [])], tmp_path / "w.jsonl")
    with pytest.raises(DataFormatError, match="out of range"):
        write_jsonl([EdgeRecord("x", ["a"], [Target("l", (0, 2))])], tmp_path / "w.jsonl")
    assert not (tmp_path / "w.jsonl").exists()
