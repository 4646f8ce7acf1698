"""A new mirror is built in verified steps, published whole, and resumed after an interruption."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine, SyncStatus
from auditlens.client.trust import Pin
from auditlens.core.errors import Code, VerificationError
from auditlens.mirror.digest import content_digest
from auditlens.mirror.store import open_readonly, partial_path
from tests.client.fakelog import FakeLog, make_event

STEP = 512


def engine_for(log: FakeLog, mirror: Path) -> SyncEngine:
    client = AuditApiClient("http://audit.test", "tok-secret-123", transport=log.transport())
    pin = Pin(client.base_url, "org_1", log.origin, log.vkey)
    return SyncEngine(client, mirror, pin, fetch_workers=1, fetch_window=2, step=STEP)


def committed(mirror: Path) -> int:
    conn = open_readonly(partial_path(mirror))
    try:
        return int(conn.execute("SELECT size FROM tree_state").fetchone()[0])
    finally:
        conn.close()


def interrupted(log: FakeLog, mirror: Path, after_tiles: int) -> int:
    """Run a build and cancel it after ``after_tiles`` entry bundles; return what it kept."""
    cancel = threading.Event()

    def stop(request: httpx.Request) -> None:
        if sum("entries" in p for p in log.requests) >= after_tiles:
            cancel.set()

    log.requests.clear()
    log.on_request = stop
    assert engine_for(log, mirror).run(cancel=cancel).status is SyncStatus.CANCELLED
    log.on_request = None
    assert not mirror.exists()  # nothing is shown before the whole mirror is verified
    return committed(mirror)


def test_each_step_is_proven_a_prefix_of_the_signed_tree_before_it_commits(
    tmp_path: Path,
) -> None:
    log = FakeLog.with_entries(5 * STEP + 100)
    result = engine_for(log, tmp_path / "m.sqlite").run()
    assert result.status is SyncStatus.SYNCED and result.new_entries == 5 * STEP + 100
    proofs = [p for p in log.requests if p == "log/proof/consistency"]
    assert len(proofs) == 5  # one per step but the last, which must equal the root itself
    assert not partial_path(tmp_path / "m.sqlite").exists()


def test_an_interrupted_build_resumes_from_its_last_step_to_the_same_mirror(
    tmp_path: Path,
) -> None:
    log = FakeLog.with_entries(6 * STEP + 77)
    kept = interrupted(log, tmp_path / "m.sqlite", after_tiles=7)
    assert kept % STEP == 0 and 0 < kept < 6 * STEP
    log.append(300)  # the log grew meanwhile: the new checkpoint must extend the kept one
    result = engine_for(log, tmp_path / "m.sqlite").run()
    assert (result.previous_size, result.new_entries) == (kept, 6 * STEP + 377 - kept)
    engine_for(log, tmp_path / "whole.sqlite").run()
    assert content_digest(tmp_path / "m.sqlite") == content_digest(tmp_path / "whole.sqlite")


def test_a_resumed_build_refuses_a_history_that_does_not_extend_its_steps(
    tmp_path: Path,
) -> None:
    log = FakeLog.with_entries(4 * STEP)
    kept = interrupted(log, tmp_path / "m.sqlite", after_tiles=5)
    log.entries[3] = make_event(3, tool="shell.run")  # history rewritten below the kept steps
    with pytest.raises(VerificationError) as caught:
        engine_for(log, tmp_path / "m.sqlite").run()
    assert caught.value.code is Code.LOG_FORKED
    assert committed(tmp_path / "m.sqlite") == kept and not (tmp_path / "m.sqlite").exists()


def test_a_modified_entry_stops_the_build_at_its_step_which_resumes_once_served_right(
    tmp_path: Path,
) -> None:
    log = FakeLog.with_entries(4 * STEP)
    log.served[2 * STEP + 5] = make_event(99_999)
    with pytest.raises(VerificationError) as caught:
        engine_for(log, tmp_path / "m.sqlite").run()
    assert caught.value.code is Code.EVENT_MODIFIED
    assert caught.value.indexes == [2 * STEP + 5]
    assert committed(tmp_path / "m.sqlite") == 2 * STEP  # the steps before it were verified
    del log.served[2 * STEP + 5]
    result = engine_for(log, tmp_path / "m.sqlite").run()
    assert (result.previous_size, result.new_entries) == (2 * STEP, 2 * STEP)
