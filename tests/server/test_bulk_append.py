"""The bulk seed path writes the same signed log as the sequencer, and a client verifies it."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from auditlens.client.session import sign_in
from auditlens.client.sync import SyncStatus
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.events import EventError
from auditlens.server import seed
from auditlens.server.app import create_app
from auditlens.server.bulk_append import bulk_append
from auditlens.server.bulk_prepare import prepared
from auditlens.server.bulk_process import prepared_in_subprocess
from auditlens.server.demo_data import generate
from auditlens.server.embedded import ThreadedServer
from auditlens.server.integrity import check_log
from auditlens.server.schema import entries
from auditlens.server.seed import PARALLEL_FROM, SeedResult, seed_demo
from auditlens.server.settings import KEY_FILE, VKEY_FILE, ServerSettings
from auditlens.server.state import ServerState, open_server
from tests.helpers.isolation import isolated_home, memory_keyring
from tests.server.conftest import BACKENDS, database_url

__all__ = ["isolated_home", "memory_keyring"]  # autouse fixtures: no real keyring or home

NOW = 1_772_366_400_000
EVENTS = PARALLEL_FROM + 5_500  # the bulk path prepares them in a second process
BATCH = 4_000  # checkpoints at 4,000, 8,000, ... and at the end


def open_state(data_dir: Path, url: str | None, key_from: Path | None) -> ServerState:
    """A server whose signing key is ``key_from``'s and whose ids come from a fixed seed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if key_from is not None:
        for name in (KEY_FILE, VKEY_FILE):
            shutil.copy2(key_from / name, data_dir / name)
    state = open_server(ServerSettings(data_dir=data_dir, database_url=url))
    state.sequencer.ids = EventIdGenerator(random.Random(41))
    return state


Log = dict[str, list[tuple[Any, ...]]]


def the_log(state: ServerState, org_id: str) -> Log:
    """Everything the signed log consists of, without the organization's (random) id."""
    with state.db.read() as conn:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.execute(sa.text(sql), {"org": org_id})
            ]

        return {
            "entries": rows(
                "SELECT idx, id, ts, type, category, user_id, task_id, agent_id, outcome,"
                " leaf_hash, body FROM entries WHERE org_id = :org ORDER BY idx"
            ),
            "nodes": rows(
                "SELECT level, idx, hash FROM tree_nodes WHERE org_id = :org ORDER BY level, idx"
            ),
            "checkpoints": rows(
                "SELECT size, root, note FROM checkpoints WHERE org_id = :org ORDER BY size"
            ),
            "state": rows("SELECT tree_size, frontier, last_ts FROM organizations WHERE id = :org"),
        }


def entry_indexes(state: ServerState) -> set[str]:
    """The names of the entries table's indexes that the schema names (not automatic ones)."""
    with state.db.read() as conn:
        found = {str(index["name"]) for index in sa.inspect(conn).get_indexes("entries")}
    return found & {str(index.name) for index in entries.indexes}


