"""CoNLL-U (Universal Dependencies) reader and writer.

One :class:`~probekit.data.records.Sentence` per sentence block. Conventions:

* ``tokens`` are the *syntactic words* (lines with an integer ID). Multiword-token ranges
  (``1-2 cant``) go to ``Sentence.multiword`` as ``(start, end, form)`` with 0-based,
  end-exclusive word indices; empty nodes (``8.1``) of enhanced UD are skipped and counted.
* ``# newdoc id = X`` sets ``doc_id`` for this and all following sentences (UD semantics);
  ``# sent_id`` -> ``id`` (``<file stem>-<n>`` generated and counted when missing);
  ``# text`` -> ``text``; every other comment goes to ``meta`` and is written back, so
  ``read(write(s)) == s``.
* A column that is ``_`` on every word of a sentence is "not annotated" and its layer is
  ``None`` (e.g. XPOS in French GSD), except FEATS and MISC, where ``_`` is an ordinary value
  once the sentence has UPOS.

Counts of anything skipped land in ``SentenceList.stats`` (``empty_nodes``,
``generated_ids``, ``skipped_sentences`` in non-strict mode ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from probekit.data.lines import empty_file_error, iter_lines
from probekit.data.records import Sentence, SentenceList
from probekit.errors import DataFormatError
from probekit.io import atomic_write_text

_N_COLUMNS = 10
_EXPECTED_ROW = "10 tab-separated columns ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC"


def read_conllu(path: str | Path, *, strict: bool = True, lang: str | None = None) -> SentenceList:
    """Read a whole CoNLL-U file.

    Parameters
    ----------
    path : str or Path
    strict : bool
        If True (default) the first malformed line raises :class:`DataFormatError`. If False,
        a malformed sentence is skipped and counted in ``stats["skipped_sentences"]`` (its
        first error is kept in ``stats["first_error"]``).
    lang : str, optional
        Language code stored on every sentence; default: guessed from UD file names
        (``fr_gsd-ud-dev.conllu`` -> ``"fr"``), else ``"en"``.

    Returns
    -------
    SentenceList
        The sentences, with reader counts in ``.stats``.
    """
    stats: dict = {}
    sentences = SentenceList(iter_conllu(path, strict=strict, stats=stats, lang=lang))
    sentences.stats = stats
    return sentences


def iter_conllu(
    path: str | Path, *, strict: bool = True, stats: dict | None = None, lang: str | None = None
) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-U file (same semantics as :func:`read_conllu`).

    ``stats``, if given, is filled with the reader's counts as the file is consumed.
    """
    path = Path(path)
    stats = {} if stats is None else stats
    for key in ("sentences", "tokens", "multiword_tokens", "empty_nodes", "generated_ids", "skipped_sentences"):
        stats[key] = 0
    state = {"doc_id": None, "index": 0, "lang": lang or guess_lang(path)}
    block: list[tuple[int, str]] = []
    for number, line in iter_lines(path):
        if line.strip():
            block.append((number, line))
            continue
        if block:
            sent = _parse_block(block, path, strict, stats, state)
            if sent is not None:
                yield sent
            block = []
    if block:  # no blank line after the last sentence: tolerated
        sent = _parse_block(block, path, strict, stats, state)
        if sent is not None:
            yield sent
    if stats["sentences"] == 0 and stats["skipped_sentences"] == 0:
        raise empty_file_error(path, "CoNLL-U sentence blocks separated by blank lines")


def guess_lang(path: str | Path) -> str:
    """Language code from a UD-style file name (``fr_gsd-ud-dev.conllu`` -> ``"fr"``), else ``"en"``."""
    prefix = Path(path).name.split("_", 1)[0]
    return prefix if "_" in Path(path).name and 2 <= len(prefix) <= 3 and prefix.isalpha() else "en"


