"""Labelled downstream tasks (sentence classification) for fine-tuning, one per domain.

Each label is a deterministic function of the sentence's *meaning* that no single word decides:

========  ===========================================  ===========================================
domain    label (``Sentence.labels["downstream"]``)     what decides it
========  ===========================================  ===========================================
general   ``person`` / ``thing``: is the doer of the    noun class (hundreds of nouns) x voice
          main event a person or a thing?               (active subject / passive by-phrase);
                                                        distractor events in relative and
                                                        adverbial clauses
reviews   ``positive`` / ``negative``                   adjective/verb polarity XOR negation; in
                                                        "A, but B" and "Although A, B" only B
biomed    ``activates`` / ``inhibits``: effect of the   verb direction (increase/reduce ...) XOR
          first gene on the second                      perturbation (knockdown vs overexpression)
legal     ``obligation`` / ``permission`` /             deontic expression x negation ("shall
          ``prohibition`` of the main clause            not" prohibits, "is not required to"
                                                        permits); distractor modal in an
                                                        ``unless``/``if`` clause
========  ===========================================  ===========================================

Labels are balanced (cycled, then shuffled). The word classes that decide them (person vs
thing nouns, polar adjectives, regulation verbs) are hundreds of words seen a few times each in
a few thousand examples, but the pre-training corpus of the same domain uses them with
consistent distributions (selectional restrictions, per-document sentiment, the consequence a
regulation leads to: "..., leading to apoptosis"), which is what a pre-trained model can transfer
and a randomly initialised one has to learn from the labels. Those cues appear in the corpus
only, never in the labelled sentences.
"""

from __future__ import annotations

import gc

from probekit.data.records import Sentence
from probekit.data.synthetic import words as W
from probekit.data.synthetic.corpus import _check, realize
from probekit.data.synthetic.grammar import F_PASS, F_VERB, MARKS, Grammar, Node
from probekit.data.synthetic.lexicon import Anchors
from probekit.errors import ConfigError

DOWNSTREAM_LABELS: dict[str, tuple[str, ...]] = {
    "general": ("person", "thing"),
    "reviews": ("negative", "positive"),
    "biomed": ("activates", "inhibits"),
    "legal": ("obligation", "permission", "prohibition"),
}
UP_VERBS = ("increase", "enhance", "elevate", "promote", "induce", "stimulate", "upregulate",
            "augment", "boost", "raise", "activate", "potentiate", "amplify", "accelerate",
            "trigger", "strengthen", "restore")
DOWN_VERBS = ("decrease", "reduce", "suppress", "inhibit", "attenuate", "diminish", "lower",
              "impair", "abolish", "downregulate", "repress", "abrogate", "dampen", "blunt",
              "weaken", "hinder", "prevent")
GAIN = ("overexpression", "amplification", "induction", "upregulation", "activation",
        "stabilization")
LOSS = ("knockdown", "deletion", "silencing", "depletion", "knockout", "loss", "inhibition",
        "ablation", "disruption", "downregulation")
MEASURES = ("expression", "level", "activity")
# What an observed increase / decrease leads to. The pre-training corpus (never the labelled task)
# names it after a regulation, so the verbs' direction is visible in their distribution, as in
# real abstracts ("... reduced MYC, leading to apoptosis").
UP_OUTCOMES = ("proliferation", "growth", "survival", "migration", "invasion")
DOWN_OUTCOMES = ("apoptosis", "mortality", "toxicity", "inflammation", "recurrence")
WHERE = (("THING", "cell"), ("PERSON", "patient"), ("THING", "tumor"), ("THING", "tissue"),
         ("THING", "sample"), ("THING", "culture"), ("THING", "fibroblast"))


def _pick(rng, seq):
    return seq[int(rng.random() * len(seq))]


def _entry(g: Grammar, klass: str, gloss: str) -> tuple:
    for e in g.C[klass].entries:
        if e[0] == gloss:
            return e
    raise KeyError(gloss)


