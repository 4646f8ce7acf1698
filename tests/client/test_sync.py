"""The sync engine's verification, against an in-memory log behind httpx.MockTransport.

Each test builds the smallest log that shows one behaviour; what the mirror holds afterwards is
read with plain sqlite3 (the mirror is the product, not an implementation detail).
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import httpx
import pytest

from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine, SyncProgress, SyncStatus
from auditlens.client.trust import Pin
from auditlens.core import note
from auditlens.core.errors import Code, VerificationError
from auditlens.mirror.store import partial_path
from tests.client.fakelog import FakeLog, make_event

URL = "http://audit.test"


def engine_for(
    log: FakeLog, mirror: Path, *, vkey: str | None = None, origin: str | None = None
) -> SyncEngine:
    client = AuditApiClient(URL, "tok-secret-123", transport=log.transport())
    pin = Pin(client.base_url, "org_1", origin or log.origin, vkey or log.vkey)
    return SyncEngine(client, mirror, pin, fetch_workers=2, fetch_window=4)


def synced(mirror: Path, entries: int) -> tuple[FakeLog, SyncEngine]:
    """A log of ``entries`` entries, already synced once into ``mirror``: the start of every
    test of what a LATER sync does."""
    log = FakeLog.with_entries(entries)
    engine = engine_for(log, mirror)
    engine.run()
    return log, engine


def snapshot(mirror: Path) -> tuple[object, ...]:
    """Everything a sync writes, to compare before/after."""
    with sqlite3.connect(mirror) as conn:
        return (
            conn.execute("SELECT idx, raw FROM entries ORDER BY idx").fetchall(),
            conn.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall(),
            conn.execute("SELECT size, frontier FROM tree_state").fetchall(),
            conn.execute("SELECT n, hash FROM tile_hashes ORDER BY n").fetchall(),
        )


def stored_indexes(mirror: Path) -> list[int]:
    """The indexes the published mirror holds (none when a first sync published nothing)."""
    if not mirror.exists():
        return []
    with sqlite3.connect(mirror) as conn:
        return [r[0] for r in conn.execute("SELECT idx FROM entries ORDER BY idx")]


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    return tmp_path / "mirror.sqlite"


def test_initial_sync_stores_every_entry_with_its_checkpoint(mirror: Path) -> None:
    log = FakeLog.with_entries(600)
    result = engine_for(log, mirror).run()
    assert result.status is SyncStatus.SYNCED and result.new_entries == 600
    assert result.checkpoint is not None and result.checkpoint.size == 600
    with sqlite3.connect(mirror) as conn:
        assert conn.execute("SELECT count(*), min(idx), max(idx) FROM entries").fetchone() == (
            600,
            0,
            599,
        )
        raw = conn.execute("SELECT raw FROM entries WHERE idx = 7").fetchone()[0]
        assert raw == log.entries[7]
        assert conn.execute("SELECT note FROM checkpoints").fetchone()[0] == log.checkpoint()
        assert conn.execute("SELECT size FROM tree_state").fetchone()[0] == 600
        assert conn.execute("SELECT email FROM users").fetchall() == [("ada@example.com",)]
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert (meta["origin"], meta["vkey"], meta["organization_id"]) == (
        log.origin,
        log.vkey,
        "org_1",
    )


def test_columns_are_extracted_for_filters_and_sorting(mirror: Path) -> None:
    log = FakeLog.with_entries(8)
    engine_for(log, mirror).run()
    with sqlite3.connect(mirror) as conn:
        row = conn.execute(
            "SELECT ts, type, category, user_id, task_id, agent_id, outcome, summary "
            "FROM entries WHERE idx = 7"
        ).fetchone()
    assert row[0] == 1_767_225_607_000
    assert row[1:7] == ("agent.action", "agent", "usr_2", "tsk_7", "agt_1", "failure")
    assert "example.com/7" in row[7]


def test_incremental_sync_fetches_only_the_new_tiles(mirror: Path) -> None:
    log, engine = synced(mirror, 600)  # tiles 0, 1 full; tile 2 partial (88)
    log.requests.clear()
    log.append(100)
    result = engine.run()
    assert result.new_entries == 100 and result.previous_size == 600
    entry_tiles = [p for p in log.requests if p.startswith("log/tile/entries")]
    assert entry_tiles == ["log/tile/entries/002.p/188"]
    assert stored_indexes(mirror) == list(range(700))


def test_a_partial_tile_is_fetched_whole_later_and_only_new_entries_are_written(
    mirror: Path,
) -> None:
    log, engine = synced(mirror, 200)
    log.requests.clear()
    log.append(100)  # completes tile 0 and starts tile 1
    engine.run()
    assert [p for p in log.requests if "entries" in p] == [
        "log/tile/entries/000",
        "log/tile/entries/001.p/44",
    ]
    assert stored_indexes(mirror) == list(range(300))


def test_a_second_sync_without_new_entries_is_up_to_date(mirror: Path) -> None:
    _, engine = synced(mirror, 10)
    result = engine.run()
    assert result.status is SyncStatus.UP_TO_DATE and result.new_entries == 0


def test_progress_reports_events_done_of_total(mirror: Path) -> None:
    log = FakeLog.with_entries(1000)
    seen: list[SyncProgress] = []
    engine_for(log, mirror).run(seen.append)
    last = [p for p in seen if p.phase == "entries"][-1]
    assert (last.done, last.total) == (1000, 1000)
    assert last.events_per_second > 0


def test_a_modified_entry_is_named_and_nothing_is_stored(mirror: Path) -> None:
    log = FakeLog.with_entries(300)
    log.served[123] = log.entries[123].replace(b'"success"', b'"failure"')
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror).run()
    assert caught.value.code is Code.EVENT_MODIFIED
    assert caught.value.indexes == [123]
    assert stored_indexes(mirror) == []
    assert not partial_path(mirror).exists()  # no step was verified: nothing kept to resume


def test_a_modified_entry_in_an_increment_leaves_the_mirror_as_it_was(mirror: Path) -> None:
    log, engine = synced(mirror, 300)
    before = snapshot(mirror)
    log.append(300)
    log.served[450] = make_event(9999)
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.EVENT_MODIFIED and caught.value.indexes == [450]
    assert snapshot(mirror) == before


def test_swapped_entries_are_reported_as_reordered(mirror: Path) -> None:
    log = FakeLog.with_entries(50)
    log.served[10], log.served[11] = log.entries[11], log.entries[10]
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror).run()
    assert caught.value.code is Code.EVENT_REORDERED
    assert caught.value.indexes == [10, 11]


def test_old_entries_served_differently_in_a_refetched_tile_are_modified(mirror: Path) -> None:
    log, engine = synced(mirror, 100)
    log.append(10)
    log.served[5] = make_event(5, tool="file.write")
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.EVENT_MODIFIED and caught.value.indexes == [5]


def test_a_bundle_with_fewer_entries_than_the_tree_is_event_missing(mirror: Path) -> None:
    log = FakeLog.with_entries(20)
    log.drop_from_bundles = 3
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror).run()
    assert caught.value.code is Code.EVENT_MISSING and caught.value.ranges == ((17, 19),)


def test_a_smaller_signed_checkpoint_is_log_truncated(mirror: Path) -> None:
    log, engine = synced(mirror, 50)
    before = snapshot(mirror)
    log.checkpoint_override = log.checkpoint(size=40)
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.LOG_TRUNCATED
    assert snapshot(mirror) == before


def test_a_forked_log_keeps_both_signed_notes_as_evidence(mirror: Path) -> None:
    log, engine = synced(mirror, 50)
    trusted = log.checkpoint()
    before = snapshot(mirror)
    log.entries[10] = make_event(10, tool="shell.run")  # history rewritten, then extended
    log.append(20)
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.LOG_FORKED
    assert snapshot(mirror) == before
    with sqlite3.connect(mirror) as conn:  # the mirror itself is not written to
        assert conn.execute("SELECT count(*) FROM forks").fetchone() == (0,)
    (evidence,) = mirror.parent.glob(mirror.stem + ".fork-*.json")
    assert str(evidence) in caught.value.message
    record = json.loads(evidence.read_text(encoding="utf-8"))
    assert (record["trusted_checkpoint"], record["conflicting_checkpoint"]) == (
        trusted,
        log.checkpoint(),
    )
    assert record["code"] == "LOG_FORKED" and record["origin"] == log.origin
    assert record["consistency_proof"]  # what the server offered, kept too
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o600
    with pytest.raises(VerificationError):
        engine.run()  # the same conflict again: the same one file
    assert len(list(mirror.parent.glob(mirror.stem + ".fork-*.json"))) == 1


def test_a_truncated_log_keeps_both_signed_notes_as_evidence(mirror: Path) -> None:
    log, engine = synced(mirror, 50)
    log.checkpoint_override = log.checkpoint(size=40)
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.LOG_TRUNCATED
    (evidence,) = mirror.parent.glob(mirror.stem + ".fork-*.json")
    assert json.loads(evidence.read_text(encoding="utf-8"))["code"] == "LOG_TRUNCATED"


def test_the_same_size_with_another_root_is_a_fork(mirror: Path) -> None:
    log, engine = synced(mirror, 50)
    log.entries[49] = make_event(4900)
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.LOG_FORKED


def test_a_checkpoint_signed_by_another_key_is_untrusted(mirror: Path) -> None:
    log = FakeLog.with_entries(5)
    other_vkey = note.generate_keys("test.local")[1]
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror, vkey=other_vkey).run()
    assert caught.value.code is Code.UNTRUSTED_KEY
    assert stored_indexes(mirror) == []


def test_a_checkpoint_of_another_origin_is_an_origin_mismatch(mirror: Path) -> None:
    log = FakeLog.with_entries(5)
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror, origin="test.local/other").run()
    assert caught.value.code is Code.ORIGIN_MISMATCH


def test_a_mirror_made_under_another_key_is_not_extended(mirror: Path) -> None:
    log = FakeLog.with_entries(5)
    engine_for(log, mirror).run()
    other = FakeLog()
    other.append(10)
    with pytest.raises(VerificationError) as caught:
        engine_for(other, mirror).run()
    assert caught.value.code is Code.UNTRUSTED_KEY


def test_cancel_mid_sync_leaves_the_mirror_unchanged(mirror: Path) -> None:
    log, engine = synced(mirror, 300)
    before = snapshot(mirror)
    log.append(3000)
    cancel = threading.Event()

    def cancel_after_some_tiles(request: httpx.Request) -> None:
        if sum("entries" in p for p in log.requests) >= 5:
            cancel.set()

    log.on_request = cancel_after_some_tiles
    result = engine.run(cancel=cancel)
    assert result.status is SyncStatus.CANCELLED
    assert snapshot(mirror) == before


def test_a_failure_mid_write_leaves_the_mirror_unchanged(mirror: Path) -> None:
    log, engine = synced(mirror, 300)
    before = snapshot(mirror)
    log.append(3000)

    def die_mid_way(request: httpx.Request) -> None:
        if sum("entries" in p for p in log.requests) >= 8:
            raise ConnectionResetError("simulated crash")

    log.on_request = die_mid_way
    with pytest.raises(ConnectionResetError, match="simulated crash"):
        engine.run()
    assert snapshot(mirror) == before
    log.on_request = None
    assert engine.run().new_entries == 3000  # and the next sync completes


def test_pruned_entries_covered_by_a_signed_retention_event_are_informational(
    mirror: Path,
) -> None:
    log = FakeLog.with_entries(600)
    log.min_index = 512
    log.entries.append(
        make_event(600, event_type="audit.retention_pruned", min_index=512, policy_days=90)
    )
    result = engine_for(log, mirror).run()
    assert [f.code for f in result.findings] == [Code.PRUNED_BY_POLICY]
    assert result.findings[0].ranges == ((0, 511),)
    assert result.failed_findings == ()
    assert stored_indexes(mirror) == list(range(512, 601))


def test_pruned_entries_without_a_retention_event_are_missing(mirror: Path) -> None:
    log = FakeLog.with_entries(600)
    log.min_index = 256
    result = engine_for(log, mirror).run()
    assert [f.code for f in result.failed_findings] == [Code.EVENT_MISSING]
    assert result.findings[0].ranges == ((0, 255),)
    assert stored_indexes(mirror) == list(range(256, 600))


def test_a_large_initial_sync_takes_the_bulk_path_and_ends_with_every_index(
    mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditlens.mirror import schema, writer

    monkeypatch.setattr(writer, "BULK_MIN_ROWS", 100)
    log = FakeLog.with_entries(700)
    engine_for(log, mirror).run()
    with sqlite3.connect(mirror) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(schema.index_names()) <= names


def test_an_entry_replaced_by_invalid_bytes_is_modified_not_malformed(mirror: Path) -> None:
    log = FakeLog.with_entries(30)
    log.served[12] = b"{}"
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror).run()
    assert caught.value.code is Code.EVENT_MODIFIED and caught.value.indexes == [12]


def test_a_signed_entry_that_is_not_an_event_is_proof_malformed(mirror: Path) -> None:
    log = FakeLog.with_entries(30)
    log.entries[12] = b'{"hello": "world"}'
    with pytest.raises(VerificationError) as caught:
        engine_for(log, mirror).run()
    assert caught.value.code is Code.PROOF_MALFORMED and caught.value.indexes == [12]
    assert stored_indexes(mirror) == []
