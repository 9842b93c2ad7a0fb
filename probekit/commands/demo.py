"""``probekit run SUITE`` (a probing study from a suite file) and ``probekit demo`` (the main job
on the embedded default, see :mod:`probekit.demo`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _quiet(args: argparse.Namespace) -> None:
    if args.quiet:  # also silences bars drawn deep inside stages (tqdm reads TQDM_* overrides)
        os.environ["TQDM_DISABLE"] = "1"


def _print_summary(scores) -> None:
    from probekit.report import summarize

    print(summarize(scores).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _run(args: argparse.Namespace) -> int:
    from probekit.report import write_report
    from probekit.suite import load_suite, run_suite

    _quiet(args)
    suite = load_suite(args.suite, args.set)
    out = Path(args.out or Path("reports") / suite.name)
    scores = run_suite(suite, out, progress=not args.quiet)
    title = suite.config["report"]["title"] or f"probekit: {suite.name}"
    html = write_report(scores, out, config=suite.config, title=title)
    _print_summary(scores)
    print(f"\nreport: {html}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from probekit.demo import run_demo

    _quiet(args)
    scores, html, sections = run_demo(args.out, fast=args.fast, transfer=not args.no_transfer,
                                      overrides=args.set, progress=not args.quiet)
    _print_summary(scores)
    for heading, text in sections:
        print(f"\n{heading}:\n{text}")
    print(f"\nreport: {html}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run`` and ``demo``."""
    run = subparsers.add_parser(
        "run", help="run a probing suite file and write its report",
        description="Probe every model x task x layer of a suite file (TOML, see probes/), then write "
        "scores.csv, summary.csv, plots and report.html. Finished units are reused on re-runs.",
    )
    run.add_argument("suite", help="suite file, e.g. probes/ewt.toml")
    run.add_argument("--out", help="report folder (default reports/<suite name>)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a suite value, e.g. --set data.root=/data --set models.minilm.layers=[0,6]")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=_run)

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