def _simple_clause(g: Grammar, subj, snum, sper, verb_entry, tense, neg, rest, passive=False):
    """S -> subj VP(aux* [not] V rest...); returns (S node, verb token)."""
    auxes, (vtag, vfeats) = g._aux_chain(tense, snum, sper, passive, neg)
    verb = g.w(verb_entry, "VERB", vtag, vfeats)
    vp = g._wrap(Node("VP", [verb] + rest, verb), auxes, neg)
    if passive:
        subj.rel = "nsubj:pass"
    return Node("S", [subj, vp], vp), verb


def _finish(g: Grammar, s: Node) -> Node:
    s.kids.append(g.f(".", "PUNCT", ".", "_", "punct", "end"))
    return s


# --- general: who did it? ---------------------------------------------------------------------
def _general(g: Grammar, label: str) -> Node:
    rng = g.rng
    doer, other = ("per", "thing") if label == "person" else ("thing", "per")
    passive = rng.random() < 0.5
    tense = "past" if rng.random() < 0.6 else "pres"
    verb = g.C["V_ANY"].pick(rng)
    if passive:
        patient, pnum, _ = g.np(other, "nom", 0, ref_ok=False, role="subj", rel="nsubj")
        agent, _, _ = g.np(doer, "acc", 1, ref_ok=False, role="head", rel=None)
        by = g.f("by", "ADP", "IN", "_", "case", "case")
        pp = Node("PP", [by, agent], agent, "obl:agent", "obl")
        s, v = _simple_clause(g, patient, pnum, 3, verb, tense, False, [pp], passive=True)
        g.srl += [(v, pp, "ARG0"), (v, patient, "ARG1")]
    else:
        agent, anum, _ = g.np(doer, "nom", 0, ref_ok=False, role="subj", rel="nsubj")
        patient, _, _ = g.np(other, "acc", 1, ref_ok=False, role="obj", rel="obj")
        s, v = _simple_clause(g, agent, anum, 3, verb, tense, False, [patient])
        g.srl += [(v, agent, "ARG0"), (v, patient, "ARG1")]
    if rng.random() < 0.35:  # a distractor event with its own doer
        sub = g._clause(1, kind="advcl")
        mark = _pick(rng, MARKS)[0]
        sbar = Node("SBAR", [g.f(mark, "SCONJ", "IN", "_", "mark", "mark"), sub], sub, "advcl",
                    "pre")
        s.kids[:0] = [sbar, g.f(",", "PUNCT", ",", "_", "punct", "prep")]
    return _finish(g, s)


# --- reviews: sentiment with negation and contrast ----------------------------------------------
def _polar_clause(g: Grammar, positive: bool) -> Node:
    rng = g.rng
    neg = rng.random() < 0.4
    lexical = positive != neg  # negation flips the word's polarity
    tense = "pres" if rng.random() < 0.6 else "past"
    if rng.random() < 0.6:
        subj, snum, sper = g.np("thing", "nom", 1, ref_ok=False, role="subj", rel="nsubj")
        adj = g._adj(rng.random() < 0.3, role="head", rel=None,
                     cls="POS_ADJ" if lexical else "NEG_ADJ")
        if not isinstance(adj, Node):
            adj = Node("ADJP", [adj], adj)
        auxes, _ = g._aux_chain(tense, snum, sper, False, neg, cop=True)
        vp = g._wrap(adj, auxes, neg)
        return Node("S", [subj, vp], vp)
    subj, snum, sper = g._first_person("nom", "subj", "nsubj")
    obj, _, _ = g.np("thing", "acc", 1, ref_ok=False, role="obj", rel="obj")
    verb = g.C["POS_VERB" if lexical else "NEG_VERB"].pick(rng)
    s, v = _simple_clause(g, subj, snum, sper, verb, tense, neg, [obj])
    g.srl += [(v, subj, "ARG0"), (v, obj, "ARG1")]
    return s


