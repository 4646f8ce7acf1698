"""``auditlens verify`` and ``auditlens export``: the command-line faces of this package.

``verify`` must run anywhere an investigator copies an export: it imports only the verifier
(no Qt, no SQLAlchemy, no network). ``export`` imports the mirror and the writer inside its
handler, so registering it costs nothing at start-up.

Exit codes of ``verify`` (documented in ``--help``): 0 verified; 1 verification failed (the
report lists each finding); 2 usage error (no such file, malformed key); 3 the file is
consistent but no trusted key was given (``--vkey``), so it is NOT verified: the key inside the
file is a hint anyone can forge, and a script must not mistake "consistent" for "verified".
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from auditlens.core.summaries import VERDICTS

if TYPE_CHECKING:
    from auditlens.core.evidence_check import Report
    from auditlens.export.verify import FileReport

VERIFY_EPILOG = """\
whose log: the report starts with the LOG (origin) and KEY it verified against. Pin both:
  auditlens verify FILE --vkey-file server.vkey --origin auditlens.example/acme

exit codes:
  0  verified: every event is exactly as signed in the log, in order, none missing or added
  1  verification failed: see the findings (each with its code and log indexes)
  2  usage error: no such file, malformed key
  3  not verified: the file is consistent but was checked only against the key hint inside
     it; pass --vkey (or --vkey-file) with the server's key obtained out of band
"""


EXPORT_EPILOG = """\
examples:
  auditlens export --server URL --format csv --out refusals.csv --outcome denied --since 2026-01-01
  auditlens export --server URL --format json --out task.json --task-id 'tsk_7*'
  auditlens export --server URL --format ndjson --out office.ndjson --ip '10.0.*'
  auditlens export --server URL --format csv --out q.csv --query 'type:agent after:-7d'

