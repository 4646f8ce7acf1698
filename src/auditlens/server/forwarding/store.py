"""Forwarders in the database: configuration, cursor, health and dead letters.

Decisions:

* ``cursor`` is the next log index to deliver. It only moves forward in :func:`advance`, which
  the engine calls after the destination acknowledged a batch, in the same transaction that
  records that batch's dead letters; the update is conditional on ``generation``, which a
  replay (or any configuration change) increments, so a batch that was in flight while an
  admin replayed cannot move the cursor back past the replay point.
* States: ``active`` (delivering), ``paused`` (by an admin) and ``failed`` (the destination
  refused the credential or the configuration: retrying cannot help; resuming or changing the
  configuration makes it ``active`` again).
* The secret is stored sealed by :class:`~.vault.Vault` and never leaves this module in clear
  except to open a destination.
* Every configuration change is appended to the organization's own log as an ``integration.*``
  event in the same transaction: ``integration.connected`` (added, resumed, changed, replayed),
  ``integration.disconnected`` (paused, removed) and ``integration.credential_refreshed`` (a
  new secret), each with ``integration: "siem:<kind>"``, ``integration_id`` and ``action``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.server.accounts import new_id
from auditlens.server.schema import checkpoints, forwarder_dead_letters, forwarders
from auditlens.server.sequencer import Sequencer, now_ms

STATES = ("active", "paused", "failed")
_ACTION_TYPE = {
    "added": "integration.connected",
    "changed": "integration.connected",
    "resumed": "integration.connected",
    "replayed": "integration.connected",
    "paused": "integration.disconnected",
    "removed": "integration.disconnected",
    "secret_changed": "integration.credential_refreshed",
}


@dataclass(frozen=True)
class Forwarder:
    id: str
    org_id: str
    name: str
    kind: str
    config: dict[str, Any]
    secret: bytes | None
    state: str
    cursor: int
    generation: int
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None
    created_at: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        """The public view: everything but the secret (only whether one is set)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "config": self.config,
            "has_secret": self.secret is not None,
            "state": self.state,
            "cursor": self.cursor,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _forwarder(row: Any) -> Forwarder:
    data = dict(row._mapping)
    data["config"] = orjson.loads(data["config"])
    return Forwarder(**data)


def get(conn: Connection, forwarder_id: str, org_id: str | None = None) -> Forwarder | None:
    query = sa.select(forwarders).where(forwarders.c.id == forwarder_id)
    if org_id is not None:
        query = query.where(forwarders.c.org_id == org_id)
    row = conn.execute(query).first()
    return _forwarder(row) if row else None


def list_all(conn: Connection, org_id: str | None = None) -> list[Forwarder]:
    query = sa.select(forwarders).order_by(forwarders.c.created_at, forwarders.c.id)
    if org_id is not None:
        query = query.where(forwarders.c.org_id == org_id)
    return [_forwarder(r) for r in conn.execute(query)]


def log_size(conn: Connection, org_id: str) -> tuple[int, str]:
    """``(size, note)`` of the organization's newest signed checkpoint."""
    row = conn.execute(
        sa.select(checkpoints.c.size, checkpoints.c.note)
        .where(checkpoints.c.org_id == org_id)
        .order_by(checkpoints.c.size.desc())
        .limit(1)
    ).one()
    return int(row.size), row.note


def record_change(
    conn: Connection,
    sequencer: Sequencer,
    fwd: Forwarder,
    action: str,
    *,
    user_id: str | None,
    **extra: Any,
) -> None:
    """Append the audit event of a configuration change (same transaction as the change).

    ``extra`` adds fields to the event body: ``via`` ("api" or "cli"), ``request``, ...
    """
    event = {
        "outcome": "success",
        "integration": f"siem:{fwd.kind}",
        "integration_id": fwd.id,
        "action": action,
        "name": fwd.name,
        **extra,
    }
    sequencer.append_in(
        conn,
        fwd.org_id,
        [
            {
                "type": _ACTION_TYPE[action],
                "user_id": user_id,
                "task_id": None,
                "agent_id": None,
                "event": event,
            }
        ],
    )


def create(
    conn: Connection,
    org_id: str,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    sealed_secret: bytes | None,
    start: str,
) -> Forwarder:
    """Insert a forwarder starting at the log's beginning (``start="beginning"``) or its end."""
    size, _ = log_size(conn, org_id)
    now = now_ms()
    fwd_id = new_id("fwd")
    conn.execute(
        sa.insert(forwarders).values(
            id=fwd_id,
            org_id=org_id,
            name=name,
            kind=kind,
            config=orjson.dumps(config).decode(),
            secret=sealed_secret,
            state="active",
            cursor=0 if start == "beginning" else size,
            generation=0,
            created_at=now,
            updated_at=now,
        )
    )
    found = get(conn, fwd_id)
    assert found is not None
    return found


