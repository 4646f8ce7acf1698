"""The single writer: one transaction per batch, all or nothing, readers see old snapshots."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from auditlens.core import merkle
from auditlens.core.errors import FormatError
from auditlens.mirror import schema
from auditlens.mirror.store import open_readonly
from auditlens.mirror.writer import (
    DuplicateEventError,
    EntryRow,
    MalformedEntryError,
    MirrorWriter,
    UserRow,
    extract_row,
    timestamp_ms,
)
from tests.client.fakelog import make_event


def rows(start: int, count: int) -> list[EntryRow]:
    out = []
    for i in range(start, start + count):
        raw = make_event(i)
        out.append(extract_row(i, raw, orjson.loads(raw)))
    return out


def commit(batch, size: int, frontier=()) -> None:  # type: ignore[no-untyped-def]
    batch.commit(
        checkpoint_note=f"note {size}",
        checkpoint_size=size,
        checkpoint_root=b"\x01" * 32,
        frontier=list(frontier),
        users=[UserRow("usr_0", "ada@example.com", "Ada", "admin")],
        meta={"origin": "test.local/acme"},
    )


@pytest.fixture
def writer(tmp_path: Path) -> MirrorWriter:
    return MirrorWriter(tmp_path / "m.sqlite")


def count(path: Path) -> int:
    with open_readonly(path) as conn:
        return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])


def test_a_committed_batch_stores_entries_checkpoint_state_and_users(
    writer: MirrorWriter,
) -> None:
    crange = merkle.CompactRange()
    crange.extend(merkle.leaf_hash(r[10]) for r in rows(0, 3))
    with writer.begin(3) as batch:
        batch.add(rows(0, 3))
        commit(batch, 3, crange.hashes)
    state = writer.state()
    assert (state.size, state.checkpoint_note, state.stored_entries) == (3, "note 3", 3)
    assert list(state.frontier) == crange.hashes
    assert state.meta["origin"] == "test.local/acme"
    assert count(writer.path) == 3


def test_leaving_a_batch_without_commit_stores_nothing(writer: MirrorWriter) -> None:
    with writer.begin(3) as batch:
        batch.add(rows(0, 3))
    assert count(writer.path) == 0
    assert writer.state().is_empty


def test_a_reader_sees_the_old_snapshot_until_commit(writer: MirrorWriter) -> None:
    reader = open_readonly(writer.path)
    batch = writer.begin(5)
    batch.add(rows(0, 5))
    assert reader.execute("SELECT count(*) FROM entries").fetchone()[0] == 0
    commit(batch, 5)
    assert reader.execute("SELECT count(*) FROM entries").fetchone()[0] == 5


def test_the_bulk_path_rebuilds_every_index_before_commit(writer: MirrorWriter) -> None:
    with writer.begin(10, bulk=True) as batch:
        batch.add(rows(0, 10))
        commit(batch, 10)
    with sqlite3.connect(writer.path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(schema.index_names()) <= names


def test_a_rolled_back_bulk_batch_keeps_the_indexes(writer: MirrorWriter) -> None:
    batch = writer.begin(10, bulk=True)
    batch.add(rows(0, 10))
    batch.rollback()
    with sqlite3.connect(writer.path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(schema.index_names()) <= names


def test_a_duplicate_event_id_fails_the_whole_batch(writer: MirrorWriter) -> None:
    twice = rows(0, 2)
    duplicate = (2, *twice[0][1:])
    batch = writer.begin(3, bulk=True)
    batch.add([*twice, duplicate])
    with pytest.raises(DuplicateEventError):
        commit(batch, 3)
    assert count(writer.path) == 0


def test_only_one_batch_at_a_time(writer: MirrorWriter) -> None:
    with writer.begin(1), pytest.raises(RuntimeError, match="in progress"):
        writer.begin(1)


def test_users_are_updated_not_duplicated(writer: MirrorWriter) -> None:
    for email in ("ada@example.com", "ada@new.example.com"):
        with writer.begin(0) as batch:
            batch.commit(
                checkpoint_note="n",
                checkpoint_size=0,
                checkpoint_root=b"\0" * 32,
                frontier=[],
                users=[UserRow("usr_0", email, "Ada", "admin")],
            )
    with open_readonly(writer.path) as conn:
        assert conn.execute("SELECT id, email FROM users").fetchall() == [
            ("usr_0", "ada@new.example.com")
        ]


def test_fork_evidence_is_recorded_without_touching_entries(writer: MirrorWriter) -> None:
    writer.record_fork("trusted note", "conflicting note", "LOG_FORKED: ...")
    assert writer.forks()[0][1:] == ("trusted note", "conflicting note", "LOG_FORKED: ...")


def test_extract_row_keeps_the_raw_bytes_and_derives_columns() -> None:
    raw = make_event(3, event_type="approval.denied", reason="too risky")
    row = extract_row(3, raw, orjson.loads(raw))
    assert row[0] == 3 and row[10] is raw
    assert row[3:5] == ("approval.denied", "approval")
    assert row[2] == timestamp_ms("2026-01-01T00:00:03.000Z")


def test_extract_row_names_the_index_of_a_malformed_entry() -> None:
    with pytest.raises(MalformedEntryError, match="entry 9") as caught:
        extract_row(9, b"{}", {"type": "agent.action"})
    assert caught.value.index == 9


@pytest.mark.parametrize(
    "text",
    ["2026-01-01T00:00:03.000Z", "2024-02-29T23:59:59.999Z", "2026-01-01T01:00:03.5+01:00"],
)
def test_the_fast_timestamp_path_agrees_with_core(text: str) -> None:
    from auditlens.core.timestamps import parse_timestamp

    assert timestamp_ms(text) == parse_timestamp(text)


def test_a_bad_timestamp_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        timestamp_ms("2026-13-01T00:00:03.000Z")


def test_a_row_carries_the_verdict_and_the_request_metadata() -> None:
    """A refusal is "denied" beside its signed outcome; request ip/user agent get columns."""
    event = {
        "id": "e1",
        "timestamp": "2026-03-01T12:00:00.000Z",
        "type": "approval.denied",
        "user_id": "usr_1",
        "task_id": None,
        "agent_id": None,
        "event": {
            "outcome": "success",
            "reason": "no",
            "request": {"ip": "203.0.113.9", "user_agent": "Firefox/140"},
        },
    }
    row = extract_row(7, orjson.dumps(event), event)
    assert row[8] == "success"  # the signed outcome, unchanged
    assert row[11:] == ("denied", "203.0.113.9", "Firefox/140")
    event["event"] = {"outcome": "failure", "request": {"ip": 5}}
    assert extract_row(7, orjson.dumps(event), event)[11:] == ("denied", None, None)
    event["type"] = "auth.login"
    assert extract_row(7, orjson.dumps(event), event)[11:] == ("failure", None, None)
