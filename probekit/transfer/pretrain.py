"""Language-model pre-training from scratch: masked LM (BERT) and causal LM (GPT-2).

Text is tokenized once and *packed*: sentences are concatenated with a separator and cut into
full-length blocks, so no step wastes compute on padding. MLM masks 15% of the non-special
tokens, replacing 80% of those with ``[MASK]``, 10% with a random token and leaving 10% unchanged
(Devlin et al. 2019); the choice is drawn per step from a generator seeded with ``(seed, step)``.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from probekit.errors import ConfigError, ProbekitError
from probekit.transfer import lineage
from probekit.transfer.trainer import (
    TrainConfig, barrier, dist_setup, latest_resumable, step_generator, train_loop)

# name -> (layers, hidden, heads); intermediate = 4 x hidden unless given.
SIZES = {"tiny": (2, 64, 2), "mini": (2, 128, 2), "small": (4, 256, 4), "medium": (8, 512, 8),
         "base": (12, 768, 12)}
OBJECTIVES = {"mlm": "bert", "clm": "gpt2"}


@dataclass
class ModelConfig:
    """Architecture of a model trained from scratch.

    ``arch`` is ``"bert"`` (masked LM) or ``"gpt2"`` (causal LM); ``max_len`` is the number of
    position embeddings (>= the training sequence length).
    """

    arch: str = "bert"
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int | None = None
    max_len: int = 128
    dropout: float = 0.1

    @classmethod
    def from_size(cls, size: str, arch: str = "bert", **overrides: Any) -> "ModelConfig":
        if size not in SIZES:
            raise ConfigError(f"unknown model size {size!r}; expected one of {sorted(SIZES)}")
        layers, hidden, heads = SIZES[size]
        # explicit layers/hidden/heads (a suite stage's keys) override the size's
        return cls(arch=arch, **{"layers": layers, "hidden": hidden, "heads": heads, **overrides})


def build_model(cfg: ModelConfig, tokenizer: Any) -> torch.nn.Module:
    """A randomly initialised HF model with an LM head, sized by ``cfg``, for ``tokenizer``."""
    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    inter = cfg.intermediate or 4 * cfg.hidden
    if cfg.hidden % cfg.heads:
        raise ConfigError(f"hidden size {cfg.hidden} must divide by the number of heads {cfg.heads}")
    if cfg.arch == "bert":
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                            num_attention_heads=cfg.heads, intermediate_size=inter,
                            max_position_embeddings=cfg.max_len, hidden_dropout_prob=cfg.dropout,
                            attention_probs_dropout_prob=cfg.dropout, pad_token_id=tokenizer.pad_token_id)
        return BertForMaskedLM(config)
    if cfg.arch == "gpt2":
        config = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg.max_len, n_embd=cfg.hidden,
                            n_layer=cfg.layers, n_head=cfg.heads, n_inner=inter, resid_pdrop=cfg.dropout,
                            embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
        return GPT2LMHeadModel(config)
    raise ConfigError(f"unknown architecture {cfg.arch!r}; expected 'bert' (MLM) or 'gpt2' (CLM)")


def check_vocab(tokenizer: Any, model: torch.nn.Module, where: str = "") -> None:
    """Refuse a tokenizer whose ids do not fit the model's embedding matrix."""
    n_embed = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > n_embed:
        raise ProbekitError(
            f"tokenizer/model vocabulary mismatch{where}: the tokenizer has {len(tokenizer)} tokens "
            f"but the model embeds only {n_embed}; fix: use the tokenizer saved with the checkpoint")


def read_texts(corpus: str | Path | Iterable[str]) -> list[str]:
    """Corpus as a list of non-empty texts: a list/iterable of strings, a text file (one text per
    line) or a folder of ``.txt`` files (read with :func:`probekit.data.text.iter_text`)."""
    if isinstance(corpus, (str, Path)):
        from probekit.data.text import iter_text

        corpus = iter_text(corpus)
    return [t for t in (s.strip() for s in corpus) if t]


# ----------------------------------------------------------------------------- data


