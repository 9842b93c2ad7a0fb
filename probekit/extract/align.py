"""Words -> subword tokens -> windows: everything needed to map hidden states back to words.

Alignment uses the fast tokenizer's ``word_ids`` on pre-tokenized input
(``is_split_into_words=True``), so a word's subwords are exactly the tokens the tokenizer says
came from it; special tokens (``word_id is None``) never belong to a word.

Policies (documented in the README):

* **Zero-subword words** (``""``, zero-width spaces, control characters a normalizer deletes):
  they keep their row, their vector is all zeros and ``index.n_subwords == 0`` marks them; the
  count is reported in ``LayerReps.stats["zero_subword_words"]``. No other word shifts.
* **Empty texts** (no words) have no word rows; their sentence vector is zeros; counted in
  ``stats["empty_texts"]``. Texts whose words *all* tokenize to nothing are not run through
  the model either: zero vectors, counted in ``stats["untokenizable_texts"]``.
* **Long texts**: content tokens are split into windows of at most ``capacity`` tokens (the
  model's maximum minus its special tokens), cut at word boundaries, consecutive windows starting
  ``stride`` tokens apart (the last one aligned to the end of the text). Every window gets the
  model's own special tokens. Each word takes its vector from the window where it has the most
  context (the largest distance to a window edge that is not the text's own edge). Nothing is
  ever truncated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from probekit.errors import ConfigError, DataFormatError, ProbekitError


def as_words(item: Any, position: int) -> list[str]:
    """Words of one input text: a list of strings, or any record with ``.tokens``."""
    words = getattr(item, "tokens", item)
    if isinstance(words, str):
        raise ConfigError(
            f"text {position} is a string; extract() takes pre-tokenized texts (lists of words), "
            "e.g. [s.split() for s in strings], or Sentence/EdgeRecord objects"
        )
    try:
        words = list(words)
    except TypeError:
        raise ConfigError(
            f"text {position} is a {type(item).__name__}; expected a list of words, a Sentence "
            "or an EdgeRecord"
        ) from None
    for j, w in enumerate(words):
        if not isinstance(w, str):
            raise DataFormatError(
                f"text {position}, word {j} is {type(w).__name__} {w!r}", expected="str words"
            )
    return words


def iter_words(texts: Iterable[Any]) -> Iterator[list[str]]:
    for position, item in enumerate(texts):
        yield as_words(item, position)


class TextDigest:
    """Streaming content hash of a corpus of word lists (order and word boundaries matter)."""

    def __init__(self) -> None:
        self._h = hashlib.blake2b(digest_size=20)
        self.n_texts = 0

    def update(self, words: list[str]) -> None:
        self._h.update(json.dumps(words, ensure_ascii=False).encode("utf-8"))
        self._h.update(b"\n")
        self.n_texts += 1

    def hexdigest(self) -> str:
        return f"{self.n_texts}:{self._h.hexdigest()}"


@dataclass
class Tokenized:
    """Content tokens of every text in compact flat arrays (memory ~8 bytes per token).

    Attributes
    ----------
    n_words : (n_texts,) int64
    tok_offsets : (n_texts + 1,) int64
        Text ``t``'s content tokens are ``ids[tok_offsets[t]:tok_offsets[t + 1]]``.
    ids, word_of_tok : (n_tokens,) int32
        Token id and the index (within its text) of the word it came from.
    prefix, suffix : list of int
        Special token ids the tokenizer puts before/after every single sequence.
    """

    n_words: np.ndarray
    tok_offsets: np.ndarray
    ids: np.ndarray
    word_of_tok: np.ndarray
    prefix: list[int]
    suffix: list[int]
    digest: str = ""

    @property
    def n_texts(self) -> int:
        return len(self.n_words)

    def tokens_of(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.tok_offsets[t], self.tok_offsets[t + 1]
        return self.ids[a:b], self.word_of_tok[a:b]


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """Ids the tokenizer adds before and after a single pre-tokenized sequence."""
    enc = tokenizer(["probe"], is_split_into_words=True, add_special_tokens=True).encodings[0]
    wid = enc.word_ids
    content = [i for i, w in enumerate(wid) if w is not None]
    if not content:
        return list(enc.ids), []
    return list(enc.ids[: content[0]]), list(enc.ids[content[-1] + 1 :])


def tokenize(tokenizer, texts: Iterable[Any], *, digest: TextDigest | None = None,
             chunk: int = 512) -> Tokenized:
    """Tokenize word lists chunk by chunk into :class:`Tokenized` (optionally hashing them)."""
    prefix, suffix = special_tokens(tokenizer)
    n_words: list[int] = []
    id_parts: list[np.ndarray] = []
    word_parts: list[np.ndarray] = []
    lengths: list[int] = []

    def flush(batch: list[list[str]]) -> None:
        nonempty = [w for w in batch if w]
        encs = (
            tokenizer(nonempty, is_split_into_words=True, add_special_tokens=True).encodings
            if nonempty else []
        )
        it = iter(encs)
        ids_chunk: list[np.ndarray] = []
        words_chunk: list[np.ndarray] = []
        for words in batch:
            n_words.append(len(words))
            if not words:
                lengths.append(0)
                continue
            enc = next(it)
            wid = np.array([-1 if w is None else w for w in enc.word_ids], dtype=np.int32)
            keep = wid >= 0
            ids_chunk.append(np.asarray(enc.ids, dtype=np.int32)[keep])
            words_chunk.append(wid[keep])
            lengths.append(int(keep.sum()))
        if ids_chunk:  # one array per chunk: small arrays cost ~100 bytes of overhead each
            id_parts.append(np.concatenate(ids_chunk))
            word_parts.append(np.concatenate(words_chunk))

    batch: list[list[str]] = []
    for words in iter_words(texts):
        if digest is not None:
            digest.update(words)
        batch.append(words)
        if len(batch) >= chunk:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    empty = np.zeros(0, dtype=np.int32)
    return Tokenized(
        n_words=np.asarray(n_words, dtype=np.int64),
        tok_offsets=offsets,
        ids=np.concatenate(id_parts) if id_parts else empty,
        word_of_tok=np.concatenate(word_parts) if word_parts else empty,
        prefix=prefix,
        suffix=suffix,
        digest=digest.hexdigest() if digest is not None else "",
    )


@dataclass
class Window:
    """Content tokens ``[start, end)`` of one text run as one sequence, and the words it owns."""

    text: int
    start: int
    end: int
    words: np.ndarray  # word indices (within the text) whose vectors come from this window
    first: bool = True  # holds the text's first token (sentence pooling "first")
    last: bool = True  # holds the text's last token (sentence pooling "last")
    tok_ranges: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def length(self) -> int:
        return self.end - self.start


def word_token_ranges(word_of_tok: np.ndarray, n_words: int) -> np.ndarray:
    """``(n_words, 2)`` token range ``[start, end)`` of every word; ``start == end`` if empty."""
    words = np.arange(n_words)
    starts = np.searchsorted(word_of_tok, words, side="left")
    ends = np.searchsorted(word_of_tok, words, side="right")
    return np.stack([starts, ends], axis=1).astype(np.int64)


def plan_windows(text: int, word_of_tok: np.ndarray, n_words: int, capacity: int,
                 stride: int) -> list[Window]:
    """Split one text into windows and assign every word to exactly one of them (see module doc)."""
    n_tok = len(word_of_tok)
    ranges = word_token_ranges(word_of_tok, n_words)
    if n_tok <= capacity:
        return [Window(text, 0, n_tok, np.arange(n_words), True, True, ranges)]
    stride = max(1, min(stride, capacity))
    bounds = np.unique(np.r_[ranges[ranges[:, 1] > ranges[:, 0], 0], n_tok])  # word starts + end
    spans: list[tuple[int, int]] = []
    a = 0
    while True:
        if a + capacity >= n_tok:
            # last window: aligned to the end so its words keep as much left context as possible
            a_last = int(bounds[np.searchsorted(bounds, n_tok - capacity, side="left")])
            spans.append((min(a, a_last), n_tok))
            break
        b = int(bounds[np.searchsorted(bounds, a + capacity, side="right") - 1])
        if b <= a:
            w = int(word_of_tok[a])
            raise ProbekitError(
                f"text {text}: word {w} has {ranges[w, 1] - ranges[w, 0]} subword tokens, more than "
                f"fit in one window ({capacity}); split that word or raise max_length"
            )
        spans.append((a, b))
        nxt = int(bounds[np.searchsorted(bounds, a + stride, side="left")])
        a = min(nxt, b)
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    big = np.iinfo(np.int64).max // 4
    owner = np.zeros(n_words, dtype=np.int64)
    prev = 0
    for w in range(n_words):
        ts, te = ranges[w]
        if te == ts:  # zero-subword word: stays with its neighbour (its vector is zeros anyway)
            owner[w] = prev
            continue
        inside = (starts <= ts) & (ends >= te)
        left = np.where(starts > 0, ts - starts, big)
        right = np.where(ends < n_tok, ends - te, big)
        score = np.where(inside, np.minimum(left, right), -1)
        owner[w] = prev = int(np.argmax(score))
    return [
        Window(text, int(s), int(e), np.flatnonzero(owner == k), s == 0, e == n_tok, ranges)
        for k, (s, e) in enumerate(spans)
    ]
