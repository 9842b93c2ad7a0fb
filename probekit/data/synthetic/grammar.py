"""The generative grammar: one seeded tree per sentence, realized in any language.

A sentence is built top-down as a tree of :class:`Node` (constituents, labelled S, NP, VP, PP,
SBAR, ADJP, ADVP, WHNP, or ``None`` for unlabelled groupings) over :class:`Tok` leaves. Every
node names its *dependency head* child and every non-head child its UD relation, so the UD tree
falls out by head percolation and is a tree by construction. Every child also has a *role*
(``subj``, ``obj``, ``case``, ``amod`` ...); a language is a table that sorts children by role
(English SVO, ``sov`` verb-final with postpositions, ``vos`` verb-initial), so all languages
share one tree and their annotations are identical modulo word order. SRL, entities and
coreference point at nodes and receive token spans only after linearization.

The random stream never depends on the language: the same seed gives the same trees in every
language.
"""

from __future__ import annotations

import random

from probekit.data.synthetic.lexicon import NUMBER_WORDS, WEEKDAYS, Anchors, lexicon


class Tok:
    """One token: surface form and gold layers; ``i``/``dh``/``drel`` are filled at realization."""

    __slots__ = ("form", "lemma", "upos", "xpos", "feats", "rel", "role", "gloss", "att",
                 "i", "dh", "drel")

    def __init__(self, form, lemma, upos, xpos, feats, rel, role, gloss):
        self.form, self.lemma, self.upos, self.xpos, self.feats = form, lemma, upos, xpos, feats
        self.rel, self.role, self.gloss, self.att, self.dh = rel, role, gloss, None, None


class Node:
    """A phrase: ``label`` (constituent or None), children, and the child that heads it."""

    __slots__ = ("label", "kids", "head", "rel", "role", "att", "start", "end", "htok")

    def __init__(self, label, kids, head, rel=None, role="head"):
        self.label, self.kids, self.head, self.rel, self.role = label, kids, head, rel, role
        self.att = None


# --- word-order tables ------------------------------------------------------------------------
# rank of each child role inside a phrase; unlisted roles keep rank 50 (stable sort).
_EN = None
_SOV = {
    "S": {"pre": 0, "prep": 1, "subj": 2, "head": 5, "cc": 8, "conj": 9, "end": 99},
    "VP": {"ccomp": 0, "advcl": 1, "obl": 2, "tmp": 3, "adv": 4, "iobj": 5, "obj": 6,
           "head": 7, "neg": 8, "aux": 9},
    "NP": {"rel": 0, "nmod": 1, "det": 2, "amod": 3, "compound": 4, "head": 5, "flat": 6,
           "cc": 8, "conj": 9},
    "PP": {"head": 0, "case": 1},
    "SBAR": {"wh": 0, "head": 1, "mark": 2},
    "ADJP": {"adv": 0, "head": 1},
}
_VOS = {
    "S": {"pre": 0, "prep": 1, "head": 2, "subj": 3, "cc": 8, "conj": 9, "end": 99},
    "VP": {"aux": 0, "neg": 1, "head": 2, "obj": 3, "iobj": 4, "obl": 5, "tmp": 6, "adv": 7,
           "ccomp": 8, "advcl": 9},
    "NP": {"det": 0, "compound": 1, "head": 2, "flat": 3, "amod": 4, "nmod": 5, "rel": 6,
           "cc": 8, "conj": 9},
    "PP": {"case": 0, "head": 1},
    "SBAR": {"mark": 0, "wh": 0, "head": 1},
    "ADJP": {"head": 0, "adv": 1},
}
# "sep": the comma that sets off an adverbial clause sits between the clause and its verb, i.e.
# after a clause-final head (SOV) and before a clause-initial one (VOS).
_SOV["VP"]["sep"], _VOS["VP"]["sep"] = 10, -1
ORDERS = {"en": _EN, "sov": _SOV, "vos": _VOS}

# --- features ---------------------------------------------------------------------------------
F_NOUN = {"NN": "Number=Sing", "NNS": "Number=Plur", "NNP": "Number=Sing"}
F_VERB = {
    "VB": "VerbForm=Inf",
    "VBP": "Mood=Ind|Tense=Pres|VerbForm=Fin",
    "VBZ": "Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin",
    "VBD": "Mood=Ind|Tense=Past|VerbForm=Fin",
    "VBN": "Tense=Past|VerbForm=Part",
    "VBG": "Tense=Pres|VerbForm=Part",
}
F_PASS = "Tense=Past|VerbForm=Part|Voice=Pass"


def finite_feats(tag: str, number: str, person: int) -> str:
    """FEATS of a finite verb as UD English writes them: it carries its subject's number and
    person (``were``: ``Mood=Ind|Number=Plur|Person=3|Tense=Past|VerbForm=Fin``)."""
    tense = "Past" if tag == "VBD" else "Pres"
    return f"Mood=Ind|Number={number}|Person={person}|Tense={tense}|VerbForm=Fin"


# (person, number, gender) -> (nominative, accusative); gender "m" | "f" | "n"
PRONOUNS = {
    (1, "Sing", None): ("I", "me"), (1, "Plur", None): ("we", "us"),
    (3, "Sing", "m"): ("he", "him"), (3, "Sing", "f"): ("she", "her"),
    (3, "Sing", "n"): ("it", "it"), (3, "Plur", None): ("they", "them"),
}
_GENDER_FEAT = {"m": "Gender=Masc|", "f": "Gender=Fem|", "n": "Gender=Neut|", None: ""}