def pack(tokenizer: Any, texts: list[str], seq_len: int, objective: str) -> torch.Tensor:
    """Tokenize ``texts`` and cut the concatenation into full blocks.

    Returns
    -------
    LongTensor of shape (n_blocks, seq_len)
        MLM: ``[CLS] w w [SEP] w ... `` (one ``[CLS]`` per block, ``[SEP]`` between texts);
        CLM: ``w w <eos> w ...``. A trailing partial block is dropped.
    """
    sep = tokenizer.sep_token_id if objective == "mlm" else tokenizer.eos_token_id
    chunks = []
    for i in range(0, len(texts), 2000):
        for ids in tokenizer(texts[i:i + 2000], add_special_tokens=False)["input_ids"]:
            chunks.append(np.asarray(ids + [sep], dtype=np.int64))
    stream = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    body = seq_len - 1 if objective == "mlm" else seq_len
    n_blocks = len(stream) // body
    blocks = torch.from_numpy(stream[:n_blocks * body].reshape(n_blocks, body).copy())
    if objective == "mlm":
        blocks = torch.cat([torch.full((n_blocks, 1), tokenizer.cls_token_id), blocks], dim=1)
    return blocks


def mask_tokens(ids: torch.Tensor, *, mask_id: int, vocab_size: int, special_ids: list[int],
                generator: torch.Generator, prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of a batch of token ids.

    Parameters
    ----------
    ids : LongTensor (batch, seq)
    Returns
    -------
    inputs : LongTensor (batch, seq)
        ``ids`` with the selected positions replaced (80% ``mask_id``, 10% random, 10% kept).
    labels : LongTensor (batch, seq)
        The original id at selected positions, -100 elsewhere (ignored by the loss).
    """
    probs = torch.full(ids.shape, prob)
    probs[torch.isin(ids, torch.tensor(special_ids))] = 0.0
    selected = torch.bernoulli(probs, generator=generator).bool()
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[selected & (roll < 0.8)] = mask_id
    swap = selected & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels


class MLMObjective:
    """Masked-LM objective over packed blocks (see :mod:`probekit.transfer.trainer`)."""

    name = "mlm"

    def __init__(self, blocks: torch.Tensor, tokenizer: Any, seed: int = 0, prob: float = 0.15) -> None:
        self.blocks, self.seed, self.prob = blocks, seed, prob
        self.n_items = len(blocks)
        self.mask_id = tokenizer.mask_token_id
        self.vocab_size = len(tokenizer)
        self.special_ids = sorted(set(tokenizer.all_special_ids))

    def batch(self, indices: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        inputs, labels = mask_tokens(self.blocks[indices], mask_id=self.mask_id, vocab_size=self.vocab_size,
                                     special_ids=self.special_ids, generator=step_generator(self.seed, step),
                                     prob=self.prob)
        return {"input_ids": inputs, "labels": labels}

    def normalizer(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return (batch["labels"] != -100).sum().clamp(min=1)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to train: scores only the masked positions when the head allows it."""
        return MaskedPositionsLM(model) if MaskedPositionsLM.supports(model) else model

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], norm: torch.Tensor) -> torch.Tensor:
        logits, labels = _mlm_logits(model, batch)
        return F.cross_entropy(logits.float(), labels, ignore_index=-100, reduction="sum") / norm


class MaskedPositionsLM(torch.nn.Module):
    """A masked LM whose output layer runs on the masked positions only.

    The vocabulary projection of all positions is over half the compute of a small BERT step;
    85% of it is thrown away by the loss. Shares the wrapped model's parameters.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        # Only the two halves are registered (registering ``model`` too would list every
        # parameter twice, which DistributedDataParallel's gradient buckets do not expect).
        self.base = getattr(model, model.base_model_prefix)
        self.head = getattr(model, "cls", None) or getattr(model, "lm_head")

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        prefix = getattr(model, "base_model_prefix", None)
        return bool(prefix) and hasattr(model, prefix) and (hasattr(model, "cls") or hasattr(model, "lm_head"))

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.base(input_ids=input_ids).last_hidden_state
        keep = labels != -100
        return self.head(hidden[keep]), labels[keep]


def _mlm_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits (n, vocab), labels (n,))``: masked positions only for a wrapped model, else all."""
    inner = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    if isinstance(inner, MaskedPositionsLM):
        return model(batch["input_ids"], batch["labels"])
    return model(input_ids=batch["input_ids"]).logits.flatten(0, 1), batch["labels"].flatten()


class CLMObjective:
    """Causal-LM objective over packed blocks: predict token t+1 from tokens <= t."""

    name = "clm"

    def __init__(self, blocks: torch.Tensor, tokenizer: Any = None, seed: int = 0) -> None:
        self.blocks, self.seed = blocks, seed
        self.n_items = len(blocks)

    def batch(self, indices: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[indices]}

    def normalizer(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["input_ids"]
        return torch.tensor(ids.shape[0] * (ids.shape[1] - 1))

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], norm: torch.Tensor) -> torch.Tensor:
        ids = batch["input_ids"]
        logits = model(input_ids=ids).logits[:, :-1]
        return F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="sum") / norm


