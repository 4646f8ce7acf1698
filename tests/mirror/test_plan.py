"""The query planner alone: plans built from stub facts, no database.

The planner is pure (it writes SQL text and reads nothing), so which index drives, when a narrow
filter is sorted by SQLite instead of walking the sort index, and how a pinned sort splits into
segments can be checked against stated facts rather than a built mirror.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from auditlens.mirror import plan as planner
from auditlens.mirror.plan import ALL, NON_NULL, Resolved, driver_of, time_streams
from auditlens.mirror.sorted_plan import build_plan


@dataclass
class StubFacts:
    """What the reader would measure, stated; records which facts the planner asked for."""

    count: int = 1_000_000
    types: list[tuple[str, str | None]] = field(
        default_factory=lambda: [("auth.login", "auth"), ("task.failed", "task")]
    )
    users: list[str | None] = field(default_factory=lambda: [None, "u_b", "u_a"])
    emails: dict[str, str] = field(default_factory=lambda: {"u_a": "ann@x", "u_b": "bob@x"})
    asked: list[str] = field(default_factory=list)

    def capped_count(self, r: Resolved, cap: int) -> int:
        self.asked.append("count")
        return min(self.count, cap + 1)

    def types_present(self) -> list[tuple[str, str | None]]:
        return self.types

    def user_ids_present(self) -> list[str | None]:
        return self.users

    def email_key(self, user_id: str | None) -> str:
        return "" if user_id is None else self.emails.get(user_id, user_id)

    def matching(self, r: Resolved, cap: int) -> list[int] | None:
        self.asked.append("matching")
        return list(range(self.count)) if self.count <= cap else None

    def values_present(self, column: str, limit: int) -> list[str]:
        return ["agt_1", "agt_2"][:limit]

    def task_bound(self, since_ms: int | None, until_ms: int | None, greatest: bool) -> object:
        self.asked.append("task bound")
        return "tsk_y" if greatest else "tsk_b"

    def smallest_driver(self, r: Resolved) -> str | None:
        self.asked.append("driver")
        return "outcome" if r.outcome == "denied" else None


def resolved(**kw: object) -> Resolved:
    base: dict[str, object] = {
        "since_ms": None,
        "until_ms": None,
        "user_ids": None,
        "categories": frozenset(),
        "types": frozenset(),
        "task_ids": None,
        "agent_ids": None,
        "outcome": None,
    }
    base.update(kw)
    return Resolved(**base)  # type: ignore[arg-type]


def test_the_priority_equality_drives_unless_the_reader_measured_a_smaller_one() -> None:
    r = resolved(user_ids=frozenset({"u_a"}), types=frozenset({"auth.login"}))
    assert driver_of(r)[0] == "user"
    streams, _ = time_streams(r)
    assert streams[0].where.startswith("e.user_id = ?")
    assert "INDEXED BY ix_entries_type_ts" in streams[0].where  # the other one is a probe
    smaller = Resolved(**{**r.__dict__, "prefer": "types"})
    assert driver_of(smaller)[0] == "types"
    assert time_streams(smaller)[0][0].where.startswith("e.type = ?")


def test_a_set_of_driver_values_is_one_stream_each_and_one_union_for_jumps() -> None:
    r = resolved(categories=frozenset({"auth"}), types=frozenset({"task.failed"}))
    streams, offset = time_streams(r)
    assert [s.params[0] for s in streams] == ["auth", "task.failed"]
    assert "e.category IN (?)" in offset.where and "e.type IN (?)" in offset.where


def test_time_order_needs_no_fact() -> None:
    facts = StubFacts()
    plan = build_plan(resolved(outcome="failure"), "ts", True, facts)
    assert len(plan.segments) == 1 and plan.segments[0].lead is ALL
    assert facts.asked == []


def test_an_impossible_filter_plans_nothing() -> None:
    plan = build_plan(resolved(user_ids=frozenset()), "type", False, StubFacts())
    assert plan.empty and not plan.segments


def test_a_narrow_filter_is_sorted_by_sqlite_a_broad_one_walks_the_sort_index() -> None:
    narrow = build_plan(resolved(outcome="failure"), "agent", False, StubFacts(count=50))
    (segment,) = narrow.segments
    assert segment.lead is ALL
    assert segment.streams[0].order[0] == "coalesce(e.agent_id, '')"
    assert segment.streams[0].params == ("[" + ", ".join(map(str, range(50))) + "]",)
    broad = build_plan(resolved(outcome="failure"), "agent", False, StubFacts())
    assert [s.lead for s in broad.segments] == [None, NON_NULL]  # NULLs first ascending
    assert broad.segments[1].streams[0].order == ("e.agent_id", "e.ts", "e.idx")
    descending = build_plan(resolved(outcome="failure"), "agent", True, StubFacts())
    assert [s.lead for s in descending.segments] == [NON_NULL, None]


def test_a_sort_pinned_by_the_filter_is_one_segment_per_value_in_order() -> None:
    r = resolved(categories=frozenset({"auth", "task"}))
    plan = build_plan(r, "type", True, StubFacts())
    assert [s.lead for s in plan.segments] == ["task.failed", "auth.login"]
    users = build_plan(resolved(), "user", False, StubFacts())
    assert [s.lead for s in users.segments] == ["", "ann@x", "bob@x"]  # by email, no user first


def test_the_task_walk_tests_a_time_range_in_its_index() -> None:
    """The task index is ``(task_id, ts, idx)`` like every sort index: a walk tests ``ts`` off
    the index entry (no table read, as when it held no ``ts``), keyed by all three."""
    facts = StubFacts()
    plan = build_plan(resolved(since_ms=5, until_ms=9), "task", False, facts)
    (stream,) = plan.segments[1].streams
    assert "+e.ts >= ?" in stream.where and "+e.ts < ?" in stream.where
    assert stream.order == ("e.task_id", "e.ts", "e.idx")
    assert planner.bound(stream.params)[:3] == ("tsk_b", 5, 9)
    (null,) = plan.segments[0].streams
    assert null.where.startswith("e.task_id IS NULL AND e.ts >= ?")  # a seek in the NULLs


def test_the_task_walk_of_a_time_range_starts_at_its_least_or_greatest_task() -> None:
    """Task ids made in time order put a recent range's tasks at the end of the task index:
    ascending, the walk seeks to the range's least task id (descending, its greatest), found
    when the walk first runs."""
    for descending, cond, start in ((False, ">=", "tsk_b"), (True, "<=", "tsk_y")):
        facts = StubFacts()
        plan = build_plan(resolved(since_ms=5, until_ms=9), "task", descending, facts)
        assert "task bound" not in facts.asked  # not yet: the task-less entries may fill a page
        (stream,) = [s.streams[0] for s in plan.segments if s.lead is NON_NULL]
        assert stream.where.startswith(f"e.task_id {cond} ? AND ")
        assert planner.bound(stream.params)[0] == start
        assert "task bound" in facts.asked


@pytest.mark.parametrize("sort", ["ts", "type", "user", "task", "agent", "outcome", "idx"])
def test_every_plan_orders_by_a_key_ending_in_time_then_index(sort: str) -> None:
    r = resolved(outcome="failure", user_ids=frozenset({"u_a"}))
    for facts in (StubFacts(), StubFacts(count=3)):
        for segment in build_plan(r, sort, False, facts).segments:
            for stream in segment.streams:
                assert stream.order[-1] == "e.idx"
                sql = planner.select_sql(stream, stream.where, False)
                assert "OFFSET" not in sql
                assert sql.endswith("LIMIT ?") or (stream.late_rows and "LIMIT ?)" in sql)


def test_an_outcome_sort_is_one_segment_per_verdict_each_driven_by_its_smallest_index() -> None:
    """A type whose rows are all failures, sorted by outcome descending, must not walk every
    success of the verdict index before its first row (the 5M-event trap: ~5 s), nor every
    entry of the type probing its verdict (1.2 s): the type and the verdict are one seek in
    the (type, verdict, ts, idx) index."""
    r = resolved(types=frozenset({"task.failed"}))
    plan = build_plan(r, "outcome", True, StubFacts())
    assert [s.lead for s in plan.segments] == ["success", "failure", "denied", None]
    by_lead = {s.lead: s.streams[0].where for s in plan.segments}
    assert by_lead["success"] == planner.TYPE_VERDICT  # one seek, nothing probed
    assert by_lead["denied"].startswith("e.verdict = ?")  # measured smaller: it drives
    assert by_lead[None].startswith("e.verdict IS NULL")


def test_a_broad_outcome_sorted_by_type_is_one_seek_per_type() -> None:
    """Failures sorted by type, descending, must not walk the type index probing each entry's
    verdict: types without a failure (every ``task.started``) were walked whole before the first
    row (176 ms at 5M events, 364 ms with the busiest user). Each type's failures are one range
    of the (type, verdict, ts, idx) index; the filter's other conditions are probed on those."""
    r = resolved(outcome="failure", user_ids=frozenset({"u_a"}))
    plan = build_plan(r, "type", True, StubFacts())
    assert [s.lead for s in plan.segments] == ["task.failed", "auth.login", None]
    for segment in plan.segments[:2]:
        (stream,) = segment.streams
        assert stream.where.startswith(planner.TYPE_VERDICT), stream.where
        assert stream.params[:2] == (segment.lead, "failure")
        assert "ix_entries_user_ts" in stream.where  # the user: a probe
    assert plan.segments[2].streams[0].where.startswith("e.type IS NULL")
    narrow = build_plan(r, "type", True, StubFacts(count=50))
    assert [s.lead for s in narrow.segments] == [ALL]  # found and sorted by SQLite, as before
    # An excluded type or category has no segment (it would walk its rows to keep none).
    for excluded in (("type", ("task.failed",)), ("category", ("task",))):
        without = build_plan(replace(r, excluded=(excluded,)), "type", True, StubFacts())
        assert [s.lead for s in without.segments] == ["auth.login", None], excluded


