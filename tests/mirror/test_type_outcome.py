"""An event type and an outcome together: one seek per type in ``(type, verdict, ts, idx)``.

Schema 4's index. Without it, ``task.failed`` sorted by outcome descending walked every task
failure probing its verdict to learn that none is a success (1.2 s first page at 5M events),
and so did the filter ``task.failed`` + ``outcome=success``. Every such plan must still page
exactly like the brute-force reference of :mod:`tests.mirror.test_query`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from auditlens.mirror import plan as planner
from auditlens.mirror import schema
from auditlens.mirror.filter import SORT_COLUMNS, EventFilter
from auditlens.mirror.reader import MirrorReader
from tests.mirror.test_query import DAY, all_rows, reference, walk
from tests.ui.mirror_factory import NOW_MS, build_demo_mirror

FILTERS = [
    EventFilter(types=frozenset({"task.failed"}), outcome="success"),  # nothing: one seek
    EventFilter(types=frozenset({"task.failed"}), outcome="failure"),
    EventFilter(types=frozenset({"auth"}), outcome="failure"),
    EventFilter(types=frozenset({"auth", "task.failed", "approval.denied"}), outcome="denied"),
    EventFilter(types=frozenset({"task", "approval"}), outcome="success"),
    EventFilter(types=frozenset({"auth.login"}), outcome="failure", since_ms=NOW_MS - 30 * DAY),
    EventFilter(types=frozenset({"task.failed"})),  # an outcome sort adds the outcome
    EventFilter(types=frozenset({"agent", "auth.login"})),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mirror") / "demo.sqlite"
    build_demo_mirror(path, 3_000)
    return path


@pytest.mark.parametrize("streams", [8, 1], ids=["per-type", "too-many-types"])
def test_types_with_an_outcome_page_like_the_reference(
    demo: Path, monkeypatch: pytest.MonkeyPatch, streams: int
) -> None:
    """Forward by key and by position, every sort; with one stream allowed a category's types
    are too many to merge and the earlier plan (type driver, verdict probe) is used."""
    monkeypatch.setattr(planner, "MAX_MERGED_STREAMS", streams)
    rows = all_rows(demo)
    reader = MirrorReader(demo)
    try:
        for f in FILTERS:
            for sort in SORT_COLUMNS:
                for desc in (False, True):
                    expected = reference(reader, rows, f, sort, desc)
                    assert walk(reader, f, sort, desc, limit=37) == expected, (f, sort, desc)
                    total = len(expected)
                    for at in (1, total // 2 + 1, max(total - 3, 0)):
                        got = reader.page_at(f, sort, desc, at, 10, total=total)  # type: ignore[arg-type]
                        assert [r.idx for r in got] == expected[at : at + 10], (f, sort, at)
            assert reader.count(f) == len(reference(reader, rows, f, "ts", False)), f
    finally:
        reader.close()


@pytest.mark.parametrize(
    "f",
    [
        EventFilter(outcome="failure"),
        EventFilter(outcome="denied", since_ms=NOW_MS - 30 * DAY),
        EventFilter(outcome="success", agent_id="agt_*"),
        EventFilter(
            outcome="failure", exclude=frozenset({("type", "task"), ("type", "auth.login")})
        ),
    ],
    ids=["failures", "denied-last-30-days", "successes-of-agents", "failures-but-some-types"],
)
def test_a_broad_outcome_sorted_by_type_pages_like_the_reference(
    demo: Path, monkeypatch: pytest.MonkeyPatch, f: EventFilter
) -> None:
    """One segment per type through the joint index (the filters are "broad" here: the small
    result cap is lowered so the 3,000-event mirror does not sort them whole)."""
    monkeypatch.setattr(planner, "SMALL_RESULT", 5)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", 5)
    rows = all_rows(demo)
    by_idx = {row.idx: row for row in rows}
    # The reference knows no exclusions (type ones here): drop them from its order.
    gone = {v for _, v in f.exclude}
    reader = MirrorReader(demo)
    try:
        for desc in (False, True):
            base = reference(reader, rows, replace(f, exclude=frozenset()), "type", desc)
            expected = [
                i for i in base if by_idx[i].type not in gone and by_idx[i].category not in gone
            ]
            assert expected and len(expected) < len(base) if gone else expected
            assert walk(reader, f, "type", desc, limit=23) == expected, (f, desc)
            total = len(expected)
            for at in (1, total // 2 + 1, max(total - 3, 0)):
                got = reader.page_at(f, "type", desc, at, 10, total=total)
                assert [r.idx for r in got] == expected[at : at + 10], (f, at)
            plan = reader.explain(f, "type", desc)
            assert any("ix_entries_type_verdict_ts (type=? AND verdict=?" in p for p in plan)
    finally:
        reader.close()


def test_a_type_and_an_outcome_drive_through_their_joint_index(demo: Path) -> None:
    reader = MirrorReader(demo)
    try:
        f = EventFilter(types=frozenset({"task.failed"}))
        plan = reader.explain(f, "outcome", True)
        drives = [line for line in plan if line.startswith("SEARCH e")]
        joint = "SEARCH e USING INDEX ix_entries_type_verdict_ts (type=? AND verdict=?)"
        assert drives[:3] == [joint] * 3, plan  # success, failure, denied: seeks
        assert "ix_entries_verdict_ts" in drives[3]  # the entries without a verdict: none
        both = EventFilter(types=frozenset({"auth"}), outcome="failure")
        assert reader.resolver.resolve(both).prefer is None  # nothing else to measure
        plan = reader.explain(both, "ts", True)
        assert plan and all(line == joint for line in plan), plan  # one per auth type, no probe
        r = reader.resolver.resolve(both)
        where, params = planner.driver_union(r)
        with reader.connection() as conn:
            union = [
                str(row[3])
                for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT e.idx FROM entries AS e WHERE {where}", params
                )
            ]
        assert "MULTI-INDEX OR" in union, union  # a jump reads the types' ranges, no walk
        assert all("ix_entries_verdict_ts" not in line for line in union), union
    finally:
        reader.close()


def test_a_user_smaller_than_the_type_and_outcome_still_drives(demo: Path) -> None:
    """The joint index competes with the other equalities by count like any driver."""
    conn = sqlite3.connect(demo)
    (user,) = conn.execute(
        "SELECT user_id FROM entries WHERE type = 'auth.login' AND verdict = 'success' "
        "GROUP BY user_id ORDER BY COUNT(*) LIMIT 1"
    ).fetchone()
    conn.close()
    reader = MirrorReader(demo)
    try:
        f = EventFilter(user_id=user, types=frozenset({"auth"}), outcome="success")
        assert reader.resolver.resolve(f).prefer == "user"
        expected = reference(reader, all_rows(demo), f, "ts", True)
        assert walk(reader, f, "ts", True, limit=7) == expected
    finally:
        reader.close()


@pytest.mark.parametrize("version", [3, 4])
def test_an_older_mirror_gets_the_indexes_when_opened(tmp_path: Path, version: int) -> None:
    """Schema 3 had no joint index and a ``(ts, idx)`` time index; schemas 3 and 4 had the task
    index ``(task_id, idx)``. Opening such a mirror to read upgrades it once, in place."""
    path = tmp_path / f"v{version}.sqlite"
    build_demo_mirror(path, 300)
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX ix_entries_task_ts")
    conn.execute("CREATE INDEX ix_entries_task ON entries (task_id, idx)")
    if version == 3:
        conn.execute("DROP INDEX ix_entries_type_verdict_ts")
        conn.execute("DROP INDEX ix_entries_ts_task")
        conn.execute("CREATE INDEX ix_entries_ts ON entries (ts, idx)")
    conn.execute(f"PRAGMA user_version={version}")
    conn.commit()
    conn.close()
    f = EventFilter(types=frozenset({"auth"}), outcome="failure")
    reader = MirrorReader(path)  # opening it to read upgrades it once, in place
    try:
        assert [r.idx for r in reader.page(f)] == reference(reader, all_rows(path), f, "ts", True)
        by_task = reference(reader, all_rows(path), f, "task", False)
        assert [r.idx for r in reader.page(f, "task", False, None, 1000)] == by_task
    finally:
        reader.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert set(schema.index_names()) <= names
        assert "ix_entries_ts" not in names  # widened to (ts, idx, task_id)
        assert "ix_entries_task" not in names  # widened to (task_id, ts, idx)
    finally:
        conn.close()
