"""Build mirror files directly with the mirror schema, for the query and UI tests and the bench.

A mirror built here has the shape the sync writer gives it (tables from
:mod:`auditlens.mirror.schema`, indexes built after the bulk load, one trusted checkpoint with a
real Merkle root signed by a real key) without a server or a sync, so the viewer's tests start
in milliseconds. The events are the demo generator's (realistic mixes of types, users, tasks,
agents and failures) or hand-written ones.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditlens.core import merkle, note
from auditlens.core.canonical import canonicalize_event
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.events import category_of
from auditlens.core.summaries import summarize, verdict_of
from auditlens.core.timestamps import format_timestamp
from auditlens.mirror import search, value_counts
from auditlens.mirror.schema import SCHEMA_VERSION, index_ddl, table_ddl
from auditlens.mirror.writer import request_of
from auditlens.server.embedded import DemoDataset, generate_demo_data

ORIGIN = "auditlens.local/acme"
#: 2026-03-01T12:00:00Z: fixed so tests and screenshots do not depend on the clock.
NOW_MS = 1_772_366_400_000


@dataclass(frozen=True)
class BuiltMirror:
    path: Path
    size: int
    vkey: str
    users: tuple[tuple[str, str, str, str], ...]  # (id, email, name, role)


def event_dict(
    ts: int,
    type_: str,
    *,
    id_: str,
    user_id: str | None = None,
    task_id: str | None = None,
    agent_id: str | None = None,
    outcome: str = "success",
    **fields: object,
) -> dict[str, object]:
    """A full stored event, for hand-written test logs."""
    return {
        "id": id_,
        "timestamp": format_timestamp(ts),
        "type": type_,
        "user_id": user_id,
        "task_id": task_id,
        "agent_id": agent_id,
        "event": {"outcome": outcome, **fields},
    }


def demo_events(count: int, seed: int = 1) -> tuple[list[dict[str, object]], DemoDataset]:
    """``count`` full demo events (ids and timestamps assigned as the server would)."""
    dataset = generate_demo_data(seed=seed, events=count, now_ms=NOW_MS)
    ids = EventIdGenerator(random.Random(seed))
    events: list[dict[str, object]] = []
    for ts, submission in dataset.events():
        event = {"id": ids.new(ts), "timestamp": format_timestamp(ts), **submission}
        events.append(event)
    return events, dataset


def write_mirror(
    path: Path,
    events: Iterable[Mapping[str, object]],
    users: Sequence[tuple[str, str, str, str]] = (),
    *,
    checkpoint: bool = True,
) -> BuiltMirror:
    """Write a mirror file at ``path`` holding ``events`` at indexes 0.. and the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for ddl in table_ddl():
        conn.execute(ddl)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("BEGIN")
    leaves: list[bytes] = []

    def rows() -> Iterable[tuple[object, ...]]:
        for idx, event in enumerate(events):
            raw = canonicalize_event(event)
            leaves.append(merkle.leaf_hash(raw))
            body = event["event"]
            assert isinstance(body, Mapping)
            type_ = str(event["type"])
            yield (
                idx,
                event["id"],
                _parse_ts(str(event["timestamp"])),
                type_,
                category_of(type_),
                event["user_id"],
                event["task_id"],
                event["agent_id"],
                body.get("outcome"),
                summarize(event),
                raw,
                verdict_of(event),
                *request_of(event),
            )

    conn.executemany(
        "INSERT INTO entries(idx, id, ts, type, category, user_id, task_id, agent_id, outcome,"
        " summary, raw, verdict, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    conn.executemany("INSERT INTO users(id, email, name, role) VALUES (?, ?, ?, ?)", users)
    skey, vkey = note.generate_keys("auditlens.local")
    size = len(leaves)
    if checkpoint and size:
        root = merkle.root(leaves)
        signed = note.sign_checkpoint(Checkpoint(ORIGIN, size, root), skey)
        conn.execute(
            "INSERT INTO checkpoints(size, note, root, verified_at) VALUES (?, ?, ?, ?)",
            (size, signed, root, NOW_MS),
        )
    for key, value in (
        ("server_url", "http://127.0.0.1:8765"),
        ("origin", ORIGIN),
        ("vkey", vkey),
        ("organization_id", "org_acme"),
        ("organization_name", "Acme Robotics"),
        ("last_sync_at", str(NOW_MS)),
    ):
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
    conn.execute("COMMIT")
    for ddl in index_ddl():
        conn.execute(ddl)
    with conn:  # the free-text index and the value counts, as the sync writer builds them
        search.index_from(conn, -1)
        value_counts.rebuild(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return BuiltMirror(path, size, vkey, tuple(users))


def build_demo_mirror(path: Path, count: int, seed: int = 1) -> BuiltMirror:
    """A mirror of ``count`` demo events with the demo organization's directory."""
    dataset = generate_demo_data(seed=seed, events=count, now_ms=NOW_MS)
    ids = EventIdGenerator(random.Random(seed))

    def stream() -> Iterable[dict[str, object]]:
        for ts, submission in dataset.events():
            yield {"id": ids.new(ts), "timestamp": format_timestamp(ts), **submission}

    users = tuple((p.id, p.email, p.name, p.role) for p in dataset.people)
    return write_mirror(path, stream(), users)


def _parse_ts(text: str) -> int:
    from auditlens.core.timestamps import parse_timestamp

    return parse_timestamp(text)