def _parse_block(block, path: Path, strict: bool, stats: dict, state: dict) -> Sentence | None:
    if all(line.startswith("#") for _, line in block):
        # a comment-only block (e.g. a lone "# newdoc id = ..."): keep its document id, count it
        for _, line in block:
            key, sep, value = line[1:].strip().partition("=")
            if key.strip() in ("newdoc id", "newdoc"):
                state["doc_id"] = value.strip() if sep else f"{path.stem}-doc{state['index'] + 1}"
        stats["comment_only_blocks"] = stats.get("comment_only_blocks", 0) + 1
        return None
    state["index"] += 1
    try:
        return _parse_sentence(block, path, stats, state)
    except DataFormatError as err:
        if strict:
            raise
        stats["skipped_sentences"] += 1
        stats.setdefault("first_error", str(err))
        return None


def _parse_sentence(block, path: Path, stats: dict, state: dict) -> Sentence:
    sent_id = text = None
    meta: dict[str, str] = {}
    rows: list[list[str]] = []
    multiword: list[tuple[int, int, str]] = []
    empty_nodes = 0
    for number, line in block:
        if line.startswith("#"):
            key, sep, value = parse_comment(line)
            if key == "sent_id" and sep:
                sent_id = value
            elif key == "text" and sep:
                text = value
            elif key in ("newdoc id", "newdoc"):
                # a bare "# newdoc" starts an unnamed document
                state["doc_id"] = value if sep else f"{path.stem}-doc{state['index']}"
            else:
                meta[key] = value
            continue
        cols = line.split("\t")
        if len(cols) != _N_COLUMNS:
            raise DataFormatError(
                f"found {len(cols)} column(s)", path=path, line=number, expected=_EXPECTED_ROW,
                fix="separate columns with single tabs (not spaces) and fill empty fields with '_'",
            )
        ident = cols[0]
        if ident.isdigit():
            if int(ident) != len(rows) + 1:
                raise DataFormatError(
                    f"word ID {ident} out of sequence", path=path, line=number,
                    expected=f"ID {len(rows) + 1} (IDs count 1, 2, 3 ... within a sentence)",
                )
            cols.append(number)  # remembered for HEAD errors below
            rows.append(cols)
        elif "-" in ident:
            first, _, last = ident.partition("-")
            if not (first.isdigit() and last.isdigit() and int(first) <= int(last)):
                raise DataFormatError(f"bad multiword range {ident!r}", path=path, line=number, expected="a range like 3-4")
            multiword.append((int(first) - 1, int(last), cols[1]))
        elif "." in ident and ident.replace(".", "", 1).isdigit():
            empty_nodes += 1
        else:
            raise DataFormatError(
                f"bad word ID {ident!r}", path=path, line=number,
                expected="an integer (word), a range like 3-4 (multiword token) or a decimal like 8.1 (empty node)",
            )
    first_line = block[0][0]
    if not rows:
        raise DataFormatError("sentence has no word lines", path=path, line=first_line, expected=_EXPECTED_ROW)
    n = len(rows)
    for start, end, form in multiword:
        if end > n:
            raise DataFormatError(f"multiword range {start + 1}-{end} ends past the last word {n}", path=path, line=first_line)
    heads = _heads(rows, path)
    if sent_id is None:
        sent_id = f"{path.stem}-{state['index']}"
        stats["generated_ids"] += 1
    upos = _layer(rows, 3)
    sent = Sentence(
        id=sent_id,
        tokens=[r[1] for r in rows],
        doc_id=state["doc_id"],
        text=text,
        lang=state["lang"],
        lemmas=_layer(rows, 2),
        upos=upos,
        xpos=_layer(rows, 4),
        feats=[r[5] for r in rows] if upos is not None else _layer(rows, 5),
        heads=heads,
        deprels=_layer(rows, 7),
        deps=_layer(rows, 8),
        misc=[r[9] for r in rows] if upos is not None else _layer(rows, 9),
        multiword=multiword,
        meta=meta,
    )
    stats["sentences"] += 1
    stats["tokens"] += n
    stats["multiword_tokens"] += len(multiword)
    stats["empty_nodes"] += empty_nodes
    return sent


def _layer(rows: list[list], column: int) -> list[str] | None:
    values = [r[column] for r in rows]
    return None if all(v == "_" for v in values) else values


