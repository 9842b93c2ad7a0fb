"""Tiny random models with real tokenizers, built offline in a second: for tests and examples.

>>> folder = save_tiny("bert", "/tmp/tiny-bert")   # doctest: +SKIP

Families: ``bert``, ``roberta``, ``distilbert``, ``electra``, ``deberta-v2``, ``gpt2``, ``llama``,
``t5`` (encoder used), ``bart`` (encoder used). Each gets the tokenizer style of its real
counterpart: WordPiece, byte-level BPE or SentencePiece-style (Metaspace + Unigram), trained on a
small built-in corpus with the ``tokenizers`` library.
"""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "The quick brown fox jumps over the lazy dog near the river bank .",
    "Café owners in Zürich said the naïve résumé was déjà vu for everyone !",
    "Prices rose 12.5 % to $ 1,234.56 on 2024-03-01 , analysts reported .",
    "She didn't know whether the committee would approve the proposal or not .",
    "Emoji 😀 and symbols # @ & % are part of modern text 🚀 .",
    "Internationalization and antidisestablishmentarianism are long words .",
    "They have been walking to the old station every morning since May .",
    "A new study of protein folding was published by the university lab .",
] * 4

FAMILY_TOKENIZER = {
    "bert": "wordpiece", "distilbert": "wordpiece", "electra": "wordpiece",
    "roberta": "bytelevel", "gpt2": "bytelevel", "bart": "bytelevel",
    "llama": "sentencepiece", "t5": "sentencepiece", "deberta-v2": "sentencepiece",
}


def tiny_tokenizer(kind: str):
    """A trained ``PreTrainedTokenizerFast`` of style ``wordpiece``/``bytelevel``/``sentencepiece``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=220, special_tokens=specials))
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
        names = dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                     mask_token="[MASK]")
    elif kind == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
        names = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                     mask_token="<mask>", cls_token="<s>", sep_token="</s>")
    elif kind == "sentencepiece":
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        specials = ["<pad>", "</s>", "<unk>", "<s>"]
        tok.train_from_iterator(CORPUS, trainers.UnigramTrainer(
            vocab_size=300, special_tokens=specials, unk_token="<unk>"))
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
        names = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **names)


def tiny_model(family: str, vocab_size: int, *, seed: int = 0, max_positions: int = 64):
    """A randomly initialised 2-layer model of ``family`` with hidden size 32."""
    import transformers as tf

    torch.manual_seed(seed)
    common = dict(vocab_size=vocab_size)
    configs = {
        "bert": lambda: tf.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=max_positions, **common),
        "electra": lambda: tf.ElectraConfig(hidden_size=32, embedding_size=16, num_hidden_layers=2,
                                            num_attention_heads=2, intermediate_size=64,
                                            max_position_embeddings=max_positions, **common),
        "roberta": lambda: tf.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                            intermediate_size=64, pad_token_id=1,
                                            max_position_embeddings=max_positions + 2, **common),
        "distilbert": lambda: tf.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                                  max_position_embeddings=max_positions, **common),
        "deberta-v2": lambda: tf.DebertaV2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                 intermediate_size=64, max_position_embeddings=max_positions,
                                                 **common),
        "gpt2": lambda: tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=max_positions,
                                      bos_token_id=0, eos_token_id=2, **common),
        "llama": lambda: tf.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=1, intermediate_size=64,
                                        max_position_embeddings=max_positions, **common),
        "t5": lambda: tf.T5Config(d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=1,
                                  num_heads=2, **common),
        "bart": lambda: tf.BartConfig(d_model=32, encoder_layers=2, decoder_layers=1,
                                      encoder_attention_heads=2, decoder_attention_heads=2,
                                      encoder_ffn_dim=64, decoder_ffn_dim=64,
                                      max_position_embeddings=max_positions, **common),
    }
    if family not in configs:
        raise ValueError(f"unknown family {family!r}; choose from {sorted(configs)}")
    model = tf.AutoModel.from_config(configs[family]())
    return model.eval()


def save_tiny(family: str, folder: str | Path, *, seed: int = 0, tokenizer: str | None = None) -> Path:
    """Save a tiny ``family`` model and its tokenizer to ``folder`` (a normal HF checkpoint)."""
    folder = Path(folder)
    tok = tiny_tokenizer(tokenizer or FAMILY_TOKENIZER[family])
    model = tiny_model(family, len(tok), seed=seed)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
