"""``probekit demo``: ``probekit run probes/demo.toml`` (the shipped demo suite), by another name.

``--fast`` is a list of ``--set`` overrides of that suite (smaller corpora, fewer steps, its own
transfer folder), so the smoke run goes through the same path as the full one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_SUITE = Path(__file__).resolve().parents[2] / "probes" / "demo.toml"
# the suite's fine-tuning tables (each declares three seeds: its -seed1/-seed2 copies share its overrides)
FINETUNE_STAGES = ("ft-reviews", "ft-reviews-random-init")
FAST_OVERRIDES = [
    "data.synthetic.train_sentences=300", "data.synthetic.eval_sentences=100", "data.synthetic.test_sentences=100",
    "scoring.bootstrap=100", "selection.finetune_steps=10", "selection.strategies=['cost_aware','last']",
    "transfer.out=../runs/demo-transfer-fast",  # never the full run's checkpoints
    "transfer.stages.general.corpus=synthetic:general:2000", "transfer.stages.general.vocab_also=['synthetic:reviews:1000']",
    "transfer.stages.general.vocab_size=2000", "transfer.stages.general.hidden=64", "transfer.stages.general.train.steps=30",
    "transfer.stages.dapt-reviews.corpus=synthetic:reviews:1000", "transfer.stages.dapt-reviews.train.steps=30",
    *(f"transfer.stages.{name}.{key}" for name in FINETUNE_STAGES
      for key in ("train.steps=20", "train.eval_every=10", "tasks=['synthetic-pos:reviews:20,20,40']")),
]


def _demo(args: argparse.Namespace) -> int:
    from probekit.commands.suite import run_command

    if not DEMO_SUITE.is_file():
        from probekit.errors import ConfigError

        raise ConfigError(f"demo suite {DEMO_SUITE} not found; run the demo from a probekit checkout")
    overrides = (FAST_OVERRIDES if args.fast else []) + args.set
    return run_command(argparse.Namespace(suite=str(DEMO_SUITE), out=args.out, set=overrides, dry_run=args.dry_run,
                                          quiet=args.quiet, jobs=args.jobs))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    from probekit.commands.suite import add_jobs_argument

    demo = subparsers.add_parser(
        "demo", help="the main job on the embedded default (no external data): probekit run probes/demo.toml",
        description="Runs the shipped demo suite (probes/demo.toml) exactly as `probekit run probes/demo.toml "
        "--out reports/demo` would: probes all-MiniLM-L6-v2 layer by layer on probekit's generated corpus, runs the "
        "transfer chain (pre-train, domain-adapt, fine-tune vs random init), probes its checkpoints, and writes "
        "the report.",
    )
    demo.add_argument("--out", default="reports/demo", help="report folder (default reports/demo)")
    demo.add_argument("--fast", action="store_true",
                      help="a quick smoke run of the same suite (small corpora and chain; its own transfer folder)")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo suite value")
    demo.add_argument("--dry-run", action="store_true", help="list the stages and units (done or to run); run nothing")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    add_jobs_argument(demo)
    demo.set_defaults(func=_demo)