def make_objective(name: str, blocks: torch.Tensor, tokenizer: Any, seed: int) -> MLMObjective | CLMObjective:
    if name == "mlm":
        return MLMObjective(blocks, tokenizer, seed)
    if name == "clm":
        return CLMObjective(blocks, tokenizer, seed)
    raise ConfigError(f"unknown objective {name!r}; expected 'mlm' or 'clm'")


@torch.no_grad()
def evaluate_lm(model: torch.nn.Module, objective: MLMObjective | CLMObjective, batch_size: int = 32) -> dict[str, float]:
    """Held-out loss and perplexity of ``model`` on all blocks of ``objective``; MLM masks are
    drawn from one fixed generator, so every evaluation (and every model) sees the same masks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    full = objective.batch(torch.arange(objective.n_items), step=-1)
    net = objective.wrap(model) if hasattr(objective, "wrap") else model
    total, count = 0.0, 0
    for i in range(0, objective.n_items, batch_size):
        part = {k: v[i:i + batch_size].to(device) for k, v in full.items()}
        norm = objective.normalizer(part)
        total += objective.loss(net, part, torch.ones(())).item()
        count += int(norm)
    model.train(was_training)
    loss = total / max(1, count)
    return {"eval_loss": loss, "eval_perplexity": math.exp(min(loss, 50.0))}


def lm_loss(checkpoint: str | Path, texts: Iterable[str] | str | Path, *, seq_len: int = 128,
            seed: int = 1234, max_blocks: int = 256) -> dict[str, float]:
    """Held-out LM loss of a saved checkpoint on ``texts`` (same masks for every checkpoint
    given the same seed), e.g. to compare a domain-adapted model with its general parent."""
    from transformers import AutoTokenizer

    model, objective_name, _ = load_lm(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    blocks = pack(tokenizer, read_texts(texts), seq_len, objective_name)[:max_blocks]
    if len(blocks) == 0:
        raise ProbekitError(f"evaluation text shorter than one block of {seq_len} tokens")
    return evaluate_lm(model, make_objective(objective_name, blocks, tokenizer, seed))


def is_causal(config: Any) -> bool:
    """Whether a model config describes a left-to-right (causal) model, whose position t sees
    only tokens <= t."""
    archs = " ".join(getattr(config, "architectures", None) or [])
    return ("CausalLM" in archs or "LMHead" in archs or bool(getattr(config, "is_decoder", False))
            or config.model_type in ("gpt2", "llama", "mistral", "qwen2"))


def load_lm(checkpoint: str | Path, objective: str | None = None) -> tuple[torch.nn.Module, str, list[str]]:
    """Load ``checkpoint`` with an LM head; returns ``(model, objective, notes)``.

    A checkpoint without an LM head (e.g. the sentence-embedding model all-MiniLM-L6-v2) gets a
    freshly initialised head; this is said in a warning and in the returned notes.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

    config = AutoConfig.from_pretrained(str(checkpoint))
    if objective is None:
        objective = "clm" if is_causal(config) else "mlm"
    cls = AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
    with quiet_hf():
        model, info = cls.from_pretrained(str(checkpoint), output_loading_info=True)
    base = model.base_model_prefix
    fresh = sorted(k for k in info["missing_keys"] if not k.startswith(base + "."))
    notes = []
    if fresh:
        notes.append(f"{checkpoint} has no {objective.upper()} head; initialised a fresh one "
                     f"({len(fresh)} tensors: {', '.join(fresh[:3])}{', ...' if len(fresh) > 3 else ''})")
        warnings.warn(notes[-1], stacklevel=2)
    return model, objective, notes


# ------------------------------------------------------------------------------ stages


def parent_fingerprint(path: str | Path) -> str:
    """Fingerprint of a parent checkpoint: its lineage fingerprint, else the content identity of
    its config, weights and tokenizer (an external HF model has no lineage; never mtimes)."""
    from probekit.cache import fingerprint
    from probekit.extract.models import folder_identity

    rec = lineage.read_record(path)
    if rec and rec.get("fingerprint"):
        return rec["fingerprint"]
    return fingerprint(folder_identity(Path(path)))


def stage_record(stage: str, objective: str | None, config: dict[str, Any], data_fp: str,
                 parent: str | Path | None, seed: int) -> dict[str, Any]:
    config = json.loads(json.dumps(config, default=str))  # as it will read back from probekit.json
    parent_path = str(Path(parent).resolve()) if parent else None
    parent_fp = parent_fingerprint(parent) if parent else None
    return {"stage": stage, "objective": objective, "parent": parent_path, "parent_fingerprint": parent_fp,
            "data_fingerprint": data_fp, "config": config, "seed": seed,
            "fingerprint": lineage.fingerprint(stage, objective, config, data_fp, parent_fp, seed)}


