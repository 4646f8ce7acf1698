"""The sequencer on a real database: numbering, time, atomicity, state across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from auditlens.core import merkle, note
from auditlens.core.events import EventError, parse_timestamp
from auditlens.server import accounts
from auditlens.server.sequencer import Sequencer
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server
from auditlens.server.tree import TreeReader
from tests.server.conftest import sample_event


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServerState]:
    st = open_server(ServerSettings(data_dir=tmp_path, sqlite_synchronous="NORMAL"))
    yield st
    st.close()


def _org(state: ServerState) -> accounts.Organization:
    with state.db.write() as conn:
        return accounts.create_organization(conn, state.sequencer, "Acme", "business")


def _stamps(state: ServerState, org_id: str) -> list[int]:
    with state.db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT ts FROM entries WHERE org_id = :o ORDER BY idx"), {"o": org_id}
        )
        return [int(ts) for (ts,) in rows]


def test_a_clock_that_goes_backwards_never_makes_time_decrease(state: ServerState) -> None:
    org = _org(state)
    times = iter([5_000_000_000_000, 4_000_000_000_000, 4_500_000_000_000])
    seq = Sequencer(state.db, state.signer, clock=lambda: next(times))
    for i in range(3):
        seq.append(org.id, [sample_event(i)])
    assert _stamps(state, org.id) == [5_000_000_000_000] * 3


def test_new_organization_starts_with_a_signed_empty_checkpoint(state: ServerState) -> None:
    org = _org(state)
    with state.db.read() as conn:
        text = conn.execute(sa.text("SELECT note FROM checkpoints WHERE size = 0")).scalar_one()
    cp = note.verify_checkpoint(text, state.vkey, org.origin)
    assert (cp.size, cp.root) == (0, merkle.EMPTY_ROOT)


def test_an_error_mid_batch_stores_nothing(state: ServerState) -> None:
    org = _org(state)
    state.sequencer.append(org.id, [sample_event(0)])
    big = sample_event(1)
    big["event"]["blob"] = "x" * 65_300  # valid alone; too big once id and timestamp are added
    with pytest.raises(EventError):
        state.sequencer.append(org.id, [sample_event(2), big])
    assert len(_stamps(state, org.id)) == 1


def test_seed_timestamps_are_kept_clamped_and_future_ones_refused(state: ServerState) -> None:
    org = _org(state)
    now = state.sequencer.clock()
    with state.db.write() as conn:
        state.sequencer.append_in(
            conn, org.id, [sample_event(0), sample_event(1)], timestamps=[now - 5000, now - 9000]
        )
    assert _stamps(state, org.id) == [now - 5000, now - 5000]
    with pytest.raises(ValueError, match="future"), state.db.write() as conn:
        state.sequencer.append_in(conn, org.id, [sample_event(2)], timestamps=[now + 3_600_000])


def test_state_survives_reopening_and_matches_a_full_recomputation(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    first = open_server(settings)
    org = _org(first)
    for batch in range(5):
        first.sequencer.append(org.id, [sample_event(batch * 100 + i) for i in range(137)])
    first.close()
    second = open_server(settings)
    try:
        appended = second.sequencer.append(org.id, [sample_event(9)])
        with second.db.read() as conn:
            bodies = [
                bytes(b) for (b,) in conn.execute(sa.text("SELECT body FROM entries ORDER BY idx"))
            ]
            reader = TreeReader(conn, org.id, appended.size)
            assert reader.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
        cp = note.verify_checkpoint(appended.checkpoint, second.vkey, org.origin)
        assert cp.size == 5 * 137 + 1 == len(bodies)
        assert cp.root == merkle.root([merkle.leaf_hash(b) for b in bodies])
    finally:
        second.close()


def test_ids_are_unique_and_follow_index_order(state: ServerState) -> None:
    org = _org(state)
    ids = state.sequencer.append(org.id, [sample_event(i) for i in range(500)]).ids
    assert len(set(ids)) == 500
    assert ids == sorted(ids)


def test_timestamps_are_utc_milliseconds_with_z(state: ServerState) -> None:
    org = _org(state)
    state.sequencer.append(org.id, [sample_event(0)])
    with state.db.read() as conn:
        body = conn.execute(sa.text("SELECT body FROM entries")).scalar_one()
    import orjson

    stamp = orjson.loads(body)["timestamp"]
    assert stamp.endswith("Z") and len(stamp) == 24
    assert parse_timestamp(stamp) == _stamps(state, org.id)[0]


def test_stored_tree_answers_the_same_proofs_as_the_reference(state: ServerState) -> None:
    org = _org(state)
    for size in (1, 254, 1, 300, 144):  # batches that end on and across tile boundaries
        state.sequencer.append(org.id, [sample_event(i) for i in range(size)])
    with state.db.read() as conn:
        leaves = [
            bytes(h) for (h,) in conn.execute(sa.text("SELECT leaf_hash FROM entries ORDER BY idx"))
        ]
        reader = TreeReader(conn, org.id, len(leaves))
        for size in (1, 2, 255, 256, 257, 511, 512, 513, len(leaves)):
            assert reader.root(size) == merkle.root(leaves[:size])
            for index in {0, size // 2, size - 1}:
                assert reader.inclusion_proof(index, size) == merkle.inclusion_proof(
                    leaves, index, size
                )
            for old in {1, size // 3 or 1, size}:
                assert reader.consistency_proof(old, size) == merkle.consistency_proof(
                    leaves, old, size
                )
        assert reader.hash_tile(1, 0, 2) == merkle.root(leaves[:256]) + merkle.root(leaves[256:512])
        assert reader.hash_tile(1, 0, 3) is None
