"""Stage 2: fine-tuning with sequence-, token- and dependency heads on a shared encoder.

One :class:`MultiTaskModel` covers the single-task and the multi-task case: an HF encoder
(``AutoModel``) plus one head per task. Sequence heads read the mean of the non-padding
token vectors (the ``[CLS]`` vector of a model pre-trained with MLM alone is never trained);
token heads read the first sub-word of each word, or its last one in a causal (left-to-right)
model, where only the last has seen the whole word. Dependency heads (:class:`BiaffineDeps`)
read the same sub-word of each word and score every word pair. ``mode="frozen"`` trains the
heads only on the fixed encoder (feature extraction). The saved stage folder is a standard HF checkpoint of the
encoder (``AutoModel.from_pretrained`` loads it, so probing works unchanged) plus
``heads.safetensors`` and the label sets in ``probekit.json``.

Cross-lingual zero-shot transfer is an ``extra_eval`` split in another language: fine-tune on
English, evaluate on French (or a generator pseudo-language) with the labels fixed on the
training split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from probekit.data.records import Sentence
from probekit.errors import ConfigError, ProbekitError
from probekit.extract.models import resolve_model
from probekit.transfer import lineage
from probekit.transfer.pretrain import (
    begin_stage, check_vocab, finish_stage, is_causal, quiet_hf, save_hf, stage_record)
from probekit.transfer.trainer import TrainConfig, train_loop

HEADS_FILE = "heads.safetensors"


@dataclass
class FinetuneTask:
    """Labeled data of one task.

    Parameters
    ----------
    kind : {"sequence", "token", "deps"}
        Sequence: label in ``Sentence.labels[label_key]``. Token: per-word labels in the attribute
        ``label_key`` of :class:`~probekit.data.records.Sentence` (e.g. ``"upos"``). Deps: each
        word's head (``Sentence.heads``) and relation (attribute ``label_key``, e.g. ``"deprels"``).
    extra_eval : dict
        More evaluation splits, e.g. ``{"test_fr": french_sentences}`` for zero-shot transfer.
    """

    name: str
    kind: str
    train: list[Sentence]
    dev: list[Sentence] = field(default_factory=list)
    test: list[Sentence] = field(default_factory=list)
    label_key: str = "downstream"
    extra_eval: dict[str, list[Sentence]] = field(default_factory=dict)
    gold: dict[tuple[str, str], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("sequence", "token", "deps"):
            raise ConfigError(f"task {self.name}: kind {self.kind!r}, expected 'sequence', 'token' or 'deps'")

    @classmethod
    def from_probing_task(cls, task: str, train: Sequence[Sentence], dev: Sequence[Sentence] = (),
                          test: Sequence[Sentence] = ()) -> "FinetuneTask":
        """The fine-tuning version of a probing task (token and sentence tasks), with the same
        gold labels the probes and feature heads see: a token task labels its target words
        (other words are not trained or scored), a sentence task keeps the sentences it labels.
        """
        from probekit.tasks import get_task

        probing = get_task(task)
        if probing.kind not in ("token", "sentence"):
            raise ConfigError(f"task {task!r} is a {probing.kind} task; fine-tuning covers token and sentence "
                              "tasks (span tasks: compare feature heads only)")
        gold: dict[tuple[str, str], Any] = {}
        splits = {}
        for split, sents in (("train", train), ("dev", dev), ("test", test)):
            sents = list(sents)
            ids = [s.id for s in sents]
            if len(set(ids)) != len(ids):
                raise ProbekitError(f"task {task!r}: sentence ids of split {split!r} are not unique; "
                                    "fine-tuning keys gold labels by sentence id")
            if not sents:
                splits[split] = []
                continue
            data = probing.examples(sents)
            by_id = {r.id: r for r in data.records}
            kept = []
            for s in sents:
                rec = by_id.get(s.id)
                if probing.kind == "sentence":
                    if rec is not None:
                        gold[(split, s.id)] = rec.targets[0].label
                        kept.append(s)
                else:
                    tags: list[str | None] = [None] * len(s.tokens)
                    for t in (rec.targets if rec is not None else []):
                        tags[t.span1[0]] = t.label
                    gold[(split, s.id)] = tags
                    kept.append(s)
            splits[split] = kept
        return cls(task, "sequence" if probing.kind == "sentence" else "token", splits["train"],
                   splits["dev"], splits["test"], label_key=f"probing:{task}", gold=gold)

    def labels_of(self, sent: Sentence, split: str) -> list[str] | str:
        if self.gold is not None:
            if (split, sent.id) not in self.gold:
                raise ProbekitError(f"task {self.name}: sentence {sent.id!r} of split {split!r} has no gold labels")
            return self.gold[(split, sent.id)]
        if self.kind == "sequence":
            if self.label_key not in sent.labels:
                raise ProbekitError(
                    f"task {self.name}: sentence {sent.id!r} of split {split!r} has no label "
                    f"{self.label_key!r}; fix: every sentence of train/dev/test needs one")
            return sent.labels[self.label_key]
        tags = getattr(sent, self.label_key, None)
        if tags is None or (self.kind == "deps" and sent.heads is None):
            raise ProbekitError(
                f"task {self.name}: sentence {sent.id!r} of split {split!r} has no {self.label_key!r} "
                "annotation" + (" or no heads" if self.kind == "deps" else "") + "; fix: use a split that carries this layer")
        return list(tags)

    def label_set(self) -> list[str]:
        if not self.train:
            raise ProbekitError(f"task {self.name}: empty training split")
        seen: set[str] = set()
        for sent in self.train:
            lab = self.labels_of(sent, "train")
            seen.update([lab] if isinstance(lab, str) else lab)
        seen.discard(None)  # words a probing-task target does not cover
        return sorted(seen)


class BiaffineDeps(torch.nn.Module):
    """Dependency head: a biaffine arc scorer and a bilinear relation classifier (Dozat & Manning
    2017, small): each word's vector and each candidate head's (every word's, and a learned ROOT
    vector's) pass through their own one-layer MLPs, then ``score(i, j) = d_i W h_j + b . h_j``.

    Decoding takes each word's best-scoring head (argmax, no MST: a word may get a cycle or a
    second root; UAS/LAS count heads word by word, so none is needed). Relations are classified
    on (word, gold head) pairs in training and on (word, predicted head) pairs otherwise.
    """

    def __init__(self, hidden: int, n_rels: int, arc_dim: int = 128, rel_dim: int = 64) -> None:
        super().__init__()
        mlp = lambda d: torch.nn.Sequential(torch.nn.Linear(hidden, d), torch.nn.GELU())  # noqa: E731
        self.root = torch.nn.Parameter(torch.randn(hidden) * 0.02)
        self.arc_dep, self.arc_head, self.rel_dep, self.rel_head = mlp(arc_dim), mlp(arc_dim), mlp(rel_dim), mlp(rel_dim)
        self.arc = torch.nn.Linear(arc_dim, arc_dim, bias=False)
        self.arc_prior = torch.nn.Linear(arc_dim, 1, bias=False)  # how likely a word is to be a head at all
        self.rel = torch.nn.Bilinear(rel_dim, rel_dim, n_rels)

    def forward(self, h: torch.Tensor, heads: torch.Tensor, use_gold: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Arc scores ``(rows, seq, seq + 1)`` (candidate 0 is ROOT, candidate ``p + 1`` the word
        read at position ``p``) and relation logits ``(rows, seq, n_rels)``.

        ``heads`` ``(rows, seq)``: -100 off the words' representative pieces (those positions
        are never candidates), else the gold candidate index (< 0 where unknown); read only for
        which positions are words, and for the gold heads when ``use_gold``.
        """
        rows, seq, _ = h.shape
        cand = torch.cat([self.root.to(h.dtype).expand(rows, 1, -1), h], 1)
        head = self.arc_head(cand)
        arc = self.arc(self.arc_dep(h)) @ head.transpose(1, 2) + self.arc_prior(head).transpose(1, 2)
        words = heads != -100
        allowed = torch.cat([words.new_ones(rows, 1), words], 1).unsqueeze(1).expand(rows, seq, seq + 1).clone()
        allowed[:, torch.arange(seq), torch.arange(seq) + 1] = False  # no word heads itself
        arc = arc.masked_fill(~allowed, torch.finfo(arc.dtype).min)
        chosen = heads.clamp(min=0) if use_gold else arc.argmax(-1)
        rel_head = self.rel_head(cand).gather(1, chosen.unsqueeze(-1).expand(-1, -1, self.rel.in2_features))
        return arc, self.rel(self.rel_dep(h).contiguous(), rel_head.contiguous())


