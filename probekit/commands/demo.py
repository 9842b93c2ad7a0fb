"""``probekit demo``: the main job on the embedded default (see :mod:`probekit.demo`)."""

from __future__ import annotations

import argparse

from probekit.commands.suite import print_summary, quiet


def _demo(args: argparse.Namespace) -> int:
    from probekit.demo import run_demo

    quiet(args)
    scores, html, sections = run_demo(args.out, fast=args.fast, transfer=not args.no_transfer,
                                      overrides=args.set, progress=not args.quiet)
    print_summary(scores)
    for heading, text in sections:
        print(f"\n{heading}:\n{text}")
    print(f"\nreport: {html}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    demo = subparsers.add_parser(
        "demo", help="the main job on the embedded default (no external data)",
        description="Probe all-MiniLM-L6-v2 layer by layer on probekit's generated corpus (probes/demo.toml), "
        "run the transfer chain (pre-train, domain-adapt, fine-tune vs random init), probe its checkpoints, "
        "and write the report.",
    )
    demo.add_argument("--out", default="reports/demo", help="report folder (default reports/demo)")
    demo.add_argument("--fast", action="store_true", help="small sizes: a quick smoke run of the same pipeline")
    demo.add_argument("--no-transfer", action="store_true", help="skip the transfer chain")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo suite value")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
