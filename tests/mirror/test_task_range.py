"""A time range sorted by task: the walk of the task index starts at the range's least task id
(its greatest, descending), read off the ``(ts, idx, task_id)`` index (schema 4).

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


def test_the_bound_is_the_ranges_least_or_greatest_task_when_worth_a_scan(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    since, until = NOW_MS - 20 * DAY, NOW_MS - 10 * DAY
    tasks = [r.task_id for r in all_rows(demo) if since <= r.ts < until and r.task_id]
    reader = MirrorReader(demo)
    try:
        monkeypatch.setattr(resolve, "TASK_BOUND_RATIO", 0)  # always scanned
        assert reader.resolver.task_bound(since, until, False) == min(tasks)
        assert reader.resolver.task_bound(since, until, True) == max(tasks)
        # No task there: a walk from the bound finds nothing.
        assert reader.resolver.task_bound(NOW_MS - 1, None, False) == planner.NO_UPPER_BOUND
        monkeypatch.setattr(resolve, "TASK_BOUND_RATIO", 10**6)  # never worth it
        reader.refresh()
        assert reader.resolver.task_bound(since, until, False) == planner.NO_LOWER_BOUND
        assert reader.resolver.task_bound(since, until, True) == planner.NO_UPPER_BOUND
    finally:
        reader.close()
    conn = sqlite3.connect(demo)
    try:
        plan = [
            str(row[3])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT min(e.task_id) FROM entries AS e "
                f"INDEXED BY {planner.TIME_TASK_INDEX} WHERE e.ts >= ? AND e.ts < ?",
                (since, until),
            )
        ]
    finally:
        conn.close()
    assert plan == [f"SEARCH e USING COVERING INDEX {planner.TIME_TASK_INDEX} (ts>? AND ts<?)"]


@pytest.mark.parametrize("ratio", [0, 10**6], ids=["bounded", "whole-walk"])
def test_a_range_sorted_by_task_pages_like_the_reference(
    demo: Path, monkeypatch: pytest.MonkeyPatch, ratio: int
) -> None:
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", 0)  # always the walk
    monkeypatch.setattr(resolve, "TASK_BOUND_RATIO", ratio)
    rows = all_rows(demo)
    reader = MirrorReader(demo)
    try:
        for f in (
            EventFilter(since_ms=NOW_MS - 7 * DAY),
            EventFilter(since_ms=NOW_MS - 40 * DAY, until_ms=NOW_MS - 30 * DAY),
            EventFilter(since_ms=NOW_MS - 7 * DAY, outcome="success"),
            EventFilter(since_ms=NOW_MS - 30 * DAY, types=frozenset({"agent"})),
            EventFilter(since_ms=NOW_MS + HOUR),  # nothing
            EventFilter(since_ms=NOW_MS - HOUR // 60),  # the last entries, maybe no task
        ):
            if f.since_ms < NOW_MS - HOUR:  # type: ignore[operator]  # many rows: the walk
                plan = reader.explain(f, "task", False)
                assert "SEARCH e USING INDEX ix_entries_task_ts (task_id>?)" in plan, plan
            for desc in (False, True):
                expected = reference(reader, rows, f, "task", desc)
                assert walk(reader, f, "task", desc, limit=53) == expected, (f, desc)
                total = len(expected)
                for at in (1, total // 2, max(total - 4, 0)):
                    got = reader.page_at(f, "task", desc, at, 9, total=total)
                    assert [r.idx for r in got] == expected[at : at + 9], (f, desc, at)
    finally:
        reader.close()
