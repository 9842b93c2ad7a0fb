"""Export generated corpora (CoNLL-U, jiant JSONL per task, plain text) and restore the layers
CoNLL-U has no columns for.

CoNLL-U carries tokens, lemmas, tags, features and trees (MISC gets ``SpaceAfter=No`` where the
text joins two words, as UD requires); the other layers travel in comment lines that
:func:`probekit.data.conllu.read_conllu` keeps in ``Sentence.meta``::

    # domain = general
    # lang = en
    # constituents = S:0-9 NP:0-2 VP:2-8 ...        label:start-end (end-exclusive)
    # entities = PER:0-2 LOC:6-7
    # srl = 3-4>0-2:ARG0 3-4>4-8:ARG1               predicate>argument:label
    # coref = c0:0-2 c3:4-5                         cluster:start-end
    # labels = {"tense": "Past", "subj_num": "Sing"}

:func:`restore_layers` turns them back into layers, so ``generate -> export -> read_conllu ->
restore_layers`` gives back the generated records exactly.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

from probekit.data.records import Sentence, Span, SpanPair
from probekit.errors import DataFormatError, ProbekitError

FORMATS = ("conllu", "jsonl", "txt")
LAYER_KEYS = ("domain", "lang", "constituents", "entities", "srl", "coref", "labels")
# Tasks exported as jiant JSONL by default: one per annotation layer and the sentence labels.
DEFAULT_TASKS = ("pos", "xpos", "deps", "entities", "consts", "srl", "coref", "sent_len",
                 "tree_depth", "tense", "subj_num", "obj_num", "bigram_shift", "top_const")


def _spans(spans: Iterable[Span]) -> str:
    return " ".join(f"{s.label}:{s.start}-{s.end}" for s in spans)


def _parse_span(text: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    return int(start), int(end)


def encode_layers(sent: Sentence) -> dict[str, str]:
    """The ``meta`` entries that carry ``sent``'s non-CoNLL-U layers (empty layers omitted)."""
    meta = {"domain": sent.domain or "", "lang": sent.lang}
    if sent.constituents:
        meta["constituents"] = _spans(sent.constituents)
    if sent.entities:
        meta["entities"] = _spans(sent.entities)
    if sent.srl:
        meta["srl"] = " ".join(f"{p.span1.start}-{p.span1.end}>{p.span2.start}-{p.span2.end}:"
                               f"{p.label}" for p in sent.srl)
    if sent.coref:
        meta["coref"] = _spans(sent.coref)
    if sent.labels:
        meta["labels"] = json.dumps(sent.labels, ensure_ascii=False)
    return meta


def restore_layers(sent: Sentence) -> Sentence:
    """Move the layers that :func:`export` stored in ``sent.meta`` back into ``sent`` (in place).

    A sentence without them is returned unchanged. Returns ``sent``.
    """
    meta = sent.meta
    if "lang" not in meta or "domain" not in meta:
        return sent
    try:
        sent.lang = meta.pop("lang")
        sent.domain = meta.pop("domain") or None
        text = meta.pop("constituents", "")
        sent.constituents = [Span(*_parse_span(x[x.rindex(":") + 1:]), x[:x.rindex(":")])
                             for x in text.split()]
        text = meta.pop("entities", "")
        sent.entities = [Span(*_parse_span(x[x.rindex(":") + 1:]), x[:x.rindex(":")])
                         for x in text.split()]
        text = meta.pop("coref", "")
        sent.coref = [Span(*_parse_span(x[x.rindex(":") + 1:]), x[:x.rindex(":")])
                      for x in text.split()]
        pairs = []
        for item in meta.pop("srl", "").split():
            spans, _, label = item.partition(":")
            pred, _, arg = spans.partition(">")
            pairs.append(SpanPair(Span(*_parse_span(pred)), Span(*_parse_span(arg)), label))
        sent.srl = pairs
        sent.labels = json.loads(meta.pop("labels", "{}"))
    except (ValueError, json.JSONDecodeError) as err:
        raise DataFormatError(f"sentence {sent.id!r}: malformed synthetic layer comment ({err})",
                              expected="the '# key = value' lines written by probekit's export",
                              fix="regenerate the corpus with `probekit data generate`") from err
    n = len(sent.tokens)
    for span in sent.constituents + sent.entities + sent.coref:
        if span.end > n:
            raise DataFormatError(f"sentence {sent.id!r}: span [{span.start}, {span.end}) is out "
                                  f"of range for {n} words", expected="end <= number of words")
    if sent.misc is not None:  # export's SpaceAfter=No: the text line carries it already
        sent.misc = [_drop_space_after(m) for m in sent.misc]
    # English output has no MISC; the reader turns an all-'_' column into '_' strings
    if sent.misc is not None and all(m == "_" for m in sent.misc):
        sent.misc = None
    if sent.deps is not None and all(d == "_" for d in sent.deps):
        sent.deps = None
    return sent


