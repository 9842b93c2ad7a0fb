"""``probekit cache ls`` / ``probekit cache gc``: inspect and prune the content-addressed cache."""

from __future__ import annotations

import argparse
import re

from probekit.errors import ConfigError


def _size_mb(text: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgGtT]?)[bB]?\s*", text)
    if not match:
        raise ConfigError(f"size {text!r} not understood; use e.g. 500M or 20G")
    scale = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2}[match.group(2).lower()]
    return float(match.group(1)) * scale


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``probekit cache ls|gc``."""
    p = subparsers.add_parser("cache", help="list or prune cached representations/results",
                              description="Inspect (ls) or prune (gc) the probekit cache.")
    verbs = p.add_subparsers(dest="cache_verb", metavar="<ls|gc>")
    ls = verbs.add_parser("ls", help="one line per entry", description="List cache entries with "
                          "status (ok, broken, partial), size and what produced them.")
    ls.add_argument("--verify", default="sizes", choices=["sizes", "sample", "full"],
                    help="integrity check to run on each entry (default sizes)")
    ls.add_argument("--cache", help="cache root (default $PROBEKIT_CACHE or ~/.cache/probekit)")
    ls.set_defaults(func=run_ls)
    gc = verbs.add_parser("gc", help="delete broken, stale, old or least-recently-used entries",
                          description="Delete broken/incomplete entries and stale partial builds; "
                          "optionally entries unused for N days and LRU entries over a size limit.")
    gc.add_argument("--older-than", type=float, metavar="DAYS", help="remove entries unused this long")
    gc.add_argument("--max-size", type=_size_mb, metavar="SIZE", help="e.g. 20G: keep the cache under it")
    gc.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    gc.add_argument("--cache", help="cache root (default $PROBEKIT_CACHE or ~/.cache/probekit)")
    gc.set_defaults(func=run_gc)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def run_ls(args: argparse.Namespace) -> int:
    import pandas as pd

    from probekit.cache import list_entries
    from probekit.paths import cache_root

    table = list_entries(args.cache, verify=args.verify)
    print(f"cache: {args.cache or cache_root()}")
    if table.empty:
        print("(empty)")
        return 0
    table["summary"] = table.summary.str.slice(0, 70)
    with pd.option_context("display.width", 250):
        print(table.drop(columns=["path", "size_bytes"]).to_string(index=False))
    print(f"{len(table)} entries, {table.size_mb.sum():.1f} MB")
    return 0


def run_gc(args: argparse.Namespace) -> int:
    from probekit.cache import collect_garbage

    removed = collect_garbage(args.cache, older_than_days=args.older_than,
                              max_size_mb=args.max_size, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for row in removed.itertuples():
        print(f"{verb} {row.stage}/{row.key} ({row.size_mb} MB): {row.reason}")
    print(f"{verb} {len(removed)} entries, {removed.size_mb.sum() if len(removed) else 0:.1f} MB")
    return 0