def _reviews(g: Grammar, label: str) -> Node:
    rng = g.rng
    positive = label == "positive"
    r = rng.random()
    if r < 0.4:
        return _finish(g, _polar_clause(g, positive))
    first = _polar_clause(g, positive if rng.random() < 0.3 else not positive)
    second = _polar_clause(g, positive)
    if r < 0.7:  # "A, but B": B decides
        cc = g.f("but", "CCONJ", "CC", "_", "cc", "cc")
        comma = g.f(",", "PUNCT", ",", "_", "punct", "cc")
        second.rel, second.role = "conj", "conj"
        cc.att = comma.att = second
        first.role = "head"
        return _finish(g, Node("S", [first, comma, cc, second], first))
    # "Although A, B": the main clause B decides
    sbar = Node("SBAR", [g.f("although", "SCONJ", "IN", "_", "mark", "mark"), first], first,
                "advcl", "pre")
    second.kids[:0] = [sbar, g.f(",", "PUNCT", ",", "_", "punct", "prep")]
    return _finish(g, second)


# --- biomed: direction of regulation -----------------------------------------------------------
def _gene_np(g: Grammar, gene: tuple, measured, role: str, rel: str | None):
    """``G1`` or ``the <measured> of G1`` (``measured``: False, True = random measure, or a
    perturbation noun such as ``knockdown``)."""
    tok = g.w(gene, "PROPN", "NNP", "Number=Sing")
    gnp = Node("NP", [tok], tok, rel, role)
    if not measured:
        return gnp
    head_word = _pick(g.rng, MEASURES) if measured is True else measured
    noun = g.w(_entry(g, "ABSTRACT", head_word), "NOUN", "NN", "Number=Sing")
    det = g.f("the", "DET", "DT", "Definite=Def|PronType=Art", "det", "det")
    inner = Node("NP", [det, noun], noun)
    gnp.role, gnp.rel = "head", None
    of = g.f("of", "ADP", "IN", "_", "case", "case")
    pp = Node("PP", [of, gnp], gnp, "nmod", "nmod")
    return Node("NP", [inner, pp], inner, rel, role)


def _where(g: Grammar) -> Node:
    """``in cells`` / ``in patients`` ...: a location that cannot change the label."""
    klass, word = _pick(g.rng, WHERE)
    noun = g.w(_entry(g, klass, word), "NOUN", "NNS", "Number=Plur")
    np_ = Node("NP", [noun], noun)
    return Node("PP", [g.f("in", "ADP", "IN", "_", "case", "case"), np_], np_, "obl", "obl")


def _outcome(g: Grammar, up: bool) -> Node:
    """``, leading to apoptosis``: an adverbial clause (a dependent of the regulation verb)
    naming the consequence of the observed direction."""
    noun = g.w(_entry(g, "ABSTRACT", _pick(g.rng, UP_OUTCOMES if up else DOWN_OUTCOMES)), "NOUN", "NN",
               "Number=Sing")
    np_ = Node("NP", [noun], noun)
    pp = Node("PP", [g.f("to", "ADP", "IN", "_", "case", "case"), np_], np_, "obl", "obl")
    lead = g.f("leading", "VERB", "VBG", F_VERB["VBG"], "advcl", "head", lemma="lead")
    g.srl.append((lead, pp, "ARG2"))
    comma = g.f(",", "PUNCT", ",", "_", "punct", "sep")
    return Node("VP", [comma, lead, pp], lead, "advcl", "advcl")


def _regulation(g: Grammar, activates: bool, cause_gene, target_gene, loss, outcome: bool = False) -> Node:
    """One clause reporting an experiment; ``loss`` None = no perturbation ("G1 increased G2");
    ``outcome`` appends what the observed change led to."""
    rng = g.rng
    up = activates != bool(loss)  # observed direction = effect XOR loss of function
    verb = _entry(g, "V_TRANS", _pick(rng, UP_VERBS if up else DOWN_VERBS))
    pert = False if loss is None else _pick(rng, LOSS if loss else GAIN)
    cause = _gene_np(g, cause_gene, pert, "subj", "nsubj")
    tense = "past" if rng.random() < 0.7 else "pres"
    if rng.random() < 0.3:  # passive
        target = _gene_np(g, target_gene, rng.random() < 0.7, "subj", "nsubj")
        cause.role, cause.rel = "head", None
        pp = Node("PP", [g.f("by", "ADP", "IN", "_", "case", "case"), cause], cause,
                  "obl:agent", "obl")
        rest = [pp, _outcome(g, up)] if outcome else [pp]
        s, v = _simple_clause(g, target, "Sing", 3, verb, tense, False, rest, passive=True)
        g.srl += [(v, pp, "ARG0"), (v, target, "ARG1")]
        return s
    target = _gene_np(g, target_gene, rng.random() < 0.7, "obj", "obj")
    loc = _where(g) if rng.random() < 0.4 else None
    rest = [target] if loc is None else [target, loc]
    if outcome:
        rest.append(_outcome(g, up))
    s, v = _simple_clause(g, cause, "Sing", 3, verb, tense, False, rest)
    g.srl += [(v, cause, "ARG0"), (v, target, "ARG1")]
    if loc is not None:
        g.srl.append((v, loc, "ARGM-LOC"))
    return s