def _drop_space_after(misc: str) -> str:
    items = [x for x in misc.split("|") if x != "SpaceAfter=No"]
    return "|".join(items) or "_"


def with_space_after(sent: Sentence) -> list[str] | None:
    """``sent``'s MISC column with ``SpaceAfter=No`` on every word that its ``text`` joins to
    the next one (UD requires it wherever the text has no space between two words).

    Returns the MISC list (``sent.misc`` unchanged where nothing is joined), or None when
    ``sent`` has neither MISC nor a joined pair.

    Raises
    ------
    DataFormatError
        If the words do not spell ``text`` in order (a gap other than spaces).
    """
    text, tokens = sent.text, sent.tokens
    if not text:
        return sent.misc
    joined, pos = [], 0
    for i, token in enumerate(tokens):
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if not text.startswith(token, pos):
            raise DataFormatError(f"sentence {sent.id!r}: word {i + 1} {token!r} does not match "
                                  f"its text at character {pos}: {text[pos:pos + 20]!r}",
                                  expected="the words of `# text` in order, split at spaces or "
                                           "punctuation")
        pos += len(token)
        if i + 1 < len(tokens) and pos < len(text) and text[pos] != " ":
            joined.append(i)
    if not joined:
        return sent.misc
    misc = list(sent.misc) if sent.misc is not None else ["_"] * len(tokens)
    for i in joined:
        if "SpaceAfter=No" not in misc[i].split("|"):
            misc[i] = "SpaceAfter=No" if misc[i] == "_" else misc[i] + "|SpaceAfter=No"
    return misc


def export(sentences: Sequence[Sentence], out_dir: str | Path,
           formats: Iterable[str] = FORMATS, *, tasks: Iterable[str] = DEFAULT_TASKS,
           name: str = "corpus") -> dict[str, list[Path]]:
    """Write ``sentences`` to ``out_dir`` in each of ``formats``.

    Parameters
    ----------
    sentences : sequence of Sentence
    out_dir : str or Path
        Created if missing.
    formats : iterable of {"conllu", "jsonl", "txt"}
        ``conllu`` -> ``<name>.conllu`` (all layers, see the module docstring); ``jsonl`` ->
        ``jsonl/<task>.jsonl`` per task in ``tasks`` (jiant edge-probing format, built by the
        task registry); ``txt`` -> ``<name>.txt``, one tokenized sentence per line (language
        model training).
    tasks : iterable of str
        Registry task names for ``jsonl``; a task whose layer is missing is skipped.

    Returns
    -------
    dict
        Format -> written paths.
    """
    from probekit.data.conllu import write_conllu
    from probekit.data.jiant import write_jsonl
    from probekit.data.text import write_text

    formats = list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ProbekitError(f"unknown export format(s) {unknown}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    if "conllu" in formats:
        with_meta = [replace(s, meta={**s.meta, **encode_layers(s)}, misc=with_space_after(s))
                     for s in sentences]
        written["conllu"] = [write_conllu(with_meta, out / f"{name}.conllu")]
    if "txt" in formats:
        written["txt"] = [write_text(sentences, out / f"{name}.txt")]
    if "jsonl" in formats:
        from probekit.tasks import get_task

        (out / "jsonl").mkdir(exist_ok=True)
        written["jsonl"] = []
        for task_name in tasks:
            try:
                data = get_task(task_name).examples(sentences)
            except ProbekitError:
                continue  # this corpus lacks the task's layer
            written["jsonl"].append(write_jsonl(data.records, out / "jsonl" / f"{task_name}.jsonl"))
    return written
