"""Train a tokenizer with the ``tokenizers`` library and save it as a standard fast tokenizer.

WordPiece (BERT-style, ``[CLS] ... [SEP]``) for masked-LM models, byte-level BPE (GPT-2-style,
``<|endoftext|>``) for causal-LM models. The result loads with ``AutoTokenizer.from_pretrained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from probekit.errors import ConfigError

WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_SPECIAL = "<|endoftext|>"


def train_tokenizer(
    texts: Iterable[str],
    kind: str = "wordpiece",
    vocab_size: int = 8000,
    out_dir: str | Path | None = None,
    *,
    lowercase: bool = False,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer on ``texts``.

    Parameters
    ----------
    texts : iterable of str
        Training text (streamed once).
    kind : {"wordpiece", "bpe"}
        WordPiece for MLM models, byte-level BPE for CLM models.
    vocab_size : int
        Target vocabulary size (including special tokens).
    out_dir : path, optional
        Where to ``save_pretrained`` the tokenizer.
    lowercase : bool
        Lowercase before WordPiece (BERT-uncased style).
    """
    if kind == "wordpiece":
        normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        vocab = _wordpiece_vocab(list(texts), vocab_size, normalizer)
        tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok = _canonical_ids(tok, WORDPIECE_SPECIALS)
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        tok.decoder = decoders.WordPiece()
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
            sep_token="[SEP]", mask_token="[MASK]", model_max_length=100_000)
    elif kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BPE_SPECIAL],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(texts, trainer)
        tok = _canonical_ids(tok, [BPE_SPECIAL])
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.decoder = decoders.ByteLevel()
        # GPT-2 has no padding token; reusing end-of-text is the usual convention.
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token=BPE_SPECIAL, eos_token=BPE_SPECIAL,
            unk_token=BPE_SPECIAL, pad_token=BPE_SPECIAL, model_max_length=100_000)
    else:
        raise ConfigError(f"unknown tokenizer kind {kind!r}; expected 'wordpiece' (MLM) or 'bpe' (CLM)")
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def _wordpiece_vocab(texts: list[str], vocab_size: int, normalizer) -> dict[str, int]:
    """A WordPiece vocabulary learned by BPE merges, as the ``tokenizers`` WordPieceTrainer learns
    it, but the same in every process.

    The WordPieceTrainer numbers its ``##`` continuation symbols in hash-map order and breaks
    frequency ties by those numbers, so two processes get different vocabularies (a handful of
    rare pieces; enough to move a small model's fine-tuning results). Plain BPE without a prefix
    is deterministic: train it, segment every word type with it, mark non-initial pieces ``##``,
    and keep every character (so no word is unknown), then those pieces by frequency (ties in
    alphabetical order), then the other merges.
    """
    from collections import Counter

    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter(w for t in texts for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(t)))
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.normalizer, bpe.pre_tokenizer = normalizer, pre
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"],
                                                       show_progress=False))
    pieces: Counter = Counter()
    chars: set[str] = set()
    for word, n in words.items():
        for i, tok in enumerate(bpe.model.tokenize(word)):
            piece = tok.value if i == 0 else "##" + tok.value
            pieces[piece] += n
        chars.update([word[0]] + ["##" + c for c in word[1:]])
    keep = WORDPIECE_SPECIALS + sorted(chars)
    keep += sorted((p for p in pieces if p not in chars), key=lambda p: (-pieces[p], p))
    # Then the intermediate merges (in merge order, both positions): they segment words the
    # corpus never had, e.g. a new domain's terms, into pieces rather than characters.
    merged = sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])
    seen = set(keep)
    for piece, _ in merged:
        for form in (piece, "##" + piece):
            if len(piece) > 1 and form not in seen:
                keep.append(form)
                seen.add(form)
    return {p: i for i, p in enumerate(keep[:max(vocab_size, len(WORDPIECE_SPECIALS) + len(chars))])}


def _canonical_ids(tok: Tokenizer, specials: list[str]) -> Tokenizer:
    """Re-number the vocabulary: specials first, then the rest sorted.

    The ``tokenizers`` trainers assign ids in hash-map order, so two runs on the same text give
    the same vocabulary under different ids; fixed ids make pre-training reproducible across
    processes (and a resumed run identical to an uninterrupted one). Encoding does not depend on
    id order (WordPiece: longest match; BPE: merge ranks, which are kept).
    """
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    rest = sorted(t for t in vocab if t not in specials)
    spec["model"]["vocab"] = {t: i for i, t in enumerate([t for t in specials if t in vocab] + rest)}
    for added in spec.get("added_tokens", []):
        added["id"] = spec["model"]["vocab"][added["content"]]
    return Tokenizer.from_str(json.dumps(spec))