The filter keys and their exact meaning: docs/evidence-format.md, section 7.
"""


def register(subparsers: Any) -> None:
    """Add the ``verify`` and ``export`` sub-commands."""
    verify = subparsers.add_parser(
        "verify",
        help="verify an export offline (JSON, NDJSON, CSV with its sidecar, HTML task report)",
        description=(
            "Verify an auditlens export offline: the checkpoint signature against a key you "
            "trust, every event against its inclusion proof, the data file's SHA-256, the CSV "
            "cells against each event's canonical JSON, order and duplicates. No network."
        ),
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument(
        "file", type=Path, help="the export (or its .evidence.json sidecar) or a task report"
    )
    keys = verify.add_mutually_exclusive_group()
    keys.add_argument("--vkey", help="the log server's verifier key (signed-note vkey text)")
    keys.add_argument("--vkey-file", type=Path, help="a file holding the verifier key")
    verify.add_argument(
        "--origin",
        help="the log the export must come from (its checkpoint's first line, e.g. "
        "auditlens.example/acme). Third parties: always pass it with --vkey. Without it, the "
        "one log this machine's pins hold for the key is expected; failing that, the origin the "
        "file names is taken, and a genuine export of another log verifies too",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=run_verify)

    export = subparsers.add_parser(
        "export",
        help="write a verified export from the local mirror (headless)",
        description=(
            "Re-verify the local mirror against its latest trusted checkpoint and write the "
            "matching events with their proofs. Filters work as in the viewer's sidebar; they "
            "combine with AND, and a value ending in * is a prefix (case-sensitive). With "
            "--server the server records the export and attests its completeness; it cannot "
            "attest --ip nor a --user-email prefix, and the export then says so."
        ),
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = export.add_mutually_exclusive_group()
    where.add_argument("--server", help="the server URL whose mirror to export from")
    where.add_argument("--mirror", type=Path, help="the mirror file to export from")
    export.add_argument("--format", required=True, choices=("csv", "json", "ndjson"))
    export.add_argument("--out", required=True, type=Path, help="the file to write")
    export.add_argument("--since", help="events at or after this time (RFC 3339)")
    export.add_argument("--until", help="events before this time (RFC 3339)")
    export.add_argument(
        "--user-email",
        help="events of this user (by the organization's directory; 'ana*' is a prefix, which "
        "the server does not attest)",
    )
    export.add_argument("--user-id", help="events of this user id ('usr_a*' is a prefix)")
    export.add_argument(
        "--type",
        action="append",
        default=[],
        help="an event type (agent.action) or category (agent); repeat or comma-separate",
    )
    export.add_argument("--task-id", help="events of this task ('tsk_*' is a prefix)")
    export.add_argument("--agent-id", help="events of this agent ('agt_*' is a prefix)")
    export.add_argument(
        "--ip",
        help="events whose request came from this address ('10.0.*' is a prefix); the server "
        "does not attest filters on addresses, so such an export's completeness is not attested",
    )
    export.add_argument(
        "--outcome",
        choices=VERDICTS,
        help="the event's verdict: denied is a refusal (approval.denied, or a failure for a "
        "reason such as permission_denied); success and failure leave refusals out",
    )
    export.add_argument(
        "--query",
        help="the filter as the viewer's query bar writes it, instead of the options above: "
        "'type:agent outcome:failure user:ana* after:2026-01-01 before:-1h' (UTC). Free text, "
        "-exclusions, idx: and event.*: are refused: an export's evidence states its filter "
        "with the options above only. A query starting with - is given as --query='-…'",
    )
    export.add_argument("--bom", action="store_true", help="CSV: start with a UTF-8 BOM")
    export.add_argument("--columns", help="CSV: comma-separated columns (canonical_json always)")
    add_api_key_file_option(export)
    export.add_argument(
        "--no-record",
        action="store_true",
        help="do not record the export on the server as an audit.exported event (its "
        "evidence then says that completeness is not attested)",
    )
    export.add_argument(
        "--verify",
        choices=("tiles", "full"),
        default="tiles",
        help="before writing, re-hash only the tiles holding exported events (tiles, the "
        "default) or every entry of the mirror (full)",
    )
    export.set_defaults(handler=run_export)


def add_api_key_file_option(parser: Any) -> None:
    """``--api-key-file``: record the export with this key (headless machines, no keyring)."""
    parser.add_argument(
        "--api-key-file",
        type=Path,
        help="record the export with the read API key in this file (first line) instead of "
        "the stored sign-in (for machines without a keyring)",
    )


def _read_vkey(args: argparse.Namespace) -> str | None:
    if args.vkey_file is not None:
        return str(Path(args.vkey_file).read_text(encoding="utf-8").strip())
    return str(args.vkey) if args.vkey else None


def pinned_origin(vkey: str | None) -> str | None:
    """The origin to require when ``--origin`` is not given; None takes the file's own.

    The viewer pins each log's origin and key on first contact: when exactly one pinned log is
    signed by ``vkey``, that is the log the export must come from (so a genuine export of
    another organization under the same server key does not pass for this one).
    """
    if not vkey:
        return None
    from auditlens.client.trust import pinned_origin_for_key

    origin = pinned_origin_for_key(vkey)
    if origin is not None:
        print(f"Expecting the log {origin}, pinned for this key.", file=sys.stderr)
    return origin


def run_verify(args: argparse.Namespace) -> int:
    """Verify ``args.file``; print the report; return the exit code (see the module doc)."""
    from auditlens.core.errors import FormatError
    from auditlens.export.verify import unreadable_report, verify_file

    try:
        vkey = _read_vkey(args)
        origin = args.origin or pinned_origin(vkey)
        freport = verify_file(args.file, [vkey] if vkey else None, origin=origin)
    except (OSError, FormatError) as exc:
        print(f"auditlens verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a file must never end in a traceback or exit 2
        freport = unreadable_report(args.file, exc)
    if args.json:
        sys.stdout.write(orjson.dumps(freport.to_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(freport))
    return exit_code(freport)


def _mirror_for(args: argparse.Namespace) -> tuple[Path, str | None]:
    """The mirror file to read and the server URL to record the export on (if any)."""
    from auditlens.client.api import normalize_server_url
    from auditlens.client.session import signed_in_mirror
    from auditlens.mirror.store import data_dir

    if args.mirror is not None:
        return Path(args.mirror), None
    if args.server is None:
        mirrors = sorted((data_dir() / "mirrors").glob("*.sqlite"))
        if len(mirrors) == 1:
            return mirrors[0], None
        raise ValueError(
            "say which mirror to export from with --server URL or --mirror PATH (found "
            f"{len(mirrors)} mirror files in {data_dir() / 'mirrors'})"
        )
    server = normalize_server_url(args.server)
    return signed_in_mirror(server), server


#: The separate filter options ``--query`` stands for (given together, they are refused).
_FILTER_OPTIONS = ("since", "until", "user_email", "user_id", "type", "task_id", "agent_id", "ip")


def _query_filter(args: argparse.Namespace) -> Any:
    """The filter of ``--query``: exactly what the same filter given as options would be."""
    from auditlens.mirror.query_text import parse_query

    given = [
        f"--{name.replace('_', '-')}"
        for name in (*_FILTER_OPTIONS, "outcome")
        if getattr(args, name)
    ]
    if given:
        raise ValueError(f"give the filter as --query or as {', '.join(given)}, not both")
    try:
        f = parse_query(args.query).filter
    except ValueError as exc:
        raise ValueError(f"--query: {exc}") from None
    refused = [
        what
        for what, present in (
            ("free text (the evidence states no search)", f.text is not None),
            ("an excluded value (-qualifier:)", bool(f.exclude)),
            ("log positions (idx:)", f.idx_from is not None or f.idx_until is not None),
            ("a payload field (event.NAME:)", f.event_field is not None),
        )
        if present
    ]
    if refused:
        raise ValueError(
            f"--query: an export's evidence states its filter with --since, --type, --user-email "
            f"and the like only; this query holds {' and '.join(refused)}"
        )
    return f


def _filter(args: argparse.Namespace) -> Any:
    from auditlens.core.timestamps import parse_timestamp
    from auditlens.mirror.filter import EventFilter

    if getattr(args, "query", None) is not None:
        return _query_filter(args)
    types = {t.strip() for value in args.type for t in value.split(",") if t.strip()}
    return EventFilter(
        since_ms=parse_timestamp(args.since) if args.since else None,
        until_ms=parse_timestamp(args.until) if args.until else None,
        user_email=args.user_email,
        user_id=args.user_id,
        types=frozenset(types),
        task_id=args.task_id,
        agent_id=args.agent_id,
        outcome=args.outcome,
        ip=args.ip,
    )


def run_export(args: argparse.Namespace) -> int:
    """Export from the mirror; 0 on success, 1 when refused, 2 on bad input."""
    from auditlens.core.errors import FormatError
    from auditlens.export.columns import CSV_COLUMNS
    from auditlens.export.writer import (
        ExportCancelledError,
        ExportOptions,
        ExportRefusedError,
        export,
    )
    from auditlens.mirror.filter import filter_description
    from auditlens.mirror.snapshot import MirrorSnapshot

    try:
        path, server = _mirror_for(args)
        event_filter = _filter(args)
        columns = (
            [c.strip() for c in args.columns.split(",") if c.strip()]
            if args.columns
            else list(CSV_COLUMNS)
        )
        options = ExportOptions(
            format=args.format,
            path=args.out,
            filter=filter_description(event_filter),
            bom=args.bom,
            columns=columns,
            verify=args.verify,
            query=getattr(args, "query", None),
        )
        cancel = threading.Event()
        attest = (
            _attester(server, args.api_key_file)
            if server is not None and not args.no_record
            else None
        )
        with MirrorSnapshot(path, event_filter) as snapshot:
            result = export(snapshot, options, cancel=cancel, attest=attest)
    except ExportRefusedError as exc:
        print(f"auditlens export: {exc}", file=sys.stderr)
        return 1
    except (ExportCancelledError, KeyboardInterrupt):
        print("auditlens export: cancelled; nothing was written", file=sys.stderr)
        return 1
    except (OSError, ValueError, FormatError) as exc:
        print(f"auditlens export: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if attest is None:
        why = "--no-record was given" if args.no_record else "no server (use --server URL)"
        print(f"(Not recorded on the server: {why}.)")
    return 0


def _attester(server: str, api_key_file: Path | None) -> Any:
    """Record the export on ``server`` and carry its completeness record in the evidence.

    The key in ``api_key_file`` when given (ValueError naming the file if it cannot be read),
    else the credential ``login`` stored or the environment gives.
    """
    from auditlens.client.api import AuditApiClient
    from auditlens.client.credentials import CredentialStore, read_api_key_file
    from auditlens.export.record import attester

    if api_key_file is not None:
        return attester(AuditApiClient(server, read_api_key_file(api_key_file)))
    cred = CredentialStore().load(server)
    return attester(AuditApiClient(server, cred.secret if cred is not None else None))


# ----------------------------------------------------------------------------------------------
# The report a person reads, and the exit codes (the viewer's verify dialog shows the same text)


_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def _who(freport: FileReport) -> list[str]:
    """The first lines: which log and which key the verdict is about, before anything else.

    A genuine export of *another* organization verifies against that organization's key, so a
    reader must see whose log this is, and whether the origin and key were pinned by them or
    merely taken from the file.
    """
    r = freport.report
    ev, cp = r.evidence, r.checkpoint
    origin = cp.origin if cp else (ev.origin if ev else None)
    if origin is None:
        return []
    if freport.pinned_origin is not None:
        pinned = "pinned: the origin you required"
    else:
        pinned = "NOT pinned: the origin the file names; pass --origin to require yours"
    key = r.key_name or "?"
    trust = "trusted: the key you gave" if r.key_trusted else "NOT trusted: the file's own hint"
    return [f"  LOG: {origin}   ({pinned})", f"  KEY: {key}   ({trust})"]


def _completeness_line(r: Report) -> str:
    if r.completeness is None:
        return (
            "COMPLETENESS NOT ATTESTED: the log has not vouched for this export's filter and "
            "count (made offline, with --no-record, or a version 1 file). It proves each "
            "event is in the log, not that none matching the filter was left out."
        )
    if r.completeness.status == "complete":
        att = r.completeness.attestation
        count = f"{att.count:,} " if att else ""
        if r.status == "failed":
            return (
                f"Completeness: the log's record attests the evidence's {count}event(s) as the "
                "complete answer, but the file failed the checks above."
            )
        return (
            f"COMPLETE: the log's own record attests that exactly these {count}event(s) match "
            "the filter at this tree size."
        )
    return "COMPLETENESS FAILED: the export is not the answer the log recorded (see findings)."


def render(freport: FileReport) -> str:
    """Return the human report: whose log, what was checked, each failure with its code."""
    r = freport.report
    ev = r.evidence
    cp = r.checkpoint
    lines = [f"auditlens verify: {freport.data_path}", *_who(freport)]
    if freport.evidence_path is not None:
        lines.append(f"  evidence: {freport.evidence_path}")
    if ev is not None:
        root = f", root {cp.root.hex()[:16]}…" if cp else ""
        size = cp.size if cp else ev.tree_size
        lines.append(f"  checkpoint size {size:,}{root}")
        lines.append(
            f"  exported {ev.exported_at} by auditlens {ev.auditlens_version}; "
            f"filter {orjson.dumps(dict(ev.filter)).decode()}"
        )
        if ev.query is not None:
            lines.append(f"  query as typed (information, not attested): {ev.query}")
        from auditlens.core.errors import format_ranges

        listed = format_ranges(list(ev.indexes), 8) or "none"
        lines.append(
            f"  events: {r.events:,} in the file, {ev.count:,} in the evidence (indexes {listed})"
        )
    lines.extend(f"  note: {n}" for n in freport.notes)
    lines.append("")
    lines.append("Checks:")
    lines.extend(f"  [{_MARK[s.status]}] {s.name}: {s.detail}" for s in r.steps)
    if r.findings:
        lines.append("")
        lines.append(f"Findings ({len(r.findings)}):")
        lines.extend(f"  {f}" for f in r.findings)
    lines.append("")
    if r.status == "verified":
        lines.append(
            f"VERIFIED: all {r.events:,} event(s) are exactly as signed in the log, in log order, "
            "none missing, none added."
        )
    elif r.status == "unverified":
        lines.append(
            "NOT VERIFIED: the file is consistent, but it was checked only against the key hint "
            "inside it, which anyone can forge. Run again with --vkey KEY (or --vkey-file) "
            "holding the log server's key obtained out of band."
        )
    else:
        codes = sorted({str(f.code) for f in r.failures})
        lines.append(f"FAILED: {len(r.failures)} problem(s) ({', '.join(codes)}).")
    if ev is not None:
        lines.append(_completeness_line(r))
    lines.extend(freport.annotations.lines() if freport.annotations else ())
    return "\n".join(lines) + "\n"


EXIT_VERIFIED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNVERIFIED = 3


def exit_code(freport: FileReport) -> int:
    """0 verified; 1 any failure; 3 consistent but no trusted key was given."""
    status = freport.report.status
    if status == "verified":
        return EXIT_VERIFIED
    return EXIT_UNVERIFIED if status == "unverified" else EXIT_FAILED