def _biomed(g: Grammar, label: str, contrast: float = 0.0, outcome: float = 0.0) -> Node:
    """Regulation sentence; with probability ``contrast`` a second, consistent experiment on the
    same genes follows ("..., whereas overexpression of G1 reduced G2") - the corpus uses this
    so that pre-training sees that the two perturbations flip the verb's direction - and with
    probability ``outcome`` the first clause names its consequence (", leading to apoptosis")."""
    rng = g.rng
    cause_gene, target_gene = g.C["GENE"].pick(rng), g.C["GENE"].pick(rng)
    activates = label == "activates"
    loss = None if rng.random() < 0.25 else rng.random() < 0.5
    with_outcome = bool(outcome) and rng.random() < outcome  # no draw for the labelled task
    s = _regulation(g, activates, cause_gene, target_gene, loss, with_outcome)
    if loss is not None and rng.random() < contrast:
        second = _regulation(g, activates, cause_gene, target_gene, not loss)
        sbar = Node("SBAR", [g.f("whereas", "SCONJ", "IN", "_", "mark", "mark"), second], second,
                    "advcl", "pre")
        s.kids += [g.f(",", "PUNCT", ",", "_", "punct", "prep"), sbar]
    elif rng.random() < 0.3:  # "We found that ..."
        we, wnum, wper = g._first_person("nom", "subj", "nsubj")
        sbar = Node("SBAR", [g.f("that", "SCONJ", "IN", "_", "mark", "mark"), s], s, "ccomp",
                    "ccomp")
        find = g.C["V_CLAUSAL"].pick(rng)
        s, v = _simple_clause(g, we, wnum, wper, find, "past", False, [sbar])
        g.srl += [(v, we, "ARG0"), (v, sbar, "ARG1")]
    return _finish(g, s)


# --- legal: deontic modality -------------------------------------------------------------------
def _deontic(kind: str, strength: str, neg: bool) -> str:
    if not neg:
        return "obligation" if kind == "oblig" else "permission"
    if kind == "oblig":
        return "prohibition" if strength == "strong" else "permission"
    return "prohibition"


_COMBOS: dict[str, list] = {}
for _expr in W.LEGAL_MODALS:
    for _neg in (False, True):
        _COMBOS.setdefault(_deontic(_expr[1], _expr[2], _neg), []).append((_expr[0], _neg))


def _party(g: Grammar, role: str, rel: str | None):
    legal_parties = g.C["PERSON"].entries[:24]  # the domain words come first
    noun = g.w(_pick(g.rng, legal_parties), "NOUN", "NN", "Number=Sing")
    det = g.f("the", "DET", "DT", "Definite=Def|PronType=Art", "det", "det")
    return Node("NP", [det, noun], noun, rel, role)


