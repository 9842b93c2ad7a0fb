"""``probekit probe``: train probes on every layer for a task and write the tidy scores CSV."""

from __future__ import annotations

import argparse

from probekit.suite import parse_layers


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``probekit probe``."""
    p = subparsers.add_parser(
        "probe", help="train probes on every layer and score them (CSV of tidy rows)",
        description="Extract (cached) per-layer features of TRAIN and EVAL, train the chosen probes "
        "on every layer as one batched model, and print per layer the score with its 95%% "
        "bootstrap CI, the control-task score and the selectivity, then best layer, expected "
        "layer (E_delta) and centre of gravity (E_s). Example: probekit probe --model minilm "
        "--data en_ewt-ud-train.conllu --eval en_ewt-ud-dev.conllu --task pos --probe linear,mlp "
        "--control --out scores.csv",
    )
    p.add_argument("--model", default="minilm",
                   help="checkpoint folder, pkg:<package>/<folder>, a model id in the local Hugging Face "
                   "cache, 'minilm' (the installed all-MiniLM-L6-v2; default), a .gguf file or 'smollm2' "
                   "(the installed SmolLM2-135M GGUF)")
    p.add_argument("--data", required=True, help="training corpus (.conllu, .iob2, .jsonl ...)")
    p.add_argument("--eval", required=True, help="evaluation corpus (dev or test split)")
    p.add_argument("--task", default="pos", help="task name (see `probekit data tasks`; default pos)")
    p.add_argument("--probe", default="linear", help="comma-separated probes of the registry "
                   "(probekit.probes.registry): linear, mlp, span (jiant edge probe; self-attentive pooling "
                   "through a suite), structural and structural_depth (Hewitt & Manning, on deps), mdl "
                   "(online codelength); default linear")
    p.add_argument("--control", action="store_true", help="also train on the control task "
                   "(Hewitt & Liang) and report selectivity")
    p.add_argument("--no-mix", action="store_true", help="skip the scalar-mix probes (E_delta, E_s)")
    p.add_argument("--layers", default="all", help="'all' or e.g. '0,3,6' / '2-4'")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 (mean/std reported)")
    p.add_argument("--pooling", default="mean", choices=["mean", "first", "last", "max"],
                   help="subword -> word pooling")
    p.add_argument("--span-pooling", default="mean", choices=["mean", "max", "endpoints"])
    p.add_argument("--limit", type=int, help="only the first N sentences of each corpus")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--device", help="cpu, cuda ... (default CUDA if available)")
    p.add_argument("--out", help="write the tidy scores here (CSV)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from probekit.data.load import read_corpus
    from probekit.io import atomic_write_text
    from probekit.run_probes import per_layer_table, probe_task, summary_table

    train = list(read_corpus(args.data))
    evals = list(read_corpus(args.eval))
    if args.limit:
        train, evals = train[: args.limit], evals[: args.limit]
    layers = parse_layers(args.layers)
    scores = probe_task(
        args.model, train, evals, task=args.task,
        probes=[p.strip() for p in args.probe.split(",") if p.strip()],
        control=args.control, mix=not args.no_mix, layers=layers,
        seeds=[int(seed) for seed in args.seeds.split(",")],
        word_pooling=args.pooling, span_pooling=args.span_pooling, n_boot=args.bootstrap,
        device=args.device, progress=not args.quiet,
        model_name=args.model,
    )
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(per_layer_table(scores).to_string(index=False))
        print()
        print(summary_table(scores).to_string(index=False))
    if args.out:
        atomic_write_text(args.out, scores.to_csv(index=False))
        print(f"\nwrote {len(scores)} rows to {args.out}")
    return 0
