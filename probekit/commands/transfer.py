"""CLI verbs of the transfer pipeline: ``pretrain``, ``adapt``, ``finetune``, ``lineage``, ``transfer``.

All verbs run unchanged under ``torchrun --nproc-per-node N -m probekit ...`` (DDP; gloo on CPU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from probekit.errors import ConfigError


def _train_args(p: argparse.ArgumentParser, steps: int, lr: float) -> None:
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=steps, help="optimiser steps (default %(default)s)")
    g.add_argument("--batch-size", type=int, default=32, help="global batch: sequences per step over all processes")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-steps per optimiser step")
    g.add_argument("--lr", type=float, default=lr, help="peak learning rate (default %(default)s)")
    g.add_argument("--warmup", type=float, default=0.06, help="warmup: fraction of steps (<1) or step count")
    g.add_argument("--schedule", choices=("linear", "cosine", "constant"), default="linear")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0: off)")
    g.add_argument("--eval-every", type=int, default=0, help="held-out evaluation interval in steps (0: at the end)")
    g.add_argument("--save-every", type=int, default=0, help="intermediate checkpoint interval (0: none)")
    g.add_argument("--save-at", default="", help="more checkpoint steps, comma-separated (e.g. 10,30,100)")
    g.add_argument("--keep-best", default="", metavar="METRIC",
                   help="end on the weights of the best evaluation of METRIC (e.g. biomed.dev.accuracy; "
                        "losses count lower as better); needs --eval-every")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on where the accelerator supports it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing stage folder of another config")


def _train_config(args: argparse.Namespace):
    from probekit.transfer.trainer import TrainConfig

    return TrainConfig(steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
                       weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule,
                       max_grad_norm=args.max_grad_norm, eval_every=args.eval_every, save_every=args.save_every,
                       save_at=tuple(int(x) for x in args.save_at.split(",") if x.strip()), seed=args.seed,
                       bf16=args.bf16, keep_best=args.keep_best)


def _corpus_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", type=Path, help="text file (one text per line) or folder of .txt files")
    src.add_argument("--synthetic", metavar="DOMAIN[:N]",
                     help="built-in generator corpus, e.g. general:20000 (languages: DOMAIN@LANG:N)")


def _corpus(args: argparse.Namespace):
    if args.corpus is not None:
        return args.corpus
    from probekit.transfer.chain import synthetic_texts

    return synthetic_texts(args.synthetic, seed=args.seed)


def _print_record(rec: dict) -> None:
    print(json.dumps({k: rec.get(k) for k in ("stage", "objective", "steps", "metrics", "notes")}, indent=2,
                     default=str))


def cmd_pretrain(args: argparse.Namespace) -> int:
    from probekit.transfer.chain import vocab_texts
    from probekit.transfer.pretrain import OBJECTIVES, ModelConfig, pretrain

    overrides = {k: getattr(args, k) for k in ("layers", "hidden", "heads", "intermediate") if getattr(args, k)}
    model = ModelConfig.from_size(args.size, arch=OBJECTIVES[args.objective], max_len=max(args.seq_len, args.max_len),
                                  dropout=args.dropout, **overrides)
    rec = pretrain(_corpus(args), args.out, objective=args.objective, model=model, train=_train_config(args),
                   seq_len=args.seq_len, vocab_size=args.vocab_size, tokenizer=args.tokenizer,
                   vocab_texts=vocab_texts(args.vocab_also, seed=args.seed), overwrite=args.overwrite)
    _print_record(rec)
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from probekit.transfer.adapt import adapt

    rec = adapt(args.checkpoint, _corpus(args), args.out, stage=args.stage, train=_train_config(args),
                seq_len=args.seq_len, tokenizer=args.tokenizer, objective=args.objective, overwrite=args.overwrite)
    _print_record(rec)
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from probekit.transfer.chain import parse_task
    from probekit.transfer.finetune import finetune

    tasks = [parse_task(spec, seed=args.seed) for spec in args.task]
    by_name = {t.name: t for t in tasks}
    for spec in args.extra_eval or []:
        from probekit.transfer.chain import parse_extra_eval

        name, split, sents = parse_extra_eval(spec, by_name)
        by_name[name].extra_eval[split] = sents
    rec = finetune(args.checkpoint, tasks, args.out, mode=args.mode, init=args.init, train=_train_config(args),
                   max_len=args.max_len, tokenizer=args.tokenizer, overwrite=args.overwrite)
    _print_record(rec)
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from probekit.transfer.lineage import lineage_tree

    print(lineage_tree(args.dir))
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from probekit.io import load_toml
    from probekit.transfer import chain

    if args.demo:
        from probekit.commands.demo import DEMO_SUITE

        args.suite = DEMO_SUITE
    if args.suite is None:
        raise ConfigError("give a suite file with a [transfer] section, or --demo (probes/demo.toml)")
    result = chain.run_suite_transfer(args.suite, out=args.out, data_root=args.data_root)
    print(json.dumps(result, indent=2, default=str))
    stages = [st for _, st in chain.expand_seeds(load_toml(args.suite)["transfer"]["stages"])]
    for comparison in chain.init_comparisons(stages, {k: v["metrics"] or {} for k, v in result.items()}):
        print(chain.format_init_comparison(comparison))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's verbs to the `probekit` parser."""
    p = subparsers.add_parser("pretrain", help="train a tokenizer and an MLM/CLM model from scratch",
                              description="Stage 1: WordPiece + BERT (mlm) or byte-level BPE + GPT-2 (clm) from "
                              "scratch, packed sequences, AdamW + warmup + decay. Example: probekit pretrain "
                              "--synthetic general:20000 --size mini --steps 300 --out runs/general")
    _corpus_args(p)
    p.add_argument("--out", type=Path, required=True, help="stage folder (final checkpoint + checkpoints/step-N)")
    p.add_argument("--objective", choices=("mlm", "clm"), default="mlm")
    p.add_argument("--size", default="small", help="tiny|mini|small|medium|base (layers, hidden, heads)")
    for name in ("layers", "hidden", "heads", "intermediate"):
        p.add_argument(f"--{name}", type=int, help=f"override the size's {name}")
    p.add_argument("--max-len", type=int, default=128, help="position embeddings")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seq-len", type=int, default=128, help="packed block length")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--tokenizer", type=Path, help="use this tokenizer instead of training one")
    p.add_argument("--vocab-also", action="append", metavar="SOURCE",
                   help="more text for the tokenizer only (repeatable): a text file or folder, or "
                        "synthetic:DOMAIN[:N], e.g. the corpus a later adapt stage uses (--seed picks the same text)")
    _train_args(p, steps=1000, lr=5e-4)
    p.set_defaults(func=cmd_pretrain)

    p = subparsers.add_parser("adapt", help="continued pre-training (DAPT on a domain, TAPT on task text)",
                              description="Stage 1.5: continue the LM objective from any checkpoint (probekit or "
                              "Hugging Face; a model without LM head gets a fresh one). Example: probekit adapt "
                              "runs/general --synthetic biomed:5000 --steps 100 --out runs/dapt-biomed")
    p.add_argument("checkpoint", help="parent model: a folder, 'minilm', pkg:<package>/<folder> or a "
                   "model id in the local Hugging Face cache")
    _corpus_args(p)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--stage", choices=("dapt", "tapt"), default="dapt")
    p.add_argument("--objective", choices=("mlm", "clm"), help="default: from the checkpoint's architecture")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--tokenizer", type=Path, help="default: the checkpoint's tokenizer")
    _train_args(p, steps=200, lr=1e-4)
    p.set_defaults(func=cmd_adapt)

    p = subparsers.add_parser("finetune", help="fine-tune sequence/token classification heads (multi-task)",
                              description="Stage 2: one head per --task on a shared encoder. Task specs: "
                              "downstream:DOMAIN[@LANG][:N] (generator sentence task), "
                              "synthetic-label:KEY:DOMAIN[@LANG][:N] (KEY tense, subj_num or obj_num), or "
                              "upos:TRAIN.conllu[,DEV.conllu[,TEST.conllu]] (token task; also xpos, udeprel), or dependency "
                              "parsing (UAS/LAS): synthetic-deps:DOMAIN[@LANG][:N], ud-deps:TRAIN.conllu[,DEV[,TEST]]. Example: "
                              "probekit finetune runs/dapt-biomed --task downstream:biomed --out runs/ft-biomed")
    p.add_argument("checkpoint", help="parent model: a folder, 'minilm', pkg:<package>/<folder> or a "
                   "model id in the local Hugging Face cache")
    p.add_argument("--task", action="append", required=True, help="task spec (repeat for multi-task)")
    p.add_argument("--extra-eval", action="append", metavar="TASK:SPLIT=FILE",
                   help="zero-shot evaluation split, e.g. upos:test_fr=fr_gsd-ud-test.conllu")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=("full", "frozen"), default="full", help="frozen: train heads only")
    p.add_argument("--init", choices=("pretrained", "random"), default="pretrained",
                   help="random: same architecture, no transfer (baseline)")
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--tokenizer", type=Path)
    _train_args(p, steps=300, lr=1e-4)
    p.set_defaults(func=cmd_finetune)

    p = subparsers.add_parser("lineage", help="print the tree of checkpoints under a folder",
                              description="Reads every probekit.json under DIR and prints parents above children.")
    p.add_argument("dir", type=Path)
    p.set_defaults(func=cmd_lineage)

    p = subparsers.add_parser("transfer", help="run a chain of stages (suite [transfer] section or the demo)",
                              description="Runs the stages declared in a suite file's [transfer] section, or the "
                              "demo suite's (--demo: pre-train general -> DAPT -> fine-tune vs random init), and compares "
                              "fine-tuning from pre-trained weights with fine-tuning from random init, paired by seed.")
    p.add_argument("suite", type=Path, nargs="?", help="suite TOML with a [transfer] section")
    p.add_argument("--demo", action="store_true", help="the demo suite's chain (probes/demo.toml)")
    p.add_argument("--out", type=Path, help="output root (default: the suite's transfer.out)")
    p.add_argument("--data-root", type=Path, help="read the stages' relative data files (corpora, task and "
                   "extra_eval files) from here (default: the suite's data.root, else the suite's folder); "
                   "probekit run takes --set data.root=DIR")
    p.set_defaults(func=cmd_transfer)
