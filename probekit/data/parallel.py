"""Parallel corpora with word alignments, for cross-lingual analyses.

A :class:`ParallelCorpus` holds sentence pairs (``source[i]`` translates ``target[i]``) and, per
pair, the aligned word pairs ``(source word, target word)`` (0-based). Three ways to get one:

* :func:`synthetic_parallel`: the generator's languages share trees for the same seed, so
  English and a pseudo-language are parallel for free; :func:`align_by_gloss` aligns them.
* :func:`align_by_gloss`: any two annotated corpora whose words carry the English lemma
  (``Gloss=`` in MISC, or the lemma itself for English) and the same dependency trees.
* :func:`read_parallel`: user corpora (text, one sentence per line, or CoNLL-U) with an
  alignment file in the Pharaoh format that fast_align / awesome-align / SimAlign write
  (``0-0 1-2 2-1``, one line per sentence pair).

Pairs that do not align are errors naming the first mismatch (sentence index and word).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probekit.data.records import Sentence
from probekit.errors import ConfigError, DataFormatError


@dataclass
class ParallelCorpus:
    """Sentence pairs and their word alignments.

    Attributes
    ----------
    source, target : list of Sentence
        ``source[i]`` and ``target[i]`` are translations.
    alignments : list of list of (int, int)
        Per pair, aligned ``(source word, target word)`` indices (0-based); words may stay
        unaligned (real data) or align to several words.
    """

    source: list[Sentence]
    target: list[Sentence]
    alignments: list[list[tuple[int, int]]]

    def __post_init__(self) -> None:
        if not len(self.source) == len(self.target) == len(self.alignments):
            raise DataFormatError(f"{len(self.source)} source sentences, {len(self.target)} target sentences and "
                                  f"{len(self.alignments)} alignment lines; all three must match")
        for i, (s, t, pairs) in enumerate(zip(self.source, self.target, self.alignments)):
            for a, b in pairs:
                if not (0 <= a < len(s) and 0 <= b < len(t)):
                    raise DataFormatError(
                        f"sentence {i}: alignment {a}-{b} is outside the sentences ({len(s)} source words, "
                        f"{len(t)} target words; indices are 0-based)")

    def __len__(self) -> int:
        return len(self.source)

    def word_pairs(self, one_to_one: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Global word rows of the aligned pairs: (source rows, target rows), each (n_pairs,).

        Rows number the words of all sentences in order (sentence ``i``'s word ``w`` is row
        ``offset[i] + w``), the layout of :class:`~probekit.extract.LayerReps`. ``one_to_one``
        keeps only words aligned to exactly one word on each side (the usual choice for
        translation retrieval).
        """
        src_off = np.concatenate([[0], np.cumsum([len(s) for s in self.source])])
        tgt_off = np.concatenate([[0], np.cumsum([len(t) for t in self.target])])
        rows_s, rows_t = [], []
        for i, pairs in enumerate(self.alignments):
            if one_to_one:
                n_s = defaultdict(int)
                n_t = defaultdict(int)
                for a, b in pairs:
                    n_s[a] += 1
                    n_t[b] += 1
                pairs = [(a, b) for a, b in pairs if n_s[a] == 1 and n_t[b] == 1]
            for a, b in pairs:
                rows_s.append(src_off[i] + a)
                rows_t.append(tgt_off[i] + b)
        return np.asarray(rows_s, dtype=np.int64), np.asarray(rows_t, dtype=np.int64)


def glosses(sent: Sentence) -> list[str]:
    """English lemma of every word: ``Gloss=`` from MISC, else the lemma (English)."""
    if sent.misc is not None:
        out = []
        for w, m in enumerate(sent.misc):
            g = next((f[6:] for f in (m or "").split("|") if f.startswith("Gloss=")), None)
            if g is None:
                raise DataFormatError(f"sentence {sent.id!r}: word {w} {sent.tokens[w]!r} has no Gloss= in MISC")
            out.append(g)
        return out
    if sent.lemmas is None:
        raise DataFormatError(f"sentence {sent.id!r}: no lemmas and no Gloss= to align by")
    return list(sent.lemmas)


def _tree_keys(sent: Sentence, gl: list[str]) -> list[tuple]:
    """Per word: its gloss and relation, then its head's, up to the root. Words with the same
    gloss (two ``the``) differ by where they sit in the tree, which every language shares."""
    if sent.heads is None or sent.deprels is None:
        return [(g,) for g in gl]
    keys = []
    for w in range(len(sent)):
        path, seen = [], set()
        while w >= 0 and w not in seen:
            seen.add(w)
            path.append((gl[w], sent.deprels[w]))
            w = sent.heads[w] - 1
        keys.append(tuple(path))
    return keys


