"""The truncated extractor: a model cut after the deepest layer a selection reads.

A user who found by probing that layer k of L is enough need not run the other L - k blocks.
:func:`export_truncated` writes a standard Hugging Face checkpoint whose ``config.json`` has
fewer layers, so ``AutoModel.from_pretrained(DIR, output_hidden_states=True)`` gives the same
vectors as the full model at the selected layers, plus ``probekit_extractor.json`` with the
combination rule (which hidden states to read and how to combine them).

Decoders (GPT-2, Llama) apply their final norm to the *last* hidden state, so a model cut to k
blocks would return ``norm(h_k)`` instead of ``h_k``. The export checks the cut model against the
full one on a probe sentence and, where the deepest layer differs, keeps one more block: the
vectors stay exact and the extra block is counted in ``blocks_kept``.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from probekit.errors import ProbekitError
from probekit.io import atomic_write_text

RULE_FILE = "probekit_extractor.json"
_LAYER_LISTS = ("encoder.layer", "transformer.layer", "h", "layers", "encoder.layers")
_DEPTH_KEYS = ("num_hidden_layers", "n_layer", "n_layers")
_PROBE_TEXT = "probekit checks that the truncated model gives the same vectors ."


def _layer_list(model) -> tuple[str, torch.nn.ModuleList]:
    for path in _LAYER_LISTS:
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList):
            return path, obj
    raise ProbekitError(f"cannot find the block list of model type {model.config.model_type!r}; "
                        f"supported: models with one of {', '.join(_LAYER_LISTS)} (BERT family, GPT-2, Llama ...)")


def n_blocks(model) -> int:
    return len(_layer_list(model)[1])


def truncate(model, blocks: int):
    """A copy of ``model`` with its first ``blocks`` blocks (weights copied, config updated)."""
    from transformers import AutoModel

    total = n_blocks(model)
    if not 1 <= blocks <= total:
        raise ProbekitError(f"cannot keep {blocks} blocks of a {total}-block model; valid: 1..{total}")
    config = copy.deepcopy(model.config)
    keys = [k for k in _DEPTH_KEYS if getattr(config, k, None) is not None]
    if not keys:
        raise ProbekitError(f"model type {config.model_type!r}: no layer-count field in its config")
    for key in keys:
        setattr(config, key, blocks)
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = config.layer_types[:blocks]
    cut = AutoModel.from_config(config).to(dtype=next(model.parameters()).dtype)
    missing, unexpected = cut.load_state_dict(model.state_dict(), strict=False)
    prefix = _layer_list(model)[0]
    dropped = [k for k in unexpected if not any(f"{prefix}.{i}." in k for i in range(blocks, total))]
    if missing or dropped:
        raise ProbekitError(f"truncating {config.model_type!r} lost weights: missing {missing[:3]}, unexpected {dropped[:3]}")
    return cut.eval()


@torch.inference_mode()
def _hidden(model, tokenizer, text: str = _PROBE_TEXT) -> tuple[torch.Tensor, ...]:
    enc = tokenizer(text, return_tensors="pt")
    return model(**enc, output_hidden_states=True).hidden_states


def exact_truncation(model, tokenizer, layers: Sequence[int], *, atol: float = 1e-5):
    """The shortest cut model that reproduces ``model``'s hidden states at ``layers`` exactly.

    Returns ``(cut_model, blocks_kept, max_abs_diff)``; ``cut_model`` is ``model`` itself when
    every block is needed.
    """
    total = n_blocks(model)
    deepest = max(layers)
    if min(layers) < 0 or deepest > total:
        raise ProbekitError(f"the selection reads layer(s) {list(layers)} but the model has hidden states 0..{total}")
    full = _hidden(model, tokenizer)
    for blocks in range(max(1, deepest), total + 1):
        if blocks == total:
            return model, total, 0.0
        cut = truncate(model, blocks)
        mine = _hidden(cut, tokenizer)
        diff = max(float((mine[layer] - full[layer]).abs().max()) for layer in layers)
        if diff <= atol:
            return cut, blocks, diff
    raise AssertionError("unreachable")  # pragma: no cover


@torch.inference_mode()
def tokens_per_second(model, tokenizer, texts: Sequence[str], *, batch_size: int = 32, repeats: int = 3) -> float:
    """Forward-pass throughput (real tokens/s, padding excluded), best of ``repeats``."""
    from probekit.extract.models import max_positions

    length = min(128, max_positions(model.config, tokenizer))
    batches = [tokenizer(list(texts[i:i + batch_size]), return_tensors="pt", padding=True, truncation=True,
                         max_length=length) for i in range(0, len(texts), batch_size)]
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batches:
            model(**b)
        best = min(best, time.perf_counter() - start)
    return n_tokens / best


def export_truncated(model, tokenizer, out_dir: str | Path, *, layers: Sequence[int], combine: str,
                     weights: Sequence[float] | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the cut checkpoint and its combination rule to ``out_dir``; returns the rule.

    The folder is written next to ``out_dir`` and renamed into place, so an interrupted export
    leaves nothing half-written.
    """
    import shutil
    import tempfile

    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    cut, blocks, diff = exact_truncation(model, tokenizer, layers)
    total = n_blocks(model)
    rule = {
        "read_hidden_states": sorted(int(x) for x in layers), "combine": combine,
        "weights": None if weights is None else [float(w) for w in weights],
        "blocks_kept": blocks, "blocks_full": total, "max_abs_diff_vs_full": diff,
        "usage": "AutoModel.from_pretrained(DIR)(**inputs, output_hidden_states=True).hidden_states[i] "
                 "for i in read_hidden_states, combined as `combine` (concat along the feature axis, "
                 "sum, mean, or mix: sum_i weights[i] * h_i)",
        **(meta or {}),
    }
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        cut.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        atomic_write_text(tmp / RULE_FILE, json.dumps(rule, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return rule
