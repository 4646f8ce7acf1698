"""``auditlens login``, ``auditlens logout`` and ``auditlens sync``: the engine without a window.

They exist so scheduled, headless syncs work: ``login`` once (interactively, or with the
password / API key on stdin and the vkey given out of band with ``--vkey``), then ``sync`` from
cron with the credential in the keyring. Without a keyring, ``login`` refuses to claim a session
it cannot keep and names the alternatives: ``--credentials-file`` (an opt-in 0600 file in the
config directory), ``AUDITLENS_API_KEY`` / ``AUDITLENS_TOKEN`` in the environment, or
``--api-key-file FILE`` (see :mod:`auditlens.client.credentials`).

Exit codes: 0 success; 1 verification failed (the code, architecture.md §4, is printed first on
stderr, e.g. ``EVENT_MODIFIED: ...``; EVENT_MISSING of a pruned range also exits 1); 2 anything else
that stopped the command (not signed in, wrong password, network, refused trust); 130 on Ctrl+C
(the mirror is unchanged).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from auditlens.core.errors import Code, VerificationError

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
            "the first line of stdin when stdin is not a terminal. With AUDITLENS_API_KEY or "
            "AUDITLENS_TOKEN set, or --api-key-file, the log is pinned and nothing is stored: "
            "later commands read the same variable or file."
        ),
        epilog=HEADLESS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    login.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8765")
    who = login.add_mutually_exclusive_group()
    who.add_argument("--email", help="sign in with this email and a password")
    who.add_argument("--api-key", action="store_true", help="sign in with a read API key")
    _api_key_file_option(who)
    login.add_argument(
        "--credentials-file",
        action="store_true",
        help="keep the session in credentials.json in the config directory (mode 0600) "
        "instead of the OS keyring; for machines without one",
    )
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
    sync.add_argument(
        "--recheck",
        choices=("incremental", "full"),
        help="then re-check the mirror file: as the viewer does at start, or every entry",
    )
    _api_key_file_option(sync)
    _tls_options(sync)
    sync.set_defaults(handler=run_sync)


HEADLESS_HELP = """\
without an OS keyring (servers, schedulers), choose one:
  --credentials-file      keep the session in <config dir>/credentials.json (mode 0600)
  AUDITLENS_API_KEY=KEY   a read API key in the environment of every command (or
  AUDITLENS_TOKEN=TOKEN   a session token); login then only pins the log
  --api-key-file FILE     read the API key from FILE (login, sync, export); nothing is stored
"""


def _api_key_file_option(parser: Any) -> None:
    parser.add_argument(
        "--api-key-file",
        type=Path,
        help="read a read API key from this file (first line) instead of the keyring",
    )


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
    from auditlens.client.trust import TrustStore

    if given:
        return given
    servers = CredentialStore().servers() or TrustStore().servers()
    if len(servers) == 1:
        return servers[0]
    if not servers:
        raise LookupError("You are not signed in anywhere: run `auditlens login` first.")
    raise LookupError(
        "You are signed in to several servers; choose one with --server: " + ", ".join(servers)
    )


def _cannot_keep(config: Path) -> str:
    return (
        "No system keyring is available, so a session signed in now would be lost when this "
        "command ends, and `auditlens sync` could not use it. Nothing was signed in.\n"
        + HEADLESS_HELP.replace("<config dir>", str(config))
    )


def run_login(args: argparse.Namespace) -> int:
    from auditlens.client.credentials import (
        ENV_API_KEY,
        ENV_TOKEN,
        CredentialStore,
        environment_credential,
        read_api_key_file,
    )
    from auditlens.client.errors import ApiError
    from auditlens.client.paths import config_dir
    from auditlens.client.session import sign_in

    store = CredentialStore()
    try:
        from_env = environment_credential(args.server)
    except ValueError as exc:
        return _fail(str(exc))
    asked = args.email or args.api_key or args.api_key_file
    if from_env is not None and asked:
        name = ENV_API_KEY if from_env.kind == "api_key" else ENV_TOKEN
        return _fail(f"{name} is set: unset it, or run `login` without --email / --api-key.")
    if from_env is None and not asked:
        return _fail("Say how to sign in: --email, --api-key or --api-key-file.\n" + HEADLESS_HELP)
    keeps = from_env is None and not args.api_key_file  # a secret only this login holds
    if keeps and not args.credentials_file and store.in_memory:
        return _fail(_cannot_keep(config_dir()))
    try:
        if from_env is not None:
            is_key = from_env.kind == "api_key"
            attempt = sign_in(
                args.server,
                api_key=from_env.secret if is_key else None,
                token=None if is_key else from_env.secret,
                verify_tls=_verify(args),
                credentials=store,
                store=False,
            )
        elif args.api_key or args.api_key_file:
            key = (
                read_api_key_file(args.api_key_file)
                if args.api_key_file
                else _read_secret("API key: ", sys.stdin)
            )
            attempt = sign_in(
                args.server, api_key=key, verify_tls=_verify(args), credentials=store, store=False
            )
        else:
            password = _read_secret(f"Password for {args.email}: ", sys.stdin)
            attempt = sign_in(
                args.server,
                email=args.email,
                password=password,
                verify_tls=_verify(args),
                credentials=store,
                store=False,
            )
    except VerificationError as exc:
        return _fail(f"{exc.code}: {exc.message}", EXIT_VERIFICATION)
    except (ApiError, ValueError) as exc:
        return _fail(str(exc))
    try:
        return _finish_login(args, attempt, keeps)
    finally:
        attempt.client.close()


def _end_unkept(attempt: Any, keeps: bool) -> None:
    """Sign a session that will not be kept out on the server (best effort)."""
    if keeps and attempt.credential.kind == "session":
        # It expires on its own; what matters is that nothing claims it is kept.
        with contextlib.suppress(Exception):
            attempt.client.logout()


class _LoginRefusedError(Exception):
    """A login step said no: nothing is kept, and the command fails with this message."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _finish_login(args: argparse.Namespace, attempt: Any, keeps: bool) -> int:
    """Check the account may read the log, trust the log, keep the credential; say so.

    Each step either passes or raises `_LoginRefusedError`; a refusal signs out a session that would
    otherwise outlive the command, so a failed login never leaves a live credential behind.
    """
    from auditlens.client.paths import config_dir

    try:
        _check_can_read_log(attempt)
        if attempt.needs_confirmation:
            _confirm_first_contact(args, attempt)
        elif attempt.decision.known_log:
            print(
                f"You already trust the log {attempt.origin} (verifier key {attempt.vkey}); "
                f"{attempt.client.base_url} serves it as organization "
                f"{attempt.identity.organization.id}."
            )
        _check_given_key(args, attempt.session)
        if keeps and not attempt.keep(to_file=args.credentials_file):
            attempt.credentials.delete(attempt.session.server_url)
            raise _LoginRefusedError(_cannot_keep(config_dir()))
    except _LoginRefusedError as refusal:
        _end_unkept(attempt, keeps)
        return _fail(str(refusal), refusal.exit_code)
    _say_signed_in(args, attempt, keeps)
    return EXIT_OK


