"""``auditlens login``, ``auditlens logout`` and ``auditlens sync``: the engine without a window.

They exist so scheduled, headless syncs work: ``login`` once (interactively, or with the
password / API key on stdin and the vkey given out of band with ``--vkey``), then ``sync`` from
cron with the credential in the keyring.

Exit codes: 0 success; 1 verification failed (the DESIGN.md §4 code is printed first on stderr,
e.g. ``EVENT_MODIFIED: ...``; EVENT_MISSING of a pruned range also exits 1); 2 anything else
that stopped the command (not signed in, wrong password, network, refused trust); 130 on Ctrl+C
(the mirror is unchanged).
"""

from __future__ import annotations

import argparse
import getpass
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_VERIFICATION = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def register(subparsers: Any) -> None:
    """Add ``login``, ``logout`` and ``sync`` to the ``auditlens`` command line."""
    login = subparsers.add_parser(
        "login",
        help="sign in to an audit API server and pin its log's origin and key",
        description=(
            "Sign in and remember the session in the OS keyring, for `auditlens sync`. "
            "The password (or, with --api-key, the key) is read from the terminal, or from "
            "the first line of stdin when stdin is not a terminal."
        ),
    )
    login.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8765")
    who = login.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="sign in with this email and a password")
    who.add_argument("--api-key", action="store_true", help="sign in with a read API key")
    login.add_argument("--vkey", help="the server's verifier key, as given to you out of band")
    login.add_argument(
        "--yes", action="store_true", help="trust the origin and key shown on first contact"
    )
    _tls_options(login)
    login.set_defaults(handler=run_login)

    logout = subparsers.add_parser(
        "logout", help="sign out and remove the stored session or key from the keyring"
    )
    logout.add_argument("--server", help="server URL (default: the only one signed in)")
    logout.set_defaults(handler=run_logout)

    sync = subparsers.add_parser(
        "sync",
        help="fetch, verify and store new log entries into the local mirror",
        description=(
            "Sync the organization's log into the local mirror with the stored credential, "
            "verifying every entry against the signed checkpoint. Exits 1 with the "
            "verification code when the log fails verification; the mirror is then unchanged."
        ),
    )
    sync.add_argument("--server", help="server URL (default: the only one signed in)")
    sync.add_argument("--mirror-dir", type=Path, help="directory of the mirror files")
    sync.add_argument("--quiet", action="store_true", help="print only the result")
    _tls_options(sync)
    sync.set_defaults(handler=run_sync)


def _tls_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-file", type=Path, help="PEM file of the CA that signed the server's certificate"
    )


def _verify(args: argparse.Namespace) -> bool | ssl.SSLContext:
    ca_file: Path | None = getattr(args, "ca_file", None)
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(message, file=sys.stderr)
    return code


def _read_secret(prompt: str, stdin: TextIO) -> str:
    if stdin.isatty():
        return getpass.getpass(prompt)
    return stdin.readline().rstrip("\r\n")


def _pick_server(given: str | None) -> str:
    from auditlens.client.credentials import CredentialStore

    if given:
        return given
    servers = CredentialStore().servers()
    if len(servers) == 1:
        return servers[0]
    if not servers:
        raise LookupError("You are not signed in anywhere: run `auditlens login` first.")
    raise LookupError(
        "You are signed in to several servers; choose one with --server: " + ", ".join(servers)
    )


