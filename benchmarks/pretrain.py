"""Pre-training throughput: probekit's training loop vs a bare PyTorch loop, same model and batch.

For a 4-layer, hidden-256 BERT (MLM) and GPT-2 (CLM) at sequence length 128 this times
``probekit.transfer.trainer.train_loop`` (batch building + masking, forward, loss, backward, grad
clipping, AdamW, LR schedule) against the bare loop ``model(ids, labels=labels).loss.backward();
opt.step(); opt.zero_grad()`` on a copy of the same model and a fixed batch of the same shape.
Rounds alternate between the two so that load from other processes hits both alike; the table
reports medians. bf16 autocast is timed for probekit's loop too.

Run: ``.venv/bin/python benchmarks/pretrain.py [--steps 10 --rounds 3 --batch 8 --threads N]``
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from probekit.data.synthetic import generate
from probekit.transfer.pretrain import ModelConfig, build_model, make_objective, pack
from probekit.transfer.tokenizer import train_tokenizer
from probekit.transfer.trainer import TrainConfig, train_loop


def bare_loop(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def probekit_loop(model: torch.nn.Module, objective, steps: int, batch: int, bf16: bool, out: Path) -> float:
    cfg = TrainConfig(steps=steps, batch_size=batch, lr=1e-4, bf16=bf16)
    start = time.perf_counter()
    train_loop(model, objective, cfg, out, record={"fingerprint": "bench"}, save_model=lambda m, p: None,
               desc="bench")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="optimiser steps per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = [s.text for s in generate(6000, seed=0)]
    rows = []
    load_before = os.getloadavg()[0]
    for objective, arch in (("mlm", "bert"), ("clm", "gpt2")):
        tok = train_tokenizer(texts, "wordpiece" if objective == "mlm" else "bpe", vocab_size=8000)
        blocks = pack(tok, texts, args.seq_len, objective)
        obj = make_objective(objective, blocks, tok, seed=0)
        torch.manual_seed(0)
        model = build_model(ModelConfig(arch=arch, layers=4, hidden=256, heads=4, max_len=args.seq_len), tok)
        fixed = obj.batch(torch.arange(args.batch), step=0)
        if objective == "clm":
            fixed["labels"] = fixed["input_ids"]  # HF shifts internally
        times: dict[str, list[float]] = {"bare": [], "probekit": [], "probekit_bf16": []}
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up (allocator, first-call kernels) for each variant, not timed.
            bare_loop(copy.deepcopy(model), fixed, 2)
            probekit_loop(copy.deepcopy(model), obj, 2, args.batch, False, Path(tmp))
            probekit_loop(copy.deepcopy(model), obj, 2, args.batch, True, Path(tmp))
            for _ in range(args.rounds):
                times["probekit"].append(probekit_loop(copy.deepcopy(model), obj, args.steps, args.batch, False, Path(tmp)))
                times["bare"].append(bare_loop(copy.deepcopy(model), fixed, args.steps))
                times["probekit_bf16"].append(probekit_loop(copy.deepcopy(model), obj, args.steps, args.batch, True, Path(tmp)))
        tokens = args.steps * args.batch * args.seq_len
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"model": f"{arch} 4x256 ({objective})", "bare tok/s": tokens / med["bare"],
                     "probekit tok/s": tokens / med["probekit"], "probekit/bare": med["bare"] / med["probekit"],
                     "probekit bf16 tok/s": tokens / med["probekit_bf16"],
                     "bf16 speed-up": med["probekit"] / med["probekit_bf16"]})
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(df.to_string(index=False, float_format=lambda x: f"{x:,.2f}"))
    print(f"batch {args.batch} x seq {args.seq_len}, {args.steps} steps x {args.rounds} rounds (medians), "
          f"torch threads {torch.get_num_threads()}, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
