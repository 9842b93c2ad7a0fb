"""Lexicons: English morphology over real stems, domain vocabularies, pseudo-language forms.

A :class:`Lexicon` holds word classes (``"PERSON"``, ``"V_TRANS"``, ``"ADJ"`` ...). Each entry
is a tuple ``(gloss, lemma, forms)`` where ``gloss`` is the English lemma (the same in every
language, so annotations of the pseudo-languages can be aligned with English), ``lemma`` the
lemma in the lexicon's language and ``forms`` a dict from PTB tag to surface form. Sampling
within a class is Zipfian over the list order (earlier = more frequent), which together with
frequent function words gives a corpus-level rank/frequency slope near -1.
"""

from __future__ import annotations

import zlib
from bisect import bisect
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from probekit.data.synthetic import words as W
from probekit.errors import ConfigError

# --- English morphology -------------------------------------------------------------------
_IRREGULAR_PLURAL = {
    "child": "children", "man": "men", "woman": "women", "person": "people", "mouse": "mice",
    "foot": "feet", "tooth": "teeth", "knife": "knives", "leaf": "leaves", "shelf": "shelves",
    "wife": "wives", "life": "lives", "analysis": "analyses", "nucleus": "nuclei",
    "mitochondrion": "mitochondria", "criterion": "criteria", "fisherman": "fishermen",
    "damages": "damages", "goods": "goods", "premises": "premises", "headphones": "headphones",
    "police": "police", "sheep": "sheep", "fish": "fish", "data": "data",
}
_VOWELS = set("aeiou")


def plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURAL:
        return _IRREGULAR_PLURAL[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def third_singular(verb: str) -> str:
    if verb in ("have", "be", "do", "go"):
        return {"have": "has", "be": "is", "do": "does", "go": "goes"}[verb]
    return plural(verb) if verb not in _IRREGULAR_PLURAL else verb + "s"


def verb_forms(spec: str) -> tuple[str, dict[str, str]]:
    """``"stop+"`` or ``"take/took/taken"`` -> lemma and {VB, VBP, VBZ, VBD, VBN, VBG}."""
    double = spec.endswith("+")
    spec = spec.rstrip("+")
    parts = spec.split("/")
    base = parts[0]
    stem = base + base[-1] if double else base
    if len(parts) == 3:
        past, part = parts[1], parts[2]
    elif base.endswith("e"):
        past = part = base + "d"
    elif base.endswith("y") and base[-2] not in _VOWELS:
        past = part = base[:-1] + "ied"
    else:
        past = part = stem + "ed"
    if base.endswith("ie"):
        ger = base[:-2] + "ying"
    elif base.endswith("e") and not base.endswith(("ee", "ye", "oe")) and base != "be":
        ger = base[:-1] + "ing"
    else:
        ger = stem + "ing"
    return base, {"VB": base, "VBP": base, "VBZ": third_singular(base), "VBD": past,
                  "VBN": part, "VBG": ger}


def adverb(adj: str) -> str:
    if adj.endswith("y") and len(adj) > 3:
        return adj[:-1] + "ily"
    if adj.endswith("le") and len(adj) > 3:
        return adj[:-1] + "y"
    if adj.endswith("ic"):
        return adj + "ally"
    if adj.endswith("ue"):
        return adj[:-1] + "y"
    if adj.endswith("ll"):
        return adj + "y"
    return adj + "ly"


def _split(text: str) -> list[str]:
    return text.split()


# --- pseudo-languages -----------------------------------------------------------------------
# Each pseudo-language spells a lemma with its own syllables (a hash of the English gloss picks
# them, so the mapping is fixed and needs no random state) and inflects with its own suffixes.
_PHONOLOGY = {
    "sov": (tuple("ktmnsrhybdgp"), tuple("aiueo"), ("", "", "", "n")),
    "vos": (tuple("lmnvrtsfhzk"), ("a", "e", "i", "o", "u", "ai", "ao"), ("", "", "l", "n", "s")),
}
_SUFFIX = {
    "sov": {"NNS": "ra", "VBD": "ta", "VBZ": "su", "VBP": "ru", "VBG": "te", "VBN": "re",
            "VB": "u", "RB": "ni", "JJ": "i"},
    "vos": {"NNS": "en", "VBD": "nao", "VBZ": "a", "VBP": "o", "VBG": "ana", "VBN": "ina",
            "VB": "", "RB": "ve", "JJ": ""},
}


def _syllables(key: str, lang: str, n: int) -> str:
    cons, vows, codas = _PHONOLOGY[lang]
    h = zlib.crc32(f"{lang}:{key}".encode())
    out = []
    for _ in range(n):
        out.append(cons[h % len(cons)] + vows[(h // 13) % len(vows)] + codas[(h // 97) % len(codas)])
        h = (h * 1103515245 + 12345) & 0xFFFFFFFF
    return "".join(out)


class _Speller:
    """Unique pseudo-stems per language (a collision grows the word by a syllable)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.stems: dict[str, str] = {}
        self.used: set[str] = set()

    def stem(self, gloss: str, short: bool = False) -> str:
        if gloss in self.stems:
            return self.stems[gloss]
        n = 1 if short else (2 if len(gloss) <= 6 else 3)
        word = _syllables(gloss, self.lang, n)
        extra = 0
        while word in self.used:
            extra += 1
            word = _syllables(gloss + "#" * extra, self.lang, n + 1)
        self.used.add(word)
        self.stems[gloss] = word
        return word


@lru_cache(maxsize=None)
def _speller(lang: str) -> _Speller:
    """The language's speller, filled in one fixed order (every list of :mod:`.words`, domains
    sorted), so a word's spelling never depends on which lexicon was built first."""
    sp = _Speller(lang)
    lists = [getattr(W, n) for n in NOUN_CLASSES + VERB_CLASSES + ("ADJ", "POS_ADJ", "NEG_ADJ",
                                                                    "POS_VERB", "NEG_VERB")]
    for domain in sorted(W.DOMAIN_WORDS):
        lists += [text for _, text in sorted(W.DOMAIN_WORDS[domain].items())]
    for text in lists:
        for spec in text.split():
            if "_" not in spec:
                sp.stem(spec.rstrip("+*").split("/")[0])
    for word in W.FUNCTION_WORDS.split():
        sp.stem("fw:" + word, short=len(word) <= 4)
    return sp


# --- cross-lingual anchors ----------------------------------------------------------------------
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
GENE_NUMBERS = (1, 2, 3, 4, 5, 7, 9, 12)
NUMBER_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")
# Punctuation of a language that shares none with English (K et al. 2020 remove all overlap).
_OWN_PUNCT = {"sov": {".": "\u3002", ",": "\u3001", "!": "\uff01"},
              "vos": {".": "\u2022", ",": "\u201a", "!": "\u203c"}}


@dataclass(frozen=True)
class Anchors:
    """What the pseudo-languages share with English (Pires et al. 2019; K et al. 2020).

    The defaults are the generator's historical behaviour (names and punctuation shared, no
    numerals, no cognates), so corpora made without options do not change.

    Parameters
    ----------
    names : bool
        Person, place and organisation names spelled as in English; ``False`` respells them with
        the language's syllables.
    punct : bool
        ``. , !`` as in English; ``False`` gives each pseudo-language its own marks.
    numbers : {"none", "digits", "words"}
        ``"none"``: no numerals. Otherwise some plural noun phrases get a cardinal (2-12):
        ``"digits"`` writes it the same in every language (a shared anchor), ``"words"`` spells
        it per language (``two`` in English, the language's own word elsewhere). Numerals change
        the trees, identically in every language, so parallel corpora need the same setting.
    cognates : float in [0, 1]
        Fraction of open-class lemmas whose stem is the English one (the language's inflection
        suffixes stay); which ones is fixed by a hash of the gloss, so it does not depend on the
        corpus and a larger fraction keeps the cognates of a smaller one.
    """

    names: bool = True
    punct: bool = True
    numbers: str = "none"
    cognates: float = 0.0

    def __post_init__(self) -> None:
        if self.numbers not in ("none", "digits", "words"):
            raise ConfigError(f"anchors: numbers must be one of none, digits, words, got {self.numbers!r}")
        if not 0.0 <= float(self.cognates) <= 1.0:
            raise ConfigError(f"anchors: cognates must be in [0, 1], got {self.cognates!r}")
        object.__setattr__(self, "cognates", float(self.cognates))

    @classmethod
    def parse(cls, options: str | dict | "Anchors" | None) -> "Anchors":
        """``"names=0+numbers=digits+cognates=0.5"`` (the spec syntax), a dict, or an Anchors.

        A bare name switches a boolean on (``names``) or picks ``digits`` (``numbers``)."""
        if options is None or isinstance(options, Anchors):
            return options or cls()
        if isinstance(options, str):
            pairs = {}
            for part in (p for p in options.split("+") if p):
                key, eq, value = part.partition("=")
                pairs[key] = value if eq else None
            options = pairs
        valid = ("names", "punct", "numbers", "cognates")
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(f"unknown anchor option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        kw = {}
        for key, value in options.items():
            if key in ("names", "punct"):
                kw[key] = _flag(key, value)
            elif key == "numbers":
                kw[key] = "digits" if value is None else str(value)
            else:
                try:
                    kw[key] = 1.0 if value is None else float(value)
                except ValueError:
                    raise ConfigError(f"anchors: cognates must be a number in [0, 1], got {value!r}") from None
        return cls(**kw)

    def spec(self) -> str:
        """The options that differ from the defaults, in spec syntax (``""`` for none)."""
        parts = []
        if not self.names:
            parts.append("names=0")
        if not self.punct:
            parts.append("punct=0")
        if self.numbers != "none":
            parts.append(f"numbers={self.numbers}")
        if self.cognates:
            parts.append(f"cognates={self.cognates:g}")
        return "+".join(parts)


def _flag(key: str, value) -> bool:
    if value is None or value is True or str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if value is False or str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"anchors: {key} must be 0 or 1, got {value!r}")


def is_cognate(gloss: str, fraction: float) -> bool:
    """Whether ``gloss`` keeps its English stem at cognate ``fraction`` (a fixed hash draw)."""
    return fraction > 0 and zlib.crc32(f"cognate:{gloss}".encode()) < fraction * 2 ** 32


@lru_cache(maxsize=None)
def _anchor_speller(lang: str) -> _Speller:
    """Respelled names (``names=False``) and numeral words, filled in one fixed order (apart
    from the lexicon's speller, whose spellings must not move)."""
    sp = _Speller(lang)
    for word in NUMBER_WORDS:
        sp.stem("num:" + word)
    for text in (W.MALE, W.FEMALE, W.LAST, W.AMBIG_MALE, W.AMBIG_FEMALE, W.ORG_HEAD, W.ORG_TAIL,
                 W.CITIES, W.COUNTRIES, " ".join(WEEKDAYS)):
        for name in text.split():
            for part in name.split("_"):
                sp.stem("name:" + part)
    for stem in W.GENE_STEMS.split():
        for i in GENE_NUMBERS:
            sp.stem(f"name:{stem}{i}")
    return sp


# --- lexicon ------------------------------------------------------------------------------
class WordClass:
    """Entries of one class with Zipfian cumulative weights (rank r gets 1 / (r + 1.5))."""

    __slots__ = ("entries", "cum", "total")

    def __init__(self, entries: list[tuple]) -> None:
        self.entries = entries
        self.cum = list(accumulate(1.0 / (r + 1.5) for r in range(len(entries))))
        self.total = self.cum[-1]

    def pick(self, rng) -> tuple:
        return self.entries[bisect(self.cum, rng.random() * self.total)]


NOUN_CLASSES = ("PERSON", "THING", "PLACE", "ABSTRACT", "TIME_NOUNS")
VERB_CLASSES = ("V_TRANS", "V_PERS", "V_ANY", "V_INTRANS", "V_DITRANS", "V_CLAUSAL", "V_XCOMP",
                "V_MOTION", "V_ORG", "V_ORG_PERS", "V_ALT")


class Lexicon:
    """All word classes of one (domain, language)."""

    def __init__(self, domain: str = "general", lang: str = "en", anchors: Anchors = Anchors()) -> None:
        self.domain, self.lang, self.anchors = domain, lang, anchors
        self._fw: dict[str, str] = {}
        extra = W.DOMAIN_WORDS.get(domain, {})
        classes: dict[str, WordClass] = {}

        def merged(name: str) -> list[str]:
            general = [w for w in _split(getattr(W, name)) if "_" not in w]
            special = [w for w in _split(extra.get(name, "")) if "_" not in w]
            seen, out = set(), []
            for w in special + general:  # domain words first = most frequent
                key = w.rstrip("+*").split("/")[0]
                if key not in seen:
                    seen.add(key)
                    out.append(w)
            return out

        capital = domain == "legal"  # legal drafting capitalizes defined parties: "the Tenant"
        for name in NOUN_CLASSES:
            entries = []
            for w in merged(name):
                sg, pl = w, plural(w)
                if capital and name == "PERSON" and w in extra.get("PERSON", ""):
                    sg, pl = sg.capitalize(), pl.capitalize()
                entries.append(self._entry(w, {"NN": sg, "NNS": pl}))
            classes[name] = WordClass(entries)
        for name in VERB_CLASSES:
            entries = []
            for spec in merged(name):
                base, forms = verb_forms(spec)
                entries.append(self._entry(base, forms))
            classes[name] = WordClass(entries)
        adj, adv = [], []
        for spec in merged("ADJ"):
            word = spec.rstrip("*")
            adj.append(self._entry(word, {"JJ": word}))
            if spec.endswith("*"):
                adv.append(self._entry(adverb(word), {"RB": adverb(word)}, base=word))
        classes["ADJ"] = WordClass(adj)
        flat = [self._entry(w, {"RB": w}, base=w) for w in _split(W.FLAT_ADV)]
        classes["ADV_MANNER"] = WordClass(flat + adv)
        for name in ("POS_ADJ", "NEG_ADJ"):
            classes[name] = WordClass([self._entry(w, {"JJ": w}) for w in _split(getattr(W, name))])
        for name in ("POS_VERB", "NEG_VERB"):
            classes[name] = WordClass(
                [self._entry(*verb_forms(w)) for w in _split(getattr(W, name)) if "_" not in w]
            )
        # Names stay the same in every language (as real names do across languages), unless
        # the anchors say otherwise.
        def names(text: str) -> WordClass:
            return WordClass([(n, self.name(n), {"NNP": self.name(n)}) for n in _split(text)])

        classes["MALE"] = names(W.MALE)
        classes["FEMALE"] = names(W.FEMALE)
        classes["LAST"] = names(W.LAST)
        classes["AMBIG_MALE"] = names(W.AMBIG_MALE)
        classes["AMBIG_FEMALE"] = names(W.AMBIG_FEMALE)
        # one pool for companies and places: the two lists interleaved, so both genders' names
        # are frequent
        pool = [n for pair in zip(_split(W.AMBIG_MALE), _split(W.AMBIG_FEMALE)) for n in pair]
        classes["AMBIG"] = WordClass([(n, self.name(n), {"NNP": self.name(n)}) for n in pool])
        classes["ORG_HEAD"] = names(W.ORG_HEAD)
        classes["ORG_TAIL"] = names(W.ORG_TAIL)
        classes["CITY"] = names(W.CITIES)
        classes["COUNTRY"] = names(W.COUNTRIES)
        genes = [f"{s}{i}" for s in _split(W.GENE_STEMS) for i in GENE_NUMBERS]
        if domain != "biomed":
            genes = genes[:8]  # other domains never use them; keep their type counts honest
        classes["GENE"] = WordClass([(g, self.name(g), {"NNP": self.name(g)}) for g in genes])
        self.classes = classes

    def _entry(self, gloss: str, forms: dict[str, str], base: str | None = None) -> tuple:
        if self.lang == "en":
            return (gloss, gloss, forms)
        key = base or gloss
        stem = key if is_cognate(key, self.anchors.cognates) else _speller(self.lang).stem(key)
        suffix = _SUFFIX[self.lang]
        out = {}
        for tag in forms:
            if tag == "NN":
                out[tag] = stem
            else:
                out[tag] = stem + suffix.get(tag, "")
        if forms.get("NN", "x")[:1].isupper():  # keep capitalized defined terms capitalized
            out = {t: f.capitalize() for t, f in out.items()}
        lemma = stem.capitalize() if forms.get("NN", "x")[:1].isupper() else stem
        return (gloss, lemma, out)

    def name(self, name: str) -> str:
        """A name (or one part of a multi-word place name) in this language."""
        if self.lang == "en" or self.anchors.names:
            return name
        parts = name.split("_")
        return "_".join(_anchor_speller(self.lang).stem("name:" + p).capitalize() for p in parts)

    def numeral(self, value: int) -> str:
        """Cardinal ``value`` (2-12) as the anchors write it."""
        if self.anchors.numbers == "digits":
            return str(value)
        word = NUMBER_WORDS[value - 2]
        return word if self.lang == "en" else _anchor_speller(self.lang).stem("num:" + word)

    def fw(self, word: str) -> str:
        """Closed-class word (determiner, pronoun, preposition, auxiliary ...) in this language."""
        if not word[0].isalpha():  # punctuation: shared unless the anchors say otherwise
            return word if self.lang == "en" or self.anchors.punct else _OWN_PUNCT[self.lang][word]
        if self.lang == "en":
            return word
        form = self._fw.get(word)
        if form is None:
            form = _speller(self.lang).stem("fw:" + word, short=len(word) <= 4)
            self._fw[word] = form
        return form

    def types(self) -> set[str]:
        """Every surface form the open classes can produce (closed-class words excluded)."""
        return {f for c in self.classes.values() for e in c.entries for f in e[2].values()}


@lru_cache(maxsize=None)
def lexicon(domain: str = "general", lang: str = "en", anchors: Anchors = Anchors()) -> Lexicon:
    """Cached :class:`Lexicon` for a (domain, language, anchors)."""
    return Lexicon(domain, lang, anchors)