def align_by_gloss(source: list[Sentence], target: list[Sentence]) -> ParallelCorpus:
    """Align parallel annotated sentences word by word through their glosses.

    Each word is identified by its gloss and its path to the root in the dependency tree
    (gloss and relation of every ancestor); words still tied (e.g. coordinated repeats) pair up
    in surface order. Every word must find its partner.

    Raises
    ------
    DataFormatError
        Different sentence counts, or the first word (sentence index, word index and form) with
        no partner on the other side.
    """
    if len(source) != len(target):
        raise DataFormatError(f"parallel corpora differ in length: {len(source)} source vs {len(target)} target "
                              f"sentences; first unpaired: {'source' if len(source) > len(target) else 'target'} "
                              f"sentence {min(len(source), len(target))}")
    alignments = []
    for i, (s, t) in enumerate(zip(source, target)):
        ks, kt = _tree_keys(s, glosses(s)), _tree_keys(t, glosses(t))
        slots: dict[tuple, list[int]] = defaultdict(list)
        for b, k in enumerate(kt):
            slots[k].append(b)
        pairs = []
        for a, k in enumerate(ks):
            if not slots.get(k):
                raise DataFormatError(
                    f"sentence {i} ({s.id!r} / {t.id!r}): source word {a} {s.tokens[a]!r} (gloss {k[0][0]!r}) "
                    "has no target word with the same gloss and tree position")
            pairs.append((a, slots[k].pop(0)))
        left = sorted(b for rest in slots.values() for b in rest)
        if left:
            b = left[0]
            raise DataFormatError(f"sentence {i} ({s.id!r} / {t.id!r}): target word {b} {t.tokens[b]!r} "
                                  f"(gloss {kt[b][0][0]!r}) has no source word")
        alignments.append(pairs)
    return ParallelCorpus(list(source), list(target), alignments)


def synthetic_parallel(n_sentences: int, *, source: str = "en", target: str = "sov", domain: str = "general",
                       seed: int = 0, anchors=None) -> ParallelCorpus:
    """``n_sentences`` generator sentences in two languages (same seed: same trees), aligned.

    >>> pc = synthetic_parallel(3, source="en", target="vos", seed=1)
    >>> len(pc), all(len(p) == len(s) for p, s in zip(pc.alignments, pc.source))
    (3, True)
    """
    from probekit.data.synthetic import LANGUAGES, generate

    for lang in (source, target):
        if lang not in LANGUAGES:
            raise ConfigError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return align_by_gloss(generate(n_sentences, domain=domain, lang=source, seed=seed, anchors=anchors),
                          generate(n_sentences, domain=domain, lang=target, seed=seed, anchors=anchors))


def _read_side(path: Path, lang: str) -> list[Sentence]:
    if path.suffix in (".conllu", ".conll"):
        from probekit.data.conllu import read_conllu

        return list(read_conllu(path, lang=lang))
    from probekit.data.text import read_text

    return list(read_text(path, lang=lang))


def read_alignment(path: str | Path) -> list[list[tuple[int, int]]]:
    """Pharaoh alignment file: one line per sentence pair of ``i-j`` pairs (0-based; blank line:
    no aligned words). ``i-j`` may carry a probability (``i-j:0.9``) or use ``p`` for possible
    links (``i-j`` and ``ipj`` are read alike)."""
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        pairs = []
        for item in line.split():
            a, sep, b = item.split(":")[0].replace("p", "-").partition("-")
            if not (sep and a.isdigit() and b.isdigit()):
                raise DataFormatError(f"bad alignment {item!r}", path=path, line=n,
                                      expected="space-separated 0-based pairs SRC-TGT, e.g. '0-0 1-2 2-1'")
            pairs.append((int(a), int(b)))
        out.append(pairs)
    return out


def read_parallel(source: str | Path, target: str | Path, alignment: str | Path, *,
                  source_lang: str = "src", target_lang: str = "tgt") -> ParallelCorpus:
    """Parallel corpora from files: ``source`` / ``target`` as whitespace-tokenised text (one
    sentence per line) or CoNLL-U (by suffix), ``alignment`` in the Pharaoh format
    (:func:`read_alignment`).

    Raises
    ------
    DataFormatError
        Different sentence or alignment-line counts (naming the first sentence without a
        partner), or the first alignment pointing past a sentence's words (sentence index, pair
        and the word it could reach).
    """
    source, target, alignment = Path(source), Path(target), Path(alignment)
    src, tgt = _read_side(source, source_lang), _read_side(target, target_lang)
    links = read_alignment(alignment)
    counts = {source: len(src), target: len(tgt), alignment: len(links)}
    if len(set(counts.values())) > 1:
        first = min(counts.values())
        longer = [str(p) for p, c in counts.items() if c > first]
        raise DataFormatError(
            "parallel files differ in length: " + ", ".join(f"{p} has {c}" for p, c in counts.items())
            + f"; the first sentence without a partner is number {first} (0-based) of {', '.join(longer)}")
    for i, (s, t, pairs) in enumerate(zip(src, tgt, links)):
        for a, b in pairs:
            if a >= len(s) or b >= len(t):
                side, word, words = ("source", a, s) if a >= len(s) else ("target", b, t)
                raise DataFormatError(
                    f"sentence {i}: alignment {a}-{b} points to {side} word {word}, but the {side} sentence has "
                    f"{len(words)} words ({' '.join(words.tokens)!r})", path=alignment, line=i + 1)
    return ParallelCorpus(src, tgt, links)
