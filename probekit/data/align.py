"""Merge two annotation sources over the same sentences (e.g. UD EWT + Universal NER EWT).

Sentences are matched by ``id``. Their words must spell the same characters once whitespace is
removed; where the two sources *segment* words differently, entity spans are moved onto the
base source's words through character offsets. Universal NER EWT, for instance, was built on
an older UD EWT release: in 6 sentences of dev/test it splits differently (``can t`` vs UD's
``ca nt``, ``# audiobooks`` vs ``#audiobooks``, ``Fudrucker s`` vs ``Fudruckers``). UNER's
words are UD *syntactic words* (not multiword surface tokens), so in every other sentence the
words agree one to one.

Every decision is counted in :class:`AlignReport`; sentences that cannot be aligned are never
dropped silently: ``strict=True`` raises, ``strict=False`` keeps the base sentence without the
extra layer and lists it in the report.
"""

from __future__ import annotations

import copy
import logging
from bisect import bisect_right
from dataclasses import dataclass, field

from probekit.data.records import Sentence, SentenceList, Span
from probekit.errors import DataFormatError

log = logging.getLogger(__name__)

SPAN_LAYERS = ("entities", "constituents", "coref")


@dataclass
class AlignReport:
    """What :func:`align_annotations` did.

    Attributes
    ----------
    matched : int
        Sentences found in both sources with identical words.
    retokenized : list of str
        Ids whose words differ in segmentation only (spans moved through character offsets).
    mismatched : list of str
        Ids whose characters differ (layer not transferred).
    orphans_base, orphans_other : list of str
        Ids found in only one of the two sources.
    """

    matched: int = 0
    retokenized: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    orphans_base: list[str] = field(default_factory=list)
    orphans_other: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.orphans_base or self.orphans_other)

    def summary(self) -> str:
        parts = [f"{self.matched} identical", f"{len(self.retokenized)} re-segmented"]
        for name, ids in (("mismatched", self.mismatched), ("only in base", self.orphans_base),
                          ("only in other", self.orphans_other)):
            if ids:
                parts.append(f"{len(ids)} {name} (e.g. {', '.join(ids[:3])})")
        return "; ".join(parts)


def align_annotations(
    ud: list[Sentence], ner: list[Sentence], *, layers: tuple[str, ...] = ("entities",), strict: bool = True
) -> SentenceList:
    """Copy span ``layers`` from ``ner`` onto the matching sentences of ``ud``.

    Parameters
    ----------
    ud : list of Sentence
        The base source; its words, ids and order are kept.
    ner : list of Sentence
        The source of the extra layers, matched to ``ud`` by sentence id.
    layers : tuple of str
        Span layers to copy (``entities``, ``constituents``, ``coref``).
    strict : bool
        If True, any orphan or character mismatch raises :class:`DataFormatError` listing them.
        If False they are reported (``.stats["report"]``, a logged warning) and the base
        sentences are kept without the layer.

    Returns
    -------
    SentenceList
        Copies of the ``ud`` sentences with the layers filled; ``.stats["report"]`` is the
        :class:`AlignReport`.
    """
    for layer in layers:
        if layer not in SPAN_LAYERS:
            raise DataFormatError(f"cannot align layer {layer!r}", expected=f"one of {SPAN_LAYERS}")
    other = {}
    for sent in ner:
        if sent.id in other:
            raise DataFormatError(f"sentence id {sent.id!r} occurs twice in the second source",
                                  fix="sentence ids must be unique to align by id")
        other[sent.id] = sent
    report = AlignReport()
    out = SentenceList(stats={"report": report})
    seen = set()
    for base in ud:
        merged = copy.copy(base)
        match = other.get(base.id)
        seen.add(base.id)
        if match is None:
            report.orphans_base.append(base.id)
        elif match.tokens == base.tokens:
            report.matched += 1
            for layer in layers:
                setattr(merged, layer, list(getattr(match, layer)))
        else:
            mapping = _char_mapping(match.tokens, base.tokens)
            if mapping is None:
                report.mismatched.append(base.id)
            else:
                report.retokenized.append(base.id)
                for layer in layers:
                    setattr(merged, layer, [_move(span, mapping) for span in getattr(match, layer)])
        out.append(merged)
    report.orphans_other = [sid for sid in other if sid not in seen]
    if not report.ok:
        message = f"sources do not align: {report.summary()}"
        if strict:
            raise DataFormatError(message, expected="the same sentence ids and characters in both sources",
                                  fix="pass strict=False to keep unaligned base sentences without the layer")
        log.warning(message)
    return out


def _char_mapping(src: list[str], dst: list[str]) -> list[tuple[int, int]] | None:
    """For each ``src`` word, the ``dst`` words covering its first and last characters.

    Returns ``[(first_dst, last_dst), ...]`` or ``None`` when the whitespace-free strings differ.
    """
    if "".join(src).replace(" ", "") != "".join(dst).replace(" ", ""):
        return None
    dst_starts, pos = [], 0
    for word in dst:
        dst_starts.append(pos)
        pos += len(word.replace(" ", ""))
    mapping, pos = [], 0
    for word in src:
        length = max(len(word.replace(" ", "")), 1)
        first = bisect_right(dst_starts, pos) - 1
        last = bisect_right(dst_starts, pos + length - 1) - 1
        mapping.append((first, last))
        pos += len(word.replace(" ", ""))
    return mapping


def _move(span: Span, mapping) -> Span:
    return Span(mapping[span.start][0], mapping[span.end - 1][1] + 1, span.label)