def run_login(args: argparse.Namespace) -> int:
    from auditlens.client.errors import ApiError
    from auditlens.client.session import sign_in
    from auditlens.client.trust import normalize_vkey
    from auditlens.core.errors import Code, VerificationError

    try:
        if args.api_key:
            key = _read_secret("API key: ", sys.stdin)
            attempt = sign_in(args.server, api_key=key, verify_tls=_verify(args))
        else:
            password = _read_secret(f"Password for {args.email}: ", sys.stdin)
            attempt = sign_in(
                args.server, email=args.email, password=password, verify_tls=_verify(args)
            )
    except VerificationError as exc:
        return _fail(f"{exc.code}: {exc.message}", EXIT_VERIFICATION)
    except (ApiError, ValueError) as exc:
        return _fail(str(exc))
    try:
        identity = attempt.identity
        if attempt.needs_confirmation:
            print(f"First contact with {attempt.client.base_url}.")
            print(f"  log origin:   {attempt.origin}")
            print(f"  verifier key: {attempt.vkey}")
            if args.vkey:
                pass  # compared in confirm()
            elif args.yes:
                print("Trusting them (--yes).")
            elif sys.stdin.isatty():
                answer = input("Do these match what you were given out of band? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    return _fail("Not trusted: nothing was stored.")
            else:
                return _fail(
                    "Not trusted: confirm the origin and key with --vkey KEY (the key you were "
                    "given) or --yes."
                )
            try:
                attempt.confirm(pasted_vkey=args.vkey)
            except VerificationError as exc:
                return _fail(f"{exc.code}: {exc.message}", EXIT_VERIFICATION)
            except ValueError as exc:
                return _fail(str(exc))
        elif attempt.decision.known_log:
            print(
                f"You already trust the log {attempt.origin} (verifier key {attempt.vkey}); "
                f"{attempt.client.base_url} serves it as organization {identity.organization.id}."
            )
        session = attempt.session
        try:
            given = normalize_vkey(args.vkey) if args.vkey else session.pin.vkey
        except ValueError as exc:
            attempt.credentials.delete(session.server_url)
            return _fail(str(exc))
        if given != session.pin.vkey:
            attempt.credentials.delete(session.server_url)
            return _fail(
                f"{Code.UNTRUSTED_KEY}: the key you gave ({args.vkey.strip()}) is not the key "
                f"pinned for the log {session.pin.origin} ({session.pin.vkey}). Nothing was "
                "stored.",
                EXIT_VERIFICATION,
            )
        print(
            f"Signed in to {session.server_url} as {identity.user.email} "
            f"({identity.user.role}) in {identity.organization.name or identity.organization.id}."
        )
        if attempt.credentials.backend_warning:
            print(attempt.credentials.backend_warning, file=sys.stderr)
        return EXIT_OK
    finally:
        attempt.client.close()


def run_logout(args: argparse.Namespace) -> int:
    from auditlens.client.session import sign_out

    try:
        server = _pick_server(args.server)
    except LookupError as exc:
        return _fail(str(exc))
    removed = sign_out(server)
    print(f"Signed out of {server}." if removed else f"No stored session for {server}.")
    return EXIT_OK


class _Printer:
    """Progress lines on stderr: rewritten in place on a terminal, every ~2 s otherwise."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not self.tty and now - self.last < 2.0 and p.done < p.total:
            return
        self.last = now
        eta = f", {p.eta_seconds:.0f} s left" if p.eta_seconds is not None and p.total else ""
        speed = f" ({p.events_per_second:,.0f} events/s{eta})" if p.done else ""
        line = f"{p.message}{speed}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")


def run_sync(args: argparse.Namespace) -> int:
    from auditlens.client.errors import ApiError
    from auditlens.client.session import NotSignedInError, resume
    from auditlens.client.sync import SyncStatus
    from auditlens.core.errors import VerificationError
    from auditlens.mirror.store import MirrorVersionError

    try:
        server = _pick_server(args.server)
        session = resume(server, verify_tls=_verify(args))
    except VerificationError as exc:
        return _fail(f"{exc.code}: {exc.message}", EXIT_VERIFICATION)
    except (LookupError, NotSignedInError, ApiError, ValueError) as exc:
        return _fail(str(exc))
    printer = _Printer(sys.stderr, args.quiet)
    cancel = threading.Event()
    try:
        engine = session.sync_engine(args.mirror_dir)
        result = engine.run(printer, cancel)
    except KeyboardInterrupt:
        cancel.set()
        printer.end()
        return _fail("Interrupted: the mirror is unchanged.", EXIT_INTERRUPTED)
    except VerificationError as exc:
        printer.end()
        return _fail(str(exc.finding), EXIT_VERIFICATION)
    except (ApiError, MirrorVersionError) as exc:
        printer.end()
        return _fail(str(exc))
    finally:
        session.close()
    printer.end()
    cp = result.checkpoint
    assert cp is not None or result.status is SyncStatus.CANCELLED
    if result.status is SyncStatus.CANCELLED or cp is None:
        return _fail("Cancelled: the mirror is unchanged.", EXIT_INTERRUPTED)
    for finding in result.findings:
        print(str(finding), file=sys.stderr)
    if result.status is SyncStatus.UP_TO_DATE:
        print(f"Up to date: {cp.size:,} events, checkpoint size {cp.size}.")
    else:
        print(
            f"Verified {result.new_entries:,} new events in {result.seconds:.1f} s "
            f"({result.events_per_second:,.0f} events/s) into {engine.mirror_path}."
        )
    print(f"Verified checkpoint (signed by {cp.origin}):")
    print(result.checkpoint_note, end="")
    return EXIT_VERIFICATION if result.failed_findings else EXIT_OK