@pytest.mark.parametrize("sort", ["type", "agent", "task", "outcome"])
def test_a_time_range_is_a_seek_inside_the_nulls_of_the_sort_index(sort: str) -> None:
    """The NULLs of a sort index are in time order: "last 7 days" sorted by task must seek to
    the range, not walk every task-less entry from the oldest (2.5M at 5M events)."""
    r = resolved(since_ms=5, until_ms=9, outcome="failure" if sort != "outcome" else None)
    plan = build_plan(r, sort, False, StubFacts())
    (null,) = [s for s in plan.segments if s.lead is None]
    stream = null.streams[0]
    assert "INDEXED BY ix_entries_" in stream.source
    assert "e.ts >= ?" in stream.where and "+e.ts >= ?" not in stream.where


@pytest.mark.parametrize("sort", ["type", "agent"])
def test_a_time_range_by_a_column_of_few_values_is_one_segment_per_value(sort: str) -> None:
    """One day, sorted by type: each type's segment seeks into the day through the type index
    instead of the walk testing the day on every entry of every type."""
    r = resolved(since_ms=5, until_ms=9)
    plan = build_plan(r, sort, False, StubFacts())
    expected = ["auth.login", "task.failed"] if sort == "type" else ["agt_1", "agt_2"]
    assert [s.lead for s in plan.segments] == [None, *expected]
    column = "type" if sort == "type" else "agent_id"
    for segment in plan.segments[1:]:
        where = segment.streams[0].where
        assert where.startswith(f"e.{column} = ?") and "e.ts >= ?" in where
    without_range = build_plan(resolved(), sort, False, StubFacts())
    assert [s.lead for s in without_range.segments] == [None, NON_NULL]  # dense: walked


def test_a_time_range_sorted_by_task_is_sorted_by_sqlite_up_to_a_larger_cap() -> None:
    """The task walk's cost depends on where the range's task ids sort, not on the range: a
    range of up to SMALL_TASKS_IN_RANGE rows is found through time and sorted instead."""
    between = (planner.SMALL_RESULT + planner.SMALL_TASKS_IN_RANGE) // 2
    timed = build_plan(resolved(since_ms=5), "task", False, StubFacts(count=between))
    assert [s.lead for s in timed.segments] == [ALL]
    untimed = build_plan(resolved(outcome="failure"), "task", False, StubFacts(count=between))
    assert [s.lead for s in untimed.segments] == [None, NON_NULL]
