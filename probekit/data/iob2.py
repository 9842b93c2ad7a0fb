"""IOB2 / BIO named-entity column files (Universal NER, CoNLL-2003 style).

Two layouts are recognised from the first word line of the file:

* **UNER** (``ID<TAB>TOKEN<TAB>TAG<TAB>...``): first column an integer word ID, token in
  column 2, tag in column 3; further columns (UNER's annotator columns) are ignored.
* **CoNLL** (``TOKEN ... TAG``): token first, tag last, tab- or space-separated;
  ``-DOCSTART-`` lines start a new document.

Comment lines use the CoNLL-U conventions (``# sent_id``, ``# text``, ``# newdoc id``); other
``# key = value`` comments go to ``Sentence.meta``. Entities become ``Sentence.entities``
(:class:`~probekit.data.records.Span`, end-exclusive).

Malformed tag sequences are repaired the standard way (as conlleval and seqeval do): an
``I-X`` that does not continue an ``X`` entity starts a new one, as if it were ``B-X``. Every
repair is counted in ``SentenceList.stats["repaired_tags"]`` and logged once per file as a
warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from probekit.data.conllu import comment_lines, parse_comment
from probekit.data.lines import empty_file_error, iter_lines
from probekit.data.records import Sentence, SentenceList, Span
from probekit.errors import DataFormatError
from probekit.io import atomic_write_text

log = logging.getLogger(__name__)

_EXPECTED_TAG = "a tag O, B-<TYPE> or I-<TYPE>"


def read_iob2(path: str | Path, *, lang: str = "en") -> SentenceList:
    """Read an IOB2 file into sentences with ``tokens`` and ``entities``.

    Returns
    -------
    SentenceList
        ``.stats`` holds ``sentences``, ``tokens``, ``entities``, ``repaired_tags`` and
        ``generated_ids`` (sentences without ``# sent_id`` get ``<file stem>-<n>``).
    """
    path = Path(path)
    stats = {"sentences": 0, "tokens": 0, "entities": 0, "repaired_tags": 0, "generated_ids": 0}
    sentences = SentenceList(stats=stats)
    layout: str | None = None
    doc_id = None
    block_comments: list[str] = []
    rows: list[tuple[int, str, str]] = []  # (line, token, tag)

    def flush() -> None:
        nonlocal block_comments, rows
        if rows:
            sentences.append(_make_sentence(path, rows, block_comments, doc_id, lang, stats))
        elif block_comments:
            pass  # a comment-only block (e.g. a lone "# newdoc") carries no sentence
        block_comments, rows = [], []

    for number, line in iter_lines(path):
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition("=")
            if key.strip() in ("newdoc id", "newdoc"):
                flush()
                doc_id = value.strip() if sep else f"{path.stem}-doc{stats['sentences'] + 1}"
            else:
                block_comments.append(line)
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if cols[0] == "-DOCSTART-":
            flush()
            doc_id = f"{path.stem}-doc{stats['sentences'] + 1}"
            continue
        if layout is None:
            layout = "uner" if cols[0].isdigit() and len(cols) >= 3 else "conll"
        if layout == "uner":
            if len(cols) < 3 or not cols[0].isdigit():
                raise DataFormatError(
                    f"found {len(cols)} column(s) starting {cols[0]!r}", path=path, line=number,
                    expected="ID<TAB>TOKEN<TAB>TAG[<TAB>...] like the other lines of this file",
                    fix="separate columns with tabs and keep the same layout on every line",
                )
            token, tag = cols[1], cols[2]
        else:
            if len(cols) < 2:
                raise DataFormatError(
                    f"found {len(cols)} column(s)", path=path, line=number,
                    expected="TOKEN ... TAG (at least two columns)", fix="add the tag column",
                )
            token, tag = cols[0], cols[-1]
        rows.append((number, token, tag))
    flush()
    if not sentences:
        raise empty_file_error(path, "IOB2 word lines (TOKEN ... TAG) in blank-line-separated sentences")
    if stats["repaired_tags"]:
        log.warning("%s: repaired %d I- tag(s) without a matching B- (treated as B-)", path, stats["repaired_tags"])
    return sentences


def _make_sentence(path, rows, comments, doc_id, lang, stats) -> Sentence:
    sent_id = text = None
    meta: dict[str, str] = {}
    for line in comments:
        key, sep, value = parse_comment(line)
        if key == "sent_id" and sep:
            sent_id = value
        elif key == "text" and sep:
            text = value
        else:
            meta[key] = value
    stats["sentences"] += 1
    if sent_id is None:
        sent_id = f"{path.stem}-{stats['sentences']}"
        stats["generated_ids"] += 1
    tags = [r[2] for r in rows]
    entities, repaired = tags_to_spans(tags, path=path, lines=[r[0] for r in rows])
    stats["repaired_tags"] += repaired
    stats["tokens"] += len(rows)
    stats["entities"] += len(entities)
    return Sentence(
        id=sent_id, tokens=[r[1] for r in rows], doc_id=doc_id, text=text, lang=lang,
        entities=entities, meta=meta,
    )


def tags_to_spans(
    tags: list[str], *, path: str | Path | None = None, lines: list[int] | None = None
) -> tuple[list[Span], int]:
    """Entity spans of an IOB2 tag sequence and the number of repaired ``I-`` tags.

    An ``I-X`` that does not continue an ``X`` entity opens a new entity (the standard repair).
    """
    spans: list[Span] = []
    start, label = None, None
    repaired = 0
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, kind = tag.partition("-")
        if tag == "O" or (prefix in ("B", "I") and kind):
            pass
        else:
            raise DataFormatError(
                f"bad tag {tag!r}", path=path, line=lines[i] if lines else None, expected=_EXPECTED_TAG,
                fix="convert BIOES/IOB1 files to IOB2 first",
            )
        continues = prefix == "I" and start is not None and kind == label
        if start is not None and not continues:
            spans.append(Span(start, i, label))
            start, label = None, None
        if prefix == "B" or (prefix == "I" and not continues):
            repaired += prefix == "I"
            start, label = i, kind
    return spans, repaired


def spans_to_tags(n: int, spans: Iterable[Span], *, sentence_id: str = "?") -> list[str]:
    """IOB2 tags of length ``n`` for non-overlapping ``spans``."""
    tags = ["O"] * n
    for span in sorted(spans, key=lambda s: s.start):
        if span.end > n or any(t != "O" for t in tags[span.start:span.end]):
            raise DataFormatError(
                f"sentence {sentence_id!r}: entity [{span.start}, {span.end}) is out of range or overlaps "
                "another entity", expected=f"non-overlapping spans within 0..{n}",
                fix="IOB2 cannot encode nested entities; keep the outermost ones",
            )
        tags[span.start] = f"B-{span.label}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label}"
    return tags


def write_iob2(sentences: Iterable[Sentence], path: str | Path) -> Path:
    """Write sentences in UNER's layout (``ID TOKEN TAG - -``, tab-separated), atomically."""
    out: list[str] = []
    doc_id = None
    for sent in sentences:
        out.extend(comment_lines(sent, doc_id))
        doc_id = sent.doc_id
        tags = spans_to_tags(len(sent.tokens), sent.entities, sentence_id=sent.id)
        for i, (token, tag) in enumerate(zip(sent.tokens, tags)):
            if not token or "\t" in token or "\n" in token:
                raise DataFormatError(
                    f"sentence {sent.id!r}: word {token!r} cannot be written to a column file",
                    path=path, expected="non-empty words without tabs or newlines",
                )
            out.append(f"{i + 1}\t{token}\t{tag}\t-\t-")
        out.append("")
    return atomic_write_text(path, "\n".join(out) + "\n")
