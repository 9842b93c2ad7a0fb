"""The one training loop every stage uses (pre-training, adaptation, fine-tuning).

A plain loop on ``torch.distributed`` rather than HF ``Trainer``: it is short enough to read, costs
nothing over a bare PyTorch step (see ``benchmarks/pretrain.py``), and makes three guarantees easy:

* **Exact resume.** The batch of step ``s`` (order, masking) and the dropout RNG are functions of
  ``(seed, step, rank)`` only, so a run restarted from the checkpoint of step ``s`` (model,
  AdamW moments, scheduler) reproduces the uninterrupted run bit for bit.
* **World-size invariance.** Every rank builds the whole *global* batch, takes its rows, and the
  loss is normalised by the global count of predicted tokens; DDP's gradient average then equals
  the single-process gradient of the same global batch (``torchrun --nproc-per-node N``).
* **Nothing lost.** Checkpoints are written to a temp folder and renamed into place.

Objectives plug in through four members (see :mod:`probekit.transfer.pretrain`):
``n_items``; ``batch(indices, step) -> dict`` of tensors with rows in dim 0 (the global batch);
``normalizer(batch)`` (global counts); ``loss(model, micro_batch, norm) -> scalar``; optionally
``wrap(model)``, a module sharing the model's parameters to train through.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from probekit.errors import ConfigError, ProbekitError
from probekit.transfer.lineage import (
    CHECKPOINTS, atomic_save_dir, config_difference, read_record, write_record)

TRAIN_STATE = "train_state"
BEST_WEIGHTS = "best_weights.safetensors"  # in a resumable checkpoint, when keep_best is set


@dataclass
class TrainConfig:
    """Optimisation settings shared by all stages.

    ``batch_size`` is the *global* batch (sequences per optimiser step, summed over processes and
    accumulation micro-steps); it must divide by ``world_size * grad_accum``.
    """

    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: float = 0.06  # fraction of steps (< 1) or a step count (>= 1)
    schedule: str = "linear"  # "linear" | "cosine" | "constant"
    max_grad_norm: float = 1.0
    eval_every: int = 0  # 0: evaluate at the end only
    save_every: int = 0  # 0: no intermediate checkpoints
    save_at: tuple[int, ...] = ()  # more checkpoint steps, e.g. log-spaced (10, 30, 100) for early training
    seed: int = 0
    bf16: bool | None = None  # None: on where the accelerator supports it (CUDA), off on CPU
    # An evaluation metric (e.g. "biomed.dev.accuracy"; losses and perplexities count lower as
    # better): the stage ends with the weights of its best evaluation, not its last. "": the last.
    keep_best: str = ""

    def __post_init__(self) -> None:
        if self.schedule not in ("linear", "cosine", "constant"):
            raise ConfigError(f"schedule {self.schedule!r}: expected 'linear', 'cosine' or 'constant'")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("steps, batch_size and grad_accum must be >= 1")


# ------------------------------------------------------------------------------ distribution


def dist_setup() -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; joins the process group when launched by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def barrier() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def bf16_enabled(flag: bool | None, device: torch.device) -> bool:
    if flag is None:
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return flag


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    warmup = int(cfg.warmup * cfg.steps) if cfg.warmup < 1 else int(cfg.warmup)

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, cfg.steps - warmup)
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return max(0.0, 1.0 - progress)

    return factor


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    # No weight decay on biases and LayerNorm weights (1-d tensors), as in BERT.
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


def global_indices(step: int, batch_size: int, n_items: int, seed: int) -> torch.Tensor:
    """Item indices of the global batch of ``step``: a seeded permutation per epoch, read as one
    endless stream, so the batch depends on ``(seed, step)`` only."""
    start = step * batch_size
    out = []
    pos = start
    while pos < start + batch_size:
        epoch, offset = divmod(pos, n_items)
        perm = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        take = min(n_items - offset, start + batch_size - pos)
        out.append(perm[offset:offset + take])
        pos += take
    return torch.cat(out)


def step_generator(seed: int, step: int) -> torch.Generator:
    """Generator for the random choices (masking) of one step: reproducible on resume."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % (2**63))