class MultiTaskModel(torch.nn.Module):
    """Shared encoder + one head per task (linear; :class:`BiaffineDeps` for a ``deps`` task).

    ``forward`` returns a dict task -> logits: ``(rows_of_task, n_labels)`` for sequence tasks,
    ``(rows_of_task, seq, n_labels)`` for token tasks, the pair (arc scores, relation logits) of
    :meth:`BiaffineDeps.forward` for dependency tasks (relations on gold heads while training).
    """

    def __init__(self, encoder: torch.nn.Module, tasks: dict[str, tuple[str, int]], *,
                 frozen: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder, self.tasks, self.frozen = encoder, tasks, frozen
        hidden = encoder.config.hidden_size
        self.heads = torch.nn.ModuleDict({
            name: BiaffineDeps(hidden, n) if kind == "deps" else torch.nn.Linear(hidden, n)
            for name, (kind, n) in tasks.items()})
        self.dropout = torch.nn.Dropout(dropout)
        if frozen:
            encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "MultiTaskModel":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # feature extraction: no dropout in the fixed encoder
        return self

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: torch.Tensor,
                heads: torch.Tensor | None = None) -> dict[str, Any]:
        hidden = self.dropout(self.encode(input_ids, attention_mask))
        out = {}
        for t, (name, (kind, _)) in enumerate(self.tasks.items()):
            rows = task == t
            if not rows.any():
                continue
            h = hidden[rows]
            if kind == "sequence":
                m = attention_mask[rows].unsqueeze(-1).to(h.dtype)
                h = (h * m).sum(1) / m.sum(1).clamp(min=1)
            if kind == "deps":
                out[name] = self.heads[name](h, heads[rows], use_gold=self.training)
                continue
            out[name] = self.heads[name](h)
        return out


