"""Span and span-pair tasks (Tenney et al. 2019 edge probing, jiant's JSONL conventions).

* ``entities`` - entity spans labelled with their type (no negative spans, as jiant's NER).
* ``consts`` - constituent spans labelled with their non-terminal. A span listed twice (unary
  chain) keeps its first label; the rest are counted in ``stats["duplicate_spans"]``.
* ``deps`` - ``span1`` = dependent word, ``span2`` = its head word, label = the UD relation
  with subtype (``nsubj:pass``). The root (head 0) has no head word and gives no target.
  **Negatives**: per sentence, ``round(neg_ratio * arcs)`` ordered word pairs ``(i, j)`` that
  are *not* arcs ``i -> head j`` are sampled without replacement with the task's seeded RNG
  and labelled ``_none_`` (the reverse of an arc is a valid negative: direction matters).
  Defaults ``neg_ratio=1.0, seed=0``; ``get_task("deps", neg_ratio=0)`` gives arcs only.
* ``srl`` - ``span1`` = predicate, ``span2`` = argument, label = role (ARG0, ARGM-LOC ...).
* ``relations`` - any other labelled span pairs in ``Sentence.relations``.
* ``coref`` - each document is cut into consecutive windows of ``window`` sentences (default
  4) that become one record (words concatenated). Every pair of distinct mentions in a window
  is a target: ``span1`` = the later mention, ``span2`` = the earlier one, label ``"1"`` if
  both are in the same cluster, else ``"0"`` (jiant's OntoNotes coreference format). Pairs
  across windows are not formed; windows with fewer than two mentions are counted in
  ``stats["windows_without_pairs"]``.
"""

from __future__ import annotations

from probekit.data.edges import EdgeRecord, Target
from probekit.data.records import Sentence, Span, group_documents
from probekit.errors import DataFormatError
from probekit.tasks.base import Context, Task, per_sentence, register_task

NO_RELATION = "_none_"


def _check(sent: Sentence, layer: str, span: Span) -> None:
    if span.end > len(sent.tokens):
        raise DataFormatError(
            f"sentence {sent.id!r}: {layer} span [{span.start}, {span.end}) is out of range for its "
            f"{len(sent.tokens)} words", expected=f"end-exclusive spans with end <= {len(sent.tokens)}",
            fix="fix the annotation source (spans are 0-based and end-exclusive)",
        )


def _spans(attr: str):
    def fn(sent: Sentence, context: Context) -> list[Target]:
        seen, targets = set(), []
        for span in getattr(sent, attr):
            _check(sent, attr, span)
            key = (span.start, span.end)
            if key in seen:
                context.stats["duplicate_spans"] += 1
                continue
            seen.add(key)
            targets.append(Target(span.label, key))
        return targets

    return fn


def _pairs(attr: str):
    def fn(sent: Sentence, context: Context) -> list[Target]:
        pairs = getattr(sent, attr)
        for p in pairs:
            _check(sent, attr, p.span1)
            _check(sent, attr, p.span2)
        return [Target(p.label, (p.span1.start, p.span1.end), (p.span2.start, p.span2.end)) for p in pairs]

    return fn


def _dep_targets(sent: Sentence, context: Context) -> list[Target] | None:
    if sent.heads is None or sent.deprels is None:
        return None
    n = len(sent.tokens)
    arcs = {(i, h - 1) for i, h in enumerate(sent.heads) if h > 0}
    targets = [Target(sent.deprels[i], (i, i + 1), (h, h + 1)) for i, h in sorted(arcs)]
    wanted = min(round(context.options["neg_ratio"] * len(arcs)), n * (n - 1) - len(arcs))
    negatives: set[tuple[int, int]] = set()
    rng = context.rng
    while len(negatives) < wanted:
        draws = rng.integers(0, n, size=(2 * (wanted - len(negatives)) + 4, 2))
        for i, j in draws.tolist():
            if i != j and (i, j) not in arcs and len(negatives) < wanted:
                negatives.add((i, j))
    targets += [Target(NO_RELATION, (i, i + 1), (j, j + 1)) for i, j in sorted(negatives)]
    context.stats["negatives"] += len(negatives)
    return targets


def _coref_records(sentences, context: Context) -> list[EdgeRecord]:
    window = int(context.options["window"])
    records = []
    for doc in group_documents(sentences):
        for start in range(0, len(doc.sentences), window):
            chunk = doc.sentences[start : start + window]
            tokens, mentions, offset = [], [], 0
            for sent in chunk:
                for m in sent.coref:
                    _check(sent, "coref", m)
                mentions += [(m.start + offset, m.end + offset, m.label) for m in sent.coref]
                tokens += sent.tokens
                offset += len(sent.tokens)
            mentions.sort()
            targets = [
                Target("1" if a[2] == b[2] else "0", (b[0], b[1]), (a[0], a[1]))
                for j, b in enumerate(mentions) for a in mentions[:j] if (a[0], a[1]) != (b[0], b[1])
            ]
            if not targets:
                context.stats["windows_without_pairs"] += 1
                continue
            records.append(EdgeRecord(f"{doc.id}#{start // window}", tokens, targets,
                                      {"doc_id": doc.id, "sentences": [s.id for s in chunk]}))
    return records


register_task(Task("entities", "span", ("entities",), per_sentence(_spans("entities")), "named-entity type of a span"))
register_task(Task("consts", "span", ("constituents",), per_sentence(_spans("constituents")),
                   "non-terminal label of a constituent span"))
register_task(Task("deps", "span_pair", ("heads", "deprels"), per_sentence(_dep_targets),
                   "UD relation of (dependent, head) word pairs; sampled non-arcs are '_none_'",
                   options={"neg_ratio": 1.0, "seed": 0}))
register_task(Task("srl", "span_pair", ("srl",), per_sentence(_pairs("srl")), "semantic role of (predicate, argument)"))
register_task(Task("relations", "span_pair", ("relations",), per_sentence(_pairs("relations")),
                   "relation label of a span pair"))
register_task(Task("coref", "span_pair", ("coref",), _coref_records,
                   "do two mentions in a document window corefer ('1') or not ('0')", options={"window": 4}))