# ----------------------------------------------------------------------- checkpoint state


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, slots in state["state"].items():
        meta["state"][str(idx)] = []
        for name, value in slots.items():
            tensors[f"optimizer.{idx}.{name}"] = value.detach().contiguous().cpu()
            meta["state"][str(idx)].append(name)
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state = {int(idx): {name: tensors[f"optimizer.{idx}.{name}"] for name in names}
             for idx, names in meta["state"].items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_train_state(directory: Path, optimizer: torch.optim.Optimizer, scheduler: Any,
                     step: int, history: list[dict[str, Any]], recent: list[float] = (),
                     best: dict[str, Any] | None = None) -> None:
    """Optimiser moments + scheduler + step (+ evaluation history and the last training losses),
    as safetensors and JSON (no pickles)."""
    tensors, meta = _flatten_optimizer(optimizer.state_dict())
    save_file(tensors, str(directory / f"{TRAIN_STATE}.safetensors"))
    meta.update(step=step, scheduler=scheduler.state_dict(), history=history, recent_losses=list(recent), best=best)
    (directory / f"{TRAIN_STATE}.json").write_text(json.dumps(meta, default=str))


def latest_resumable(out_dir: Path) -> Path | None:
    """Newest intermediate checkpoint of ``out_dir`` that carries a training state."""
    root = out_dir / CHECKPOINTS
    if not root.is_dir():
        return None
    found = [p for p in root.glob("step-*") if (p / f"{TRAIN_STATE}.json").is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[1]), default=None)


def check_resume(ckpt: Path, record: dict[str, Any]) -> None:
    """Refuse a resume folder written with another configuration, naming the difference."""
    old = read_record(ckpt) or {}
    if old.get("fingerprint") == record["fingerprint"]:
        return
    keys = ("config", "data_fingerprint", "parent", "seed", "stage", "objective")
    diffs = config_difference({k: old.get(k) for k in keys}, {k: record.get(k) for k in keys})
    raise ProbekitError(
        f"{ckpt.parent.parent} holds an interrupted run with a different configuration "
        f"({'; '.join(diffs) or 'fingerprint differs'}); refusing to resume. Fix: rerun with the "
        "same settings, choose another --out, or pass --overwrite to start afresh")


def load_hf_weights(model: torch.nn.Module, ckpt: Path) -> None:
    """Default weight loader: the ``model.safetensors`` that ``save_pretrained`` wrote."""
    from safetensors.torch import load_model

    load_model(model, str(ckpt / "model.safetensors"), strict=False)


# ------------------------------------------------------------------------------- the loop


