"""``probekit <verb>``: a thin argparse front end over the library.

Each module in :mod:`probekit.commands` contributes its verbs through ``register(subparsers)``
and sets ``func`` on its parsers; this file only wires them together and turns
:class:`~probekit.errors.ProbekitError` into a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from probekit import __version__
from probekit.errors import ProbekitError

# Order is the order verbs appear in --help.
COMMAND_MODULES = ("suite", "demo", "data", "extract", "cache", "probe", "select", "transfer", "crosslingual")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probekit",
        description="What does each layer of a transformer know, how did transfer learning put "
        "it there, and which layers should I use as features?",
    )
    parser.add_argument("--version", action="version", version=f"probekit {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="<verb>")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"probekit.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except ProbekitError as err:
        print(f"probekit {args.verb}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