@pytest.fixture(scope="module")
def through_sequencer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Log]]:
    data_dir = tmp_path_factory.mktemp("sequencer")
    state = open_state(data_dir, None, None)
    try:
        result = seed_demo(state, events=EVENTS, now_ms=NOW, batch=BATCH, bulk=False)
        yield data_dir, the_log(state, result.org.id)
    finally:
        state.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bulk_seeding_writes_the_sequencers_log_byte_for_byte(
    backend: str,
    through_sequencer: tuple[Path, Log],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(seed, "_idle_core", lambda: True)  # the second process, however busy
    key_dir, expected = through_sequencer
    with database_url(backend, tmp_path) as url:
        state = open_state(tmp_path / "bulk", url, key_dir)
        try:
            done: list[int] = []
            result = seed_demo(
                state, events=EVENTS, now_ms=NOW, batch=BATCH,
                progress=lambda n, total: done.append(n),
            )  # fmt: skip
            log = the_log(state, result.org.id)
            indexes = entry_indexes(state)
        finally:
            state.close()
    assert indexes == {str(index.name) for index in entries.indexes}  # built again after the load
    assert [c[0] for c in log["checkpoints"]] == [0, *range(BATCH, EVENTS, BATCH), EVENTS]
    for part in ("entries", "nodes", "checkpoints", "state"):
        assert log[part] == expected[part], part
    assert done == [EVENTS] and result.size == EVENTS


def test_bulk_commits_in_steps_and_continues_any_log(tmp_path: Path) -> None:
    """Several transactions, and a log that already holds events: still the sequencer's log."""
    dataset = generate(seed=3, events=9_100, now_ms=NOW)
    stream = list(dataset.events())
    logs = []
    for name, use_bulk in (("sequencer", False), ("bulk", True)):
        state = open_state(tmp_path / name, None, tmp_path / "sequencer" if use_bulk else None)
        try:
            result = seed_demo(state, seed=3, events=0, now_ms=NOW)  # the organization only
            with state.db.write() as conn:  # the same first events, through the sequencer
                state.sequencer.append_in(
                    conn,
                    result.org.id,
                    [s for _, s in stream[:100]],
                    timestamps=[t for t, _ in stream[:100]],
                )
            rest = stream[100:]
            if use_bulk:
                commits: list[int] = []
                size = bulk_append(
                    state.db, state.sequencer, result.org.id, prepared(rest, chunk=333),
                    checkpoint_every=1_000, commit_every=3_000, progress=commits.append,
                )  # fmt: skip
                assert commits == [3_000, 6_000, 9_000] and size == 9_100
            else:
                for lo in range(0, len(rest), 1_000):
                    part = rest[lo : lo + 1_000]
                    with state.db.write() as conn:
                        state.sequencer.append_in(
                            conn,
                            result.org.id,
                            [s for _, s in part],
                            timestamps=[t for t, _ in part],
                        )
            logs.append(the_log(state, result.org.id))
        finally:
            state.close()
    assert logs[0] == logs[1]


def test_a_bulk_seeded_log_verifies_in_the_client_and_the_server(tmp_path: Path) -> None:
    state = open_state(tmp_path / "server", None, None)
    running = ThreadedServer(create_app(state.settings, state)).start()
    try:
        result: SeedResult = seed_demo(state, events=EVENTS, now_ms=NOW, batch=BATCH)
        assert check_log(state, result.org).ok
        admin = result.person("admin")
        attempt = sign_in(running.url, email=admin.email, password=admin.password)
        session = attempt.confirm() if attempt.needs_confirmation else attempt.session
        synced = session.sync_engine(tmp_path / "mirrors").run()
        # the sign-in itself is logged after the seeded events
        assert synced.status is SyncStatus.SYNCED and synced.checkpoint.size > EVENTS
    finally:
        running.stop()
        state.close()


def test_a_submission_the_splice_cannot_hold_is_refused() -> None:
    sub: dict[str, Any] = {"type": "auth.login", "user_id": None, "task_id": None}
    sub |= {"agent_id": None, "event": {"outcome": "success"}}
    list(prepared([(0, sub)]))
    with pytest.raises(EventError, match="exactly the members"):
        list(prepared([(0, {**sub, "extra": 1})], validate=False))
    with pytest.raises(EventError, match=r"events\[0\]\.user_id"):
        list(prepared([(0, {**sub, "user_id": {"id": "u"}})], validate=False))
    with pytest.raises(EventError, match=r"events\[1\]"):
        list(prepared([(0, sub), (0, {**sub, "type": "no.such"})]))


def test_a_failed_bulk_load_keeps_the_indexes_it_dropped(tmp_path: Path) -> None:
    """The indexes are dropped inside the load's transaction: a failure rolls the drop back."""
    state = open_state(tmp_path / "server", None, None)
    try:
        result = seed_demo(state, events=0, now_ms=NOW)
        stream = list(generate(seed=1, events=3_000, now_ms=NOW).events())
        stream[2_500] = (stream[2_500][0], {**stream[2_500][1], "type": "no.such"})
        with pytest.raises(EventError, match=r"events\[2500\]"):
            bulk_append(
                state.db, state.sequencer, result.org.id, prepared(stream, chunk=1_000),
                checkpoint_every=1_000, commit_every=3_000,
            )  # fmt: skip
        assert entry_indexes(state) == {str(index.name) for index in entries.indexes}
        with state.db.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM entries")).scalar() == 0
    finally:
        state.close()


def a_stream_with_a_bad_event() -> list[tuple[int, dict[str, Any]]]:
    """Two events, the second of an unknown type (module level: the child process imports it)."""
    sub: dict[str, Any] = {"type": "auth.login", "user_id": None, "task_id": None}
    sub |= {"agent_id": None, "event": {"outcome": "success"}}
    return [(NOW, sub), (NOW, {**sub, "type": "no.such"})]


def test_the_child_process_reports_a_bad_event_and_a_good_stream_arrives_whole() -> None:
    with pytest.raises(EventError, match=r"events\[1\]\.type"):
        list(prepared_in_subprocess(a_stream_with_a_bad_event, chunk=1))
    dataset = generate(seed=2, events=2_500, now_ms=NOW)
    chunks = list(prepared_in_subprocess(dataset.events, validate=False, chunk=1_000))
    assert [len(c.ts) for c in chunks] == [1_000, 1_000, 500]
    assert chunks == list(prepared(dataset.events(), validate=False, chunk=1_000))