def train_loop(
    model: torch.nn.Module,
    objective: Any,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    record: dict[str, Any],
    save_model: Callable[[torch.nn.Module, Path], None],
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    load_weights: Callable[[torch.nn.Module, Path], None] = load_hf_weights,
    desc: str = "train",
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Optimise ``model`` on ``objective`` for ``cfg.steps`` steps; resume if a checkpoint exists.

    Parameters
    ----------
    record : dict
        The stage's lineage record (must hold ``fingerprint``); copied into every intermediate
        checkpoint's ``probekit.json``.
    save_model : callable
        ``save_model(model, folder)`` writes the HF checkpoint files (weights, config, tokenizer);
        ``load_weights(model, folder)`` reads them back on resume.
    evaluate : callable, optional
        ``evaluate(model) -> metrics`` on held-out data, every ``cfg.eval_every`` steps and at the end.

    Returns
    -------
    metrics : dict
        Final evaluation metrics plus ``train_loss`` (mean over the last 10 steps).
    history : list of dict
        One entry per evaluation: ``{"step", "train_loss", **metrics}``.
    """
    out_dir = Path(out_dir)
    rank, world, device = dist_setup()
    micro, rem = divmod(cfg.batch_size, world * cfg.grad_accum)
    if rem or micro == 0:
        raise ConfigError(f"batch_size {cfg.batch_size} must be a positive multiple of world_size "
                          f"({world}) x grad_accum ({cfg.grad_accum})")
    if objective.n_items < cfg.batch_size:
        raise ProbekitError(f"only {objective.n_items} training examples, fewer than one batch of "
                            f"{cfg.batch_size}; fix: more data or a smaller batch size")
    per_rank = micro * cfg.grad_accum
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    history: list[dict[str, Any]] = []
    losses: list[float] = []  # last 10 training losses
    best = _Best(cfg.keep_best) if cfg.keep_best else None
    if best is not None and (evaluate is None or not cfg.eval_every):
        raise ConfigError(f"keep_best={cfg.keep_best!r} needs evaluations: set eval_every and give the "
                          "stage held-out data (a dev split)")
    start = 0
    ckpt = latest_resumable(out_dir)
    if ckpt is not None:
        check_resume(ckpt, record)
        load_weights(model, ckpt)
        meta = json.loads((ckpt / f"{TRAIN_STATE}.json").read_text())
        tensors = load_file(str(ckpt / f"{TRAIN_STATE}.safetensors"))
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta))
        scheduler.load_state_dict(meta["scheduler"])
        start, history, losses = meta["step"], meta["history"], meta.get("recent_losses", [])
        if (ckpt / BEST_WEIGHTS).is_file():
            best = _Best.restore(meta["best"], load_file(str(ckpt / BEST_WEIGHTS)))
        if rank == 0:
            tqdm.write(f"[{desc}] resuming from {ckpt} (step {start})")
    # An objective may train through a wrapper that shares the model's parameters (e.g. an MLM
    # head scoring only masked positions); checkpoints always save ``model`` itself.
    train_model: torch.nn.Module = objective.wrap(model) if hasattr(objective, "wrap") else model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            train_model, device_ids=[device.index] if device.type == "cuda" else None)
    use_bf16 = bf16_enabled(cfg.bf16, device)
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=rank != 0, mininterval=2, leave=False)
    for step in range(start, cfg.steps):
        model.train()
        torch.manual_seed(cfg.seed * 100_003 + step * 101 + rank)  # dropout: a function of (seed, step, rank)
        batch = objective.batch(global_indices(step, cfg.batch_size, objective.n_items, cfg.seed), step)
        norm = objective.normalizer(batch)
        mine = {k: v[rank * per_rank:(rank + 1) * per_rank] for k, v in batch.items()}
        step_loss = torch.zeros((), device=device)
        for m in range(cfg.grad_accum):
            part = {k: v[m * micro:(m + 1) * micro].to(device) for k, v in mine.items()}
            sync = m == cfg.grad_accum - 1 or world == 1
            ctx = contextlib.nullcontext() if sync else train_model.no_sync()
            with ctx:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    loss = objective.loss(train_model, part, norm)
                # x world: DDP averages gradients over ranks, the loss is already a global mean.
                (loss * world).backward()
            step_loss += loss.detach()
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if world > 1:
            torch.distributed.all_reduce(step_loss)
        losses = (losses + [step_loss.item()])[-10:]
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        done = step + 1
        if evaluate is not None and cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps:
            history.append({"step": done, "train_loss": losses[-1], **evaluate(model)})
            if best is not None:
                best.offer(model, history[-1])
        if ((cfg.save_every and done % cfg.save_every == 0) or done in cfg.save_at) and done < cfg.steps:
            if rank == 0:
                _save_intermediate(model, optimizer, scheduler, out_dir, done, record, history, losses, save_model,
                                   best)
            barrier()
    bar.close()
    metrics: dict[str, float] = {"train_loss": sum(losses) / max(1, len(losses))}
    if evaluate is not None:
        final = evaluate(model)
        metrics.update(final)
        history.append({"step": cfg.steps, "train_loss": losses[-1] if losses else float("nan"), **final})
        if best is not None and not best.offer(model, history[-1]):
            model.load_state_dict(best.state)
            metrics.update({k: v for k, v in best.entry.items() if k not in ("step", "train_loss")})
        if best is not None:
            metrics["best_step"] = best.entry["step"]
    return metrics, history


class _Best:
    """The best evaluation so far of ``metric`` and a CPU copy of the weights that scored it."""

    def __init__(self, metric: str) -> None:
        self.metric, self.entry, self.state = metric, None, None

    def offer(self, model: torch.nn.Module, entry: dict[str, Any]) -> bool:
        """Keep ``model``'s weights if ``entry`` beats the best so far (ties keep the earlier)."""
        if self.metric not in entry:
            raise ConfigError(f"keep_best={self.metric!r} is not an evaluation metric; the stage reports "
                              f"{sorted(k for k in entry if k not in ('step', 'train_loss'))}")
        lower = "loss" in self.metric or "perplexity" in self.metric
        sign = -1.0 if lower else 1.0
        if self.entry is not None and sign * entry[self.metric] <= sign * self.entry[self.metric]:
            return False
        self.entry = entry
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True

    @classmethod
    def restore(cls, meta: dict[str, Any], state: dict[str, torch.Tensor]) -> "_Best":
        best = cls(meta["metric"])
        best.entry, best.state = meta["entry"], state
        return best


def _save_intermediate(model, optimizer, scheduler, out_dir: Path, step: int, record: dict[str, Any],
                       history: list[dict[str, Any]], losses: list[float], save_model, best=None) -> None:
    target = out_dir / CHECKPOINTS / f"step-{step:07d}"

    def write(tmp: Path) -> None:
        save_model(model, tmp)
        save_train_state(tmp, optimizer, scheduler, step, history, losses,
                         best={"metric": best.metric, "entry": best.entry} if best and best.entry else None)
        if best is not None and best.entry is not None:
            save_file({k: v.contiguous() for k, v in best.state.items()}, str(tmp / BEST_WEIGHTS))
        write_record(tmp, {**record, "status": "intermediate", "steps": step,
                           "metrics": history[-1] if history else {}, "history": history})

    atomic_save_dir(target, write)
    # Only the newest checkpoint needs optimiser moments (2x the model); older ones keep weights
    # for probing along training.
    for old in (out_dir / CHECKPOINTS).glob("step-*"):
        if old != target:
            for name in (f"{TRAIN_STATE}.safetensors", f"{TRAIN_STATE}.json", BEST_WEIGHTS):
                (old / name).unlink(missing_ok=True)


__all__ = ["TrainConfig", "train_loop", "dist_setup", "global_indices", "step_generator"]