def _heads(rows: list[list], path: Path) -> list[int] | None:
    raw = [r[6] for r in rows]
    if all(h == "_" for h in raw):
        return None
    n = len(rows)
    heads = []
    for row, h in zip(rows, raw):
        if not h.isdigit():
            raise DataFormatError(
                f"HEAD {h!r} of word {row[0]} is not an integer", path=path, line=row[10],
                expected=f"an integer 0..{n} (0 = root), or '_' on every word of an unparsed sentence",
            )
        if int(h) > n:
            raise DataFormatError(
                f"HEAD {h} of word {row[0]} points past the last word {n}", path=path, line=row[10],
                expected=f"an integer 0..{n}",
            )
        heads.append(int(h))
    return heads


def parse_comment(line: str) -> tuple[str, str, str]:
    """``"# key = value"`` -> ``("key", "=", "value")``; a comment without ``=`` -> ``(body, "", "")``.

    >>> parse_comment("# sent_id = a-1"), parse_comment("# newpar")
    (('sent_id', '=', 'a-1'), ('newpar', '', ''))
    """
    key, sep, value = line[1:].strip().partition("=")
    return key.strip(), sep, value.strip()


def comment_lines(sent: Sentence, previous_doc_id: str | None) -> list[str]:
    """The ``#`` header of one sentence (``newdoc`` only where the document changes), shared by
    every column format that uses UD's comment conventions (CoNLL-U, UNER's IOB2)."""
    out = []
    if sent.doc_id is not None and sent.doc_id != previous_doc_id:
        out.append(f"# newdoc id = {sent.doc_id}")
    out.append(f"# sent_id = {sent.id}")
    for key, value in sent.meta.items():
        out.append(f"# {key} = {value}" if value != "" else f"# {key}")
    if sent.text is not None:
        out.append(f"# text = {sent.text}")
    return out


def format_conllu(sentences: Iterable[Sentence]) -> str:
    """CoNLL-U text of ``sentences`` (see :func:`write_conllu`)."""
    out: list[str] = []
    doc_id = None
    for sent in sentences:
        out.extend(comment_lines(sent, doc_id))
        doc_id = sent.doc_id
        n = len(sent.tokens)
        columns = [
            sent.lemmas, sent.upos, sent.xpos, sent.feats,
            [str(h) for h in sent.heads] if sent.heads is not None else None,
            sent.deprels, sent.deps, sent.misc,
        ]
        columns = [c if c is not None else ["_"] * n for c in columns]
        ranges = {start: (end, form) for start, end, form in sent.multiword}
        for i, form in enumerate(sent.tokens):
            if i in ranges:
                end, mw_form = ranges[i]
                out.append(f"{i + 1}-{end}\t{mw_form}\t_\t_\t_\t_\t_\t_\t_\t_")
            fields = [str(i + 1), form] + [c[i] for c in columns]
            out.append("\t".join(fields))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def write_conllu(sentences: Iterable[Sentence], path: str | Path) -> Path:
    """Write ``sentences`` as CoNLL-U, atomically (temp file + rename).

    ``# newdoc id`` is written whenever ``doc_id`` changes; missing layers become ``_``.
    Empty nodes are not represented in :class:`Sentence` and so are not written.
    """
    sentences = list(sentences)
    for sent in sentences:
        bad = next((t for t in sent.tokens if not t or "\t" in t or "\n" in t), None)
        if bad is not None:
            raise DataFormatError(
                f"sentence {sent.id!r} has a word {bad!r} that CoNLL-U cannot hold",
                path=path, expected="non-empty words without tabs or newlines",
            )
        comments = [sent.id, sent.doc_id or "", sent.text or "", *sent.meta, *sent.meta.values()]
        if any("\n" in c for c in comments):
            raise DataFormatError(
                f"sentence {sent.id!r} has a newline in its id, doc_id, text or a meta entry",
                path=path, expected="single-line comment values", fix="encode multi-line values (e.g. as JSON)",
            )
    return atomic_write_text(path, format_conllu(sentences))
