"""CLI of SIEM forwarding: ``auditlens server forwarder ACTION``.

Shape (every command also takes ``--data-dir``, ``--db`` and ``--server-name``)::

    auditlens server forwarder add --org ORG --kind splunk_hec|datadog|syslog|webhook|securityhub
        --name NAME
        [--set KEY=VALUE ...] [--types TYPE,CATEGORY,...] [--from-beginning] [--secret-stdin]
    auditlens server forwarder list [--org ORG]
    auditlens server forwarder status ID
    auditlens server forwarder test ID
    auditlens server forwarder pause|resume|remove ID
    auditlens server forwarder replay ID --from INDEX

Decisions:

* ``--set`` values are JSON when they parse as JSON (``--set port=6514``, ``--set
  verify_tls=false``) and strings otherwise (``--set url=https://splunk:8088``).
* The secret (HEC token, Datadog API key, ``whsec_`` webhook secret) comes from a prompt or,
  with ``--secret-stdin``, from the first line of stdin; never from an argument.
* Changes made here are audit events like the API's, with ``via: "cli"`` and no user.
* The running server picks up a change within its scan interval (one second by default).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

import orjson


def register(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``forwarder`` to ``auditlens server``."""
    fwd = groups.add_parser("forwarder", help="SIEM log forwarding").add_subparsers(
        dest="forwarder_command", metavar="ACTION", required=True
    )
    add = fwd.add_parser("add", help="add a destination (prints its id)")
    common(add)
    add.add_argument("--org", required=True, help="organization id, slug or name")
    add.add_argument(
        "--kind",
        required=True,
        choices=["splunk_hec", "datadog", "syslog", "webhook", "securityhub"],
    )
    add.add_argument("--name", required=True)
    add.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings")
    add.add_argument("--types", help="only these event types or categories, comma-separated")
    add.add_argument(
        "--from-beginning", action="store_true", help="deliver the whole log, not only new events"
    )
    add.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    add.set_defaults(handler=run_add)

    lst = fwd.add_parser("list", help="list destinations with their state and lag")
    common(lst)
    lst.add_argument("--org", help="only this organization")
    lst.set_defaults(handler=run_list)

    for name, helptext, handler in (
        ("status", "show a destination's health as JSON", run_status),
        ("test", "send the log's newest entry once (the cursor does not move)", run_test),
        ("pause", "stop delivering until resumed", run_pause),
        ("resume", "deliver again (also after a failure)", run_resume),
        ("remove", "remove a destination and its dead letters", run_remove),
    ):
        cmd = fwd.add_parser(name, help=helptext)
        common(cmd)
        cmd.add_argument("id", help="forwarder id")
        cmd.set_defaults(handler=handler)
    replay = fwd.add_parser("replay", help="deliver again from a log index (backfill)")
    common(replay)
    replay.add_argument("id", help="forwarder id")
    replay.add_argument("--from", dest="from_index", type=int, required=True, metavar="INDEX")
    replay.set_defaults(handler=run_replay)


def _value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"auditlens: --set needs KEY=VALUE, got {item!r}")
        config[key] = _value(value)
    if args.types:
        config["types"] = [t.strip() for t in args.types.split(",") if t.strip()]
    return config


def _secret(args: argparse.Namespace) -> str | None:
    from auditlens.server.forwarding import registry

    if args.secret_stdin:
        return sys.stdin.readline().strip()
    if not registry.module(args.kind).SECRET:
        return None  # none needed (syslog), or optional (Security Hub: boto3's credentials)
    return getpass.getpass("secret (token / API key / whsec_...): ").strip()


def _with_forwarder(args: argparse.Namespace, action: Callable[[Any, Any], str | None]) -> int:
    from auditlens.server.commands import _open
    from auditlens.server.forwarding import store
    from auditlens.server.forwarding.destination import ConfigError, DeliveryError

    state = _open(args)
    try:
        with state.db.read() as conn:
            fwd = store.get(conn, args.id)
        if fwd is None:
            raise SystemExit(f"auditlens: no forwarder {args.id!r} (see: forwarder list)")
        try:
            text = action(state, fwd)
        except ConfigError as exc:
            print(f"auditlens: {exc}", file=sys.stderr)
            return 2
        except DeliveryError as exc:
            print(f"auditlens: not delivered: {exc.reason}", file=sys.stderr)
            return 1
    finally:
        state.close()
    if text:
        print(text)
    return 0


def run_add(args: argparse.Namespace) -> int:
    from auditlens.server.commands import _find_org, _open
    from auditlens.server.forwarding import control
    from auditlens.server.forwarding.destination import ConfigError

    config = _config(args)
    secret = _secret(args)
    state = _open(args)
    try:
        org = _find_org(state, args.org)
        fwd = control.add(
            state, org.id, name=args.name, kind=args.kind, config=config, secret=secret,
            start="beginning" if args.from_beginning else "end", user_id=None, via="cli",
        )  # fmt: skip
    except ConfigError as exc:
        print(f"auditlens: {exc}", file=sys.stderr)
        return 2
    finally:
        state.close()
    print(fwd.id)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from auditlens.server.commands import _find_org, _open
    from auditlens.server.forwarding import store

    state = _open(args)
    try:
        org_id = _find_org(state, args.org).id if args.org else None
        with state.db.read() as conn:
            rows = [store.status(conn, f) for f in store.list_all(conn, org_id)]
    finally:
        state.close()
    for st in rows:
        error = f"\t{st['last_error']}" if st["last_error"] else ""
        print(
            f"{st['id']}\t{st['kind']}\t{st['state']}\tlag {st['lag_events']} events "
            f"/ {st['lag_seconds']:.1f} s\tdead letters {st['dead_letters']}\t{st['name']}{error}"
        )
    return 0


def run_status(args: argparse.Namespace) -> int:
    from auditlens.server.forwarding import store

    def show(state: Any, fwd: Any) -> str:
        with state.db.read() as conn:
            return orjson.dumps(store.status(conn, fwd), option=orjson.OPT_INDENT_2).decode()

    return _with_forwarder(args, show)


def run_test(args: argparse.Namespace) -> int:
    from auditlens.server.forwarding import control

    return _with_forwarder(args, control.test)


def run_pause(args: argparse.Namespace) -> int:
    from auditlens.server.forwarding import control

    def pause(state: Any, fwd: Any) -> str:
        control.set_state(state, fwd, "paused", user_id=None, via="cli")
        return f"paused {fwd.id}"

    return _with_forwarder(args, pause)


def run_resume(args: argparse.Namespace) -> int:
    from auditlens.server.forwarding import control

    def resume(state: Any, fwd: Any) -> str:
        control.set_state(state, fwd, "active", user_id=None, via="cli")
        return f"resumed {fwd.id}"

    return _with_forwarder(args, resume)


def run_replay(args: argparse.Namespace) -> int:
    from auditlens.server.forwarding import control

    def replay(state: Any, fwd: Any) -> str:
        control.replay(state, fwd, args.from_index, user_id=None, via="cli")
        return f"{fwd.id} delivers again from index {args.from_index}"

    return _with_forwarder(args, replay)


def run_remove(args: argparse.Namespace) -> int:
    from auditlens.server.forwarding import control

    def remove(state: Any, fwd: Any) -> str:
        control.remove(state, fwd, user_id=None, via="cli")
        return f"removed {fwd.id}"

    return _with_forwarder(args, remove)