# --- per-domain construction probabilities -----------------------------------------------------
_BASE = dict(
    frames=(("trans", 32), ("pers", 13), ("any", 8), ("intrans", 8), ("ditrans", 8),
            ("clausal", 12), ("cop", 15), ("xcomp", 12), ("motion", 6), ("org", 6), ("inch", 5)),
    tenses=(("past", 45), ("pres", 35), ("fut", 8), ("prog", 9), ("perf", 6)),
    passive=0.12, neg=0.08, rel=0.26, nmod=0.22, adj=0.38, coord_np=0.12, coord_s=0.2,
    advcl=0.3, tmp=0.3, loc=0.36, manner=0.1, name=0.25, org=0.08, first=0.03, excl=0.0,
    modal=0.0, compound=0.1, ref=0.45, pron=0.6, conj_words=("and", "and", "but", "or"),
    # context-decided constructions (see the README, "Context decides, as in real text")
    coord_vp=0.1, instr=0.15, dem_pron=0.3, amb_name=0.5, exist=0.09, there=0.2, as_pp=0.05,
    like_pp=0.04,
)
PARAMS = {
    "general": dict(_BASE),
    "biomed": dict(_BASE, frames=(("trans", 45), ("pers", 5), ("any", 3), ("intrans", 5),
                                  ("ditrans", 3), ("clausal", 22), ("cop", 17), ("xcomp", 4),
                                  ("org", 2)),
                   tenses=(("past", 60), ("pres", 30), ("perf", 10)), passive=0.38, nmod=0.3,
                   name=0.08, org=0.05, first=0.18, rel=0.14, loc=0.35, compound=0.12, ref=0.5),
    "legal": dict(_BASE, frames=(("trans", 50), ("pers", 15), ("any", 2), ("intrans", 4),
                                 ("ditrans", 12), ("clausal", 7), ("cop", 10), ("xcomp", 8),
                                 ("org", 5)),
                  tenses=(("pres", 60), ("fut", 15), ("past", 25)), modal=0.5, passive=0.22,
                  advcl=0.3, name=0.05, org=0.15, rel=0.16, neg=0.12, tmp=0.3, loc=0.15),
    "reviews": dict(_BASE, frames=(("trans", 30), ("pers", 4), ("any", 4), ("intrans", 4),
                                   ("ditrans", 3), ("clausal", 10), ("cop", 45), ("xcomp", 8),
                                   ("motion", 2), ("org", 3)),
                    tenses=(("pres", 55), ("past", 35), ("perf", 10)), first=0.4, excl=0.25,
                    coord_s=0.22, name=0.05, org=0.12, neg=0.15, passive=0.04, loc=0.1,
                    conj_words=("but", "but", "and", "and")),
}
PREP_LOC = ("in", "at", "near", "behind", "outside", "inside")
PREP_NMOD = ("with", "from", "on", "of", "about", "for")
# Instruments: "with" + one of these attaches to the verb (obl: "opened the box with a key");
# "with" + any other thing attaches to the noun (nmod: "the box with a lid").
TOOLS = frozenset("""key knife hammer pen pencil brush spoon fork rope tool machine computer
camera phone laptop screwdriver needle scissors towel cloth stick""".split())
# verbs whose passive English avoids ("*the book was had")
NO_PASSIVE = frozenset(("have", "do"))
MARKS = (("because", "ARGM-CAU"), ("when", "ARGM-TMP"), ("after", "ARGM-TMP"),
         ("before", "ARGM-TMP"), ("although", "ARGM-ADV"), ("if", "ARGM-ADV"),
         ("while", "ARGM-TMP"), ("since", "ARGM-TMP"), ("until", "ARGM-TMP"),
         ("as", "ARGM-TMP"))
TMP_ADV = ("yesterday", "today", "recently", "later", "soon")
INTENS = ("very", "really", "quite", "extremely", "so", "rather")


