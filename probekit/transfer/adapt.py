"""Stage 1.5: continued pre-training of an existing checkpoint (Gururangan et al. 2020).

DAPT continues the LM objective on a domain corpus; TAPT on the unlabeled text of the task
itself. Both start from any checkpoint: one written by :func:`probekit.transfer.pretrain.pretrain`
or any Hugging Face model folder. A model without an LM head (a sentence-embedding model such as
all-MiniLM-L6-v2) gets a fresh head, with a warning and a note in ``probekit.json``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

import torch

from probekit.errors import ConfigError, ProbekitError
from probekit.extract.models import resolve_model
from probekit.transfer import lineage
from probekit.transfer.pretrain import (
    begin_stage, load_lm, read_texts, run_lm_stage, split_eval, stage_record)
from probekit.transfer.trainer import TrainConfig


def adapt(
    checkpoint: str | Path,
    corpus: str | Path | Iterable[str],
    out_dir: str | Path,
    *,
    stage: str = "dapt",
    train: TrainConfig | None = None,
    seq_len: int = 128,
    tokenizer: str | Path | None = None,
    objective: str | None = None,
    eval_texts: Iterable[str] | None = None,
    eval_fraction: float = 0.05,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Continue LM training of ``checkpoint`` on ``corpus``.

    Parameters
    ----------
    checkpoint : path
        Parent model folder (probekit stage or any HF model with or without an LM head).
    corpus : list of str, text file or folder of .txt
        Domain text (DAPT) or the task's unlabeled text (TAPT).
    stage : {"dapt", "tapt"}
        Recorded in the lineage; both run the same procedure.
    tokenizer : path, optional
        Defaults to the tokenizer saved with ``checkpoint``; a tokenizer with more ids than the
        model's embedding is refused.
    objective : {"mlm", "clm"}, optional
        Inferred from the checkpoint's architecture when omitted.

    Returns
    -------
    dict
        Lineage record of the adapted checkpoint, with held-out ``eval_loss``/``eval_perplexity``.
    """
    from transformers import AutoTokenizer

    if stage not in ("dapt", "tapt"):
        raise ConfigError(f"stage {stage!r}: expected 'dapt' (domain corpus) or 'tapt' (task text)")
    checkpoint = resolve_model(checkpoint)  # a folder, minilm, pkg:..., or a locally cached Hub id
    train = train or TrainConfig(steps=200, lr=1e-4)
    texts, held_out = split_eval(read_texts(corpus), eval_texts, eval_fraction)
    if not texts:
        raise ProbekitError(f"empty corpus for {stage}: no non-blank text; fix: check the corpus path")
    out_dir = Path(out_dir)
    data_fp = lineage.texts_fingerprint(texts + ["\0held-out"] + held_out)
    config = {"train": asdict(train), "seq_len": seq_len, "objective": objective,
              "tokenizer": lineage.tokenizer_fingerprint(tokenizer)}
    record = stage_record(stage, objective, config, data_fp, checkpoint, train.seed)
    done = begin_stage(out_dir, record, overwrite)
    if done is not None:
        print(f"[{stage}] {out_dir}: already complete with the same fingerprint, skipped")
        return done
    torch.manual_seed(train.seed)
    model, objective_name, notes = load_lm(checkpoint, objective)
    if notes:
        print(f"[{stage}] note: {notes[0]}")
    tok = AutoTokenizer.from_pretrained(str(tokenizer or checkpoint))
    record["objective"] = objective_name
    return run_lm_stage(stage=stage, model=model, tokenizer=tok, objective=objective_name, train_texts=texts,
                        eval_texts=held_out, out_dir=out_dir, train=train, seq_len=seq_len, record=record,
                        notes=notes)
