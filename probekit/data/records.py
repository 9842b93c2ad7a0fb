"""The one in-memory record every reader returns and every task consumes.

A :class:`Sentence` holds surface tokens plus whichever annotation layers its source has; a layer
that the source lacks stays ``None`` (token layers) or empty (span layers), so a task can tell
"not annotated" from "annotated, nothing there".

Conventions
-----------
* Token indices are 0-based; spans are ``[start, end)`` (end-exclusive), as in jiant.
* ``heads`` are 1-based UD heads, ``0`` for the root, aligned with ``tokens``.
* Span-pair layers (``srl``, ``relations``) are :class:`SpanPair` objects.
* Coreference is stored per sentence as mention spans whose ``label`` is a cluster id that is
  unique within the document; a task pairs mentions across the sentences of a document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator


@dataclass(frozen=True)
class Span:
    """A labelled token span ``[start, end)``."""

    start: int
    end: int
    label: str | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"invalid span [{self.start}, {self.end}): need 0 <= start < end")


@dataclass(frozen=True)
class SpanPair:
    """Two spans and the label of their relation (SRL: span1 = predicate, span2 = argument)."""

    span1: Span
    span2: Span
    label: str


@dataclass
class Sentence:
    """One sentence with all annotation layers its source provides.

    Attributes
    ----------
    id : str
        Sentence id (``# sent_id`` in CoNLL-U), unique within a corpus.
    tokens : list of str
        Surface words (UD syntactic words; multiword-token ranges are kept in ``misc``-free
        ``multiword`` and do not appear here).
    """

    id: str
    tokens: list[str]
    doc_id: str | None = None
    text: str | None = None
    lang: str = "en"
    domain: str | None = None
    lemmas: list[str] | None = None
    upos: list[str] | None = None
    xpos: list[str] | None = None
    feats: list[str] | None = None  # UD FEATS strings, "_" when empty
    heads: list[int] | None = None
    deprels: list[str] | None = None
    misc: list[str] | None = None
    deps: list[str] | None = None  # CoNLL-U column 9 (enhanced dependencies), kept for round trips
    multiword: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, form)
    entities: list[Span] = field(default_factory=list)
    constituents: list[Span] = field(default_factory=list)
    srl: list[SpanPair] = field(default_factory=list)
    relations: list[SpanPair] = field(default_factory=list)
    coref: list[Span] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # sentence-level labels
    meta: dict[str, str] = field(default_factory=dict)  # any other comment lines

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def udeprels(self) -> list[str] | None:
        """``deprels`` without their language-specific subtypes (``nsubj:pass`` -> ``nsubj``):
        the 37 universal relations, the labels two treebanks share (cross-lingual transfer)."""
        return None if self.deprels is None else [d.split(":")[0] for d in self.deprels]


@dataclass
class Document:
    """Consecutive sentences sharing a ``doc_id`` (needed for cross-sentence coreference)."""

    id: str
    sentences: list[Sentence]


def group_documents(sentences: Iterable[Sentence]) -> Iterator[Document]:
    """Group consecutive sentences by ``doc_id`` (a sentence without one is its own document)."""
    current: list[Sentence] = []
    current_id: str | None = None
    for sent in sentences:
        doc_id = sent.doc_id if sent.doc_id is not None else f"__sent__{sent.id}"
        if current and doc_id != current_id:
            yield Document(current_id, current)  # type: ignore[arg-type]
            current = []
        current_id = doc_id
        current.append(sent)
    if current:
        yield Document(current_id, current)  # type: ignore[arg-type]


def content_digest(sentences: Iterable[Sentence]) -> str:
    """Hash of everything the sentences hold (tokens, ids and every annotation layer, in order):
    the identity of data that has no file, e.g. generated corpora.

    >>> a, b = Sentence("1", ["a", "b"]), Sentence("1", ["a", "c"])
    >>> content_digest([a]) == content_digest([Sentence("1", ["a", "b"])]), content_digest([a]) == content_digest([b])
    (True, False)
    """
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for sent in sentences:  # dataclass reprs spell out every field; 5x faster than asdict + JSON
        digest.update(repr(sent).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


class SentenceList(list):
    """A plain ``list`` of :class:`Sentence` that also carries what its reader counted.

    Readers return this so that anything skipped or repaired (empty nodes, repaired IOB2 tags,
    generated sentence ids ...) is never silent: ``read_conllu(path).stats["empty_nodes"]``.
    Slicing or copying gives an ordinary list.
    """

    def __init__(self, sentences: Iterable[Sentence] = (), stats: dict | None = None) -> None:
        super().__init__(sentences)
        self.stats: dict = stats if stats is not None else {}
