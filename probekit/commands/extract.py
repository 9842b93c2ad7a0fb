"""``probekit extract``: per-layer representations of a corpus (or of a task's examples), cached."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from probekit.suite import parse_layers


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``probekit extract``."""
    p = subparsers.add_parser(
        "extract", help="extract per-layer word/sentence vectors into the cache",
        description="Run a model over a corpus and store per-layer word (and sentence) vectors in "
        "the content-addressed cache (a re-run with the same inputs is a cache hit). Works under "
        "torchrun: each rank extracts its share, rank 0 publishes the entry.")
    p.add_argument("--model", required=True, help="checkpoint folder, pkg:<package>/<folder>, a "
                   "model id in the local Hugging Face cache, 'minilm' (the installed all-MiniLM-L6-v2), or a "
                   "GGUF file (path, pkg:<package>/<file>.gguf, or 'smollm2')")
    p.add_argument("--data", required=True, help="corpus file or folder (.conllu, .iob2, .jsonl, .txt)")
    p.add_argument("--task", help="extract the texts of this task's examples (e.g. pos, deps)")
    p.add_argument("--layers", default="all", help="'all', or e.g. '0,3,6' or '2-4' (default all)")
    p.add_argument("--pooling", default="mean", choices=["mean", "first", "last", "max"],
                   help="subwords -> word vector (default mean)")
    p.add_argument("--sentence-pooling", choices=["mean", "first", "cls", "last"],
                   help="also store one vector per sentence")
    p.add_argument("--dtype", default="float32", help="compute dtype: float32, bf16, fp16")
    p.add_argument("--store-dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--max-tokens", type=int, help="token budget per batch (padding included)")
    p.add_argument("--max-length", type=int, help="window length (default: the model's maximum)")
    p.add_argument("--window-stride", type=int, help="tokens between window starts (default half)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default CUDA if available)")
    p.add_argument("--cache", help="cache root (default $PROBEKIT_CACHE or ~/.cache/probekit)")
    p.add_argument("--out", help="also copy the finished entry to this folder")
    p.add_argument("--limit", type=int, help="only the first N texts")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from probekit.data.load import read_corpus
    from probekit.extract import extract

    device = args.device
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by torchrun
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():  # gloo: ranks only exchange barriers and a flag
            dist.init_process_group("gloo")
        if device is None and torch.cuda.is_available():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    texts = read_corpus(args.data)
    if args.task:
        from probekit.tasks import get_task

        texts = get_task(args.task).examples(texts).records
    texts = list(texts)[: args.limit] if args.limit else list(texts)
    start = time.time()
    reps = extract(
        args.model, texts, layers=parse_layers(args.layers), word_pooling=args.pooling,
        sentence_pooling=args.sentence_pooling, dtype=args.dtype, store_dtype=args.store_dtype,
        max_tokens_per_batch=args.max_tokens, window_stride=args.window_stride,
        max_length=args.max_length, device=device, cache_dir=args.cache,
        progress=not args.quiet, trust_remote_code=args.trust_remote_code,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    seconds = time.time() - start
    print(f"{reps.n_texts} texts, {reps.n_words} words, layers {reps.layers}, dim {reps.dim} "
          f"in {seconds:.1f} s")
    stats = ", ".join(f"{k}={v}" for k, v in reps.stats.items() if k != "seconds")
    print(f"stats: {stats}")
    print(f"entry: {reps.path}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for f in reps.path.iterdir():
            shutil.copy2(f, out / f.name)
        print(f"copied to {out}")
    return 0
