"""``probekit crosslingual``: per-layer cross-lingual curves of a model on an aligned pair."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``probekit crosslingual``."""
    p = subparsers.add_parser(
        "crosslingual", help="where languages meet: per-layer CKA, translation retrieval, probe transfer",
        description="For a model and a parallel corpus with word alignments, per layer: linear CKA of the "
        "aligned words (xling_cka), word-translation retrieval by cosine nearest neighbour (xling_retrieval) "
        "and a linear probe trained on the source language, scored on the target one (xling_probe_transfer, "
        "beside xling_probe_source). The parallel corpus is the generator's (--synthetic LANG, aligned "
        "through glosses) or your files (--source/--target text or CoNLL-U, --alignment in Pharaoh format). "
        "Example: probekit crosslingual --model runs/xling/pretrain --synthetic sov:300 "
        "--anchors cognates=0.5 --out xling.csv")
    p.add_argument("--model", required=True, help="checkpoint folder, pkg:... or 'minilm'")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--synthetic", metavar="LANG[:N]", help="generator pair en-LANG, N sentences (default 300)")
    src.add_argument("--source", help="source sentences: text (one per line) or .conllu")
    p.add_argument("--target", help="target sentences (with --source)")
    p.add_argument("--alignment", help="Pharaoh alignment file, one line per pair (with --source)")
    p.add_argument("--anchors", default="", help="generator anchors for --synthetic, e.g. names=0+punct=0")
    p.add_argument("--domain", default="general", help="generator domain for --synthetic")
    p.add_argument("--seed", type=int, default=0, help="generator seed and probe seed")
    p.add_argument("--label-key", default="upos",
                   help="word labels for probe transfer (upos, xpos, deprels) or 'none' (default upos)")
    p.add_argument("--out", help="write the rows (scores-table columns) to this CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from probekit.crosslingual import crosslingual_scores
    from probekit.data.parallel import read_parallel, synthetic_parallel
    from probekit.errors import ConfigError
    from probekit.io import atomic_write_text

    if args.synthetic:
        if args.target or args.alignment:
            raise ConfigError("--target/--alignment go with --source, not --synthetic")
        lang, _, n = args.synthetic.partition(":")
        if n and not n.isdigit():
            raise ConfigError(f"--synthetic {args.synthetic!r}: expected LANG[:N], e.g. sov:300")
        parallel = synthetic_parallel(int(n or 300), target=lang, domain=args.domain, seed=args.seed,
                                      anchors=args.anchors or None)
    else:
        if not (args.target and args.alignment):
            raise ConfigError("--source needs --target and --alignment")
        if args.anchors:
            raise ConfigError("--anchors shapes --synthetic corpora only")
        parallel = read_parallel(args.source, args.target, args.alignment)
    label_key = None if args.label_key == "none" else args.label_key
    frame = crosslingual_scores(args.model, parallel, label_key=label_key, seed=args.seed)
    table = frame.pivot_table(index="layer", columns="metric", values="value").round(3)
    print(table.to_string())
    if args.out:
        atomic_write_text(args.out, frame.to_csv(index=False))
        print(f"wrote {len(frame)} rows to {args.out}")
    return 0
