"""Command-line options that several sub-commands share, defined once.

``auditlens serve --demo``, ``auditlens server seed`` and ``auditlens demo`` all seed the same
demo data, so they take the same ``--seed`` and ``--events`` with the same defaults and help;
``auditlens gui`` and ``auditlens demo`` both sync on a timer. This module sits beside
:mod:`auditlens.cli` (above the layers), so both ``ui`` and ``server`` may use it without
importing each other, and it imports nothing but ``argparse``.
"""

from __future__ import annotations

import argparse

__all__ = ["DEMO_EVENTS", "add_demo_data_options", "add_sync_every_option"]

DEMO_EVENTS = 100_000
"""Events a demo organization gets unless ``--events`` says otherwise."""


def add_demo_data_options(parser: argparse.ArgumentParser) -> None:
    """``--seed`` and ``--events``: which deterministic demo log, and how long."""
    parser.add_argument("--seed", type=int, default=1, help="demo data seed (default 1)")
    parser.add_argument(
        "--events",
        type=int,
        default=DEMO_EVENTS,
        help=f"demo events to seed (default {DEMO_EVENTS})",
    )


def add_sync_every_option(parser: argparse.ArgumentParser) -> None:
    """``--sync-every``: sync on a timer as well as at start and on F5."""
    parser.add_argument(
        "--sync-every",
        type=int,
        default=0,
        metavar="SECONDS",
        help="also sync every SECONDS seconds (default: only at start and on F5)",
    )