def save_multitask(model: MultiTaskModel, tokenizer: Any, folder: Path) -> None:
    save_hf(model.encoder, tokenizer, folder)
    save_file({k: v.contiguous() for k, v in model.heads.state_dict().items()}, str(folder / HEADS_FILE))


def load_multitask_weights(model: MultiTaskModel, folder: Path) -> None:
    from safetensors.torch import load_model

    load_model(model.encoder, str(Path(folder) / "model.safetensors"), strict=False)
    model.heads.load_state_dict(load_file(str(Path(folder) / HEADS_FILE)))


class _Encoded:
    """Tokenized examples of all tasks: ids and (word-aligned) label rows; for dependency tasks
    also head rows (the gold head's candidate index of :class:`BiaffineDeps`, at each word's
    position; -100 elsewhere and for the rows of other tasks)."""

    def __init__(self, tokenizer: Any, max_len: int, piece: str = "first") -> None:
        self.tokenizer, self.max_len, self.piece = tokenizer, max_len, piece
        self.ids: list[list[int]] = []
        self.labels: list[list[int]] = []
        self.heads: list[list[int]] = []
        self.task: list[int] = []

    def add(self, task_idx: int, task: FinetuneTask, sents: Sequence[Sentence], label_ids: dict[str, int],
            split: str) -> int:
        """Append ``sents``; returns how many gold labels were unknown to the training split
        (they are kept, as id -2: always counted wrong, never trained on). A dependency whose head
        was cut off by ``max_len`` gets head -2 likewise."""
        unknown = 0
        for sent in sents:
            gold = task.labels_of(sent, split)
            enc = self.tokenizer(list(sent.tokens), is_split_into_words=True, truncation=True,
                                 max_length=self.max_len)
            ids = enc["input_ids"]
            row, heads = [-100] * len(ids), [-100] * len(ids)
            if task.kind == "sequence":
                row[0] = label_ids.get(gold, -2)
                unknown += gold not in label_ids
            else:
                at = self._word_positions(enc.word_ids())
                for word, pos in at.items():
                    if gold[word] is None:
                        continue
                    row[pos] = label_ids.get(gold[word], -2)
                    unknown += gold[word] not in label_ids
                    if task.kind == "deps":
                        head = sent.heads[word]
                        heads[pos] = 0 if head == 0 else at[head - 1] + 1 if head - 1 in at else -2
            self.ids.append(ids)
            self.labels.append(row)
            self.heads.append(heads)
            self.task.append(task_idx)
        return unknown

    def _word_positions(self, words: list[int | None]) -> dict[int, int]:
        """Word index -> position of the piece that represents it (its first piece, or last)."""
        at: dict[int, int] = {}
        for pos, word in enumerate(words):
            if word is not None and (self.piece == "last" or word not in at):
                at[word] = pos
        return at

    def batch(self, indices: torch.Tensor, pad_id: int) -> dict[str, torch.Tensor]:
        idx = indices.tolist()
        width = max(len(self.ids[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        heads = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            n = len(self.ids[i])
            ids[r, :n] = torch.tensor(self.ids[i])
            labels[r, :n] = torch.tensor(self.labels[i])
            heads[r, :n] = torch.tensor(self.heads[i])
            mask[r, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "heads": heads,
                "task": torch.tensor([self.task[i] for i in idx])}


class FinetuneObjective:
    """Sum over tasks of each task's mean loss in the global batch (see trainer)."""

    def __init__(self, data: _Encoded, tasks: dict[str, str], pad_id: int) -> None:
        self.data, self.pad_id = data, pad_id
        self.names, self.kinds = list(tasks), list(tasks.values())
        self.n_items = len(data.ids)

    def batch(self, indices: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        return self.data.batch(indices, self.pad_id)

    def normalizer(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        labelled = (batch["labels"] != -100).sum(1)
        return torch.stack([labelled[batch["task"] == t].sum() for t in range(len(self.kinds))]).clamp(min=1)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], norm: torch.Tensor) -> torch.Tensor:
        logits = model(batch["input_ids"], batch["attention_mask"], batch["task"], batch["heads"])
        total = torch.zeros((), device=batch["input_ids"].device)
        for t, kind in enumerate(self.kinds):
            rows = batch["task"] == t
            if not rows.any():
                continue
            out = logits[self.names[t]]
            gold = batch["labels"][rows]
            if kind == "deps":  # cross-entropy over candidate heads + relation on the gold head
                (arc, rel), heads = out, batch["heads"][rows]
                ok = (heads >= 0) & (gold >= 0)  # not a head cut off by max_len
                total = total + (F.cross_entropy(arc[ok].float(), heads[ok], reduction="sum")
                                 + F.cross_entropy(rel[ok].float(), gold[ok], reduction="sum")) / norm[t]
                continue
            gold = gold[:, 0] if kind == "sequence" else gold
            total = total + F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), gold.reshape(-1),
                                            ignore_index=-100, reduction="sum") / norm[t]
        return total


@torch.no_grad()
def predict(model: MultiTaskModel, data: _Encoded, pad_id: int, batch_size: int = 64) -> tuple[list, list]:
    """Gold and predicted label ids of every labelled position of ``data`` (one task); for a
    dependency task, (head, relation) pairs per word."""
    model.eval()
    device = next(model.parameters()).device
    gold_all, pred_all = [], []
    for i in range(0, len(data.ids), batch_size):
        b = data.batch(torch.arange(i, min(i + batch_size, len(data.ids))), pad_id)
        b = {k: v.to(device) for k, v in b.items()}
        (name, out), = model(b["input_ids"], b["attention_mask"], b["task"], b["heads"]).items()
        kind = model.tasks[name][0]
        gold = b["labels"][:, 0] if kind == "sequence" else b["labels"]
        keep = gold != -100
        if kind == "deps":
            arc, rel = out
            gold_all += torch.stack([b["heads"][keep], gold[keep]], -1).tolist()
            pred_all += torch.stack([arc.argmax(-1)[keep], rel.argmax(-1)[keep]], -1).tolist()
            continue
        gold_all += gold[keep].tolist()
        pred_all += out.argmax(-1)[keep].tolist()
    return gold_all, pred_all


def score(gold: list[int], pred: list[int], n_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 (over the training label set; unknown gold labels count as wrong)."""
    from sklearn.metrics import f1_score

    g, p = np.asarray(gold), np.asarray(pred)
    out = {"accuracy": float((g == p).mean()) if len(g) else float("nan"), "n": int(len(g))}
    if len(g):
        out["macro_f1"] = float(f1_score(g, p, labels=list(range(n_labels)), average="macro", zero_division=0))
    return out


def score_deps(gold: list[list[int]], pred: list[list[int]]) -> dict[str, float]:
    """Unlabelled and labelled attachment scores over all words, punctuation included: the share
    of words with the gold head (UAS), and with the gold head and relation (LAS). A relation the
    training split never had, or a head cut off by ``max_len``, counts as wrong."""
    g, p = np.asarray(gold).reshape(-1, 2), np.asarray(pred).reshape(-1, 2)
    if not len(g):
        return {"uas": float("nan"), "las": float("nan"), "n": 0}
    head = g[:, 0] == p[:, 0]
    return {"uas": float(head.mean()), "las": float((head & (g[:, 1] == p[:, 1])).mean()), "n": int(len(g))}


def _word_start(tokenizer: Any) -> str | None:
    """Make a byte-level BPE tokenizer (GPT-2 style) add the space a word has in running text
    when it encodes pre-split words, as extraction does: without it ``patient`` becomes
    ``p at ient`` instead of the ``Ġpatient`` the model was pre-trained on. Returns
    ``"prefix-space"`` when the tokenizer needed it (it changes the ids, so the stage is keyed
    on it), else ``None``."""
    from probekit.extract.models import ensure_prefix_space

    before = tokenizer(["patient"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    ensure_prefix_space(tokenizer)
    after = tokenizer(["patient"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    return "prefix-space" if after != before else None


def finetune(
    checkpoint: str | Path,
    tasks: FinetuneTask | Sequence[FinetuneTask],
    out_dir: str | Path,
    *,
    mode: str = "full",
    init: str = "pretrained",
    train: TrainConfig | None = None,
    max_len: int = 128,
    tokenizer: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fine-tune ``checkpoint`` on one or several tasks with a shared encoder.

    Parameters
    ----------
    mode : {"full", "frozen"}
        Train everything, or only the heads on the fixed encoder (feature extraction).
    init : {"pretrained", "random"}
        ``"random"`` re-initialises the encoder from the checkpoint's config: the same
        architecture without transfer, the baseline that shows what pre-training buys.

    Returns
    -------
    dict
        Lineage record; ``metrics`` holds ``<task>.<split>.accuracy`` / ``macro_f1`` (``uas`` /
        ``las`` for a dependency task) for dev, test and every ``extra_eval`` split.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    tasks = [tasks] if isinstance(tasks, FinetuneTask) else list(tasks)
    if mode not in ("full", "frozen") or init not in ("pretrained", "random"):
        raise ConfigError(f"mode {mode!r} / init {init!r}: expected mode 'full'|'frozen', init 'pretrained'|'random'")
    if len({t.name for t in tasks}) != len(tasks):
        raise ConfigError("task names must be unique")
    checkpoint = resolve_model(checkpoint)  # a folder, minilm, pkg:..., or a locally cached Hub id
    train = train or TrainConfig(steps=300, batch_size=32, lr=1e-4 if mode == "full" else 1e-3)
    label_sets = {t.name: t.label_set() for t in tasks}
    for t in tasks:  # fail on a missing label before any training, naming the split
        for split in ("dev", "test", *t.extra_eval):
            for sent in (getattr(t, split) if split in ("dev", "test") else t.extra_eval[split]):
                t.labels_of(sent, split)
    tok = AutoTokenizer.from_pretrained(str(tokenizer or checkpoint))
    word_start = _word_start(tok)
    piece = "last" if is_causal(AutoConfig.from_pretrained(str(checkpoint))) else "first"
    data_fp = lineage.fingerprint([
        (t.name, t.kind, t.label_key, split,
         [(s.tokens, t.labels_of(s, split), *([s.heads] if t.kind == "deps" else [])) for s in sents])
        for t in tasks for split, sents in (("train", t.train), ("dev", t.dev), ("test", t.test), *t.extra_eval.items())])
    config = {"train": asdict(train), "mode": mode, "init": init, "max_len": max_len,
              "tasks": {t.name: {"kind": t.kind, "labels": label_sets[t.name]} for t in tasks},
              "tokenizer": lineage.tokenizer_fingerprint(tokenizer)}
    if word_start:  # keyed only where they change what is trained, so BERT stages keep their keys
        config["word_start"] = word_start
    if piece != "first" and any(t.kind != "sequence" for t in tasks):
        config["word_piece"] = piece
    record = stage_record("finetune", None, config, data_fp, checkpoint, train.seed)
    out_dir = Path(out_dir)
    done = begin_stage(out_dir, record, overwrite)
    if done is not None:
        print(f"[finetune] {out_dir}: already complete with the same fingerprint, skipped")
        return done

    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(train.seed)
    with quiet_hf():  # an LM head dropped on load is expected here
        if init == "random":
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(checkpoint)))
        else:
            encoder = AutoModel.from_pretrained(str(checkpoint))
    check_vocab(tok, encoder, f" ({checkpoint})")
    max_pos = getattr(encoder.config, "max_position_embeddings", None) or getattr(encoder.config, "n_positions", max_len)
    max_len = min(max_len, max_pos)
    model = MultiTaskModel(encoder, {t.name: (t.kind, len(label_sets[t.name])) for t in tasks},
                           frozen=mode == "frozen")

    ids = [{lab: i for i, lab in enumerate(label_sets[t.name])} for t in tasks]
    train_data = _Encoded(tok, max_len, piece)
    for i, t in enumerate(tasks):
        train_data.add(i, t, t.train, ids[i], "train")

    def encoded(i: int, split: str, sents: list[Sentence]) -> tuple[_Encoded, int]:
        data = _Encoded(tok, max_len, piece)
        unknown = data.add(i, tasks[i], sents, ids[i], split)
        data.task = [i] * len(data.ids)
        return data, unknown

    eval_sets = {}
    for i, t in enumerate(tasks):
        for split, sents in (("dev", t.dev), ("test", t.test), *t.extra_eval.items()):
            if sents:
                eval_sets[(i, split)] = encoded(i, split, sents)

    def evaluate(m: torch.nn.Module, splits: tuple[str, ...] | None = ("dev",)) -> dict[str, float]:
        out: dict[str, float] = {}
        for (i, split), (data, unknown) in eval_sets.items():
            if splits is not None and split not in splits:
                continue
            was = m.training
            gold, pred = predict(m, data, tok.pad_token_id)
            m.train(was)
            scores = (score_deps(gold, pred) if tasks[i].kind == "deps"
                      else score(gold, pred, len(label_sets[tasks[i].name])))
            for key, value in scores.items():
                out[f"{tasks[i].name}.{split}.{key}"] = value
            if unknown:
                out[f"{tasks[i].name}.{split}.unknown_labels"] = unknown
        return out

    save = lambda m, folder: save_multitask(m, tok, folder)  # noqa: E731
    objective = FinetuneObjective(train_data, {t.name: t.kind for t in tasks}, tok.pad_token_id)
    has_dev = any(split == "dev" for _, split in eval_sets)
    metrics, history = train_loop(model, objective, train, out_dir, record=record, save_model=save,
                                  evaluate=(lambda m: evaluate(m)) if has_dev else None,
                                  load_weights=load_multitask_weights, desc=f"finetune {out_dir.name}")
    metrics.update(evaluate(model, None))
    notes = [f"encoder randomly initialised from {checkpoint}/config.json (no transfer)"] if init == "random" else []
    return finish_stage(out_dir, model, save, record, metrics, history, train.steps, notes)
