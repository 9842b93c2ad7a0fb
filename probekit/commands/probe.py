"""CLI verbs for the probe area (placeholder until its issue lands)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's verbs to the `probekit` parser."""
