"""CoNLL-U reader/writer: known answers on a hand-written file, round trips, malformed input."""

from __future__ import annotations

import pytest

from probekit.data.conllu import iter_conllu, read_conllu, write_conllu
from probekit.errors import DataFormatError

SAMPLE = """\
# newdoc id = doc1
# sent_id = s1
# newpar id = p1
# text = I cant go.
1\tI\tI\tPRON\tPRP\tCase=Nom|Number=Sing\t4\tnsubj\t4:nsubj\t_
2-3\tcant\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\tVerbForm=Fin\t4\taux\t4:aux\t_
3\tnt\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_
4\tgo\tgo\tVERB\tVB\tVerbForm=Inf\t0\troot\t0:root\tSpaceAfter=No
4.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t4:conj\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_

# text = Hello world
1\tHello\thello\tINTJ\tUH\t_\t0\troot\t0:root\t_
2\tworld\tworld\tNOUN\tNN\tNumber=Sing\t1\tvocative\t1:vocative\t_

# newdoc id = doc2
# sent_id = s3
# comment without equals sign
1\tBye\tbye\tINTJ\t_\t_\t0\troot\t0:root\t_
"""


def write(tmp_path, text, name="x.conllu", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_parses_layers_multiword_empty_nodes_and_documents(tmp_path):
    sents = read_conllu(write(tmp_path, SAMPLE))
    assert [s.id for s in sents] == ["s1", "x-2", "s3"]
    first = sents[0]
    assert first.tokens == ["I", "ca", "nt", "go", "."]  # syntactic words, not "cant"
    assert first.multiword == [(1, 3, "cant")]
    assert first.heads == [4, 4, 4, 0, 4]
    assert first.deprels[3] == "root" and first.upos[1] == "AUX" and first.lemmas[2] == "not"
    assert first.feats[0] == "Case=Nom|Number=Sing" and first.feats[2] == "_"
    assert first.misc[3] == "SpaceAfter=No"
    assert first.text == "I cant go." and first.meta == {"newpar id": "p1"}
    assert [s.doc_id for s in sents] == ["doc1", "doc1", "doc2"]  # newdoc carries forward
    assert sents[2].xpos is None  # "_" on every word = not annotated
    assert sents[2].meta == {"comment without equals sign": ""}
    assert sents.stats == {"sentences": 3, "tokens": 8, "multiword_tokens": 1, "empty_nodes": 1,
                           "generated_ids": 1, "skipped_sentences": 0}


def test_round_trip(tmp_path):
    sents = read_conllu(write(tmp_path, SAMPLE))
    out = write_conllu(sents, tmp_path / "out" / "y.conllu")
    again = read_conllu(out)
    assert list(again) == list(sents)
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic write leaves no temp file


def test_iter_is_streaming_and_fills_stats(tmp_path):
    stats: dict = {}
    it = iter_conllu(write(tmp_path, SAMPLE), stats=stats)
    assert next(it).id == "s1" and stats["sentences"] == 1
    rest = list(it)
    assert len(rest) == 2 and stats["sentences"] == 3


def test_comment_only_block_sets_document_and_is_counted(tmp_path):
    sents = read_conllu(write(tmp_path, "# newdoc id = lone\n\n" + SAMPLE.split("\n", 1)[1]))
    assert sents[0].doc_id == "lone" and sents.stats["comment_only_blocks"] == 1


def test_language_from_ud_file_name(tmp_path):
    assert read_conllu(write(tmp_path, SAMPLE, "fr_gsd-ud-dev.conllu"))[0].lang == "fr"
    assert read_conllu(write(tmp_path, SAMPLE, "mine.conllu"))[0].lang == "en"


@pytest.mark.parametrize(
    "line, message",
    [
        ("1\tI\tI\tPRON\tPRP\t_\t0\troot\t_", "found 9 column(s)"),
        ("1 I I PRON PRP _ 0 root _ _", "found 1 column(s)"),
        ("1\tI\tI\tPRON\tPRP\t_\tx\troot\t_\t_", "HEAD 'x' of word 1 is not an integer"),
        ("1\tI\tI\tPRON\tPRP\t_\t7\troot\t_\t_", "points past the last word"),
        ("2\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_", "word ID 2 out of sequence"),
        ("one\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_", "bad word ID"),
    ],
)
def test_malformed_lines_name_file_line_and_expectation(tmp_path, line, message):
    path = write(tmp_path, f"# sent_id = a\n1\tOk\tok\tX\t_\t_\t0\troot\t_\t_\n\n# sent_id = b\n{line}\n")
    with pytest.raises(DataFormatError) as err:
        read_conllu(path)
    text = str(err.value)
    assert message in text and f"{path}:5:" in text and err.value.line == 5
    assert "expected" in text


def test_non_strict_skips_and_counts(tmp_path):
    bad = "# sent_id = b\n1\tI\tI\tPRON\tPRP\t_\tx\troot\t_\t_\n"
    path = write(tmp_path, SAMPLE + "\n" + bad)
    sents = read_conllu(path, strict=False)
    assert len(sents) == 3 and sents.stats["skipped_sentences"] == 1
    assert "not an integer" in sents.stats["first_error"]


def test_empty_file_and_wrong_encoding(tmp_path):
    with pytest.raises(DataFormatError, match="no records"):
        read_conllu(write(tmp_path, "\n\n", "empty.conllu"))
    latin = SAMPLE.replace("Hello", "Héllo")
    path = write(tmp_path, latin, "latin.conllu", encoding="latin-1")
    with pytest.raises(DataFormatError, match=r"latin.conllu:13: .*not valid UTF-8.*iconv"):
        read_conllu(path)
    with pytest.raises(DataFormatError, match="not found"):
        read_conllu(tmp_path / "missing.conllu")


def test_writer_rejects_unwritable_words(tmp_path):
    sents = read_conllu(write(tmp_path, SAMPLE))
    sents[0].tokens[0] = "a\tb"
    with pytest.raises(DataFormatError, match="CoNLL-U cannot hold"):
        write_conllu(sents, tmp_path / "bad.conllu")
