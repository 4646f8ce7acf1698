"""The incremental start-up re-check: new tiles every time, older ones within a few starts."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine
from auditlens.client.trust import Pin
from auditlens.core.errors import Code
from auditlens.mirror import recheck_tiles
from auditlens.mirror.recheck import recheck_mirror
from tests.client.fakelog import FakeLog, make_event

TILES = 20
WINDOW = 3


@pytest.fixture(autouse=True)
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window of 3 tiles and no random ones, so what a start checks is known."""
    monkeypatch.setattr(recheck_tiles, "MIN_WINDOW", WINDOW)
    monkeypatch.setattr(recheck_tiles, "WINDOW_FRACTION", 0.0)
    monkeypatch.setattr(recheck_tiles, "RANDOM_TILES", 0)


class Synced:
    def __init__(self, tmp_path: Path) -> None:
        self.log = FakeLog()
        self.log.append(TILES * 256 + 10)
        self.mirror = tmp_path / "m.sqlite"
        self.sync()

    def sync(self) -> None:
        client = AuditApiClient(
            "http://audit.test", "tok-secret-123", transport=self.log.transport()
        )
        pin = Pin(client.base_url, "org_1", self.log.origin, self.log.vkey)
        SyncEngine(client, self.mirror, pin).run()

    def recheck(self, *, full: bool = False) -> recheck_tiles.RecheckResult:
        return recheck_mirror(self.mirror, self.log.vkey, self.log.origin, full=full)

    def edit(self, sql: str, *params: object) -> None:
        with sqlite3.connect(self.mirror) as conn:
            conn.execute(sql, params)


@pytest.fixture
def synced(tmp_path: Path) -> Synced:
    return Synced(tmp_path)


def test_a_start_hashes_the_window_and_the_last_tile_not_the_whole_mirror(synced: Synced) -> None:
    result = synced.recheck()
    assert result.ok and result.size == TILES * 256 + 10
    assert result.checked == WINDOW * 256 + 10  # the new mirror was verified by its sync


def test_an_edit_in_an_older_tile_is_found_within_a_round_of_the_window(synced: Synced) -> None:
    synced.edit("UPDATE entries SET raw = ? WHERE idx = 4000", make_event(4000, tool="x"))
    starts = 0
    while (result := synced.recheck()).ok:
        starts += 1
        assert starts <= math.ceil(TILES / WINDOW), "the window never reached the edited tile"
    tile = result.findings[0]  # the columns derived from the new bytes differ too
    assert (tile.code, tile.ranges) == (Code.EVENT_MODIFIED, ((3840, 4095),))


def test_entries_new_since_the_last_start_are_all_hashed(synced: Synced) -> None:
    synced.recheck()
    synced.log.append(5 * 256)
    synced.sync()  # an increment: its tiles are new to the re-check
    synced.edit("UPDATE entries SET user_id = 'usr_evil' WHERE idx = ?", TILES * 256 + 700)
    found = synced.recheck()
    assert found.checked >= 5 * 256
    assert [(f.code, f.ranges) for f in found.findings] == [
        (Code.EVENT_MODIFIED, ((TILES * 256 + 700, TILES * 256 + 700),))
    ]


def test_an_edited_tile_root_is_found_at_once(synced: Synced) -> None:
    synced.edit("UPDATE tile_hashes SET hash = ? WHERE n = 17", b"\x01" * 32)
    result = synced.recheck()
    assert not result.ok and result.findings[0].code is Code.EVENT_MODIFIED


def test_a_deleted_entry_is_found_at_once_by_the_full_pass(synced: Synced) -> None:
    synced.edit("DELETE FROM entries WHERE idx = 4321")
    result = synced.recheck()
    assert result.findings[0].code is Code.EVENT_MISSING
    assert result.findings[0].ranges == ((4321, 4321),)


def test_full_hashes_every_entry(synced: Synced) -> None:
    result = synced.recheck(full=True)
    assert result.ok and result.checked == TILES * 256 + 10