def _org_name(attempt: Any) -> str:
    organization = attempt.identity.organization
    return str(organization.name or organization.id)


def _check_can_read_log(attempt: Any) -> None:
    """Read the checkpoint, which is exactly what sync will need; name the role that lacks it."""
    from auditlens.client.errors import ApiError, Forbidden

    user = attempt.identity.user
    try:
        attempt.client.checkpoint()
    except Forbidden:
        raise _LoginRefusedError(
            f"The account {user.email} ({user.role}) cannot read the audit log of "
            f"{_org_name(attempt)}: only Owners and Admins can. Nothing was stored; sign in "
            "with an Owner or Admin account, or a read API key."
        ) from None
    except ApiError as exc:
        raise _LoginRefusedError(str(exc)) from None


def _confirm_first_contact(args: argparse.Namespace, attempt: Any) -> None:
    """Show the origin and key of a log seen for the first time; trust them only if told to."""
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
            raise _LoginRefusedError("Not trusted: nothing was stored.")
    else:
        raise _LoginRefusedError(
            "Not trusted: confirm the origin and key with --vkey KEY (the key you were "
            "given) or --yes."
        )
    try:
        attempt.confirm(pasted_vkey=args.vkey)
    except VerificationError as exc:
        raise _LoginRefusedError(f"{exc.code}: {exc.message}", EXIT_VERIFICATION) from None
    except ValueError as exc:
        raise _LoginRefusedError(str(exc)) from None


def _check_given_key(args: argparse.Namespace, session: Any) -> None:
    """A --vkey on the command line must be the pinned key, also for a log already trusted."""
    from auditlens.client.trust import normalize_vkey

    try:
        given = normalize_vkey(args.vkey) if args.vkey else session.pin.vkey
    except ValueError as exc:
        raise _LoginRefusedError(str(exc)) from None
    if given != session.pin.vkey:
        raise _LoginRefusedError(
            f"{Code.UNTRUSTED_KEY}: the key you gave ({args.vkey.strip()}) is not the key "
            f"pinned for the log {session.pin.origin} ({session.pin.vkey}). Nothing was "
            "stored.",
            EXIT_VERIFICATION,
        )


def _say_signed_in(args: argparse.Namespace, attempt: Any, keeps: bool) -> None:
    """Tell the user who they are, where, and where (if anywhere) the credential is kept."""
    user = attempt.identity.user
    who = f"as {user.email} ({user.role}) in {_org_name(attempt)}"
    print(f"Signed in to {attempt.session.server_url} {who}.")
    if args.api_key_file:
        print("Nothing was stored: pass the same --api-key-file to each `auditlens sync`.")
    elif not keeps:
        print("Nothing was stored: each command reads the credential from the environment.")
    elif args.credentials_file:
        print(f"The session is kept in {attempt.credentials.file_path} (mode 0600).")


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
    from auditlens.client.credentials import (
        StoredCredential,
        api_key_account,
        read_api_key_file,
    )
    from auditlens.client.errors import ApiError
    from auditlens.client.session import NotSignedInError, resume
    from auditlens.client.sync import SyncStatus
    from auditlens.mirror.store import MirrorVersionError

    try:
        server = _pick_server(args.server)
        credential = None
        if args.api_key_file is not None:
            key = read_api_key_file(args.api_key_file)
            credential = StoredCredential(server, api_key_account(key), "api_key", key)
        session = resume(server, verify_tls=_verify(args), credential=credential)
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
    failed = bool(result.failed_findings)
    if args.recheck is not None:
        failed = _recheck(engine.mirror_path, cp.origin, session.pin.vkey, args.recheck) or failed
    return EXIT_VERIFICATION if failed else EXIT_OK


def _recheck(mirror: Path, origin: str, vkey: str, depth: str) -> bool:
    """Re-check the mirror file (see auditlens.mirror.recheck); True when it failed."""
    from auditlens.mirror.recheck import recheck_mirror

    check = recheck_mirror(mirror, vkey, origin, full=depth == "full")
    for finding in check.findings:
        print(str(finding), file=sys.stderr)
    print(
        f"Re-check ({depth}): {check.checked:,} of {check.size:,} entries re-hashed, ok={check.ok}."
    )
    return not check.ok