def _legal_clause(g: Grammar, label: str, depth: int) -> Node:
    rng = g.rng
    expr, neg = _pick(rng, _COMBOS[label])
    subj = _party(g, "subj", "nsubj")
    verb = g.w(g.C["V_TRANS"].pick(rng), "VERB", "VB", F_VERB["VB"])
    obj, _, _ = g.np("thing", "acc", 1, ref_ok=False, role="obj", rel="obj")
    kids = [verb, obj]
    g.srl += [(verb, subj, "ARG0"), (verb, obj, "ARG1")]
    if rng.random() < 0.4:
        recip = _party(g, "head", None)
        pp = Node("PP", [g.f("to", "ADP", "IN", "_", "case", "case"), recip], recip, "obl", "obl")
        kids.append(pp)
        g.srl.append((verb, pp, "ARG2"))
    if rng.random() < 0.3 and depth == 0:
        tmp = g._temporal(1)
        kids.append(tmp)
        g.srl.append((verb, tmp, "ARGM-TMP"))
    inner = Node("VP", kids, verb)
    words = expr.split()
    if len(words) == 1:  # shall / must / may
        vp = g._wrap(inner, [(expr, expr, "MD", "VerbForm=Fin", "aux")], neg)
    else:
        to = g.f("to", "PART", "TO", "_", "mark", "aux")
        inner.role = "head"
        xcomp = Node("VP", [to, inner], inner, "xcomp", "ccomp")
        if words[0] == "is":  # is required / entitled ... to
            part = g.f(words[1], "VERB", "VBN", F_PASS, lemma=words[1])
            core = Node("VP", [part, xcomp], part)
            vp = g._wrap(core, [("is", "be", "VBZ", F_VERB["VBZ"], "aux:pass")], neg)
        else:  # has a duty / the right to
            tag = "VB" if neg else "VBZ"
            have = g.f("have" if neg else "has", "VERB", tag, F_VERB[tag], lemma="have")
            det = g.f(words[1], "DET", "DT", "PronType=Art", "det", "det")
            noun = g.f(words[2], "NOUN", "NN", "Number=Sing")
            xcomp.rel, xcomp.role = "acl", "nmod"
            np_ = Node("NP", [det, noun, xcomp], noun, "obj", "obj")
            core = Node("VP", [have, np_], have)
            auxes = [("does", "do", "VBZ", F_VERB["VBZ"], "aux")] if neg else []
            vp = g._wrap(core, auxes, neg)
    return Node("S", [subj, vp], vp)


def _legal(g: Grammar, label: str) -> Node:
    rng = g.rng
    s = _legal_clause(g, label, 0)
    if rng.random() < 0.4:  # a subordinate deontic clause must not decide the label
        sub = _legal_clause(g, _pick(rng, DOWNSTREAM_LABELS["legal"]), 1)
        mark = "unless" if rng.random() < 0.5 else "if"
        sbar = Node("SBAR", [g.f(mark, "SCONJ", "IN", "_", "mark", "mark"), sub], sub, "advcl",
                    "pre")
        s.kids[:0] = [sbar, g.f(",", "PUNCT", ",", "_", "punct", "prep")]
    return _finish(g, s)


_BUILDERS = {"general": _general, "reviews": _reviews, "biomed": _biomed, "legal": _legal}


def downstream_task(domain: str, n: int, *, seed: int = 0, lang: str = "en",
                    anchors: Anchors | str | dict | None = None) -> list[Sentence]:
    """``n`` labelled sentences for ``domain``'s downstream task (label balanced).

    Parameters
    ----------
    domain : {"general", "reviews", "biomed", "legal"}
    n : int
    seed : int
    lang : {"en", "sov", "vos"}
        The same seed and anchors give the same trees and labels in every language (a parallel
        test set).
    anchors : Anchors, str, dict or None
        What a pseudo-language shares with English, as in :func:`generate`: give the task the
        anchors its pre-training corpus had (``"numbers=digits+cognates=0.5"``). ``None``: the
        defaults.

    Returns
    -------
    list of Sentence
        All annotation layers as in :func:`generate`; the class in ``labels["downstream"]``
        (one of ``DOWNSTREAM_LABELS[domain]``). Each sentence is its own document.
    """
    _check(domain, lang)
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    g = Grammar(domain, lang, f"downstream:{seed}", Anchors.parse(anchors))
    labels = DOWNSTREAM_LABELS[domain]
    build = _BUILDERS[domain]
    out: list[Sentence] = []
    enabled = gc.isenabled()
    gc.disable()  # no reference cycles here; see generate()
    try:
        _fill(out, n, g, labels, build, domain, lang, seed)
    finally:
        if enabled:
            gc.enable()
    g.rng.shuffle(out)
    return out