def begin_stage(out_dir: str | Path, record: dict[str, Any], overwrite: bool = False) -> dict[str, Any] | None:
    """Skip-if-done check. Returns the existing record when ``out_dir`` already holds this exact
    stage (same fingerprint); refuses a completed stage of another configuration unless
    ``overwrite``; otherwise returns ``None`` (run the stage, resuming if it was interrupted)."""
    import shutil

    out_dir = Path(out_dir)
    old = lineage.read_record(out_dir)
    if old and old.get("status") == "complete":
        if old.get("fingerprint") == record["fingerprint"] and not overwrite:
            return old
        if not overwrite:
            keys = ("stage", "objective", "config", "data_fingerprint", "parent", "seed")
            diffs = lineage.config_difference({k: old.get(k) for k in keys}, {k: record.get(k) for k in keys})
            raise ProbekitError(f"{out_dir} already holds a completed {old.get('stage')} stage with a different "
                                f"configuration ({'; '.join(diffs) or 'fingerprint differs'}); fix: choose "
                                "another output folder or pass --overwrite")
    if overwrite and out_dir.exists():
        rank, _, _ = dist_setup()
        if rank == 0:
            shutil.rmtree(out_dir)
        barrier()
    return None


def finish_stage(out_dir: str | Path, model: torch.nn.Module, save_model: Any, record: dict[str, Any],
                 metrics: dict[str, Any], history: list[dict[str, Any]], steps: int,
                 notes: list[str] = ()) -> dict[str, Any]:
    """Save the final checkpoint (temp folder, then files renamed in; ``probekit.json`` last)."""
    out_dir = Path(out_dir)
    full = {**record, "status": "complete", "steps": steps, "metrics": metrics, "history": history,
            "notes": list(notes), "versions": lineage.library_versions()}
    rank, _, _ = dist_setup()
    if rank == 0:
        def write(tmp: Path) -> None:
            save_model(model, tmp)
            lineage.write_record(tmp, full)

        lineage.atomic_publish(out_dir, write)
        for state in (out_dir / lineage.CHECKPOINTS).glob("step-*/train_state.*"):
            state.unlink()  # the stage is complete: optimiser moments are no longer needed
    barrier()
    return full


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence transformers' load/save reports and progress bars; probekit reports what matters
    (e.g. a freshly initialised head) itself."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def save_hf(model: torch.nn.Module, tokenizer: Any, folder: Path) -> None:
    """``save_pretrained`` of model (safetensors: the only format transformers 5 writes) and tokenizer."""
    with quiet_hf():
        model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def run_lm_stage(*, stage: str, model: torch.nn.Module, tokenizer: Any, objective: str, train_texts: list[str],
                 eval_texts: list[str], out_dir: Path, train: TrainConfig, seq_len: int, record: dict[str, Any],
                 notes: list[str] = ()) -> dict[str, Any]:
    """Shared body of :func:`pretrain` and :func:`probekit.transfer.adapt.adapt`."""
    check_vocab(tokenizer, model)
    max_pos = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if max_pos is not None and seq_len > max_pos:
        raise ConfigError(f"seq_len {seq_len} exceeds the model's {max_pos} positions; fix: --seq-len {max_pos}")
    blocks = pack(tokenizer, train_texts, seq_len, objective)
    if len(blocks) < train.batch_size:
        n_tok = int(blocks.numel())
        raise ProbekitError(
            f"corpus too small for {stage}: {len(train_texts)} texts give {n_tok} tokens = {len(blocks)} "
            f"blocks of {seq_len}, fewer than one batch of {train.batch_size}; fix: more text, or a smaller "
            "--batch-size / --seq-len")
    eval_blocks = pack(tokenizer, eval_texts, seq_len, objective)[:512] if eval_texts else blocks[:0]
    eval_obj = make_objective(objective, eval_blocks, tokenizer, train.seed) if len(eval_blocks) else None

    def save(m: torch.nn.Module, folder: Path) -> None:
        save_hf(m, tokenizer, folder)

    metrics, history = train_loop(
        model, make_objective(objective, blocks, tokenizer, train.seed), train, out_dir, record=record,
        save_model=save, evaluate=(lambda m: evaluate_lm(m, eval_obj)) if eval_obj else None,
        desc=f"{stage} {out_dir.name}")
    metrics.update(train_blocks=len(blocks), train_tokens=int(blocks.numel()))
    return finish_stage(out_dir, model, save, record, metrics, history, train.steps, notes)


