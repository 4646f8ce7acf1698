"""A time range sorted by task: the task index is walked between the range's least and greatest
task id, read off the ``(ts, idx, task_id)`` index (schema 4).

Task ids made in time order (ULIDs, as the demo's) put a recent range's tasks at the end of the
task index: "last 7 days" by task ascending walked 2.3M entries of older tasks at 5M events.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlens.mirror import plan as planner
from auditlens.mirror import resolve
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from tests.mirror.test_query import DAY, HOUR, all_rows, reference, walk
from tests.ui.mirror_factory import NOW_MS, build_demo_mirror


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mirror") / "demo.sqlite"
    build_demo_mirror(path, 3_000)
    return path


def test_the_bounds_are_the_ranges_least_and_greatest_task(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    since, until = NOW_MS - 20 * DAY, NOW_MS - 10 * DAY
    tasks = [r.task_id for r in all_rows(demo) if since <= r.ts < until and r.task_id]
    reader = MirrorReader(demo)
    try:
        assert reader.resolver.task_bounds(since, until) == (min(tasks), max(tasks))
        assert reader.resolver.task_bounds(NOW_MS + HOUR, None) == ("", "")  # no task there
        monkeypatch.setattr(resolve, "TASK_BOUNDS_SCAN", len(tasks) // 2)
        reader.refresh()
        every = [r.task_id for r in all_rows(demo) if r.task_id]
        assert reader.resolver.task_bounds(since, until) == (min(every), max(every))  # long
    finally:
        reader.close()
    conn = sqlite3.connect(demo)
    try:
        plan = [
            str(row[3])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT min(e.task_id), max(e.task_id) FROM entries AS e "
                f"INDEXED BY {planner.TIME_TASK_INDEX} WHERE e.ts >= ? AND e.ts < ?",
                (since, until),
            )
        ]
    finally:
        conn.close()
    assert plan == [f"SEARCH e USING COVERING INDEX {planner.TIME_TASK_INDEX} (ts>? AND ts<?)"]


@pytest.mark.parametrize("scan", [10**9, 0], ids=["range-bounds", "log-bounds"])
def test_a_range_sorted_by_task_pages_like_the_reference(
    demo: Path, monkeypatch: pytest.MonkeyPatch, scan: int
) -> None:
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", 0)  # always the walk
    monkeypatch.setattr(resolve, "TASK_BOUNDS_SCAN", scan)
    rows = all_rows(demo)
    reader = MirrorReader(demo)
    try:
        for f in (
            EventFilter(since_ms=NOW_MS - 7 * DAY),
            EventFilter(since_ms=NOW_MS - 40 * DAY, until_ms=NOW_MS - 30 * DAY),
            EventFilter(since_ms=NOW_MS - 7 * DAY, outcome="success"),
            EventFilter(since_ms=NOW_MS - 30 * DAY, types=frozenset({"agent"})),
            EventFilter(since_ms=NOW_MS + HOUR),  # nothing
        ):
            if f.since_ms < NOW_MS:  # type: ignore[operator]  # some rows: the walk
                plan = reader.explain(f, "task", False)
                bounded = "SEARCH e USING INDEX ix_entries_task (task_id>? AND task_id<?)"
                assert bounded in plan, plan
            for desc in (False, True):
                expected = reference(reader, rows, f, "task", desc)
                assert walk(reader, f, "task", desc, limit=53) == expected, (f, desc)
                total = len(expected)
                for at in (1, total // 2, max(total - 4, 0)):
                    got = reader.page_at(f, "task", desc, at, 9, total=total)
                    assert [r.idx for r in got] == expected[at : at + 9], (f, desc, at)
    finally:
        reader.close()
