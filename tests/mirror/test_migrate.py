"""A mirror written by an older auditlens is upgraded in place, nothing lost or re-fetched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from auditlens.core.canonical import canonicalize_event
from auditlens.mirror import schema
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.writer import MirrorWriter
from tests.ui.mirror_factory import NOW_MS, event_dict

SCHEMA_1_ENTRIES = (
    "CREATE TABLE entries (idx INTEGER NOT NULL PRIMARY KEY, id TEXT NOT NULL, ts INTEGER NOT "
    "NULL, type TEXT, category TEXT, user_id TEXT, task_id TEXT, agent_id TEXT, outcome TEXT, "
    "summary TEXT, raw BLOB NOT NULL)"
)


def schema_1_mirror(path: Path) -> None:
    """A file as auditlens wrote it before the derived columns: schema 1, outcome index."""
    events = [
        event_dict(NOW_MS, "approval.denied", id_="e0", user_id="usr_1", reason="no"),
        event_dict(
            NOW_MS + 1,
            "auth.login",
            id_="e1",
            outcome="failure",
            failure_reason="account_locked",
            request={"ip": "203.0.113.9", "user_agent": "curl/8"},
        ),
        event_dict(NOW_MS + 2, "auth.login", id_="e2", outcome="failure", failure_reason="x"),
        event_dict(NOW_MS + 3, "task.created", id_="e3", task_id="tsk_1"),
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    for ddl in schema.table_ddl():
        if "CREATE TABLE IF NOT EXISTS entries" not in ddl:
            conn.execute(ddl)
    conn.execute(SCHEMA_1_ENTRIES)
    conn.execute("CREATE INDEX ix_entries_outcome_ts ON entries(outcome, ts, idx)")
    for i, event in enumerate(events):
        body = event["event"]
        assert isinstance(body, dict)
        conn.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, '', ?)",
            (
                i,
                event["id"],
                NOW_MS + i,
                event["type"],
                "x",
                body["outcome"],
                canonicalize_event(event),
            ),
        )
    conn.execute("INSERT INTO meta(key, value) VALUES ('origin', 'kept')")
    conn.execute("PRAGMA user_version=1")
    conn.close()


def columns(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT idx, outcome, verdict, ip, user_agent FROM entries").fetchall()
    finally:
        conn.close()


def test_opening_an_older_mirror_to_read_upgrades_it_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    schema_1_mirror(path)
    reader = MirrorReader(path)
    try:
        denied = reader.page(EventFilter(outcome="denied"))
        assert [r.idx for r in denied] == [1, 0]
        assert [r.idx for r in reader.page(EventFilter(outcome="failure"))] == [2]
        assert [r.idx for r in reader.page(EventFilter(ip="203.0.113.9"))] == [1]
        assert reader.meta()["origin"] == "kept"
    finally:
        reader.close()
    assert columns(path) == [
        (0, "success", "denied", None, None),
        (1, "failure", "denied", "203.0.113.9", "curl/8"),
        (2, "failure", "failure", None, None),
        (3, "success", "success", None, None),
    ]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert set(schema.index_names()) <= names
        assert "ix_entries_outcome_ts" not in names
    finally:
        conn.close()


def test_the_writer_upgrades_an_older_mirror_too_and_the_upgrade_runs_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    schema_1_mirror(path)
    MirrorWriter(path).close()
    first = columns(path)
    assert first[0][2] == "denied"
    MirrorWriter(path).close()  # already current: nothing to do
    assert columns(path) == first


def test_two_threads_opening_an_older_mirror_upgrade_it_once(tmp_path: Path) -> None:
    """The viewer's worker and the start-up re-check may open it at the same moment."""
    import threading

    path = tmp_path / "old.sqlite"
    schema_1_mirror(path)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            MirrorReader(path).close()
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert columns(path)[0][2] == "denied"
