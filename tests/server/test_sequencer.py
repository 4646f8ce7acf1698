"""The sequencer on a real database: numbering, time, atomicity, state across restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from auditlens.core import merkle, note
from auditlens.core.events import EventError
from auditlens.core.timestamps import parse_timestamp
from auditlens.server import accounts
from auditlens.server.sequencer import Sequencer
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server
from auditlens.server.tree import TreeReader
from tests.server.conftest import BACKENDS, Api, running_api, sample_event
from tests.server.thirdparty import verify_log


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


# --- sequencer state that no trigger guards (frontier, last_ts) --------------------------------


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with running_api(request.param, tmp_path) as api:
        assert api.ingest([sample_event(i) for i in range(300)]).status_code == 201
        yield api


def _corrupt(api: Api, assignment: str, **params: object) -> None:
    with api.state.db.write() as conn:
        conn.execute(
            sa.text(f"UPDATE organizations SET {assignment} WHERE id = :o"),
            {"o": api.orgs["acme"].org.id, **params},
        )


def _checkpoints_stay_consistent(api: Api) -> None:
    """Every checkpoint the server signed follows from the stored log (no fork)."""
    from auditlens.server.integrity import check_log

    report = check_log(api.state, api.orgs["acme"].org)
    assert report.ok, report.findings
    verify_log(api.http, api.auth("admin"), "auditlens.local/acme", api.state.vkey)


@pytest.mark.parametrize(
    ("assignment", "value"),
    [
        ("frontier", lambda size: b"\x00" * 32 * size.bit_count()),  # right length: a wrong root
        ("frontier", lambda size: b"\x01" * 31),  # wrong length: every append was a 500
        ("frontier", lambda size: b""),
        ("last_ts", lambda size: 2**53),  # far future: would freeze every later timestamp
        ("last_ts", lambda size: -5),
    ],
    ids=["frontier-right-length", "frontier-wrong-length", "frontier-empty", "future", "negative"],
)
def test_a_corrupted_sequencer_state_neither_breaks_appends_nor_forks_the_log(
    live: Api, assignment: str, value: Callable[[int], object]
) -> None:
    api = live
    size = api.size()
    _corrupt(api, f"{assignment} = :v", v=value(size))
    before = api.state.sequencer.clock()
    r = api.ingest([sample_event(i) for i in range(5)])
    assert r.status_code == 201, r.text
    assert r.json()["first_index"] == size
    last = api.http.get("/v1/audit-logs", params={"limit": 1}, headers=api.auth("admin"))
    stamp = parse_timestamp(last.json()["items"][0]["event"]["timestamp"])
    assert before <= stamp <= api.state.sequencer.clock()
    _checkpoints_stay_consistent(api)


def test_start_up_recomputes_the_state_from_the_tree(
    live: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api = live
    org_id = api.orgs["acme"].org.id
    with api.state.db.read() as conn:
        good = conn.execute(
            sa.text("SELECT tree_size, frontier, last_ts FROM organizations WHERE id = :o"),
            {"o": org_id},
        ).one()
    _corrupt(api, "frontier = :f, last_ts = :t", f=b"\x07" * len(good.frontier), t=1)
    with caplog.at_level("WARNING", logger="auditlens.server"):
        again = open_server(api.state.settings)
    try:
        with again.db.read() as conn:
            repaired = conn.execute(
                sa.text("SELECT tree_size, frontier, last_ts FROM organizations WHERE id = :o"),
                {"o": org_id},
            ).one()
    finally:
        again.close()
    assert tuple(repaired) == tuple(good)
    assert "recomputed" in caplog.text and "auditlens.local/acme" in caplog.text


def test_a_log_whose_stored_nodes_disagree_with_its_signed_root_refuses_to_sign(
    live: Api,
) -> None:
    """Appending on top of a tampered tree would sign a root no earlier checkpoint agrees with."""
    api = live
    size = api.size()
    org_id = api.orgs["acme"].org.id
    drop = "DROP TRIGGER tree_nodes_no_update"
    with api.state.db.write() as conn:
        conn.exec_driver_sql(drop + (" ON tree_nodes" if api.backend == "postgresql" else ""))
        conn.execute(
            sa.text("UPDATE tree_nodes SET hash = :h WHERE org_id = :o AND level = 8 AND idx = 0"),
            {"h": b"\x66" * 32, "o": org_id},
        )
    r = api.ingest([sample_event(1)])
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "server verify" in r.json()["detail"]
    assert api.size() == size


def test_a_raised_tree_size_refuses_appends_with_a_clear_problem(live: Api) -> None:
    api = live
    size = api.size()
    _corrupt(api, "tree_size = tree_size + 1000")
    r = api.ingest([sample_event(1)])
    assert r.status_code == 503, r.text
    assert "signed checkpoint" in r.json()["detail"]
    assert api.size() == size


def test_the_frontier_read_from_stored_nodes_equals_the_one_built_from_the_leaves(
    state: ServerState,
) -> None:
    from auditlens.server.tree import stored_frontier

    org = _org(state)
    cr = merkle.CompactRange()
    for batch in (1, 254, 1, 300, 144, 65_536 - 700):  # across tile and tile-level boundaries
        for leaf in _leaves(state, org.id, batch, cr.size):
            cr.append(leaf)
        with state.db.read() as conn:
            assert stored_frontier(conn, org.id, cr.size) == cr.hashes, cr.size
            for size in {0, 1, 255, 256, 257, 65_535, cr.size - 1} & set(range(cr.size)):
                smaller = merkle.CompactRange()
                leaves = [
                    bytes(h)
                    for (h,) in conn.execute(
                        sa.text("SELECT leaf_hash FROM entries WHERE idx < :n ORDER BY idx"),
                        {"n": size},
                    )
                ]
                for leaf in leaves:
                    smaller.append(leaf)
                assert stored_frontier(conn, org.id, size) == smaller.hashes


def _leaves(state: ServerState, org_id: str, count: int, first: int) -> list[bytes]:
    state.sequencer.append(org_id, [sample_event(i) for i in range(count)], validate=False)
    with state.db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT leaf_hash FROM entries WHERE idx >= :f ORDER BY idx"), {"f": first}
        )
        return [bytes(h) for (h,) in rows]


def test_start_up_with_a_log_that_cannot_be_extended_logs_it_and_keeps_serving_reads(
    live: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api = live
    _corrupt(api, "tree_size = tree_size + 7")
    with caplog.at_level("ERROR", logger="auditlens.server"):
        again = open_server(api.state.settings)
    again.close()
    assert "auditlens.local/acme" in caplog.text and "refuses appends" in caplog.text
    assert api.http.get("/v1/log/checkpoint", headers=api.auth("admin")).status_code == 200
    assert api.ingest([sample_event(1)], org="globex").status_code == 201  # others unaffected