def _choice(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for item, w in pairs:
        x -= w
        if x < 0:
            return item
    return pairs[-1][0]


class Referent:
    """A discourse entity of the current document (coreference cluster)."""

    __slots__ = ("cid", "kind", "gender", "number", "entry", "name", "sent", "last")

    def __init__(self, cid, kind, gender, number, entry=None, name=None, sent=0):
        self.cid, self.kind, self.gender, self.number = cid, kind, gender, number
        self.entry, self.name, self.sent, self.last = entry, name, sent, sent


class Grammar:
    """Seeded sentence builder for one (domain, language).

    Per sentence it collects ``srl`` (predicate Tok, argument Node/Tok, label), ``ents``
    (Node, label), ``ments`` (Node, Referent) and sentence labels.
    """

    def __init__(self, domain: str, lang: str, seed, anchors: Anchors = Anchors()) -> None:
        self.rng = random.Random(f"{domain}:{seed}")
        self.lex = lexicon(domain, lang, anchors)
        self.C = self.lex.classes
        self.P = PARAMS[domain]
        self.domain = domain
        self.order = ORDERS[lang]
        self.fw = self.lex.fw
        self.construction = None  # (builder, probability), set by the corpus generator
        self.new_document()

    # --- document / sentence state ---------------------------------------------------------
    def new_document(self) -> None:
        self.refs: list[Referent] = []
        self.sent_no = 0
        self.polarity = self.rng.random() < 0.5  # reviews: the document's overall sentiment

    def reset(self) -> None:
        self.srl: list = []
        self.ents: list = []
        self.ments: list = []
        self.labels: dict[str, str] = {}

    # --- token helpers ---------------------------------------------------------------------------
    def f(self, word, upos, xpos, feats="_", rel="dep", role="x", lemma=None):
        """A closed-class token (form from the language's function-word table)."""
        lem = lemma or word.lower()
        return Tok(self.fw(word), self.fw(lem), upos, xpos, feats, rel, role, lem)

    def w(self, entry, upos, xpos, feats="_", rel="dep", role="head"):
        """An open-class token from a lexicon entry."""
        return Tok(entry[2][xpos], entry[1], upos, xpos, feats, rel, role, entry[0])

    # --- noun phrases ---------------------------------------------------------------------------
    def np(self, cls: str, case: str = "nom", depth: int = 0, ref_ok: bool = True,
           role: str = "subj", rel: str = "nsubj", avoid=frozenset()):
        """A noun phrase of semantic class ``cls`` whose head noun is not in ``avoid``; returns
        (node, number, person)."""
        rng, P = self.rng, self.P
        if cls == "agent":
            cls = "org" if rng.random() < P["org"] else "per"
        if cls == "any":
            cls = "per" if rng.random() < 0.5 else "thing"
        if ref_ok and self.refs and rng.random() < P["ref"]:
            # only referents of earlier sentences: antecedents always precede (no cataphora,
            # no "John saw him" with John = him)
            # and none already mentioned in this sentence (that would need a reflexive)
            cands = [r for r in self.refs if r.kind == cls and r.sent < self.sent_no
                     and r.last < self.sent_no]
            if cands:
                return self._mention(cands[int(rng.random() * len(cands))], case, role, rel)
        if cls == "per" and rng.random() < P["name"]:
            return self._name("PER", role, rel)
        if cls == "org":
            return self._name("ORG", role, rel)
        if cls == "thing" and self.domain == "biomed" and rng.random() < 0.25:
            gene = self.C["GENE"].pick(rng)
            node = Node("NP", [self.w(gene, "PROPN", "NNP", "Number=Sing")], None, rel, role)
            node.head = node.kids[0]
            ref = self._register("thing", "n", "Sing", entry=gene, name=[gene])
            self.ments.append((node, ref))
            return node, "Sing", 3
        klass = {"per": "PERSON", "thing": "THING", "place": "PLACE", "abstract": "ABSTRACT",
                 "time": "TIME_NOUNS"}[cls]
        number = "Plur" if rng.random() < 0.3 else "Sing"
        entry = self.C[klass].pick(rng)
        while entry[0] in avoid:
            entry = self.C[klass].pick(rng)
        node = self._common_np(entry, number, depth, role, rel, cls)
        if cls in ("per", "thing") and depth < 2:
            gender = ("m" if rng.random() < 0.5 else "f") if cls == "per" else "n"
            ref = self._register(cls, gender if number == "Sing" else None, number,
                                 entry=node.htok)
            self.ments.append((node, ref))
        if rng.random() < P["coord_np"] * (depth == 0) and role in ("subj", "obj"):
            other = self._common_np(self.C[klass].pick(rng), "Sing", depth + 1, "conj", "conj",
                                    cls)
            cc = self.f("and", "CCONJ", "CC", rel="cc", role="cc")
            cc.att = other
            node.role, node.rel = "head", None
            node = Node("NP", [node, cc, other], node, rel, role)
            number = "Plur"
        return node, number, 3

    def _common_np(self, entry, number, depth, role, rel, cls):
        rng, P = self.rng, self.P
        xpos = "NN" if number == "Sing" else "NNS"
        head = self.w(entry, "NOUN", xpos, F_NOUN[xpos])
        kids = []
        r = rng.random()
        if number == "Sing":
            det = "the" if r < 0.55 else ("a" if r < 0.77 else ("this" if r < 0.88 else "that"))
        else:
            det = "the" if r < 0.45 else ("these" if r < 0.55 else (
                "those" if r < 0.65 else ("some" if r < 0.78 else None)))
        if number == "Plur" and det in (None, "some") and self.lex.anchors.numbers != "none" \
                and rng.random() < 0.5:
            # only drawn with numerals on, so corpora without them keep their random stream
            value = 2 + int(rng.random() * len(NUMBER_WORDS))
            form = self.lex.numeral(value)
            kids.append(Tok(form, form, "NUM", "CD", "NumForm=Digit|NumType=Card" if form.isdigit()
                            else "NumForm=Word|NumType=Card", "nummod", "det",
                            str(value) if form.isdigit() else NUMBER_WORDS[value - 2]))
            det = None
        if det:
            feats = {"the": "Definite=Def|PronType=Art", "a": "Definite=Ind|PronType=Art",
                     "an": "Definite=Ind|PronType=Art", "this": "Number=Sing|PronType=Dem",
                     "that": "Number=Sing|PronType=Dem", "these": "Number=Plur|PronType=Dem",
                     "those": "Number=Plur|PronType=Dem", "some": "PronType=Ind"}[det]
            kids.append(self.f(det, "DET", "DT", feats, "det", "det",
                               lemma={"an": "a", "these": "this", "those": "that"}.get(det, det)))
        if rng.random() < P["adj"]:
            kids.append(self._adj(rng.random() < 0.15, role="amod", rel="amod"))
        if rng.random() < P["compound"]:
            mod = self.C["THING" if cls != "thing" else "ABSTRACT"].pick(rng)
            kids.append(self.w(mod, "NOUN", "NN", "Number=Sing", "compound", "compound"))
        kids.append(head)
        if det == "a" and self.lex.lang == "en":
            nxt = kids[1]
            nxt = nxt if nxt.__class__ is Tok else nxt.kids[0]
            if nxt.form[:1] in "aeiou":
                kids[0].form = "an"
        node = Node("NP", kids, head, rel, role)
        node.htok = None
        outer = node
        if depth < 2 and rng.random() < P["nmod"] / (1 + depth):
            if role == "subj" and rng.random() < 0.5:
                # before the verb a locative PP can only modify the noun
                prep, pcls = PREP_LOC[int(rng.random() * len(PREP_LOC))], "place"
            else:
                prep = PREP_NMOD[int(rng.random() * len(PREP_NMOD))]
                pcls = "place" if rng.random() < 0.3 else "thing"
            pp = self._pp(prep, pcls, depth + 1, "nmod", "nmod")
            node.role, node.rel = "head", None
            outer = Node("NP", [node, pp], node, rel, role)
        if depth < 2 and cls in ("per", "thing") and rng.random() < P["rel"] / (1 + 2 * depth):
            sbar = self._relclause(cls, number, depth + 1)
            if outer is node:
                node.role, node.rel = "head", None
            else:
                outer.role, outer.rel = "head", None
            outer = Node("NP", [outer, sbar], outer, rel, role)
        outer.htok = entry  # remember the head noun entry for referent registration
        return outer

    def _name(self, kind, role, rel, bare=False, amb=False):
        """A PER, ORG or LOC name. ``bare``: an ORG of one word (only as the subject of an
        organisation verb, which is what makes it a company); ``amb``: a LOC may take a name that
        is also a person's and a company's (only after a locative preposition or the "to" of a
        verb of motion)."""
        rng, C, P = self.rng, self.C, self.P
        if kind == "PER":
            male = rng.random() < 0.5
            # a name shared with places and companies ("Jordan"): as a person it is never the
            # subject of an organisation verb nor the object of a locative preposition
            shared = rng.random() < P["amb_name"]
            first = C[("AMBIG_" if shared else "") + ("MALE" if male else "FEMALE")].pick(rng)
            toks = [self.w(first, "PROPN", "NNP", "Number=Sing")]
            if rng.random() < (0.3 if shared else 0.6):
                toks.append(self.w(C["LAST"].pick(rng), "PROPN", "NNP", "Number=Sing", "flat",
                                   "flat"))
            node = Node("NP", toks, toks[0], rel, role)
            # repeated mentions reuse the last name (or the only name)
            ref = self._register("per", "m" if male else "f", "Sing", name=toks)
            self.ents.append((node, "PER"))
            self.ments.append((node, ref))
            return node, "Sing", 3
        if kind == "ORG":
            if bare:
                a = C["AMBIG" if rng.random() < 0.7 else "ORG_HEAD"].pick(rng)
                tok = self.w(a, "PROPN", "NNP", "Number=Sing")
                node = Node("NP", [tok], tok, rel, role)
                ref = self._register("org", "n", "Sing", name=[a])
                self.ents.append((node, "ORG"))
                self.ments.append((node, ref))
                return node, "Sing", 3
            a = C["AMBIG" if rng.random() < 0.3 else "ORG_HEAD"].pick(rng)
            b = C["ORG_TAIL"].pick(rng)
            t1 = self.w(a, "PROPN", "NNP", "Number=Sing", "compound", "compound")
            t2 = self.w(b, "PROPN", "NNP", "Number=Sing")
            node = Node("NP", [t1, t2], t2, rel, role)
            ref = self._register("org", "n", "Sing", name=[a, b])
            self.ents.append((node, "ORG"))
            self.ments.append((node, ref))
            return node, "Sing", 3
        # LOC: one or more tokens from the city/country lists (Mexico_City -> two tokens)
        if amb and rng.random() < P["amb_name"] * 1.5:
            entry = C["AMBIG"].pick(rng)
        else:
            entry = C["CITY" if rng.random() < 0.65 else "COUNTRY"].pick(rng)
        parts = zip(entry[1].split("_"), entry[0].split("_"))
        toks = [Tok(p, p, "PROPN", "NNP", "Number=Sing", "flat", "flat", gl) for p, gl in parts]
        toks[0].role = "head"
        node = Node("NP", toks, toks[0], rel, role)
        self.ents.append((node, "LOC"))
        return node, "Sing", 3

    def _register(self, kind, gender, number, entry=None, name=None):
        ref = Referent(len(self.refs), kind, gender, number, entry, name, self.sent_no)
        self.refs.append(ref)
        return ref

    def _mention(self, ref, case, role, rel):
        """A repeated mention: a pronoun agreeing with the referent, or a short definite NP."""
        rng = self.rng
        ref.last = self.sent_no
        bare_org = ref.kind == "org" and ref.name is not None and len(ref.name) == 1
        if rng.random() < self.P["pron"] or ref.entry is None and ref.name is None or bare_org:
            gender = ref.gender if ref.number == "Sing" else None
            nom, acc = PRONOUNS[(3, ref.number, gender)]
            form = nom if case == "nom" else acc
            feats = (f"Case={'Nom' if case == 'nom' else 'Acc'}|{_GENDER_FEAT[gender]}"
                     f"Number={ref.number}|Person=3|PronType=Prs")
            tok = self.f(form, "PRON", "PRP", feats, lemma=nom.lower() if nom != "I" else "I")
            node = Node("NP", [tok], tok, rel, role)
        elif ref.name is not None:
            if ref.kind == "per":
                src = ref.name[-1]
                tok = Tok(src.form, src.lemma, "PROPN", "NNP", "Number=Sing", "x", "head",
                          src.gloss)
                node = Node("NP", [tok], tok, rel, role)
                self.ents.append((node, "PER"))
            elif ref.kind == "org":
                a, b = ref.name
                t1 = self.w(a, "PROPN", "NNP", "Number=Sing", "compound", "compound")
                t2 = self.w(b, "PROPN", "NNP", "Number=Sing")
                node = Node("NP", [t1, t2], t2, rel, role)
                self.ents.append((node, "ORG"))
            else:
                tok = self.w(ref.name[0], "PROPN", "NNP", "Number=Sing")
                node = Node("NP", [tok], tok, rel, role)
        else:
            xpos = "NN" if ref.number == "Sing" else "NNS"
            head = self.w(ref.entry, "NOUN", xpos, F_NOUN[xpos])
            det = self.f("the", "DET", "DT", "Definite=Def|PronType=Art", "det", "det")
            node = Node("NP", [det, head], head, rel, role)
        self.ments.append((node, ref))
        return node, ref.number, 3

    def _first_person(self, case, role, rel):
        number = "Sing" if self.domain == "reviews" and self.rng.random() < 0.8 else "Plur"
        nom, acc = PRONOUNS[(1, number, None)]
        form = nom if case == "nom" else acc
        feats = f"Case={'Nom' if case == 'nom' else 'Acc'}|Number={number}|Person=1|PronType=Prs"
        tok = self.f(form, "PRON", "PRP", feats, lemma=nom)
        return Node("NP", [tok], tok, rel, role), number, 1

    def _adj(self, intens: bool, role="amod", rel="amod", cls=None):
        rng = self.rng
        if cls is None:
            if self.domain == "reviews" and rng.random() < 0.6:
                cls = "POS_ADJ" if self.polarity else "NEG_ADJ"
            else:
                cls = "ADJ"
        adj = self.w(self.C[cls].pick(rng), "ADJ", "JJ", "Degree=Pos", rel, role)
        if not intens:
            if role == "amod":
                return adj
            return Node("ADJP", [adj], adj, rel, role)
        adv = self.f(INTENS[int(rng.random() * len(INTENS))], "ADV", "RB", "_", "advmod", "adv")
        return Node("ADJP", [adv, adj], adj, rel, role)

    def _pp(self, prep, cls, depth, role, rel):
        rng = self.rng
        if cls == "place" and rng.random() < 0.3:
            # a name shared with people and companies only where the preposition makes it a place
            obj, _, _ = self._name("LOC", "head", None, amb=prep in PREP_LOC or prep == "to")
        else:
            obj, _, _ = self.np(cls, "acc", depth, ref_ok=False, role="head", rel=None,
                                avoid=TOOLS if prep == "with" else frozenset())
        case = self.f(prep, "ADP", "IN", "_", "case", "case")
        return Node("PP", [case, obj], obj, rel, role)

    def _relclause(self, cls, number, depth):
        """``who/that/which`` + clause with a subject (or object) gap."""
        rng = self.rng
        subj_gap = cls == "per" or rng.random() < 0.6
        wh_word = ("who" if cls == "per" else ("that" if rng.random() < 0.6 else "which"))
        wh = self.f(wh_word, "PRON", "WP" if wh_word != "that" else "WDT", "PronType=Rel",
                    "nsubj" if subj_gap else "obj", "wh")
        whnp = Node("WHNP", [wh], wh, wh.rel, "wh")
        if subj_gap:
            frame = "pers" if cls == "per" and rng.random() < 0.4 else "trans"
            if cls != "per":
                frame = "any"
            vp, pred = self._vp(frame, self._tense(), number, 3, depth, passive=False,
                                neg=False, subj_cls=cls)
            self.srl.append((pred, whnp, "R-ARG0"))
        else:
            wh.rel = whnp.rel = "obj"
            subj, snum, sper = self.np("per", "nom", depth + 1, ref_ok=False)
            vp, pred = self._vp("trans", self._tense(), snum, sper, depth, passive=False,
                                neg=False, subj_cls="per", gap_obj=True)
            self.srl.append((pred, subj, "ARG0"))
            self.srl.append((pred, whnp, "R-ARG1"))
            s = Node("S", [subj, vp], vp)
            return Node("SBAR", [whnp, s], s, "acl:relcl", "rel")
        s = Node(None, [vp], vp)  # unlabelled: S would duplicate the VP span
        return Node("SBAR", [whnp, s], s, "acl:relcl", "rel")

    # --- verb phrases -------------------------------------------------------------------------
    def _tense(self):
        if self.P["modal"] and self.rng.random() < self.P["modal"]:
            return "modal"
        return _choice(self.rng, self.P["tenses"])

    def _aux_chain(self, tense, number, person, passive, neg, cop=False):
        """Auxiliaries (outermost first) and the main verb's tag/feats for a tense."""
        past = tense == "past"
        agree = ("VBZ" if number == "Sing" and person == 3 else "VBP")
        auxes = []  # (word, lemma, xpos, feats, rel)

        def fin(tag):
            return finite_feats(tag, number, person)

        def be(tag_past):
            if tag_past:
                word = "was" if number == "Sing" and person != 2 else "were"
                return (word, "be", "VBD", fin("VBD"))
            word = "am" if person == 1 and number == "Sing" else (
                "is" if number == "Sing" and person == 3 else "are")
            return (word, "be", "VBZ" if word == "is" else "VBP", fin("VBZ"))

        if tense == "inf":  # "to" + infinitive: no finite verb, nothing agrees
            if passive or cop:
                auxes.append(("be", "be", "VB", "VerbForm=Inf", "aux:pass" if passive else "cop"))
                return auxes, ("VBN", F_PASS) if passive else None
            return auxes, ("VB", F_VERB["VB"])
        if tense in ("fut", "modal"):
            modal = "will" if tense == "fut" else ("shall" if self.rng.random() < 0.7 else "may")
            auxes.append((modal, modal, "MD", "VerbForm=Fin", "aux"))
            if passive or cop:
                auxes.append(("be", "be", "VB", "VerbForm=Inf", "aux:pass" if passive else "cop"))
                return auxes, ("VBN", F_PASS) if passive else None
            return auxes, ("VB", F_VERB["VB"])
        if tense == "perf":
            word = "has" if agree == "VBZ" else "have"
            auxes.append((word, "have", agree, fin(agree), "aux"))
            if passive or cop:
                auxes.append(("been", "be", "VBN", F_VERB["VBN"], "aux:pass" if passive else "cop"))
                return auxes, ("VBN", F_PASS) if passive else None
            return auxes, ("VBN", F_VERB["VBN"])
        if tense == "prog" and not cop:
            w, lem, tag, feats = be(False)
            auxes.append((w, lem, tag, feats, "aux"))
            if passive:
                auxes.append(("being", "be", "VBG", F_VERB["VBG"], "aux:pass"))
                return auxes, ("VBN", F_PASS)
            return auxes, ("VBG", F_VERB["VBG"])
        if passive or cop:
            w, lem, tag, feats = be(past)
            auxes.append((w, lem, tag, feats, "aux:pass" if passive else "cop"))
            return auxes, ("VBN", F_PASS) if passive else None
        if neg:
            word = "did" if past else ("does" if agree == "VBZ" else "do")
            tag = "VBD" if past else agree
            auxes.append((word, "do", tag, fin(tag), "aux"))
            return auxes, ("VB", F_VERB["VB"])
        return auxes, (("VBD" if past else agree), fin("VBD" if past else agree))

    def _wrap(self, inner, auxes, neg):
        """Nest ``VP -> AUX VP`` per auxiliary (outermost first in ``auxes``); 'not' after the
        first auxiliary."""
        node = inner
        for k in range(len(auxes) - 1, -1, -1):
            word, lemma, xpos, feats, rel = auxes[k]
            upos = "AUX"
            tok = self.f(word, upos, xpos, feats, rel, "aux", lemma=lemma)
            kids = [tok]
            if neg and k == 0:
                kids.append(self.f("not", "PART", "RB", "Polarity=Neg", "advmod", "neg"))
            node.role = "head"
            node = Node("VP", kids + [node], node)
        return node

    def _vp(self, frame, tense, number, person, depth, passive, neg, subj_cls="per",
            gap_obj=False, main=False):
        """A verb phrase for ``frame``; returns (VP node, predicate token)."""
        rng, C, P = self.rng, self.C, self.P
        if frame == "cop":
            adjp = self._adj(rng.random() < 0.35, role="head", rel=None)
            if not isinstance(adjp, Node):
                adjp = Node("ADJP", [adjp], adjp)
            auxes, _ = self._aux_chain(tense, number, person, False, neg, cop=True)
            pred = adjp.head
            if main and tense not in ("fut", "modal"):  # no tensed verb: no tense label
                self.labels["tense"] = "Past" if tense == "past" else "Pres"
            return self._wrap(adjp, auxes, neg), pred
        klass = {"trans": "V_TRANS", "pers": "V_PERS", "any": "V_ANY", "intrans": "V_INTRANS",
                 "ditrans": "V_DITRANS", "clausal": "V_CLAUSAL", "xcomp": "V_XCOMP",
                 "motion": "V_MOTION", "org": "V_ORG", "org_pers": "V_ORG_PERS",
                 "inch": "V_ALT"}[frame]
        entry = C[klass].pick(rng)
        while passive and entry[0] in NO_PASSIVE:
            entry = C[klass].pick(rng)
        auxes, (vtag, vfeats) = self._aux_chain(tense, number, person, passive, neg)
        verb = self.w(entry, "VERB", vtag, vfeats)
        kids = [verb]
        if main and tense not in ("fut", "modal"):
            self.labels["tense"] = "Past" if tense == "past" else "Pres"
        # arguments
        if frame in ("trans", "pers", "any", "org", "org_pers") and not passive and not gap_obj:
            ocls = {"trans": "thing", "pers": "per", "any": "any", "org": "thing",
                    "org_pers": "per"}[frame]
            if self.domain == "biomed" and frame == "trans" and rng.random() < 0.3:
                ocls = "abstract"
            obj, onum, _ = self.np(ocls, "acc", depth, role="obj", rel="obj")
            kids.append(obj)
            self.srl.append((verb, obj, "ARG1"))
            if main:
                self.labels["obj_num"] = onum
        elif frame == "ditrans" and not passive:
            theme, onum, _ = self.np("thing", "acc", depth, role="obj", rel="obj")
            recip, _, _ = self.np("per", "acc", depth, role="iobj", rel="iobj")
            if rng.random() < 0.5:
                kids += [recip, theme]  # double object: gave the man a book
                self.srl.append((verb, recip, "ARG2"))
            else:
                recip.role = recip.rel = None
                to = self.f("to", "ADP", "IN", "_", "case", "case")
                pp = Node("PP", [to, recip], recip, "obl", "obl")
                kids += [theme, pp]
                self.srl.append((verb, pp, "ARG2"))
            self.srl.append((verb, theme, "ARG1"))
            if main:
                self.labels["obj_num"] = onum
        elif frame == "xcomp":  # "wanted to buy the book": subject control, "to" marks it
            inner_frame = _choice(rng, (("trans", 5), ("pers", 2), ("intrans", 2), ("cop", 1)))
            inner, _ = self._vp(inner_frame, "inf", number, person, depth + 1, False, False)
            to = self.f("to", "PART", "TO", "_", "mark", "aux")
            inner.role = "head"
            xc = Node("VP", [to, inner], inner, "xcomp", "ccomp")
            kids.append(xc)
            self.srl.append((verb, xc, "ARG1"))
        elif frame == "motion" and rng.random() < 0.7:  # "went to Jordan": the goal
            goal = self._pp("to", "place", depth + 1, "obl", "obl")
            kids.append(goal)
            self.srl.append((verb, goal, "ARGM-GOL"))
        elif frame == "clausal":
            sub = self._clause(depth + 1, kind="ccomp")
            that = self.f("that", "SCONJ", "IN", "_", "mark", "mark")
            sbar = Node("SBAR", [that, sub], sub, "ccomp", "ccomp")
            kids.append(sbar)
            self.srl.append((verb, sbar, "ARG1"))
        # modifiers
        if frame == "trans" and not gap_obj and rng.random() < P["instr"]:
            tool = self.C["THING"].pick(rng)
            while tool[0] not in TOOLS:
                tool = self.C["THING"].pick(rng)
            xpos = "NN" if rng.random() < 0.85 else "NNS"
            ttok = self.w(tool, "NOUN", xpos, F_NOUN[xpos])
            if xpos == "NN":  # "with a key"
                det = self.f("a", "DET", "DT", "Definite=Ind|PronType=Art", "det", "det")
                if self.lex.lang == "en" and ttok.form[:1] in "aeiou":
                    det.form = "an"
            else:  # "with the keys"
                det = self.f("the", "DET", "DT", "Definite=Def|PronType=Art", "det", "det")
            tnp = Node("NP", [det, ttok], ttok)
            pp = Node("PP", [self.f("with", "ADP", "IN", "_", "case", "case"), tnp], tnp, "obl",
                      "obl")
            kids.append(pp)
            self.srl.append((verb, pp, "ARGM-MNR"))
        if frame in ("trans", "pers", "intrans", "motion") and rng.random() < P["as_pp"]:
            # "worked as a driver": "as" is a preposition here, a conjunction before a clause
            role_np, _, _ = self.np("per", "acc", depth + 1, ref_ok=False, role="head", rel=None)
            pp = Node("PP", [self.f("as", "ADP", "IN", "_", "case", "case"), role_np], role_np,
                      "obl", "obl")
            kids.append(pp)
            self.srl.append((verb, pp, "ARGM-PRD"))
        elif frame in ("intrans", "motion", "any") and rng.random() < P["like_pp"]:
            like_np, _, _ = self.np("any", "acc", depth + 1, ref_ok=False, role="head", rel=None)
            pp = Node("PP", [self.f("like", "ADP", "IN", "_", "case", "case"), like_np], like_np,
                      "obl", "obl")
            kids.append(pp)
            self.srl.append((verb, pp, "ARGM-MNR"))
        if rng.random() < P["manner"]:
            adv = self.w(C["ADV_MANNER"].pick(rng), "ADV", "RB", "_", "advmod", "adv")
            kids.append(adv)
            self.srl.append((verb, adv, "ARGM-MNR"))
        if rng.random() < P["loc"] / (1 + depth) and rng.random() < P["there"]:
            there = self.f("there", "ADV", "RB", "PronType=Dem", "advmod", "obl")
            kids.append(Node("ADVP", [there], there, "advmod", "obl"))
            self.srl.append((verb, there, "ARGM-LOC"))
        elif rng.random() < P["loc"] / (1 + depth):
            prep = PREP_LOC[int(rng.random() * len(PREP_LOC))]
            pp = self._pp(prep, "place", depth + 1, "obl", "obl")
            kids.append(pp)
            self.srl.append((verb, pp, "ARGM-LOC"))
        if rng.random() < P["tmp"] / (1 + depth):
            tmp = self._temporal(depth)
            kids.append(tmp)
            self.srl.append((verb, tmp, "ARGM-TMP"))
        vp = Node("VP", kids, verb)
        return self._wrap(vp, auxes, neg), verb

    def _temporal(self, depth):
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            word = TMP_ADV[int(rng.random() * len(TMP_ADV))]
            if word in ("yesterday", "today"):  # nouns in UD English, as bare NP adjuncts
                tok = self.f(word, "NOUN", "NN", "Number=Sing", "obl:unmarked", "tmp")
                return Node("NP", [tok], tok, "obl:unmarked", "tmp")
            tok = self.f(word, "ADV", "RB", "_", "advmod", "tmp")
            return Node("ADVP", [tok], tok, "advmod", "tmp")
        if r < 0.55:
            day = WEEKDAYS[int(rng.random() * 7)]
            on = self.f("on", "ADP", "IN", "_", "case", "case")
            name = self.lex.name(day)
            tok = Tok(name, name, "PROPN", "NNP", "Number=Sing", "x", "head", day)
            np_ = Node("NP", [tok], tok)
            return Node("PP", [on, np_], np_, "obl", "tmp")
        if r < 0.75:
            last = self.f("last", "ADJ", "JJ", "Degree=Pos", "amod", "amod")
            noun = self.w(self.C["TIME_NOUNS"].pick(rng), "NOUN", "NN", "Number=Sing")
            return Node("NP", [last, noun], noun, "obl:unmarked", "tmp")  # UD English (2.14+)
        prep = ("after", "before", "during", "since", "until")[int(rng.random() * 5)]
        case = self.f(prep, "ADP", "IN", "_", "case", "case")
        det = self.f("the", "DET", "DT", "Definite=Def|PronType=Art", "det", "det")
        noun = self.w(self.C["TIME_NOUNS"].pick(rng), "NOUN", "NN", "Number=Sing")
        np_ = Node("NP", [det, noun], noun)
        return Node("PP", [case, np_], np_, "obl", "tmp")

    # --- clauses -----------------------------------------------------------------------------
    def _existential(self, depth: int, main: bool):
        """``There are books on the table``: "be" is the main verb (VERB, as in UD English) and
        agrees with the noun phrase after it."""
        rng = self.rng
        tense = "past" if rng.random() < 0.45 else "pres"
        subj, number, _ = self.np("thing" if rng.random() < 0.75 else "per", "nom", depth,
                                  ref_ok=False, role="obj", rel="nsubj")
        tag = "VBD" if tense == "past" else ("VBZ" if number == "Sing" else "VBP")
        word = {"VBD": "was" if number == "Sing" else "were", "VBZ": "is", "VBP": "are"}[tag]
        be = self.f(word, "VERB", tag, finite_feats(tag, number, 3), role="head", lemma="be")
        kids = [be, subj]
        if rng.random() < 0.8:
            kids.append(self._pp(PREP_LOC[int(rng.random() * len(PREP_LOC))], "place",
                                 depth + 1, "obl", "obl"))
        vp = Node("VP", kids, be)
        there = self.f("there", "PRON", "EX", "_", "expl", "subj")
        if main:
            self.labels["tense"] = "Past" if tense == "past" else "Pres"
            self.labels["subj_num"] = number
        return Node("S", [there, vp], vp)

    def _clause(self, depth: int, kind: str = "main"):
        rng, P = self.rng, self.P
        main = kind == "main"
        if rng.random() < P["exist"]:
            return self._existential(depth, main)
        frame = _choice(rng, P["frames"])
        if depth >= 2 and frame in ("clausal", "xcomp"):
            frame = "trans"
        if frame == "org" and rng.random() < 0.3:
            frame = "org_pers"  # "Jordan hired two engineers"
        passive = frame in ("trans", "pers", "any") and rng.random() < P["passive"]
        neg = rng.random() < P["neg"]
        tense = self._tense()
        # subject
        if frame == "cop":
            scls = "thing" if rng.random() < 0.7 else "per"
            if rng.random() < P["dem_pron"]:
                scls = "dem"
        elif frame in ("org", "org_pers"):
            scls = "org"
        elif frame == "motion":
            scls = "per"
        elif frame == "inch":  # "the window broke": a thing undergoes the event
            scls = "thing"
        elif passive:
            scls = {"trans": "thing", "pers": "per", "any": "any"}[frame]
        elif frame == "any":
            scls = "any"
        else:
            scls = "agent"
        if scls == "dem":  # "This is great."
            word = "this" if rng.random() < 0.6 else "that"
            tok = self.f(word, "PRON", "DT", "Number=Sing|PronType=Dem", "nsubj", "subj")
            subj, snum, sper = Node("NP", [tok], tok, "nsubj", "subj"), "Sing", 3
        elif scls == "org":  # an organisation verb: a one-word name here is a company
            subj, snum, sper = self._name("ORG", "subj", "nsubj", bare=rng.random() < 0.7)
        elif scls in ("agent", "per") and rng.random() < P["first"]:
            subj, snum, sper = self._first_person("nom", "subj", "nsubj")
        else:
            subj, snum, sper = self.np(scls, "nom", depth, role="subj", rel="nsubj")
        if passive:
            subj.rel = "nsubj:pass"
        vp, pred = self._vp(frame, tense, snum, sper, depth, passive, neg, main=main)
        if main:
            self.labels["subj_num"] = snum
        if frame != "cop":
            self.srl.append((pred, subj, "ARG1" if passive or frame == "inch" else "ARG0"))
        if passive and rng.random() < 0.5:
            agent, _, _ = self.np("agent" if frame != "any" else "any", "acc", depth + 1,
                                  role="head", rel=None)
            by = self.f("by", "ADP", "IN", "_", "case", "case")
            pp = Node("PP", [by, agent], agent, "obl:agent", "obl")
            inner = vp
            while inner.head.__class__ is Node and inner.head.label == "VP":
                inner = inner.head
            inner.kids.insert(1, pp)
            self.srl.append((pred, pp, "ARG0"))
        if depth <= 1 and frame != "cop" and not passive and rng.random() < P["coord_vp"]:
            # "bought the book and read it": one subject, two verbs (only the first is its head)
            frame2 = frame if frame in ("org", "org_pers", "inch", "any") else _choice(
                rng, (("trans", 4), ("pers", 2), ("intrans", 2)))
            vp2, pred2 = self._vp(frame2, tense, snum, sper, depth + 1, False, False)
            self.srl.append((pred2, subj, "ARG1" if frame2 == "inch" else "ARG0"))
            vp2.rel, vp2.role = "conj", "conj"
            cc = self.f("and" if rng.random() < 0.8 else "but", "CCONJ", "CC", "_", "cc", "cc")
            cc.att = vp2
            vp.role = "head"
            vp = Node("VP", [vp, cc, vp2], vp)
        kids = [subj, vp]
        if depth == 0 and rng.random() < P["advcl"]:
            mark, arg = MARKS[int(rng.random() * len(MARKS))]
            if self.domain == "legal" and rng.random() < 0.5:
                mark, arg = ("unless", "ARGM-ADV") if rng.random() < 0.4 else ("if", "ARGM-ADV")
            sub = self._clause(depth + 1, kind="advcl")
            m = self.f(mark, "SCONJ", "IN", "_", "mark", "mark")
            sbar = Node("SBAR", [m, sub], sub, "advcl", "pre")
            self.srl.append((pred, sbar, arg))
            if rng.random() < 0.5:
                kids = [sbar, self.f(",", "PUNCT", ",", "_", "punct", "prep")] + kids
            else:
                sbar.role = "advcl"
                inner = vp
                while inner.head.__class__ is Node and inner.head.label == "VP":
                    inner = inner.head
                if inner.head.__class__ is Tok:  # not for copular ADJP heads
                    inner.kids.append(sbar)
                else:
                    kids = [sbar, self.f(",", "PUNCT", ",", "_", "punct", "prep")] + kids
        return Node("S", kids, vp)

    def sentence(self) -> Node:
        """One root S (with final punctuation); fills ``srl``/``ents``/``ments``/``labels``."""
        rng, P = self.rng, self.P
        self.reset()
        if self.construction is not None and rng.random() < self.construction[1]:
            return self.construction[0](self)  # a domain construction (see .downstream)
        s = self._clause(0)
        if rng.random() < P["coord_s"]:
            words = P["conj_words"]
            cw = words[int(rng.random() * len(words))]
            labels = self.labels
            self.labels = {}
            second = self._clause(1, kind="conj")
            self.labels = labels
            second.rel, second.role = "conj", "conj"
            cc = self.f(cw, "CCONJ", "CC", "_", "cc", "cc")
            comma = self.f(",", "PUNCT", ",", "_", "punct", "cc")
            cc.att = comma.att = second
            s.role = "head"
            s = Node("S", [s, comma, cc, second], s)
        end = "!" if rng.random() < P["excl"] else "."
        s.kids.append(self.f(end, "PUNCT", ".", "_", "punct", "end"))
        return s