# Sentence labels every generated sentence carries (decided by the main clause; grammar.py and
# corpus.derive_labels), for syntactic sentence tasks: a sentence without the key is skipped.
SENTENCE_LABELS: dict[str, tuple[str, ...]] = {
    "tense": ("Past", "Pres"),
    "subj_num": ("Plur", "Sing"),
    "obj_num": ("Plur", "Sing"),
}


def label_task(key: str, n: int, *, domain: str = "general", lang: str = "en", seed: int = 0,
               anchors: Anchors | str | dict | None = None) -> list[Sentence]:
    """``n`` generated sentences with the sentence label ``key``, classes balanced.

    A syntactic-morphological sentence task (SentEval's Tense / SubjNum / ObjNum): unlike the
    meaning-based :func:`downstream_task`, a model can read the label off the main clause's
    verb, auxiliary or argument forms. The sentences are :func:`generate`'s for ``seed``
    (documents and all), kept in order while their class is short of its share (``n // 2``,
    the first class one more for an odd ``n``); sentences without ``key`` are skipped.

    Parameters
    ----------
    key : {"tense", "subj_num", "obj_num"}
    n : int
    domain, lang, seed, anchors
        As in :func:`generate`; the same seed and anchors give the same trees in every language.

    Returns
    -------
    list of Sentence
        Every layer of :func:`generate`; the class in ``labels[key]`` (one of
        ``SENTENCE_LABELS[key]``).
    """
    from probekit.data.synthetic.corpus import iter_generate

    if key not in SENTENCE_LABELS:
        raise ConfigError(f"unknown sentence label {key!r}; choose one of {', '.join(SENTENCE_LABELS)}")
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    classes = SENTENCE_LABELS[key]
    need = {c: n // len(classes) + (i < n % len(classes)) for i, c in enumerate(classes)}
    out: list[Sentence] = []
    enabled = gc.isenabled()
    gc.disable()  # no reference cycles here; see generate()
    try:
        # a bound far above what is read: the stream stops once every class has its share
        for sent in iter_generate(max(1000, 100 * n), domain=domain, lang=lang, seed=seed, anchors=anchors):
            if len(out) == n:
                break
            label = sent.labels.get(key)
            if label is not None and need[label] > 0:
                need[label] -= 1
                out.append(sent)
    finally:
        if enabled:
            gc.enable()
    if len(out) < n:
        raise ConfigError(f"label_task({key!r}, {n}): only {len(out)} balanced sentences in {domain}@{lang}")
    return out


def _fill(out, n, g, labels, build, domain, lang, seed) -> None:
    while len(out) < n:
        label = labels[len(out) % len(labels)]
        g.new_document()
        g.reset()
        root = build(g, label)
        doc_id = f"{lang}-{domain}-downstream-s{seed}-{len(out):06d}"
        sent = realize(g, root, doc_id, doc_id)
        if sent is None:
            continue
        sent.labels = {"downstream": label}
        out.append(sent)


# --- the same constructions inside the pre-training corpora ------------------------------------
def _corpus_general(g: Grammar) -> Node:
    return _general(g, _pick(g.rng, DOWNSTREAM_LABELS["general"]))


def _corpus_reviews(g: Grammar) -> Node:
    # the document's sentiment: polar words and negation stay consistent within a review
    return _reviews(g, "positive" if g.polarity else "negative")


def _corpus_biomed(g: Grammar) -> Node:
    return _biomed(g, _pick(g.rng, DOWNSTREAM_LABELS["biomed"]), contrast=0.5, outcome=1.0)


def _corpus_legal(g: Grammar) -> Node:
    return _legal(g, _pick(g.rng, DOWNSTREAM_LABELS["legal"]))


# (builder, probability per corpus sentence): domain constructions of the pre-training corpus
CORPUS_CONSTRUCTIONS = {
    "general": (_corpus_general, 0.08),
    "reviews": (_corpus_reviews, 0.35),
    "biomed": (_corpus_biomed, 0.3),
    "legal": (_corpus_legal, 0.3),
}
