"""The start-up re-check finds an edited mirror file, and says where when it can."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine
from auditlens.client.trust import Pin
from auditlens.core import note
from auditlens.core.errors import Code
from auditlens.mirror.recheck import recheck_mirror
from tests.client.fakelog import FakeLog, make_event


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, FakeLog]:
    """A mirror of a 600-entry log (two full tiles and a partial one)."""
    log = FakeLog()
    log.append(600)
    client = AuditApiClient("http://audit.test", "tok-secret-123", transport=log.transport())
    mirror = tmp_path / "m.sqlite"
    SyncEngine(client, mirror, Pin(client.base_url, "org_1", log.origin, log.vkey)).run()
    return mirror, log


@pytest.fixture(params=[False, True], ids=["incremental", "full"])
def full(request: pytest.FixtureRequest) -> bool:
    """Every fault is found by both depths: the tile-root pass and the whole-log walk."""
    return bool(request.param)


def edit(mirror: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(mirror) as conn:
        conn.execute(sql, params)


def test_an_untouched_mirror_passes(synced: tuple[Path, FakeLog], full: bool) -> None:
    mirror, log = synced
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert result.ok and result.checked == 600 and result.findings == ()


def test_edited_entry_bytes_are_found_in_their_tile(
    synced: tuple[Path, FakeLog], full: bool
) -> None:
    mirror, log = synced
    edit(mirror, "UPDATE entries SET raw = ? WHERE idx = 300", make_event(300, tool="x"))
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert not result.ok
    modified = [f for f in result.findings if f.code is Code.EVENT_MODIFIED]
    assert modified[0].ranges == ((256, 511),)


def test_an_edited_column_is_found_at_its_exact_index(
    synced: tuple[Path, FakeLog], full: bool
) -> None:
    mirror, log = synced
    edit(mirror, "UPDATE entries SET user_id = 'usr_evil' WHERE idx = 42")
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert [(f.code, f.ranges) for f in result.findings] == [(Code.EVENT_MODIFIED, ((42, 42),))]


def test_a_deleted_entry_is_missing(synced: tuple[Path, FakeLog], full: bool) -> None:
    mirror, log = synced
    edit(mirror, "DELETE FROM entries WHERE idx = 17")
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert result.findings[0].code is Code.EVENT_MISSING
    assert result.findings[0].ranges == ((17, 17),)


def test_an_edited_stored_checkpoint_fails_its_signature(
    synced: tuple[Path, FakeLog], full: bool
) -> None:
    mirror, log = synced
    edit(mirror, "UPDATE checkpoints SET note = replace(note, '600', '601')")
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert result.findings[0].code is Code.CHECKPOINT_BAD_SIGNATURE


def test_the_pinned_key_not_the_files_decides(synced: tuple[Path, FakeLog], full: bool) -> None:
    mirror, log = synced
    other = note.generate_keys("test.local")[1]
    result = recheck_mirror(mirror, other, log.origin)
    assert result.findings[0].code is Code.UNTRUSTED_KEY


def test_an_empty_mirror_has_nothing_to_check(tmp_path: Path) -> None:
    from auditlens.mirror.writer import MirrorWriter

    MirrorWriter(tmp_path / "m.sqlite").close()
    result = recheck_mirror(tmp_path / "m.sqlite", "k", "o")
    assert result.ok and result.checked == 0


def test_a_pruned_gap_recorded_by_the_sync_is_not_missing(tmp_path: Path, full: bool) -> None:
    log = FakeLog()
    log.append(600)
    log.min_index = 256
    client = AuditApiClient("http://audit.test", "tok-secret-123", transport=log.transport())
    mirror = tmp_path / "m.sqlite"
    SyncEngine(client, mirror, Pin(client.base_url, "org_1", log.origin, log.vkey)).run()
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert result.ok and result.checked == 344


@pytest.mark.parametrize(
    ("column", "value"), [("verdict", "success"), ("ip", "10.9.9.9"), ("user_agent", "x")]
)
def test_an_edited_derived_column_is_found_too(
    synced: tuple[Path, FakeLog], column: str, value: str, full: bool
) -> None:
    """A refusal re-labelled "success" in the mirror must not pass for what the log says."""
    mirror, log = synced
    edit(mirror, f"UPDATE entries SET {column} = ? WHERE idx = 7", value)
    result = recheck_mirror(mirror, log.vkey, log.origin, full=full)
    assert [(f.code, f.ranges) for f in result.findings] == [(Code.EVENT_MODIFIED, ((7, 7),))]