def split_eval(texts: list[str], eval_texts: Iterable[str] | None, fraction: float) -> tuple[list[str], list[str]]:
    if eval_texts is not None:
        return texts, read_texts(eval_texts)
    n_eval = int(len(texts) * fraction)
    return (texts[:len(texts) - n_eval], texts[len(texts) - n_eval:]) if n_eval else (texts, [])


def pretrain(
    corpus: str | Path | Iterable[str],
    out_dir: str | Path,
    *,
    objective: str = "mlm",
    model: ModelConfig | None = None,
    train: TrainConfig | None = None,
    seq_len: int = 128,
    vocab_size: int = 8000,
    tokenizer: str | Path | None = None,
    vocab_texts: str | Path | Iterable[str] | None = None,
    eval_texts: Iterable[str] | None = None,
    eval_fraction: float = 0.05,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Stage 1: train a tokenizer (unless one is given) and an LM from scratch on ``corpus``.

    Parameters
    ----------
    corpus : list of str, text file or folder of .txt
    out_dir : path
        Stage folder: final checkpoint at the top, intermediate ones in ``checkpoints/step-N``.
    objective : {"mlm", "clm"}
        MLM trains a BERT with a WordPiece tokenizer; CLM a GPT-2 with byte-level BPE.
    vocab_texts : list of str, text file or folder of .txt, optional
        More text for the tokenizer only (not for the LM), e.g. the domain corpora a later
        stage adapts to, so that their words get whole-word entries instead of characters.
    eval_texts : optional
        Held-out text; by default the last ``eval_fraction`` of ``corpus``.

    Returns
    -------
    dict
        The stage's lineage record (``probekit.json``), with final ``metrics``.
    """
    from transformers import AutoTokenizer

    from probekit.transfer.tokenizer import train_tokenizer

    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; expected 'mlm' or 'clm'")
    model_cfg = model or ModelConfig(arch=OBJECTIVES[objective], max_len=max(128, seq_len))
    if OBJECTIVES[objective] != model_cfg.arch:
        raise ConfigError(f"objective {objective} needs arch {OBJECTIVES[objective]!r}, got {model_cfg.arch!r}")
    train = train or TrainConfig()
    texts, held_out = split_eval(read_texts(corpus), eval_texts, eval_fraction)
    if not texts:
        raise ProbekitError("empty corpus: no non-blank text to pre-train on; fix: check the corpus path")
    out_dir = Path(out_dir)
    if vocab_texts is not None and tokenizer is not None:
        raise ConfigError("vocab_texts shapes the tokenizer that pretrain trains, but a tokenizer was given; "
                          "fix: drop one of --vocab-also / --tokenizer")
    extra = read_texts(vocab_texts) if vocab_texts is not None else []
    data_fp = lineage.texts_fingerprint(texts + ["\0held-out"] + held_out + (["\0vocab"] + extra if extra else []))
    config = {"model": asdict(model_cfg), "train": asdict(train), "seq_len": seq_len,
              "vocab_size": vocab_size, "tokenizer": lineage.tokenizer_fingerprint(tokenizer)}
    record = stage_record("pretrain", objective, config, data_fp, None, train.seed)
    done = begin_stage(out_dir, record, overwrite)
    if done is not None:
        print(f"[pretrain] {out_dir}: already complete with the same fingerprint, skipped")
        return done
    resumable = latest_resumable(out_dir)
    if tokenizer is not None or resumable is not None:  # a resumed run keeps its tokenizer
        tok = AutoTokenizer.from_pretrained(str(tokenizer or resumable))
    else:
        # The tokenizers trainers are multi-threaded and can break frequency ties differently from
        # run to run: under DDP, rank 0 trains and every rank uses its vocabulary.
        rank, world, _ = dist_setup()
        kind = "wordpiece" if objective == "mlm" else "bpe"
        tok = train_tokenizer(texts + extra, kind, vocab_size) if rank == 0 else None
        if world > 1:
            box = [tok]
            torch.distributed.broadcast_object_list(box, src=0)
            tok = box[0]
    torch.manual_seed(train.seed)
    net = build_model(model_cfg, tok)
    return run_lm_stage(stage="pretrain", model=net, tokenizer=tok, objective=objective, train_texts=texts,
                        eval_texts=held_out, out_dir=out_dir, train=train, seq_len=seq_len, record=record)