def update(conn: Connection, fwd: Forwarder, **values: Any) -> Forwarder:
    """Change configuration columns; bumps ``generation`` so in-flight work is discarded."""
    if "config" in values:
        values["config"] = orjson.dumps(values["config"]).decode()
    conn.execute(
        sa.update(forwarders)
        .where(forwarders.c.id == fwd.id)
        .values(generation=forwarders.c.generation + 1, updated_at=now_ms(), **values)
    )
    found = get(conn, fwd.id)
    assert found is not None
    return found


def delete(conn: Connection, fwd: Forwarder) -> None:
    conn.execute(
        sa.delete(forwarder_dead_letters).where(forwarder_dead_letters.c.forwarder_id == fwd.id)
    )
    conn.execute(sa.delete(forwarders).where(forwarders.c.id == fwd.id))


def advance(
    conn: Connection,
    fwd_id: str,
    generation: int,
    cursor: int,
    dead: list[tuple[int, str, str]],
) -> bool:
    """Move the cursor to ``cursor`` and store ``dead`` letters (index, event id, reason).

    Returns False (and changes nothing) when the forwarder was replayed, changed or removed
    since the batch was read."""
    now = now_ms()
    done = conn.execute(
        sa.update(forwarders)
        .where(forwarders.c.id == fwd_id, forwarders.c.generation == generation)
        .where(forwarders.c.cursor <= cursor)
        .values(cursor=cursor, last_success_at=now, last_error=None, last_error_at=None)
    ).rowcount
    if not done:
        return False
    if dead:
        known = {
            int(i)
            for (i,) in conn.execute(
                sa.select(forwarder_dead_letters.c.idx).where(
                    forwarder_dead_letters.c.forwarder_id == fwd_id,
                    forwarder_dead_letters.c.idx.in_([d[0] for d in dead]),
                )
            )
        }
        rows = [
            {"forwarder_id": fwd_id, "idx": i, "event_id": e, "reason": r[:2000], "created_at": now}
            for i, e, r in dead
            if i not in known
        ]
        if rows:
            conn.execute(sa.insert(forwarder_dead_letters), rows)
    return True


def report_error(conn: Connection, fwd_id: str, error: str, *, fail: bool = False) -> None:
    """Record the last error; ``fail`` also stops the forwarder (state ``failed``)."""
    values: dict[str, Any] = {"last_error": error[:2000], "last_error_at": now_ms()}
    if fail:
        values["state"] = "failed"
    conn.execute(sa.update(forwarders).where(forwarders.c.id == fwd_id).values(**values))


def dead_letters(conn: Connection, fwd_id: str, limit: int = 100) -> tuple[int, list[Any]]:
    """``(count, newest rows)`` of a forwarder's dead letters."""
    count = conn.execute(
        sa.select(sa.func.count()).where(forwarder_dead_letters.c.forwarder_id == fwd_id)
    ).scalar_one()
    rows = conn.execute(
        sa.select(forwarder_dead_letters)
        .where(forwarder_dead_letters.c.forwarder_id == fwd_id)
        .order_by(forwarder_dead_letters.c.idx.desc())
        .limit(limit)
    ).all()
    return int(count), list(rows)


def appended_at(conn: Connection, org_id: str, index: int) -> int | None:
    """When entry ``index`` was appended (ms), or None past the log's end.

    The log stores no append time per entry, but every append signs a checkpoint in the same
    transaction (``created_at``, the server clock), so the first checkpoint larger than
    ``index`` was made when that entry went in: one primary-key lookup."""
    found = conn.execute(
        sa.select(checkpoints.c.created_at)
        .where(checkpoints.c.org_id == org_id, checkpoints.c.size > index)
        .order_by(checkpoints.c.size)
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def status(conn: Connection, fwd: Forwarder) -> dict[str, Any]:
    """Lag, last success, last error and dead letters of ``fwd``.

    ``lag_events``: log entries at or past the cursor (those a filter skips included: the cursor
    still has to move over them). ``lag_seconds``: how long the oldest of them has been in the
    log, from its append time, not the event's own timestamp, so a backdated event (a demo
    seed, an import of old events) does not show days of lag; 0 when caught up.
    ``last_success_at``: when the cursor last moved forward (ms; it is stored after
    acknowledgements, at most every 0.5 s), or None before it first moved."""
    size, _ = log_size(conn, fwd.org_id)
    lag_events = max(0, size - fwd.cursor)
    lag_seconds = 0.0
    if lag_events:
        appended = appended_at(conn, fwd.org_id, fwd.cursor)
        if appended is not None:
            lag_seconds = max(0.0, (now_ms() - appended) / 1000)
    count, rows = dead_letters(conn, fwd.id, limit=20)
    return {
        "id": fwd.id,
        "name": fwd.name,
        "kind": fwd.kind,
        "state": fwd.state,
        "cursor": fwd.cursor,
        "log_size": size,
        "lag_events": lag_events,
        "lag_seconds": round(lag_seconds, 3),
        "last_success_at": fwd.last_success_at,
        "last_error": fwd.last_error,
        "last_error_at": fwd.last_error_at,
        "dead_letters": count,
        "recent_dead_letters": [
            {"index": int(r.idx), "id": r.event_id, "reason": r.reason, "at": int(r.created_at)}
            for r in rows
        ],
    }
