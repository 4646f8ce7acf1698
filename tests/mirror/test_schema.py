"""The mirror's tables are the contract the query layer codes against."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlens.mirror import schema
from auditlens.mirror.store import (
    MirrorVersionError,
    mirror_path,
    open_readonly,
    open_writable,
)

CONTRACT_COLUMNS = {
    "entries": [
        "idx",
        "id",
        "ts",
        "type",
        "category",
        "user_id",
        "task_id",
        "agent_id",
        "outcome",
        "summary",
        "raw",
        "verdict",  # derived from raw (schema 2)
        "ip",
        "user_agent",
    ],
    "users": ["id", "email", "name", "role"],
    "checkpoints": ["size", "note", "root", "verified_at"],
    "tree_state": ["id", "size", "frontier"],
    "meta": ["key", "value"],
}


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    opened: sqlite3.Connection = open_writable(tmp_path / "m.sqlite")
    return opened


@pytest.mark.parametrize("table", sorted(CONTRACT_COLUMNS))
def test_each_contract_table_has_exactly_its_columns(conn: sqlite3.Connection, table: str) -> None:
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    assert columns == CONTRACT_COLUMNS[table]


def test_idx_is_the_rowid_so_entries_are_stored_in_log_order(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO entries(idx, id, ts, raw) VALUES (5, 'a', 0, x'00')")
    assert conn.execute("SELECT rowid FROM entries").fetchone()[0] == 5


def test_the_file_is_in_wal_mode_with_the_schema_version(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    value = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert value == str(schema.SCHEMA_VERSION)


def test_every_filter_and_sort_column_has_an_index_ending_in_idx() -> None:
    leading = {tuple(c.name for c in index.columns) for index in schema.ENTRY_INDEXES}
    assert leading == {
        ("id",),
        ("ts", "idx", "task_id"),  # the least and greatest task of a range (schema 4)
        ("type", "ts", "idx"),
        ("type", "verdict", "ts", "idx"),  # a type and an outcome together (schema 4)
        ("category", "ts", "idx"),
        ("user_id", "ts", "idx"),
        ("task_id", "ts", "idx"),  # the time test of a task walk reads no row (schema 5)
        ("agent_id", "ts", "idx"),
        ("verdict", "ts", "idx"),
        ("ip", "ts", "idx"),
    }


def test_a_mirror_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    open_writable(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    with pytest.raises(MirrorVersionError, match="newer auditlens"):
        open_writable(path)
    with pytest.raises(MirrorVersionError):
        open_readonly(path)


def test_a_read_only_connection_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    open_writable(path).close()
    ro = open_readonly(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO meta VALUES ('x', 'y')")


def test_mirror_paths_differ_per_server_and_organization(tmp_path: Path) -> None:
    a = mirror_path("http://127.0.0.1:8765", "org_1", tmp_path)
    assert a.parent == tmp_path and a.name.startswith("127.0.0.1_8765-org_1-")
    assert a != mirror_path("http://127.0.0.1:8766", "org_1", tmp_path)
    assert a != mirror_path("http://127.0.0.1:8765", "org_2", tmp_path)


def test_the_data_dir_override_holds_mirrors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path))
    assert mirror_path("http://h", "o").parent == tmp_path / "mirrors"
