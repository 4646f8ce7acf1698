"""``auditlens case-export``: the viewer's Case -> Export case…, headless.

Writes the starred and annotated events of a mirror's case file (``<mirror>.case.db``) as a
verified export, and the notes beside it (:mod:`auditlens.export.case_export`). The mirror is
chosen as for ``auditlens export`` (``--server URL`` or ``--mirror PATH``); with ``--server``
the server records the export as ``audit.exported`` (a hand-picked set of indexes: recorded,
not attested). Exit codes: 0 written, 1 refused, 2 bad input (no case, another log's case).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from auditlens.export.commands import add_api_key_file_option


def register(subparsers: Any) -> None:
    """Add the ``case-export`` sub-command."""
    case = subparsers.add_parser(
        "case-export",
        help="export the case (starred and noted events) with proofs, the notes beside it",
        description=(
            "Write the events you starred or noted in the viewer as a verified export, and "
            "your notes beside it as <file>.notes.json: the investigator's words, not part of "
            "the evidence. 'auditlens verify <file>' checks the events and lists the notes as "
            "unverified annotations."
        ),
    )
    where = case.add_mutually_exclusive_group()
    where.add_argument("--server", help="the server URL whose mirror (and case) to export")
    where.add_argument("--mirror", type=Path, help="the mirror file whose case to export")
    case.add_argument("--format", default="json", choices=("csv", "json", "ndjson"))
    case.add_argument("--out", required=True, type=Path, help="the file to write")
    add_api_key_file_option(case)
    case.add_argument(
        "--no-record", action="store_true", help="do not record the export on the server"
    )
    case.set_defaults(handler=run_case_export)


def run_case_export(args: argparse.Namespace) -> int:
    from auditlens.core.errors import FormatError
    from auditlens.export.case_export import export_case
    from auditlens.export.commands import _attester, _mirror_for
    from auditlens.export.writer import ExportCancelledError, ExportOptions, ExportRefusedError
    from auditlens.mirror.case_file import CaseFile, CaseFileError, case_path_for

    try:
        path, server = _mirror_for(args)
        case_path = case_path_for(path)
        if not case_path.exists():
            raise ValueError(f"{path} has no case file ({case_path}): star or note events first")
        attest = (
            _attester(server, args.api_key_file)
            if server is not None and not args.no_record
            else None
        )
        case = CaseFile(case_path)
        try:
            options = ExportOptions(format=args.format, path=args.out, filter={})
            result = export_case(path, case, options, attest=attest)
        finally:
            case.close()
    except ExportRefusedError as exc:
        print(f"auditlens case-export: {exc}", file=sys.stderr)
        return 1
    except (ExportCancelledError, KeyboardInterrupt):
        print("auditlens case-export: cancelled; nothing was written", file=sys.stderr)
        return 1
    except (OSError, ValueError, FormatError, CaseFileError) as exc:
        print(f"auditlens case-export: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0
