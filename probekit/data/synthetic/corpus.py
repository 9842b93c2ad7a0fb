"""Turn grammar trees into :class:`~probekit.data.records.Sentence` records (all layers)."""

from __future__ import annotations

import gc
from typing import Iterator

from probekit.data.records import Sentence, Span, SpanPair
from probekit.data.synthetic.grammar import PARAMS, Grammar, Node, Tok
from probekit.data.synthetic.lexicon import _OWN_PUNCT, Anchors
from probekit.errors import ConfigError

DOMAINS: tuple[str, ...] = tuple(PARAMS)
LANGUAGES: dict[str, str] = {
    "en": "English: SVO, prepositions, adjective-noun, relative clause after the noun.",
    "sov": "Pseudo-language (Japanese-like order): SOV, postpositions, auxiliaries and "
           "complementizers after the verb, relative clauses before the noun; own lexicon.",
    "vos": "Pseudo-language (Malagasy-like order): VOS, prepositions, noun-adjective, "
           "relative clause after the noun; own lexicon.",
}
MIN_LEN, MAX_LEN = 5, 40
_NO_SPACE_BEFORE = {".", ",", "!", "?"} | {m for marks in _OWN_PUNCT.values() for m in marks.values()}


def _check(domain: str, lang: str, sentences_per_doc=(3, 8)) -> None:
    if domain not in PARAMS:
        raise ConfigError(f"unknown domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    if lang not in LANGUAGES:
        raise ConfigError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    lo, hi = sentences_per_doc
    if not (1 <= lo <= hi):
        raise ConfigError(f"sentences_per_doc must be (lo, hi) with 1 <= lo <= hi, got "
                          f"{sentences_per_doc!r}")


def _linearize(node: Node, out: list, cons: list, order) -> None:
    kids = node.kids
    if order is not None and len(kids) > 1:
        rank = order.get(node.label)
        if rank is not None:
            kids = node.kids = sorted(kids, key=lambda k: rank.get(k.role, 50))
    node.start = len(out)
    for k in kids:
        if k.__class__ is Tok:
            k.i = len(out)
            out.append(k)
        else:
            _linearize(k, out, cons, order)
    node.end = len(out)
    if node.label is not None:
        cons.append(node)


def _dep(node: Node) -> Tok:
    """Head percolation: returns the head token; attaches every non-head child's head token."""
    kids = node.kids
    heads = [k if k.__class__ is Tok else _dep(k) for k in kids]
    hk = node.head
    ht = heads[kids.index(hk)]
    node.htok = ht
    for k, kt in zip(kids, heads):
        if k is hk:
            continue
        att = k.att
        kt.dh = ht if att is None else (att if att.__class__ is Tok else att.htok)
        kt.drel = k.rel
    return ht


def _span(x, label=None) -> Span:
    if x.__class__ is Tok:
        return Span(x.i, x.i + 1, label)
    return Span(x.start, x.end, label)


def detokenize(tokens: list[str]) -> str:
    """Join tokens with spaces, except before sentence punctuation."""
    parts = []
    for t in tokens:
        if parts and t not in _NO_SPACE_BEFORE:
            parts.append(" ")
        parts.append(t)
    return "".join(parts)


def realize(g: Grammar, root: Node, sid: str, doc_id: str) -> Sentence | None:
    """Linearize ``root`` for the grammar's language into a Sentence (None if too short/long).

    Coreference stays on ``g.ments``; :func:`iter_generate` turns it into spans per document.
    """
    toks: list[Tok] = []
    cons: list[Node] = []
    _linearize(root, toks, cons, g.order)
    if not (MIN_LEN <= len(toks) <= MAX_LEN):
        return None
    root_tok = _dep(root)
    root_tok.dh = None
    root_tok.drel = "root"
    forms = [t.form for t in toks]
    first = forms[0]
    forms[0] = first[:1].upper() + first[1:]
    en = g.lex.lang == "en"
    sent = Sentence(
        id=sid,
        tokens=forms,
        doc_id=doc_id,
        text=detokenize(forms),
        lang=g.lex.lang,
        domain=g.domain,
        lemmas=[t.lemma for t in toks],
        upos=[t.upos for t in toks],
        xpos=[t.xpos for t in toks],
        feats=[t.feats for t in toks],
        heads=[0 if t.dh is None else t.dh.i + 1 for t in toks],
        deprels=[t.drel for t in toks],
        misc=None if en else ["Gloss=" + t.gloss for t in toks],
        entities=[_span(n, label) for n, label in g.ents],
        # outer phrases first (start asc, end desc): a stable, readable order
        constituents=sorted((Span(n.start, n.end, n.label) for n in cons),
                            key=lambda s: (s.start, -s.end)),
        srl=[SpanPair(_span(p), _span(a), label) for p, a, label in g.srl],
        labels=dict(g.labels),
    )
    if not g.labels:  # a domain construction: read the labels off the annotation
        sent.labels = derive_labels(sent)
    return sent


def derive_labels(sent: Sentence) -> dict[str, str]:
    """``tense``/``subj_num``/``obj_num`` of the main clause from feats and the UD tree."""
    root = sent.heads.index(0)
    kids = [(i, r) for i, (h, r) in enumerate(zip(sent.heads, sent.deprels)) if h == root + 1]
    labels = {}
    finite = [root] + [i for i, r in kids if r in ("aux", "aux:pass", "cop")]
    for i in finite:
        feats = sent.feats[i]
        if "VerbForm=Fin" in feats and "Tense=" in feats:
            labels["tense"] = "Past" if "Tense=Past" in feats else "Pres"
            break
    for key, rels in (("subj_num", ("nsubj", "nsubj:pass")), ("obj_num", ("obj",))):
        for i, r in kids:
            if r in rels and "Number=" in sent.feats[i]:
                labels[key] = "Plur" if "Number=Plur" in sent.feats[i] else "Sing"
                break
    return labels


def iter_generate(n_sentences: int, *, domain: str = "general", lang: str = "en",
                  seed: int = 0, sentences_per_doc: tuple[int, int] = (3, 8),
                  anchors: Anchors | str | dict | None = None) -> Iterator[Sentence]:
    """Stream ``n_sentences`` annotated sentences, document by document (see :func:`generate`)."""
    _check(domain, lang, sentences_per_doc)
    anchors = Anchors.parse(anchors)
    if n_sentences < 0:
        raise ConfigError(f"n_sentences must be >= 0, got {n_sentences}")
    from probekit.data.synthetic.downstream import CORPUS_CONSTRUCTIONS  # (imports us)

    g = Grammar(domain, lang, seed, anchors)
    g.construction = CORPUS_CONSTRUCTIONS[domain]
    rng = g.rng
    lo, hi = sentences_per_doc
    produced = doc_no = 0
    while produced < n_sentences:
        size = min(lo + int(rng.random() * (hi - lo + 1)), n_sentences - produced)
        doc_id = f"{lang}-{domain}-s{seed}-d{doc_no:06d}"
        g.new_document()
        doc: list[Sentence] = []
        mentions: list[list] = []
        while len(doc) < size:
            g.sent_no = len(doc)
            n_refs = len(g.refs)
            root = g.sentence()
            sent = realize(g, root, f"{doc_id}-{len(doc)}", doc_id)
            if sent is None:  # out of the 5-40 token range: forget its referents, retry
                del g.refs[n_refs:]
                continue
            doc.append(sent)
            mentions.append([(_span(n), ref.cid) for n, ref in g.ments])
        _add_coref(doc, mentions)
        produced += len(doc)
        doc_no += 1
        yield from doc


def _add_coref(doc: list[Sentence], mentions: list[list]) -> None:
    """Keep clusters with at least two mentions (singletons are not coreference)."""
    counts: dict[int, int] = {}
    for ms in mentions:
        for _, cid in ms:
            counts[cid] = counts.get(cid, 0) + 1
    for sent, ms in zip(doc, mentions):
        sent.coref = [Span(sp.start, sp.end, f"c{cid}") for sp, cid in ms if counts[cid] > 1]


def generate(n_sentences: int, *, domain: str = "general", lang: str = "en", seed: int = 0,
             sentences_per_doc: tuple[int, int] = (3, 8), progress: bool = False,
             anchors: Anchors | str | dict | None = None) -> list[Sentence]:
    """Generate an annotated synthetic corpus.

    Parameters
    ----------
    n_sentences : int
        Number of sentences (the last document is cut to fit).
    domain : {"general", "biomed", "legal", "reviews"}
        Lexicon and construction probabilities.
    lang : {"en", "sov", "vos"}
        Surface language; the same seed gives the same trees (and annotations modulo word
        order) in every language.
    seed : int
        Random seed. ``generate(n, seed=s)`` has the same sentences as the first ``n`` of
        ``generate(m, seed=s)`` for n < m (the cut last document may keep fewer coreference
        links, as a chain needs two mentions).
    sentences_per_doc : (int, int)
        Inclusive range of sentences per document (coreference crosses sentences).
    progress : bool
        Show a tqdm progress bar.
    anchors : Anchors, str, dict or None
        What the pseudo-languages share with English (see
        :class:`~probekit.data.synthetic.lexicon.Anchors`): e.g. ``"names=0+punct=0"`` (nothing
        shared), ``"numbers=digits+cognates=0.3"``. ``None``: names and punctuation shared, as
        always. Generate every language of a parallel corpus with the same anchors.

    Returns
    -------
    list of Sentence
        Every layer filled: lemmas, upos, xpos, feats, heads, deprels, constituents,
        entities, srl, coref (cluster ids unique per document) and sentence labels
        ``tense``, ``subj_num`` and (when the main verb has an object) ``obj_num``.
    """
    stream = iter_generate(n_sentences, domain=domain, lang=lang, seed=seed,
                           sentences_per_doc=sentences_per_doc, anchors=anchors)
    if progress:
        from tqdm import tqdm

        stream = tqdm(stream, total=n_sentences, desc=f"generating {domain}/{lang}", unit="sent")
    # The trees hold no reference cycles (reference counting frees them), so the cyclic GC
    # only costs time here: its full passes rescan every sentence made so far (~40% of the run).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return list(stream)
    finally:
        if enabled:
            gc.enable()
