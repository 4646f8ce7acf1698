"""CLI of the audit server: ``auditlens serve`` and ``auditlens server <admin command>``.

Shape (every command takes ``--data-dir``, ``--db`` and ``--server-name``)::

    auditlens serve [--host 127.0.0.1] [--port 8765] [--demo [--seed N] [--events N]]
                    [--forwarded-allow-ips IPS] [--header-timeout S] [--body-timeout S]
                    [--keep-alive-timeout S] [--max-connections N] [--password-check-workers N]
                    [--workers N]
    auditlens server org create NAME --plan business|enterprise [--slug SLUG]
    auditlens server org list
    auditlens server user create --org ORG --email EMAIL --role owner|admin|member
                                 [--name NAME] [--password-stdin]
    auditlens server key create --org ORG --name NAME [--scope ingest|read] [--user EMAIL]
    auditlens server seed [--seed N] [--events N]
    auditlens server verify [--org ORG]
    auditlens server prune [--org ORG]
    auditlens server forwarder add|list|status|test|pause|resume|replay|remove  (see
        auditlens.server.forwarder_commands)

Decisions:

* ``ORG`` is an organization's id, slug or exact name.
* Passwords come from an interactive prompt (asked twice) or, with ``--password-stdin``, the
  first line of stdin, never from an argument (arguments show up in ``ps`` and shell history).
* ``key create`` prints the key once on stdout (and nothing else there), so a script can
  capture it; everything else goes to stderr.
* Heavy imports happen inside the handlers, so ``auditlens --help`` stays fast.
* ``serve`` warns when it listens beyond loopback: the reference server speaks plain HTTP and
  needs a TLS-terminating proxy in front of it for that. Its connection limits and proxy trust
  are described in :mod:`.serving`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlens.cli_options import add_demo_data_options

if TYPE_CHECKING:
    from auditlens.server.settings import ServerSettings
    from auditlens.server.state import ServerState


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("auditlens", appauthor=False)) / "server"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory for the log key and the default SQLite database "
        "(default: the user data directory)",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
        "(default: SQLite in the data directory)",
    )
    parser.add_argument(
        "--server-name",
        default=None,
        help="server name: the log key's name and the first part of every origin "
        "(default: auditlens.local)",
    )


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``server`` to the ``auditlens`` command line."""
    serve = subparsers.add_parser(
        "serve",
        help="run the reference audit API server",
        description="Run the audit API (uvicorn). Creates the schema and the log key on first "
        "start and prints the verifier key for auditors.",
    )
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed a demo organization (first start only) and print its credentials",
    )
    add_demo_data_options(serve)
    serve.add_argument(
        "--retention-interval",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="prune by retention policy every SECONDS (0: never)",
    )
    serve.add_argument(
        "--sqlite-synchronous",
        choices=["FULL", "NORMAL"],
        default="FULL",
        help="SQLite durability: FULL (default) keeps acknowledged batches through a power cut; "
        "NORMAL only through a crash or kill, with one fsync fewer per batch",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="trust X-Forwarded-For/-Proto only from these proxy addresses (comma-separated, "
        "'*' for any; default: from none, the client address is the TCP peer's)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection whose request head takes longer (default: 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close a connection whose request body takes longer (default: 60)",
    )
    serve.add_argument(
        "--keep-alive-timeout",
        type=int,
        default=5,
        metavar="SECONDS",
        help="close an idle keep-alive connection after this (default: 5)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=256,
        metavar="N",
        help="answer 503 to requests beyond N open connections or requests (default: 256)",
    )
    serve.add_argument(
        "--password-check-workers",
        type=int,
        default=0,
        metavar="N",
        help="threads that check passwords, ~64 MiB each (default: one per core)",
    )
    serve.add_argument(
        "--forwarding",
        choices=["process", "thread", "off"],
        default="process",
        help="run SIEM forwarders in a child process (default), a thread, or not here",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N API processes on the port (PostgreSQL only; see docs/architecture.md)",
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level")
    serve.set_defaults(handler=run_serve)

    server = subparsers.add_parser("server", help="administer the audit server's database")
    groups = server.add_subparsers(dest="server_command", metavar="COMMAND", required=True)

    org = groups.add_parser("org", help="organizations").add_subparsers(
        dest="org_command", metavar="ACTION", required=True
    )
    org_create = org.add_parser("create", help="create an organization with an empty log")
    _common(org_create)
    org_create.add_argument("name")
    org_create.add_argument("--plan", required=True, choices=["business", "enterprise"])
    org_create.add_argument("--slug", help="origin suffix (default: from the name)")
    org_create.set_defaults(handler=run_org_create)
    org_list = org.add_parser("list", help="list organizations")
    _common(org_list)
    org_list.set_defaults(handler=run_org_list)

    user = groups.add_parser("user", help="users").add_subparsers(
        dest="user_command", metavar="ACTION", required=True
    )
    user_create = user.add_parser("create", help="create a user")
    _common(user_create)
    user_create.add_argument("--org", required=True, help="organization id, slug or name")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--name", default="")
    user_create.add_argument("--role", required=True, choices=["owner", "admin", "member"])
    user_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    user_create.set_defaults(handler=run_user_create)

    key = groups.add_parser("key", help="API keys").add_subparsers(
        dest="key_command", metavar="ACTION", required=True
    )
    key_create = key.add_parser("create", help="create an API key (printed once on stdout)")
    _common(key_create)
    key_create.add_argument("--org", required=True, help="organization id, slug or name")
    key_create.add_argument("--name", required=True, help="what the key is for")
    key_create.add_argument("--scope", default="ingest", choices=["ingest", "read"])
    key_create.add_argument(
        "--user",
        metavar="EMAIL",
        help="the key's owner (required for --scope read: a read key acts as its owner, an "
        "owner or admin of the organization)",
    )
    key_create.set_defaults(handler=run_key_create)

    seed = groups.add_parser("seed", help="create the demo organization with demo events")
    _common(seed)
    add_demo_data_options(seed)
    seed.set_defaults(handler=run_seed)

    verify = groups.add_parser(
        "verify", help="check the stored logs: hashes, tree, signatures (exit 1 on any finding)"
    )
    _common(verify)
    verify.add_argument("--org", help="only this organization (default: all)")
    verify.set_defaults(handler=run_verify)

    prune = groups.add_parser("prune", help="remove entry bodies past the plan's retention")
    _common(prune)
    prune.add_argument("--org", help="only this organization (default: all)")
    prune.set_defaults(handler=run_prune)

    from auditlens.server.forwarder_commands import register as register_forwarder

    register_forwarder(groups, _common)


def settings_from(args: argparse.Namespace, **extra: Any) -> ServerSettings:
    from auditlens.server.settings import DEFAULT_SERVER_NAME, ServerSettings

    return ServerSettings(
        data_dir=args.data_dir or default_data_dir(),
        database_url=args.db,
        server_name=args.server_name or DEFAULT_SERVER_NAME,
        **extra,
    )


def _open(args: argparse.Namespace, **extra: Any) -> ServerState:
    """Open the server's data; a database or key problem exits with one clear line."""
    import sqlalchemy as sa

    from auditlens.server.state import open_server

    settings = settings_from(args, **extra)
    try:
        return open_server(settings)
    except sa.exc.SQLAlchemyError as exc:
        url = sa.make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SystemExit(f"auditlens: cannot open database {url}: {reason}") from None
    except (ValueError, PermissionError, OSError) as exc:
        raise SystemExit(f"auditlens: {exc}") from None


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _find_org(state: ServerState, ref: str) -> Any:
    from auditlens.server import accounts

    with state.db.read() as conn:
        org = accounts.find_organization(conn, ref)
    if org is None:
        raise SystemExit(f"auditlens: no organization {ref!r} (see: auditlens server org list)")
    return org


def run_serve(args: argparse.Namespace) -> int:
    import ipaddress

    import uvicorn

    from auditlens.server.app import create_app
    from auditlens.server.serving import ServeLimits, uvicorn_config
    from auditlens.server.workers import check_workers, run_workers

    refused = check_workers(args.workers, settings_from(args).resolved_database_url)
    if refused:
        raise SystemExit(f"auditlens: {refused}")
    limits = ServeLimits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    state = _open(
        args,
        retention_interval_seconds=args.retention_interval,
        sqlite_synchronous=args.sqlite_synchronous,
        password_check_workers=args.password_check_workers,
        forwarding=args.forwarding,
    )
    settings = state.settings
    _err(f"auditlens: data directory {Path(settings.data_dir).resolve()}")
    _err(f"auditlens: log verifier key (give it to auditors out of band):\n  {state.vkey}")
    if args.demo:
        from auditlens.server.embedded import demo_ingest_key, ensure_demo

        _err(f"auditlens: preparing the demo organization ({args.events:,} events)…")
        org, creds = ensure_demo(state, args.events, args.seed)
        key = demo_ingest_key(state, org)
        print(f"demo organization: {org.name}  origin: {org.origin}")
        for role in ("owner", "admin", "member"):
            email, password = creds[role]
            print(f"  {role:<6} {email}  password: {password}")
        print(f"  ingest key: {key}")
        print(f"  vkey: {state.vkey}")
        sys.stdout.flush()
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        _err(
            f"auditlens: WARNING: listening on {args.host} over plain HTTP; put a TLS proxy in "
            "front of it before anyone else connects"
        )
    if args.workers > 1:
        state.close()
        _err(f"auditlens: serving on http://{args.host}:{args.port} ({args.workers} processes)")
        run_workers(settings, limits, args.host, args.port, args.workers, log_level=args.log_level)
        return 0
    _err(f"auditlens: serving on http://{args.host}:{args.port}")
    config = uvicorn_config(
        create_app(settings, state), args.host, args.port, limits, log_level=args.log_level
    )
    uvicorn.Server(config).run()
    return 0


def run_org_create(args: argparse.Namespace) -> int:
    from auditlens.server import accounts

    state = _open(args)
    try:
        with state.db.write() as conn:
            org = accounts.create_organization(
                conn, state.sequencer, args.name, args.plan, slug=args.slug
            )
    except accounts.AccountError as exc:
        _err(f"auditlens: {exc}")
        return 2
    finally:
        state.close()
    print(f"{org.id}\t{org.slug}\t{org.origin}")
    return 0


def run_org_list(args: argparse.Namespace) -> int:
    from auditlens.server import accounts

    state = _open(args)
    try:
        with state.db.read() as conn:
            orgs = accounts.list_organizations(conn)
    finally:
        state.close()
    for org in orgs:
        print(f"{org.id}\t{org.slug}\t{org.plan}\t{org.origin}")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != first:
        raise SystemExit("auditlens: the passwords differ")
    return first


def run_user_create(args: argparse.Namespace) -> int:
    from auditlens.server import accounts

    password = _read_password(args.password_stdin)
    state = _open(args)
    try:
        org = _find_org(state, args.org)
        with state.db.write() as conn:
            user = accounts.create_user(
                conn, org.id, email=args.email, name=args.name, role=args.role, password=password
            )
    except accounts.AccountError as exc:
        _err(f"auditlens: {exc}")
        return 2
    finally:
        state.close()
    print(f"{user.id}\t{user.email}\t{user.role}")
    return 0


def _key_owner(conn: Any, org: Any, email: str | None, scope: str) -> Any:
    """The user a new key belongs to; a read key needs one who may read (else it is useless)."""
    from auditlens.server import accounts

    if email is None:
        if scope == "read":
            raise accounts.AccountError(
                "user",
                "a read key acts as its owner: name an owner or admin with --user EMAIL",
            )
        return None
    user = accounts.find_user(conn, org.id, email)
    if user is None:
        raise accounts.AccountError("user", f"there is no user {email!r} in {org.name}")
    if scope == "read" and user.role not in accounts.READER_ROLES:
        raise accounts.AccountError(
            "user",
            f"{user.email} is a {user.role}; a read key acts as its owner, so it needs an "
            "owner or admin",
        )
    return user


def run_key_create(args: argparse.Namespace) -> int:
    from auditlens.server import accounts

    state = _open(args)
    try:
        org = _find_org(state, args.org)
        with state.db.write() as conn:
            owner = _key_owner(conn, org, args.user, args.scope)
            key, secret = accounts.create_api_key(
                conn, org.id, args.name, args.scope, owner.id if owner else None
            )
            state.sequencer.append_in(
                conn,
                org.id,
                [
                    {
                        "type": "auth.api_key.created",
                        "user_id": None,
                        "task_id": None,
                        "agent_id": None,
                        "event": {
                            "outcome": "success",
                            "key_id": key.id,
                            "key_prefix": key.prefix,
                            "key_name": key.name,
                            "scope": key.scope,
                            "created_by": key.created_by,
                            "via": "cli",
                        },
                    }
                ],
            )
    except accounts.AccountError as exc:
        _err(f"auditlens: {exc}")
        return 2
    finally:
        state.close()
    _err(f"auditlens: created {args.scope} key {key.id} ({key.prefix}…); it is shown only once")
    print(secret)
    return 0


def run_seed(args: argparse.Namespace) -> int:
    from auditlens.server.embedded import ensure_demo

    state = _open(args)
    try:
        org, creds = ensure_demo(state, args.events, args.seed)
    finally:
        state.close()
    print(f"{org.id}\t{org.slug}\t{org.origin}")
    for role, (email, password) in creds.items():
        print(f"  {role:<6} {email}  password: {password}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from auditlens.server import accounts
    from auditlens.server.integrity import check_log

    state = _open(args)
    failed = False
    try:
        if args.org:
            orgs = [_find_org(state, args.org)]
        else:
            with state.db.read() as conn:
                orgs = accounts.list_organizations(conn)
        for org in orgs:
            report = check_log(state, org)
            verdict = "OK" if report.ok else "FAILED"
            print(
                f"{org.origin}: {verdict} ({report.size:,} entries, "
                f"{report.checkpoints:,} signed checkpoints checked)"
            )
            for finding in report.findings:
                print(f"  {finding}")
            failed = failed or not report.ok
    finally:
        state.close()
    return 1 if failed else 0


def run_prune(args: argparse.Namespace) -> int:
    from auditlens.server import idempotency, retention
    from auditlens.server.app import prune_all
    from auditlens.server.sequencer import LogStateError

    state = _open(args)
    refused: list[LogStateError] = []
    try:
        if args.org:
            org = _find_org(state, args.org)
            try:
                result = retention.prune(state.sequencer, org.id)
            except LogStateError as exc:
                refused.append(exc)
                result = None
            results = [result] if result else []
        else:
            done = prune_all(state)
            results, refused = done.pruned, done.refused
        receipts = idempotency.purge_expired(state.db, state.settings.idempotency_ttl_seconds)
    finally:
        state.close()
    if receipts:
        _err(f"auditlens: deleted {receipts:,} expired idempotency receipts")
    if not results and not refused:
        _err("auditlens: nothing to prune")
    for r in results:
        print(
            f"{r.org_id}\tmin_index {r.previous_min_index} -> {r.min_index}\t"
            f"({r.policy_days} days)\tevent {r.event_index}"
        )
    for problem in refused:
        _err(f"auditlens: not pruned: {problem.detail}")
    return 1 if refused else 0


def main(argv: list[str] | None = None) -> int:
    """Run ``serve`` / ``server`` alone (``python -m auditlens.server.commands``)."""
    parser = argparse.ArgumentParser(prog="auditlens")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
