"""Plain-text corpora: files and folders, line and paragraph units, streaming, writing."""

from __future__ import annotations

import types

import pytest

from probekit.data.records import Sentence
from probekit.data.text import iter_text, read_text, write_text
from probekit.errors import ConfigError, DataFormatError


def test_lines_and_paragraphs(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("  first line \n\nsecond\nthird\n\n\n", encoding="utf-8")
    stats: dict = {}
    assert list(iter_text(path, stats=stats)) == ["first line", "second", "third"]
    assert stats == {"files": 1, "units": 3, "blank_lines": 3}
    assert list(iter_text(path, unit="paragraph")) == ["first line", "second third"]
    with pytest.raises(ConfigError, match="unit"):
        list(iter_text(path, unit="word"))


def test_folder_recursive_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("b2\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a1\na2\n", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not text\n", encoding="utf-8")
    assert list(iter_text(tmp_path)) == ["a1", "a2", "b2"]
    sents = read_text(tmp_path)
    assert [s.id for s in sents] == ["a-1", "a-2", "2-1"] and sents.stats["files"] == 2


def test_streams_without_reading_ahead(tmp_path):
    # The bad byte sits on line 3: a streaming reader yields lines 1-2 before it fails there.
    path = tmp_path / "big.txt"
    path.write_bytes(b"one\ntwo\n\xff\xfe bad\n" + b"more\n" * 1000)
    stream = iter_text(path)
    assert isinstance(stream, types.GeneratorType)
    assert next(stream) == "one" and next(stream) == "two"
    with pytest.raises(DataFormatError, match=r"big.txt:3: byte 0xff"):
        next(stream)


def test_write_sentences_documents_and_strings(tmp_path):
    sents = [Sentence("1", ["Hello", "world"], doc_id="d1"), Sentence("2", ["Bye", "."], doc_id="d1"),
             Sentence("3", ["New", "doc"], doc_id="d2")]
    path = write_text(sents, tmp_path / "out.txt")
    assert path.read_text(encoding="utf-8") == "Hello world\nBye .\nNew doc\n"
    assert [s.tokens for s in read_text(path)] == [s.tokens for s in sents]
    write_text(sents, tmp_path / "docs.txt", per="document")
    assert list(iter_text(tmp_path / "docs.txt")) == ["Hello world Bye .", "New doc"]
    write_text(["a  b\nc", "d"], tmp_path / "s.txt")
    assert list(iter_text(tmp_path / "s.txt")) == ["a b c", "d"]


def test_empty_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFormatError, match="no .txt files"):
        list(iter_text(empty))
    (tmp_path / "blank.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="only blank lines"):
        read_text(tmp_path / "blank.txt")
    with pytest.raises(DataFormatError, match="not found"):
        list(iter_text(tmp_path / "nope.txt"))
