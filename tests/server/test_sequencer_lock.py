"""The sequencer lock on PostgreSQL: appends from several engines (as from several API
processes) are serialized per organization and never fork the log; the lock holds nothing else
up; the database refuses a second checkpoint for one size."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from auditlens.core import merkle, note
from auditlens.server import accounts
from auditlens.server.db import Database
from auditlens.server.schema import checkpoints
from auditlens.server.sequencer import Sequencer, lock_log, next_id
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server
from auditlens.server.tree import TreeReader
from tests.server.conftest import BACKENDS, PASSWORD, database_url, sample_event


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[ServerState]:
    with database_url("postgresql", tmp_path) as url:
        state = open_server(ServerSettings(data_dir=tmp_path / "data", database_url=url))
        try:
            yield state
        finally:
            state.close()


def _org(state: ServerState, name: str = "Acme") -> accounts.Organization:
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, name, "business")
        accounts.create_user(
            conn, org.id, email=f"owner@{name.lower()}.test", name="O", role="owner",
            password=PASSWORD,
        )  # fmt: skip
        return org


@pytest.mark.postgres
def test_appends_from_several_engines_never_sign_two_roots_for_one_size(pg: ServerState) -> None:
    org = _org(pg)
    engines = [Database(pg.db.url) for _ in range(3)]
    notes: list[str] = []
    errors: list[BaseException] = []

    def append(db: Database, worker: int) -> None:
        seq = Sequencer(db, pg.signer)
        try:
            for n in range(8):
                batch = [sample_event(worker * 1000 + n * 10 + i) for i in range(10)]
                notes.append(seq.append(org.id, batch).checkpoint)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(db, w)) for w, db in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in engines:
        db.dispose()
    assert not errors, errors
    with pg.db.read() as conn:
        leaves = [
            bytes(h)
            for (h,) in conn.execute(
                sa.text("SELECT leaf_hash FROM entries WHERE org_id = :o ORDER BY idx"),
                {"o": org.id},
            )
        ]
    assert len(leaves) == 3 * 8 * 10
    sizes = set()
    for text in notes:
        cp = note.verify_checkpoint(text, pg.vkey, org.origin)
        assert cp.root == merkle.root(leaves[: cp.size]), f"a fork at size {cp.size}"
        sizes.add(cp.size)
    assert len(sizes) == len(notes) == 24
    with pg.db.read() as conn:
        reader = TreeReader(conn, org.id, len(leaves))
        assert reader.root(len(leaves)) == merkle.root(leaves)


@pytest.mark.postgres
def test_a_second_checkpoint_for_a_stored_size_is_refused(pg: ServerState) -> None:
    org = _org(pg)
    pg.sequencer.append(org.id, [sample_event(1)])
    with pytest.raises(sa.exc.IntegrityError), pg.db.write() as conn:
        conn.execute(
            sa.insert(checkpoints).values(
                org_id=org.id, size=1, root=b"\x01" * 32, note="forged", created_at=0
            )
        )


@pytest.mark.postgres
def test_the_log_lock_holds_up_neither_logins_nor_other_organizations(pg: ServerState) -> None:
    """An append in progress must not stall a login (a session row referencing the organization)
    nor another organization's append."""
    org = _org(pg)
    other = _org(pg, "Globex")
    with pg.db.read() as conn:
        user = accounts.find_user(conn, org.id, "owner@acme.test")
    assert user is not None
    other_db = Database(pg.db.url)
    try:
        with pg.db.writer.begin() as holder:
            lock_log(holder, org.id)
            pg.sequencer.append_in(holder, org.id, [sample_event(1)])
            with other_db.writer.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                accounts.create_session(conn, user, 60)
                Sequencer(other_db, pg.signer).append_in(conn, other.id, [sample_event(2)])
    finally:
        other_db.dispose()


@pytest.mark.postgres
def test_several_processes_may_create_the_schema_at_once(tmp_path: Path) -> None:
    """API processes started together on an empty database each create the schema."""
    with database_url("postgresql", tmp_path) as url:
        settings = ServerSettings(data_dir=tmp_path / "data", database_url=url)
        open_server(settings).close()  # the log key, once: the processes share a data dir
        with Database(url).writer.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def start() -> None:
            try:
                barrier.wait()
                open_server(settings).close()
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_ids_follow_index_order_across_processes_in_one_millisecond(
    backend: str, tmp_path: Path
) -> None:
    """Two processes (two sequencers, each with its own id generator) appending within one
    millisecond still hand out ids that sort in log order."""
    with database_url(backend, tmp_path) as url:
        state = open_server(ServerSettings(data_dir=tmp_path / "data", database_url=url))
        try:
            org = _org(state)
            same_ms = 5_000_000_000_000
            a, b = (Sequencer(state.db, state.signer, clock=lambda: same_ms) for _ in range(2))
            ids: list[str] = []
            for n in range(20):
                ids += (a if n % 2 else b).append(org.id, [sample_event(n), sample_event(-n)]).ids
        finally:
            state.close()
    assert len(set(ids)) == 40
    assert ids == sorted(ids)


def test_next_id_carries_within_the_random_part_only() -> None:
    assert next_id("log_04HGKKJM00TM071AA20C7B0QKW") == "log_04HGKKJM00TM071AA20C7B0QKX"
    assert next_id("log_04HGKKJM00TM071AA20C7B0QZZ") == "log_04HGKKJM00TM071AA20C7B0R00"
    with pytest.raises(OverflowError):
        next_id("log_04HGKKJM00" + "Z" * 16)
