"""The ``auditlens`` command line: one entry point, one sub-command per job.

Each area of the project registers its own sub-commands (``register(subparsers)`` in a
``commands`` module), so this file stays a table of contents. Heavy imports (Qt, FastAPI,
SQLAlchemy) happen inside the command handlers, never at parse time, so ``--help`` and
``verify`` start fast and ``verify`` works without Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auditlens import __version__

# The modules whose ``register(subparsers)`` adds sub-commands. A command is listed only once it
# works end to end.
COMMAND_MODULES: tuple[str, ...] = (
    "auditlens.ui.commands",  # gui (the default), demo
    "auditlens.client.commands",  # login, logout, sync
    "auditlens.client.event_check",  # verify-event
    "auditlens.export.commands",  # export, verify
    "auditlens.export.report_command",  # report
    "auditlens.export.case_command",  # case-export
    "auditlens.server.commands",  # serve, server ...
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="auditlens",
        description=(
            "auditlens: view, sync, export and verify a tamper-evident audit log. "
            "Run a sub-command with --help for its options."
        ),
    )
    parser.add_argument("--version", action="version", version=f"auditlens {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # No command: open the viewer, as a desktop application does when double-clicked.
        args = parser.parse_args(["gui", *(argv or [])])
        handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
