"""A log's history is checked against what this client verified in ANY mirror, not only one.

Syncing into another mirror directory (or after deleting the mirror) must not let a second
history under a pinned origin in: the largest verified checkpoint per log is kept beside the pins.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine, SyncStatus
from auditlens.client.trust import Pin
from auditlens.client.verified import VerifiedCheckpoints
from auditlens.core.errors import Code, VerificationError
from tests.client.fakelog import FakeLog, make_event


def engine(log: FakeLog, mirror: Path, verified: VerifiedCheckpoints) -> SyncEngine:
    client = AuditApiClient("http://audit.test", "tok-secret-123", transport=log.transport())
    pin = Pin(client.base_url, "org_1", log.origin, log.vkey)
    return SyncEngine(client, mirror, pin, fetch_workers=1, fetch_window=2, verified=verified)


def entries(mirror: Path) -> int:
    """Entries of the published mirror (0 when a first sync published none)."""
    if not mirror.exists():
        return 0
    with sqlite3.connect(mirror) as conn:
        return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])


@pytest.fixture
def verified(tmp_path: Path) -> VerifiedCheckpoints:
    return VerifiedCheckpoints(tmp_path / "config" / "checkpoints")


def test_a_second_history_is_forked_even_in_a_fresh_mirror(
    tmp_path: Path, verified: VerifiedCheckpoints
) -> None:
    log = FakeLog()
    log.append(40)
    engine(log, tmp_path / "a" / "log.sqlite", verified).run()
    log.entries[5] = make_event(500)  # another history under the same origin and key
    log.append(10)
    fresh = tmp_path / "b" / "log.sqlite"
    with pytest.raises(VerificationError) as caught:
        engine(log, fresh, verified).run()
    assert caught.value.code is Code.LOG_FORKED
    assert entries(fresh) == 0
    assert list(fresh.parent.glob("log.fork-*.json"))


def test_a_smaller_checkpoint_in_a_fresh_mirror_is_truncation(
    tmp_path: Path, verified: VerifiedCheckpoints
) -> None:
    log = FakeLog()
    log.append(40)
    engine(log, tmp_path / "a" / "log.sqlite", verified).run()
    log.checkpoint_override = log.checkpoint(size=30)
    with pytest.raises(VerificationError) as caught:
        engine(log, tmp_path / "b" / "log.sqlite", verified).run()
    assert caught.value.code is Code.LOG_TRUNCATED


def test_the_same_history_syncs_into_another_mirror_and_raises_the_record(
    tmp_path: Path, verified: VerifiedCheckpoints
) -> None:
    log = FakeLog()
    log.append(40)
    engine(log, tmp_path / "a" / "log.sqlite", verified).run()
    log.append(25)
    result = engine(log, tmp_path / "b" / "log.sqlite", verified).run()
    assert result.status is SyncStatus.SYNCED and entries(tmp_path / "b" / "log.sqlite") == 65
    assert verified.latest(log.origin, log.vkey) == log.checkpoint()


def test_a_damaged_record_is_ignored_not_trusted(
    tmp_path: Path, verified: VerifiedCheckpoints
) -> None:
    log = FakeLog()
    log.append(10)
    path = verified.path(log.origin, log.vkey)
    path.parent.mkdir(parents=True)
    path.write_text("not a signed note", encoding="utf-8")
    assert engine(log, tmp_path / "a" / "log.sqlite", verified).run().new_entries == 10
    assert verified.latest(log.origin, log.vkey) == log.checkpoint()
